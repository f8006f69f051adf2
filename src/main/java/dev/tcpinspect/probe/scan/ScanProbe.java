package dev.tcpinspect.probe.scan;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import dev.tcpinspect.ebpf.BpfMap;
import dev.tcpinspect.ebpf.OpenObject;
import dev.tcpinspect.probe.EpisodeHistory;
import dev.tcpinspect.probe.Hook;
import dev.tcpinspect.probe.Probe;
import dev.tcpinspect.probe.ProbeContext;
import dev.tcpinspect.probe.Setting;
import dev.tcpinspect.probe.ProbeSet;
import dev.tcpinspect.snapshot.Addresses;
import dev.tcpinspect.snapshot.Alert;
import dev.tcpinspect.snapshot.Desc;
import dev.tcpinspect.snapshot.Export;
import dev.tcpinspect.snapshot.Desc.Role;
import dev.tcpinspect.snapshot.Flow;
import dev.tcpinspect.snapshot.Metric;
import dev.tcpinspect.snapshot.Metric.Cell;
import dev.tcpinspect.snapshot.Metric.Counter;
import dev.tcpinspect.snapshot.Snapshot;
import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * scan (bpf/probes/scan.h): port scans of this host. The kernel counts each source's distinct ports
 * (and closed ones) in sliding windows and raises one alert record when a threshold is crossed; this
 * side follows the source from then on, reports changes at most once a second, and ends the episode
 * with its totals when the source has been quiet for the closed-port window. Observation only.
 */
public final class ScanProbe implements Probe {
    /** enum scan_style, in value order. */
    public enum Style { SYN, FIN, NULL, XMAS, ACK, OTHER }

    /** enum scan_stat, in value order. */
    enum Stat { ALERTS, ALERTS_LOST, SOURCES_EVICTED, SOURCES_UNTRACKED }

    static final int BITS = 512;
    private static final int QUARTERS = 4;
    private static final int SAMPLE = 8;

    static final StructLayout WINDOW = MemoryLayout.structLayout(
            MemoryLayout.sequenceLayout(8 * QUARTERS, JAVA_LONG).withName("bits"),
            MemoryLayout.sequenceLayout(QUARTERS, JAVA_INT).withName("quarter"),
            MemoryLayout.sequenceLayout(QUARTERS, JAVA_INT).withName("fresh")).withName("scan_window");
    static final StructLayout SOURCE = MemoryLayout.structLayout(
            JAVA_LONG.withName("tag"),
            JAVA_LONG.withName("alerted"),
            MemoryLayout.sequenceLayout(16, JAVA_BYTE).withName("addr"),
            JAVA_SHORT.withName("family"),
            JAVA_SHORT.withName("samples"),
            JAVA_INT.withName("pad"),
            JAVA_LONG.withName("first_seen"),
            JAVA_LONG.withName("last_seen"),
            MemoryLayout.sequenceLayout(Style.values().length, JAVA_INT).withName("probes"),
            JAVA_INT.withName("established"),
            JAVA_INT.withName("ports_peak"),
            JAVA_INT.withName("closed_peak"),
            MemoryLayout.sequenceLayout(SAMPLE, JAVA_SHORT).withName("sample"),
            MemoryLayout.paddingLayout(4),
            WINDOW.withName("ports"),
            WINDOW.withName("closed")).withName("scan_source");
    static final StructLayout ALERT = MemoryLayout.structLayout(
            JAVA_LONG.withName("ts_ns"),
            JAVA_LONG.withName("jiffies"),
            JAVA_INT.withName("index"),
            JAVA_INT.withName("hz"),
            JAVA_INT.withName("ports"),
            JAVA_INT.withName("closed")).withName("scan_alert");

