package dev.tcpinspect.testing;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;

/**
 * Builds Ethernet frames carrying TCP over IPv4 or IPv6 for BPF_PROG_TEST_RUN, with VLAN tags, IP
 * options, IPv6 extension headers and TCP options. Also records where the TCP header ends, so tests
 * can cut a frame at every header boundary. Checksums are left zero: the probes do not check them.
 */
public final class Frame {
    public static final int FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10, URG = 0x20;
    private static final int COOKIE_OPTION_BYTES = 12;

    private final List<Integer> vlanTypes = new ArrayList<>();
    private boolean ipv6;
    private int ipOptionBytes;
    private final List<int[]> extHeaders = new ArrayList<>(); // {type, length in bytes}
    private int tcpOptionBytes;
    private int flags = SYN;
    private int flagsHi;
    private boolean fastOpenCookie;
    private byte[] rawOptions = new byte[0];
    private byte[] source;
    private byte[] payloadBytes;
    private int seq = 1;
    private int sport = 40000;
    private int dport = 80;
    private int payload;
    private String description = "ipv4";

    public static Frame ipv4() {
        return new Frame();
    }

    public static Frame ipv6() {
        Frame f = new Frame();
        f.ipv6 = true;
        f.description = "ipv6";
        return f;
    }

    public Frame vlan() {
        vlanTypes.add(0x8100);
        description += "+vlan";
        return this;
    }

    public Frame qinq() {
        vlanTypes.add(0x88A8);
        vlanTypes.add(0x8100);
        description += "+qinq";
        return this;
    }

    public Frame ipOptions(int bytes) {
        ipOptionBytes = bytes;
        description += "+ipopt" + bytes;
        return this;
    }

    /** Adds an IPv6 extension header: 0 hop-by-hop, 43 routing, 60 destination, 44 fragment, 51 AH. */
    public Frame ext(int type) {
        int length = switch (type) {
            case 44 -> 8;
            case 51 -> 16;
            default -> 16;
        };
        extHeaders.add(new int[] {type, length});
        description += "+ext" + type;
        return this;
    }

    public Frame tcpOptions(int bytes) {
        tcpOptionBytes = bytes;
        description += "+tcpopt" + bytes;
        return this;
    }

    public Frame flags(int f) {
        flags = f;
        return this;
    }

    /** The low nibble of the data offset byte: the three reserved bits (0x0E) and AccECN's AE (0x01). */
    public Frame flagsHi(int bits) {
        flagsHi = bits;
        return this;
    }

    /** A TCP Fast Open cookie option (RFC 7413, kind 34, an 8-byte cookie) before the other options. */
    public Frame fastOpenCookie() {
        fastOpenCookie = true;
        description += "+tfo";
        return this;
    }

    /** TCP options given byte by byte (after any others), padded with NOPs to a whole word. */
    public Frame tcpOptions(int... bytes) {
        rawOptions = new byte[(bytes.length + 3) / 4 * 4];
        java.util.Arrays.fill(rawOptions, (byte) 1);
        for (int i = 0; i < bytes.length; i++) {
            rawOptions[i] = (byte) bytes[i];
        }
        description += "+options";
        return this;
    }

    /** The source address (a literal of the frame's family); default 198.18.0.2 or fd00:7c1::2. */
    public Frame source(String literal) {
        source = java.net.InetAddress.ofLiteral(literal).getAddress();
        if (source.length != (ipv6 ? 16 : 4)) {
            throw new IllegalArgumentException(literal + " is not an " + (ipv6 ? "IPv6" : "IPv4") + " address");
        }
        return this;
    }

    /** The payload's bytes (instead of payload(n)'s zeros). */
    public Frame payload(byte[] bytes) {
        payloadBytes = bytes.clone();
        payload = bytes.length;
        return this;
    }

    /** The TCP sequence number (default 1). */
    public Frame seq(int n) {
        seq = n;
        return this;
    }

    public Frame sport(int port) {
        sport = port;
        return this;
    }

    public Frame dport(int port) {
        dport = port;
        return this;
    }

    public Frame payload(int bytes) {
        payload = bytes;
        return this;
    }

