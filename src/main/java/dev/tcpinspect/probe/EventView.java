package dev.tcpinspect.probe;

import dev.tcpinspect.snapshot.Flow;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;

/**
 * A view of one ring-buffer record in place. A probe re-points a single view at each record, so
 * decoding costs no allocation; consumers copy out what they keep. Every record starts with
 * bpf_ktime_get_ns().
 */
public abstract class EventView {
    private final int flowAt;
    private final boolean tuple;
    private final long tupleNetns;
    private final FlowView flowView = new FlowView();
    private MemorySegment segment;
    private long offset;

    /** A record with a struct flow at flowAt. */
    protected EventView(int flowAt) {
        this(flowAt, false, 0);
    }

    /** A record with a struct pkt_tuple at tupleAt, from a packet hook running in namespace netns. */
    protected EventView(int tupleAt, long netns) {
        this(tupleAt, true, netns);
    }

    private EventView(int flowAt, boolean tuple, long tupleNetns) {
        this.flowAt = flowAt;
        this.tuple = tuple;
        this.tupleNetns = tupleNetns;
    }

    /** Points the view at the record at offset (the reader thread does this for each record). */
    public final void wrap(MemorySegment segment, long offset) {
        this.segment = segment;
        this.offset = offset;
    }

    /** A field's offset in an event's layout: views read records by the names of their C fields. */
    protected static int offset(StructLayout layout, String field) {
        return (int) Flow.offset(layout, field);
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

    /** The record's flow, copied out (allocates: for consumers that keep it). */
    public final Flow flow() {
        return flowView().toFlow();
    }

    /** The record's flow in place (the same reused view for every record: no allocation). */
    public final FlowView flowView() {
        flowView.pointAt(segment, offset + flowAt, tuple, tupleNetns);
        return flowView;
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
