package dev.tcpinspect.probe.flood;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.tcpinspect.ebpf.BpfMap;
import dev.tcpinspect.os.SnmpCounters;
import dev.tcpinspect.probe.FlowTable;
import dev.tcpinspect.probe.Hook;
import dev.tcpinspect.probe.EpisodeHistory;
import dev.tcpinspect.probe.Probe;
import dev.tcpinspect.probe.ProbeContext;
import dev.tcpinspect.probe.RateThreshold;
import dev.tcpinspect.probe.Setting;
import dev.tcpinspect.snapshot.Alert;
import dev.tcpinspect.snapshot.Desc;
import dev.tcpinspect.snapshot.Export;
import dev.tcpinspect.snapshot.Desc.Role;
import dev.tcpinspect.snapshot.Metric;
import dev.tcpinspect.snapshot.Metric.Cell;
import dev.tcpinspect.snapshot.Metric.Counter;
import dev.tcpinspect.snapshot.Snapshot;
import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * flood (bpf/probes/flood.h): SYN floods per listening port. Every second (each drain) it turns the
 * kernel's per-port SYN and handshake counts, the sources sketch and per-source counts, and the
 * kernel's SYN-cookie and listen-overflow counters into rates; a port receiving at least
 * {@link RateThreshold#perSecond} SYNs a second of which fewer than half complete a handshake (or
 * that makes the kernel send SYN cookies or overflow a listen queue) starts an alert, classified as
 * spoofed (about as many distinct sources as SYNs) or from real sources (named, with their rates);
 * the alert ends with the attack's totals once the rate stays below half the threshold for three
 * seconds. Observation only.
 */
public final class FloodProbe implements Probe {
    /** enum flood_stat, in value order. */
    enum Stat { SYNS, PORTS_UNTRACKED, SOURCES_UNTRACKED }

    static final StructLayout PORT_KEY = MemoryLayout.structLayout(JAVA_LONG.withName("port")).withName("flood_port_key");
    static final StructLayout PORT_COUNTS = MemoryLayout.structLayout(JAVA_LONG.withName("syns"),
            JAVA_LONG.withName("established")).withName("flood_port_counts");
    static final StructLayout SOURCE_KEY = dev.tcpinspect.probe.SourceKey.LAYOUT;
    static final int REGISTERS = 256;
    static final StructLayout SKETCH = MemoryLayout.structLayout(
            MemoryLayout.sequenceLayout(REGISTERS, JAVA_BYTE).withName("reg")).withName("flood_hll");

    private static final Desc ALERTS = Desc.of("alerts.syn_flood", "SYN floods",
            "SYN flood episodes that started on a listening port").role(Role.NOTE).column("FLOODS", 6)
            .metric(Export.Family.ALERTS, "type", "flood");
    private static final Desc PORTS_UNTRACKED = Desc.of("flood_detail.ports_untracked",
            "SYNs and handshakes under no port (its set was full)", "SYNs and handshakes the per-port table had no room for")
            .role(Role.NOT_SHOWN)
            .metric(Export.Family.UNTRACKED, "probe", "flood", "table", "ports");
    private static final Desc SOURCES_UNTRACKED = Desc.of("flood_detail.sources_untracked",
            "SYNs under no source (a spoofed flood fills the per-source table)",
            "SYNs the per-source table had no room for (expected in a spoofed flood: the sketch still counts them)")
            .role(Role.HIDDEN)
            .metric(Export.Family.UNTRACKED, "probe", "flood", "table", "sources");
    private static final Desc EPISODES = Desc.of("syn_floods", "SYN floods",
            "SYN flood episodes: port, kind (spoofed or real), peak SYN rate, SYNs, handshakes, distinct sources, cookies, overflows, sources, first and last seen, state");

    /** The default: 500 SYNs a second on one port start an alert, 3 s below half of it end it. */
    public static RateThreshold defaults() {
        return new RateThreshold("syn_rate", 500, 3);
    }

    /** One flood as this side follows it. */
    public record Episode(int port, String kind, double peakRate, long syns, long handshakes, long distinctSources,
                          long cookies, long overflows, long listenDrops, List<String> sources, Instant first,
                          Instant last, Alert.State state) {}

