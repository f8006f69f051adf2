package dev.tcpinspect.probe.handshake;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import dev.tcpinspect.probe.EventType;
import dev.tcpinspect.probe.FlowTable;
import dev.tcpinspect.probe.Hook;
import dev.tcpinspect.probe.Probe;
import dev.tcpinspect.probe.ProbeContext;
import dev.tcpinspect.probe.ProbeSet;
import dev.tcpinspect.snapshot.Desc;
import dev.tcpinspect.snapshot.Export;
import dev.tcpinspect.snapshot.Desc.Role;
import dev.tcpinspect.snapshot.EventFields;
import dev.tcpinspect.snapshot.LogLinearHistogram;
import dev.tcpinspect.snapshot.Metric;
import dev.tcpinspect.snapshot.Metric.Counter;
import dev.tcpinspect.snapshot.Snapshot;
import java.io.IOException;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * handshake (bpf/probes/handshake.h): handshake latency. Accepted connections from the first SYN
 * seen at the ingress hook of the watched interfaces to ESTABLISHED, connections made from here from
 * SYN_SENT to ESTABLISHED; log-linear histograms overall and per port.
 */
public final class HandshakeProbe implements Probe {
    /** enum hs_kind, in value order. */
    enum Kind { PASSIVE, ACTIVE }

    /** enum hs_stat, in value order. */
    enum Stat { PASSIVE_UNMATCHED, EVENTS_LOST, PORTS_FULL, SYNS_RACED }

    /** struct hs_port_key: a port (local for accepted connections, remote for outgoing ones), kind and bucket. */
    static final StructLayout PORT_KEY = MemoryLayout.structLayout(
            JAVA_SHORT.withName("port"),
            JAVA_BYTE.withName("kind"),
            JAVA_BYTE.withName("pad"),
            JAVA_INT.withName("bucket")).withName("hs_port_key");

    /** struct hist_summary (bpf/lib/hist.h): exact count, sum, min and max beside the buckets. */
    static final StructLayout HIST_SUMMARY = MemoryLayout.structLayout(
            JAVA_LONG.withName("count"), JAVA_LONG.withName("sum"), JAVA_LONG.withName("min"),
            JAVA_LONG.withName("max")).withName("hist_summary");

    private static final Export.Family DURATION = new Export.Family("handshake_duration_seconds",
            "Handshake latency by direction: passive (first SYN seen to ESTABLISHED) or active (SYN_SENT to ESTABLISHED)");
    private static final Export.Family BY_PORT_FAMILY = new Export.Family("handshake_duration_by_port_seconds",
            "Accepted connections' handshake latency by local port (the configured ports; the rest under port=\"other\")");
    private static final Desc PASSIVE = Desc.of("handshake_ms.passive", "handshake, accepted",
            "Accepted connections' handshake latency: first SYN seen on a watched interface to ESTABLISHED")
            .column("HS-P50-MS", 10, Desc.Column.Cell.P50_MS_1)
            .metric(DURATION, "direction", "passive");
    private static final Desc ACTIVE = Desc.of("handshake_ms.active", "handshake, made from here",
            "Handshake latency of connections made from here: SYN_SENT to ESTABLISHED")
            .metric(DURATION, "direction", "active");
    private static final Desc UNMATCHED = Desc.of("handshake_detail.passive_unmatched",
            "accepted connections had no SYN on a watched interface (not measured)",
            "Accepted connections whose SYN no watched interface saw, or whose SYN's record was pushed out of the"
                    + " per-flow table (more incoming flows at once than it holds) or, rarely, taken by another CPU's"
                    + " new flow at the same instant (also counted in syns_raced), so their latency is not measured")
            .role(Role.NOTE);
    private static final Desc SYNS_RACED = Desc.of("handshake_detail.syns_raced",
            "first SYNs left without a record by another CPU's new flow",
            "First SYNs that found their way in the per-flow table taken by another CPU's new flow at the same"
                    + " instant (the table takes no lock; a compare-and-swap tells the loser), so their handshake"
                    + " counts as unmatched").role(Role.NOT_SHOWN);
    private static final Desc EVENTS_LOST = Desc.of("handshake_detail.events_lost", "events lost (ring buffer full)",
            "Handshakes the ring buffer had no room for (still in the histograms)").role(Role.NOT_SHOWN)
            .metric(Export.Family.EVENTS_LOST, "probe", "handshake");
    private static final Desc PORTS_UNTRACKED = Desc.of("handshake_detail.ports_untracked",
            "handshakes the per-port table had no room for",
            "Handshakes not counted per port (still in the overall histograms)").role(Role.NOT_SHOWN)
            .metric(Export.Family.UNTRACKED, "probe", "handshake", "table", "ports");
    private static final Desc BY_PORT = Desc.of("handshake_ms_by_port", "handshakes by local port",
            "Accepted connections' handshake latency per local port")
            .metricByKey(BY_PORT_FAMILY, "port");

    private final EventType<HandshakeEvent> events =
            new EventType<>("handshake", "handshake_events", HandshakeEvent::new, HandshakeProbe::write);
    private ProbeContext context;
    private FlowTable ports;

