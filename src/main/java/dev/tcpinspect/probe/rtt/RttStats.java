package dev.tcpinspect.probe.rtt;

import dev.tcpinspect.snapshot.LogLinearHistogram;

/**
 * Smoothed RTT samples (microseconds), cumulative.
 *
 * @param srtt histogram of every tcp_probe sample with an RTT
 * @param eventsLost sampled events the ring buffer had no room for
 * @param remotesUntracked samples not under any remote address (still in the histogram): see
 *     {@link dev.tcpinspect.probe.FlowTable}
 */
public record RttStats(LogLinearHistogram srtt, long eventsLost, long remotesUntracked) {
    public RttStats minus(RttStats e) {
        return new RttStats(srtt.minus(e.srtt), eventsLost - e.eventsLost, remotesUntracked - e.remotesUntracked);
    }
}
