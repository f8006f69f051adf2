package dev.tcpinspect.probe.retrans;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import dev.tcpinspect.probe.EventView;
import dev.tcpinspect.snapshot.Flow;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;

/** A view of one struct retrans_event (bpf/probes/retrans.h). */
public final class RetransmitEvent extends EventView {
    static final StructLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_LONG.withName("ts_ns"),
            Flow.LAYOUT.withName("flow"),
            JAVA_BYTE.withName("state"),
            JAVA_BYTE.withName("kind"),
            JAVA_SHORT.withName("pad"),
            JAVA_INT.withName("err"),
            MemoryLayout.paddingLayout(4)).withName("retrans_event");
    private static final int FLOW = offset(LAYOUT, "flow");
    private static final int STATE = offset(LAYOUT, "state");
    private static final int KIND = offset(LAYOUT, "kind");
    private static final int ERR = offset(LAYOUT, "err");

    RetransmitEvent() {
        super(FLOW);
    }

    public long netns() {
        return u32(FLOW);
    }

    public int state() {
        return u8(STATE);
    }

    public boolean synack() {
        return u8(KIND) == RetransProbe.Kind.SYNACK.ordinal();
    }

    public int err() {
        return s32(ERR);
    }
}
