package dev.tcpinspect.probe.upstream;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Locale;

/**
 * One upstream's health from its counters, by rules modelled on proxies' outlier detection
 * (Envoy's consecutive gateway failures, a failure percentage): unhealthy after so many connects in
 * a row failed, degraded while the connections that ended in the last window retransmitted more than
 * a share of the segments they sent. Pure logic: the probe feeds it a reading every second.
 */
final class UpstreamHealth {
    /** Healthy, degraded, unhealthy: the order is the severity, and the metric's value. */
    enum State {
        HEALTHY, DEGRADED, UNHEALTHY;

        String label() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** The thresholds (watch --set upstream.KEY=VALUE). */
    record Rules(long failures, double retransmitPercent, long windowSeconds, long minSegments) {
        static Rules defaults() {
            return new Rules(5, 2.0, 10, 100);
        }
    }

    /** What the rules look at, cumulative since the start. */
    record Sample(long nanos, long refused, long timedOut, long unreachable, long abandoned, long otherError,
                  long failedInARow, long segsSent, long segsRetransmitted) {}

    /** A state and the reasons for it (none when healthy). */
    record Verdict(State state, List<String> reasons) {
        Verdict {
            reasons = List.copyOf(reasons);
        }
    }

    private final Deque<Sample> window = new ArrayDeque<>();

    /** Adds the latest reading and judges the upstream by it and the window before it. */
    Verdict judge(Sample now, Rules rules) {
        window.addLast(now);
        long windowNanos = rules.windowSeconds() * 1_000_000_000L;
        while (window.size() > 1 && now.nanos() - window.peekFirst().nanos() > windowNanos) {
            window.removeFirst();
        }
        Sample first = window.peekFirst();
        List<String> reasons = new ArrayList<>();
        State state = State.HEALTHY;
        if (now.failedInARow() >= rules.failures()) {
            state = State.UNHEALTHY;
            reasons.add(now.failedInARow() + " connects in a row failed" + kinds(first, now));
        }
        long sent = now.segsSent() - first.segsSent();
        long again = now.segsRetransmitted() - first.segsRetransmitted();
        if (sent >= rules.minSegments() && again * 100.0 >= rules.retransmitPercent() * sent) {
            if (state == State.HEALTHY) {
                state = State.DEGRADED;
            }
            reasons.add(String.format(Locale.ROOT, "%.1f%% of segments retransmitted (%d of %d, last %d s)",
                    again * 100.0 / sent, again, sent, rules.windowSeconds()));
        }
        return new Verdict(state, reasons);
    }

    /** The failures of the window by kind: " (refused 5)"; empty when none fell in the window. */
    private static String kinds(Sample first, Sample now) {
        List<String> parts = new ArrayList<>();
        add(parts, "refused", now.refused() - first.refused());
        add(parts, "timed out", now.timedOut() - first.timedOut());
        add(parts, "unreachable", now.unreachable() - first.unreachable());
        add(parts, "abandoned", now.abandoned() - first.abandoned());
        add(parts, "other error", now.otherError() - first.otherError());
        return parts.isEmpty() ? "" : " (last " + (now.nanos() - first.nanos()) / 1_000_000_000L + " s: "
                + String.join(", ", parts) + ")";
    }

    private static void add(List<String> parts, String kind, long n) {
        if (n > 0) {
            parts.add(kind + " " + n);
        }
    }
}
