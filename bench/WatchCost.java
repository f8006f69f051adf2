import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.testing.WebLoad;
import dev.tcpinspect.testing.WebLoad.Workload;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * What watching costs a web server, as a user would try it: nginx serving a small page in the lab's
 * server namespace to wrk in the client namespace over the veth pair, with a new connection per
 * request and with keep-alive, and one iperf3 stream for bulk; with nothing watching, with
 * tcpinspect watch (every probe, as a table; and as JSON with a line per event) and with tcpdump
 * capturing headers, all in the same run. Rounds alternate the modes (each round starts with
 * another one); the figure per mode is the median over rounds of its change against the same
 * round's run with nothing watching, which drifts less than the absolute figures.
 *
 * Not a test: it prints figures. Run with bench/run watch [MODE...] (modes: nothing,
 * tcpinspect[-json][:probe,probe], tcpdump; needs nginx, wrk, iperf3 and tcpdump).
 */
public class WatchCost {
    static final int ROUNDS = Integer.getInteger("rounds", 7);
    static final int SECONDS = 4;
    /**
     * A watcher runs for hours; the figures are for one that has warmed up. A JSON watcher's first
     * seconds are mostly the JIT compiling the event path: on the AMD VM it took 37% of a CPU in its
     * first 4 s under a connection per request, 8% in the next 4 and 5-9% later (the table view:
     * 4%, then 1-3%). So the workloads are measured after 8 s of the same load, and those first seconds are
     * printed on their own.
     */
    static final int WARM_UP_SECONDS = Integer.getInteger("warmup", 8);

    public static void main(String[] args) throws Exception {
        String launcher = args[0]; // ./tcpinspect, as users start it (with the JVM options it picks)
        String[] modes = args.length > 1 ? Arrays.copyOfRange(args, 1, args.length)
                : new String[] {"nothing", "tcpinspect", "tcpinspect-json", "tcpdump"};
        if (!modes[0].equals("nothing")) {
            throw new IllegalArgumentException("the first mode is the baseline: nothing");
        }
        Workload[] workloads = Workload.values();
        double[][][] figure = new double[workloads.length][modes.length][ROUNDS];
        double[][][] cpu = new double[workloads.length][modes.length][ROUNDS];
        double[][] warmUp = new double[modes.length][ROUNDS];
        double[][] warmUpCpu = new double[modes.length][ROUNDS];
        try (Lab lab = Lab.create(); WebLoad web = WebLoad.start(lab)) {
            // A connection per request at 15,000+ a second leaves more client ports in TIME_WAIT than the
            // default range holds within a few rounds: without these, whole rounds fell to ~430 requests/s.
            for (String sysctl : new String[] {"net.ipv4.tcp_tw_reuse=1", "net.ipv4.ip_local_port_range=1024 65000"}) {
                new ProcessBuilder("ip", "netns", "exec", lab.clientNs(), "sysctl", "-q", "-w", sysctl).inheritIO()
                        .start().waitFor();
            }
            for (int r = 0; r < ROUNDS; r++) {
                for (int i = 0; i < modes.length; i++) {
                    int m = (i + r) % modes.length; // no mode always runs first
                    Process watcher = start(modes[m], launcher, lab);
                    try {
                        double start = cpuSeconds(watcher);
                        warmUp[m][r] = web.run(Workload.CLOSE, WARM_UP_SECONDS);
                        warmUpCpu[m][r] = 100 * (cpuSeconds(watcher) - start) / WARM_UP_SECONDS;
                        for (int w = 0; w < workloads.length; w++) {
                            double cpu0 = cpuSeconds(watcher);
                            figure[w][m][r] = web.run(workloads[w], SECONDS);
                            cpu[w][m][r] = 100 * (cpuSeconds(watcher) - cpu0) / SECONDS;
                        }
                    } finally {
                        if (watcher != null) {
                            watcher.toHandle().destroy();
                            watcher.waitFor();
                        }
                    }
                }
                System.err.printf("round %d of %d done%n", r + 1, ROUNDS);
            }
        }
        System.out.printf("%-22s", "watching");
        for (Workload w : workloads) {
            System.out.printf(" | %-31s", w.label());
        }
        System.out.println();
        for (int m = 0; m < modes.length; m++) {
            System.out.printf("%-22s", modes[m]);
            for (int w = 0; w < workloads.length; w++) {
                System.out.printf(" | %10.1f %7s %4.0f%% cpu", median(figure[w][m]),
                        m == 0 ? "" : String.format("%+.1f%%", pairedChange(figure[w][m], figure[w][0])),
                        median(cpu[w][m]));
            }
            System.out.println();
        }
        int table = Arrays.asList(modes).indexOf("tcpinspect");
        int json = Arrays.asList(modes).indexOf("tcpinspect-json");
        if (table > 0 && json > 0) {
            System.out.printf("%-22s", "json minus table");
            for (int w = 0; w < workloads.length; w++) {
                System.out.printf(" | %18s %+.1f points", "", pairedChange(figure[w][json], figure[w][0])
                        - pairedChange(figure[w][table], figure[w][0]));
            }
            System.out.println();
        }
        System.out.printf("%nthe first %d s after ready, a connection per request (not in the figures above):%n",
                WARM_UP_SECONDS);
        for (int m = 0; m < modes.length; m++) {
            System.out.printf("%-22s | %10.1f %7s %4.0f%% cpu%n", modes[m], median(warmUp[m]),
                    m == 0 ? "" : String.format("%+.1f%%", pairedChange(warmUp[m], warmUp[0])), median(warmUpCpu[m]));
        }
        System.out.printf("(median of %d rounds of %d s after %d s of warm-up; change: median over rounds of the change against the same"
                + " round with nothing watching; cpu: the watcher's user+system time during the workload, %% of one"
                + " CPU; nginx 2 workers, wrk 1 thread %d connections)%n", ROUNDS, SECONDS, WARM_UP_SECONDS,
                WebLoad.CONNECTIONS);
        for (int w = 0; w < workloads.length; w++) {
            System.out.println("(rounds, " + workloads[w].label() + ": " + Arrays.deepToString(round(figure[w])) + ")");
        }
    }

