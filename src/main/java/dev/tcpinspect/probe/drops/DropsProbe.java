package dev.tcpinspect.probe.drops;

import static java.lang.foreign.ValueLayout.JAVA_INT;

import dev.tcpinspect.ebpf.Codec;
import dev.tcpinspect.ebpf.KernelEnums;
import dev.tcpinspect.os.SnmpCounters;
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
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * drops (bpf/probes/drops.h): TCP packets the kernel dropped, with the kernel's reason
 * (skb:kfree_skb), per reason and per flow, and receive-queue-full events. Reason names come from
 * the running kernel's BTF. Packets freed when connections are torn down are counted apart, not as
 * drops. A full accept queue turns SYNs away without a kfree_skb, so listen overflows are read from
 * the kernel's counter instead; so are segments dropped for a full receive buffer, which TCP reports
 * to no tracepoint of their own.
 */
public final class DropsProbe implements Probe {
    /** enum drop_stat, in value order. */
    enum Stat { TOTAL, RCVQUEUE_FULL, EVENTS_LOST, FLOWS_FULL, TEARDOWN }

    /** DROP_REASON_SLOTS: reasons at or above the last slot share it. */
    private static final int REASON_SLOTS = 256;
    /** The reasons the kernel handler counts as teardown frees (drops.h), not drops. */
    private static final Set<String> TEARDOWN = Set.of("QUEUE_PURGE", "NOT_SPECIFIED");

    /** struct drop_key: a flow and a reason. */
    static final StructLayout KEY = MemoryLayout.structLayout(Flow.LAYOUT.withName("flow"), JAVA_INT.withName("reason"))
            .withName("drop_key");

    private static final int TOP_FLOWS = 10;
    private static final Export.Family DROPS = new Export.Family("drops",
            "TCP packets the kernel dropped (skb:kfree_skb with a drop reason; teardown frees excluded)");
    private static final Export.Family DROPS_BY_REASON = new Export.Family("drops_by_reason",
            "TCP packets the kernel dropped, by the reason the running kernel gives");
    private static final Export.Family LISTEN_OVERFLOWS = new Export.Family("listen_overflows",
            "SYNs and handshake ACKs a full accept queue turned away (as node_exporter's TcpExt_ListenOverflows)");
    private static final Export.Family FREES = new Export.Family("teardown_frees",
            "TCP packets freed while connections are torn down, handled in full (not drops), by reason");
    private static final Desc TOTAL = Desc.of("drop_detail.total", "dropped TCP packets",
            "TCP packets the kernel dropped (skb:kfree_skb with a drop reason; teardown frees excluded)")
            .column("DROPS", 8)
            .metric(DROPS);
    private static final Desc LISTEN = Desc.of("drop_detail.listen_overflows", "listen overflows",
            "SYNs and handshake ACKs a full accept queue turned away (the kernel's TcpExt ListenOverflows)")
            .role(Role.PART)
            .metric(LISTEN_OVERFLOWS);
    private static final Desc RCVQ = Desc.of("drop_detail.rcvqueue_full", "receive queue full",
            "Segments TCP dropped for a full receive buffer (the kernel's TcpExt TCPRcvQDrop; sock:sock_rcvqueue_full on TCP sockets)").role(Role.PART);
    private static final Desc BY_REASON = Desc.of("drops", "dropped TCP packets by reason",
            "TCP packets the kernel dropped, by the reason the running kernel gives")
            .metricByKey(DROPS_BY_REASON, "reason");
    private static final Desc TEARDOWN_FREES = Desc.of("teardown_frees", "freed at teardown (not drops)",
            "TCP packets freed through kfree_skb while connections are torn down, handled in full: the peer's FIN"
                    + " purged when a socket goes to TIME_WAIT (QUEUE_PURGE), segments freed without a reason once a"
                    + " closing socket handled them (NOT_SPECIFIED: the last ACK to a LAST_ACK socket, segments to"
                    + " TIME_WAIT sockets)").role(Role.NOTE)
            .metricByKey(FREES, "reason");
    private static final Desc EVENTS_LOST = Desc.of("drop_detail.events_lost", "events lost (ring buffer full)",
            "Drops the ring buffer had no room for (still in the counts)").role(Role.NOT_SHOWN)
            .metric(Export.Family.EVENTS_LOST, "probe", "drops");
    private static final Desc FLOWS_UNTRACKED = Desc.of("drop_detail.flows_untracked",
            "drops of flows the flow table had no room for", "Drops counted in the totals but under no flow")
            .role(Role.NOT_SHOWN)
            .metric(Export.Family.UNTRACKED, "probe", "drops", "table", "flows");
    private static final Desc TOP = Desc.of("top_drop_flows", "Top flows by drops", "The flow and reason pairs with the most drops");

    private final EventType<DropEvent> events = new EventType<>("drop", "drops_events", DropEvent::new, DropsProbe::write);
    private ProbeContext context;
    private FlowTable flows;

    @Override
    public String name() {
        return "drops";
    }

