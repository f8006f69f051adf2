package dev.tcpinspect.probe.retrans;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.tcpinspect.probe.EventType;
import dev.tcpinspect.probe.FlowTable;
import dev.tcpinspect.probe.Hook;
import dev.tcpinspect.probe.Probe;
import dev.tcpinspect.probe.ProbeContext;
import dev.tcpinspect.probe.TcpStates;
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
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;

/**
 * retrans (bpf/probes/retrans.h): retransmissions from tcp:tcp_retransmit_skb and
 * tcp:tcp_retransmit_synack: totals, per-flow counts and an event per retransmit.
 */
public final class RetransProbe implements Probe {
    /** enum retrans_kind, in value order. */
    enum Kind { DATA, SYNACK }

    /** enum retrans_stat, in value order. */
    enum Stat { DATA, SYNACK, EVENTS_LOST, FLOWS_FULL }

    /** struct retrans_counts: a flow's retransmits of each kind. */
    static final StructLayout COUNTS = MemoryLayout.structLayout(JAVA_LONG.withName("data"), JAVA_LONG.withName("synack"))
            .withName("retrans_counts");

    private static final int TOP_FLOWS = 10;
    private static final Export.Family RETRANSMITS = new Export.Family("retransmits",
            "Retransmitted segments, SYN-ACKs included (as node_exporter's Tcp_RetransSegs, for the watched namespaces)");
    private static final Export.Family BY_KIND = new Export.Family("retransmits_by_kind",
            "Retransmitted segments by kind: data (data, SYN and FIN) or synack");
    private static final Desc TOTAL = Desc.of("retransmits", "retransmits", "Retransmitted segments, SYN-ACKs included")
            .column("RETRANS", 8)
            .metric(RETRANSMITS);
    private static final Desc DATA = Desc.of("retransmit_detail.data", "data",
            "Retransmissions of data, SYN and FIN (tcp:tcp_retransmit_skb)").role(Role.PART)
            .metric(BY_KIND, "kind", "data");
    private static final Desc SYNACK = Desc.of("retransmit_detail.synack", "SYN-ACK",
            "SYN-ACK retransmissions (tcp:tcp_retransmit_synack)").role(Role.PART)
            .metric(BY_KIND, "kind", "synack");
    private static final Desc EVENTS_LOST = Desc.of("retransmit_detail.events_lost", "events lost (ring buffer full)",
            "Retransmits the ring buffer had no room for (still in the counts)").role(Role.NOT_SHOWN)
            .metric(Export.Family.EVENTS_LOST, "probe", "retrans");
    private static final Desc FLOWS_UNTRACKED = Desc.of("retransmit_detail.flows_untracked",
            "retransmits of flows the flow table had no room for",
            "Retransmits counted in the totals but under no flow").role(Role.NOT_SHOWN)
            .metric(Export.Family.UNTRACKED, "probe", "retrans", "table", "flows");
    private static final Desc TOP = Desc.of("top_retransmit_flows", "Top flows by retransmits",
            "The flows with the most retransmits");

    private final EventType<RetransmitEvent> events =
            new EventType<>("retransmit", "retrans_events", RetransmitEvent::new, RetransProbe::write);
    private ProbeContext context;
    private FlowTable flows;

    /** The probe's name, as --probe takes it. */
    public static final String NAME = "retrans";

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public String help() {
        return "retransmissions (tcp:tcp_retransmit_skb and tcp_retransmit_synack) per flow, with an event per"
                + " retransmit in JSON";
    }

    @Override
    public Set<Hook> hooks() {
        return Set.of(Hook.RETRANSMIT, Hook.RETRANSMIT_SYNACK);
    }

    @Override
    public List<StructLayout> sharedStructs() {
        return List.of(RetransmitEvent.LAYOUT, COUNTS);
    }

    @Override
    public Map<String, List<String>> sharedEnums() {
        return Map.of("retrans_kind", List.of("RETRANS_KIND_DATA", "RETRANS_KIND_SYNACK"),
                "retrans_stat", java.util.Arrays.stream(Stat.values()).map(s -> "RETRANS_STAT_" + s.name()).toList());
    }

    @Override
    public void bind(ProbeContext context) {
        this.context = context;
        this.flows = context.flowTable("retrans", FlowTable.sumOfLongs(2), RetransProbe::retransmits);
    }

    /** A flow's retransmits (struct retrans_counts: data, synack). */
    private static long retransmits(MemorySegment counts) {
        return counts.get(ValueLayout.JAVA_LONG_UNALIGNED, 0) + counts.get(ValueLayout.JAVA_LONG_UNALIGNED, 8);
    }

    @Override
    public void drain() {
        flows.drain();
    }

    public RetransCounts read() {
        flows.drain();
        long[] v = context.counters("retrans_stats", Stat.values().length);
        return new RetransCounts(v[Stat.DATA.ordinal()], v[Stat.SYNACK.ordinal()], v[Stat.EVENTS_LOST.ordinal()],
                v[Stat.FLOWS_FULL.ordinal()] + flows.released());
    }

    /** The flows with the most retransmits, most first. */
    public List<FlowRetransmits> topFlows(int limit) {
        return flows.top(limit, (key, value) -> new FlowRetransmits(Flow.read(key, 0),
                value.get(ValueLayout.JAVA_LONG_UNALIGNED, 0), value.get(ValueLayout.JAVA_LONG_UNALIGNED, 8)));
    }

    @Override
    public Snapshot snapshot(boolean withTables) {
        return snapshotOf(read(), withTables ? topFlows(TOP_FLOWS) : null);
    }

    /** Counts and top flows (null: none, an interval) as a snapshot (what outputs render). */
    public static Snapshot snapshotOf(RetransCounts r, List<FlowRetransmits> top) {
        List<Metric> metrics = new ArrayList<>(List.of(new Counter(TOTAL, r.total()), new Counter(DATA, r.data()),
                new Counter(SYNACK, r.synack()), new Counter(EVENTS_LOST, r.eventsLost()),
                new Counter(FLOWS_UNTRACKED, r.flowsFull())));
        if (top != null) {
            List<Metric.Row> rows = new ArrayList<>();
            for (FlowRetransmits f : top) {
                rows.add(Metric.Row.of(new Cell.FlowCell(f.flow()), new Cell.Count("retransmits", f.total()),
                        new Cell.Count("synack", f.synack())));
            }
            metrics.add(new Metric.Table(TOP, TOP.label(), "->", rows));
        }
        return new Snapshot(NAME, metrics);
    }

    @Override
    public Optional<EventType<?>> events() {
        return Optional.of(events);
    }

    /**
     * Delivers retransmits on the set's reader thread. The event object is reused for every record:
     * read what you need during the call.
     */
    public void onEvents(Consumer<RetransmitEvent> consumer) {
        context.subscribe(events, consumer);
    }

    private static void write(RetransmitEvent e, EventFields out) throws IOException {
        out.text("state", TcpStates.name(e.state()));
        out.text("kind", e.synack() ? "synack" : "data");
        out.number("err", e.err());
    }
}