    private RateThreshold settings;
    private ProbeContext context;
    private FlowTable ports;
    private FlowTable sources;
    private BpfMap sketches;
    private BpfMap sketchActive;
    private int activeSketch;
    private final Map<Integer, long[]> lastPorts = new HashMap<>();
    private Map<String, Long> lastSnmp = Map.of();
    private long lastDrain = System.nanoTime();
    /** Rates are taken over at least this long (a watch drains every second; readings come in between). */
    static final long MIN_PERIOD_NANOS = 900_000_000L;
    private final Map<Integer, Followed> followed = new LinkedHashMap<>();
    private final EpisodeHistory<Episode> history = new EpisodeHistory<>();
    private long started;

    public FloodProbe() {
        this(defaults());
    }

    public FloodProbe(RateThreshold settings) {
        this.settings = settings;
    }

    @Override
    public String name() {
        return "flood";
    }

    @Override
    public String help() {
        return "SYN floods per listening port (" + settings.perSecond() + "+ SYNs/s, under half completing):"
                + " an alert within 2 s, spoofed or from real sources (named, with rates), ended with totals";
    }

    @Override
    public Set<Hook> hooks() {
        return Set.of(Hook.INGRESS, Hook.STATE_CHANGE);
    }

    @Override
    public List<Setting> settings() {
        return settings.settings("SYNs a second on one port, under half completing, that start an alert");
    }

    @Override
    public void set(String key, String value) {
        RateThreshold changed = settings.with(name(), key, value);
        if (changed == null) {
            Probe.super.set(key, value);
        }
        settings = changed;
    }

    @Override
    public List<StructLayout> sharedStructs() {
        return List.of(PORT_KEY, PORT_COUNTS, SOURCE_KEY, SKETCH);
    }

    @Override
    public Map<String, List<String>> sharedEnums() {
        return Map.of("flood_stat", Arrays.stream(Stat.values()).map(s -> "FLOOD_STAT_" + s.name()).toList());
    }

    @Override
    public void bind(ProbeContext context) {
        this.context = context;
        this.ports = context.slotTable("flood_ports", PORT_KEY.byteSize(), PORT_COUNTS.byteSize(),
                FlowTable.sumOfLongs(2), v -> v.get(ValueLayout.JAVA_LONG_UNALIGNED, 0));
        this.sources = context.slotTable("flood_sources", SOURCE_KEY.byteSize(), 8, FlowTable.sumOfLongs(1),
                v -> v.get(ValueLayout.JAVA_LONG_UNALIGNED, 0));
        this.sketches = context.map("flood_sketches");
        this.sketchActive = context.map("flood_sketch_active");
        this.lastSnmp = snmp();
    }

    private Map<String, Long> snmp() {
        return context.inNamespace(SnmpCounters::read);
    }

    /** What this side keeps of a flood it follows. */
    private static final class Followed {
        final Instant first;
        final long baselineNanos; // when sourcesAtStart was drained
        final Map<String, Long> snmpAtStart;
        final Map<String, Long> sourcesAtStart;
        double peak;
        long syns;
        long handshakes;
        long distinct;
        int quiet;
        String kind = "unknown";
        List<String> named = List.of();
        List<Double> rates = List.of(); // SYNs a second of each named source since the onset
        Instant last;

        Followed(Instant first, long baselineNanos, Map<String, Long> snmp, Map<String, Long> sources) {
            this.first = first;
            this.baselineNanos = baselineNanos;
            this.snmpAtStart = snmp;
            this.sourcesAtStart = sources;
            this.last = first;
        }
    }

