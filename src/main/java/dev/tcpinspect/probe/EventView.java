package dev.tcpinspect.probe;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A view of one ring-buffer record in place. A probe re-points a single view at each record, so
 * decoding costs no allocation; consumers copy out what they keep. Every record starts with
 * bpf_ktime_get_ns().
 */
public abstract class EventView {
    private MemorySegment segment;
    private long offset;

    /** Points the view at the record at offset (the reader thread does this for each record). */
    public final void wrap(MemorySegment segment, long offset) {
        this.segment = segment;
        this.offset = offset;
    }

    /** CLOCK_MONOTONIC nanoseconds, as System.nanoTime() counts them on Linux. */
    public final long monotonicNanos() {
        return u64(0);
    }

    protected final long u64(int at) {
        return segment.get(ValueLayout.JAVA_LONG_UNALIGNED, offset + at);
    }

    protected final int s32(int at) {
        return segment.get(ValueLayout.JAVA_INT_UNALIGNED, offset + at);
    }

    protected final long u32(int at) {
        return Integer.toUnsignedLong(s32(at));
    }

    protected final int u16(int at) {
        return Short.toUnsignedInt(segment.get(ValueLayout.JAVA_SHORT_UNALIGNED, offset + at));
    }

    protected final int u8(int at) {
        return Byte.toUnsignedInt(segment.get(ValueLayout.JAVA_BYTE, offset + at));
    }

    /** A struct flow at the given offset of the record. */
    protected final Flow flowAt(int at) {
        return Flow.read(segment, offset + at);
    }

    /** A struct pkt_tuple at the given offset, seen from a packet hook in namespace netns. */
    protected final Flow tupleAt(int at, long netns) {
        return Flow.readTuple(segment, offset + at, netns);
    }

    /** A NUL-terminated string of at most length bytes. */
    protected final String string(int at, int length) {
        byte[] raw = segment.asSlice(offset + at, length).toArray(ValueLayout.JAVA_BYTE);
        int n = 0;
        while (n < raw.length && raw[n] != 0) {
            n++;
        }
        return new String(raw, 0, n, java.nio.charset.StandardCharsets.UTF_8);
    }
}
