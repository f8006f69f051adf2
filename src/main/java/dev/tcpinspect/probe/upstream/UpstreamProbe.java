package dev.tcpinspect.probe.upstream;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import dev.tcpinspect.ebpf.BpfMap;
import dev.tcpinspect.ebpf.OpenObject;
import dev.tcpinspect.probe.Hook;
import dev.tcpinspect.probe.Probe;
import dev.tcpinspect.probe.ProbeContext;
import dev.tcpinspect.probe.ProbeSet;
import dev.tcpinspect.probe.Setting;
import dev.tcpinspect.snapshot.Alert;
import dev.tcpinspect.snapshot.Desc;
import dev.tcpinspect.snapshot.Desc.Role;
import dev.tcpinspect.snapshot.Export;
import dev.tcpinspect.snapshot.LogLinearHistogram;
import dev.tcpinspect.snapshot.Metric;
import dev.tcpinspect.snapshot.Metric.Cell;
import dev.tcpinspect.snapshot.Metric.CounterMap;
import dev.tcpinspect.snapshot.Snapshot;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * upstream (bpf/probes/upstream.h): per upstream the user named (--upstream NAME=TARGET), how the
 * connections this host opens to it fare: connect results, handshake latency, RTT, retransmits,
 * resets, bytes; and a health state (healthy, degraded, unhealthy) with its reasons, judged every
 * second ({@link UpstreamHealth}), whose changes are alerts of type "upstream".
 */
public final class UpstreamProbe implements Probe {
    /** UPSTREAM_MAX and UPSTREAM_TARGETS_MAX in bpf/probes/upstream.h. */
    static final int MAX_UPSTREAMS = 16;
    static final int MAX_TARGETS = 64;
    /** The longest health window: a reading a second is kept over it. */
    static final long MAX_WINDOW_SECONDS = 600;

    /** enum upstream_stat, in value order. */
    enum Stat {
        CONNECTS, ESTABLISHED, REFUSED, TIMED_OUT, UNREACHABLE, ABANDONED, OTHER_ERROR, FAILED_IN_A_ROW,
        RETRANSMITS, RESETS_RECEIVED, RESETS_SENT, ENDED, BYTES_SENT, BYTES_RECEIVED, SEGS_SENT,
        SEGS_RETRANSMITTED, HANDSHAKE_US, RTT_US, RTTVAR_US, ZERO_WINDOWS_SENT, ZERO_WINDOWS_RECEIVED,
        SOCKETS_UNTRACKED
    }

    /** enum upstream_hist, in value order. */
    enum Hist { HANDSHAKE, RTT }

    /** struct upstream_target. */
    static final StructLayout TARGET = MemoryLayout.structLayout(
            MemoryLayout.sequenceLayout(16, JAVA_BYTE).withName("addr"),
            JAVA_SHORT.withName("family"),
            JAVA_SHORT.withName("port"),
            JAVA_BYTE.withName("prefix_len"),
            JAVA_BYTE.withName("upstream"),
            JAVA_SHORT.withName("pad")).withName("upstream_target");

    private static final Export.Family CONNECTS = new Export.Family("upstream_connects",
            "Connects from this host to each upstream by result: established, refused (a RST answered the SYN),"
                    + " timed_out (SYN retries ran out), unreachable (an ICMP error), abandoned (closed by the caller"
                    + " first), other_error");
    private static final Export.Family ATTEMPTS = new Export.Family("upstream_connect_attempts",
            "Connects started from this host to each upstream (SYN_SENT)");
    private static final Export.Family RETRANSMITS = new Export.Family("upstream_retransmits",
            "Segments retransmitted to each upstream (tcp:tcp_retransmit_skb)");
    private static final Export.Family RESETS = new Export.Family("upstream_resets",
            "Resets on connections to each upstream, by direction");
    private static final Export.Family ENDED = new Export.Family("upstream_connections_ended",
            "Established connections to each upstream that ended (their bytes and segments are counted then)");
    private static final Export.Family BYTES = new Export.Family("upstream_bytes",
            "Bytes of the connections to each upstream that ended: sent (acknowledged by it) and received");
    private static final Export.Family SEGMENTS = new Export.Family("upstream_segments",
            "Segments of the connections to each upstream that ended: sent, and retransmitted");
    private static final Export.Family HANDSHAKE = new Export.Family("upstream_handshake_duration_seconds",
            "Handshake latency of connects to each upstream: SYN_SENT to ESTABLISHED");
    private static final Export.Family RTT = new Export.Family("upstream_rtt_seconds",
            "Smoothed RTT of each connection to an upstream when it ended");
    private static final Export.Family ZERO_WINDOWS = new Export.Family("upstream_zero_windows",
            "Zero windows on connections to each upstream: sent (our receive buffer was full: this host read too"
                    + " slowly) and received (the upstream's was full)");
    private static final Export.Family HEALTH = new Export.Family("upstream_health",
            "Each upstream's health: 0 healthy, 1 degraded, 2 unhealthy (the reasons are in /api/snapshot and the alerts)");

