package dev.tcpinspect.probe.packets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.tcpinspect.ebpf.BpfException;
import dev.tcpinspect.ebpf.Program;
import dev.tcpinspect.ebpf.XdpMode;
import dev.tcpinspect.probe.ProbeSet;
import dev.tcpinspect.testing.Frame;
import dev.tcpinspect.testing.RequiresBpf;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Runs the real ingress programs (TC and XDP, with the packets probe on) in the kernel over crafted
 * frames with BPF_PROG_TEST_RUN and checks which counter each frame moves. Expectations come from
 * how the frame was built, not from the parser.
 */
@RequiresBpf
class PacketParserTest {
    /** Where the ingress program runs. */
    enum Hook { TC, XDP }

    private static ProbeSet tc;
    private static ProbeSet xdp;

    @BeforeAll
    static void load() {
        tc = ProbeSet.load(List.of(new PacketsProbe()), ProbeSet.Options.defaults());
        xdp = ProbeSet.load(List.of(new PacketsProbe()), ProbeSet.Options.defaults().xdp(true, XdpMode.AUTO));
    }

    @AfterAll
    static void unload() {
        for (ProbeSet set : new ProbeSet[] {tc, xdp}) {
            if (set != null) {
                set.close();
            }
        }
    }

    private static ProbeSet set(Hook hook) {
        return hook == Hook.TC ? tc : xdp;
    }

    private static Program program(Hook hook) {
        return set(hook).object().program(hook == Hook.TC ? "tcpi_tc_ingress" : "tcpi_xdp_ingress");
    }

    private static PacketCounts run(Hook hook, byte[] frame) {
        PacketsProbe probe = set(hook).probe(PacketsProbe.class);
        PacketCounts before = probe.read();
        var result = program(hook).testRun(frame, 1);
        assertEquals(hook == Hook.TC ? -1 : 2, result.verdict(), "observation must always pass the packet");
        assertEquals(Arrays.toString(frame), Arrays.toString(result.output()), "the packet must not change");
        return probe.read().minus(before);
    }

    static List<Frame> shapes() {
        return List.of(Frame.ipv4(), Frame.ipv4().ipOptions(12).tcpOptions(20), Frame.ipv4().vlan(),
                Frame.ipv4().qinq().tcpOptions(12), Frame.ipv6(), Frame.ipv6().tcpOptions(20),
                Frame.ipv6().ext(0).ext(60), Frame.ipv6().ext(0).ext(43).ext(44).ext(51).ext(60).tcpOptions(8),
                Frame.ipv6().vlan(), Frame.ipv6().qinq().ext(0));
    }

