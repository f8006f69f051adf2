import dev.tcpinspect.ebpf.BpfObject;
import dev.tcpinspect.ebpf.XdpMode;
import dev.tcpinspect.enforce.Enforcer;
import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.os.NetInterfaces;
import dev.tcpinspect.policy.Policy;
import dev.tcpinspect.policy.PolicyFile;
import dev.tcpinspect.testing.Cmd;
import java.io.StringReader;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * What the enforcer costs the traffic it lets through, on the lab veth, in native and in generic
 * mode: one iperf3 stream from the client (bulk, Gbit/s at the receiver) and short connections one
 * after another (connections a second), with the flood benchmark's policy (10,000 denied prefixes,
 * 64 service ports, the traffic's ports among them). Beside no program at all in the same rounds,
 * and beside an XDP program that passes everything in each mode (the floor of any XDP program there),
 * modes in an order rotating by round. On a veth, native XDP receives through veth's own ring and
 * copies each packet into a page of its own; generic mode runs after the stack's backlog.
 *
 * Not a test: it prints figures. Run with bench/run pass [ROUNDS] (builds first; needs iperf3).
 */
public class PassCost {
    static final int BULK_PORT = 5201;
    static final int CONN_PORT = 8080;
    static final List<String> MODES = List.of("none", "empty-native", "native", "empty-generic", "generic");

    public static void main(String[] args) throws Exception {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        Policy policy = policy();
        double[][] bulk = new double[MODES.size()][rounds];
        double[][] conns = new double[MODES.size()][rounds];
        System.out.printf("one iperf3 stream (3 s) and short connections (2 s) from the lab's client, through the enforcer"
                + " (10,000 denied prefixes, 64 service ports) or none; %d rounds, modes rotating%n%n", rounds);
        try (Lab lab = Lab.create(); var echo = Traffic.listen(lab.server(), Lab.SERVER_V4, CONN_PORT)) {
            for (String sysctl : new String[] {"net.ipv4.tcp_tw_reuse=1", "net.ipv4.ip_local_port_range=1024 65000"}) {
                Cmd.run("ip", "netns", "exec", lab.clientNs(), "sysctl", "-q", "-w", sysctl).ok();
            }
            Process server = new ProcessBuilder("ip", "netns", "exec", lab.serverNs(), "iperf3", "-s", "-p",
                    Integer.toString(BULK_PORT)).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            try {
                Thread.sleep(500);
                connections(lab); // this JVM's client code compiled first
                for (int r = 0; r < rounds; r++) {
                    for (int k = 0; k < MODES.size(); k++) {
                        int m = (r + k) % MODES.size();
                        String mode = MODES.get(m);
                        try (AutoCloseable program = install(lab, mode, policy)) {
                            bulk[m][r] = bulkGbits(lab);
                            conns[m][r] = connections(lab);
                        }
                    }
                }
            } finally {
                server.destroy();
                server.waitFor();
            }
        }
        System.out.printf("%-13s %12s %8s %14s %8s   %s%n", "enforcer", "bulk Gbit/s", "change", "connections/s", "change",
                "rounds (Gbit/s; connections/s)");
        for (int m = 0; m < MODES.size(); m++) {
            double b = median(bulk[m]);
            double c = median(conns[m]);
            System.out.printf("%-13s %12.2f %8s %14.0f %8s   %s; %s%n", MODES.get(m), b,
                    m == 0 ? "" : String.format("%+.1f%%", pairedChange(bulk[m], bulk[0])), c,
                    m == 0 ? "" : String.format("%+.1f%%", pairedChange(conns[m], conns[0])),
                    Arrays.toString(Arrays.stream(bulk[m]).map(x -> Math.round(x * 100) / 100.0).toArray()),
                    Arrays.toString(Arrays.stream(conns[m]).mapToLong(Math::round).toArray()));
        }
        System.out.println("(change: the median over rounds of each round's ratio to no enforcer in the same round)");
    }

    /** Nothing, an XDP program that passes everything (the floor of any XDP program), or the enforcer; native or generic. */
    static AutoCloseable install(Lab lab, String mode, Policy policy) throws Exception {
        XdpMode xdp = mode.endsWith("generic") ? XdpMode.GENERIC : XdpMode.NATIVE;
        if (mode.equals("none")) {
            return () -> { };
        }
        if (mode.startsWith("empty")) {
            BpfObject empty = BpfObject.loadResource("/bpf/bench/empty.bpf.o");
            try {
                lab.server().run(() -> empty.program("tcpi_empty_xdp").attachXdp(NetInterfaces.indexOf(lab.serverIf()), xdp));
                return empty;
            } catch (RuntimeException e) {
                empty.close();
                throw e;
            }
        }
        return Enforcer.start(new Enforcer.Options(policy, List.of(lab.serverIf()), xdp, false, Optional.of(lab.serverNs())));
    }

    /** One iperf3 stream for 3 s: the receiver's Gbit/s, from iperf3's JSON summary. */
    static double bulkGbits(Lab lab) throws Exception {
        String out = Cmd.run("ip", "netns", "exec", lab.clientNs(), "iperf3", "-c", Lab.SERVER_V4, "-p",
                Integer.toString(BULK_PORT), "-t", "3", "-J").ok().out();
        var received = new com.fasterxml.jackson.databind.ObjectMapper().readTree(out).path("end").path("sum_received");
        if (!received.has("bits_per_second")) {
            throw new IllegalStateException("iperf3 printed no receiver summary: " + out);
        }
        return received.get("bits_per_second").asDouble() / 1e9;
    }

    /** Short connections one after another for 2 s: completed connections a second. */
    static double connections(Lab lab) {
        long end = System.nanoTime() + 2_000_000_000L;
        long made = 0;
        while (System.nanoTime() < end) {
            made += Traffic.connect(lab.client(), Lab.SERVER_V4, CONN_PORT, 50);
        }
        return made / 2.0;
    }

    /** The flood benchmark's policy: 10,000 prefixes in 10/8 and 2001:db8::/32, and 64 ports (this traffic's among them). */
    static Policy policy() {
        Set<String> deny = dev.tcpinspect.testing.BenchPolicies.floodPrefixes();
        Set<Integer> ports = new LinkedHashSet<>(List.of(443, BULK_PORT, CONN_PORT));
        for (int port = 8000; ports.size() < 64; port++) {
            ports.add(port);
        }
        return PolicyFile.parse("pass.yaml", new StringReader("services: " + ports + "\ndeny: [" + String.join(", ", deny) + "]\n"));
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }

    /** Median over rounds of (mode / baseline of the same round - 1), in percent. */
    static double pairedChange(double[] mode, double[] baseline) {
        double[] change = new double[mode.length];
        for (int r = 0; r < mode.length; r++) {
            change[r] = 100 * (mode[r] / baseline[r] - 1);
        }
        return median(change);
    }
}