    private static final long TAG = off(SOURCE, "tag");
    private static final long ALERTED = off(SOURCE, "alerted");
    private static final long FAMILY = off(SOURCE, "family");
    private static final long SAMPLES = off(SOURCE, "samples");
    private static final long FIRST_SEEN = off(SOURCE, "first_seen");
    private static final long LAST_SEEN = off(SOURCE, "last_seen");
    private static final long PROBES = off(SOURCE, "probes");
    private static final long ESTABLISHED = off(SOURCE, "established");
    private static final long PORTS_PEAK = off(SOURCE, "ports_peak");
    private static final long CLOSED_PEAK = off(SOURCE, "closed_peak");
    private static final long SAMPLE_AT = off(SOURCE, "sample");

    private static final Desc ALERTS = Desc.of("alerts.port_scan", "port scans",
            "Port scan episodes that started (a source crossed a threshold)").role(Role.NOTE).column("SCANS", 5)
            .metric(Export.Family.ALERTS, "type", "scan");
    private static final Desc ALERTS_LOST = Desc.of("scan_detail.alerts_lost", "scan alerts delayed (ring buffer full)",
            "Scan alerts the ring buffer had no room for (the source's next probe raised it again)").role(Role.NOT_SHOWN)
            .metric(Export.Family.ALERTS_LOST, "probe", "scan");
    private static final Desc UNTRACKED = Desc.of("scan_detail.sources_untracked",
            "probes from sources whose table set was held by two scans under way",
            "Probes not counted under any source: both ways of their set followed scans still under way").role(Role.NOT_SHOWN)
            .metric(Export.Family.UNTRACKED, "probe", "scan", "table", "sources");
    private static final Desc EVICTED = Desc.of("scan_detail.sources_evicted",
            "sources pushed out of the scan table inside their window (more sources at once than it holds)",
            "Sources the scan table (4,096) pushed out for newer ones while still inside their window")
            .role(Role.NOT_SHOWN)
            .metric(Export.Family.EVICTED, "probe", "scan");
    private static final Desc EPISODES = Desc.of("port_scans", "Port scans",
            "Port scan episodes: source, family, style, ports and closed ports (estimated distinct), sample, first and last seen, state");

    /** Thresholds and windows (the defaults), and how long a source stays quiet before its episode ends. */
    public record Settings(int ports, Duration portsWindow, int closedPorts, Duration closedWindow, Duration quiet) {
        public static Settings defaults() {
            return new Settings(50, Duration.ofSeconds(10), 15, Duration.ofSeconds(5), Duration.ofSeconds(5));
        }

        public Settings quiet(Duration d) {
            return new Settings(ports, portsWindow, closedPorts, closedWindow, d);
        }
    }

    /** One scan episode as this side follows it. */
    public record Episode(InetAddress source, String style, long ports, long closed, long handshakes,
                          List<Integer> sample, Instant first, Instant last, Alert.State state) {
        public String family() {
            return source.getAddress().length == 16 ? "ipv6" : "ipv4";
        }
    }

    private Settings settings;
    private ProbeContext context;
    private BpfMap sources;
    private MemorySegment record;
    private final Map<Integer, Followed> followed = new LinkedHashMap<>();
    private final EpisodeHistory<Episode> history = new EpisodeHistory<>();

    public ScanProbe() {
        this(Settings.defaults());
    }

    public ScanProbe(Settings settings) {
        this.settings = settings;
    }

    @Override
    public String name() {
        return "scan";
    }

    @Override
    public String help() {
        return "port scans: a source touching " + settings.ports() + " distinct ports in " + settings.portsWindow().toSeconds()
                + " s or " + settings.closedPorts() + " closed ones in " + settings.closedWindow().toSeconds()
                + " s, with its style (SYN, connect, FIN, NULL, XMAS, ACK); one alert per episode";
    }

    @Override
    public Set<Hook> hooks() {
        return Set.of(Hook.INGRESS, Hook.SEND_RESET, Hook.STATE_CHANGE);
    }