    /** Offset just past the TCP header (with options): a frame cut before it has no complete header. */
    public int tcpHeaderEnd() {
        return 14 + 4 * vlanTypes.size() + (ipv6 ? 40 + extHeaders.stream().mapToInt(e -> e[1]).sum()
                : 20 + ipOptionBytes) + 20 + tcpOptionBytes + (fastOpenCookie ? COOKIE_OPTION_BYTES : 0) + rawOptions.length;
    }

    /**
     * Shortest frame the kernel's TC test run accepts: it refuses (EINVAL) an untagged IP frame
     * whose fixed IP header is incomplete. Tagged frames are not checked by it.
     */
    public int tcTestRunMinimum() {
        return vlanTypes.isEmpty() ? 14 + (ipv6 ? 40 : 20) : 14;
    }

    @Override
    public String toString() {
        return description;
    }

    public byte[] build() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(new byte[] {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2});
        for (int type : vlanTypes) {
            u16(out, type);
            u16(out, 100); // TCI of the tag that follows
        }
        u16(out, ipv6 ? 0x86DD : 0x0800);
        int options = tcpOptionBytes + (fastOpenCookie ? COOKIE_OPTION_BYTES : 0) + rawOptions.length;
        int tcpLength = 20 + options + payload;
        if (ipv6) {
            int extLength = extHeaders.stream().mapToInt(e -> e[1]).sum();
            out.writeBytes(new byte[] {0x60, 0, 0, 0});
            u16(out, extLength + tcpLength);
            out.write(extHeaders.isEmpty() ? 6 : extHeaders.get(0)[0]);
            out.write(64);
            out.writeBytes(source != null ? source
                    : new byte[] {(byte) 0xfd, 0, 7, (byte) 0xc1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2});
            out.writeBytes(new byte[] {(byte) 0xfd, 0, 7, (byte) 0xc1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
            for (int i = 0; i < extHeaders.size(); i++) {
                int[] e = extHeaders.get(i);
                int next = i + 1 < extHeaders.size() ? extHeaders.get(i + 1)[0] : 6;
                byte[] h = new byte[e[1]];
                h[0] = (byte) next;
                h[1] = (byte) (e[0] == 44 ? 0 : e[0] == 51 ? e[1] / 4 - 2 : e[1] / 8 - 1);
                if (e[0] == 44) {
                    h[3] = 1; // first fragment (offset 0), more fragments
                } else if (e[0] != 51) {
                    // One option filling the header, of a type the stack skips when it does not know it
                    // (RFC 4727's experimental 0x1E): the kernel refuses more than 7 bytes of padding.
                    h[2] = 0x1E;
                    h[3] = (byte) (e[1] - 4);
                }
                out.writeBytes(h);
            }
        } else {
            int ihl = 5 + ipOptionBytes / 4;
            out.write(0x40 | ihl);
            out.write(0);
            u16(out, ihl * 4 + tcpLength);
            u16(out, 0x1234);
            u16(out, 0x4000); // don't fragment
            out.write(64);
            out.write(6);
            u16(out, 0);
            out.writeBytes(source != null ? source : new byte[] {(byte) 198, 18, 0, 2});
            out.writeBytes(new byte[] {(byte) 198, 18, 0, 1});
            for (int i = 0; i < ipOptionBytes; i++) {
                out.write(1); // NOP options
            }
        }
        u16(out, sport);
        u16(out, dport);
        u16(out, seq >>> 16);
        u16(out, seq & 0xFFFF);
        out.writeBytes(new byte[] {0, 0, 0, 0});
        out.write(((5 + options / 4) << 4) | (flagsHi & 0x0F));
        out.write(flags);
        u16(out, 65535);
        u16(out, 0);
        u16(out, 0);
        if (fastOpenCookie) {
            out.writeBytes(new byte[] {34, 10, 1, 2, 3, 4, 5, 6, 7, 8, 1, 1}); // the cookie, two NOPs to a word
        }
        for (int i = 0; i < tcpOptionBytes; i++) {
            out.write(1);
        }
        out.writeBytes(rawOptions);
        out.writeBytes(payloadBytes != null ? payloadBytes : new byte[payload]);
        return out.toByteArray();
    }

    private static void u16(ByteArrayOutputStream out, int v) {
        out.write(v >> 8);
        out.write(v);
    }
}
