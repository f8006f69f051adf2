package dev.tcpinspect.probe.anomaly;

import dev.tcpinspect.testing.RunsBeside;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.probe.ProbeSet;
import dev.tcpinspect.testing.Capture;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.Frame;
import dev.tcpinspect.testing.Pcap;
import dev.tcpinspect.testing.RequiresBpf;
import dev.tcpinspect.snapshot.Alert;
import dev.tcpinspect.snapshot.Metric;
import java.net.InetAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * Crafted segments from real tools (hping3, nmap) and replayed frames into the lab's server: the
 * probe's counts per kind against what the tool says it sent and what a capture saw, by tshark's
 * reading of each segment's flags.
 */
@RequiresBpf
@RunsBeside(inProcess = true)
class AnomalyProbeTest {
    static final int PORT = 9400;

    /** hping3's flag options for each kind, a different count each so that no two kinds can be mixed up. */
    record Crafted(AnomalyKind kind, List<String> flags, int count, String captureFilter) {}

    static final List<Crafted> CRAFTED = List.of(
            new Crafted(AnomalyKind.NULL, List.of(), 5, "tcp.flags == 0x000"),
            new Crafted(AnomalyKind.XMAS, List.of("-F", "-P", "-U"), 6, "tcp.flags == 0x029"),
            new Crafted(AnomalyKind.SYN_FIN, List.of("-S", "-F"), 7, "tcp.flags == 0x003"),
            new Crafted(AnomalyKind.SYN_RST, List.of("-S", "-R"), 8, "tcp.flags == 0x006"),
            new Crafted(AnomalyKind.RST_FIN, List.of("-R", "-F"), 9, "tcp.flags == 0x005"),
            new Crafted(AnomalyKind.FIN_NO_ACK, List.of("-F"), 10, "tcp.flags == 0x001"),
            new Crafted(AnomalyKind.URG_ZERO_POINTER, List.of("-U"), 11, "tcp.flags == 0x020 && tcp.urgent_pointer == 0"));

    @Test
    void hping3sCraftedFlagsAreCountedByKindAndSourceAsTheCaptureSeesThem() throws Exception {
        try (Lab lab = Lab.create();
             var listener = Traffic.listen(lab.server(), Lab.SERVER_V4, PORT);
             Capture in = Capture.incoming(lab.serverNs(), lab.serverIf());
             ProbeSet set = lab.server().call(() -> ProbeSet.start(List.of(new AnomalyProbe()),
                     ProbeSet.Options.defaults().interfaces(List.of(lab.serverIf()))))) {
            AnomalyProbe probe = set.probe(AnomalyProbe.class);
            List<Alert> alerts = new java.util.concurrent.CopyOnWriteArrayList<>();
            set.onAlerts(alerts::add);
            // Ordinary traffic first: it must count as nothing.
            Traffic.connect(lab.client(), Lab.SERVER_V4, PORT, 20);
            for (Crafted c : CRAFTED) {
                List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", lab.clientNs(), "hping3",
                        "-I", lab.clientIf(),
                        "-q",
                        "-c", Integer.toString(c.count()), "-i", "u2000", "-p", Integer.toString(PORT)));
                command.addAll(c.flags());
                command.add(Lab.SERVER_V4);
                Cmd.Result r = Cmd.run(command, 30);
                assertTrue((r.out() + r.err()).contains(c.count() + " packets transmitted"), c + ": " + r);
            }
            Thread.sleep(300);
            in.stop();
            Map<AnomalyKind, Long> counted = probe.counts();
            Map<AnomalyKind, Long> expected = new EnumMap<>(AnomalyKind.class);
            for (AnomalyKind k : AnomalyKind.values()) {
                expected.put(k, 0L);
            }
            for (Crafted c : CRAFTED) {
                assertEquals(c.count(), in.count("ip.src == " + Lab.CLIENT_V4 + " && " + c.captureFilter()),
                        () -> c + ": the capture shows what hping3 sent:\n" + in.describe("tcp"));
                expected.put(c.kind(), (long) c.count());
            }
            assertEquals(expected, counted, "each crafted segment under its kind, the handshakes and data under none");

            Map<AnomalyKind, Long> fromClient = new EnumMap<>(AnomalyKind.class);
            for (AnomalySource s : probe.sources()) {
                assertEquals(InetAddress.getByName(Lab.CLIENT_V4), s.address(), s.toString());
                fromClient.put(s.kind(), s.packets());
            }
            expected.values().removeIf(n -> n == 0);
            assertEquals(expected, fromClient, "the per-source table names the client for each kind");

