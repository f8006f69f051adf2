package dev.tcpinspect.probe.dupack;

import dev.tcpinspect.probe.Flow;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** A view of one struct dupack_event in the ring buffer, re-pointed at each record (no allocation). */
public final class DupAckEvent {
    private static final int TUPLE = 8;
    private static final int ACK = TUPLE + Flow.TUPLE_SIZE;
    private static final int WINDOW = ACK + 4;

    private final long netns;
    private MemorySegment segment;
    private long offset;

    DupAckEvent(long netns) {
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

    public long ack() {
        return Integer.toUnsignedLong(segment.get(ValueLayout.JAVA_INT_UNALIGNED, offset + ACK));
    }

    public int window() {
        return Short.toUnsignedInt(segment.get(ValueLayout.JAVA_SHORT_UNALIGNED, offset + WINDOW));
    }
}
