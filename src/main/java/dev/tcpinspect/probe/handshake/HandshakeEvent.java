package dev.tcpinspect.probe.handshake;

import dev.tcpinspect.probe.EventView;
import dev.tcpinspect.probe.Flow;

/** A view of one struct hs_event (bpf/include/handshake.h). */
public final class HandshakeEvent extends EventView {
    private static final int LATENCY = 8;
    private static final int FLOW = 16;
    private static final int KIND = FLOW + Flow.SIZE;

    HandshakeEvent() {
        super(FLOW);
    }

    /** True for an accepted connection, false for one made from here. */
    public boolean passive() {
        return s32(KIND) == 0;
    }

    public long latencyMicros() {
        return u64(LATENCY);
    }
}
