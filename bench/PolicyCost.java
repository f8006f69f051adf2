import dev.tcpinspect.ebpf.BpfObject;
import dev.tcpinspect.ebpf.Pins;
import dev.tcpinspect.ebpf.Program;
import dev.tcpinspect.enforce.Enforcer;
import dev.tcpinspect.enforce.RuleKind;
import dev.tcpinspect.policy.Cidr;
import dev.tcpinspect.policy.Policy;
import dev.tcpinspect.policy.PolicyFile;
import dev.tcpinspect.testing.Frame;
import java.io.StringReader;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Kernel cost per packet of the XDP enforcer (bpf/enforce.bpf.c) holding a policy of 10,000 source
 * prefixes (IPv4 and IPv6 mixed, nested, of every length) and 64 service ports, from
 * BPF_PROG_TEST_RUN's own timing, beside an empty XDP program in the same run: rounds alternate
 * between the two, the median round is reported. The packets cover each path of the judgement: a
 * source no rule names (the longest path that passes), a denied source, a SYN to a port not served,
 * a data segment; then the same with a live entry present (a second lookup) and with per-source
 * limits on (the source table and a clock read).
 *
 * Run with bench/run policy (builds first). Not a test: it asserts nothing, it prints figures.
 */
public class PolicyCost {
    static final int REPEAT = 2_000_000;
    static final int ROUNDS = 7;
    static final int PREFIXES = 10_000;

    public static void main(String[] args) throws Exception {
        Random random = new Random(42);
        java.util.Set<String> deny = new java.util.LinkedHashSet<>();
        java.util.Set<String> allow = new java.util.LinkedHashSet<>();
        for (int i = 0; deny.size() + allow.size() < PREFIXES; i++) {
            boolean v6 = i % 2 == 1;
            byte[] a = new byte[v6 ? 16 : 4];
            random.nextBytes(a);
            if (v6) {
                a[0] = 0x20; a[1] = 0x01; a[2] = 0x0d; a[3] = (byte) 0xb8; // 2001:db8::/32
            } else {
                a[0] = 10; // 10.0.0.0/8
            }
            int length = v6 ? 32 + random.nextInt(97) : 8 + random.nextInt(25);
            Cidr c = new Cidr(new Cidr(a, length).network(), length);
            String text = "\"" + c + "\"";
            if (!deny.contains(text) && !allow.contains(text)) {
                (i % 10 == 0 ? allow : deny).add(text);
            }
        }
        StringBuilder services = new StringBuilder("443");
        for (int port = 8000; port < 8063; port++) {
            services.append(", ").append(port);
        }
        // Two hosts that differ in their last bit: the IPv6 direct tables' deepest path (a chunk for
        // every 8 bits from /16 to /120), the worst a source can cost there.
        deny.add("\"2001:db8:ffff:ffff:ffff:ffff:ffff:fffe/128\"");
        deny.add("\"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff/128\"");
        String base = "services: [" + services + "]\nfailsafe: [22]\ndeny: [" + String.join(", ", deny) + "]\nallow: ["
                + String.join(", ", allow) + "]\n";
        Policy plain = PolicyFile.parse("bench.yaml", new StringReader(base));
        Policy limited = PolicyFile.parse("bench.yaml", new StringReader(base
                + "limits:\n  per_source: {connections: 10000000, new_per_second: 10000000}\n"));
        String denied4 = deny.stream().map(s -> s.replace("\"", "")).filter(s -> !s.contains(":")).findFirst().orElseThrow();
        String denied6 = deny.stream().map(s -> s.replace("\"", "")).filter(s -> s.contains(":")).findFirst().orElseThrow();

        Map<String, byte[]> packets = new LinkedHashMap<>();
        packets.put("SYN ipv4, no rule, served port", Frame.ipv4().tcpOptions(20).flags(Frame.SYN).dport(443).build());
        packets.put("SYN ipv6, no rule, served port", Frame.ipv6().tcpOptions(20).flags(Frame.SYN).dport(443).build());
        packets.put("SYN ipv4, denied source", Frame.ipv4().source(host(denied4)).flags(Frame.SYN).dport(443).build());
        packets.put("SYN ipv6, denied source", Frame.ipv6().source(host(denied6)).flags(Frame.SYN).dport(443).build());
        packets.put("SYN ipv6, denied, deepest path", Frame.ipv6().source("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")
                .flags(Frame.SYN).dport(443).build());
        packets.put("SYN ipv4, port not served", Frame.ipv4().tcpOptions(20).flags(Frame.SYN).dport(9999).build());
        packets.put("data ipv4 (1514 B), no rule", Frame.ipv4().tcpOptions(12).flags(Frame.ACK | Frame.PSH).dport(443)
                .payload(1448).build());

        System.out.printf("BPF_PROG_TEST_RUN, %,d runs per round, median of %d rounds; kernel %s%n", REPEAT, ROUNDS,
                System.getProperty("os.version"));
        System.out.printf("policy: %,d prefixes (%,d deny, %,d allow; IPv4 and IPv6 alternate), %d service ports, failsafe 22%n%n",
                deny.size() + allow.size(), deny.size(), allow.size(), plain.services().size());
        System.out.printf("%-30s %-34s %9s %9s %12s%n", "tables", "packet", "policy ns", "empty ns", "overhead ns");
        var folder = Pins.BPFFS.resolve("tcpinspect-bench-" + ProcessHandle.current().pid());
        try (Enforcer enforcer = Enforcer.loadDetached(folder, false);
             BpfObject empty = BpfObject.loadResource("/bpf/bench/empty.bpf.o")) {
            Program baseline = empty.program("tcpi_empty_xdp");
            enforcer.tables().apply(plain);
            long applyStart = System.nanoTime();
            enforcer.tables().apply(plain); // the second generation: what a policy apply costs a running enforcer
            System.out.printf("(the policy fits the direct tables: IPv4 %s, IPv6 %s; writing it took %.0f ms)%n",
                    enforcer.tables().direct(false), enforcer.tables().direct(true), (System.nanoTime() - applyStart) / 1e6);
            run(String.format("%,d prefixes, 64 ports", deny.size() + allow.size()), packets, enforcer.program(), baseline);
            enforcer.tables().addLive(Cidr.parse("192.0.2.0/24"), RuleKind.DENY, 0);
            run("... and a live entry", packets, enforcer.program(), baseline);
            enforcer.tables().apply(limited);
            run("... and per-source limits", packets, enforcer.program(), baseline);
        }
        // Sources are judged by the direct tables, cache or not, when the policy fits them (this one
        // does). The last rows judge by the tries, as before the direct tables and as a policy too
        // big for them is judged, without the per-CPU rule cache: each run walks a trie, as a
        // source's first packet does (which also fills its slot).
        try (Enforcer trie = Enforcer.loadDetached(folder, false, false, false);
             BpfObject empty = BpfObject.loadResource("/bpf/bench/empty.bpf.o")) {
            trie.tables().apply(plain);
            run("tries only, no rule cache", packets, trie.program(), empty.program("tcpi_empty_xdp"));
        }
        behind(folder, plain, packets);
    }

