package dev.tcpinspect.probe.packets;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A second parser of Ethernet frames, written in plain Java from the RFCs (802.1Q/802.1ad, RFC 791,
 * RFC 8200, RFC 4302, RFC 9293) and from the contract in bpf/lib/packet.h, for the fuzzer to hold the
 * kernel's parser against. It shares no code with the kernel's and reads the frame in the order the
 * RFCs lay it out, not in the order packet.h happens to test things.
 *
 * <p>Where packet.h's contract leaves a choice, this parser decides, and says why:
 * <ul>
 *   <li>The IP header chain (an IPv4 header with its options; the IPv6 header with its extension
 *   headers) is judged whatever it carries: impossible fields are malformed and a header cut short is
 *   truncated even for UDP, because packet.h already judges the fixed IPv4 header and the IP length
 *   fields of every IP packet that way (ip_version is set for all of them). Only what follows the IP
 *   headers is left alone when it is not TCP.</li>
 *   <li>An IPv6 extension header must fit in the payload length before anything in it is believed,
 *   the fragment offset included: the same order as IPv4, whose lengths are checked before its
 *   fragment offset.</li>
 *   <li>packet.h skips at most {@value #MAX_VLAN_TAGS} VLAN tags and {@value #MAX_IPV6_EXT_HEADERS}
 *   IPv6 extension headers. A frame past either bound is not parsed (a third tag: not TCP; a ninth
 *   extension header: malformed), and {@link Parse#beyondBounds()} says so, because tshark, which has
 *   no such bounds, may rightly see TCP there.</li>
 *   <li>Neither the IP length fields against the frame's length nor the contents of IP or TCP options
 *   are judged: the contract is about headers that can be parsed, and payload cut short or an odd
 *   option does not stop the kernel's own TCP from taking the segment. The TCP payload length comes
 *   from the IP length fields, as packet.h documents.</li>
 * </ul>
 */
final class ReferenceParser {
    static final int MAX_VLAN_TAGS = 2;
    static final int MAX_IPV6_EXT_HEADERS = 8;

    /** packet.h's enum parse_result. */
    enum Verdict { NOT_TCP, TCP, MALFORMED, TRUNCATED }

    /** IPv4's MF flag and fragment offset (in 8-byte units), or those of an IPv6 fragment header. */
    record Fragment(boolean more, int offset) {}

    /**
     * What the reference found. Offsets are -1 where the parse did not get that far; {@code extOffsets}
     * are where IPv6 extension headers start (the fuzzer mutates them).
     */
    record Parse(Verdict verdict, int ipVersion, int l3Offset, int l4Offset, List<Integer> extOffsets,
                 int upperProtocol, Fragment fragment, int sport, int dport, int flags, int flagsHi,
                 long payloadLength, boolean beyondBounds, boolean optionsOverrun) {

        boolean tcp() {
            return verdict == Verdict.TCP;
        }

        /** What the packets probe must count for this frame (one frame, summed over CPUs). */
        PacketCounts expectedCounts() {
            return switch (verdict) {
                case MALFORMED, TRUNCATED -> new PacketCounts(0, 0, 0, 0, 0, 0, 1, Map.of());
                case NOT_TCP -> PacketCounts.ZERO;
                case TCP -> {
                    boolean syn = (flags & 0x02) != 0, ack = (flags & 0x10) != 0;
                    boolean fin = (flags & 0x01) != 0, rst = (flags & 0x04) != 0;
                    boolean pureAck = ack && !syn && !fin && !rst && payloadLength == 0;
                    yield new PacketCounts(1, syn && !ack ? 1 : 0, syn && ack ? 1 : 0, fin ? 1 : 0, rst ? 1 : 0,
                            pureAck ? 1 : 0, 0, syn && !ack ? Map.of(dport, 1L) : Map.of());
                }
            };
        }
    }

    /** Builds a Parse step by step; what is not reached keeps its "unknown" value. */
    private static final class State {
        final byte[] f;
        int ipVersion;
        int l3Offset = -1;
        int l4Offset = -1;
        final List<Integer> extOffsets = new ArrayList<>();
        int upperProtocol = -1;
        Fragment fragment;
        int sport = -1;
        int dport = -1;
        int flags = -1;
        int flagsHi = -1;
        long payloadLength = -1;
        boolean beyondBounds;
        boolean optionsOverrun;

        State(byte[] frame) {
            f = frame;
        }

        int u8(int at) {
            return f[at] & 0xFF;
        }

        int u16(int at) {
            return (u8(at) << 8) | u8(at + 1);
        }

        Parse end(Verdict v) {
            return new Parse(v, ipVersion, l3Offset, l4Offset, List.copyOf(extOffsets), upperProtocol, fragment, sport,
                    dport, flags, flagsHi, payloadLength, beyondBounds, optionsOverrun);
        }
    }

    private ReferenceParser() {}

    static Parse parse(byte[] frame) {
        State s = new State(frame);
        if (frame.length < 14) {
            return s.end(Verdict.TRUNCATED);
        }
        int type = s.u16(12);
        int at = 14;
        // A cut tag is truncated: what it carries could be TCP (packet.h: headers that run past the bytes).
        for (int tags = 0; tags < MAX_VLAN_TAGS && isVlanTag(type); tags++) {
            if (frame.length < at + 4) {
                return s.end(Verdict.TRUNCATED);
            }
            type = s.u16(at + 2);
            at += 4;
        }
        if (isVlanTag(type) || type == 0x9100) {
            s.beyondBounds = true; // a third tag, or the pre-standard QinQ tag that tshark knows and Linux does not
            return s.end(Verdict.NOT_TCP);
        }
        return switch (type) {
            case 0x0800 -> ipv4(s, at);
            case 0x86DD -> ipv6(s, at);
            default -> s.end(Verdict.NOT_TCP);
        };
    }

    private static boolean isVlanTag(int type) {
        return type == 0x8100 || type == 0x88A8;
    }

    /** RFC 791. */
    private static Parse ipv4(State s, int l3) {
        s.l3Offset = l3;
        if (s.f.length < l3 + 20) {
            return s.end(Verdict.TRUNCATED);
        }
        if (s.u8(l3) >> 4 != 4) {
            return s.end(Verdict.MALFORMED);
        }
        s.ipVersion = 4;
        int headerLength = (s.u8(l3) & 0x0F) * 4;
        int totalLength = s.u16(l3 + 2);
        if (headerLength < 20 || totalLength < headerLength) {
            return s.end(Verdict.MALFORMED);
        }
        int fragmentWord = s.u16(l3 + 6);
        s.fragment = new Fragment((fragmentWord & 0x2000) != 0, fragmentWord & 0x1FFF);
        s.upperProtocol = s.u8(l3 + 9);
        if (s.f.length < l3 + headerLength) {
            return s.end(Verdict.TRUNCATED); // options cut: the IP header itself is incomplete
        }
        if (s.upperProtocol != 6 || s.fragment.offset() != 0) {
            return s.end(Verdict.NOT_TCP); // a later fragment carries no TCP header
        }
        return tcp(s, l3 + headerLength, totalLength - headerLength);
    }

    /** RFC 8200 (extension headers), RFC 4302 (AH's length is in 4-byte words, less 2). */
    private static Parse ipv6(State s, int l3) {
        s.l3Offset = l3;
        if (s.f.length < l3 + 40) {
            return s.end(Verdict.TRUNCATED);
        }
        if (s.u8(l3) >> 4 != 6) {
            return s.end(Verdict.MALFORMED);
        }
        s.ipVersion = 6;
        long remaining = s.u16(l3 + 4); // 0 would be a jumbogram (RFC 2675): not on Ethernet
        int next = s.u8(l3 + 6);
        int at = l3 + 40;
        for (int skipped = 0; ; skipped++) {
            s.upperProtocol = next;
            if (next == 6) {
                return tcp(s, at, remaining);
            }
            if (next != 0 && next != 43 && next != 44 && next != 60 && next != 51) {
                return s.end(Verdict.NOT_TCP); // ESP, no next header, UDP, ICMPv6, ...
            }
            if (skipped == MAX_IPV6_EXT_HEADERS) {
                s.beyondBounds = true;
                return s.end(Verdict.MALFORMED);
            }
            s.extOffsets.add(at);
            if (s.f.length < at + 2) {
                return s.end(Verdict.TRUNCATED);
            }
            int length = switch (next) {
                case 44 -> 8;
                case 51 -> (s.u8(at + 1) + 2) * 4;
                default -> (s.u8(at + 1) + 1) * 8;
            };
            if (length > remaining) {
                return s.end(Verdict.MALFORMED);
            }
            if (s.f.length < at + length) {
                return s.end(Verdict.TRUNCATED);
            }
            if (next == 0 || next == 60) {
                s.optionsOverrun |= optionsOverrun(s.f, at + 2, at + length);
            }
            if (next == 44) {
                int word = s.u16(at + 2);
                Fragment here = new Fragment((word & 1) != 0, word >> 3);
                if (s.fragment == null) {
                    s.fragment = here; // the first one, as tshark's first occurrence
                }
                if (here.offset() != 0) {
                    s.upperProtocol = s.u8(at);
                    return s.end(Verdict.NOT_TCP);
                }
            }
            remaining -= length;
            next = s.u8(at);
            at += length;
        }
    }

    /**
     * Whether the options of a hop-by-hop or destination options header (RFC 8200 4.2: Pad1 is one
     * byte, every other option a type, a length and that many bytes) run past the header's end. Not
     * part of packet.h's contract (it does not read options); tshark stops dissecting when such an
     * option also runs past the frame's end, so the fuzzer leaves these frames out of "is it TCP".
     */
    private static boolean optionsOverrun(byte[] f, int from, int end) {
        int at = from;
        while (at < end) {
            if (f[at] == 0) {
                at++;
            } else if (at + 1 >= end) {
                return true;
            } else {
                at += 2 + (f[at + 1] & 0xFF);
            }
        }
        return at > end;
    }

    /**
     * RFC 9293: the data offset counts 32-bit words, at least 5, and the header must fit in the segment.
     * A segment the IP header makes shorter than a TCP header is impossible whatever the frame holds
     * (RFC 1858's tiny first fragment): malformed, not cut.
     */
    private static Parse tcp(State s, int l4, long segmentLength) {
        s.l4Offset = l4;
        if (segmentLength < 20) {
            return s.end(Verdict.MALFORMED);
        }
        if (s.f.length < l4 + 20) {
            return s.end(Verdict.TRUNCATED);
        }
        int headerLength = (s.u8(l4 + 12) >> 4) * 4;
        if (headerLength < 20 || headerLength > segmentLength) {
            return s.end(Verdict.MALFORMED);
        }
        if (s.f.length < l4 + headerLength) {
            return s.end(Verdict.TRUNCATED);
        }
        s.sport = s.u16(l4);
        s.dport = s.u16(l4 + 2);
        s.flags = s.u8(l4 + 13);
        s.flagsHi = s.u8(l4 + 12) & 0x0F;
        s.payloadLength = segmentLength - headerLength;
        return s.end(Verdict.TCP);
    }
}
