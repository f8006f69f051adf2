package dev.tcpinspect.snapshot;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.UnknownHostException;

/**
 * A TCP flow, local side first, as the probes report it. Flows of IPv4-mapped addresses on IPv6
 * sockets are IPv4 flows here, as on the wire.
 *
 * @param netns inode of the network namespace
 * @param ipv6 family
 */
public record Flow(long netns, boolean ipv6, InetAddress laddr, int lport, InetAddress raddr, int rport) {
    /** struct flow (bpf/lib/flow.h): a flow as tracepoint handlers see it, with its namespace. */
    public static final StructLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_INT.withName("netns"),
            JAVA_SHORT.withName("family"),
            JAVA_SHORT.withName("lport"),
            JAVA_SHORT.withName("rport"),
            JAVA_SHORT.withName("pad"),
            MemoryLayout.sequenceLayout(16, JAVA_BYTE).withName("laddr"),
            MemoryLayout.sequenceLayout(16, JAVA_BYTE).withName("raddr")).withName("flow");

    /** struct pkt_tuple (bpf/lib/flow.h): a flow as packet hooks see it, without namespace. */
    public static final StructLayout TUPLE_LAYOUT = MemoryLayout.structLayout(
            MemoryLayout.sequenceLayout(16, JAVA_BYTE).withName("laddr"),
            MemoryLayout.sequenceLayout(16, JAVA_BYTE).withName("raddr"),
            JAVA_SHORT.withName("lport"),
            JAVA_SHORT.withName("rport"),
            JAVA_SHORT.withName("family"),
            JAVA_SHORT.withName("pad")).withName("pkt_tuple");

    public static final int SIZE = (int) LAYOUT.byteSize();
    public static final int TUPLE_SIZE = (int) TUPLE_LAYOUT.byteSize();

    public static final int AF_INET6 = 10;
    static final long NETNS = offset(LAYOUT, "netns");
    static final long FAMILY = offset(LAYOUT, "family");
    static final long LPORT = offset(LAYOUT, "lport");
    static final long RPORT = offset(LAYOUT, "rport");
    static final long LADDR = offset(LAYOUT, "laddr");
    static final long RADDR = offset(LAYOUT, "raddr");
    static final long T_FAMILY = offset(TUPLE_LAYOUT, "family");
    static final long T_LPORT = offset(TUPLE_LAYOUT, "lport");
    static final long T_RPORT = offset(TUPLE_LAYOUT, "rport");
    static final long T_LADDR = offset(TUPLE_LAYOUT, "laddr");
    static final long T_RADDR = offset(TUPLE_LAYOUT, "raddr");

    /** A field's offset in a struct layout (its name, as in the C struct). */
    public static long offset(StructLayout layout, String field) {
        return layout.byteOffset(groupElement(field));
    }

    /** Decodes struct flow at offset. */
    public static Flow read(MemorySegment s, long offset) {
        long netns = Integer.toUnsignedLong(s.get(ValueLayout.JAVA_INT_UNALIGNED, offset + NETNS));
        boolean v6 = u16(s, offset + FAMILY) == AF_INET6;
        InetAddress laddr = address(s, offset + LADDR, v6);
        InetAddress raddr = address(s, offset + RADDR, v6);
        // A dual-stack socket carrying IPv4 has v4-mapped addresses (::ffff:a.b.c.d), which Java already
        // turns into IPv4 ones: on the wire that flow is IPv4, so it is reported as such.
        return new Flow(netns, v6 && laddr instanceof java.net.Inet6Address, laddr, u16(s, offset + LPORT), raddr,
                u16(s, offset + RPORT));
    }

    /** Decodes struct pkt_tuple at offset; packet hooks run in a known namespace, given by the caller. */
    public static Flow readTuple(MemorySegment s, long offset, long netns) {
        boolean v6 = u16(s, offset + T_FAMILY) == AF_INET6;
        return new Flow(netns, v6, address(s, offset + T_LADDR, v6), u16(s, offset + T_LPORT),
                address(s, offset + T_RADDR, v6), u16(s, offset + T_RPORT));
    }

    private static int u16(MemorySegment s, long at) {
        return Short.toUnsignedInt(s.get(ValueLayout.JAVA_SHORT_UNALIGNED, at));
    }

    static InetAddress address(MemorySegment s, long offset, boolean v6) {
        try {
            return InetAddress.getByAddress(s.asSlice(offset, v6 ? 16 : 4).toArray(ValueLayout.JAVA_BYTE));
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e); // only thrown for a wrong length
        }
    }

    /** The namespace's name where /run/netns (ip netns) gives it one, else null. */
    public String netnsName() {
        return NetnsNames.shared().nameOf(netns);
    }

    public String family() {
        return ipv6 ? "ipv6" : "ipv4";
    }
}
