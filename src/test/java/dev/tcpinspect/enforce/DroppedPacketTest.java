package dev.tcpinspect.enforce;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.MemorySegment;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

/** The event line's reading of copied headers, on frames written out byte by byte. */
class DroppedPacketTest {
    private static final String ETH_V4 = "020000000001" + "020000000002" + "0800";
    private static final String ETH_V6 = "020000000001" + "020000000002" + "86dd";
    private static final String IPV4_TCP = "45000028" + "00004000" + "4006" + "0000" + "c6120002" + "c6120001";
    private static final String TCP_SYN = "9d78" + "2382" + "00000000" + "00000000" + "5002" + "faf0" + "0000" + "0000";

    private static DroppedPacket parse(String hex) {
        byte[] bytes = HexFormat.of().parseHex(hex);
        return DroppedPacket.parse(MemorySegment.ofArray(bytes), 0, bytes.length);
    }

    @Test
    void anIpv4Syn() {
        assertEquals("198.18.0.2:40312 > 198.18.0.1:9090 tcp [S]", parse(ETH_V4 + IPV4_TCP + TCP_SYN).toString());
    }

    @Test
    void anIpv6SynAckBehindTwoVlanTags() {
        String tags = "020000000001" + "020000000002" + "88a8" + "0064" + "8100" + "00c8" + "86dd";
        String ipv6 = "60000000" + "0014" + "06" + "40" + "fd0007c1000000000000000000000002"
                + "fd0007c1000000000000000000000001";
        String synAck = "9d78" + "2382" + "00000000" + "00000000" + "5012" + "faf0" + "0000" + "0000";
        assertEquals("[fd00:7c1::2]:40312 > [fd00:7c1::1]:9090 tcp [S.]", parse(tags + ipv6 + synAck).toString());
        assertEquals(parse(ETH_V6 + ipv6 + synAck).toString(), parse(tags + ipv6 + synAck).toString());
    }

    @Test
    void otherProtocolsAndShortCopiesSayWhatWasThere() {
        String udp = "45000020" + "00004000" + "4011" + "0000" + "c6120002" + "c6120001" + "9d7823820008" + "0000";
        assertEquals("198.18.0.2 > 198.18.0.1 udp", parse(ETH_V4 + udp).toString());
        assertEquals("198.18.0.2 > 198.18.0.1 tcp", parse(ETH_V4 + IPV4_TCP + "9d78").toString(), "a TCP header cut short");
        assertEquals("? > ? ethertype 0x0806", parse("020000000001" + "020000000002" + "0806" + "0001").toString());
        assertEquals("? > ? ?", parse("0200").toString());
    }

    @Test
    void flagsAreTcpdumps() {
        assertEquals("S", DroppedPacket.flags(0x02));
        assertEquals("S.", DroppedPacket.flags(0x12));
        assertEquals("FP.", DroppedPacket.flags(0x19));
        assertEquals("R.", DroppedPacket.flags(0x14));
        assertEquals("SEW", DroppedPacket.flags(0xc2));
    }
}
