import dev.tcpinspect.lab.Lab;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * What Prometheus scraping the agent every second costs it, with its flow tables full: the agent
 * (through ./tcpinspect, every probe) in a lab's server namespace; hping3 sends SYNs from random
 * sources to a closed port until the drops probe keeps 65,536 flows (its table's capacity) and has
 * let go of more; then, in alternating rounds of 20 s, the agent's CPU (utime + stime from /proc)
 * with nobody scraping (its own reading every second, the baseline) and with a scrape of /metrics
 * every second (curl, from inside the namespace). Also each scrape's time and size, beside those of
 * scrapes before any flow was seen: the size must not grow with the flows.
 *
 * Not a test: it prints figures. Run with bench/run scrape [ROUNDS].
 */
public class ScrapeCost {
    static final int SECONDS = 20;
    static final String URL = "http://127.0.0.1:9977/metrics";

    public static void main(String[] args) throws Exception {
        String launcher = args[0];
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 3;
        try (Lab lab = Lab.create()) {
            Process agent = new ProcessBuilder("ip", "netns", "exec", lab.serverNs(), launcher, "agent", "-i",
                    lab.serverIf()).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            try {
                BufferedReader err = new BufferedReader(new InputStreamReader(agent.getErrorStream()));
                for (String line = err.readLine(); line != null && !line.contains(" info ready "); line = err.readLine()) {
                    // building, or the JVM starting
                }
                Thread.ofPlatform().daemon().start(() -> {
                    try {
                        err.lines().forEach(l -> { });
                    } catch (java.io.UncheckedIOException closed) {
                        // the agent is gone
                    }
                });
                long pid = agent.pid(); // ip netns exec and the launcher both exec: this is the JVM
                if (!Files.readString(Path.of("/proc/" + pid + "/comm")).strip().equals("java")) {
                    throw new IllegalStateException("pid " + pid + " is not the agent's JVM");
                }
                double[][] empty = scrapes(lab, 10);
                long sent = 120_000;
                shIgnoringStatus("ip", "netns", "exec", lab.clientNs(), "hping3", "-q", "-S", "-p", "9", "--rand-source", "-i", "u40",
                        "-c", Long.toString(sent), Lab.SERVER_V4);
                Thread.sleep(3000); // drained into the agent's tables
                var drops = new com.fasterxml.jackson.databind.ObjectMapper()
                        .readTree(curlBody(lab, "http://127.0.0.1:9977/api/snapshot")).at("/total/drop_detail");
                System.out.printf("flows: %d SYNs from random sources to a closed port; the agent counted %d drops,"
                        + " %d of them under no flow it keeps (its table holds 65,536)%n", sent,
                        drops.path("total").asLong(), drops.path("flows_untracked").asLong());
                double[] idle = new double[rounds];
                double[] scraped = new double[rounds];
                List<double[]> full = new ArrayList<>();
                for (int r = 0; r < rounds; r++) {
                    long before = cpuTicks(pid);
                    Thread.sleep(SECONDS * 1000L);
                    idle[r] = (cpuTicks(pid) - before) / 100.0 / SECONDS * 100;
                    before = cpuTicks(pid);
                    long start = System.nanoTime();
                    for (int s = 0; s < SECONDS; s++) {
                        full.add(curl(lab, URL));
                        long next = start + (s + 1) * 1_000_000_000L;
                        Thread.sleep(Math.max(0, (next - System.nanoTime()) / 1_000_000));
                    }
                    scraped[r] = (cpuTicks(pid) - before) / 100.0 / ((System.nanoTime() - start) / 1e9) * 100;
                }
                double[][] fullArr = full.toArray(double[][]::new);
                System.out.printf("agent CPU, %% of one CPU (%d rounds of %d s, median):%n", rounds, SECONDS);
                System.out.printf("  no scrapes (its own reading every second)   %5.2f %%   rounds %s%n", median(idle),
                        Arrays.toString(idle));
                System.out.printf("  a scrape of /metrics every second           %5.2f %%   rounds %s%n", median(scraped),
                        Arrays.toString(scraped));
                System.out.printf("  the scrapes' share                          %5.2f points%n", median(scraped) - median(idle));
                System.out.printf("scrape (curl's time_total):      empty tables p50 %.1f ms max %.1f ms, %d bytes;"
                        + " full tables p50 %.1f ms max %.1f ms, %d bytes%n",
                        median(col(empty, 0)) * 1000, max(col(empty, 0)) * 1000, (long) median(col(empty, 1)),
                        median(col(fullArr, 0)) * 1000, max(col(fullArr, 0)) * 1000, (long) median(col(fullArr, 1)));
            } finally {
                agent.destroy();
                agent.waitFor();
            }
        }
    }

    /** n scrapes one after another: time in seconds and size in bytes of each. */
    static double[][] scrapes(Lab lab, int n) throws Exception {
        double[][] out = new double[n][];
        for (int i = 0; i < n; i++) {
            out[i] = curl(lab, URL);
            Thread.sleep(200);
        }
        return out;
    }

    static double[] col(double[][] rows, int c) {
        return Arrays.stream(rows).mapToDouble(r -> r[c]).toArray();
    }

    /** curl's time_total and size_download of one request. */
    static double[] curl(Lab lab, String url) throws Exception {
        Process p = new ProcessBuilder("ip", "netns", "exec", lab.serverNs(), "curl", "-s", "-o", "/dev/null", "-w",
                "%{time_total} %{size_download}", url).start();
        String[] f = new String(p.getInputStream().readAllBytes()).trim().split(" ");
        p.waitFor();
        return new double[] {Double.parseDouble(f[0]), Double.parseDouble(f[1])};
    }

    static String curlBody(Lab lab, String url) throws Exception {
        Process p = new ProcessBuilder("ip", "netns", "exec", lab.serverNs(), "curl", "-s", url).start();
        String body = new String(p.getInputStream().readAllBytes());
        p.waitFor();
        return body;
    }

    /** utime + stime of a process in clock ticks (USER_HZ, 100 on Linux). */
    static long cpuTicks(long pid) throws Exception {
        String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return Long.parseLong(f[11]) + Long.parseLong(f[12]);
    }

    /** hping3 exits 1 when nothing answered, which is the point of sending to a closed port. */
    static void shIgnoringStatus(String... command) throws Exception {
        new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start().waitFor();
    }

    static void sh(String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        if (p.waitFor() != 0) {
            throw new IllegalStateException(String.join(" ", command) + " failed");
        }
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    static double max(double[] v) {
        return Arrays.stream(v).max().orElse(0);
    }
}
