package dev.tcpinspect.probe.drops;

import dev.tcpinspect.probe.Flow;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** A view of one struct drop_event in the ring buffer, re-pointed at each record (no allocation). */
public final class DropEvent {
    private static final int FLOW = 8;
    private static final int REASON = FLOW + Flow.SIZE;

    private MemorySegment segment;
    private long offset;

    void wrap(MemorySegment segment, long offset) {
        this.segment = segment;
        this.offset = offset;
    }

    public long monotonicNanos() {
        return segment.get(ValueLayout.JAVA_LONG_UNALIGNED, offset);
    }

    /** The dropped packet's flow: its destination is the local side. */
    public Flow flow() {
        return Flow.read(segment, offset + FLOW);
    }

    /** The kernel's enum skb_drop_reason value; see {@link DropsProbe#reasonName}. */
    public int reason() {
        return segment.get(ValueLayout.JAVA_INT_UNALIGNED, offset + REASON);
    }
}
