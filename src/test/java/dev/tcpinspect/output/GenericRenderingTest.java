package dev.tcpinspect.output;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tcpinspect.snapshot.Desc;
import dev.tcpinspect.snapshot.Desc.Role;
import dev.tcpinspect.snapshot.Flow;
import dev.tcpinspect.snapshot.LogLinearHistogram;
import dev.tcpinspect.snapshot.Metric;
import dev.tcpinspect.snapshot.Reading;
import dev.tcpinspect.snapshot.Snapshot;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The outputs render a probe they have never heard of: a made-up snapshot lands in JSON at its
 * paths and in the text summary by its roles and columns, with no code of its own.
 */
class GenericRenderingTest {
    private static final Instant T = Instant.parse("2026-11-30T10:00:00Z");

    private static Reading madeUp() throws Exception {
        LogLinearHistogram h = new LogLinearHistogram();
        for (long us : new long[] {1_000, 2_000, 3_000}) {
            h.record(us);
        }
        Flow flow = new Flow(4026531840L, false, InetAddress.getByName("198.18.0.1"), 443,
                InetAddress.getByName("198.18.0.2"), 50000);
        return new Reading(List.of(new Snapshot("widget", List.of(
                new Metric.Counter(Desc.of("widgets.spun", "widgets spun", "h").column("SPUN", 6), 42),
                new Metric.Counter(Desc.of("widgets.left", "left-handed", "h").role(Role.PART), 40),
                new Metric.Gauge(Desc.of("widget_detail.stuck_now", "stuck now", "h").role(Role.NOTE), 0),
                new Metric.Counter(Desc.of("widget_detail.events_lost", "events lost", "h").role(Role.NOT_SHOWN), 3),
                new Metric.Counter(Desc.of("widget_detail.secret", "secret", "h").role(Role.HIDDEN), 9),
                new Metric.Distribution(Desc.of("spin_ms", "spin time", "h").column("SPIN-ms", 8,
                        Desc.Column.Cell.P50_MS_1), h),
                new Metric.CounterMap(Desc.of("spins_by_port", "spins by port", "h"), Map.of("443", 40L, "80", 2L)),
                new Metric.Table(Desc.of("top_widget_flows", "top", "h"), "Top flows by spins", "<-",
                        List.of(Metric.Row.of(new Metric.Cell.FlowCell(flow), new Metric.Cell.Count("spins", 42))))))));
    }

    private static String render(Presenter.Format format, java.util.function.Consumer<Presenter> calls) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        calls.accept(Presenter.of(format, new PrintStream(bytes, true, StandardCharsets.UTF_8)));
        return bytes.toString(StandardCharsets.UTF_8);
    }

    @Test
    void jsonPutsEveryMetricAtItsPath() throws Exception {
        Reading r = madeUp();
        JsonNode s = new ObjectMapper().readTree(
                render(Presenter.Format.JSON, p -> p.summary(T, Duration.ofSeconds(2), List.of("eth0"), r)));
        assertEquals(42, s.at("/widgets/spun").asLong());
        assertEquals(40, s.at("/widgets/left").asLong());
        assertEquals(0, s.at("/widget_detail/stuck_now").asLong());
        assertEquals(3, s.at("/widget_detail/events_lost").asLong());
        assertEquals(9, s.at("/widget_detail/secret").asLong(), "hidden from text, not from JSON");
        assertEquals(3, s.at("/spin_ms/count").asLong());
        assertEquals(1.0, s.at("/spin_ms/min").asDouble(), 0.05, "microseconds shown as milliseconds");
        assertEquals("{\"80\":2,\"443\":40}", s.get("spins_by_port").toString());
        JsonNode row = s.at("/top_widget_flows/0");
        assertEquals("198.18.0.1", row.get("laddr").asText());
        assertEquals(50000, row.get("rport").asInt());
        assertEquals(42, row.get("spins").asLong());
    }

    @Test
    void textShowsHeadlinesWithTheirPartsNotesWhenNotZeroAndWhatWasNotShown() throws Exception {
        Reading r = madeUp();
        String text = render(Presenter.Format.TEXT, p -> p.summary(T, Duration.ofSeconds(2), List.of("eth0"), r));
        assertTrue(text.lines().anyMatch(l -> l.contains("widgets spun") && l.contains("42")
                && l.contains("left-handed 40")), text);
        assertFalse(text.contains("stuck now"), "a note at zero is left out: " + text);
        assertTrue(text.lines().anyMatch(l -> l.contains("NOT SHOWN") && l.contains("3 events lost")), text);
        assertFalse(text.contains("secret"), text);
        assertTrue(text.contains("spin time") && text.contains("spins by port") && text.contains("Top flows by spins"),
                text);
        assertTrue(text.lines().anyMatch(l -> l.matches("\\s*198\\.18\\.0\\.1:443\\s+<- 198\\.18\\.0\\.2:50000\\s+spins 42")),
                text);
    }

    @Test
    void theIntervalTableHasTheColumnsTheMetricsAskFor() throws Exception {
        Reading r = madeUp();
        String text = render(Presenter.Format.TEXT, p -> p.interval(T, Duration.ofSeconds(1), r));
        List<String> lines = text.lines().filter(l -> !l.isBlank()).toList();
        String header = lines.stream().filter(l -> l.contains("SPUN")).findFirst().orElseThrow(() ->
                new AssertionError(text));
        assertTrue(header.contains("SPIN-ms"), header);
        assertTrue(lines.stream().anyMatch(l -> l.contains("42") && l.contains("2.0")), text);
    }
}
