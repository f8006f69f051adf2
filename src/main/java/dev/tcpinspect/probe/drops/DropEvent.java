package dev.tcpinspect.probe.drops;

import dev.tcpinspect.probe.EventView;
import dev.tcpinspect.probe.Flow;

/** A view of one struct drop_event (bpf/include/drops.h); its flow is the dropped packet's, destination = local side. */
public final class DropEvent extends EventView {
    private static final int FLOW = 8;
    private static final int REASON = FLOW + Flow.SIZE;

    DropEvent() {
        super(FLOW);
    }

    /** The kernel's enum skb_drop_reason value; see {@link DropsProbe#reasonName}. */
    public int reason() {
        return s32(REASON);
    }
}