    private static final Desc ATTEMPTED = Desc.of("upstream_connects.attempted", "connects to upstreams",
            "Connects started to each upstream").metricByKey(ATTEMPTS, "upstream");
    private static final Map<Stat, Desc> RESULTS = results();
    private static final Desc RETRANSMITTED = Desc.of("upstream_retransmits", "retransmits to upstreams",
            "Segments retransmitted to each upstream").metricByKey(RETRANSMITS, "upstream");
    private static final Desc RESETS_RECEIVED = Desc.of("upstream_resets.received", "resets from upstreams",
            "Resets received on connections to each upstream").metricByKey(RESETS, "upstream", "direction", "received");
    private static final Desc RESETS_SENT = Desc.of("upstream_resets.sent", "resets to upstreams",
            "Resets sent on connections to each upstream").metricByKey(RESETS, "upstream", "direction", "sent");
    private static final Desc ENDED_DESC = Desc.of("upstream_ended", "connections to upstreams ended",
            "Established connections to each upstream that ended").role(Role.HIDDEN).metricByKey(ENDED, "upstream");
    private static final Desc BYTES_SENT = Desc.of("upstream_bytes.sent", "bytes sent to upstreams",
            "Bytes each upstream acknowledged, of the connections that ended").role(Role.HIDDEN)
            .metricByKey(BYTES, "upstream", "direction", "sent");
    private static final Desc BYTES_RECEIVED = Desc.of("upstream_bytes.received", "bytes received from upstreams",
            "Bytes received from each upstream, of the connections that ended").role(Role.HIDDEN)
            .metricByKey(BYTES, "upstream", "direction", "received");
    private static final Desc SEGS_SENT = Desc.of("upstream_segments.sent", "segments sent to upstreams",
            "Segments sent to each upstream, of the connections that ended").role(Role.HIDDEN)
            .metricByKey(SEGMENTS, "upstream", "kind", "sent");
    private static final Desc SEGS_RETRANSMITTED = Desc.of("upstream_segments.retransmitted",
            "segments retransmitted to upstreams", "Segments retransmitted to each upstream, of the connections that"
                    + " ended").role(Role.HIDDEN).metricByKey(SEGMENTS, "upstream", "kind", "retransmitted");
    private static final Desc ZERO_WINDOWS_SENT = Desc.of("upstream_zero_windows.sent", "zero windows to upstreams",
            "Times this host's receive window closed on a connection to each upstream (it read too slowly)")
            .metricByKey(ZERO_WINDOWS, "upstream", "direction", "sent");
    private static final Desc ZERO_WINDOWS_RECEIVED = Desc.of("upstream_zero_windows.received",
            "zero windows from upstreams", "Times an upstream's receive window closed (it read too slowly)")
            .metricByKey(ZERO_WINDOWS, "upstream", "direction", "received");
    private static final Desc SOCKETS_UNTRACKED = Desc.of("upstream_detail.sockets_untracked",
            "connections to upstreams whose windows went unwatched (table full)",
            "Connections to upstreams whose zero windows went uncounted: 4,096 were established at once")
            .role(Role.NOT_SHOWN).metric(Export.Family.UNTRACKED, "probe", "upstream", "table", "sockets");
    private static final Desc HANDSHAKE_MS = Desc.of("upstream_handshake_ms", "handshakes by upstream",
            "Handshake latency of connects to each upstream: SYN_SENT to ESTABLISHED").metricByKey(HANDSHAKE, "upstream");
    private static final Desc RTT_MS = Desc.of("upstream_rtt_ms", "RTT by upstream",
            "Smoothed RTT of each connection to an upstream when it ended").metricByKey(RTT, "upstream");
    private static final Desc TABLE = Desc.of("upstreams", "upstreams",
            "Each upstream's health, its reasons, and its connects and handshake latency since the start");

