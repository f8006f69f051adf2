package dev.tcpinspect.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tcpinspect.ebpf.RunTimeStats;
import java.io.IOException;
import java.util.Map;
import java.util.TreeMap;

/**
 * The kernel's own accounting of BPF run time, for benchmarks: on while open. The accounting reads the
 * clock around every run, so its figures are a little high; beside an empty program counted the same
 * way they show what each program adds.
 *
 * It is held by a file descriptor (BPF_ENABLE_STATS, RunTimeStats), which the kernel lets go when this
 * process ends however it ends. Writing kernel.bpf_stats_enabled and writing it back on close, as this
 * did before, left it on for good when a benchmark was killed: found on 2026-12-04, when it had made
 * every BPF program on the VM two clock reads a run dearer through a day's measurements.
 */
public final class BpfStats implements AutoCloseable {
    private final RunTimeStats held;

    private BpfStats(RunTimeStats held) {
        this.held = held;
    }

    public static BpfStats enable() {
        return new BpfStats(RunTimeStats.enable());
    }

    /** Runs and nanoseconds so far of every loaded program whose name starts with prefix, by name (summed over loads). */
    public static Map<String, long[]> programs(String prefix) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("bpftool", "prog", "show", "--json")
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        JsonNode json = new ObjectMapper().readTree(p.getInputStream());
        p.waitFor();
        Map<String, long[]> stats = new TreeMap<>();
        for (JsonNode prog : json) {
            String name = prog.path("name").asText();
            if (name.startsWith(prefix)) {
                long[] s = stats.computeIfAbsent(name, n -> new long[2]);
                s[0] += prog.path("run_cnt").asLong();
                s[1] += prog.path("run_time_ns").asLong();
            }
        }
        return stats;
    }

    /** What ran between two readings of {@link #programs}: runs and nanoseconds by program. */
    public static Map<String, long[]> between(Map<String, long[]> start, Map<String, long[]> stop) {
        Map<String, long[]> d = new TreeMap<>();
        stop.forEach((name, s) -> {
            long[] s0 = start.getOrDefault(name, new long[2]);
            if (s[0] - s0[0] > 0) {
                d.put(name, new long[] {s[0] - s0[0], s[1] - s0[1]});
            }
        });
        return d;
    }

    @Override
    public void close() {
        held.close();
    }
}
