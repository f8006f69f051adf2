package dev.tcpinspect.probe.reset;

import dev.tcpinspect.probe.Flow;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** A view of one struct reset_event in the ring buffer, re-pointed at each record (no allocation). */
public final class ResetEvent {
    private static final int FLOW = 8;
    private static final int STATE = FLOW + Flow.SIZE;
    private static final int DIRECTION = STATE + 1;
    private static final int REASON = STATE + 4;

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

    /** The TCP state the reset hit, 0 when there was no socket (a SYN to a closed port, say). */
    public int state() {
        return Byte.toUnsignedInt(segment.get(ValueLayout.JAVA_BYTE, offset + STATE));
    }

    public boolean received() {
        return segment.get(ValueLayout.JAVA_BYTE, offset + DIRECTION) == 1;
    }

    /** enum sk_rst_reason value of a sent reset (0 = NOT_SPECIFIED or unknown). */
    public int reason() {
        return segment.get(ValueLayout.JAVA_INT_UNALIGNED, offset + REASON);
    }
}
