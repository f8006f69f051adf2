package dev.tcpinspect.probe.zerowin;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.tcpinspect.ebpf.BpfMap;
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
import java.lang.foreign.Arena;
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
 * zerowin (bpf/probes/zerowin.h): zero windows advertised by peers (ingress hook) and by this host
 * (TC egress) on the watched interfaces, per flow, with how long each stayed closed.
 */
public final class ZeroWindowProbe implements Probe {
    /** enum zw_direction, in value order. */
    enum Direction { RECEIVED, SENT }

    /** enum zw_stat, in value order. */
    enum Stat { RECEIVED, SENT, SEGMENTS_RECEIVED, SEGMENTS_SENT, EVENTS_LOST, FLOWS_FULL }

    static final StructLayout KEY = MemoryLayout.structLayout(Flow.TUPLE_LAYOUT.withName("tuple"),
            JAVA_INT.withName("direction")).withName("zw_key");
    static final StructLayout CLOSED = MemoryLayout.structLayout(JAVA_LONG.withName("closed_ns"),
            JAVA_LONG.withName("last_zero")).withName("zw_closed");
    static final StructLayout COUNTS = MemoryLayout.structLayout(JAVA_LONG.withName("closures"),
            JAVA_LONG.withName("closed_ns")).withName("zw_counts");

    /**
     * ZW_QUIET_SECONDS: a closed window produces zero-window segments at least this often (probes
     * back off to at most 120 s); an entry whose flow was silent for longer is gone.
     */
    static final long QUIET_NANOS = 300_000_000_000L;
    /** How often the kernel's closed windows are looked through for expired ones. */
    private static final long EXPIRY_EVERY_NANOS = 10_000_000_000L;

    private static final int TOP_FLOWS = 10;
    private static final Export.Family CLOSURES = new Export.Family("zero_windows",
            "Zero-window closures by direction: received (advertised by peers) or sent (by this host, as TcpExt TCPToZeroWindowAdv)");
    private static final Export.Family SEGMENTS = new Export.Family("zero_window_segments",
            "Segments carrying a zero window, by direction");
    private static final Export.Family CLOSED_NOW_FAMILY = new Export.Family("zero_windows_closed",
            "Windows closed at the moment of the reading");
    private static final Desc RECEIVED = Desc.of("zero_window.received", "zero windows from peers",
            "Closures advertised by peers: a change from a non-zero to a zero window").column("ZWIN-IN", 8)
            .metric(CLOSURES, "direction", "received");
    private static final Desc SEGMENTS_RECEIVED = Desc.of("zero_window_detail.segments_received",
            "zero-window segments", "Segments from peers carrying a zero window").role(Role.PART)
            .metric(SEGMENTS, "direction", "received");
    private static final Desc SENT = Desc.of("zero_window.sent", "zero windows sent",
            "Closures this host advertised (the kernel's TCPToZeroWindowAdv)").column("ZWIN-OUT", 8)
            .metric(CLOSURES, "direction", "sent");
    private static final Desc SEGMENTS_SENT = Desc.of("zero_window_detail.segments_sent", "zero-window segments",
            "Segments this host sent carrying a zero window").role(Role.PART)
            .metric(SEGMENTS, "direction", "sent");
    private static final Desc CLOSED_NOW = Desc.of("zero_window_detail.closed_now", "windows closed now",
            "Windows closed at the moment of the reading").role(Role.NOTE)
            .metric(CLOSED_NOW_FAMILY);
    private static final Desc EXPIRED = Desc.of("zero_window_detail.expired",
            "closures whose flow went silent while closed (ended without reopening)",
            "Closures that ended without a reopening or a reset: the flow sent nothing for 5 minutes").role(Role.NOTE);
    private static final Desc EVENTS_LOST = Desc.of("zero_window_detail.events_lost", "events lost (ring buffer full)",
            "Closures and reopenings the ring buffer had no room for (still in the counts)").role(Role.NOT_SHOWN)
            .metric(Export.Family.EVENTS_LOST, "probe", "zerowin");
    private static final Desc FLOWS_UNTRACKED = Desc.of("zero_window_detail.flows_untracked",
            "closures or reopenings the tables had no room for",
            "Closures the kernel had no room to time, and closures and reopenings under no flow").role(Role.NOT_SHOWN)
            .metric(Export.Family.UNTRACKED, "probe", "zerowin", "table", "flows");
    private static final Desc TOP = Desc.of("top_zero_window_flows", "Top flows by zero windows",
            "The flows and directions with the most zero-window closures");

    private final EventType<ZeroWindowEvent> events =
            new EventType<>("zero_window", "zerowin_events", () -> new ZeroWindowEvent(netns()), ZeroWindowProbe::write);
    private ProbeContext context;
    private FlowTable flows;
    private BpfMap closed;
    private long expired;
    private long lastExpiry = System.nanoTime();

    @Override
    public String name() {
        return "zerowin";
    }

    @Override
    public String help() {
        return "zero windows advertised by peers (ingress hook) and by this host (TC egress), per flow, with how"
                + " long the window stayed closed";
    }

    @Override
    public Set<Hook> hooks() {
        return Set.of(Hook.INGRESS, Hook.EGRESS);
    }

    @Override
    public List<StructLayout> sharedStructs() {
        return List.of(ZeroWindowEvent.LAYOUT, KEY, CLOSED, COUNTS);
    }

    @Override
    public Map<String, List<String>> sharedEnums() {
        return Map.of("zw_direction", List.of("ZW_RECEIVED", "ZW_SENT"),
                "zw_stat", java.util.Arrays.stream(Stat.values()).map(s -> "ZW_STAT_" + s.name()).toList());
    }