    /** Every second: rates per port, onsets, classifications and ends. */
    @Override
    public synchronized void drain() {
        long now = System.nanoTime();
        if (now - lastDrain < MIN_PERIOD_NANOS) {
            return; // rates over a shorter time would be noise: the next drain takes this one's counts
        }
        double seconds = (now - lastDrain) / 1e9;
        lastDrain = now;
        Map<Integer, long[]> delta = portDeltas();
        long distinct = sketchEstimate();
        long drainedBefore = lastDrain - (long) (seconds * 1e9);
        Map<String, Long> snmp = snmp();
        long cookies = change(snmp, "TcpExt:SyncookiesSent");
        long overflows = change(snmp, "TcpExt:ListenOverflows");
        long listenDrops = change(snmp, "TcpExt:ListenDrops");
        Instant time = Instant.now();
        // The sketch counts the sources of every SYN, so it is weighed against every SYN, not one port's.
        long allSyns = delta.values().stream().mapToLong(d -> d[0]).sum();

        for (var e : delta.entrySet()) {
            int port = e.getKey();
            double rate = e.getValue()[0] / seconds;
            long syns = e.getValue()[0];
            long handshakes = e.getValue()[1];
            Followed f = followed.get(port);
            boolean flooding = rate >= settings.perSecond()
                    && (handshakes * 2 < syns || cookies > 0 || overflows > 0 || listenDrops > 0);
            if (f == null && flooding) {
                // The kernel's counters and the sources' SYNs from before this second: the flood's share starts there.
                f = new Followed(time, drainedBefore, lastSnmp, sourceTotals(false));
                followed.put(port, f);
                started++;
                account(f, rate, syns, handshakes, distinct, time);
                classify(f, allSyns, distinct);
                context.alert(alert(port, f, snmp, Alert.State.START));
            } else if (f != null) {
                account(f, rate, syns, handshakes, distinct, time);
                if (settings.calm(rate)) {
                    if (++f.quiet >= settings.quietSeconds()) {
                        followed.remove(port);
                        context.alert(alert(port, f, snmp, Alert.State.END));
                    }
                } else {
                    f.quiet = 0;
                    String before = f.kind + f.named;
                    classify(f, allSyns, distinct);
                    if (!before.equals(f.kind + f.named)) {
                        context.alert(alert(port, f, snmp, Alert.State.UPDATE));
                    }
                }
            }
        }
        lastSnmp = snmp;
        sources.drain(); // a half left full would leave a new flood's sources untracked
        // A followed port that received nothing at all this second is quiet too.
        for (var it = followed.entrySet().iterator(); it.hasNext(); ) {
            var entry = it.next();
            if (!delta.containsKey(entry.getKey()) && ++entry.getValue().quiet >= settings.quietSeconds()) {
                it.remove();
                context.alert(alert(entry.getKey(), entry.getValue(), snmp, Alert.State.END));
            }
        }
    }

    private static void account(Followed f, double rate, long syns, long handshakes, long distinct, Instant time) {
        f.peak = Math.max(f.peak, rate);
        f.syns += syns;
        f.handshakes += handshakes;
        f.distinct = Math.max(f.distinct, distinct);
        if (syns > 0) {
            f.last = time;
        }
    }

    /**
     * Spoofed when the sources of the second's SYNs (to every port: the sketch is one) are about as
     * many as those SYNs (each source seen a few times at most: a random source per SYN); else the
     * flood comes from real sources, named by their SYNs since the onset.
     */
    private void classify(Followed f, long syns, long distinct) {
        if (distinct >= 64 && distinct * 4 >= syns) {
            f.kind = "spoofed";
            f.named = List.of();
            f.rates = List.of();
            return;
        }
        f.kind = "real";
        List<String> named = new ArrayList<>();
        List<Double> rates = new ArrayList<>();
        Map<String, Long> now = sourceTotals(true);
        double elapsed = Math.max(0.2, (System.nanoTime() - f.baselineNanos) / 1e9);
        now.entrySet().stream()
                .map(e -> Map.entry(e.getKey(), e.getValue() - f.sourcesAtStart.getOrDefault(e.getKey(), 0L)))
                .filter(e -> e.getValue() > 0)
                .sorted(Map.Entry.<String, Long>comparingByValue().reversed())
                .limit(5)
                .forEach(e -> {
                    named.add(e.getKey());
                    rates.add(e.getValue() / elapsed);
                });
        f.named = named;
        f.rates = rates;
    }

    private long change(Map<String, Long> snmp, String counter) {
        return snmp.getOrDefault(counter, 0L) - lastSnmp.getOrDefault(counter, 0L);
    }

    /** SYNs and handshakes per port since the last drain. */
    private Map<Integer, long[]> portDeltas() {
        Map<Integer, long[]> delta = new TreeMap<>();
        ports.top(Integer.MAX_VALUE, (key, value) -> {
            int port = (int) key.get(ValueLayout.JAVA_LONG_UNALIGNED, 0);
            long syns = value.get(ValueLayout.JAVA_LONG_UNALIGNED, 0);
            long handshakes = value.get(ValueLayout.JAVA_LONG_UNALIGNED, 8);
            long[] last = lastPorts.computeIfAbsent(port, p -> new long[2]);
            if (syns != last[0] || handshakes != last[1]) {
                delta.put(port, new long[] {syns - last[0], handshakes - last[1]});
                last[0] = syns;
                last[1] = handshakes;
            }
            return null;
        });
        return delta;
    }

