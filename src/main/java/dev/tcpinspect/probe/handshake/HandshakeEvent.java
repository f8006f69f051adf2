package dev.tcpinspect.probe.handshake;

import dev.tcpinspect.probe.Flow;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** A view of one struct hs_event in the ring buffer, re-pointed at each record (no allocation). */
public final class HandshakeEvent {
    private static final int LATENCY = 8;
    private static final int FLOW = 16;
    private static final int KIND = FLOW + Flow.SIZE;

    private MemorySegment segment;
    private long offset;

    void wrap(MemorySegment segment, long offset) {
        this.segment = segment;
        this.offset = offset;
    }

    public long monotonicNanos() {
        return segment.get(ValueLayout.JAVA_LONG_UNALIGNED, offset);
    }

    public Flow flow() {
        return Flow.read(segment, offset + FLOW);
    }

    /** True for an accepted connection, false for one made from here. */
    public boolean passive() {
        return segment.get(ValueLayout.JAVA_INT_UNALIGNED, offset + KIND) == 0;
    }

    public long latencyMicros() {
        return segment.get(ValueLayout.JAVA_LONG_UNALIGNED, offset + LATENCY);
    }
}