    private final List<Upstream> upstreams = new ArrayList<>();
    private UpstreamHealth.Rules rules = UpstreamHealth.Rules.defaults();
    private ProbeContext context;
    private UpstreamHealth[] health;
    private UpstreamHealth.Verdict[] verdicts;
    private long lastJudged;
    private static final long MIN_PERIOD_NANOS = 900_000_000L;

    private static Map<Stat, Desc> results() {
        Map<Stat, Desc> m = new LinkedHashMap<>();
        for (Stat s : List.of(Stat.ESTABLISHED, Stat.REFUSED, Stat.TIMED_OUT, Stat.UNREACHABLE, Stat.ABANDONED,
                Stat.OTHER_ERROR)) {
            String result = s.name().toLowerCase(java.util.Locale.ROOT);
            m.put(s, Desc.of("upstream_connects." + result, "connects " + result.replace('_', ' '),
                    "Connects to each upstream that ended " + result.replace('_', ' ')).role(Role.HIDDEN)
                    .metricByKey(CONNECTS, "upstream", "result", result));
        }
        return m;
    }

    @Override
    public String name() {
        return "upstream";
    }

    @Override
    public String help() {
        return "per upstream named with --upstream NAME=HOST:PORT: connect results, handshake latency, RTT,"
                + " retransmits, resets, and a health state (healthy, degraded, unhealthy) with its reasons";
    }

    @Override
    public Set<Hook> hooks() {
        // the packet hooks for the zero windows only: a window is the one thing no TCP tracepoint shows as sent
        return Set.of(Hook.STATE_CHANGE, Hook.SEND_RESET, Hook.RECEIVE_RESET, Hook.RETRANSMIT, Hook.INGRESS, Hook.EGRESS);
    }

    @Override
    public List<Setting> settings() {
        UpstreamHealth.Rules d = UpstreamHealth.Rules.defaults();
        return List.of(
                new Setting("failures", Long.toString(d.failures()), "connects in a row that fail make it unhealthy"),
                new Setting("retransmit_percent", Long.toString((long) d.retransmitPercent()),
                        "segments retransmitted, in percent of those sent in the window, that make it degraded"),
                new Setting("window", Long.toString(d.windowSeconds()), "seconds the retransmit share and the"
                        + " handshakes' p99 are judged over"),
                new Setting("handshake_factor", Long.toString(d.handshakeFactor()), "times its own earlier p99 that the"
                        + " window's handshake p99 must exceed (and by 5 ms) to make it degraded"));
    }

    @Override
    public void set(String key, String value) {
        if (key.equals("add")) { // NAME=TARGET: what watch --upstream passes, one upstream at a time
            add(Upstream.parse(value));
            return;
        }
        rules = switch (key) {
            case "failures" -> new UpstreamHealth.Rules(Setting.positive(name(), key, value, 1_000_000),
                    rules.retransmitPercent(), rules.windowSeconds(), rules.minSegments(), rules.handshakeFactor());
            case "retransmit_percent" -> new UpstreamHealth.Rules(rules.failures(),
                    Setting.positive(name(), key, value, 100), rules.windowSeconds(), rules.minSegments(),
                    rules.handshakeFactor());
            case "window" -> new UpstreamHealth.Rules(rules.failures(), rules.retransmitPercent(),
                    Setting.positive(name(), key, value, MAX_WINDOW_SECONDS), rules.minSegments(),
                    rules.handshakeFactor());
            case "handshake_factor" -> new UpstreamHealth.Rules(rules.failures(), rules.retransmitPercent(),
                    rules.windowSeconds(), rules.minSegments(), Setting.positive(name(), key, value, 1000));
            default -> {
                Probe.super.set(key, value);
                yield rules;
            }
        };
    }

    /** Adds an upstream before the probe starts; too many, or a name given twice, is refused. */
    public void add(Upstream upstream) {
        if (upstreams.stream().anyMatch(u -> u.name().equals(upstream.name()))) {
            throw new IllegalArgumentException("upstream " + upstream.name() + " is named twice");
        }
        if (upstreams.size() == MAX_UPSTREAMS) {
            throw new IllegalArgumentException("at most " + MAX_UPSTREAMS + " upstreams");
        }
        int targets = upstreams.stream().mapToInt(u -> u.targets().size()).sum() + upstream.targets().size();
        if (targets > MAX_TARGETS) {
            throw new IllegalArgumentException("at most " + MAX_TARGETS + " addresses and prefixes over all upstreams ("
                    + upstream.name() + " makes " + targets + ")");
        }
        upstreams.add(upstream);
    }