    @Override
    public List<Setting> settings() {
        Settings d = Settings.defaults();
        return List.of(
                new Setting("ports", Long.toString(d.ports()), "distinct ports a source touches within the window that make it a scanner"),
                new Setting("window", Long.toString(d.portsWindow().toSeconds()), "that window, in seconds"),
                new Setting("closed_ports", Long.toString(d.closedPorts()), "distinct closed ports within the closed window that make it one"),
                new Setting("closed_window", Long.toString(d.closedWindow().toSeconds()), "that window, in seconds"),
                new Setting("quiet", Long.toString(d.quiet().toSeconds()), "seconds without a probe from the source that end its episode"));
    }

    @Override
    public void set(String key, String value) {
        boolean seconds = key.endsWith("window") || key.equals("quiet");
        long n = Setting.positive(name(), key, value,
                seconds ? Setting.MAX_SECONDS : BITS / 2);
        Settings s = settings;
        settings = switch (key) {
            case "ports" -> new Settings((int) n, s.portsWindow(), s.closedPorts(), s.closedWindow(), s.quiet());
            case "window" -> new Settings(s.ports(), Duration.ofSeconds(n), s.closedPorts(), s.closedWindow(), s.quiet());
            case "closed_ports" -> new Settings(s.ports(), s.portsWindow(), (int) n, s.closedWindow(), s.quiet());
            case "closed_window" -> new Settings(s.ports(), s.portsWindow(), s.closedPorts(), Duration.ofSeconds(n), s.quiet());
            case "quiet" -> s.quiet(Duration.ofSeconds(n));
            default -> {
                Probe.super.set(key, value);
                yield s;
            }
        };
    }

    @Override
    public List<StructLayout> sharedStructs() {
        return List.of(SOURCE, ALERT, WINDOW);
    }

    @Override
    public Map<String, List<String>> sharedEnums() {
        return Map.of("scan_style", Arrays.stream(Style.values()).map(s -> "SCAN_STYLE_" + s.name()).toList(),
                "scan_stat", Arrays.stream(Stat.values()).map(s -> "SCAN_STAT_" + s.name()).toList());
    }

    @Override
    public void configure(OpenObject object, ProbeSet.Options options) {
        object.setConstant("scan_ports_window_ms", (int) settings.portsWindow().toMillis());
        object.setConstant("scan_closed_window_ms", (int) settings.closedWindow().toMillis());
        object.setConstant("scan_ports_threshold_bits", bitsFor(settings.ports()));
        object.setConstant("scan_closed_threshold_bits", bitsFor(settings.closedPorts()));
    }

    /**
     * Bits a set of 512 holds after n distinct ports, rounded up (linear counting's expectation):
     * with collisions, n ports set fewer than n bits, so the threshold is set in bits.
     */
    static int bitsFor(int ports) {
        return (int) Math.ceil(BITS * (1 - Math.pow(1 - 1.0 / BITS, ports)) - 1e-9);
    }

    /**
     * Distinct ports estimated from the bits they set in one window (linear counting). A full set
     * says only "this many or more": it is read as half a bit short of full (about 3,500 ports).
     */
    static long portsFor(long bits) {
        double b = Math.min(bits, BITS - 0.5);
        return Math.round(-BITS * Math.log(1 - b / BITS));
    }

    @Override
    public void bind(ProbeContext context) {
        this.context = context;
        this.sources = context.map("scan_sources");
        this.record = Arena.ofAuto().allocate(SOURCE.byteSize(), 8);
        context.subscribeAlerts("scan_alerts", (data, offset, length) -> started(data.asSlice(offset, ALERT.byteSize())));
    }

    /** What this side keeps of an episode it follows: the clocks to date the kernel's jiffies, and what it last said. */
    private static final class Followed {
        final long alertJiffies;
        final Instant alertTime;
        final long hz;
        long lastSeen;
        long lastChange = System.nanoTime();
        Episode reported;

        Followed(long alertJiffies, Instant alertTime, long hz) {
            this.alertJiffies = alertJiffies;
            this.alertTime = alertTime;
            this.hz = hz;
        }

