import dev.tcpinspect.ebpf.BpfObject;
import dev.tcpinspect.ebpf.KernelLink;
import dev.tcpinspect.ebpf.PerCpuMap;
import dev.tcpinspect.ebpf.XdpMode;
import dev.tcpinspect.enforce.Enforcer;
import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.os.NetInterfaces;
import dev.tcpinspect.policy.Cidr;
import dev.tcpinspect.policy.Policy;
import dev.tcpinspect.policy.PolicyFile;
import java.io.StringReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.Set;

/**
 * Softirq CPU per dropped packet of a SYN flood at a port the policy drops, on the lab's veth:
 * hping3 floods from the client namespace with random sources for a few seconds, and the time of
 * the NET_RX softirq (traced, bpf/bench/softirq.bpf.c) over the packets the client's veth sent is what
 * receiving and judging each one cost; /proc/stat's softirq ticks (all vectors, all CPUs) beside it, a
 * coarse sample at 250 Hz. Modes, in an order rotating by round: no filter (the stack answers each SYN
 * with a reset), iptables' raw table DROP, an nftables ingress-hook drop, a bare XDP_DROP program (the
 * floor), an XDP program that drops only the flood's port (the floor for the legitimate client: any
 * XDP filter on the veth), and tcpinspect's enforcer with a 10,000-prefix, 64-port policy in native
 * mode, with 10,000 hosts spread over the address space instead, and with the 64 ports alone. Also
 * the legitimate side: a client's rate to a served port in the middle of the flood (its own connections
 * a second to 443, or wrk's requests a second to nginx: -Dclient), beside the same without a flood in
 * each round.
 *
 * {@code paired} (and {@code paired-hosts}) instead runs one flood and swaps the XDP programs in place
 * every 2 s: the closest comparison of the enforcer with the bare drop (see paired); {@code paired-generic}
 * the same in generic mode. Modes ending in -generic attach in the stack's generic XDP hook.
 *
 * Run with bench/run flood [ROUNDS] [MODES] or bench/run flood paired [ROUNDS] (builds first). Not a
 * test: it asserts nothing, it prints figures.
 */
public class FloodCost {
    static final int SECONDS = 4;
    static final int PORT = 9999;

    /**
     * -Dpinned=true: this JVM (the client and the server) on CPU 0, the generator on CPU 1, where veth also
     * receives what it sends. A real host's flood comes from outside and its generator takes none of the
     * host's CPUs; pinned, the client's rate shows what the flood's reception and the filter take from it
     * apart from the generator's own CPU, which on two vCPUs is otherwise the client's.
     */
    static final boolean PINNED = Boolean.getBoolean("pinned");

    /**
     * -Dsteered=true (with pinned): the server's veth steers what it receives to CPU 0 (RPS), so the flood
     * is received and judged (generic XDP, iptables, the stack) on the CPU the client and server share, as a
     * NIC spreading a flood from outside over a host's CPUs puts it on the server's; only its generation
     * stays on CPU 1. Pinned alone, the flood is received on the generator's CPU and costs the client
     * almost nothing. Native XDP on a veth runs before RPS, on the sender's CPU.
     */
    static final boolean STEERED = Boolean.getBoolean("steered");

    /**
     * -Dclient=wrk (or wrk-keepalive): the legitimate client is wrk against nginx on a served port (8000), a
     * new connection per request (or kept alive), 8 connections, as in bench/run watch; by default it is
     * this JVM connecting to a plain listener one connection at a time. wrk is bound by the CPU it and
     * nginx get, the default client by each connection's latency.
     */
    static final String CLIENT = System.getProperty("client", "connect");
    static final int WEB_PORT = 8000;
    static dev.tcpinspect.testing.WebLoad web;

