package dev.tcpinspect.probe.reset;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.tcpinspect.ebpf.KernelEnums;
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
 * reset (bpf/probes/reset.h): resets sent (tcp:tcp_send_reset, with the kernel's reason) and
 * received (tcp:tcp_receive_reset), per flow and as events, with the TCP state they hit.
 */
public final class ResetProbe implements Probe {
    /** enum reset_direction, in value order. */
    enum Direction { SENT, RECEIVED }

    /** enum reset_stat, in value order. */
    enum Stat { SENT, RECEIVED, EVENTS_LOST, FLOWS_FULL }

    /** struct reset_counts: a flow's resets each way. */
    static final StructLayout COUNTS = MemoryLayout.structLayout(JAVA_LONG.withName("sent"), JAVA_LONG.withName("received"))
            .withName("reset_counts");

    private static final int TOP_FLOWS = 10;
    private static final Export.Family RESETS = new Export.Family("resets",
            "Resets by direction: sent by this host (as node_exporter's Tcp_OutRsts) or received by its sockets");
    private static final Desc SENT = Desc.of("resets.sent", "resets sent", "Resets this host sent (tcp:tcp_send_reset)")
            .column("RST-OUT", 8)
            .metric(RESETS, "direction", "sent");
    private static final Desc RECEIVED = Desc.of("resets.received", "resets received",
            "Resets this host's sockets received (tcp:tcp_receive_reset)").column("RST-IN", 8)
            .metric(RESETS, "direction", "received");
    private static final Desc EVENTS_LOST = Desc.of("resets.events_lost", "events lost (ring buffer full)",
            "Resets the ring buffer had no room for (still in the counts)").role(Role.NOT_SHOWN)
            .metric(Export.Family.EVENTS_LOST, "probe", "reset");
    private static final Desc FLOWS_UNTRACKED = Desc.of("resets.flows_untracked",
            "resets of flows the flow table had no room for", "Resets counted in the totals but under no flow")
            .role(Role.NOT_SHOWN)
            .metric(Export.Family.UNTRACKED, "probe", "reset", "table", "flows");
    private static final Desc TOP = Desc.of("top_reset_flows", "Top flows by resets", "The flows with the most resets");

    private final EventType<ResetEvent> events = new EventType<>("reset", "reset_events", ResetEvent::new, ResetProbe::write);
    private ProbeContext context;
    private FlowTable flows;

    @Override
    public String name() {
        return "reset";
    }

    @Override
    public String help() {
        return "resets sent (tcp:tcp_send_reset, with the kernel's reason) and received (tcp:tcp_receive_reset),"
                + " per flow, with the TCP state they hit";
    }

    @Override
    public Set<Hook> hooks() {
        return Set.of(Hook.SEND_RESET, Hook.RECEIVE_RESET);
    }

    @Override
    public List<StructLayout> sharedStructs() {
        return List.of(ResetEvent.LAYOUT, COUNTS);
    }

    @Override
    public Map<String, List<String>> sharedEnums() {
        return Map.of("reset_direction", List.of("RESET_SENT", "RESET_RECEIVED"),
                "reset_stat", java.util.Arrays.stream(Stat.values()).map(s -> "RST_STAT_" + s.name()).toList());
    }

    @Override
    public void bind(ProbeContext context) {
        this.context = context;
        this.flows = context.flowTable("reset", FlowTable.sumOfLongs(2), ResetProbe::resets);
    }

    /** A flow's resets (struct reset_counts: sent, received). */
    private static long resets(MemorySegment counts) {
        return counts.get(ValueLayout.JAVA_LONG_UNALIGNED, 0) + counts.get(ValueLayout.JAVA_LONG_UNALIGNED, 8);
    }

    @Override
    public void drain() {
        flows.drain();
    }

    public ResetCounts read() {
        flows.drain();
        long[] v = context.counters("reset_stats", Stat.values().length);
        return new ResetCounts(v[Stat.SENT.ordinal()], v[Stat.RECEIVED.ordinal()], v[Stat.EVENTS_LOST.ordinal()],
                v[Stat.FLOWS_FULL.ordinal()] + flows.released());
    }

    public List<FlowResets> topFlows(int limit) {
        return flows.top(limit, (key, value) -> new FlowResets(Flow.read(key, 0),
                value.get(ValueLayout.JAVA_LONG_UNALIGNED, 0), value.get(ValueLayout.JAVA_LONG_UNALIGNED, 8)));
    }

    @Override
    public Snapshot snapshot(boolean withTables) {
        ResetCounts r = read();
        List<Metric> metrics = new ArrayList<>(List.of(new Counter(SENT, r.sent()), new Counter(RECEIVED, r.received()),
                new Counter(EVENTS_LOST, r.eventsLost()), new Counter(FLOWS_UNTRACKED, r.flowsFull())));
        if (withTables) {
            List<Metric.Row> rows = new ArrayList<>();
            for (FlowResets f : topFlows(TOP_FLOWS)) {
                rows.add(Metric.Row.of(new Cell.FlowCell(f.flow()), new Cell.Count("sent", f.sent()),
                        new Cell.Count("received", f.received())));
            }
            metrics.add(new Metric.Table(TOP, TOP.label(), "->", rows));
        }
        return new Snapshot(name(), metrics);
    }

    @Override
    public Optional<EventType<?>> events() {
        return Optional.of(events);
    }

    /** Delivers resets on the set's reader thread; the event object is reused for every record. */
    public void onEvents(Consumer<ResetEvent> consumer) {
        context.subscribe(events, consumer);
    }

    @Override
    public List<String> kernelEnums() {
        return List.of("sk_rst_reason");
    }

    /** The kernel's name of a sent reset's reason (enum sk_rst_reason), or its number. */
    public static String reasonName(int reason) {
        String name = KernelEnums.values("sk_rst_reason", "SK_RST_REASON_").get((long) reason);
        return name != null ? name : Integer.toString(reason);
    }

    private static void write(ResetEvent e, EventFields out) throws IOException {
        out.text("direction", e.received() ? "received" : "sent");
        out.text("state", TcpStates.name(e.state()));
        if (!e.received()) {
            out.text("reason", reasonName(e.reason()));
        }
    }
}
