package dev.tcpinspect.probe.handshake;

import dev.tcpinspect.snapshot.LogLinearHistogram;

/**
 * Handshake latencies in microseconds, cumulative, as the kernel's histograms hold them.
 *
 * @param passive accepted connections: first SYN seen on a watched interface to ESTABLISHED
 * @param active connections made from here: SYN_SENT to ESTABLISHED
 * @param passiveUnmatched accepted connections whose SYN no watched interface saw or whose SYN's record went (not measured)
 * @param eventsLost events the ring buffer had no room for (still in the histograms)
 * @param portsFull handshakes the per-port table had no room for (still in the overall histograms)
 * @param synsRaced first SYNs whose record another CPU's new flow took at the same instant (their handshakes are
 *     among the unmatched)
 */
public record HandshakeStats(LogLinearHistogram passive, LogLinearHistogram active, long passiveUnmatched,
                             long eventsLost, long portsFull, long synsRaced) {
    public HandshakeStats minus(HandshakeStats e) {
        return new HandshakeStats(passive.minus(e.passive), active.minus(e.active),
                passiveUnmatched - e.passiveUnmatched, eventsLost - e.eventsLost, portsFull - e.portsFull,
                synsRaced - e.synsRaced);
    }
}
