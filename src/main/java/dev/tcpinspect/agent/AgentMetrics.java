package dev.tcpinspect.agent;

import dev.tcpinspect.output.PrometheusMetrics;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What the agent itself costs and does, beside what its probes count: kernel time and runs of each
 * BPF program (bpf_stats), its process's CPU and memory, readings, scrapes and reloads, alerts under
 * way. The probes' own loss counters (events lost, tables full, flows untracked) come with their
 * snapshots.
 */
final class AgentMetrics {
    final AtomicLong readings = new AtomicLong();
    final AtomicLong reloads = new AtomicLong();
    final AtomicLong reloadsFailed = new AtomicLong();
    final AtomicLong scrapes = new AtomicLong();

    /** One program's kernel accounting at a reading (runs and time count only while bpf_stats is on). */
    record ProgramStat(String name, long runs, long nanos) {}

    private static final String P = PrometheusMetrics.PREFIX;

    /** @param countingRunTime whether the agent holds the kernel's run-time accounting on (config bpf_stats) */
    List<MetricSnapshot> render(Agent.State state, AlertBoard alerts, List<ProgramStat> programs, boolean countingRunTime) {
        List<MetricSnapshot> out = new ArrayList<>();
        String version = Agent.class.getPackage().getImplementationVersion();
        out.add(GaugeSnapshot.builder().name(P + "build_info").help("The running tcpinspect's version (always 1)")
                .dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder()
                        .labels(Labels.of("version", version == null ? "dev" : version)).value(1).build()).build());
        out.add(gauge("counters_start_time_seconds", "When the running probes started counting (the agent's start, or"
                + " the last reload that loaded them again), in seconds since the epoch",
                state.started().toEpochMilli() / 1000.0));
        out.add(gauge("agent_last_reading_time_seconds", "When the probes were last read, in seconds since the epoch",
                state.time().toEpochMilli() / 1000.0));
        out.add(gauge("interfaces_watched", "Interfaces the packet probes are attached to", state.interfaces().size()));
        out.add(counter("agent_readings", "Readings of the kernel's counters", readings.get(), Labels.EMPTY));
        out.add(counter("agent_scrapes", "Requests of /metrics answered", scrapes.get(), Labels.EMPTY));
        CounterSnapshot.Builder reloadsFamily = CounterSnapshot.builder().name(P + "agent_reloads")
                .help("Reloads of the config (SIGHUP), by result: applied or refused (the running config kept)");
        reloadsFamily.dataPoint(point(reloads.get(), Labels.of("result", "applied")));
        reloadsFamily.dataPoint(point(reloadsFailed.get(), Labels.of("result", "refused")));
        out.add(reloadsFamily.build());
        GaugeSnapshot.Builder active = GaugeSnapshot.builder().name(P + "alerts_active")
                .help("Alert episodes under way, by type");
        for (Map.Entry<String, Long> e : alerts.activeByType().entrySet()) {
            active.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().labels(Labels.of("type", e.getKey()))
                    .value(e.getValue()).build());
        }
        out.add(active.build());
        out.add(counter("alerts_not_kept", "Alert episodes the agent did not keep because 10,000 were under way",
                alerts.dropped(), Labels.EMPTY));
        out.add(gauge("bpf_stats_enabled", "Whether the kernel counts BPF run time (kernel.bpf_stats_enabled, or the"
                + " agent's bpf_stats: true): the program run counters stay 0 while it is off",
                countingRunTime || bpfStatsEnabled() ? 1 : 0));
        CounterSnapshot.Builder runs = CounterSnapshot.builder().name(P + "bpf_program_runs")
                .help("Runs of each of the agent's BPF programs, the enforcer's included (counted while bpf_stats is on)");
        CounterSnapshot.Builder time = CounterSnapshot.builder().name(P + "bpf_program_run_seconds")
                .help("Kernel time in each of the agent's BPF programs, the enforcer's included (counted while bpf_stats is on)");
        for (ProgramStat p : programs) {
            runs.dataPoint(point(p.runs(), Labels.of("program", p.name())));
            time.dataPoint(CounterSnapshot.CounterDataPointSnapshot.builder().labels(Labels.of("program", p.name()))
                    .value(p.nanos() / 1e9).build());
        }
        out.add(runs.build());
        out.add(time.build());
        var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        out.add(CounterSnapshot.builder().name(P + "agent_cpu_seconds").help("CPU time the agent's process used, user and system")
                .dataPoint(CounterSnapshot.CounterDataPointSnapshot.builder().value(os.getProcessCpuTime() / 1e9).build())
                .build());
        out.add(gauge("agent_resident_memory_bytes", "Resident memory of the agent's process", residentBytes()));
        return out;
    }

    private static GaugeSnapshot gauge(String name, String help, double value) {
        return GaugeSnapshot.builder().name(P + name).help(help)
                .dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().value(value).build()).build();
    }

    private static CounterSnapshot counter(String name, String help, long value, Labels labels) {
        return CounterSnapshot.builder().name(P + name).help(help).dataPoint(point(value, labels)).build();
    }

    private static CounterSnapshot.CounterDataPointSnapshot point(long value, Labels labels) {
        return CounterSnapshot.CounterDataPointSnapshot.builder().labels(labels).value(value).build();
    }

    private static boolean bpfStatsEnabled() {
        try {
            return Files.readString(Path.of("/proc/sys/kernel/bpf_stats_enabled")).strip().equals("1");
        } catch (java.io.IOException e) {
            return false;
        }
    }

    private static long residentBytes() {
        try {
            String[] f = Files.readString(Path.of("/proc/self/statm")).trim().split("\\s+");
            return Long.parseLong(f[1]) * dev.tcpinspect.os.Libc.pageSize(); // statm counts pages
        } catch (java.io.IOException | RuntimeException e) {
            return 0;
        }
    }
}