    @Override
    public String help() {
        return "TCP packets the kernel dropped (skb:kfree_skb), per reason as the running kernel names them and per"
                + " flow; receive queue full; listen-queue overflows (kernel counter)";
    }

    @Override
    public Set<Hook> hooks() {
        return Set.of(Hook.KFREE_SKB, Hook.RCVQUEUE_FULL);
    }

    @Override
    public List<StructLayout> sharedStructs() {
        return List.of(DropEvent.LAYOUT, KEY);
    }

    @Override
    public Map<String, List<String>> sharedEnums() {
        return Map.of("drop_stat", java.util.Arrays.stream(Stat.values()).map(s -> "DROP_STAT_" + s.name()).toList());
    }

    @Override
    public void bind(ProbeContext context) {
        this.context = context;
        this.flows = context.flowTable("drops", FlowTable.sumOfLongs(1),
                count -> count.get(ValueLayout.JAVA_LONG_UNALIGNED, 0));
    }

    @Override
    public List<String> kernelEnums() {
        return List.of("skb_drop_reason");
    }

    /** The kernel's name of a drop reason ("NO_SOCKET"), or its number when the kernel has no name for it. */
    public static String reasonName(long reason) {
        String name = KernelEnums.values("skb_drop_reason", "SKB_DROP_REASON_").get(reason);
        return name != null ? name : Long.toString(reason);
    }

    @Override
    public void drain() {
        flows.drain();
    }

    public DropCounts read() {
        flows.drain();
        long[] v = context.counters("drops_stats", Stat.values().length);
        Map<String, Long> reasons = new TreeMap<>();
        Map<String, Long> teardown = new TreeMap<>();
        context.map("drops_by_reason").perCpu(Codec.U32, Codec.U64).entriesSummed(Long::sum).forEach((reason, n) -> {
            if (n != 0) {
                String name = reason == REASON_SLOTS - 1 ? "OTHER" : reasonName(reason);
                (TEARDOWN.contains(name) ? teardown : reasons).put(name, n);
            }
        });
        Map<String, Long> snmp = context.inNamespace(SnmpCounters::read);
        long overflows = snmp.getOrDefault("TcpExt:ListenOverflows", 0L);
        // TCP never queues through __sock_queue_rcv_skb, so sock:sock_rcvqueue_full does not fire for
        // it: a segment TCP drops for a full receive buffer (tcp_data_queue) is counted only in the
        // kernel's TcpExt TCPRcvQDrop (its kfree_skb says PROTO_MEM, which out-of-order drops share).
        long rcvqueueFull = v[Stat.RCVQUEUE_FULL.ordinal()] + snmp.getOrDefault("TcpExt:TCPRcvQDrop", 0L);
        return new DropCounts(v[Stat.TOTAL.ordinal()], reasons, rcvqueueFull,
                v[Stat.EVENTS_LOST.ordinal()], v[Stat.FLOWS_FULL.ordinal()] + flows.released(), overflows, teardown);
    }

    /** Flow and reason pairs with the most drops, most first. */
    public List<FlowDrops> topFlows(int limit) {
        long reasonAt = KEY.byteOffset(MemoryLayout.PathElement.groupElement("reason"));
        return flows.top(limit, (key, value) -> new FlowDrops(Flow.read(key, 0),
                reasonName(Integer.toUnsignedLong(key.get(ValueLayout.JAVA_INT_UNALIGNED, reasonAt))),
                value.get(ValueLayout.JAVA_LONG_UNALIGNED, 0)));
    }

    @Override
    public Snapshot snapshot(boolean withTables) {
        DropCounts d = read();
        List<Metric> metrics = new ArrayList<>(List.of(new Counter(TOTAL, d.total()),
                new Counter(RCVQ, d.rcvqueueFull()), new Counter(LISTEN, d.listenOverflows()),
                new Metric.CounterMap(BY_REASON, d.byReason()), new Metric.CounterMap(TEARDOWN_FREES, d.teardownFrees()),
                new Counter(EVENTS_LOST, d.eventsLost()), new Counter(FLOWS_UNTRACKED, d.flowsFull())));
        if (withTables) {
            List<Metric.Row> rows = new ArrayList<>();
            for (FlowDrops f : topFlows(TOP_FLOWS)) {
                rows.add(Metric.Row.of(new Cell.FlowCell(f.flow()), new Cell.Text("reason", f.reason()),
                        new Cell.Count("drops", f.count())));
            }
            metrics.add(new Metric.Table(TOP, TOP.label(), "<-", rows));
        }
        return new Snapshot(name(), metrics);
    }

    @Override
    public Optional<EventType<?>> events() {
        return Optional.of(events);
    }

    /** Delivers drops on the set's reader thread; the event object is reused for every record. */
    public void onEvents(Consumer<DropEvent> consumer) {
        context.subscribe(events, consumer);
    }

    private static void write(DropEvent e, EventFields out) throws IOException {
        out.text("reason", reasonName(Integer.toUnsignedLong(e.reason())));
    }
}
