package dev.tcpinspect.probe.handshake;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.tcpinspect.probe.EventView;
import dev.tcpinspect.snapshot.Flow;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;

/** A view of one struct hs_event (bpf/probes/handshake.h). */
public final class HandshakeEvent extends EventView {
    static final StructLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_LONG.withName("ts_ns"),
            JAVA_LONG.withName("latency_us"),
            Flow.LAYOUT.withName("flow"),
            JAVA_INT.withName("kind")).withName("hs_event");
    private static final int LATENCY = offset(LAYOUT, "latency_us");
    private static final int KIND = offset(LAYOUT, "kind");

    HandshakeEvent() {
        super(offset(LAYOUT, "flow"));
    }

    /** True for an accepted connection, false for one made from here. */
    public boolean passive() {
        return s32(KIND) == HandshakeProbe.Kind.PASSIVE.ordinal();
    }

    public long latencyMicros() {
        return u64(LATENCY);
    }
}