    @Override
    public void bind(ProbeContext context) {
        this.context = context;
        this.closed = context.map("zerowin_closed");
        this.flows = context.flowTable("zerowin", FlowTable.sumOfLongs(2),
                counts -> counts.get(ValueLayout.JAVA_LONG_UNALIGNED, 0));
    }

    private long netns() {
        return context.netns();
    }

    @Override
    public synchronized void drain() {
        flows.drain();
        if (System.nanoTime() - lastExpiry >= EXPIRY_EVERY_NANOS) {
            expire(System.nanoTime());
        }
    }

    /**
     * Ends the closures whose flow sent no zero-window segment for longer than a closed window ever
     * goes without one: a socket that timed out, a host that went away. The kernel keeps them until
     * then (only a reopening or a reset ends a closure there); whoever deletes one ends it. The
     * kernel stamps each entry's last zero-window segment in jiffies, which user space cannot read,
     * so an entry is stale when its stamp has not moved over QUIET_NANOS of scans.
     */
    synchronized void expire(long now) {
        lastExpiry = now;
        long lastAt = CLOSED.byteOffset(MemoryLayout.PathElement.groupElement("last_zero"));
        Map<java.nio.ByteBuffer, long[]> seen = new java.util.HashMap<>();
        List<byte[]> stale = new ArrayList<>();
        closed.forEach((key, value) -> {
            byte[] k = key.toArray(ValueLayout.JAVA_BYTE);
            long stamp = value.get(ValueLayout.JAVA_LONG_UNALIGNED, lastAt);
            long[] before = stamps.get(java.nio.ByteBuffer.wrap(k));
            long since = before != null && before[0] == stamp ? before[1] : now;
            if (now - since >= QUIET_NANOS) {
                stale.add(k);
            } else {
                seen.put(java.nio.ByteBuffer.wrap(k), new long[] {stamp, since});
            }
        });
        stamps = seen;
        try (Arena arena = Arena.ofConfined()) {
            for (byte[] key : stale) {
                if (closed.delete(arena.allocateFrom(ValueLayout.JAVA_BYTE, key))) {
                    expired++;
                }
            }
        }
    }

    /** Each closed window's last stamp seen and since when it has not moved (nanoTime), by key. */
    private Map<java.nio.ByteBuffer, long[]> stamps = new java.util.HashMap<>();

    public synchronized ZeroWindowCounts read() {
        flows.drain();
        long[] v = context.counters("zerowin_stats", Stat.values().length);
        return new ZeroWindowCounts(v[Stat.RECEIVED.ordinal()], v[Stat.SENT.ordinal()],
                v[Stat.SEGMENTS_RECEIVED.ordinal()], v[Stat.SEGMENTS_SENT.ordinal()], v[Stat.EVENTS_LOST.ordinal()],
                v[Stat.FLOWS_FULL.ordinal()] + flows.released(), expired);
    }

    /** Windows closed right now: the kernel keeps a window's state only while it is closed. */
    public long closedNow() {
        long[] n = {0};
        closed.forEachChunk((keys, values, count) -> n[0] += count);
        return n[0];
    }

    public List<FlowZeroWindows> topFlows(int limit) {
        long directionAt = KEY.byteOffset(MemoryLayout.PathElement.groupElement("direction"));
        return flows.top(limit, (key, value) -> new FlowZeroWindows(Flow.readTuple(key, 0, netns()),
                key.get(ValueLayout.JAVA_INT_UNALIGNED, directionAt) == Direction.SENT.ordinal(),
                value.get(ValueLayout.JAVA_LONG_UNALIGNED, 0), value.get(ValueLayout.JAVA_LONG_UNALIGNED, 8)));
    }

    @Override
    public Snapshot snapshot(boolean withTables) {
        ZeroWindowCounts z = read();
        List<Metric> metrics = new ArrayList<>(List.of(new Counter(RECEIVED, z.received()),
                new Counter(SEGMENTS_RECEIVED, z.segmentsReceived()), new Counter(SENT, z.sent()),
                new Counter(SEGMENTS_SENT, z.segmentsSent()), new Metric.Gauge(CLOSED_NOW, closedNow()),
                new Counter(EXPIRED, z.expired()), new Counter(EVENTS_LOST, z.eventsLost()),
                new Counter(FLOWS_UNTRACKED, z.flowsUntracked())));
        if (withTables) {
            List<Metric.Row> rows = new ArrayList<>();
            for (FlowZeroWindows f : topFlows(TOP_FLOWS)) {
                rows.add(Metric.Row.of(new Cell.FlowCell(f.flow()), new Cell.Text("direction", f.sent() ? "sent" : "received"),
                        new Cell.Count("closures", f.closures()), new Cell.Decimal("closed_ms", f.closedNanos() / 1e6)));
            }
            metrics.add(new Metric.Table(TOP, TOP.label(), "<->", rows));
        }
        return new Snapshot(name(), metrics);
    }

    @Override
    public Optional<EventType<?>> events() {
        return Optional.of(events);
    }

    /** Delivers closings and reopenings on the set's reader thread; the event object is reused. */
    public void onEvents(Consumer<ZeroWindowEvent> consumer) {
        context.subscribe(events, consumer);
    }

    private static void write(ZeroWindowEvent e, EventFields out) throws IOException {
        out.text("direction", e.sent() ? "sent" : "received");
        out.text("event", e.reopened() ? "reopened" : "closed");
        if (e.reopened()) {
            out.scaled("closed_ms", e.closedNanos(), 6);
        }
    }
}
