package dev.tcpinspect.probe.anomaly;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import dev.tcpinspect.probe.FlowView;
import dev.tcpinspect.probe.Hook;
import dev.tcpinspect.probe.Probe;
import dev.tcpinspect.probe.ProbeContext;
import dev.tcpinspect.snapshot.Addresses;
import dev.tcpinspect.snapshot.Alert;
import dev.tcpinspect.snapshot.Desc;
import dev.tcpinspect.snapshot.Export;
import dev.tcpinspect.snapshot.Desc.Role;
import dev.tcpinspect.snapshot.Flow;
import dev.tcpinspect.snapshot.Metric;
import dev.tcpinspect.snapshot.Metric.Cell;
import dev.tcpinspect.snapshot.Metric.Counter;
import dev.tcpinspect.snapshot.Metric.CounterMap;
import dev.tcpinspect.snapshot.Snapshot;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.time.Duration;
import java.time.Instant;

/**
 * anomaly (bpf/probes/anomaly.h): incoming segments with flag combinations no honest stack sends
 * (NULL, XMAS, SYN+FIN, ...) and impossible headers, by kind and by source, at the ingress hook.
 * Observation only: nothing is dropped.
 */
public final class AnomalyProbe implements Probe {
    /** enum anomaly_stat, in value order. */
    enum Stat { ACCECN_AE, ALERTS_LOST, SOURCES_NEW }

    /** struct anomaly_source: the per-source table's key. */
    static final StructLayout SOURCE = MemoryLayout.structLayout(
            MemoryLayout.sequenceLayout(16, JAVA_BYTE).withName("addr"),
            JAVA_SHORT.withName("family"),
            JAVA_BYTE.withName("kind"),
            JAVA_BYTE.withName("pad")).withName("anomaly_source");
    /** struct anomaly_source_stats: its value. */
    static final StructLayout SOURCE_STATS = MemoryLayout.structLayout(
            JAVA_LONG.withName("packets"), JAVA_LONG.withName("reported")).withName("anomaly_source_stats");
    private static final long FAMILY = SOURCE.byteOffset(MemoryLayout.PathElement.groupElement("family"));
    private static final long KIND = SOURCE.byteOffset(MemoryLayout.PathElement.groupElement("kind"));

    private static final int TOP_SOURCES_PER_KIND = 5;
    private static final Export.Family ANOMALY_KINDS = new Export.Family("anomalies",
            "Incoming segments no honest stack sends, by kind");
    private static final Desc ANOMALIES = Desc.of("anomalies", "anomalous segments in",
            "Incoming segments no honest stack sends, by kind (" + kinds() + ")")
            .role(Role.NOTE).column("ANOMAL", 6)
            .metricByKey(ANOMALY_KINDS, "kind");
    private static final Desc ACCECN_AE = Desc.of("anomaly_detail.accecn_ae", "segments with AccECN's AE bit",
            "Segments with AccECN's AE flag (RFC 9768): legitimate, counted apart from the anomalies").role(Role.HIDDEN);
    private static final Desc ALERTS_LOST = Desc.of("anomaly_detail.alerts_lost", "anomaly reports lost (ring buffer full)",
            "Anomaly reports the ring buffer had no room for (still in the counts)").role(Role.NOT_SHOWN)
            .metric(Export.Family.ALERTS_LOST, "probe", "anomaly");
    private static final Desc NOT_RAISED = Desc.of("anomaly_detail.alerts_not_raised",
            "anomaly alerts not raised (10,000 already under way)",
            "Sources and kinds that got no alert because 10,000 were already under way (still in the counts)")
            .role(Role.NOT_SHOWN);
    private static final Desc SOURCES_EVICTED = Desc.of("anomaly_detail.sources_evicted",
            "sources pushed out of the per-source table (more than it holds; their kinds are still counted)",
            "Source and kind entries the per-source table (8,192) pushed out for newer ones").role(Role.NOT_SHOWN)
            .metric(Export.Family.EVICTED, "probe", "anomaly");
    private static final Desc TOP = Desc.of("top_anomaly_sources", "Top sources of anomalous segments",
            "The five sources that sent the most anomalous segments of each kind");

    private ProbeContext context;
    private Duration quiet = Duration.ofSeconds(5);
    /** Alerts followed at once at most; a report beyond starts none (counted in anomaly_detail.alerts_not_raised). */
    static final int MAX_TRACKED = 10_000;
    private long notRaised;
    /** The (source, kind) pairs reported and not yet ended, by "address kind". */
    private final Map<String, Track> tracks = new LinkedHashMap<>();

    @Override
    public String name() {
        return "anomaly";
    }

    @Override
    public String help() {
        return "incoming segments no honest stack sends (NULL, XMAS, SYN+FIN, SYN+RST, RST+FIN, FIN without ACK,"
                + " URG with a zero pointer, SYN data without a Fast Open cookie, reserved bits, impossible headers),"
                + " by kind and source";
    }

