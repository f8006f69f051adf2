import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What watching costs the traffic: bulk throughput (iperf3, one stream) and connection rate (short
 * connections, one after another) over the lab's veth pair, with nothing watching, with
 * tcpinspect watch (every probe; as a table, and as JSON with a line per event) and with tcpdump
 * capturing headers, all in the same run, rounds alternating, medians reported.
 *
 * Not a test: it prints figures. Run with bench/run (needs iperf3 and tcpdump).
 */
public class WatchCost {
    static final int ROUNDS = 3;
    static final int SECONDS = 4;

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
            String[] modes = {"nothing", "tcpinspect", "tcpinspect-json", "tcpdump"};
            double[][] bulk = new double[modes.length][ROUNDS];
            double[][] conns = new double[modes.length][ROUNDS];
            for (int r = 0; r < ROUNDS; r++) {
                for (int m = 0; m < modes.length; m++) {
                    Process watcher = switch (modes[m]) {
                        case "tcpinspect" -> startAndWait(List.of("ip", "netns", "exec", lab.serverNs(), java,
                                "--enable-native-access=ALL-UNNAMED", "-jar", jar, "watch", "-i", lab.serverIf()),
                                "Watching", true);
                        case "tcpinspect-json" -> startAndWait(List.of("ip", "netns", "exec", lab.serverNs(), java,
                                "--enable-native-access=ALL-UNNAMED", "-jar", jar, "watch", "-i", lab.serverIf(),
                                "--format", "json"), "\"ready\"", true);
                        case "tcpdump" -> startAndWait(List.of("ip", "netns", "exec", lab.serverNs(), "tcpdump", "-i",
                                lab.serverIf(), "-s", "128", "-B", "65536", "-w", "/dev/null"), "listening on", false);
                        default -> null;
                    };
                    try {
                        bulk[m][r] = iperf(lab);
                        conns[m][r] = connectionRate(lab);
                    } finally {
                        if (watcher != null) {
                            watcher.toHandle().destroy();
                            watcher.waitFor();
                        }
                    }
                }
            }
            double baseBulk = median(bulk[0]);
            double baseConns = median(conns[0]);
            System.out.printf("%-12s %16s %10s %16s %10s%n", "watching", "bulk Gbit/s", "vs none", "connections/s", "vs none");
            for (int m = 0; m < modes.length; m++) {
                System.out.printf("%-12s %16.2f %9.1f%% %16.0f %9.1f%%%n", modes[m], median(bulk[m]),
                        100 * (median(bulk[m]) / baseBulk - 1), median(conns[m]), 100 * (median(conns[m]) / baseConns - 1));
            }
            System.out.printf("(median of %d rounds of %d s each; rounds: bulk %s, connections %s)%n", ROUNDS, SECONDS,
                    Arrays.deepToString(bulk), Arrays.deepToString(conns));
        }
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

    static double connectionRate(Lab lab) {
        long end = System.nanoTime() + SECONDS * 1_000_000_000L;
        long start = System.nanoTime();
        long done = 0;
        while (System.nanoTime() < end) {
            done += Traffic.connect(lab.client(), Lab.SERVER_V4, 8080, 50);
        }
        return done / ((System.nanoTime() - start) / 1e9);
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }
}
