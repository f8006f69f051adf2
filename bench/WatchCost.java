import dev.tcpinspect.ebpf.BpfObject;
import dev.tcpinspect.ebpf.TcDirection;
import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.os.NetInterfaces;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What watching costs the traffic: bulk throughput (iperf3, one stream) and connection rate (short
 * connections, one after another, and from four clients at once, which keeps both CPUs busy) over
 * the lab's veth pair, with nothing watching, with
 * tcpinspect watch (every probe; as a table, and as JSON with a line per event) and with tcpdump
 * capturing headers, all in the same run, rounds alternating, medians reported.
 *
 * Not a test: it prints figures. Run with bench/run (needs iperf3 and tcpdump).
 */
public class WatchCost {
    static final int ROUNDS = Integer.getInteger("rounds", 5);
    static final int SECONDS = 4;
    static final int WARM_UP_MS = 1500;
    static final int PARALLEL_CLIENTS = 4;

    public static void main(String[] args) throws Exception {
        String jar = args[0];
        String java = ProcessHandle.current().info().command().orElse("java");
        try (Lab lab = Lab.create(); var echo = Traffic.listen(lab.server(), Lab.SERVER_V4, 8080)) {
            // Tens of thousands of short connections: let the client reuse its TIME_WAIT ports, or the
            // run measures port exhaustion instead of the connections.
            for (String sysctl : new String[] {"net.ipv4.tcp_tw_reuse=1", "net.ipv4.ip_local_port_range=1024 65000"}) {
                new ProcessBuilder("ip", "netns", "exec", lab.clientNs(), "sysctl", "-q", "-w", sysctl).inheritIO()
                        .start().waitFor();
            }
            String[] modes = args.length > 1 ? Arrays.copyOfRange(args, 1, args.length)
                    : new String[] {"nothing", "tcpinspect", "tcpinspect-json", "tcpdump"};
            double[][] bulk = new double[modes.length][ROUNDS];
            double[][] conns = new double[modes.length][ROUNDS];
            double[][] bulkCpu = new double[modes.length][ROUNDS];
            double[][] connsCpu = new double[modes.length][ROUNDS];
            double[][] parallel = new double[modes.length][ROUNDS];
            double[][] parallelCpu = new double[modes.length][ROUNDS];
            for (int r = 0; r < ROUNDS; r++) {
                for (int i = 0; i < modes.length; i++) {
                    int m = (i + r) % modes.length; // each round starts with another mode: no mode always runs first
                    String mode = modes[m];
                    Process watcher = switch (mode.startsWith("tcpinspect") ? "tcpinspect" : mode) {
                        case "tcpinspect" -> startAndWait(tcpinspect(java, jar, lab, mode), mode.contains("json") ? "\"ready\"" : "Watching", true);
                        case "tcpdump" -> startAndWait(List.of("ip", "netns", "exec", lab.serverNs(), "tcpdump", "-i",
                                lab.serverIf(), "-s", "128", "-B", "65536", "-w", "/dev/null"), "listening on", false);
                        default -> null;
                    };
                    try {
                        // A watcher runs for hours: warm it (and this JVM's client) up before measuring,
                        // so that just-in-time compilation is not charged to the traffic.
                        warmUp(lab);
                        double cpu0 = cpuSeconds(watcher);
                        bulk[m][r] = iperf(lab);
                        double cpu1 = cpuSeconds(watcher);
                        conns[m][r] = connectionRate(lab, 1);
                        double cpu2 = cpuSeconds(watcher);
                        parallel[m][r] = connectionRate(lab, PARALLEL_CLIENTS);
                        double cpu3 = cpuSeconds(watcher);
                        bulkCpu[m][r] = 100 * (cpu1 - cpu0) / SECONDS;
                        connsCpu[m][r] = 100 * (cpu2 - cpu1) / SECONDS;
                        parallelCpu[m][r] = 100 * (cpu3 - cpu2) / SECONDS;
                    } finally {
                        if (watcher != null) {
                            watcher.toHandle().destroy();
                            watcher.waitFor();
                        }
                    }
                }
            }
            System.out.printf("%-24s %11s %7s %5s %13s %7s %5s %13s %7s %5s%n", "watching", "bulk Gbit/s", "vs none",
                    "cpu", "conns/s 1 cl", "vs none", "cpu", "conns/s " + PARALLEL_CLIENTS + " cl", "vs none", "cpu");
            for (int m = 0; m < modes.length; m++) {
                System.out.printf("%-24s %11.2f %6.1f%% %4.0f%% %13.0f %6.1f%% %4.0f%% %13.0f %6.1f%% %4.0f%%%n", modes[m],
                        median(bulk[m]), pairedChange(bulk[m], bulk[0]), median(bulkCpu[m]), median(conns[m]),
                        pairedChange(conns[m], conns[0]), median(connsCpu[m]), median(parallel[m]),
                        pairedChange(parallel[m], parallel[0]), median(parallelCpu[m]));
            }
            System.out.println("(vs none: median over rounds of the change against the same round's run with nothing"
                    + " watching, which drifts less than medians of the absolute figures; cpu: the watcher's own"
                    + " user+system time while the workload ran, % of one CPU)");
            System.out.printf("(median of %d rounds of %d s each; rounds: bulk %s, connections %s, %d clients %s)%n",
                    ROUNDS, SECONDS, Arrays.deepToString(bulk), Arrays.deepToString(conns), PARALLEL_CLIENTS,
                    Arrays.deepToString(parallel));
            if (Arrays.asList(modes).contains("tcpinspect")) {
                programCosts(java, jar, lab);
            }
        }
    }