    @Override
    public List<StructLayout> sharedStructs() {
        return List.of(TARGET);
    }

    @Override
    public Map<String, List<String>> sharedEnums() {
        return Map.of("upstream_stat", Arrays.stream(Stat.values()).map(s -> "UP_STAT_" + s.name()).toList(),
                "upstream_hist", Arrays.stream(Hist.values()).map(h -> "UP_HIST_" + h.name()).toList());
    }

    @Override
    public void configure(OpenObject object, ProbeSet.Options options) {
        MemorySegment all = MemorySegment.ofArray(new byte[(int) (TARGET.byteSize() * MAX_TARGETS)]);
        int n = 0;
        for (int u = 0; u < upstreams.size(); u++) {
            for (Upstream.Target t : upstreams.get(u).targets()) {
                MemorySegment s = all.asSlice(n++ * TARGET.byteSize(), TARGET.byteSize());
                MemorySegment.copy(t.address(), 0, s, JAVA_BYTE, 0, t.address().length);
                s.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.nativeOrder()), 16,
                        (short) (t.ipv6() ? 10 : 2));
                s.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.nativeOrder()), 18, (short) t.port());
                s.set(JAVA_BYTE, 20, (byte) t.prefixLength());
                s.set(JAVA_BYTE, 21, (byte) u);
            }
        }
        object.setConstant("upstream_targets", all.toArray(JAVA_BYTE));
        object.setConstant("upstream_target_count", n);
    }

    @Override
    public synchronized void bind(ProbeContext context) {
        this.context = context;
        health = new UpstreamHealth[upstreams.size()];
        verdicts = new UpstreamHealth.Verdict[upstreams.size()];
        for (int i = 0; i < health.length; i++) {
            health[i] = new UpstreamHealth();
            verdicts[i] = new UpstreamHealth.Verdict(UpstreamHealth.State.HEALTHY, List.of());
        }
        lastJudged = System.nanoTime() - MIN_PERIOD_NANOS;
    }

    /** Each upstream's counters, by enum upstream_stat. */
    private long[][] stats() {
        long[] flat = plainArray(context.map("upstream_stats"), MAX_UPSTREAMS * Stat.values().length);
        long[][] byUpstream = new long[upstreams.size()][];
        for (int u = 0; u < byUpstream.length; u++) {
            byUpstream[u] = Arrays.copyOfRange(flat, u * Stat.values().length, (u + 1) * Stat.values().length);
        }
        return byUpstream;
    }

    /** A plain (not per-CPU) array map of __u64, whole. */
    private static long[] plainArray(BpfMap map, int slots) {
        long[] v = new long[slots];
        map.forEachChunk((keys, values, count) -> {
            for (int i = 0; i < count; i++) {
                int slot = keys.get(ValueLayout.JAVA_INT_UNALIGNED, 4L * i);
                if (slot < slots) {
                    v[slot] = values.get(ValueLayout.JAVA_LONG_UNALIGNED, 8L * i);
                }
            }
        });
        return v;
    }

    private LogLinearHistogram[][] histograms() {
        int buckets = LogLinearHistogram.BUCKETS;
        long[] flat = plainArray(context.map("upstream_hist"), MAX_UPSTREAMS * Hist.values().length * buckets);
        LogLinearHistogram[][] h = new LogLinearHistogram[upstreams.size()][Hist.values().length];
        for (int u = 0; u < h.length; u++) {
            for (int k = 0; k < Hist.values().length; k++) {
                LogLinearHistogram one = new LogLinearHistogram();
                int base = (u * Hist.values().length + k) * buckets;
                for (int b = 0; b < buckets; b++) {
                    if (flat[base + b] != 0) {
                        one.addBucket(b, flat[base + b]);
                    }
                }
                one.summarizeFromBuckets();
                h[u][k] = one;
            }
        }
        return h;
    }

    /** Every second: judges each upstream again; a change of state is an alert. */
    @Override
    public synchronized void drain() {
        if (context == null || upstreams.isEmpty()) {
            return;
        }
        long now = System.nanoTime();
        if (now - lastJudged < MIN_PERIOD_NANOS) {
            return; // a reading right after the last (an interval's and a drain's): nothing new to judge
        }
        lastJudged = now;
        long[][] s = stats();
        LogLinearHistogram[][] h = histograms();
        for (int u = 0; u < upstreams.size(); u++) {
            long[] v = s[u];
            UpstreamHealth.Verdict verdict = health[u].judge(new UpstreamHealth.Sample(now,
                    v[Stat.REFUSED.ordinal()], v[Stat.TIMED_OUT.ordinal()], v[Stat.UNREACHABLE.ordinal()],
                    v[Stat.ABANDONED.ordinal()], v[Stat.OTHER_ERROR.ordinal()], v[Stat.FAILED_IN_A_ROW.ordinal()],
                    v[Stat.SEGS_SENT.ordinal()], v[Stat.SEGS_RETRANSMITTED.ordinal()], h[u][Hist.HANDSHAKE.ordinal()]),
                    rules);
            UpstreamHealth.Verdict before = verdicts[u];
            verdicts[u] = verdict;
            if (verdict.state() != before.state()) {
                Alert.State episode = before.state() == UpstreamHealth.State.HEALTHY ? Alert.State.START
                        : verdict.state() == UpstreamHealth.State.HEALTHY ? Alert.State.END : Alert.State.UPDATE;
                context.alert(alert(upstreams.get(u), before, verdict, episode));
            }
        }
    }

    private static Alert alert(Upstream u, UpstreamHealth.Verdict before, UpstreamHealth.Verdict now, Alert.State state) {
        String headline = "upstream " + u.name() + " (" + u.spec() + ") " + now.state().label()
                + (now.reasons().isEmpty() ? " again" : ": " + String.join("; ", now.reasons()));
        Upstream.Target first = u.targets().getFirst();
        return new Alert("upstream", "upstream " + u.name(), state, Instant.now(), first.toString(),
                first.ipv6() ? "ipv6" : "ipv4", headline, List.of(new Cell.Text("upstream", u.name()),
                        new Cell.Text("health", now.state().label()), new Cell.Text("was", before.state().label()),
                        new Cell.Text("reasons", String.join("; ", now.reasons()))));
    }

    @Override
    public synchronized Snapshot snapshot(boolean withTables) {
        List<Metric> metrics = new ArrayList<>();
        if (upstreams.isEmpty()) {
            return new Snapshot(name(), metrics);
        }
        drain(); // the health is judged every second, whether a drain or a reading comes first
        long[][] s = stats();
        LogLinearHistogram[][] h = histograms();
        metrics.add(new CounterMap(ATTEMPTED, byUpstream(s, Stat.CONNECTS)));
        RESULTS.forEach((stat, desc) -> metrics.add(new CounterMap(desc, byUpstream(s, stat))));
        metrics.add(new CounterMap(RETRANSMITTED, byUpstream(s, Stat.RETRANSMITS)));
        metrics.add(new CounterMap(RESETS_RECEIVED, byUpstream(s, Stat.RESETS_RECEIVED)));
        metrics.add(new CounterMap(RESETS_SENT, byUpstream(s, Stat.RESETS_SENT)));
        metrics.add(new CounterMap(ENDED_DESC, byUpstream(s, Stat.ENDED)));
        metrics.add(new CounterMap(BYTES_SENT, byUpstream(s, Stat.BYTES_SENT)));
        metrics.add(new CounterMap(BYTES_RECEIVED, byUpstream(s, Stat.BYTES_RECEIVED)));
        metrics.add(new CounterMap(SEGS_SENT, byUpstream(s, Stat.SEGS_SENT)));
        metrics.add(new CounterMap(SEGS_RETRANSMITTED, byUpstream(s, Stat.SEGS_RETRANSMITTED)));
        metrics.add(new CounterMap(ZERO_WINDOWS_SENT, byUpstream(s, Stat.ZERO_WINDOWS_SENT)));
        metrics.add(new CounterMap(ZERO_WINDOWS_RECEIVED, byUpstream(s, Stat.ZERO_WINDOWS_RECEIVED)));
        metrics.add(new Metric.Counter(SOCKETS_UNTRACKED, Arrays.stream(s).mapToLong(v -> v[Stat.SOCKETS_UNTRACKED.ordinal()])
                .sum()));
        Map<String, LogLinearHistogram> handshakes = new LinkedHashMap<>();
        Map<String, LogLinearHistogram> rtts = new LinkedHashMap<>();
        for (int u = 0; u < upstreams.size(); u++) {
            handshakes.put(upstreams.get(u).name(), h[u][Hist.HANDSHAKE.ordinal()]);
            rtts.put(upstreams.get(u).name(), h[u][Hist.RTT.ordinal()]);
        }
        metrics.add(new Metric.DistributionMap(HANDSHAKE_MS, handshakes));
        metrics.add(new Metric.DistributionMap(RTT_MS, rtts));
        List<Metric.Row> rows = new ArrayList<>();
        for (int u = 0; u < upstreams.size(); u++) {
            Upstream up = upstreams.get(u);
            UpstreamHealth.Verdict v = verdicts[u];
            metrics.add(new Metric.Gauge(Desc.of("upstream_health." + up.name(), "upstream " + up.name() + " health",
                    "0 healthy, 1 degraded, 2 unhealthy").role(Role.HIDDEN).metric(HEALTH, "upstream", up.name()),
                    v.state().ordinal()));
            long[] c = s[u];
            long failed = c[Stat.REFUSED.ordinal()] + c[Stat.TIMED_OUT.ordinal()] + c[Stat.UNREACHABLE.ordinal()]
                    + c[Stat.ABANDONED.ordinal()] + c[Stat.OTHER_ERROR.ordinal()];
            LogLinearHistogram hs = h[u][Hist.HANDSHAKE.ordinal()];
            LogLinearHistogram rtt = h[u][Hist.RTT.ordinal()];
            rows.add(new Metric.Row(List.of(new Cell.Text("upstream", up.name()), new Cell.Text("target", up.spec()),
                    new Cell.Text("health", v.state().label()), new Cell.Count("connects", c[Stat.CONNECTS.ordinal()]),
                    new Cell.Count("failed", failed), new Cell.Count("failed_in_a_row", c[Stat.FAILED_IN_A_ROW.ordinal()]),
                    new Cell.Decimal("handshake_p99_ms", hs.count() == 0 ? 0 : Math.round(hs.percentile(0.99)) / 1000.0),
                    new Cell.Decimal("rtt_ms", c[Stat.ENDED.ordinal()] == 0 || rtt.count() == 0 ? 0
                            : Math.round((double) c[Stat.RTT_US.ordinal()] / rtt.count()) / 1000.0),
                    new Cell.Count("retransmits", c[Stat.RETRANSMITS.ordinal()]),
                    new Cell.Count("zero_windows_sent", c[Stat.ZERO_WINDOWS_SENT.ordinal()]),
                    new Cell.Count("zero_windows_received", c[Stat.ZERO_WINDOWS_RECEIVED.ordinal()]),
                    new Cell.Text("reasons", String.join("; ", v.reasons())))));
        }
        metrics.add(new Metric.Table(TABLE, "Upstreams", "", rows));
        return new Snapshot(name(), metrics);
    }

    private Map<String, Long> byUpstream(long[][] s, Stat stat) {
        Map<String, Long> m = new LinkedHashMap<>();
        for (int u = 0; u < upstreams.size(); u++) {
            m.put(upstreams.get(u).name(), s[u][stat.ordinal()]);
        }
        return m;
    }

    /** For tests: each upstream's health now, by name. */
    public synchronized Map<String, String> health() {
        Map<String, String> m = new LinkedHashMap<>();
        for (int u = 0; u < upstreams.size(); u++) {
            m.put(upstreams.get(u).name(), verdicts == null ? "healthy" : verdicts[u].state().label()
                    + (verdicts[u].reasons().isEmpty() ? "" : ": " + String.join("; ", verdicts[u].reasons())));
        }
        return m;
    }

    /** Each upstream's counters by result name (as in the metrics), for tests and tools. */
    public synchronized Map<String, Map<String, Long>> counts() {
        long[][] s = stats();
        Map<String, Map<String, Long>> m = new LinkedHashMap<>();
        for (int u = 0; u < upstreams.size(); u++) {
            Map<String, Long> one = new LinkedHashMap<>();
            for (Stat stat : Stat.values()) {
                one.put(stat.name().toLowerCase(java.util.Locale.ROOT), s[u][stat.ordinal()]);
            }
            m.put(upstreams.get(u).name(), one);
        }
        return m;
    }

    /** Each upstream's handshake latency histogram (microseconds). */
    public synchronized Map<String, LogLinearHistogram> handshakes() {
        LogLinearHistogram[][] h = histograms();
        Map<String, LogLinearHistogram> m = new LinkedHashMap<>();
        for (int u = 0; u < upstreams.size(); u++) {
            m.put(upstreams.get(u).name(), h[u][Hist.HANDSHAKE.ordinal()]);
        }
        return m;
    }
}
