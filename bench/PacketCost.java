import dev.tcpinspect.ebpf.BpfObject;
import dev.tcpinspect.ebpf.Program;
import dev.tcpinspect.ebpf.XdpMode;
import dev.tcpinspect.probe.Hook;
import dev.tcpinspect.probe.Probe;
import dev.tcpinspect.probe.ProbeSet;
import dev.tcpinspect.probe.registry.ProbeRegistry;
import dev.tcpinspect.testing.Frame;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Kernel cost per packet of the ingress program (TC and XDP), from BPF_PROG_TEST_RUN's own timing,
 * beside an empty program of the same type measured in the same run: with the packets probe alone,
 * with the observation probes that run at the ingress hook (packets, handshake, dupack, zerowin)
 * sharing one parse, and with the detection probes (anomaly, scan, flood) added to them. Rounds alternate between the program and its baseline so drift hits both; the median
 * round is reported.
 *
 * Run with bench/run packet (builds first). Not a test: it asserts nothing, it prints figures.
 */
public class PacketCost {
    static final int REPEAT = 2_000_000;
    static final int ROUNDS = 7;

    public static void main(String[] args) {
        Map<String, byte[]> packets = new LinkedHashMap<>();
        packets.put("SYN ipv4 (74 B, options)", Frame.ipv4().tcpOptions(20).flags(Frame.SYN).dport(443).build());
        packets.put("SYN ipv6 (94 B, options)", Frame.ipv6().tcpOptions(20).flags(Frame.SYN).dport(443).build());
        packets.put("data ipv4 (1514 B)", Frame.ipv4().tcpOptions(12).flags(Frame.ACK | Frame.PSH).payload(1448).build());
        packets.put("data ipv6 (1514 B)", Frame.ipv6().tcpOptions(12).flags(Frame.ACK | Frame.PSH).payload(1428).build());
        packets.put("pure ACK ipv4 (66 B)", Frame.ipv4().tcpOptions(12).flags(Frame.ACK).build());
        packets.put("malformed (TCP cut)", Arrays.copyOf(Frame.ipv4().flags(Frame.SYN).build(), 14 + 20 + 10));
        packets.put("SYN ipv6+qinq+2 ext", Frame.ipv6().qinq().ext(0).ext(60).flags(Frame.SYN).build());
        packets.put("XMAS ipv4 (an anomaly)", Frame.ipv4().flags(Frame.FIN | Frame.PSH | Frame.URG).build());

        List<String> ingress = ProbeRegistry.all().stream().filter(p -> p.hooks().contains(Hook.INGRESS))
                .map(Probe::name).toList();
        System.out.printf("BPF_PROG_TEST_RUN, %,d runs per round, median of %d rounds; kernel %s%n%n", REPEAT, ROUNDS,
                System.getProperty("os.version"));
        System.out.printf("%-6s %-53s %-26s %9s %9s %12s%n", "hook", "probes", "packet", "probe ns", "empty ns",
                "overhead ns");
        // Detection's handlers (issue: at most 15 ns more for data and ACKs, 40 ns for a SYN): the
        // ingress probes without them, then with them, in the same run.
        List<String> detection = List.of("anomaly", "scan", "flood");
        List<String> observation = ingress.stream().filter(p -> !detection.contains(p)).toList();
        for (List<String> probes : List.of(List.of("packets"), observation, ingress)) {
            for (String hook : new String[] {"tc", "xdp"}) {
                ProbeSet.Options options = ProbeSet.Options.defaults().xdp(hook.equals("xdp"), XdpMode.AUTO);
                try (ProbeSet set = ProbeSet.load(ProbeRegistry.create(probes), options);
                     BpfObject empty = BpfObject.loadResource("/bpf/bench/empty.bpf.o")) {
                    Program probe = set.object().program(hook.equals("xdp") ? Hook.XDP_INGRESS_PROGRAM : "tcpi_tc_ingress");
                    Program baseline = empty.program("tcpi_empty_" + hook);
                    run(hook, String.join(",", probes), packets, probe, baseline);
                }
            }
        }
        // The upstream probe with one upstream named (port 443), on flows not to it: the test of the
        // remote port against the targets' on every segment, then for a segment from port 443 (the
        // last rows: a flow with an upstream's port) the zero-window test and, with data or a FIN,
        // the one lookup in upstream_socks that stalled streams cost.
        packets.put("data ipv4 from :443", Frame.ipv4().sport(443).tcpOptions(12).flags(Frame.ACK | Frame.PSH)
                .payload(1448).build());
        packets.put("pure ACK ipv4 from :443", Frame.ipv4().sport(443).tcpOptions(12).flags(Frame.ACK).build());
        for (String hook : new String[] {"tc", "xdp"}) {
            ProbeSet.Options options = ProbeSet.Options.defaults().xdp(hook.equals("xdp"), XdpMode.AUTO);
            List<Probe> upstream = ProbeRegistry.create(List.of("upstream"));
            upstream.getFirst().set("add", "bench=198.18.0.1:443");
            try (ProbeSet set = ProbeSet.load(upstream, options);
                 BpfObject empty = BpfObject.loadResource("/bpf/bench/empty.bpf.o")) {
                Program probe = set.object().program(hook.equals("xdp") ? Hook.XDP_INGRESS_PROGRAM : "tcpi_tc_ingress");
                run(hook, "upstream (one named)", packets, probe, empty.program("tcpi_empty_" + hook));
            }
        }
    }

    static void run(String hook, String probes, Map<String, byte[]> packets, Program probe, Program baseline) {
        for (var e : packets.entrySet()) {
            long[] p = new long[ROUNDS];
            long[] b = new long[ROUNDS];
            probe.testRun(e.getValue(), REPEAT); // warm up
            baseline.testRun(e.getValue(), REPEAT);
            for (int r = 0; r < ROUNDS; r++) {
                b[r] = baseline.testRun(e.getValue(), REPEAT).nsPerRun();
                p[r] = probe.testRun(e.getValue(), REPEAT).nsPerRun();
            }
            long pm = median(p);
            long bm = median(b);
            System.out.printf("%-6s %-53s %-26s %9d %9d %12d%n", hook, probes, e.getKey(), pm, bm, pm - bm);
        }
    }

    static long median(long[] v) {
        long[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }
}