    /**
     * Where the kernel-side cost goes: one more connection run watched by every probe, with the
     * kernel's own accounting of BPF run time (kernel.bpf_stats_enabled, restored afterwards), as
     * ns per run and runs per connection for each program. The accounting adds a clock read or two
     * to every run, so the figures are a little high; what they show is the share of each program.
     */
    static void programCosts(String java, String jar, Lab lab) throws Exception {
        Process watcher = startAndWait(tcpinspect(java, jar, lab, "tcpinspect"), "Watching", true);
        String before = Files.readString(Path.of("/proc/sys/kernel/bpf_stats_enabled")).strip();
        // Baselines on the same hooks, counted the same way: programs that return at once.
        try (BpfObject empty = BpfObject.loadResource("/bpf/bench/empty.bpf.o")) {
            lab.server().call(() -> empty.program("tcpi_empty_tc").attachTcx(NetInterfaces.indexOf(lab.serverIf()),
                    TcDirection.INGRESS));
            empty.program("tcpi_empty_state").attach();
            warmUp(lab);
            Files.writeString(Path.of("/proc/sys/kernel/bpf_stats_enabled"), "1");
            Map<String, long[]> start = programStats();
            long made = 0;
            long end = System.nanoTime() + SECONDS * 1_000_000_000L;
            while (System.nanoTime() < end) {
                made += Traffic.connect(lab.client(), Lab.SERVER_V4, 8080, 50);
            }
            Map<String, long[]> stop = programStats();
            System.out.printf("%nkernel time per program during %,d connections (bpf_stats):%n", made);
            System.out.printf("%-22s %12s %10s %14s%n", "program", "runs/conn", "ns/run", "ns/connection");
            double total = 0;
            for (var e : stop.entrySet()) {
                long[] s0 = start.getOrDefault(e.getKey(), new long[2]);
                long runs = e.getValue()[0] - s0[0];
                long ns = e.getValue()[1] - s0[1];
                if (runs > 0) {
                    if (!BASELINES.contains(e.getKey())) {
                        total += (double) ns / made;
                    }
                    System.out.printf("%-22s %12.1f %10d %14.0f%n", e.getKey(), (double) runs / made, ns / runs,
                            (double) ns / made);
                }
            }
            System.out.printf("%-22s %12s %10s %14.0f%n", "all tcpinspect", "", "", total);
            System.out.println("(baselines, not in the total: tcpi_empty_tc returns at once at TC ingress,"
                    + " tcpi_empty_state at inet_sock_set_state)");
        } finally {
            Files.writeString(Path.of("/proc/sys/kernel/bpf_stats_enabled"), before);
            watcher.toHandle().destroy();
            watcher.waitFor();
        }
    }

    static final List<String> BASELINES = List.of("tcpi_empty_tc", "tcpi_empty_state");

