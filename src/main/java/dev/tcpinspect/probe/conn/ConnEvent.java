package dev.tcpinspect.probe.conn;

import dev.tcpinspect.probe.Flow;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;

/** A view of one struct conn_event in the ring buffer, re-pointed at each record (no allocation). */
public final class ConnEvent {
    private static final int FLOW = 8;
    private static final int OLD = FLOW + Flow.SIZE;
    private static final int NEW = OLD + 1;
    private static final int OPEN = OLD + 2;
    private static final int END = OLD + 3;
    private static final int PID = OLD + 4;
    private static final int COMM = PID + 4;
    private static final int DURATION = COMM + 16 + 4; // after struct conn_event's explicit pad
    private static final int BYTES_IN = DURATION + 8;
    private static final int BYTES_OUT = BYTES_IN + 8;

    /** How an opened connection ended. */
    public enum End { NONE, FIN, RST_SENT, RST_RECEIVED, TIMEOUT }

    /** How a connection was opened. */
    public enum Open { NONE, PASSIVE, ACTIVE }

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

    public int oldState() {
        return Byte.toUnsignedInt(segment.get(ValueLayout.JAVA_BYTE, offset + OLD));
    }

    public int newState() {
        return Byte.toUnsignedInt(segment.get(ValueLayout.JAVA_BYTE, offset + NEW));
    }

    public Open open() {
        return Open.values()[segment.get(ValueLayout.JAVA_BYTE, offset + OPEN)];
    }

    public End end() {
        return End.values()[segment.get(ValueLayout.JAVA_BYTE, offset + END)];
    }

    /** The process that made the change, 0 when it happened outside any process's own context. */
    public int pid() {
        return segment.get(ValueLayout.JAVA_INT_UNALIGNED, offset + PID);
    }

    public String comm() {
        byte[] raw = segment.asSlice(offset + COMM, 16).toArray(ValueLayout.JAVA_BYTE);
        int n = 0;
        while (n < raw.length && raw[n] != 0) {
            n++;
        }
        return new String(raw, 0, n, StandardCharsets.UTF_8);
    }

    public long durationNanos() {
        return segment.get(ValueLayout.JAVA_LONG_UNALIGNED, offset + DURATION);
    }

    public long bytesIn() {
        return segment.get(ValueLayout.JAVA_LONG_UNALIGNED, offset + BYTES_IN);
    }

    public long bytesOut() {
        return segment.get(ValueLayout.JAVA_LONG_UNALIGNED, offset + BYTES_OUT);
    }
}