        Instant at(long jiffies) {
            return alertTime.minusNanos((alertJiffies - jiffies) * 1_000_000_000L / hz);
        }
    }

    /** An alert record (reader thread): the episode starts. */
    private synchronized void started(MemorySegment alert) {
        long tsNs = alert.get(ValueLayout.JAVA_LONG_UNALIGNED, 0);
        long jiffies = alert.get(ValueLayout.JAVA_LONG_UNALIGNED, 8);
        int index = alert.get(ValueLayout.JAVA_INT_UNALIGNED, 16);
        long hz = alert.get(ValueLayout.JAVA_INT_UNALIGNED, 20);
        Instant time = Instant.now().minusNanos(Math.max(0, System.nanoTime() - tsNs));
        Followed f = new Followed(jiffies, time, hz == 0 ? 1000 : hz);
        if (!read(index)) {
            return;
        }
        f.lastSeen = record.get(ValueLayout.JAVA_LONG_UNALIGNED, LAST_SEEN);
        Episode e = episode(f, Alert.State.START);
        f.reported = e;
        followed.put(index, f);
        context.alert(alert(e, time));
    }

    /** Reads record index into the buffer; false when it is gone. */
    private boolean read(int index) {
        MemorySegment key = Arena.ofAuto().allocate(4);
        key.set(ValueLayout.JAVA_INT, 0, index);
        return sources.lookup(key, record) && record.get(ValueLayout.JAVA_LONG_UNALIGNED, TAG) != 0;
    }

