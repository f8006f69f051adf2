package dev.tcpinspect.probe.cycling;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

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
import java.lang.foreign.MemoryLayout;
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

/**
 * cycling (bpf/probes/cycling.h): remotes whose connections end abnormally, reset either way,
 * aborted, refused, or closed without carrying data, and bursts of resets to or from one peer.
 * Every second the kernel's per-remote counts become rates; a remote above
 * {@link RateThreshold#perSecond} of either starts an alert, which ends with its totals once the remote
 * has stayed below half of it for three seconds. Observation only.
 */
public final class CyclingProbe implements Probe {
    /** enum cycling_stat, in value order. */
    enum Stat { REMOTES_UNTRACKED }

    static final StructLayout REMOTE_KEY = dev.tcpinspect.probe.SourceKey.LAYOUT;
    static final StructLayout COUNTS = MemoryLayout.structLayout(JAVA_LONG.withName("aborted"),
            JAVA_LONG.withName("empty"), JAVA_LONG.withName("resets")).withName("cycling_counts");

    private static final Desc ALERTS = Desc.of("alerts.cycling", "connection cycling",
            "Remotes that started ending connections abnormally (or exchanging resets) above the threshold")
            .role(Role.NOTE).column("CYCLING", 7)
            .metric(Export.Family.ALERTS, "type", "cycling");
    private static final Desc UNTRACKED = Desc.of("cycling_detail.remotes_untracked",
            "abnormal ends and resets under no remote (its set was full)",
            "Abnormal ends and resets the per-remote table had no room for").role(Role.NOT_SHOWN)
            .metric(Export.Family.UNTRACKED, "probe", "cycling", "table", "remotes");
    private static final Desc EPISODES = Desc.of("cycling_peers", "Connection cycling",
            "Cycling episodes: remote, family, peak rates of aborted and empty connections and of resets, totals, first and last seen, state");

    /** The default: over 20 abnormal ends (or resets) a second from one remote start an alert, 3 s below 10 end it. */
    public static RateThreshold defaults() {
        return new RateThreshold("rate", 20, 3);
    }

    /** One cycling remote as this side follows it. */
    public record Episode(String remote, String family, double peakAbnormal, double peakResets, long aborted,
                          long empty, long resets, Instant first, Instant last, Alert.State state) {}

    private RateThreshold settings;
    private ProbeContext context;
    private FlowTable remotes;
    /** Counts drained from the kernel since the last drain(), by remote (its own lock: drains come from readings too). */
    private final Object pendingLock = new Object();
    private Map<String, long[]> pending = new HashMap<>();
    private Map<String, String> pendingFamilies = new HashMap<>();
    private final Map<String, Followed> followed = new LinkedHashMap<>();
    private final EpisodeHistory<Episode> history = new EpisodeHistory<>();
    private long lastDrain = System.nanoTime();
    /** Rates are taken over at least this long (a watch drains every second; readings come in between). */
    static final long MIN_PERIOD_NANOS = 900_000_000L;
    private long started;

    public CyclingProbe() {
        this(defaults());
    }

    public CyclingProbe(RateThreshold settings) {
        this.settings = settings;
    }

    @Override
    public String name() {
        return "cycling";
    }

    @Override
    public String help() {
        return "remotes whose connections end abnormally (reset, aborted, refused, or closed without data) or that"
                + " exchange resets, over " + settings.perSecond() + " a second: one alert per episode";
    }

    @Override
    public Set<Hook> hooks() {
        return Set.of(Hook.STATE_CHANGE, Hook.SEND_RESET, Hook.RECEIVE_RESET);
    }

    @Override
    public List<Setting> settings() {
        return settings.settings("abnormal ends (or resets) a second from one remote that start an alert");
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
        return List.of(REMOTE_KEY, COUNTS);
    }

    @Override
    public Map<String, List<String>> sharedEnums() {
        return Map.of("cycling_stat", Arrays.stream(Stat.values()).map(s -> "CYCLING_STAT_" + s.name()).toList());
    }

    @Override
    public void bind(ProbeContext context) {
        this.context = context;
        this.remotes = context.slotTable("cycling_remotes", REMOTE_KEY.byteSize(), COUNTS.byteSize(),
                FlowTable.sumOfLongs(3), v -> v.get(ValueLayout.JAVA_LONG_UNALIGNED, 0)
                        + v.get(ValueLayout.JAVA_LONG_UNALIGNED, 8) + v.get(ValueLayout.JAVA_LONG_UNALIGNED, 16));
        remotes.onDrain((key, value) -> {
            String remote = dev.tcpinspect.probe.SourceKey.format(key);
            synchronized (pendingLock) {
                long[] d = pending.computeIfAbsent(remote, r -> new long[3]);
                d[0] += value.get(ValueLayout.JAVA_LONG_UNALIGNED, 0);
                d[1] += value.get(ValueLayout.JAVA_LONG_UNALIGNED, 8);
                d[2] += value.get(ValueLayout.JAVA_LONG_UNALIGNED, 16);
                pendingFamilies.putIfAbsent(remote, dev.tcpinspect.probe.SourceKey.ipv6(key) ? "ipv6" : "ipv4");
            }
        });
    }

    private static final class Followed {
        final String family;
        final Instant first;
        Instant last;
        double peakAbnormal;
        double peakResets;
        long aborted;
        long empty;
        long resets;
        int quiet;

        Followed(String family, Instant first) {
            this.family = family;
            this.first = first;
            this.last = first;
        }
    }

