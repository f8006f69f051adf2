package dev.tcpinspect.output;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.snapshot.Desc;
import dev.tcpinspect.snapshot.Export;
import dev.tcpinspect.snapshot.LogLinearHistogram;
import dev.tcpinspect.snapshot.Metric;
import dev.tcpinspect.snapshot.Reading;
import dev.tcpinspect.snapshot.Snapshot;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.Http;
import io.prometheus.metrics.config.EscapingScheme;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Prometheus is a third renderer of snapshots: a probe it has never heard of comes out as families
 * named by its descriptors, bounded labels stay bounded, histogram buckets count exactly the values
 * below each bound (checked against the values themselves, not the histogram), and promtool, Prometheus'
 * own checker, finds nothing to say about the result.
 */
class PrometheusMetricsTest {
    private static final Export.Family SPINS = new Export.Family("widget_spins", "Spins by direction");
    private static final Export.Family BY_PORT = new Export.Family("widget_spins_by_port", "Spins by port");
    private static final Export.Family SPIN_TIME = new Export.Family("widget_spin_seconds", "Spin time");

    private static String text(Reading r, Map<String, Set<String>> bounded) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        new PrometheusTextFormatWriter(false).write(out, new PrometheusMetrics(bounded).render(r),
                EscapingScheme.ALLOW_UTF8);
        return out.toString(StandardCharsets.UTF_8);
    }

    private static Reading reading(Metric... metrics) {
        return new Reading(List.of(new Snapshot("widget", List.of(metrics))));
    }

    @Test
    void familiesLabelsAndBoundedKeys() throws Exception {
        String text = text(reading(
                new Metric.Counter(Desc.of("spins.left", "left", "Left spins").metric(SPINS, "direction", "left"), 40),
                new Metric.Counter(Desc.of("spins.right", "right", "Right spins").metric(SPINS, "direction", "right"), 2),
                new Metric.Gauge(Desc.of("widget_detail.stuck_now", "stuck", "Widgets stuck now"), 3),
                new Metric.Counter(Desc.of("widget_detail.events_lost", "lost", "h")
                        .metric(Export.Family.EVENTS_LOST, "probe", "widget"), 7),
                new Metric.CounterMap(Desc.of("spins_by_port", "by port", "h").metricByKey(BY_PORT, "port"),
                        Map.of("443", 40L, "80", 2L, "8080", 5L)),
                new Metric.CounterMap(Desc.of("spins_by_reason", "by reason", "Spins by reason"),
                        Map.of("WOBBLE", 4L)),
                new Metric.Table(Desc.of("top_widget_flows", "top", "h"), "Top", "<-", List.of())),
                Map.of("port", Set.of("443", "22")));
        Map<String, Double> s = Http.series(text);
        assertEquals(40.0, s.get("tcpinspect_widget_spins_total{direction=\"left\"}"));
        assertEquals(2.0, s.get("tcpinspect_widget_spins_total{direction=\"right\"}"));
        assertEquals(3.0, s.get("tcpinspect_widget_detail_stuck_now"), "a gauge under its path");
        assertEquals(7.0, s.get("tcpinspect_events_lost_total{probe=\"widget\"}"));
        // bounded: the configured ports always, the rest summed under "other"
        assertEquals(40.0, s.get("tcpinspect_widget_spins_by_port_total{port=\"443\"}"));
        assertEquals(0.0, s.get("tcpinspect_widget_spins_by_port_total{port=\"22\"}"));
        assertEquals(7.0, s.get("tcpinspect_widget_spins_by_port_total{port=\"other\"}"));
        assertEquals(3, s.keySet().stream().filter(k -> k.startsWith("tcpinspect_widget_spins_by_port")).count());
        // a map without an export: its path, and its keys under "key"
        assertEquals(4.0, s.get("tcpinspect_spins_by_reason_total{key=\"WOBBLE\"}"));
        assertTrue(s.keySet().stream().noneMatch(k -> k.contains("top_widget")), "tables stay out");
        assertTrue(text.contains("# HELP tcpinspect_widget_spins_total Spins by direction\n"), text);
        assertTrue(text.contains("# TYPE tcpinspect_widget_spins_total counter\n"), text);
        promtoolFindsNothing(text);
    }

    @Test
    void histogramBucketsCountTheValuesBelowEachBound() throws Exception {
        Random random = new Random(7);
        LogLinearHistogram h = new LogLinearHistogram();
        long[] values = new long[5000];
        long sum = 0;
        for (int i = 0; i < values.length; i++) {
            // log-uniform from 1 us to about 30 s, so every bucket and the +Inf one get values
            values[i] = (long) Math.exp(random.nextDouble() * Math.log(30_000_000));
            h.record(values[i]);
            sum += values[i];
        }
        values[0] = PrometheusMetrics.BOUNDS_US[10]; // one exactly on a bound: "below" puts it in the next
        h = new LogLinearHistogram();
        sum = 0;
        for (long v : values) {
            h.record(v);
            sum += v;
        }
        String text = text(reading(new Metric.Distribution(Desc.of("spin_ms", "spin", "h").metric(SPIN_TIME), h)), Map.of());
        Map<String, Double> s = Http.series(text);
        for (long bound : PrometheusMetrics.BOUNDS_US) {
            long below = java.util.Arrays.stream(values).filter(v -> v < bound).count();
            String le = s.keySet().stream().filter(k -> k.startsWith("tcpinspect_widget_spin_seconds_bucket{"))
                    .filter(k -> Double.parseDouble(k.replaceAll(".*le=\"([^\"]+)\".*", "$1")) == bound / 1e6)
                    .findFirst().orElseThrow(() -> new AssertionError("no bucket at " + bound + " us: " + s.keySet()));
            assertEquals(below, s.get(le), le);
        }
        assertEquals(values.length, s.get("tcpinspect_widget_spin_seconds_bucket{le=\"+Inf\"}"));
        assertEquals(values.length, s.get("tcpinspect_widget_spin_seconds_count"));
        assertEquals(sum / 1e6, s.get("tcpinspect_widget_spin_seconds_sum"), 1e-6);
        assertTrue(java.util.Arrays.stream(values).anyMatch(v -> v >= PrometheusMetrics.BOUNDS_US[PrometheusMetrics.BOUNDS_US.length - 1]),
                "the test reaches past the last bound");
        promtoolFindsNothing(text);
    }

    @Test
    void aFamilyHoldsOneKindOfMetric() {
        Reading mixed = reading(new Metric.Counter(Desc.of("a.b", "b", "h").metric(SPINS, "direction", "left"), 1),
                new Metric.Gauge(Desc.of("a.c", "c", "h").metric(SPINS, "direction", "right"), 1));
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> new PrometheusMetrics(Map.of()).render(mixed));
        assertTrue(e.getMessage().contains("tcpinspect_widget_spins"), e.getMessage());
    }

    @Test
    void familyNamesFollowTheConventions() {
        assertThrows(IllegalArgumentException.class, () -> new Export.Family("spins_total", "h"), "the exposition adds _total");
        assertThrows(IllegalArgumentException.class, () -> new Export.Family("Spins", "h"));
        assertThrows(IllegalArgumentException.class, () -> new Export(SPINS, List.of("direction"), null), "pairs");
        assertThrows(IllegalArgumentException.class, () -> new Export(SPINS, List.of("Dir-ection", "x"), null));
    }

    /** promtool check metrics: no error and no lint complaint (naming, units, help). */
    private static void promtoolFindsNothing(String text) throws Exception {
        boolean have = Cmd.run(List.of("sh", "-c", "command -v promtool"), 10).exit() == 0;
        if (!have && System.getenv("CI") == null) {
            Assumptions.abort("promtool is not installed (apt-get install prometheus)");
        }
        Path file = Files.createTempFile("metrics", ".txt");
        try {
            Files.writeString(file, text);
            Cmd.Result r = Cmd.run(List.of("sh", "-c", "promtool check metrics < " + file), 30);
            assertEquals(0, r.exit(), r.out() + r.err());
            assertEquals("", (r.out() + r.err()).strip(), "promtool's complaints");
        } finally {
            Files.delete(file);
        }
    }
}
