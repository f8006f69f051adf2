package dev.tcpinspect.probe.reset;

/**
 * Reset totals (enum reset_stat slots, summed over CPUs), cumulative.
 *
 * @param sent tcp_send_reset firings
 * @param received tcp_receive_reset firings
 * @param eventsLost events the ring buffer had no room for (still in the totals)
 * @param flowsFull resets not under any flow (still in the totals): see {@link dev.tcpinspect.probe.FlowTable}
 */
public record ResetCounts(long sent, long received, long eventsLost, long flowsFull) {
    public ResetCounts minus(ResetCounts earlier) {
        return new ResetCounts(sent - earlier.sent, received - earlier.received, eventsLost - earlier.eventsLost,
                flowsFull - earlier.flowsFull);
    }
}
