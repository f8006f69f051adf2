package dev.tcpinspect.probe.dupack;

import dev.tcpinspect.probe.EventType;
import dev.tcpinspect.probe.FlowTable;
import dev.tcpinspect.probe.Hook;
import dev.tcpinspect.probe.Probe;
import dev.tcpinspect.probe.ProbeContext;
import dev.tcpinspect.snapshot.Desc;
import dev.tcpinspect.snapshot.Export;
import dev.tcpinspect.snapshot.Desc.Role;
import dev.tcpinspect.snapshot.EventFields;
import dev.tcpinspect.snapshot.Flow;
import dev.tcpinspect.snapshot.Metric;
import dev.tcpinspect.snapshot.Metric.Cell;
import dev.tcpinspect.snapshot.Metric.Counter;
import dev.tcpinspect.snapshot.Snapshot;
import java.io.IOException;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;

/** dupack (bpf/probes/dupack.h): duplicate ACKs received, per flow, at the ingress hook of the watched interfaces. */
public final class DupAckProbe implements Probe {
    /** enum dupack_stat, in value order. */
    enum Stat { TOTAL, FLOWS_FULL, EVENTS_LOST, DETECTOR_EVICTED }

    private static final int TOP_FLOWS = 10;
    private static final Desc TOTAL = Desc.of("dupacks", "duplicate ACKs in",
            "Duplicate ACKs received (Wireshark's definition)").column("DUPACKS", 8);
    private static final Desc FLOWS_UNTRACKED = Desc.of("dupack_detail.flows_untracked",
            "dup ACKs of flows the flow table had no room for", "Dup ACKs counted in the total but under no flow")
            .role(Role.NOT_SHOWN)
            .metric(Export.Family.UNTRACKED, "probe", "dupack", "table", "flows");
    private static final Desc EVENTS_LOST = Desc.of("dupack_detail.events_lost", "events lost (ring buffer full)",
            "Dup ACKs the ring buffer had no room for (still in the counts)").role(Role.NOT_SHOWN)
            .metric(Export.Family.EVENTS_LOST, "probe", "dupack");
    private static final Desc EVICTIONS = Desc.of("dupack_detail.detector_evictions",
            "active flows pushed out of the detector (more flows at once than it holds; a dup ACK right after could be missed)",
            "Flows pushed out of the detector's table within a second of their last segment").role(Role.NOT_SHOWN)
            .metric(Export.Family.EVICTED, "probe", "dupack");
    private static final Desc TOP = Desc.of("top_dupack_flows", "Top flows by duplicate ACKs",
            "The flows with the most duplicate ACKs received");

    private final EventType<DupAckEvent> events =
            new EventType<>("dupack", "dupack_events", () -> new DupAckEvent(netns()), DupAckProbe::write);
    private ProbeContext context;
    private FlowTable flows;

    @Override
    public String name() {
        return "dupack";
    }

    @Override
    public String help() {
        return "duplicate ACKs received per flow at the ingress hook (Wireshark's definition)";
    }

    @Override
    public Set<Hook> hooks() {
        return Set.of(Hook.INGRESS);
    }

    /** The ingress hook's per-flow records (bpf/lib/ingressflows.h), shared by handshake and dupack. */
    @Override
    public Set<String> sharedMaps() {
        return Set.of("shared_ingress_flows", "shared_young_flows");
    }

    @Override
    public List<StructLayout> sharedStructs() {
        return List.of(DupAckEvent.LAYOUT, Flow.TUPLE_LAYOUT);
    }

    @Override
    public Map<String, List<String>> sharedEnums() {
        return Map.of("dupack_stat", java.util.Arrays.stream(Stat.values()).map(s -> "DUPACK_STAT_" + s.name()).toList());
    }

    @Override
    public void bind(ProbeContext context) {
        this.context = context;
        this.flows = context.flowTable("dupack", FlowTable.sumOfLongs(1),
                count -> count.get(ValueLayout.JAVA_LONG_UNALIGNED, 0));
    }

    private long netns() {
        return context.netns();
    }

    @Override
    public void drain() {
        flows.drain();
    }

    public DupAckCounts read() {
        flows.drain();
        long[] v = context.counters("dupack_stats", Stat.values().length);
        return new DupAckCounts(v[Stat.TOTAL.ordinal()], v[Stat.FLOWS_FULL.ordinal()] + flows.released(),
                v[Stat.EVENTS_LOST.ordinal()], v[Stat.DETECTOR_EVICTED.ordinal()]);
    }

    public List<FlowDupAcks> topFlows(int limit) {
        return flows.top(limit, (key, value) -> new FlowDupAcks(Flow.readTuple(key, 0, netns()),
                value.get(ValueLayout.JAVA_LONG_UNALIGNED, 0))).stream()
                .filter(f -> f.dupacks() > 0).toList();
    }

    @Override
    public Snapshot snapshot(boolean withTables) {
        DupAckCounts d = read();
        List<Metric> metrics = new ArrayList<>(List.of(new Counter(TOTAL, d.dupacks()),
                new Counter(FLOWS_UNTRACKED, d.flowsUntracked()), new Counter(EVENTS_LOST, d.eventsLost()),
                new Counter(EVICTIONS, d.detectorEvictions())));
        if (withTables) {
            List<Metric.Row> rows = new ArrayList<>();
            for (FlowDupAcks f : topFlows(TOP_FLOWS)) {
                rows.add(Metric.Row.of(new Cell.FlowCell(f.flow()), new Cell.Count("dupacks", f.dupacks())));
            }
            metrics.add(new Metric.Table(TOP, TOP.label(), "<-", rows));
        }
        return new Snapshot(name(), metrics);
    }

    @Override
    public Optional<EventType<?>> events() {
        return Optional.of(events);
    }

    /** Delivers dup ACKs on the set's reader thread; the event object is reused for every record. */
    public void onEvents(Consumer<DupAckEvent> consumer) {
        context.subscribe(events, consumer);
    }

    private static void write(DupAckEvent e, EventFields out) throws IOException {
        out.number("ack", e.ack());
        out.number("window", e.window());
    }
}
