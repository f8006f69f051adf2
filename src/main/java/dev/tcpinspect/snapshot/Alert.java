package dev.tcpinspect.snapshot;

import java.time.Instant;
import java.util.List;

/**
 * Something a detection probe says needs a person's or a machine's attention (a port scan), as it
 * starts, changes and ends. Outputs render it without knowing the probe: JSON as an event line of
 * its type with its fields, text as one line a person on call reads at a glance.
 *
 * @param type the event type in JSON ("scan")
 * @param episode what the episode is about, the same from its start to its end ("scan 198.18.0.2",
 *     "flood port 443"): outputs that keep the alerts still active key them by it
 * @param state where the episode is
 * @param time when this state was reached
 * @param source the address the alert is about, as text
 * @param family "ipv4" or "ipv6"
 * @param headline what happened, in words, for the text view ("port scan (SYN): 150 ports, 147 closed")
 * @param fields everything needed to act, in JSON (ports, rates, first and last seen)
 */
public record Alert(String type, String episode, State state, Instant time, String source, String family, String headline,
                    List<Metric.Cell> fields) {
    public Alert {
        fields = List.copyOf(fields);
    }

    /** An episode's start, its changes while it lasts, and its end with its totals. */
    public enum State {
        START, UPDATE, END;

        public String label() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }
}