    private Episode episode(Followed f, Alert.State state) {
        int family = record.get(ValueLayout.JAVA_SHORT_UNALIGNED, FAMILY);
        byte[] addr = new byte[family == Flow.AF_INET6 ? 16 : 4];
        MemorySegment.copy(record, JAVA_BYTE, off(SOURCE, "addr"), addr, 0, addr.length);
        InetAddress source;
        try {
            source = InetAddress.getByAddress(addr);
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e);
        }
        int samples = Math.min(SAMPLE, record.get(ValueLayout.JAVA_SHORT_UNALIGNED, SAMPLES));
        List<Integer> sample = new ArrayList<>();
        for (int i = 0; i < samples; i++) {
            sample.add(Short.toUnsignedInt(record.get(ValueLayout.JAVA_SHORT_UNALIGNED, SAMPLE_AT + 2L * i)));
        }
        long handshakes = Integer.toUnsignedLong(record.get(ValueLayout.JAVA_INT_UNALIGNED, ESTABLISHED));
        Style style = style();
        // A SYN scan whose handshakes completed is a connect scan (nmap -sT): said once one has.
        String label = style == Style.SYN && handshakes > 0 ? "connect" : style.name().toLowerCase(java.util.Locale.ROOT);
        return new Episode(source, label, portsFor(record.get(ValueLayout.JAVA_INT_UNALIGNED, PORTS_PEAK)),
                portsFor(record.get(ValueLayout.JAVA_INT_UNALIGNED, CLOSED_PEAK)), handshakes, sample,
                f.at(record.get(ValueLayout.JAVA_LONG_UNALIGNED, FIRST_SEEN)),
                f.at(record.get(ValueLayout.JAVA_LONG_UNALIGNED, LAST_SEEN)), state);
    }

    /** The style most of the source's probes had. */
    private Style style() {
        Style best = Style.OTHER;
        long most = 0;
        for (Style s : Style.values()) {
            long n = Integer.toUnsignedLong(record.get(ValueLayout.JAVA_INT_UNALIGNED, PROBES + 4L * s.ordinal()));
            if (n > most && s != Style.OTHER) {
                most = n;
                best = s;
            }
        }
        return best;
    }

    private Alert alert(Episode e, Instant time) {
        String headline = String.format("port scan (%s) from %s: %d ports, %d closed, e.g. %s", e.style(),
                Addresses.format(e.source()), e.ports(), e.closed(), e.sample());
        List<Cell> fields = List.of(new Cell.Text("style", e.style()), new Cell.Count("ports", e.ports()),
                new Cell.Count("closed_ports", e.closed()), new Cell.Count("handshakes", e.handshakes()),
                new Cell.Text("sample_ports", e.sample().toString().replace(" ", "")),
                new Cell.Text("first_seen", e.first().toString()), new Cell.Text("last_seen", e.last().toString()));
        if (e.state() != Alert.State.UPDATE) { // the summary's list: an episode's start, replaced by its end
            history.add(e, e.state() == Alert.State.END,
                    h -> h.source().equals(e.source()) && h.state() == Alert.State.START);
        }
        return new Alert("scan", "scan " + Addresses.format(e.source()), e.state(), time, Addresses.format(e.source()),
                e.family(), headline, fields);
    }

    /** Every second: changes of the episodes followed, and the end of those whose source went quiet. */
    @Override
    public synchronized void drain() {
        long now = System.nanoTime();
        for (var it = followed.entrySet().iterator(); it.hasNext(); ) {
            var entry = it.next();
            Followed f = entry.getValue();
            if (!read(entry.getKey())) {
                it.remove();
                continue;
            }
            long lastSeen = record.get(ValueLayout.JAVA_LONG_UNALIGNED, LAST_SEEN);
            if (lastSeen != f.lastSeen) {
                f.lastSeen = lastSeen;
                f.lastChange = now;
                Episode e = episode(f, Alert.State.UPDATE);
                if (e.ports() != f.reported.ports() || e.closed() != f.reported.closed()) {
                    f.reported = e;
                    context.alert(alert(e, Instant.now()));
                }
            } else if (now - f.lastChange >= settings.quiet().toNanos()) {
                Episode e = episode(f, Alert.State.END);
                context.alert(alert(e, Instant.now()));
                forget(entry.getKey());
                it.remove();
            }
        }
    }

    /** Frees a source's record: its next probe starts a new episode. */
    private void forget(int index) {
        MemorySegment key = Arena.ofAuto().allocate(4);
        key.set(ValueLayout.JAVA_INT, 0, index);
        sources.update(key, Arena.ofAuto().allocate(SOURCE.byteSize(), 8), BpfMap.ANY);
    }

    /** The episodes seen (started or ended), oldest first, at most the last 100. */
    public synchronized List<Episode> episodes() {
        return history.list();
    }

    @Override
    public Snapshot snapshot(boolean withTables) {
        drain(); // every reading brings the episodes up to date
        long[] v = context.counters("scan_stats", Stat.values().length);
        List<Metric> metrics = new ArrayList<>(List.of(new Counter(ALERTS, v[Stat.ALERTS.ordinal()]),
                new Counter(ALERTS_LOST, v[Stat.ALERTS_LOST.ordinal()]),
                new Counter(EVICTED, v[Stat.SOURCES_EVICTED.ordinal()]),
                new Counter(UNTRACKED, v[Stat.SOURCES_UNTRACKED.ordinal()])));
        if (withTables) {
            List<Metric.Row> rows = new ArrayList<>();
            for (Episode e : episodes()) {
                rows.add(Metric.Row.of(new Cell.Text("source", Addresses.format(e.source())),
                        new Cell.Text("family", e.family()), new Cell.Text("style", e.style()),
                        new Cell.Count("ports", e.ports()), new Cell.Count("closed_ports", e.closed()),
                        new Cell.Text("sample_ports", e.sample().toString().replace(" ", "")),
                        new Cell.Text("first_seen", e.first().toString()), new Cell.Text("last_seen", e.last().toString()),
                        new Cell.Text("state", e.state() == Alert.State.END ? "ended" : "active")));
            }
            metrics.add(new Metric.Table(EPISODES, EPISODES.label(), "", rows));
        }
        return new Snapshot(name(), metrics);
    }

    private static long off(StructLayout layout, String field) {
        return layout.byteOffset(MemoryLayout.PathElement.groupElement(field));
    }
}