    /** Every second: each remote's abnormal ends and resets since the last drain, onsets and ends. */
    @Override
    public synchronized void drain() {
        long now = System.nanoTime();
        if (now - lastDrain < MIN_PERIOD_NANOS) {
            return; // rates over a shorter time would be noise: the next drain takes this one's counts
        }
        double seconds = (now - lastDrain) / 1e9;
        lastDrain = now;
        Instant time = Instant.now();
        // What each remote added since the last drain: whatever drained the kernel's counts since (this,
        // or a reading of the top remotes), so the cost follows the remotes that changed, not every one kept
        remotes.drain();
        remotes.drain(); // both halves, as top() drains them
        Map<String, long[]> delta;
        Map<String, String> families;
        synchronized (pendingLock) {
            delta = pending;
            families = pendingFamilies;
            pending = new HashMap<>();
            pendingFamilies = new HashMap<>();
        }
        delta.values().removeIf(d -> d[0] == 0 && d[1] == 0 && d[2] == 0);
        for (var e : delta.entrySet()) {
            String remote = e.getKey();
            long[] d = e.getValue();
            double abnormal = (d[0] + d[1]) / seconds;
            double resets = d[2] / seconds;
            Followed f = followed.get(remote);
            boolean above = abnormal > settings.perSecond() || resets > settings.perSecond();
            if (f == null && above) {
                f = new Followed(families.get(remote), time);
                followed.put(remote, f);
                started++;
                account(f, d, abnormal, resets, time);
                context.alert(alert(remote, f, Alert.State.START));
            } else if (f != null) {
                account(f, d, abnormal, resets, time);
                if (settings.calm(abnormal) && settings.calm(resets)) {
                    if (++f.quiet >= settings.quietSeconds()) {
                        followed.remove(remote);
                        context.alert(alert(remote, f, Alert.State.END));
                    }
                } else {
                    f.quiet = 0;
                }
            }
        }
        for (var it = followed.entrySet().iterator(); it.hasNext(); ) {
            var entry = it.next();
            if (!delta.containsKey(entry.getKey()) && ++entry.getValue().quiet >= settings.quietSeconds()) {
                it.remove();
                context.alert(alert(entry.getKey(), entry.getValue(), Alert.State.END));
            }
        }
    }

    private static void account(Followed f, long[] d, double abnormal, double resets, Instant time) {
        f.aborted += d[0];
        f.empty += d[1];
        f.resets += d[2];
        f.peakAbnormal = Math.max(f.peakAbnormal, abnormal);
        f.peakResets = Math.max(f.peakResets, resets);
        f.last = time;
    }


    private Alert alert(String remote, Followed f, Alert.State state) {
        Episode e = new Episode(remote, f.family, f.peakAbnormal, f.peakResets, f.aborted, f.empty, f.resets, f.first,
                f.last, state);
        if (state != Alert.State.UPDATE) {
            history.add(e, state == Alert.State.END, h -> h.remote().equals(remote) && h.state() == Alert.State.START);
        }
        String headline = String.format("connection cycling with %s: %.0f abnormal ends/s at peak (%d aborted, %d empty),"
                + " %.0f resets/s at peak (%d)", remote, f.peakAbnormal, f.aborted, f.empty, f.peakResets, f.resets);
        return new Alert("cycling", "cycling " + remote, state, Instant.now(), remote, f.family, headline, List.of(
                new Cell.Decimal("peak_abnormal_per_second", Math.round(f.peakAbnormal * 10) / 10.0),
                new Cell.Decimal("peak_resets_per_second", Math.round(f.peakResets * 10) / 10.0),
                new Cell.Count("aborted", f.aborted), new Cell.Count("empty", f.empty), new Cell.Count("resets", f.resets),
                new Cell.Text("first_seen", f.first.toString()), new Cell.Text("last_seen", f.last.toString())));
    }

    /** The episodes seen (started or ended), oldest first, at most the last 100. */
    public synchronized List<Episode> episodes() {
        return history.list();
    }

    private synchronized long startedCount() {
        return started;
    }

    @Override
    public Snapshot snapshot(boolean withTables) {
        drain();
        long[] v = context.counters("cycling_stats", Stat.values().length);
        List<Metric> metrics = new ArrayList<>(List.of(new Counter(ALERTS, startedCount()),
                new Counter(UNTRACKED, v[Stat.REMOTES_UNTRACKED.ordinal()] + remotes.released())));
        if (withTables) {
            List<Metric.Row> rows = new ArrayList<>();
            for (Episode e : episodes()) {
                rows.add(Metric.Row.of(new Cell.Text("remote", e.remote()), new Cell.Text("family", e.family()),
                        new Cell.Decimal("peak_abnormal_per_second", Math.round(e.peakAbnormal() * 10) / 10.0),
                        new Cell.Decimal("peak_resets_per_second", Math.round(e.peakResets() * 10) / 10.0),
                        new Cell.Count("aborted", e.aborted()), new Cell.Count("empty", e.empty()),
                        new Cell.Count("resets", e.resets()), new Cell.Text("first_seen", e.first().toString()),
                        new Cell.Text("last_seen", e.last().toString()),
                        new Cell.Text("state", e.state() == Alert.State.END ? "ended" : "active")));
            }
            metrics.add(new Metric.Table(EPISODES, EPISODES.label(), "", rows));
        }
        return new Snapshot(name(), metrics);
    }
}
