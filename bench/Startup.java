import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * How long watch takes to be ready, as a user sees it: from starting the launcher (./tcpinspect,
 * which checks its packages and whether the jar is current, then starts the JVM) to the line that
 * says it is watching (table) or the "ready" line (JSON), with every probe, on the loopback
 * interface (observation only). Beside it, the same launcher printing --version: the JVM and
 * launcher floor that any command pays. Medians of alternating runs.
 *
 * Not a test: it prints figures. Run with bench/run startup [ROUNDS].
 */
public class Startup {
    public static void main(String[] args) throws Exception {
        String launcher = args[0];
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 7;
        String[][] commands = {
            {launcher, "--version"},
            {launcher, "watch", "-i", "lo"},
            {launcher, "watch", "-i", "lo", "--format", "json"},
        };
        String[] markers = {"", "Watching", "\"ready\""};
        double[][] seconds = new double[commands.length][rounds];
        time(commands[1], markers[1]); // the page cache and the jar's first read, not counted
        for (int r = 0; r < rounds; r++) {
            for (int c = 0; c < commands.length; c++) {
                seconds[c][r] = time(commands[c], markers[c]);
            }
        }
        for (int c = 0; c < commands.length; c++) {
            List<String> shown = new ArrayList<>(Arrays.asList(commands[c]));
            shown.set(0, "tcpinspect");
            System.out.printf("%-40s %6.2f s   (min %.2f, max %.2f)%n", String.join(" ", shown), median(seconds[c]),
                    Arrays.stream(seconds[c]).min().orElse(0), Arrays.stream(seconds[c]).max().orElse(0));
        }
        System.out.printf("(from the launcher's start to the line; median of %d runs; --version: to its exit)%n", rounds);
    }

    /** Seconds until the marker appears on stdout (the process is then stopped), or to exit with no marker. */
    static double time(String[] command, String marker) throws Exception {
        long start = System.nanoTime();
        Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        BufferedReader in = new BufferedReader(new InputStreamReader(p.getInputStream()));
        String line;
        boolean seen = marker.isEmpty();
        while (!seen && (line = in.readLine()) != null) {
            seen = line.contains(marker);
        }
        if (marker.isEmpty()) {
            p.waitFor();
        }
        double elapsed = (System.nanoTime() - start) / 1e9;
        if (!seen) {
            throw new IllegalStateException(String.join(" ", command) + " never printed " + marker);
        }
        p.destroy(); // SIGTERM: watch detaches and prints its summary
        try {
            in.transferTo(java.io.Writer.nullWriter());
        } catch (java.io.IOException e) {
            // the process ended and its pipe was closed
        }
        p.waitFor();
        return elapsed;
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }
}
