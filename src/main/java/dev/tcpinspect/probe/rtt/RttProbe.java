package dev.tcpinspect.probe.rtt;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import dev.tcpinspect.probe.EventType;
import dev.tcpinspect.probe.FlowTable;
import dev.tcpinspect.probe.Hook;
import dev.tcpinspect.probe.Probe;
import dev.tcpinspect.probe.ProbeContext;
import dev.tcpinspect.snapshot.Addresses;
import dev.tcpinspect.snapshot.Desc;
import dev.tcpinspect.snapshot.Export;
import dev.tcpinspect.snapshot.Desc.Role;
import dev.tcpinspect.snapshot.EventFields;
import dev.tcpinspect.snapshot.LogLinearHistogram;
import dev.tcpinspect.snapshot.Metric;
import dev.tcpinspect.snapshot.Metric.Cell;
import dev.tcpinspect.snapshot.Metric.Counter;
import dev.tcpinspect.snapshot.Snapshot;
import java.io.IOException;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;

/**
 * rtt (bpf/probes/rtt.h): smoothed RTT per remote address from tcp:tcp_probe, with a log-linear
 * histogram of every sample; events sampled once per second per remote.
 */
public final class RttProbe implements Probe {
    /** enum rtt_stat, in value order. */
    enum Stat { SAMPLES, EVENTS_LOST, REMOTES_FULL }

    static final StructLayout KEY = MemoryLayout.structLayout(JAVA_INT.withName("netns"), JAVA_SHORT.withName("family"),
            JAVA_SHORT.withName("pad"), MemoryLayout.sequenceLayout(16, JAVA_BYTE).withName("raddr")).withName("rtt_key");
    static final StructLayout REMOTE = MemoryLayout.structLayout(JAVA_LONG.withName("samples"),
            JAVA_LONG.withName("last_jiffies"), JAVA_INT.withName("last_srtt_us"), JAVA_INT.withName("min_srtt_us"),
            JAVA_INT.withName("max_srtt_us"), JAVA_INT.withName("last_cwnd")).withName("rtt_remote");
    private static final long SAMPLES = REMOTE.byteOffset(groupElement("samples"));
    private static final long LAST_JIFFIES = REMOTE.byteOffset(groupElement("last_jiffies"));
    private static final long LAST_SRTT = REMOTE.byteOffset(groupElement("last_srtt_us"));
    private static final long MIN_SRTT = REMOTE.byteOffset(groupElement("min_srtt_us"));
    private static final long MAX_SRTT = REMOTE.byteOffset(groupElement("max_srtt_us"));
    private static final long LAST_CWND = REMOTE.byteOffset(groupElement("last_cwnd"));
    private static final int AF_INET6 = 10;

    private static final int TOP_REMOTES = 10;
    private static final Export.Family RTT = new Export.Family("rtt_seconds",
            "Smoothed RTT of every segment an established connection received");
    private static final Desc SRTT = Desc.of("rtt_ms", "smoothed RTT", "Smoothed RTT of every segment an established"
            + " connection received (tcp:tcp_probe)").column("RTT-P50-MS", 11, Desc.Column.Cell.P50_MS_3)
            .metric(RTT);
    private static final Desc EVENTS_LOST = Desc.of("rtt_detail.events_lost", "events lost (ring buffer full)",
            "Sampled RTT events the ring buffer had no room for").role(Role.NOT_SHOWN)
            .metric(Export.Family.EVENTS_LOST, "probe", "rtt");
    private static final Desc REMOTES_UNTRACKED = Desc.of("rtt_detail.remotes_untracked",
            "samples of remotes the table had no room for", "Samples in the histogram but under no remote address")
            .role(Role.NOT_SHOWN)
            .metric(Export.Family.UNTRACKED, "probe", "rtt", "table", "remotes");
    private static final Desc REMOTES = Desc.of("rtt_by_remote", "Remote addresses by RTT samples",
            "The remote addresses with the most RTT samples");

    private final EventType<RttEvent> events = new EventType<>("rtt", "rtt_events", RttEvent::new, RttProbe::write);
    private ProbeContext context;
    private FlowTable remotes;

    @Override
    public String name() {
        return "rtt";
    }

    @Override
    public String help() {
        return "smoothed RTT and cwnd per remote address from tcp:tcp_probe; histogram and percentiles";
    }

    @Override
    public Set<Hook> hooks() {
        return Set.of(Hook.TCP_PROBE);
    }

    @Override
    public List<StructLayout> sharedStructs() {
        return List.of(RttEvent.LAYOUT, KEY, REMOTE);
    }

    @Override
    public Map<String, List<String>> sharedEnums() {
        return Map.of("rtt_stat", java.util.Arrays.stream(Stat.values()).map(s -> "RTT_STAT_" + s.name()).toList());
    }

    @Override
    public void bind(ProbeContext context) {
        this.context = context;
        this.remotes = context.slotTable("rtt_remotes", KEY.byteSize(), REMOTE.byteSize(), RttProbe::merge,
                remote -> remote.get(ValueLayout.JAVA_LONG_UNALIGNED, SAMPLES));
    }

