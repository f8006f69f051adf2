package dev.tcpinspect.probe.retrans;

import dev.tcpinspect.probe.Flow;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A view of one struct retrans_event in the ring buffer. The reader re-points a single instance at
 * each record, so decoding costs no allocation; a consumer copies what it keeps (e.g. {@link #flow()}).
 */
public final class RetransmitEvent {
    private static final int FLOW = 8;
    private static final int STATE = FLOW + Flow.SIZE;
    private static final int KIND = STATE + 1;
    private static final int ERR = STATE + 4;

    private MemorySegment segment;
    private long offset;

    void wrap(MemorySegment segment, long offset) {
        this.segment = segment;
        this.offset = offset;
    }

    /** CLOCK_MONOTONIC nanoseconds, as System.nanoTime() counts them on Linux. */
    public long monotonicNanos() {
        return segment.get(ValueLayout.JAVA_LONG_UNALIGNED, offset);
    }

    public Flow flow() {
        return Flow.read(segment, offset + FLOW);
    }

    public long netns() {
        return Integer.toUnsignedLong(segment.get(ValueLayout.JAVA_INT_UNALIGNED, offset + FLOW));
    }

    public int state() {
        return Byte.toUnsignedInt(segment.get(ValueLayout.JAVA_BYTE, offset + STATE));
    }

    public boolean synack() {
        return segment.get(ValueLayout.JAVA_BYTE, offset + KIND) == 1;
    }

    public int err() {
        return segment.get(ValueLayout.JAVA_INT_UNALIGNED, offset + ERR);
    }
}
