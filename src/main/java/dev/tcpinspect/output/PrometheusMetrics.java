package dev.tcpinspect.output;

import dev.tcpinspect.snapshot.Export;
import dev.tcpinspect.snapshot.LogLinearHistogram;
import dev.tcpinspect.snapshot.Metric;
import dev.tcpinspect.snapshot.Reading;
import dev.tcpinspect.snapshot.Snapshot;
import io.prometheus.metrics.model.snapshots.ClassicHistogramBuckets;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The third renderer of snapshots, after text and JSON: a reading as Prometheus metric families,
 * through the official client's data model (its exposition writes the text format). It knows no
 * probe: each metric's {@link Export} names its family and labels; one without is exported under its
 * path. Tables (top flows) have unbounded labels and stay in the JSON API. Labels that the
 * configuration bounds (ports) keep only the configured values and sum the rest under "other", so
 * the number of series never grows with the traffic.
 */
public final class PrometheusMetrics {
    /** Every name starts with this. */
    public static final String PREFIX = "tcpinspect_";

    /**
     * Histogram bounds in microseconds: each power of two and the point half-way up to the next, from
     * 16 us to 16.8 s. Each is a bucket edge of the kernel's log-linear histograms, so the cumulative
     * counts are exact: a bucket holds the values below its bound (whole microseconds, so "le 64 us"
     * holds 0 to 63 us; a value exactly on a bound counts in the next).
     */
    static final long[] BOUNDS_US = bounds();

    private static long[] bounds() {
        List<Long> b = new ArrayList<>();
        for (int k = 4; k <= 24; k++) {
            b.add(1L << k);
            if (k < 24) {
                b.add(3L << (k - 1));
            }
        }
        return b.stream().mapToLong(Long::longValue).toArray();
    }

    private static final double[] BOUNDS_SECONDS = java.util.Arrays.stream(BOUNDS_US)
            .mapToDouble(us -> us / 1e6).toArray();

    private final Map<String, Set<String>> bounded;

    /**
     * @param bounded for each label whose values come from the configuration (port), the values
     *     kept; any other value is counted under "other", and every kept value is always shown
     */
    public PrometheusMetrics(Map<String, Set<String>> bounded) {
        this.bounded = Map.copyOf(bounded);
    }

    /** Every metric of the reading (cumulative counts), grouped in families, in the reading's order. */
    public MetricSnapshots render(Reading reading) {
        Map<String, Family> families = new LinkedHashMap<>();
        for (Snapshot s : reading.snapshots()) {
            for (Metric m : s.metrics()) {
                if (m instanceof Metric.Table) {
                    continue;
                }
                Export export = exportOf(m);
                String name = PREFIX + export.family().name();
                Family f = families.computeIfAbsent(name, n -> new Family(n, export.family().help(), kindOf(m)));
                if (f.kind != kindOf(m)) {
                    throw new IllegalStateException(m.desc().path() + " is a " + kindOf(m) + " in family " + name
                            + ", which holds " + f.kind + "s");
                }
                add(f, export, m);
            }
        }
        List<MetricSnapshot> out = new ArrayList<>(families.size());
        for (Family f : families.values()) {
            out.add(f.build());
        }
        return new MetricSnapshots(out);
    }

    /** The metric's export, or one under its path: "drop_detail.rcvqueue_full" is tcpinspect_drop_detail_rcvqueue_full. */
    static Export exportOf(Metric m) {
        if (m.desc().export() != null) {
            return m.desc().export();
        }
        String name = m.desc().path().replace('.', '_');
        boolean histogram = m instanceof Metric.Distribution || m instanceof Metric.DistributionMap;
        if (histogram && !name.endsWith("_seconds")) {
            name = name.replaceFirst("_ms$", "") + "_seconds";
        }
        return new Export(new Export.Family(name, m.desc().help()), List.of(),
                m instanceof Metric.CounterMap || m instanceof Metric.DistributionMap ? "key" : null);
    }

    private enum Kind { COUNTER, GAUGE, HISTOGRAM }

    private static Kind kindOf(Metric m) {
        return switch (m) {
            case Metric.Counter c -> Kind.COUNTER;
            case Metric.CounterMap c -> Kind.COUNTER;
            case Metric.Gauge g -> Kind.GAUGE;
            case Metric.Distribution d -> Kind.HISTOGRAM;
            case Metric.DistributionMap d -> Kind.HISTOGRAM;
            case Metric.Table t -> throw new IllegalArgumentException("tables are not exported");
        };
    }

