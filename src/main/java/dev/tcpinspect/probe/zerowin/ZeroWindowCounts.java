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
 * @param expired closures that ended without a reopening or a reset: their flow went silent for
 *     longer than a closed window ever does (bpf/probes/zerowin.h), so it is gone
 */
public record ZeroWindowCounts(long received, long sent, long segmentsReceived, long segmentsSent, long eventsLost,
                               long flowsUntracked, long expired) {
    public ZeroWindowCounts minus(ZeroWindowCounts e) {
        return new ZeroWindowCounts(received - e.received, sent - e.sent, segmentsReceived - e.segmentsReceived,
                segmentsSent - e.segmentsSent, eventsLost - e.eventsLost, flowsUntracked - e.flowsUntracked,
                expired - e.expired);
    }
}
