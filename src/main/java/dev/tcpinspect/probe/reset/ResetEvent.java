package dev.tcpinspect.probe.reset;

import dev.tcpinspect.probe.EventView;
import dev.tcpinspect.probe.Flow;

/** A view of one struct reset_event (bpf/include/reset.h). */
public final class ResetEvent extends EventView {
    private static final int FLOW = 8;
    private static final int STATE = FLOW + Flow.SIZE;
    private static final int DIRECTION = STATE + 1;
    private static final int REASON = STATE + 4;

    ResetEvent() {
        super(FLOW);
    }

    /** The TCP state the reset hit, 0 when there was no socket (a SYN to a closed port, say). */
    public int state() {
        return u8(STATE);
    }

    public boolean received() {
        return u8(DIRECTION) == 1;
    }

    /** enum sk_rst_reason value of a sent reset (0 = NOT_SPECIFIED or unknown). */
    public int reason() {
        return s32(REASON);
    }
}