    /** The ingress probes (with detection) as watch --xdp runs them. */
    static final List<String> XDP_PROBES = List.of("packets", "handshake", "zerowin", "dupack", "anomaly", "scan", "flood");

    /**
     * A watch's XDP probes behind the enforcer (bpf/lib/handoff.h): the enforcer's program alone, then
     * with the probes' program in its observer slot (one parse, a tail call), beside the probes' own XDP
     * program alone, which parses for itself (the two run one after the other would cost the sum: what
     * an interface taking two XDP programs would pay). BPF_PROG_TEST_RUN runs XDP on lo (ifindex 1),
     * the interface the probes are told to watch.
     */
    static void behind(java.nio.file.Path folder, Policy plain, Map<String, byte[]> packets) {
        Map<String, byte[]> passed = new LinkedHashMap<>();
        packets.forEach((name, frame) -> {
            if (name.contains("no rule")) {
                passed.put(name, frame); // only what the enforcer passes is handed on
            }
        });
        var options = dev.tcpinspect.probe.ProbeSet.Options.defaults().interfaces(List.of("lo"))
                .xdp(true, dev.tcpinspect.ebpf.XdpMode.AUTO);
        try (Enforcer enforcer = Enforcer.loadDetached(folder, false);
             BpfObject empty = BpfObject.loadResource("/bpf/bench/empty.bpf.o");
             var own = dev.tcpinspect.probe.ProbeSet.load(
                     dev.tcpinspect.probe.registry.ProbeRegistry.create(XDP_PROBES), options)) {
            Program baseline = empty.program("tcpi_empty_xdp");
            enforcer.tables().apply(plain);
            run("enforcer, no probes behind", passed, enforcer.program(), baseline);
            run("probes' own XDP program", passed, own.object().program(dev.tcpinspect.probe.Hook.XDP_INGRESS_PROGRAM),
                    baseline);
            try (var behind = dev.tcpinspect.probe.ProbeSet.load(
                    dev.tcpinspect.probe.registry.ProbeRegistry.create(XDP_PROBES),
                    options.xdpHandoff(dev.tcpinspect.enforce.EnforcerHandoff.open(folder, java.util.Set.of("lo"))))) {
                run("enforcer + probes behind it", passed, enforcer.program(), baseline);
            }
        }
    }

    /** The first address of a prefix plus one, as text. */
    static String host(String prefix) {
        byte[] a = Cidr.parse(prefix).network();
        a[a.length - 1] |= 1;
        return java.net.InetAddress.ofLiteral(prefix.substring(0, prefix.indexOf('/'))).getAddress().length == 4
                ? new Cidr(a, 32).toString().replace("/32", "") : new Cidr(a, 128).toString().replace("/128", "");
    }

    static void run(String tables, Map<String, byte[]> packets, Program probe, Program baseline) {
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
            System.out.printf("%-30s %-34s %9d %9d %12d%n", tables, e.getKey(), pm, bm, pm - bm);
        }
    }

    static long median(long[] v) {
        long[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }
}
