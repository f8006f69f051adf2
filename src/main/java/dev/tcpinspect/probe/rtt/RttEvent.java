package dev.tcpinspect.probe.rtt;

import dev.tcpinspect.probe.Flow;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** A view of one struct rtt_event in the ring buffer, re-pointed at each record (no allocation). */
public final class RttEvent {
    private static final int FLOW = 8;
    private static final int SRTT = FLOW + Flow.SIZE;

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

    public long srttMicros() {
        return Integer.toUnsignedLong(segment.get(ValueLayout.JAVA_INT_UNALIGNED, offset + SRTT));
    }

    public long cwnd() {
        return Integer.toUnsignedLong(segment.get(ValueLayout.JAVA_INT_UNALIGNED, offset + SRTT + 4));
    }

    public long sendWindow() {
        return Integer.toUnsignedLong(segment.get(ValueLayout.JAVA_INT_UNALIGNED, offset + SRTT + 8));
    }

    public long receiveWindow() {
        return Integer.toUnsignedLong(segment.get(ValueLayout.JAVA_INT_UNALIGNED, offset + SRTT + 12));
    }
}
