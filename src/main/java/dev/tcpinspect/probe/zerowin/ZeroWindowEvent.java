package dev.tcpinspect.probe.zerowin;

import dev.tcpinspect.probe.Flow;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** A view of one struct zw_event in the ring buffer, re-pointed at each record (no allocation). */
public final class ZeroWindowEvent {
    private static final int CLOSED = 8;
    private static final int TUPLE = 16;
    private static final int DIRECTION = TUPLE + Flow.TUPLE_SIZE;
    private static final int REOPENED = DIRECTION + 1;

    private final long netns;
    private MemorySegment segment;
    private long offset;

    ZeroWindowEvent(long netns) {
        this.netns = netns;
    }

    void wrap(MemorySegment segment, long offset) {
        this.segment = segment;
        this.offset = offset;
    }

    public long monotonicNanos() {
        return segment.get(ValueLayout.JAVA_LONG_UNALIGNED, offset);
    }

    public Flow flow() {
        return Flow.readTuple(segment, offset + TUPLE, netns);
    }

    /** True when this host advertised the zero window, false when a peer did. */
    public boolean sent() {
        return segment.get(ValueLayout.JAVA_BYTE, offset + DIRECTION) == 1;
    }

    /** True when the window just opened again ({@link #closedNanos} says for how long it was closed). */
    public boolean reopened() {
        return segment.get(ValueLayout.JAVA_BYTE, offset + REOPENED) == 1;
    }

    public long closedNanos() {
        return segment.get(ValueLayout.JAVA_LONG_UNALIGNED, offset + CLOSED);
    }
}