    @Override
    public Set<Hook> hooks() {
        return Set.of(Hook.INGRESS);
    }

    @Override
    public List<StructLayout> sharedStructs() {
        return List.of(AnomalyEvent.LAYOUT, SOURCE, SOURCE_STATS);
    }

    @Override
    public Map<String, List<String>> sharedEnums() {
        return Map.of(
                "anomaly_kind", Arrays.stream(AnomalyKind.values()).map(k -> "ANOMALY_" + k.name()).toList(),
                "anomaly_stat", Arrays.stream(Stat.values()).map(s -> "ANOMALY_STAT_" + s.name()).toList(),
                "anomaly_report", List.of("ANOMALY_REPORT_FIRST", "ANOMALY_REPORT_AGAIN"));
    }

    @Override
    public void bind(ProbeContext context) {
        this.context = context;
        AnomalyEvent view = new AnomalyEvent(context.netns());
        context.subscribeAlerts("anomaly_alerts", (data, offset, length) -> {
            view.wrap(data, offset);
            reported(view);
        });
    }

    private long netns() {
        return context.netns();
    }

    /** Segments of each kind since the probe was loaded. */
    public Map<AnomalyKind, Long> counts() {
        long[] v = context.counters("anomaly_counts", AnomalyKind.values().length);
        Map<AnomalyKind, Long> counts = new LinkedHashMap<>();
        for (AnomalyKind k : AnomalyKind.values()) {
            counts.put(k, v[k.ordinal()]);
        }
        return counts;
    }

    /** The sources in the per-source table, most segments first. */
    public List<AnomalySource> sources() {
        List<AnomalySource> sources = new ArrayList<>();
        context.map("anomaly_sources").forEach((key, value) -> sources.add(new AnomalySource(
                address(key, key.get(ValueLayout.JAVA_SHORT_UNALIGNED, FAMILY)),
                AnomalyKind.of(key.get(ValueLayout.JAVA_BYTE, KIND)),
                value.get(ValueLayout.JAVA_LONG_UNALIGNED, 0))));
        sources.sort(Comparator.comparingLong(AnomalySource::packets).reversed());
        return sources;
    }