    /** run_cnt and run_time_ns of every loaded tcpinspect program, by name, from bpftool. */
    static Map<String, long[]> programStats() throws Exception {
        Process p = new ProcessBuilder("bpftool", "prog", "show", "--json").redirectError(ProcessBuilder.Redirect.DISCARD)
                .start();
        var json = new com.fasterxml.jackson.databind.ObjectMapper().readTree(p.getInputStream());
        p.waitFor();
        Map<String, long[]> stats = new java.util.TreeMap<>();
        for (var prog : json) {
            String name = prog.path("name").asText();
            if (name.startsWith("tcpi_")) {
                long[] s = stats.computeIfAbsent(name, n -> new long[2]);
                s[0] += prog.path("run_cnt").asLong();
                s[1] += prog.path("run_time_ns").asLong();
            }
        }
        return stats;
    }

    /** A mode "tcpinspect[-json][:probe,probe]" watches with those probes (all by default). */
    static List<String> tcpinspect(String java, String jar, Lab lab, String mode) {
        List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", lab.serverNs(), java,
                "--enable-native-access=ALL-UNNAMED", "-jar", jar, "watch", "-i", lab.serverIf()));
        if (mode.contains("json")) {
            cmd.addAll(List.of("--format", "json"));
        }
        int colon = mode.indexOf(':');
        if (colon > 0) {
            for (String probe : mode.substring(colon + 1).split(",")) {
                cmd.addAll(List.of("--probe", probe));
            }
        }
        return cmd;
    }

    /** User plus system CPU seconds of a running process (0 for none), from /proc/PID/stat. */
    static double cpuSeconds(Process p) throws java.io.IOException {
        if (p == null) {
            return 0;
        }
        String stat = Files.readString(Path.of("/proc/" + p.pid() + "/stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0; // utime, stime in USER_HZ ticks
    }

    static Process startAndWait(List<String> command, String marker, boolean stdout) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(command);
        if (stdout) {
            pb.redirectError(ProcessBuilder.Redirect.DISCARD);
        } else {
            pb.redirectOutput(ProcessBuilder.Redirect.DISCARD);
        }
        Process p = pb.start();
        BufferedReader in = new BufferedReader(new InputStreamReader(stdout ? p.getInputStream() : p.getErrorStream()));
        String line;
        while ((line = in.readLine()) != null && !line.contains(marker)) {
            // wait until it is attached
        }
        Thread.ofPlatform().daemon(true).start(() -> {
            try {
                in.transferTo(java.io.Writer.nullWriter()); // keep draining so the watcher never blocks
            } catch (java.io.IOException e) {
                // ended
            }
        });
        return p;
    }

    static void warmUp(Lab lab) {
        long end = System.nanoTime() + WARM_UP_MS * 1_000_000L;
        while (System.nanoTime() < end) {
            Traffic.connect(lab.client(), Lab.SERVER_V4, 8080, 50);
        }
    }

    static double iperf(Lab lab) throws Exception {
        Process server = new ProcessBuilder("ip", "netns", "exec", lab.serverNs(), "iperf3", "-s", "-1", "-B",
                Lab.SERVER_V4).redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(ProcessBuilder.Redirect.DISCARD)
                .start();
        Thread.sleep(300);
        Process client = new ProcessBuilder("ip", "netns", "exec", lab.clientNs(), "iperf3", "-c", Lab.SERVER_V4, "-t",
                Integer.toString(SECONDS), "-f", "g").redirectErrorStream(true).start();
        String out = new String(client.getInputStream().readAllBytes());
        client.waitFor();
        server.waitFor();
        Matcher m = Pattern.compile("([\\d.]+) Gbits/sec\\s+receiver").matcher(out);
        if (!m.find()) {
            throw new IllegalStateException("iperf3 said: " + out);
        }
        return Double.parseDouble(m.group(1));
    }

    static double connectionRate(Lab lab, int clients) {
        return Traffic.connectionRate(lab.client(), Lab.SERVER_V4, 8080, clients, SECONDS * 1000L);
    }

    /** Median over rounds of (mode / baseline of the same round - 1), in percent. */
    static double pairedChange(double[] mode, double[] baseline) {
        double[] change = new double[mode.length];
        for (int r = 0; r < mode.length; r++) {
            change[r] = 100 * (mode[r] / baseline[r] - 1);
        }
        return median(change);
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }
}