    public static void main(String[] args) throws Exception {
        if (!List.of("connect", "wrk", "wrk-keepalive").contains(CLIENT)) {
            throw new IllegalArgumentException("-Dclient=" + CLIENT + ": connect, wrk or wrk-keepalive");
        }
        if (STEERED && !PINNED) {
            throw new IllegalArgumentException("-Dsteered=true needs -Dpinned=true (the generator's CPU apart from the server's)");
        }
        if (PINNED) {
            sh("taskset", "-a", "-p", "-c", "0", Long.toString(ProcessHandle.current().pid()));
        }
        if (args.length > 0 && args[0].startsWith("paired")) {
            if (!List.of("paired", "paired-hosts", "paired-generic").contains(args[0])) {
                throw new IllegalArgumentException(args[0] + ": paired, paired-hosts or paired-generic");
            }
            paired(args.length > 1 ? Integer.parseInt(args[1]) : 15, args[0].equals("paired-hosts") ? hostsPolicy() : bigPolicy(),
                    args[0].endsWith("-generic") ? XdpMode.GENERIC : XdpMode.NATIVE);
            return;
        }
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 3;
        List<String> modes = args.length > 1 ? List.of(args[1].split(","))
                : List.of("stack", "iptables-raw", "nft-ingress", "xdp-drop", "tcpinspect", "tcpinspect-ports");
        Policy policy = bigPolicy();
        long[][] netRxPerPacket = new long[modes.size()][rounds];
        long[][] softirqsPer100 = new long[modes.size()][rounds];
        long[][] nsPerPacket = new long[modes.size()][rounds];
        long[][] packetsPerSecond = new long[modes.size()][rounds];
        long[][] legit = new long[modes.size()][rounds];
        long[][] failed = new long[modes.size()][rounds];
        long[] quiet = new long[rounds];
        long[] quietFailed = new long[rounds];
        System.out.printf("SYN flood (hping3 --flood --rand-source) to port %d for %d s a round; softirq time of all CPUs"
                + " per packet the client's veth sent (the flood alone), and the NET_RX softirq's traced time (the tracer's"
                + " own share included, the same in every mode: see paired), then the client's rate during it;"
                + " %d rounds, modes alternating, the order rotating by round%s%n%n", PORT, SECONDS, rounds,
                (PINNED ? "; pinned: client and server on CPU 0, the generator on CPU 1" : "; CPUs shared")
                + (STEERED ? "; the server's veth receives on CPU 0 (RPS)" : ""));
        System.out.printf("the client: %s%n%n", switch (CLIENT) {
            case "wrk" -> "wrk to nginx on port " + WEB_PORT + ", a new connection per request, 8 at once; requests a second";
            case "wrk-keepalive" -> "wrk to nginx on port " + WEB_PORT + ", 8 connections kept alive; requests a second";
            default -> "this JVM connecting to port 443, one connection at a time; connections a second";
        });
        try (Lab lab = Lab.create(); var server = Traffic.listen(lab.server(), "0.0.0.0", 443);
             var nginx = CLIENT.startsWith("wrk") ? dev.tcpinspect.testing.WebLoad.start(lab, WEB_PORT) : null;
             BpfObject clock = BpfObject.loadResource("/bpf/bench/softirq.bpf.o")) {
            web = nginx;
            // The client reuses its ports in TIME_WAIT, as a load generator does: a round's 300,000
            // connections left enough of them behind to slow its port search, in some rounds by 10x
            // for every filter alike (the client's namespace only; it goes with the lab).
            sh("ip", "netns", "exec", lab.clientNs(), "sysctl", "-q", "-w", "net.ipv4.tcp_tw_reuse=1");
            if (STEERED) {
                sh("ip", "netns", "exec", lab.serverNs(), "sh", "-c",
                        "echo 1 > /sys/class/net/" + lab.serverIf() + "/queues/rx-0/rps_cpus");
            }
            for (int r = 0; r < rounds; r++) {
                long[] alone = clientRate(lab);
                quiet[r] = alone[0];
                quietFailed[r] = alone[1];
                // Rotated: the client's rate depends on where in a round a mode runs (seen: the last
                // mode of each round lower, by up to 5x, after the others' connections).
                for (int k = 0; k < modes.size(); k++) {
                    int m = (r + k) % modes.size();
                    long[] result = round(lab, modes.get(m), policy, clock);
                    nsPerPacket[m][r] = result[0];
                    packetsPerSecond[m][r] = result[1];
                    legit[m][r] = result[2];
                    failed[m][r] = result[3];
                    netRxPerPacket[m][r] = result[4];
                    softirqsPer100[m][r] = result[5];
                }
            }
        }
        // NET_RX softirqs per 100 packets: the tracer runs once per softirq, so modes alike in it carry
        // alike shares of its cost.
        // The client's rate beside its own round's rate without a flood: rounds drift (seen: 9,500 to 17,600
        // a second for one mode), and a ratio within the round cancels what the round shares.
        System.out.printf("%-18s %14s %13s %15s %15s %14s %14s %16s   %s%n", "filter", "NET_RX ns/pkt", "softirqs/100p",
                "softirq ns/pkt", "packets/s sent", "client rate", "vs no flood", "client errors",
                "rounds (NET_RX ns/pkt; client rate; vs no flood %)");
        // A round whose client did nothing alone (a dead nginx, say) has no change to give.
        boolean changes = Arrays.stream(quiet).allMatch(q -> q > 0);
        for (int m = 0; m < modes.size(); m++) {
            long[] change = new long[rounds];
            for (int r = 0; r < rounds; r++) {
                change[r] = quiet[r] == 0 ? 0 : Math.round(1000.0 * (legit[m][r] - quiet[r]) / quiet[r]);
            }
            System.out.printf("%-18s %14d %13d %15d %15d %14d %14s %16d   %s; %s; %s%n", modes.get(m),
                    median(netRxPerPacket[m]), median(softirqsPer100[m]), median(nsPerPacket[m]),
                    median(packetsPerSecond[m]), median(legit[m]),
                    changes ? String.format("%.1f%%", median(change) / 10.0) : "n/a", median(failed[m]),
                    Arrays.toString(netRxPerPacket[m]), Arrays.toString(legit[m]), changes
                            ? Arrays.stream(change).mapToObj(c -> String.format("%+.1f", c / 10.0)).toList() : "n/a");
        }
        System.out.printf("%-18s %14s %13s %15s %15s %14d %14s %16d   %s%n", "(no flood)", "", "", "", "", median(quiet), "",
                median(quietFailed), "client alone: " + Arrays.toString(quiet) + "; its errors: " + Arrays.toString(quietFailed));
    }

