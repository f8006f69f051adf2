package dev.tcpinspect.probe;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A flow read in place from a ring-buffer record, for writers that turn tens of thousands of events
 * a second into text: no {@link Flow}, no InetAddress. Valid only while its event is; {@link #toFlow}
 * copies it out. Reads a struct flow (bpf/include/flow.h) or, for packet hooks, a struct pkt_tuple
 * (bpf/include/tuple.h) with the namespace the hook runs in.
 */
public final class FlowView {
    private static final int AF_INET6 = 10;
    private static final ValueLayout.OfInt BIG_ENDIAN_INT =
            ValueLayout.JAVA_INT_UNALIGNED.withOrder(java.nio.ByteOrder.BIG_ENDIAN);
    private MemorySegment segment;
    private long offset;
    private boolean tuple;
    private long tupleNetns;

    void pointAt(MemorySegment segment, long offset, boolean tuple, long tupleNetns) {
        this.segment = segment;
        this.offset = offset;
        this.tuple = tuple;
        this.tupleNetns = tupleNetns;
    }

    public long netns() {
        return tuple ? tupleNetns : Integer.toUnsignedLong(segment.get(ValueLayout.JAVA_INT_UNALIGNED, offset));
    }

    /** IPv6 on the wire: a v4-mapped address (::ffff:a.b.c.d) is an IPv4 flow, as {@link Flow} has it. */
    public boolean ipv6() {
        return u16(tuple ? 36 : 4) == AF_INET6 && !v4Mapped(localOffset());
    }

    public int lport() {
        return u16(tuple ? 32 : 6);
    }

    public int rport() {
        return u16(tuple ? 34 : 8);
    }

    /** Copies the local address (4 or 16 bytes, network order) into into; returns its length. */
    public int localAddress(byte[] into) {
        return address(localOffset(), into);
    }

    /** Copies the remote address (4 or 16 bytes, network order) into into; returns its length. */
    public int remoteAddress(byte[] into) {
        return address(localOffset() + 16, into);
    }

    /** The flow as a record that outlives the event. */
    public Flow toFlow() {
        return tuple ? Flow.readTuple(segment, offset, tupleNetns) : Flow.read(segment, offset);
    }

    private long localOffset() {
        return offset + (tuple ? 0 : 12);
    }

    private int address(long at, byte[] into) {
        boolean wide = u16(tuple ? 36 : 4) == AF_INET6;
        if (wide && !v4Mapped(at)) {
            MemorySegment.copy(segment, ValueLayout.JAVA_BYTE, at, into, 0, 16);
            return 16;
        }
        MemorySegment.copy(segment, ValueLayout.JAVA_BYTE, wide ? at + 12 : at, into, 0, 4);
        return 4;
    }

    private boolean v4Mapped(long at) {
        return segment.get(ValueLayout.JAVA_LONG_UNALIGNED, at) == 0
                && segment.get(BIG_ENDIAN_INT, at + 8) == 0x0000FFFF;
    }

    private int u16(int at) {
        return Short.toUnsignedInt(segment.get(ValueLayout.JAVA_SHORT_UNALIGNED, offset + at));
    }
}
