package dev.tcpinspect.probe.retrans;

import dev.tcpinspect.snapshot.Flow;

/** Retransmits of one flow since the probe was loaded. */
public record FlowRetransmits(Flow flow, long data, long synack) {
    public long total() {
        return data + synack;
    }
}