    static Stream<Arguments> shapesAndHooks() {
        return shapes().stream().flatMap(f -> Stream.of(Arguments.of(Hook.TC, f), Arguments.of(Hook.XDP, f)));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("shapesAndHooks")
    void eachFlagCombinationMovesExactlyItsCounters(Hook hook, Frame shape) {
        PacketCounts syn = run(hook, shape.flags(Frame.SYN).dport(443).build());
        assertEquals(new PacketCounts(1, 1, 0, 0, 0, 0, 0, Map.of(443, 1L)), syn);
        assertEquals(new PacketCounts(1, 0, 1, 0, 0, 0, 0, Map.of()), run(hook, shape.flags(Frame.SYN | Frame.ACK).build()));
        assertEquals(new PacketCounts(1, 0, 0, 1, 0, 0, 0, Map.of()), run(hook, shape.flags(Frame.FIN | Frame.ACK).build()));
        assertEquals(new PacketCounts(1, 0, 0, 0, 1, 0, 0, Map.of()), run(hook, shape.flags(Frame.RST).build()));
        assertEquals(new PacketCounts(1, 0, 0, 0, 0, 1, 0, Map.of()), run(hook, shape.flags(Frame.ACK).build()));
        // An ACK carrying data is not a pure ACK.
        assertEquals(new PacketCounts(1, 0, 0, 0, 0, 0, 0, Map.of()),
                run(hook, shape.flags(Frame.ACK | Frame.PSH).payload(100).build()));
        shape.payload(0);
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("shapesAndHooks")
    void aFrameCutAtAnyByteBeforeTheEndOfTheTcpHeaderIsMalformedNeverMisread(Hook hook, Frame shape) {
        byte[] full = shape.flags(Frame.SYN).payload(10).build();
        int headerEnd = shape.tcpHeaderEnd();
        for (int length = 14; length <= full.length; length++) {
            byte[] cut = Arrays.copyOf(full, length);
            if (hook == Hook.TC && length < shape.tcTestRunMinimum()) {
                // The kernel will not build an skb for these; the XDP run covers the same parser.
                BpfException refused = assertThrows(BpfException.class, () -> program(hook).testRun(cut, 1));
                assertEquals("EINVAL", refused.errnoName());
                continue;
            }
            PacketCounts seen = run(hook, cut);
            PacketCounts expected = length < headerEnd
                    ? new PacketCounts(0, 0, 0, 0, 0, 0, 1, Map.of())
                    : new PacketCounts(1, 1, 0, 0, 0, 0, 0, Map.of(80, 1L));
            assertEquals(expected, seen, shape + " cut at " + length + " of " + full.length);
        }
        shape.payload(0);
    }

    private static void patch(byte[] frame, int offset, int value) {
        frame[offset] = (byte) value;
    }

    @ParameterizedTest
    @EnumSource(Hook.class)
    void impossibleHeaderFieldsAreMalformed(Hook hook) {
        PacketCounts malformed = new PacketCounts(0, 0, 0, 0, 0, 0, 1, Map.of());
        byte[] ihlTooSmall = Frame.ipv4().build();
        patch(ihlTooSmall, 14, 0x44);
        assertEquals(malformed, run(hook, ihlTooSmall), "IPv4 IHL 4");
        byte[] wrongVersion = Frame.ipv4().build();
        patch(wrongVersion, 14, 0x65);
        assertEquals(malformed, run(hook, wrongVersion), "version 6 in an IPv4 frame");
        byte[] totalShorterThanHeader = Frame.ipv4().build();
        patch(totalShorterThanHeader, 16, 0);
        patch(totalShorterThanHeader, 17, 10);
        assertEquals(malformed, run(hook, totalShorterThanHeader), "IPv4 total length 10");
        byte[] doffTooSmall = Frame.ipv4().build();
        patch(doffTooSmall, 14 + 20 + 12, 0x40);
        assertEquals(malformed, run(hook, doffTooSmall), "TCP data offset 4");
        byte[] doffBeyondIp = Frame.ipv4().build();
        patch(doffBeyondIp, 14 + 20 + 12, 0xF0);
        assertEquals(malformed, run(hook, doffBeyondIp), "TCP data offset 15 in a 20-byte segment");
        byte[] extBeyondPayload = Frame.ipv6().ext(60).build();
        patch(extBeyondPayload, 14 + 40 + 1, 200);
        assertEquals(malformed, run(hook, extBeyondPayload), "IPv6 extension header longer than the payload");
        Frame tooManyExt = Frame.ipv6();
        for (int i = 0; i < 9; i++) {
            tooManyExt.ext(60);
        }
        assertEquals(malformed, run(hook, tooManyExt.build()), "9 extension headers (bound is 8)");
    }

    @ParameterizedTest
    @EnumSource(Hook.class)
    void nonTcpAndLaterFragmentsAreNotCounted(Hook hook) {
        byte[] udp = Frame.ipv4().build();
        patch(udp, 14 + 9, 17);
        assertEquals(PacketCounts.ZERO, run(hook, udp), "UDP");
        byte[] arp = Frame.ipv4().build();
        patch(arp, 12, 0x08);
        patch(arp, 13, 0x06);
        assertEquals(PacketCounts.ZERO, run(hook, arp), "ARP");
        byte[] laterFragment = Frame.ipv4().build();
        patch(laterFragment, 14 + 6, 0x00);
        patch(laterFragment, 14 + 7, 0x10);
        assertEquals(PacketCounts.ZERO, run(hook, laterFragment), "IPv4 fragment at offset 128");
        byte[] laterFragment6 = Frame.ipv6().ext(44).build();
        patch(laterFragment6, 14 + 40 + 2, 0x01);
        assertEquals(PacketCounts.ZERO, run(hook, laterFragment6), "IPv6 fragment at offset 256");
        byte[] threeTags = Frame.ipv4().qinq().vlan().build();
        assertEquals(PacketCounts.ZERO, run(hook, threeTags), "more VLAN tags than the bound are not parsed");
    }
}