    private static InetAddress address(MemorySegment key, int family) {
        byte[] bytes = new byte[family == Flow.AF_INET6 ? 16 : 4];
        MemorySegment.copy(key, JAVA_BYTE, 0, bytes, 0, bytes.length);
        try {
            return InetAddress.getByAddress(bytes);
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public Snapshot snapshot(boolean withTables) {
        drain();
        Map<String, Long> byKind = new LinkedHashMap<>();
        counts().forEach((kind, n) -> {
            if (n > 0) {
                byKind.put(kind.label(), n);
            }
        });
        long[] stats = context.counters("anomaly_stats", Stat.values().length);
        List<Metric> metrics = new ArrayList<>(List.of(new CounterMap(ANOMALIES, byKind),
                new Counter(ACCECN_AE, stats[Stat.ACCECN_AE.ordinal()]),
                new Counter(ALERTS_LOST, stats[Stat.ALERTS_LOST.ordinal()]), new Counter(NOT_RAISED, notRaised())));
        if (withTables) {
            List<AnomalySource> sources = sources();
            metrics.add(new Counter(SOURCES_EVICTED, Math.max(0, stats[Stat.SOURCES_NEW.ordinal()] - sources.size())));
            List<Metric.Row> rows = new ArrayList<>();
            Map<AnomalyKind, Integer> perKind = new java.util.EnumMap<>(AnomalyKind.class);
            List<AnomalySource> top = new ArrayList<>();
            for (AnomalySource s : sources) { // most packets first: each kind's first few
                if (perKind.merge(s.kind(), 1, Integer::sum) <= TOP_SOURCES_PER_KIND) {
                    top.add(s);
                }
            }
            top.sort(Comparator.comparing(AnomalySource::kind).thenComparing(
                    Comparator.comparingLong(AnomalySource::packets).reversed()));
            for (AnomalySource s : top) {
                rows.add(Metric.Row.of(new Cell.Text("source", Addresses.format(s.address())),
                        new Cell.Text("kind", s.kind().label()), new Cell.Count("packets", s.packets())));
            }
            metrics.add(new Metric.Table(TOP, TOP.label(), "", rows));
        }
        return new Snapshot(name(), metrics);
    }

    /** One (source, kind) pair's alert as this side follows it. */
    private static final class Track {
        final String source;
        final String family;
        final byte[] address; // as the kernel keys it: 16 bytes, IPv4 in the first 4
        final AnomalyKind kind;
        final Instant first;
        Instant last;
        long packets;
        int port;
        String flags;
        long lastNanos = System.nanoTime();

        Track(String source, String family, byte[] address, AnomalyKind kind, Instant first) {
            this.source = source;
            this.family = family;
            this.address = address;
            this.kind = kind;
            this.first = first;
            this.last = first;
        }
    }

    /** A report from the kernel (reader thread): the first of a (source, kind) starts an alert, the others change it. */
    private synchronized void reported(AnomalyEvent e) {
        FlowView flow = e.flowView();
        byte[] address = new byte[16];
        String source = Addresses.format(address(address, flow.remoteAddress(address)));
        String key = source + " " + e.kind().label();
        Instant time = Instant.now().minusNanos(Math.max(0, System.nanoTime() - e.monotonicNanos()));
        Track t = tracks.get(key);
        Alert.State state = Alert.State.UPDATE;
        if (t == null) {
            if (tracks.size() >= MAX_TRACKED) {
                notRaised++; // a storm from random sources: counted, still in the kernel's counts
                return;
            }
            t = new Track(source, flow.ipv6() ? "ipv6" : "ipv4", address, e.kind(), time);
            tracks.put(key, t);
            state = Alert.State.START;
        }
        t.last = time;
        t.lastNanos = System.nanoTime();
        t.packets = e.packets();
        t.port = flow.lport();
        t.flags = flagNames(e.flags());
        context.alert(alert(t, state));
    }

    /** The kernel's count for a (source, kind) pair; 0 when its table let the pair go. */
    private long packets(Track t) {
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            MemorySegment key = arena.allocate(SOURCE);
            MemorySegment.copy(t.address, 0, key, JAVA_BYTE, 0, 16);
            key.set(ValueLayout.JAVA_SHORT_UNALIGNED, FAMILY, (short) (t.family.equals("ipv6") ? Flow.AF_INET6 : 2));
            key.set(JAVA_BYTE, KIND, (byte) t.kind.ordinal());
            MemorySegment value = arena.allocate(SOURCE_STATS);
            return context.map("anomaly_sources").lookup(key, value) ? value.get(ValueLayout.JAVA_LONG_UNALIGNED, 0) : 0;
        }
    }

    private static InetAddress address(byte[] bytes, int length) {
        try {
            return InetAddress.getByAddress(java.util.Arrays.copyOf(bytes, length));
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Alert alert(Track t, Alert.State state) {
        String headline = String.format("%s segments (%s) from %s to port %d: %,d %s", t.kind.label(), t.flags,
                t.source, t.port, t.packets, state == Alert.State.END ? "in all" : "so far");
        return new Alert("anomaly", "anomaly " + t.kind.label() + " " + t.source, state, state == Alert.State.END ? Instant.now() : t.last, t.source, t.family, headline,
                List.of(new Cell.Text("kind", t.kind.label()), new Cell.Text("flags", t.flags),
                        new Cell.Count("packets", t.packets), new Cell.Count("port", t.port),
                        new Cell.Text("first_seen", t.first.toString()), new Cell.Text("last_seen", t.last.toString())));
    }

    private synchronized long notRaised() {
        return notRaised;
    }

    /** Every second: the pairs quiet for the quiet time end, with their totals. */
    @Override
    public synchronized void drain() {
        long now = System.nanoTime();
        for (var it = tracks.values().iterator(); it.hasNext(); ) {
            Track t = it.next();
            if (now - t.lastNanos >= quiet.toNanos()) {
                it.remove();
                t.packets = Math.max(t.packets, packets(t)); // the segments between two reports too
                context.alert(alert(t, Alert.State.END));
            }
        }
    }

    @Override
    public List<dev.tcpinspect.probe.Setting> settings() {
        return List.of(new dev.tcpinspect.probe.Setting("quiet", "5",
                "seconds without a segment of a kind from a source that end its alert"));
    }

    @Override
    public void set(String key, String value) {
        if (!key.equals("quiet")) {
            Probe.super.set(key, value);
        }
        quiet = Duration.ofSeconds(dev.tcpinspect.probe.Setting.positive(name(), key, value,
                dev.tcpinspect.probe.Setting.MAX_SECONDS));
    }

    private static final String[] FLAG_NAMES = {"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR", "AE", "RES1",
        "RES2", "RES3"};

    /** A segment's flags as tcpdump users read them: "FIN,PSH,URG"; "none" for a NULL segment. */
    static String flagNames(int flags) {
        StringBuilder s = new StringBuilder();
        for (int bit = 0; bit < FLAG_NAMES.length; bit++) {
            if ((flags & (1 << bit)) != 0) {
                s.append(s.isEmpty() ? "" : ",").append(FLAG_NAMES[bit]);
            }
        }
        return s.isEmpty() ? "none" : s.toString();
    }

    private static String kinds() {
        return String.join(", ", Arrays.stream(AnomalyKind.values()).map(AnomalyKind::label).toList());
    }
}
