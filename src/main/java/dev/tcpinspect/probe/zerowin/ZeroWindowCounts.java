package dev.tcpinspect.probe.zerowin;

/**
 * Zero-window totals, cumulative.
 *
 * @param received closures advertised by peers (non-zero to zero window changes)
 * @param sent closures this host advertised
 * @param segmentsReceived segments from peers carrying a zero window
 * @param segmentsSent segments this host sent carrying a zero window
 * @param eventsLost events the ring buffer had no room for (still in the totals)
 * @param flowsUntracked closures the kernel had no room to time (not in received or sent), and closures
 *     and reopenings not under any flow (see {@link dev.tcpinspect.probe.FlowTable})
 */
public record ZeroWindowCounts(long received, long sent, long segmentsReceived, long segmentsSent, long eventsLost,
                               long flowsUntracked) {
    public ZeroWindowCounts minus(ZeroWindowCounts e) {
        return new ZeroWindowCounts(received - e.received, sent - e.sent, segmentsReceived - e.segmentsReceived,
                segmentsSent - e.segmentsSent, eventsLost - e.eventsLost, flowsUntracked - e.flowsUntracked);
    }
}
