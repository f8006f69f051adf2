package dev.tcpinspect.probe.retrans;

/**
 * Retransmission totals (struct retrans_stat slots, summed over CPUs), cumulative.
 *
 * @param data tcp_retransmit_skb firings (data, SYN, FIN)
 * @param synack tcp_retransmit_synack firings
 * @param eventsLost events the ring buffer had no room for (still in the totals)
 * @param flowsFull retransmits not under any flow (still in the totals): see {@link dev.tcpinspect.probe.FlowTable}
 */
public record RetransCounts(long data, long synack, long eventsLost, long flowsFull) {
    public long total() {
        return data + synack;
    }

    public RetransCounts minus(RetransCounts earlier) {
        return new RetransCounts(data - earlier.data, synack - earlier.synack, eventsLost - earlier.eventsLost,
                flowsFull - earlier.flowsFull);
    }
}
