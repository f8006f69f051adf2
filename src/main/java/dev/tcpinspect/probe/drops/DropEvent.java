package dev.tcpinspect.probe.drops;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.tcpinspect.probe.EventView;
import dev.tcpinspect.snapshot.Flow;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;

/** A view of one struct drop_event (bpf/probes/drops.h); its flow is the dropped packet's, destination = local side. */
public final class DropEvent extends EventView {
    static final StructLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_LONG.withName("ts_ns"),
            Flow.LAYOUT.withName("flow"),
            JAVA_INT.withName("reason"),
            JAVA_INT.withName("pad"),
            MemoryLayout.paddingLayout(4)).withName("drop_event");
    private static final int REASON = offset(LAYOUT, "reason");

    DropEvent() {
        super(offset(LAYOUT, "flow"));
    }

    /** The kernel's enum skb_drop_reason value; see {@link DropsProbe#reasonName}. */
    public int reason() {
        return s32(REASON);
    }
}