    @Override
    public String name() {
        return "handshake";
    }

    @Override
    public String help() {
        return "handshake latency: accepted connections from their first SYN at the ingress hook (a lost and"
                + " retried SYN counts from the first) to ESTABLISHED, others from SYN_SENT; percentiles overall"
                + " and per local port";
    }

    @Override
    public Set<Hook> hooks() {
        return Set.of(Hook.INGRESS, Hook.EGRESS, Hook.STATE_CHANGE); // egress: the RSTs that end a handshake early
    }

    /** The ingress hook's per-flow records (bpf/lib/ingressflows.h), shared by handshake and dupack. */
    @Override
    public Set<String> sharedMaps() {
        return Set.of("shared_ingress_flows", "shared_young_flows");
    }

    @Override
    public List<StructLayout> sharedStructs() {
        return List.of(HandshakeEvent.LAYOUT, PORT_KEY, HIST_SUMMARY);
    }

    @Override
    public Map<String, List<String>> sharedEnums() {
        return Map.of("hs_kind", List.of("HS_PASSIVE", "HS_ACTIVE"),
                "hs_stat", java.util.Arrays.stream(Stat.values()).map(s -> "HS_STAT_" + s.name()).toList());
    }

    @Override
    public void bind(ProbeContext context) {
        this.context = context;
        this.ports = context.slotTable("handshake_ports", PORT_KEY.byteSize(), 8, FlowTable.sumOfLongs(1),
                count -> count.get(ValueLayout.JAVA_LONG_UNALIGNED, 0));
    }

    @Override
    public void drain() {
        ports.drain();
    }

    public HandshakeStats read() {
        ports.drain();
        LogLinearHistogram[] kinds = context.histograms("handshake_hist", "handshake_summary", Kind.values().length);
        long[] s = context.counters("handshake_stats", Stat.values().length);
        return new HandshakeStats(kinds[Kind.PASSIVE.ordinal()], kinds[Kind.ACTIVE.ordinal()],
                s[Stat.PASSIVE_UNMATCHED.ordinal()], s[Stat.EVENTS_LOST.ordinal()],
                s[Stat.PORTS_FULL.ordinal()] + ports.released(), s[Stat.SYNS_RACED.ordinal()]);
    }

    /** Per port histograms, ports ascending: accepted connections by local port (passive), outgoing ones by remote port. */
    public Map<Integer, LogLinearHistogram> byPort(boolean passive) {
        Map<Integer, LogLinearHistogram> byPort = new TreeMap<>();
        long portAt = PORT_KEY.byteOffset(MemoryLayout.PathElement.groupElement("port"));
        long kindAt = PORT_KEY.byteOffset(MemoryLayout.PathElement.groupElement("kind"));
        long bucketAt = PORT_KEY.byteOffset(MemoryLayout.PathElement.groupElement("bucket"));
        ports.top(Integer.MAX_VALUE, (MemorySegment key, MemorySegment value) -> {
            int kind = key.get(JAVA_BYTE, kindAt);
            if ((kind == Kind.PASSIVE.ordinal()) == passive) {
                int port = Short.toUnsignedInt(key.get(ValueLayout.JAVA_SHORT_UNALIGNED, portAt));
                byPort.computeIfAbsent(port, p -> new LogLinearHistogram())
                        .addBucket(key.get(ValueLayout.JAVA_INT_UNALIGNED, bucketAt),
                                value.get(ValueLayout.JAVA_LONG_UNALIGNED, 0));
            }
            return null;
        });
        byPort.values().forEach(LogLinearHistogram::summarizeFromBuckets);
        return byPort;
    }

    @Override
    public Snapshot snapshot(boolean withTables) {
        HandshakeStats hs = read();
        List<Metric> metrics = new ArrayList<>(List.of(new Metric.Distribution(PASSIVE, hs.passive()),
                new Metric.Distribution(ACTIVE, hs.active()), new Counter(UNMATCHED, hs.passiveUnmatched()),
                new Counter(EVENTS_LOST, hs.eventsLost()), new Counter(PORTS_UNTRACKED, hs.portsFull()),
                new Counter(SYNS_RACED, hs.synsRaced())));
        if (withTables) {
            Map<String, LogLinearHistogram> byPort = new LinkedHashMap<>();
            byPort(true).forEach((port, h) -> byPort.put(Integer.toString(port), h));
            if (!byPort.isEmpty()) {
                metrics.add(new Metric.DistributionMap(BY_PORT, byPort));
            }
        }
        return new Snapshot(name(), metrics);
    }

    @Override
    public Optional<EventType<?>> events() {
        return Optional.of(events);
    }

    public void onEvents(Consumer<HandshakeEvent> consumer) {
        context.subscribe(events, consumer);
    }

    /** The state-change handler's twin runs (bpf/lib/twin.h), for checking that they add up. */
    public ProbeSet.TwinRuns twinRuns() {
        return context.twinRuns(Hook.STATE_CHANGE);
    }

    private static void write(HandshakeEvent e, EventFields out) throws IOException {
        out.text("kind", e.passive() ? "passive" : "active");
        out.scaled("latency_ms", e.latencyMicros(), 3);
    }
}