    private void add(Family f, Export export, Metric m) {
        Labels constant = Labels.of(export.labels().toArray(String[]::new));
        switch (m) {
            case Metric.Counter c -> f.counter(constant, c.value());
            case Metric.Gauge g -> f.gauge(constant, g.value());
            case Metric.Distribution d -> f.histogram(constant, d.histogram());
            case Metric.CounterMap map -> {
                Map<String, Long> byValue = new TreeMap<>();
                Set<String> kept = bounded.get(export.keyLabel());
                if (kept != null) {
                    kept.forEach(v -> byValue.put(v, 0L));
                    byValue.put(OTHER, 0L);
                }
                map.counts().forEach((key, n) -> byValue.merge(kept == null || kept.contains(key) ? key : OTHER, n, Long::sum));
                byValue.forEach((value, n) -> f.counter(constant.add(export.keyLabel(), value), n));
            }
            case Metric.DistributionMap map -> {
                Map<String, LogLinearHistogram> byValue = new TreeMap<>();
                Set<String> kept = bounded.get(export.keyLabel());
                if (kept != null) {
                    kept.forEach(v -> byValue.put(v, new LogLinearHistogram()));
                    byValue.put(OTHER, new LogLinearHistogram());
                }
                map.histograms().forEach((key, h) -> byValue
                        .computeIfAbsent(kept == null || kept.contains(key) ? key : OTHER, k -> new LogLinearHistogram())
                        .add(h));
                byValue.forEach((value, h) -> f.histogram(constant.add(export.keyLabel(), value), h));
            }
            case Metric.Table t -> { }
        }
    }

    /** Where values of a bounded label that the configuration does not name are counted. */
    public static final String OTHER = "other";

    /** One family being built: its data points, each with its own labels. */
    private static final class Family {
        final String name;
        final String help;
        final Kind kind;
        final CounterSnapshot.Builder counters = CounterSnapshot.builder();
        final GaugeSnapshot.Builder gauges = GaugeSnapshot.builder();
        final HistogramSnapshot.Builder histograms = HistogramSnapshot.builder();

        Family(String name, String help, Kind kind) {
            this.name = name;
            this.help = help;
            this.kind = kind;
        }

        void counter(Labels labels, long value) {
            counters.dataPoint(CounterSnapshot.CounterDataPointSnapshot.builder().labels(labels).value(value).build());
        }

        void gauge(Labels labels, long value) {
            gauges.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().labels(labels).value(value).build());
        }

        /** A kernel histogram (microseconds) as a classic histogram in seconds. */
        void histogram(Labels labels, LogLinearHistogram h) {
            long[] cumulative = new long[BOUNDS_US.length + 1];
            for (int i = 0; i < BOUNDS_US.length; i++) {
                cumulative[i] = h.countBelow(BOUNDS_US[i]);
            }
            long total = 0;
            for (int b = 0; b < LogLinearHistogram.BUCKETS; b++) {
                total += h.bucketCount(b);
            }
            cumulative[BOUNDS_US.length] = total;
            // the client takes counts per bucket, not cumulative ones
            long[] perBucket = new long[cumulative.length];
            double[] upper = java.util.Arrays.copyOf(BOUNDS_SECONDS, BOUNDS_SECONDS.length + 1);
            upper[upper.length - 1] = Double.POSITIVE_INFINITY;
            for (int i = 0; i < cumulative.length; i++) {
                perBucket[i] = cumulative[i] - (i == 0 ? 0 : cumulative[i - 1]);
            }
            histograms.dataPoint(HistogramSnapshot.HistogramDataPointSnapshot.builder().labels(labels)
                    .classicHistogramBuckets(ClassicHistogramBuckets.of(upper, perBucket))
                    .sum(h.sum() / 1e6).build());
        }

        MetricSnapshot build() {
            return switch (kind) {
                case COUNTER -> counters.name(name).help(help).build();
                case GAUGE -> gauges.name(name).help(help).build();
                case HISTOGRAM -> histograms.name(name).help(help).build();
            };
        }
    }
}
