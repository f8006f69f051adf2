package dev.tcpinspect.probe.upstream;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
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
 * resets, bytes, zero windows, stalled streams ({@link StreamStalls}); and a health state (healthy,
 * degraded, unhealthy) with its reasons, judged every second ({@link UpstreamHealth}), whose changes
 * are alerts of type "upstream".
 */
public final class UpstreamProbe implements Probe {
    /** UPSTREAM_MAX and UPSTREAM_TARGETS_MAX in bpf/probes/upstream.h. */
    static final int MAX_UPSTREAMS = 16;
    static final int MAX_TARGETS = 64;
    /** The longest health window: a reading a second is kept over it. */
    static final long MAX_WINDOW_SECONDS = 600;
    /** The longest stall time (upstream.stall). */
    static final long MAX_STALL_SECONDS = 3600;
    /** upstream_socks: 1 << UP_SOCK_SET_BITS sets of SLOT_WAYS ways (tag, stamp); upstream_streams: one entry per way. */
    static final int SOCK_SETS = 1024;
    static final int SOCK_WAYS = 4;
    /** The stamp's upstream + 1 (UP_SOCK_UPSTREAM). */
    private static final long STAMP_UPSTREAM = 0xff;

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

    /** struct upstream_stream: when data last moved each way on a connection to an upstream. */
    static final StructLayout STREAM = MemoryLayout.structLayout(
            JAVA_INT.withName("received_ms"),
            JAVA_INT.withName("sent_ms"),
            JAVA_INT.withName("received_end"),
            JAVA_INT.withName("sent_end"),
            JAVA_INT.withName("received_bytes"),
            JAVA_SHORT.withName("arrivals"),
            JAVA_BYTE.withName("fin"),
            JAVA_BYTE.withName("pad")).withName("upstream_stream");
    private static final long STREAM_RECEIVED_MS = STREAM.byteOffset(MemoryLayout.PathElement.groupElement("received_ms"));
    private static final long STREAM_SENT_MS = STREAM.byteOffset(MemoryLayout.PathElement.groupElement("sent_ms"));
    private static final long STREAM_RECEIVED_BYTES = STREAM.byteOffset(
            MemoryLayout.PathElement.groupElement("received_bytes"));
    private static final long STREAM_ARRIVALS = STREAM.byteOffset(MemoryLayout.PathElement.groupElement("arrivals"));
    private static final long STREAM_FIN = STREAM.byteOffset(MemoryLayout.PathElement.groupElement("fin"));

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
    private static final Export.Family STALLED = new Export.Family("upstream_stalled_streams",
            "Connections to each upstream stalled now: waiting for data that has not come for upstream.stall seconds");
    private static final Export.Family STALLS = new Export.Family("upstream_stalls",
            "Stalls that began on connections to each upstream (a connection that stalls again after data moved counts again)");
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
    private static final Desc STALLS_BEGUN = Desc.of("upstream_stalls", "stalls on upstreams",
            "Stalls that began on connections to each upstream: data expected, none for upstream.stall seconds")
            .metricByKey(STALLS, "upstream");
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
    private StreamStalls stalls;
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
        // the packet hooks for the zero windows and the data's timing: no TCP tracepoint shows what is sent or
        // when data arrives without a per-segment cost of its own
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
                        + " window's handshake p99 must exceed (and by 5 ms) to make it degraded"),
                new Setting("stall", Long.toString(d.stallSeconds()), "seconds a connection waits for data that does"
                        + " not come (an answer to its request, or a stream's next event) before it is stalled and its"
                        + " upstream degraded"));
    }

    @Override
    public void set(String key, String value) {
        if (key.equals("add")) { // NAME=TARGET: what watch --upstream passes, one upstream at a time
            add(Upstream.parse(value));
            return;
        }
        UpstreamHealth.Rules r = rules;
        rules = switch (key) {
            case "failures" -> new UpstreamHealth.Rules(Setting.positive(name(), key, value, 1_000_000),
                    r.retransmitPercent(), r.windowSeconds(), r.minSegments(), r.handshakeFactor(), r.stallSeconds());
            case "retransmit_percent" -> new UpstreamHealth.Rules(r.failures(), Setting.positive(name(), key, value, 100),
                    r.windowSeconds(), r.minSegments(), r.handshakeFactor(), r.stallSeconds());
            case "window" -> new UpstreamHealth.Rules(r.failures(), r.retransmitPercent(),
                    Setting.positive(name(), key, value, MAX_WINDOW_SECONDS), r.minSegments(), r.handshakeFactor(),
                    r.stallSeconds());
            case "handshake_factor" -> new UpstreamHealth.Rules(r.failures(), r.retransmitPercent(), r.windowSeconds(),
                    r.minSegments(), Setting.positive(name(), key, value, 1000), r.stallSeconds());
            case "stall" -> new UpstreamHealth.Rules(r.failures(), r.retransmitPercent(), r.windowSeconds(),
                    r.minSegments(), r.handshakeFactor(), Setting.positive(name(), key, value, MAX_STALL_SECONDS));
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
        return List.of(TARGET, STREAM);
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
        // the ports the packet hooks look further at: the targets', or every port if one has none
        long[] ports = new long[65536 / 64];
        for (Upstream u : upstreams) {
            for (Upstream.Target t : u.targets()) {
                if (t.port() == 0) {
                    Arrays.fill(ports, -1L);
                } else {
                    ports[t.port() >>> 6] |= 1L << (t.port() & 63);
                }
            }
        }
        object.setConstant("upstream_ports", MemorySegment.ofArray(ports).toArray(JAVA_BYTE));
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
        stalls = new StreamStalls(upstreams.size());
        lastJudged = System.nanoTime() - MIN_PERIOD_NANOS;
    }

    /**
     * Reads every connection to an upstream in upstream_socks and its figures in upstream_streams
     * (two batch reads of fixed arrays) and judges which are stalled.
     */
    private void readStalls(long nowNanos) {
        long[] tags = new long[SOCK_SETS * SOCK_WAYS];
        int[] ups = new int[SOCK_SETS * SOCK_WAYS];
        context.map("upstream_socks").forEachChunk((keys, values, count) -> {
            for (int i = 0; i < count; i++) {
                int set = keys.get(ValueLayout.JAVA_INT_UNALIGNED, 4L * i);
                for (int w = 0; w < SOCK_WAYS && set < SOCK_SETS; w++) {
                    long at = (long) i * 16 * SOCK_WAYS + 16L * w;
                    tags[set * SOCK_WAYS + w] = values.get(ValueLayout.JAVA_LONG_UNALIGNED, at);
                    ups[set * SOCK_WAYS + w] = (int) (values.get(ValueLayout.JAVA_LONG_UNALIGNED, at + 8) & STAMP_UPSTREAM) - 1;
                }
            }
        });
        long nowMs = nowNanos / 1_000_000L; // CLOCK_MONOTONIC, as the kernel's coarse clock reads it
        long stallMs = rules.stallSeconds() * 1000;
        int n = upstreams.size();
        stalls.start();
        context.map("upstream_streams").forEachChunk((keys, values, count) -> {
            long size = STREAM.byteSize();
            for (int i = 0; i < count; i++) {
                int way = keys.get(ValueLayout.JAVA_INT_UNALIGNED, 4L * i);
                if (way >= tags.length || tags[way] == 0 || ups[way] < 0 || ups[way] >= n) {
                    continue;
                }
                long at = size * i;
                stalls.connection(ups[way], tags[way], values.get(ValueLayout.JAVA_INT_UNALIGNED, at + STREAM_RECEIVED_MS),
                        values.get(ValueLayout.JAVA_INT_UNALIGNED, at + STREAM_SENT_MS),
                        Short.toUnsignedInt(values.get(ValueLayout.JAVA_SHORT_UNALIGNED, at + STREAM_ARRIVALS)),
                        Integer.toUnsignedLong(values.get(ValueLayout.JAVA_INT_UNALIGNED, at + STREAM_RECEIVED_BYTES)),
                        values.get(JAVA_BYTE, at + STREAM_FIN) != 0, nowMs, stallMs);
            }
        });
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
        readStalls(now);
        long[][] s = stats();
        LogLinearHistogram[][] h = histograms();
        for (int u = 0; u < upstreams.size(); u++) {
            long[] v = s[u];
            UpstreamHealth.Verdict verdict = health[u].judge(new UpstreamHealth.Sample(now,
                    v[Stat.REFUSED.ordinal()], v[Stat.TIMED_OUT.ordinal()], v[Stat.UNREACHABLE.ordinal()],
                    v[Stat.ABANDONED.ordinal()], v[Stat.OTHER_ERROR.ordinal()], v[Stat.FAILED_IN_A_ROW.ordinal()],
                    v[Stat.SEGS_SENT.ordinal()], v[Stat.SEGS_RETRANSMITTED.ordinal()], h[u][Hist.HANDSHAKE.ordinal()],
                    stalls.stalled(u), stalls.longestMs(u)), rules);
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
        Map<String, Long> begun = new LinkedHashMap<>();
        for (int u = 0; u < upstreams.size(); u++) {
            begun.put(upstreams.get(u).name(), stalls.begun(u));
        }
        metrics.add(new CounterMap(STALLS_BEGUN, begun));
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
            metrics.add(new Metric.Gauge(Desc.of("upstream_stalled." + up.name(), "upstream " + up.name()
                    + " streams stalled", "Connections to the upstream stalled now").role(Role.HIDDEN)
                    .metric(STALLED, "upstream", up.name()), stalls.stalled(u)));
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
                    new Cell.Decimal("rttvar_ms", c[Stat.ENDED.ordinal()] == 0 || rtt.count() == 0 ? 0
                            : Math.round((double) c[Stat.RTTVAR_US.ordinal()] / rtt.count()) / 1000.0),
                    new Cell.Count("retransmits", c[Stat.RETRANSMITS.ordinal()]),
                    new Cell.Decimal("retransmits_per_mb", retransmitsPerMegabyte(c)),
                    new Cell.Count("zero_windows_sent", c[Stat.ZERO_WINDOWS_SENT.ordinal()]),
                    new Cell.Count("zero_windows_received", c[Stat.ZERO_WINDOWS_RECEIVED.ordinal()]),
                    new Cell.Count("stalled", stalls.stalled(u)),
                    new Cell.Text("reasons", String.join("; ", v.reasons())))));
        }
        metrics.add(new Metric.Table(TABLE, "Upstreams", "", rows));
        return new Snapshot(name(), metrics);
    }

    /** Segments retransmitted per MB sent (10^6 bytes acknowledged), of the connections that ended; 0 before one did. */
    static double retransmitsPerMegabyte(long[] c) {
        long bytes = c[Stat.BYTES_SENT.ordinal()];
        return bytes == 0 ? 0 : Math.round(c[Stat.SEGS_RETRANSMITTED.ordinal()] * 1e8 / bytes) / 100.0;
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
