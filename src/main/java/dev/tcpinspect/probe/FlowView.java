package dev.tcpinspect.probe;

import dev.tcpinspect.snapshot.Flow;
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

    private static final int NETNS = (int) Flow.offset(Flow.LAYOUT, "netns");
    private static final int FAMILY = (int) Flow.offset(Flow.LAYOUT, "family");
    private static final int LPORT = (int) Flow.offset(Flow.LAYOUT, "lport");
    private static final int RPORT = (int) Flow.offset(Flow.LAYOUT, "rport");
    private static final int LADDR = (int) Flow.offset(Flow.LAYOUT, "laddr");
    private static final int T_FAMILY = (int) Flow.offset(Flow.TUPLE_LAYOUT, "family");
    private static final int T_LPORT = (int) Flow.offset(Flow.TUPLE_LAYOUT, "lport");
    private static final int T_RPORT = (int) Flow.offset(Flow.TUPLE_LAYOUT, "rport");
    private static final int T_LADDR = (int) Flow.offset(Flow.TUPLE_LAYOUT, "laddr");
    /** The remote address follows the local one in both layouts. */
    private static final int REMOTE_AFTER_LOCAL = 16;

    public long netns() {
        return tuple ? tupleNetns : Integer.toUnsignedLong(segment.get(ValueLayout.JAVA_INT_UNALIGNED, offset + NETNS));
    }

    /** The namespace's name where /run/netns (ip netns) gives it one, else null. */
    public String netnsName() {
        return dev.tcpinspect.snapshot.NetnsNames.shared().nameOf(netns());
    }

    /** IPv6 on the wire: a v4-mapped address (::ffff:a.b.c.d) is an IPv4 flow, as {@link Flow} has it. */
    public boolean ipv6() {
        return u16(tuple ? T_FAMILY : FAMILY) == AF_INET6 && !v4Mapped(localOffset());
    }

    public int lport() {
        return u16(tuple ? T_LPORT : LPORT);
    }

    public int rport() {
        return u16(tuple ? T_RPORT : RPORT);
    }

    /** Copies the local address (4 or 16 bytes, network order) into into; returns its length. */
    public int localAddress(byte[] into) {
        return address(localOffset(), into);
    }

    /** Copies the remote address (4 or 16 bytes, network order) into into; returns its length. */
    public int remoteAddress(byte[] into) {
        return address(localOffset() + REMOTE_AFTER_LOCAL, into);
    }

    /** The flow as a record that outlives the event. */
    public Flow toFlow() {
        return tuple ? Flow.readTuple(segment, offset, tupleNetns) : Flow.read(segment, offset);
    }

    private long localOffset() {
        return offset + (tuple ? T_LADDR : LADDR);
    }

    private int address(long at, byte[] into) {
        boolean wide = u16(tuple ? T_FAMILY : FAMILY) == AF_INET6;
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
