package dev.tcpinspect.probe.retrans;

import dev.tcpinspect.probe.EventView;
import dev.tcpinspect.probe.Flow;

/** A view of one struct retrans_event (bpf/include/retrans.h). */
public final class RetransmitEvent extends EventView {
    private static final int FLOW = 8;
    private static final int STATE = FLOW + Flow.SIZE;
    private static final int KIND = STATE + 1;
    private static final int ERR = STATE + 4;

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
        return u8(KIND) == 1;
    }

    public int err() {
        return s32(ERR);
    }
}
