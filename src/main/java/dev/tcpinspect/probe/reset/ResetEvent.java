package dev.tcpinspect.probe.reset;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import dev.tcpinspect.probe.EventView;
import dev.tcpinspect.snapshot.Flow;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;

/** A view of one struct reset_event (bpf/probes/reset.h). */
public final class ResetEvent extends EventView {
    static final StructLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_LONG.withName("ts_ns"),
            Flow.LAYOUT.withName("flow"),
            JAVA_BYTE.withName("state"),
            JAVA_BYTE.withName("direction"),
            JAVA_SHORT.withName("pad"),
            JAVA_INT.withName("reason"),
            MemoryLayout.paddingLayout(4)).withName("reset_event");
    private static final int STATE = offset(LAYOUT, "state");
    private static final int DIRECTION = offset(LAYOUT, "direction");
    private static final int REASON = offset(LAYOUT, "reason");

    ResetEvent() {
        super(offset(LAYOUT, "flow"));
    }

    /** The TCP state the reset hit, 0 when there was no socket (a SYN to a closed port, say). */
    public int state() {
        return u8(STATE);
    }

    public boolean received() {
        return u8(DIRECTION) == ResetProbe.Direction.RECEIVED.ordinal();
    }

    /** enum sk_rst_reason value of a sent reset (0 = NOT_SPECIFIED or unknown). */
    public int reason() {
        return s32(REASON);
    }
}