    static final long SLICE_MS = 2000;

    /** The NET_RX clock of bpf/bench/softirq.bpf.o: {ns, softirqs} so far, and attaching it afresh. */
    record NetRxClock(BpfObject object) {
        PerCpuMap<Integer, Long> map() {
            return object.map("net_rx_time").perCpu(dev.tcpinspect.ebpf.Codec.U32, dev.tcpinspect.ebpf.Codec.U64);
        }

        /** Attached until closed: the start slot zeroed first, so no softirq begun before counts from a stale start. */
        AutoCloseable attach() {
            map().putAll(0, 0L);
            var entry = object.program("tcpi_bench_softirq_entry").attach();
            var exit = object.program("tcpi_bench_softirq_exit").attach();
            return () -> {
                exit.close();
                entry.close();
            };
        }

        long[] read() {
            return new long[] {map().getSummed(1, Long::sum).orElse(0L), map().getSummed(2, Long::sum).orElse(0L)};
        }
    }

    /**
     * One flood, three programs taking turns on the server's veth every {@value #SLICE_MS} ms: the bare
     * XDP_DROP, the least port filter and the enforcer, swapped in place by updating the enforcer's
     * pinned XDP link (no detach, no gap, the flood never stops). Rounds rotate the order. Time is the
     * NET_RX softirq's, traced (bpf/bench/softirq.bpf.c), beside /proc/stat's softirq ticks: at 250 Hz
     * those are samples, and a few seconds of flood give too few of them to tell 10% apart (seen: the
     * same program's slices 2 s apart differing by 30%). Per program: time over packets summed over all
     * its slices, and the median of each round's ratio to the bare drop in the same round.
     *
     * The tracer runs on every softirq (here about one per packet) and part of its own time falls
     * inside what it measures: the same in every slice, so differences are exact, but it adds to the
     * bare drop's figure and so shrinks the ratios. A fourth slice a round, the bare drop with the
     * tracer detached, bounds that part: the generator's CPU (which also runs the softirq that its
     * sends raise) sends fewer packets a second with the tracer than without, by its whole cost.
     */
    static void paired(int rounds, Policy policy, XdpMode mode) throws Exception {
        // -Dslices=FILE (bench/run flood-perf): no tracer, the generator on CPU 1, each slice's span and
        // packets written to FILE for perf's samples of CPU 1 to be counted against (bench/FloodSlices.java).
        String slices = System.getProperty("slices");
        StringBuilder sliceLines = new StringBuilder();
        String[] names = {"xdp-drop", "xdp-drop-port", "tcpinspect"};
        long[] traced = new long[3];
        long[] ticks = new long[3];
        long[] packets = new long[3];
        long untracedPackets = 0;
        double[][] ratio = new double[2][rounds];
        System.out.printf("SYN flood (hping3 --flood --rand-source) to port %d; one flood, the programs taking turns every %d ms"
                + " (XDP link updated in place, %s mode), %d rounds in rotating order%n%n", PORT, SLICE_MS,
                mode.name().toLowerCase(java.util.Locale.ROOT), rounds);
        try (Lab lab = Lab.create(); BpfObject baselines = BpfObject.loadResource("/bpf/bench/empty.bpf.o");
             BpfObject clock = BpfObject.loadResource("/bpf/bench/softirq.bpf.o");
             Enforcer enforcer = Enforcer.start(new Enforcer.Options(policy, List.of(lab.serverIf()), mode, false,
                     Optional.of(lab.serverNs())))) {
            System.out.printf("(the policy fits the direct tables: IPv4 %s, IPv6 %s)%n", enforcer.tables().direct(false),
                    enforcer.tables().direct(true));
            NetRxClock netRx = new NetRxClock(clock);
            var programs = List.of(baselines.program("tcpi_drop_xdp"), baselines.program("tcpi_drop_port_xdp"),
                    enforcer.program());
            try (KernelLink link = KernelLink.openPinned(Enforcer.xdpLinkPin(enforcer.folder(), lab.serverIf()),
                    "the enforcer's XDP link").orElseThrow()) {
                List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", lab.clientNs(), "hping3", "-q", "-S",
                        "-p", Integer.toString(PORT), "--flood", "--rand-source", Lab.SERVER_V4));
                if (slices != null) {
                    command.addAll(0, List.of("taskset", "-c", "1"));
                }
                Process flood = new ProcessBuilder(command)
                        .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
                try {
                    Thread.sleep(500);
                    for (int r = 0; r < rounds; r++) {
                        double[] perPacket = new double[3];
                        for (int k = 0; k < 4; k++) {
                            int m = (r + k) % 4;
                            if (slices != null && m == 3) {
                                continue;
                            }
                            link.update(programs.get(m == 3 ? 0 : m));
                            if (slices != null) { // System.nanoTime is CLOCK_MONOTONIC, perf's -k CLOCK_MONOTONIC
                                Thread.sleep(200);
                                long t0 = System.nanoTime(); // each count read just after its instant
                                long p0 = txPackets(lab);
                                Thread.sleep(SLICE_MS);
                                long t1 = System.nanoTime();
                                sliceLines.append(String.format("%d %s %d %d %d%n", r, names[m], t0, t1, txPackets(lab) - p0));
                                continue;
                            }
                            if (m == 3) { // the bare drop untraced: only its packets count
                                Thread.sleep(200);
                                long p0 = txPackets(lab);
                                Thread.sleep(SLICE_MS);
                                untracedPackets += txPackets(lab) - p0;
                                continue;
                            }
                            try (AutoCloseable tracing = netRx.attach()) {
                                Thread.sleep(200); // what the last program's packets left in the ring
                                long t0 = netRx.read()[0];
                                long s0 = softirqNs();
                                long p0 = txPackets(lab);
                                Thread.sleep(SLICE_MS);
                                long t = netRx.read()[0] - t0;
                                long p = txPackets(lab) - p0;
                                traced[m] += t;
                                ticks[m] += softirqNs() - s0;
                                packets[m] += p;
                                perPacket[m] = (double) t / p;
                            }
                        }
                        ratio[0][r] = perPacket[1] / perPacket[0];
                        ratio[1][r] = perPacket[2] / perPacket[0];
                    }
                } finally {
                    flood.destroy(); // first: hping3 must not outlive a failure below
                    flood.waitFor();
                    link.update(enforcer.program());
                }
            }
        }
        if (slices != null) {
            Files.writeString(Path.of(slices), sliceLines);
            return;
        }
        double seconds = rounds * SLICE_MS / 1000.0;
        System.out.printf("%-16s %14s %16s %15s %22s   %s%n", "program", "NET_RX ns/pkt", "softirq ns/pkt", "packets/s sent",
                "vs bare drop", "per round (NET_RX, %); vs bare drop: their median");
        for (int m = 0; m < 3; m++) {
            String vs = "";
            String per = "";
            if (m > 0) {
                double[] v = ratio[m - 1].clone();
                Arrays.sort(v);
                vs = String.format("%+.1f%%", (v[rounds / 2] - 1) * 100);
                per = Arrays.toString(Arrays.stream(ratio[m - 1]).map(x -> Math.round((x - 1) * 1000) / 10.0).toArray());
            }
            System.out.printf("%-16s %14d %16d %15d %22s   %s%n", names[m], traced[m] / Math.max(1, packets[m]),
                    ticks[m] / Math.max(1, packets[m]), Math.round(packets[m] / seconds), vs, per);
        }
        double tracer = 1e9 * seconds / packets[0] - 1e9 * seconds / untracedPackets;
        double drop = (double) traced[0] / packets[0];
        double extra = (double) traced[2] / packets[2] - drop;
        System.out.printf("%-16s %14s %16s %15d   the tracer's whole cost: %.0f ns a packet (packets/s, bare drop, traced vs"
                + " not); so tcpinspect (all slices pooled) is %+.1f%% over the bare drop with none of it inside the bracket, %+.1f%% with all%n",
                "xdp-drop untraced", "", "", Math.round(untracedPackets / seconds), tracer, 100 * extra / drop,
                100 * extra / (drop - Math.max(0, tracer)));
    }

    /**
     * One flood under one filter: {softirq ns per packet, packets a second, the client's connections a
     * second (wrk: requests a second), its timeouts (wrk: errors), NET_RX ns per packet (traced), NET_RX
     * softirqs per 100 packets}.
     */
    static long[] round(Lab lab, String mode, Policy policy, BpfObject clock) throws Exception {
        AutoCloseable filter = install(lab, mode, policy);
        try {
            List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", lab.clientNs(), "hping3", "-q", "-S",
                    "-p", Integer.toString(PORT), "--flood", "--rand-source", Lab.SERVER_V4));
            if (PINNED) {
                command.addAll(0, List.of("taskset", "-c", "1"));
            }
            Process flood = new ProcessBuilder(command)
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            long sent;
            long softirq;
            double seconds;
            long[] legit;
            long[] netRx;
            NetRxClock netRxClock = new NetRxClock(clock);
            try {
                Thread.sleep(500); // the flood at full rate
                // The flood alone: the client's own connections would add their softirq time to the flood's.
                try (AutoCloseable tracing = netRxClock.attach()) {
                    Thread.sleep(100); // softirqs begun before the attach end uncounted
                    long[] netRxBefore = netRxClock.read();
                    long softirqBefore = softirqNs();
                    long sentBefore = txPackets(lab);
                    long start = System.nanoTime();
                    Thread.sleep(SECONDS * 1000L);
                    seconds = (System.nanoTime() - start) / 1e9;
                    sent = txPackets(lab) - sentBefore;
                    softirq = softirqNs() - softirqBefore;
                    long[] after = netRxClock.read();
                    netRx = new long[] {after[0] - netRxBefore[0], after[1] - netRxBefore[1]};
                }
                legit = clientRate(lab);
            } finally {
                flood.destroy();
                flood.waitFor();
            }
            return new long[] {sent < 1000 ? 0 : softirq / sent, Math.round(sent / seconds), legit[0], legit[1],
                    sent < 1000 ? 0 : netRx[0] / sent, sent < 1000 ? 0 : 100 * netRx[1] / sent};
        } finally {
            filter.close();
            Thread.sleep(500);
        }
    }

    static AutoCloseable install(Lab lab, String mode, Policy policy) throws Exception {
        String ns = lab.serverNs();
        String dev = lab.serverIf();
        switch (mode) {
            case "stack":
                return () -> { };
            case "generator-only": // the flood dropped in the client's own output path: what generating it costs the client
                sh("ip", "netns", "exec", lab.clientNs(), "iptables", "-t", "raw", "-A", "OUTPUT", "-p", "tcp",
                        "--dport", Integer.toString(PORT), "-j", "DROP");
                return () -> sh("ip", "netns", "exec", lab.clientNs(), "iptables", "-t", "raw", "-F", "OUTPUT");
            case "iptables-raw":
                sh("ip", "netns", "exec", ns, "iptables", "-t", "raw", "-A", "PREROUTING", "-p", "tcp",
                        "--dport", Integer.toString(PORT), "-j", "DROP");
                return () -> sh("ip", "netns", "exec", ns, "iptables", "-t", "raw", "-F", "PREROUTING");
            case "nft-ingress":
                sh("ip", "netns", "exec", ns, "nft", "add table netdev tcpi_bench");
                sh("ip", "netns", "exec", ns, "nft", "add chain netdev tcpi_bench in { type filter hook ingress"
                        + " device " + dev + " priority 0 ; }");
                sh("ip", "netns", "exec", ns, "nft", "add rule netdev tcpi_bench in tcp dport " + PORT + " drop");
                return () -> sh("ip", "netns", "exec", ns, "nft", "delete table netdev tcpi_bench");
            case "xdp-drop", "xdp-drop-generic": {
                BpfObject drop = BpfObject.loadResource("/bpf/bench/empty.bpf.o");
                lab.server().run(() -> drop.program("tcpi_drop_xdp").attachXdp(NetInterfaces.indexOf(dev), xdpMode(mode)));
                return drop;
            }
            case "xdp-drop-port", "xdp-drop-port-generic": { // the least XDP program that drops the flood's port and passes the client
                BpfObject drop = BpfObject.loadResource("/bpf/bench/empty.bpf.o");
                lab.server().run(() -> drop.program("tcpi_drop_port_xdp").attachXdp(NetInterfaces.indexOf(dev), xdpMode(mode)));
                return drop;
            }
            case "tcpinspect":
                return told(mode, Enforcer.start(new Enforcer.Options(policy, List.of(dev), XdpMode.NATIVE, false, Optional.of(ns))));
            case "tcpinspect-generic": // the same, in the stack's generic XDP hook (after the backlog)
                return told(mode, Enforcer.start(new Enforcer.Options(policy, List.of(dev), XdpMode.GENERIC, false, Optional.of(ns))));
            case "tcpinspect-hosts": // 10,000 hosts (/32 and /128) spread over the whole address space instead
                return told(mode, Enforcer.start(new Enforcer.Options(hostsPolicy(), List.of(dev), XdpMode.NATIVE, false,
                        Optional.of(ns))));
            case "tcpinspect-ports": // the same service ports, no prefix: what the 10,000 prefixes add
                return Enforcer.start(new Enforcer.Options(new Policy(policy.defaultVerdict(), policy.services(),
                        policy.failsafe(), List.of(), List.of(), policy.limits(), Optional.empty(), Optional.empty(),
                        List.of(), java.util.Map.of(), java.util.Map.of()),
                        List.of(dev), XdpMode.NATIVE, false, Optional.of(ns)));
            default:
                throw new IllegalArgumentException(mode);
        }
    }

    private static final Set<String> TOLD = new java.util.HashSet<>();

    /** A mode named ...-generic runs in the stack's generic XDP hook (after the backlog), the others natively. */
    static XdpMode xdpMode(String mode) {
        return mode.endsWith("-generic") ? XdpMode.GENERIC : XdpMode.NATIVE;
    }

    /** Says once per mode whether its policy fits the direct tables: one that does not is judged by the tries, slower. */
    static Enforcer told(String mode, Enforcer enforcer) {
        if (TOLD.add(mode)) {
            System.out.printf("(%s: the policy fits the direct tables: IPv4 %s, IPv6 %s)%n", mode,
                    enforcer.tables().direct(false), enforcer.tables().direct(true));
        }
        return enforcer;
    }

    /** The lab policy: 10,000 prefixes none of which holds the flood's sources' usual range, 64 ports (not 9999). */
    static Policy bigPolicy() {
        return policy("flood.yaml", dev.tcpinspect.testing.BenchPolicies.floodPrefixes());
    }

    /**
     * A blocklist's shape: 10,000 hosts, half IPv4 /32s and half IPv6 /128s, drawn from the whole
     * address space (none in the lab's own), and the same 64 ports. Where bigPolicy's prefixes all lie
     * in 10/8 and 2001:db8::/32, here about one random flood source in 13 falls in a /16 that holds a rule.
     */
    static Policy hostsPolicy() {
        Random random = new Random(43);
        Set<String> deny = new LinkedHashSet<>();
        while (deny.size() < 10_000) {
            boolean v6 = deny.size() % 2 == 1;
            byte[] a = new byte[v6 ? 16 : 4];
            random.nextBytes(a);
            if (!v6 && (a[0] & 0xFF) == 198) {
                continue; // the lab's 198.18.0.0/15
            }
            deny.add("\"" + new Cidr(a, v6 ? 128 : 32) + "\"");
        }
        return policy("hosts.yaml", deny);
    }

    /** A policy denying these (quoted) prefixes, serving 64 ports: 443 and 8000-8062 (not the flood's 9999). */
    static Policy policy(String name, Set<String> deny) {
        List<String> ports = new ArrayList<>(List.of("443"));
        for (int port = 8000; port < 8063; port++) {
            ports.add(Integer.toString(port));
        }
        return PolicyFile.parse(name, new StringReader("services: [" + String.join(", ", ports) + "]\ndeny: ["
                + String.join(", ", deny) + "]\n"));
    }

    /** Softirq time of all CPUs so far (/proc/stat's cpu line, USER_HZ ticks), in ns. */
    static long softirqNs() throws Exception {
        String cpu = Files.readAllLines(Path.of("/proc/stat")).get(0);
        long ticks = Long.parseLong(cpu.trim().split("\\s+")[7]);
        return ticks * 10_000_000L; // USER_HZ is 100 on Linux
    }

    static long txPackets(Lab lab) {
        return Long.parseLong(sh("ip", "netns", "exec", lab.clientNs(), "cat",
                "/sys/class/net/" + lab.clientIf() + "/statistics/tx_packets").trim());
    }

    /**
     * The client's completed connections a second to the served port over 2 s, one at a time, and how many
     * attempts failed (a connect not done within 500 ms: its SYN or the SYN-ACK lost to the flood); with
     * -Dclient=wrk..., wrk's requests a second over 2 s and its errors (failed connects, non-2xx answers).
     */
    static long[] clientRate(Lab lab) {
        if (web != null) {
            var r = web.wrk(CLIENT.equals("wrk"), 2);
            return new long[] {Math.round(r.perSecond()), r.errors()};
        }
        return lab.client().call(() -> {
            long end = System.nanoTime() + 2_000_000_000L;
            long done = 0;
            long failed = 0;
            while (System.nanoTime() < end) {
                try (java.net.Socket s = new java.net.Socket()) {
                    s.connect(new java.net.InetSocketAddress(Lab.SERVER_V4, 443), 500);
                    done++;
                } catch (java.io.IOException timedOut) {
                    failed++;
                }
            }
            return new long[] {done / 2, failed};
        });
    }

    static String sh(String... command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            if (p.waitFor() != 0) {
                throw new IllegalStateException(String.join(" ", command) + ": " + out);
            }
            return out;
        } catch (java.io.IOException | InterruptedException e) {
            throw new IllegalStateException(e);
        }
    }

    static long median(long[] v) {
        long[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }
}
