import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The second half of bench/run flood-perf: perf's samples of the generator's CPU (perf script, on
 * stdin) counted against FloodCost's slices (the file named first). That CPU runs hping3 and the
 * NET_RX softirq its sends raise, and nothing else, so a sample is either in the softirq
 * (net_rx_action in its call chain) or not, and a slice's NET_RX time is the share of its samples
 * in it times its length. Unlike the tracer of bench/flood paired, perf's cost is per sample, not
 * per packet, and falls alike inside and outside what it measures: the ratios are not shrunk.
 */
public class FloodSlices {
    record Slice(int round, String program, long start, long end, long packets) {}

    /** A sample's first line: its CPU in brackets, then its time in seconds and a colon. */
    static final java.util.regex.Pattern HEADER = java.util.regex.Pattern.compile("\\[\\d+\\]\\s+\\d+\\.\\d+:");

    public static void main(String[] args) throws Exception {
        List<Slice> slices = new ArrayList<>();
        for (String line : Files.readAllLines(Path.of(args[0]))) {
            String[] f = line.trim().split(" ");
            slices.add(new Slice(Integer.parseInt(f[0]), f[1], Long.parseLong(f[2]), Long.parseLong(f[3]), Long.parseLong(f[4])));
        }
        long[] samples = new long[slices.size()];
        long[] inNetRx = new long[slices.size()];
        // perf script: a header line per sample ("hping3 123 [001] 56152.407123: ... cpu-clock:", with the
        // sample's own ip and symbol on it when perf has no call chain for it), then its call chain.
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        int current = -1;
        boolean netRx = false;
        for (String line = in.readLine(); ; line = in.readLine()) {
            boolean header = line != null && HEADER.matcher(line).find();
            if (line == null || header) {
                if (current >= 0) {
                    samples[current]++;
                    if (netRx) {
                        inNetRx[current]++;
                    }
                }
                if (line == null) {
                    break;
                }
                current = sliceAt(slices, timeOf(line));
                netRx = line.contains("net_rx_action");
            } else if (line.contains("net_rx_action")) {
                netRx = true;
            }
        }
        Map<String, double[]> totals = new LinkedHashMap<>(); // program: {NET_RX ns, packets, samples}
        Map<Integer, Map<String, Double>> perRound = new LinkedHashMap<>();
        for (int i = 0; i < slices.size(); i++) {
            Slice s = slices.get(i);
            double ns = samples[i] == 0 ? 0 : (double) inNetRx[i] / samples[i] * (s.end() - s.start());
            double[] t = totals.computeIfAbsent(s.program(), k -> new double[3]);
            t[0] += ns;
            t[1] += s.packets();
            t[2] += samples[i];
            perRound.computeIfAbsent(s.round(), k -> new LinkedHashMap<>()).put(s.program(), ns / s.packets());
        }
        System.out.printf("%-16s %14s %12s %22s   %s%n", "program", "NET_RX ns/pkt", "samples", "vs bare drop (median)",
                "per round (%)");
        if (totals.values().stream().anyMatch(t -> t[2] == 0)) {
            throw new IllegalStateException("a program's slices got no perf sample: was perf sampling CPU 1?");
        }
        for (var e : totals.entrySet()) {
            String vs = "";
            String per = "";
            if (!e.getKey().equals("xdp-drop")) {
                double[] r = perRound.values().stream().filter(m -> m.containsKey(e.getKey()) && m.containsKey("xdp-drop"))
                        .mapToDouble(m -> m.get(e.getKey()) / m.get("xdp-drop") - 1).toArray();
                double[] sorted = r.clone();
                Arrays.sort(sorted);
                vs = String.format("%+.1f%%", 100 * sorted[sorted.length / 2]);
                per = Arrays.toString(Arrays.stream(r).map(x -> Math.round(x * 1000) / 10.0).toArray());
            }
            System.out.printf("%-16s %14.0f %12.0f %22s   %s%n", e.getKey(), e.getValue()[0] / e.getValue()[1],
                    e.getValue()[2], vs, per);
        }
    }

    /** The sample's time (the field ending in ':' that is a number of seconds), in ns. */
    static long timeOf(String header) {
        for (String f : header.trim().split("\\s+")) {
            if (f.endsWith(":") && f.length() > 1 && Character.isDigit(f.charAt(0)) && f.contains(".")) {
                return Math.round(Double.parseDouble(f.substring(0, f.length() - 1)) * 1e9);
            }
        }
        return -1;
    }

    static int sliceAt(List<Slice> slices, long t) {
        for (int i = 0; i < slices.size(); i++) {
            if (t >= slices.get(i).start() && t < slices.get(i).end()) {
                return i;
            }
        }
        return -1;
    }
}
