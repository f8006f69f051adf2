package dev.tcpinspect.probe.dupack;

/**
 * Duplicate ACK totals, cumulative.
 *
 * @param dupacks duplicate ACKs received
 * @param flowsUntracked duplicate ACKs not under any flow (in the total, not in top flows): see
 *     {@link dev.tcpinspect.probe.FlowTable}
 * @param eventsLost events the ring buffer had no room for (still in the totals)
 * @param detectorEvictions flows pushed out of the detector's table within a second of their last
 *     segment: more flows were active at once than it holds, and a dup ACK right after could be missed
 */
public record DupAckCounts(long dupacks, long flowsUntracked, long eventsLost, long detectorEvictions) {
    public DupAckCounts minus(DupAckCounts e) {
        return new DupAckCounts(dupacks - e.dupacks, flowsUntracked - e.flowsUntracked, eventsLost - e.eventsLost,
                detectorEvictions - e.detectorEvictions);
    }
}
