package dev.tcpinspect.probe.zerowin;

import dev.tcpinspect.probe.EventView;
import dev.tcpinspect.probe.Flow;

/** A view of one struct zw_event (bpf/include/zerowin.h). */
public final class ZeroWindowEvent extends EventView {
    private static final int CLOSED = 8;
    private static final int TUPLE = 16;
    private static final int DIRECTION = TUPLE + Flow.TUPLE_SIZE;
    private static final int REOPENED = DIRECTION + 1;

    ZeroWindowEvent(long netns) {
        super(TUPLE, netns);
    }

    /** True when this host advertised the zero window, false when a peer did. */
    public boolean sent() {
        return u8(DIRECTION) == 1;
    }

    /** True when the window just opened again ({@link #closedNanos} says for how long it was closed). */
    public boolean reopened() {
        return u8(REOPENED) == 1;
    }

    public long closedNanos() {
        return u64(CLOSED);
    }
}