    static Process start(String mode, String launcher, Lab lab) throws Exception {
        if (mode.startsWith("tcpinspect")) {
            return startAndWait(tcpinspect(launcher, lab, mode), mode.contains("json") ? "\"ready\"" : "Watching", true);
        }
        if (mode.equals("tcpdump")) {
            return startAndWait(List.of("ip", "netns", "exec", lab.serverNs(), "tcpdump", "-i", lab.serverIf(), "-s",
                    "128", "-B", "65536", "-w", "/dev/null"), "listening on", false);
        }
        if (mode.equals("nothing")) {
            return null;
        }
        throw new IllegalArgumentException("unknown mode " + mode);
    }

    /** A mode "tcpinspect[-json][:probe,probe]" watches with those probes (all by default). */
    static List<String> tcpinspect(String launcher, Lab lab, String mode) {
        List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", lab.serverNs(), launcher,
                "watch", "-i", lab.serverIf()));
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
        if (line == null) {
            throw new IllegalStateException(command + " ended before it was ready (exit " + p.waitFor() + ")");
        }
        // Keep draining so that the watcher never blocks, as bytes: decoding a JSON watcher's 20 MB a
        // second into characters cost this process about a point of a CPU more, on the same 2 CPUs
        // (what the reader buffered past the marker is dropped with it).
        java.io.InputStream raw = stdout ? p.getInputStream() : p.getErrorStream();
        Thread.ofPlatform().daemon(true).start(() -> {
            try {
                raw.transferTo(java.io.OutputStream.nullOutputStream());
            } catch (java.io.IOException e) {
                // ended
            }
        });
        return p;
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
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    static double[][] round(double[][] v) {
        double[][] out = new double[v.length][];
        for (int i = 0; i < v.length; i++) {
            out[i] = Arrays.stream(v[i]).map(x -> Math.round(x * 10) / 10.0).toArray();
        }
        return out;
    }
}