    /**
     * Adds one CPU's (or one drain's) struct rtt_remote into a total: samples add up, min and max
     * are kept, and the copy with the later sample gives the last srtt and cwnd. A copy without
     * samples (a CPU that saw none) changes nothing.
     */
    static void merge(MemorySegment total, MemorySegment more) {
        long added = more.get(ValueLayout.JAVA_LONG_UNALIGNED, SAMPLES);
        if (added == 0) {
            return;
        }
        long had = total.get(ValueLayout.JAVA_LONG_UNALIGNED, SAMPLES);
        if (had == 0) {
            total.copyFrom(more);
            return;
        }
        total.set(ValueLayout.JAVA_LONG_UNALIGNED, SAMPLES, had + added);
        if (more.get(ValueLayout.JAVA_LONG_UNALIGNED, LAST_JIFFIES) >= total.get(ValueLayout.JAVA_LONG_UNALIGNED, LAST_JIFFIES)) {
            total.set(ValueLayout.JAVA_LONG_UNALIGNED, LAST_JIFFIES, more.get(ValueLayout.JAVA_LONG_UNALIGNED, LAST_JIFFIES));
            total.set(ValueLayout.JAVA_INT_UNALIGNED, LAST_SRTT, more.get(ValueLayout.JAVA_INT_UNALIGNED, LAST_SRTT));
            total.set(ValueLayout.JAVA_INT_UNALIGNED, LAST_CWND, more.get(ValueLayout.JAVA_INT_UNALIGNED, LAST_CWND));
        }
        total.set(ValueLayout.JAVA_INT_UNALIGNED, MIN_SRTT, Integer.min(total.get(ValueLayout.JAVA_INT_UNALIGNED, MIN_SRTT),
                more.get(ValueLayout.JAVA_INT_UNALIGNED, MIN_SRTT)));
        total.set(ValueLayout.JAVA_INT_UNALIGNED, MAX_SRTT, Integer.max(total.get(ValueLayout.JAVA_INT_UNALIGNED, MAX_SRTT),
                more.get(ValueLayout.JAVA_INT_UNALIGNED, MAX_SRTT)));
    }

    @Override
    public void drain() {
        remotes.drain();
    }

    public RttStats read() {
        remotes.drain();
        long[] s = context.counters("rtt_stats", Stat.values().length);
        return new RttStats(context.histograms("rtt_hist", "rtt_summary", 1)[0], s[Stat.EVENTS_LOST.ordinal()],
                s[Stat.REMOTES_FULL.ordinal()] + remotes.released());
    }

    /** Remote addresses with the most samples first. */
    public List<RemoteRtt> remotes(int limit) {
        return remotes.top(limit, RttProbe::remote);
    }

    private static RemoteRtt remote(MemorySegment key, MemorySegment value) {
        boolean v6 = Short.toUnsignedInt(key.get(ValueLayout.JAVA_SHORT_UNALIGNED, KEY.byteOffset(groupElement("family"))))
                == AF_INET6;
        InetAddress address;
        try {
            address = InetAddress.getByAddress(key.asSlice(KEY.byteOffset(groupElement("raddr")), v6 ? 16 : 4)
                    .toArray(ValueLayout.JAVA_BYTE));
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e);
        }
        return new RemoteRtt(Integer.toUnsignedLong(key.get(ValueLayout.JAVA_INT_UNALIGNED, 0)), address,
                value.get(ValueLayout.JAVA_LONG_UNALIGNED, SAMPLES),
                Integer.toUnsignedLong(value.get(ValueLayout.JAVA_INT_UNALIGNED, LAST_SRTT)),
                Integer.toUnsignedLong(value.get(ValueLayout.JAVA_INT_UNALIGNED, MIN_SRTT)),
                Integer.toUnsignedLong(value.get(ValueLayout.JAVA_INT_UNALIGNED, MAX_SRTT)),
                Integer.toUnsignedLong(value.get(ValueLayout.JAVA_INT_UNALIGNED, LAST_CWND)));
    }

    @Override
    public Snapshot snapshot(boolean withTables) {
        RttStats r = read();
        List<Metric> metrics = new ArrayList<>(List.of(new Metric.Distribution(SRTT, r.srtt()),
                new Counter(EVENTS_LOST, r.eventsLost()), new Counter(REMOTES_UNTRACKED, r.remotesUntracked())));
        if (withTables) {
            List<Metric.Row> rows = new ArrayList<>();
            for (RemoteRtt remote : remotes(TOP_REMOTES)) {
                rows.add(Metric.Row.of(new Cell.Count("netns", remote.netns()),
                        new Cell.Text("address", Addresses.format(remote.address())),
                        new Cell.Count("samples", remote.samples()), new Cell.Decimal("srtt_ms", remote.lastSrttMicros() / 1000.0),
                        new Cell.Decimal("min_ms", remote.minSrttMicros() / 1000.0),
                        new Cell.Decimal("max_ms", remote.maxSrttMicros() / 1000.0), new Cell.Count("cwnd", remote.lastCwnd())));
            }
            metrics.add(new Metric.Table(REMOTES, REMOTES.label(), "", rows));
        }
        return new Snapshot(name(), metrics);
    }

    @Override
    public Optional<EventType<?>> events() {
        return Optional.of(events);
    }

    /** Delivers sampled RTT events (one per remote address per second) on the set's reader thread. */
    public void onEvents(Consumer<RttEvent> consumer) {
        context.subscribe(events, consumer);
    }

    private static void write(RttEvent e, EventFields out) throws IOException {
        out.scaled("srtt_ms", e.srttMicros(), 3);
        out.number("cwnd", e.cwnd());
        out.number("snd_wnd", e.sendWindow());
        out.number("rcv_wnd", e.receiveWindow());
    }
}
