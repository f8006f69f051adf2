package dev.tcpinspect.enforce;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.UnknownHostException;

/**
 * What an event line says of a packet the policy dropped, read from the headers the enforcer copied
 * (Ethernet, up to two VLAN tags, IPv4 or IPv6, TCP): source and destination with their ports, the
 * protocol and the TCP flags. A packet cut short says what was there.
 *
 * @param flags TCP flags as tcpdump writes them ("S", "S.", "R.", "F."), empty for other protocols
 */
public record DroppedPacket(String source, String destination, String protocol, String flags) {
    private static final ValueLayout.OfShort BE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.BIG_ENDIAN);

    /** Reads the headers in data from offset, capLen bytes of them. */
    public static DroppedPacket parse(MemorySegment data, long offset, int capLen) {
        int at = 12;
        if (capLen < at + 2) {
            return new DroppedPacket("?", "?", "?", "");
        }
        int type = u16(data, offset + at);
        for (int tags = 0; tags < 2 && (type == 0x8100 || type == 0x88a8) && capLen >= at + 6; tags++) {
            at += 4;
            type = u16(data, offset + at);
        }
        at += 2;
        int protocol;
        int l4;
        String src;
        String dst;
        if (type == 0x0800 && capLen >= at + 20) {
            protocol = data.get(ValueLayout.JAVA_BYTE, offset + at + 9) & 0xff;
            src = address(data, offset + at + 12, 4);
            dst = address(data, offset + at + 16, 4);
            l4 = at + (data.get(ValueLayout.JAVA_BYTE, offset + at) & 0x0f) * 4;
        } else if (type == 0x86dd && capLen >= at + 40) {
            protocol = data.get(ValueLayout.JAVA_BYTE, offset + at + 6) & 0xff; // extension headers shown as such
            src = address(data, offset + at + 8, 16);
            dst = address(data, offset + at + 24, 16);
            l4 = at + 40;
        } else {
            return new DroppedPacket("?", "?", String.format("ethertype 0x%04x", type), "");
        }
        if (protocol != 6 || capLen < l4 + 14) {
            return new DroppedPacket(src, dst, protocol == 6 ? "tcp" : protocol == 17 ? "udp"
                    : protocol == 1 || protocol == 58 ? "icmp" : "ip proto " + protocol, "");
        }
        boolean v6 = type == 0x86dd;
        String sport = ":" + u16(data, offset + l4);
        String dport = ":" + u16(data, offset + l4 + 2);
        return new DroppedPacket((v6 ? "[" + src + "]" : src) + sport, (v6 ? "[" + dst + "]" : dst) + dport, "tcp",
                flags(data.get(ValueLayout.JAVA_BYTE, offset + l4 + 13) & 0xff));
    }

    /** tcpdump's letters: F S R P U E W, and "." for ACK. */
    static String flags(int f) {
        StringBuilder b = new StringBuilder();
        String letters = "FSRP"; // bits 0 to 3; ACK (bit 4) comes last, as "."
        for (int i = 0; i < letters.length(); i++) {
            if ((f & (1 << i)) != 0) {
                b.append(letters.charAt(i));
            }
        }
        if ((f & 0x20) != 0) {
            b.append('U');
        }
        if ((f & 0x40) != 0) {
            b.append('E');
        }
        if ((f & 0x80) != 0) {
            b.append('W');
        }
        if ((f & 0x10) != 0) {
            b.append('.');
        }
        return b.toString();
    }

    private static int u16(MemorySegment data, long at) {
        return data.get(BE16, at) & 0xffff;
    }

    private static String address(MemorySegment data, long at, int length) {
        try {
            return dev.tcpinspect.snapshot.Addresses.format(
                    InetAddress.getByAddress(data.asSlice(at, length).toArray(ValueLayout.JAVA_BYTE)));
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e); // 4 or 16 bytes: never
        }
    }

    /** "198.18.0.2:40000 > 198.18.0.1:8080 tcp [S]", as tcpdump orders it. */
    @Override
    public String toString() {
        return source + " > " + destination + " " + protocol + (flags.isEmpty() ? "" : " [" + flags + "]");
    }
}
