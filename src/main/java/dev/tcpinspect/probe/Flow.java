package dev.tcpinspect.probe;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.UnknownHostException;

/**
 * A TCP flow as the tracepoint probes report it (bpf/include/flow.h, struct flow, 44 bytes).
 * Flows of IPv4-mapped addresses on IPv6 sockets are IPv4 flows here.
 *
 * @param netns inode of the network namespace
 * @param ipv6 family
 * @param local local address and port
 * @param remote remote address and port
 */
public record Flow(long netns, boolean ipv6, InetAddress laddr, int lport, InetAddress raddr, int rport) {
    /** sizeof(struct flow). */
    public static final int SIZE = 44;
    private static final int AF_INET6 = 10;

    /** Decodes struct flow at offset. */
    public static Flow read(MemorySegment s, long offset) {
        long netns = Integer.toUnsignedLong(s.get(ValueLayout.JAVA_INT_UNALIGNED, offset));
        boolean v6 = Short.toUnsignedInt(s.get(ValueLayout.JAVA_SHORT_UNALIGNED, offset + 4)) == AF_INET6;
        int lport = Short.toUnsignedInt(s.get(ValueLayout.JAVA_SHORT_UNALIGNED, offset + 6));
        int rport = Short.toUnsignedInt(s.get(ValueLayout.JAVA_SHORT_UNALIGNED, offset + 8));
        InetAddress laddr = address(s, offset + 12, v6);
        InetAddress raddr = address(s, offset + 28, v6);
        // A dual-stack socket carrying IPv4 has v4-mapped addresses (::ffff:a.b.c.d), which Java already
        // turns into IPv4 ones: on the wire that flow is IPv4, so it is reported as such.
        return new Flow(netns, v6 && laddr instanceof java.net.Inet6Address, laddr, lport, raddr, rport);
    }

    private static InetAddress address(MemorySegment s, long offset, boolean v6) {
        try {
            return InetAddress.getByAddress(s.asSlice(offset, v6 ? 16 : 4).toArray(ValueLayout.JAVA_BYTE));
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e); // only thrown for a wrong length
        }
    }

    /** sizeof(struct pkt_tuple) (bpf/include/tuple.h): a flow as a packet hook sees it, without namespace. */
    public static final int TUPLE_SIZE = 40;

    /** Decodes struct pkt_tuple at offset; packet hooks run in a known namespace, given by the caller. */
    public static Flow readTuple(MemorySegment s, long offset, long netns) {
        boolean v6 = Short.toUnsignedInt(s.get(ValueLayout.JAVA_SHORT_UNALIGNED, offset + 36)) == AF_INET6;
        int lport = Short.toUnsignedInt(s.get(ValueLayout.JAVA_SHORT_UNALIGNED, offset + 32));
        int rport = Short.toUnsignedInt(s.get(ValueLayout.JAVA_SHORT_UNALIGNED, offset + 34));
        return new Flow(netns, v6, address(s, offset, v6), lport, address(s, offset + 16, v6), rport);
    }

    public String family() {
        return ipv6 ? "ipv6" : "ipv4";
    }
}