    /** SYNs per source since the probe was loaded (drained first, or as of the last drain), the 100 biggest, by address text. */
    private Map<String, Long> sourceTotals(boolean drainFirst) {
        Map<String, Long> totals = new HashMap<>();
        java.util.function.BiFunction<MemorySegment, MemorySegment, Void> put = (key, value) -> {
            totals.put(dev.tcpinspect.probe.SourceKey.format(key), value.get(ValueLayout.JAVA_LONG_UNALIGNED, 0));
            return null;
        };
        if (drainFirst) {
            sources.top(100, put);
        } else {
            sources.drained(100, put);
        }
        return totals;
    }


    /**
     * Distinct sources of the SYNs since the last drain: the sketch the kernel wrote meanwhile
     * (its registers the maximum over CPUs), after making it count into the other one.
     */
    private long sketchEstimate() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment zero = arena.allocate(4);
            MemorySegment bank = arena.allocate(4);
            int written = activeSketch;
            activeSketch = 1 - activeSketch;
            bank.set(ValueLayout.JAVA_INT, 0, activeSketch);
            sketchActive.update(zero, bank, BpfMap.ANY);
            Thread.sleep(2); // a run that took the old bank before the switch finishes its write
            MemorySegment key = arena.allocate(4);
            key.set(ValueLayout.JAVA_INT, 0, written);
            MemorySegment values = arena.allocate(sketches.valueBufferSize());
            if (!sketches.lookup(key, values)) {
                return 0;
            }
            int[] registers = new int[REGISTERS];
            int stride = sketches.valueBufferSize() / BpfMap.possibleCpus();
            for (int cpu = 0; cpu < BpfMap.possibleCpus(); cpu++) {
                for (int i = 0; i < REGISTERS; i++) {
                    registers[i] = Math.max(registers[i], Byte.toUnsignedInt(values.get(JAVA_BYTE, (long) cpu * stride + i)));
                }
            }
            sketches.update(key, arena.allocate(sketches.valueBufferSize()), BpfMap.ANY);
            return estimate(registers);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 0;
        }
    }

    /** HyperLogLog's estimate of distinct items from its registers, with the small-range correction. */
    static long estimate(int[] registers) {
        int m = registers.length;
        double sum = 0;
        int zeros = 0;
        for (int r : registers) {
            sum += Math.pow(2, -r);
            if (r == 0) {
                zeros++;
            }
        }
        double alpha = 0.7213 / (1 + 1.079 / m);
        double e = alpha * m * m / sum;
        if (e <= 2.5 * m && zeros > 0) {
            e = m * Math.log((double) m / zeros);
        }
        return Math.round(e);
    }

    private Alert alert(int port, Followed f, Map<String, Long> snmp, Alert.State state) {
        long cookies = since(snmp, f, "TcpExt:SyncookiesSent");
        long overflows = since(snmp, f, "TcpExt:ListenOverflows");
        long listenDrops = since(snmp, f, "TcpExt:ListenDrops");
        long halfOpen = state == Alert.State.END ? 0 : halfOpen(port);
        Episode e = new Episode(port, f.kind, f.peak, f.syns, f.handshakes, f.distinct, cookies, overflows, listenDrops,
                f.named, f.first, f.last, state);
        if (state != Alert.State.UPDATE) {
            history.add(e, state == Alert.State.END, h -> h.port() == port && h.state() == Alert.State.START);
        }
        String who = f.kind.equals("spoofed") ? "spoofed, ~" + f.distinct + " sources"
                : f.kind.equals("real") ? "from " + sourcesWithRates(f) : f.kind;
        String headline = String.format("SYN flood on port %d (%s): peak %.0f SYN/s, %d SYNs, %d handshakes, %d half-open,"
                + " %d cookies, %d listen drops", port, who, f.peak, f.syns, f.handshakes, halfOpen, cookies, listenDrops);
        List<Cell> fields = List.of(new Cell.Count("port", port), new Cell.Text("kind", f.kind),
                new Cell.Decimal("peak_syn_rate", Math.round(f.peak * 10) / 10.0), new Cell.Count("syns", f.syns),
                new Cell.Count("handshakes", f.handshakes), new Cell.Count("distinct_sources", f.distinct),
                new Cell.Count("syn_cookies", cookies), new Cell.Count("listen_overflows", overflows),
                new Cell.Count("listen_drops", listenDrops), new Cell.Count("half_open", halfOpen),
                new Cell.Text("sources", String.join(",", f.named)),
                new Cell.Text("source_syn_rates", String.join(",", f.rates.stream().map(r -> Long.toString(Math.round(r))).toList())),
                new Cell.Text("first_seen", f.first.toString()),
                new Cell.Text("last_seen", f.last.toString()));
        // The source an operator acts on: the busiest real one; a spoofed flood has none ("*").
        String source = f.named.isEmpty() ? "*" : f.named.getFirst();
        String family = f.named.isEmpty() ? "any" : source.contains(":") ? "ipv6" : "ipv4";
        return new Alert("flood", "flood port " + port, state, Instant.now(), source, family, headline, fields);
    }

    /** "198.18.0.2 (63,000 SYN/s)" for each named source. */
    private static String sourcesWithRates(Followed f) {
        List<String> parts = new ArrayList<>();
        for (int i = 0; i < f.named.size(); i++) {
            parts.add(String.format("%s (%,.0f SYN/s)", f.named.get(i), i < f.rates.size() ? f.rates.get(i) : 0.0));
        }
        return String.join(", ", parts);
    }

    private static long since(Map<String, Long> snmp, Followed f, String counter) {
        return snmp.getOrDefault(counter, 0L) - f.snmpAtStart.getOrDefault(counter, 0L);
    }

    /** Half-open connections (SYN_RECV) on the port now, from /proc/net/tcp and tcp6 of the probe's namespace. */
    private long halfOpen(int port) {
        String local = String.format(":%04X ", port);
        return context.inNamespace(() -> {
            long n = 0;
            for (String file : new String[] {"tcp", "tcp6"}) {
                try (var lines = java.nio.file.Files.lines(java.nio.file.Path.of("/proc/thread-self/net", file))) {
                    n += lines.filter(l -> {
                        String[] f = l.trim().split("\\s+");
                        return f.length > 3 && f[3].equals("03") && (f[1] + " ").endsWith(local);
                    }).count();
                } catch (java.io.IOException e) {
                    // no IPv6 in this kernel: nothing to count there
                }
            }
            return n;
        });
    }

    /** The floods seen (started or ended), oldest first, at most the last 100. */
    public synchronized List<Episode> episodes() {
        return history.list();
    }

    @Override
    public Snapshot snapshot(boolean withTables) {
        drain();
        long[] v = context.counters("flood_stats", Stat.values().length);
        List<Metric> metrics = new ArrayList<>(List.of(new Counter(ALERTS, startedCount()),
                new Counter(PORTS_UNTRACKED, v[Stat.PORTS_UNTRACKED.ordinal()] + ports.released()),
                new Counter(SOURCES_UNTRACKED, v[Stat.SOURCES_UNTRACKED.ordinal()])));
        if (withTables) {
            List<Metric.Row> rows = new ArrayList<>();
            for (Episode e : episodes()) {
                rows.add(Metric.Row.of(new Cell.Count("port", e.port()), new Cell.Text("kind", e.kind()),
                        new Cell.Decimal("peak_syn_rate", Math.round(e.peakRate() * 10) / 10.0),
                        new Cell.Count("syns", e.syns()), new Cell.Count("handshakes", e.handshakes()),
                        new Cell.Count("distinct_sources", e.distinctSources()), new Cell.Count("syn_cookies", e.cookies()),
                        new Cell.Count("listen_overflows", e.overflows()), new Cell.Count("listen_drops", e.listenDrops()),
                        new Cell.Text("sources", String.join(",", e.sources())),
                        new Cell.Text("first_seen", e.first().toString()), new Cell.Text("last_seen", e.last().toString()),
                        new Cell.Text("state", e.state() == Alert.State.END ? "ended" : "active")));
            }
            metrics.add(new Metric.Table(EPISODES, EPISODES.label(), "", rows));
        }
        return new Snapshot(name(), metrics);
    }

    private synchronized long startedCount() {
        return started;
    }
}