            // hping3 sent each kind within a second: one alert per kind from its first segment, then,
            // once the source is quiet for the quiet time, its end with the kind's count.
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (alerts.stream().filter(a -> a.state() == Alert.State.END).count() < CRAFTED.size()
                    && System.nanoTime() < deadline) {
                set.drain();
                Thread.sleep(200);
            }
            java.util.Set<String> expectedAlerts = new java.util.TreeSet<>();
            for (Crafted c : CRAFTED) {
                expectedAlerts.add("start " + c.kind().label() + " 1 from " + Lab.CLIENT_V4);
                expectedAlerts.add("end " + c.kind().label() + " " + c.count() + " from " + Lab.CLIENT_V4);
            }
            java.util.List<String> seen = alerts.stream().filter(a -> a.state() != Alert.State.UPDATE)
                    .map(a -> a.state().label() + " " + text(a, "kind") + " " + count(a, "packets") + " from " + a.source())
                    .sorted().toList();
            assertEquals(List.copyOf(expectedAlerts), seen, alerts.toString());
            assertTrue(alerts.stream().allMatch(a -> a.type().equals("anomaly") && a.family().equals("ipv4")
                    && count(a, "port") == PORT), alerts.toString());
        }
    }

    private static long count(Alert a, String name) {
        return a.fields().stream().filter(c -> c instanceof Metric.Cell.Count n && n.name().equals(name))
                .mapToLong(c -> ((Metric.Cell.Count) c).value()).findFirst().orElse(-1);
    }

    private static String text(Alert a, String name) {
        return a.fields().stream().filter(c -> c instanceof Metric.Cell.Text t && t.name().equals(name))
                .map(c -> ((Metric.Cell.Text) c).value()).findFirst().orElse("");
    }

    @Test
    void nmapsNullXmasAndFinScansOverIpv6AreCountedAsTheCaptureSeesThem() throws Exception {
        try (Lab lab = Lab.create();
             Capture in = Capture.incoming(lab.serverNs(), lab.serverIf());
             ProbeSet set = lab.server().call(() -> ProbeSet.start(List.of(new AnomalyProbe()),
                     ProbeSet.Options.defaults().interfaces(List.of(lab.serverIf()))))) {
            AnomalyProbe probe = set.probe(AnomalyProbe.class);
            for (String scan : List.of("-sN", "-sX", "-sF")) {
                Cmd.run(List.of("ip", "netns", "exec", lab.clientNs(), "nmap", "-6", scan, "-n", "-Pn", "-p", "9000-9019",
                        "--max-retries", "1", Lab.SERVER_V6), 60).ok();
            }
            Thread.sleep(300);
            in.stop();
            Map<AnomalyKind, Long> counted = probe.counts();
            String fromClient = "ipv6.src == " + Lab.CLIENT_V6 + " && ";
            long nulls = in.count(fromClient + "tcp.flags == 0x000");
            long xmas = in.count(fromClient + "tcp.flags == 0x029");
            long fins = in.count(fromClient + "tcp.flags == 0x001");
            assertTrue(nulls >= 20 && xmas >= 20 && fins >= 20, () -> "nmap probed 20 ports each way:\n"
                    + in.describe("tcp"));
            assertEquals(nulls, counted.get(AnomalyKind.NULL));
            assertEquals(xmas, counted.get(AnomalyKind.XMAS));
            assertEquals(fins, counted.get(AnomalyKind.FIN_NO_ACK));
            for (AnomalySource s : probe.sources()) {
                assertEquals(InetAddress.getByName(Lab.CLIENT_V6), s.address(), s.toString());
            }
        }
    }

    /** The source port of frames whose verdict comes from RFC 7413 rather than from tshark. */
    private static final int OUTSIDE_RFC_PORT = 41000;

    @Test
    void reservedBitsAndSynDataAreAnomaliesButAccEcnAndFastOpenAreNot() throws Exception {
        List<byte[]> frames = new ArrayList<>();
        for (Frame shape : List.of(Frame.ipv4(), Frame.ipv6())) {
            frames.add(copy(shape).flags(Frame.ACK).flagsHi(0x2).dport(PORT).build());      // a reserved bit
            frames.add(copy(shape).flags(Frame.ACK).flagsHi(0x8).dport(PORT).build());      // another
            frames.add(copy(shape).flags(Frame.ACK).flagsHi(0x1).dport(PORT).build());      // AccECN's AE: fine
            frames.add(copy(shape).flags(Frame.SYN).payload(32).dport(PORT).build());       // SYN data, no cookie
            frames.add(copy(shape).flags(Frame.SYN).payload(32).fastOpenCookie().dport(PORT).build()); // Fast Open
            frames.add(copy(shape).flags(Frame.SYN).fastOpenCookie().dport(PORT).build());  // a cookie request
            // Where the kernel's look for a cookie has edges: the shortest and longest cookies, one
            // after other options, the experimental option with and without its magic, a request
            // (no cookie) with data, and a cookie whose length runs past the options.
            int[][] options = {
                {34, 6, 1, 2, 3, 4},                                                   // 4-byte cookie
                {34, 18, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},       // 16-byte cookie
                {2, 4, 5, 180, 1, 1, 4, 2, 1, 1, 34, 10, 1, 2, 3, 4, 5, 6, 7, 8},      // MSS, SACK-ok, cookie
                {254, 12, 0xF9, 0x89, 1, 2, 3, 4, 5, 6, 7, 8},                         // experimental, magic
                {254, 12, 0x12, 0x34, 1, 2, 3, 4, 5, 6, 7, 8},                         // experimental, other
                {34, 2},                                                               // a request, no cookie
                {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 34, 10, 1, 2, 3, 4, 5, 6},     // cut by the header's end
            };
            for (int[] o : options) {
                frames.add(copy(shape).flags(Frame.SYN).tcpOptions(o).payload(16).dport(PORT).build());
            }
            // Lengths just outside RFC 7413's 4 to 16 cookie bytes, and a cookie one byte longer than
            // the options: tshark dissects these as cookies all the same, so they come from another
            // source port and are judged by the RFC (each a SYN with data and no cookie).
            int[][] outsideRfc = {
                {34, 5, 1, 2, 3},                                                      // 3-byte cookie
                {34, 19, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17},   // 17-byte cookie
                {254, 7, 0xF9, 0x89, 1, 2, 3},                                         // experimental, 3 bytes
                {254, 21, 0xF9, 0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17},
                {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 34, 10, 1, 2, 3, 4, 5, 6, 7},     // one byte past the end
            };
            for (int[] o : outsideRfc) {
                frames.add(copy(shape).flags(Frame.SYN).tcpOptions(o).payload(16).sport(OUTSIDE_RFC_PORT)
                        .dport(PORT).build());
            }
        }
        Path replay = Pcap.write(frames);
        try (Lab lab = Lab.create()) {
            // The frames are addressed to 02:00:00:00:00:01: the server's interface takes that address.
            Cmd.run("ip", "netns", "exec", lab.serverNs(), "ip", "link", "set", "dev", lab.serverIf(), "address",
                    "02:00:00:00:00:01").ok();
            try (Capture in = Capture.incoming(lab.serverNs(), lab.serverIf());
                 ProbeSet set = lab.server().call(() -> ProbeSet.start(List.of(new AnomalyProbe()),
                         ProbeSet.Options.defaults().interfaces(List.of(lab.serverIf()))))) {
                AnomalyProbe probe = set.probe(AnomalyProbe.class);
                Cmd.run("ip", "netns", "exec", lab.clientNs(), "tcpreplay", "-q", "-i", lab.clientIf(),
                        replay.toString()).ok();
                Thread.sleep(300);
                in.stop();
                String port = "tcp.dstport == " + PORT + " && ";
                long reserved = in.count(port + "tcp.flags.res != 0");
                long synData = in.count(port + "tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.len > 0"
                        + " && !tcp.options.tfo.cookie && tcp.srcport != " + OUTSIDE_RFC_PORT);
                long outsideRfc = in.count(port + "tcp.flags.syn == 1 && tcp.len > 0 && tcp.srcport == "
                        + OUTSIDE_RFC_PORT);
                long ae = in.count(port + "tcp.flags.ae == 1");
                assertEquals(4, reserved, () -> in.describe("tcp"));
                assertEquals(2 * 4, synData, () -> in.describe("tcp")); // per family: none, other magic, request, cut
                assertEquals(2 * 5, outsideRfc, () -> in.describe("tcp"));
                assertEquals(2, ae, () -> in.describe("tcp"));
                Map<AnomalyKind, Long> counted = probe.counts();
                assertEquals(reserved, counted.get(AnomalyKind.RESERVED_BITS), counted.toString());
                assertEquals(synData + outsideRfc, counted.get(AnomalyKind.SYN_DATA), counted.toString());
                assertEquals(reserved + synData + outsideRfc, counted.values().stream().mapToLong(Long::longValue).sum(),
                        "nothing else: " + counted);
                assertEquals(ae, probe.snapshot(false).metrics().stream()
                        .filter(m -> m.desc().path().equals("anomaly_detail.accecn_ae"))
                        .mapToLong(m -> ((Metric.Counter) m).value()).sum());
            }
        }
    }

    private static Frame copy(Frame shape) {
        return shape.toString().startsWith("ipv6") ? Frame.ipv6() : Frame.ipv4();
    }
}
