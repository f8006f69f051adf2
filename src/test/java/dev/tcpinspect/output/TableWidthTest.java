package dev.tcpinspect.output;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.snapshot.Alert;
import dev.tcpinspect.snapshot.Desc;
import dev.tcpinspect.snapshot.LogLinearHistogram;
import dev.tcpinspect.snapshot.Metric;
import dev.tcpinspect.snapshot.Reading;
import dev.tcpinspect.snapshot.Snapshot;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The line table fits --width: the fixed columns in order while they fit, the top labels in what is
 * left or not at all, and never a line longer than the width.
 */
class TableWidthTest {
    private static final Instant T = Instant.parse("2026-12-01T10:00:00Z");

    /** The columns every probe has today, in the registry's order: title, width, cell. */
    private static final Object[][] ALL = {
        {"TCP", 10, Desc.Column.Cell.COUNT}, {"SYN", 8, Desc.Column.Cell.COUNT},
        {"SYN-ACK", 8, Desc.Column.Cell.COUNT}, {"FIN", 8, Desc.Column.Cell.COUNT},
        {"RST", 8, Desc.Column.Cell.COUNT}, {"PURE-ACK", 10, Desc.Column.Cell.COUNT},
        {"MALFORMED", 9, Desc.Column.Cell.COUNT}, {"TOP SYN PORTS", 0, Desc.Column.Cell.TOP_LABELS},
        {"ACCEPTED", 8, Desc.Column.Cell.COUNT}, {"OPENED", 8, Desc.Column.Cell.COUNT},
        {"CLOSED", 8, Desc.Column.Cell.COUNT}, {"HS-P50-MS", 10, Desc.Column.Cell.P50_MS_1},
        {"RETRANS", 8, Desc.Column.Cell.COUNT}, {"RST-OUT", 8, Desc.Column.Cell.COUNT},
        {"RST-IN", 8, Desc.Column.Cell.COUNT}, {"DROPS", 8, Desc.Column.Cell.COUNT},
        {"ZWIN-IN", 8, Desc.Column.Cell.COUNT}, {"ZWIN-OUT", 8, Desc.Column.Cell.COUNT},
        {"RTT-P50-MS", 11, Desc.Column.Cell.P50_MS_3}, {"DUPACKS", 8, Desc.Column.Cell.COUNT},
        {"ANOMAL", 6, Desc.Column.Cell.COUNT}, {"SCANS", 5, Desc.Column.Cell.COUNT},
        {"FLOODS", 6, Desc.Column.Cell.COUNT}, {"CYCLING", 7, Desc.Column.Cell.COUNT},
    };

    /** A reading with those columns: counts of 7, medians of 1.5 ms, and twelve SYN ports. */
    private static Reading reading(Object[][] columns, long count) {
        List<Metric> metrics = new ArrayList<>();
        for (Object[] c : columns) {
            String title = (String) c[0];
            Desc d = Desc.of("x." + title, title.toLowerCase(), "h").column(title, (int) c[1], (Desc.Column.Cell) c[2]);
            metrics.add(switch ((Desc.Column.Cell) c[2]) {
                case COUNT -> new Metric.Counter(d, count);
                case P50_MS_1, P50_MS_3 -> {
                    LogLinearHistogram h = new LogLinearHistogram();
                    h.record(1_500);
                    yield new Metric.Distribution(d, h);
                }
                case TOP_LABELS -> {
                    Map<String, Long> ports = new LinkedHashMap<>();
                    for (int p = 0; p < 12; p++) {
                        ports.put(Integer.toString(8000 + p), 100L - p);
                    }
                    yield new Metric.CounterMap(d, ports);
                }
            });
        }
        return new Reading(List.of(new Snapshot("x", metrics)));
    }

    private static List<String> table(Reading r, int width) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        TextPresenter p = new TextPresenter(new PrintStream(bytes, true, StandardCharsets.UTF_8), width, false);
        p.interval(T, Duration.ofSeconds(1), r);
        p.interval(T, Duration.ofSeconds(1), r);
        return bytes.toString(StandardCharsets.UTF_8).lines().toList();
    }

    private static List<String> titles(String header) {
        return Arrays.stream(header.substring(8).trim().split(" {1,}(?=[A-Z])")).map(String::trim).toList();
    }

    @Test
    void everyLineFitsTheWidthWithTheColumnsInOrder() {
        Map<Integer, List<String>> expected = Map.of(
                80, List.of("TCP", "SYN", "SYN-ACK", "FIN", "RST", "PURE-ACK", "MALFORMED"),
                100, List.of("TCP", "SYN", "SYN-ACK", "FIN", "RST", "PURE-ACK", "MALFORMED", "ACCEPTED", "OPENED"),
                120, List.of("TCP", "SYN", "SYN-ACK", "FIN", "RST", "PURE-ACK", "MALFORMED", "ACCEPTED", "OPENED",
                        "CLOSED", "HS-P50-MS"),
                200, List.of("TCP", "SYN", "SYN-ACK", "FIN", "RST", "PURE-ACK", "MALFORMED", "ACCEPTED", "OPENED",
                        "CLOSED", "HS-P50-MS", "RETRANS", "RST-OUT", "RST-IN", "DROPS", "ZWIN-IN", "ZWIN-OUT",
                        "RTT-P50-MS", "DUPACKS", "ANOMAL"));
        for (int width : List.of(80, 100, 120, 200)) {
            List<String> lines = table(reading(ALL, 7), width);
            assertEquals(3, lines.size(), lines.toString()); // a header, two rows
            for (String line : lines) {
                assertTrue(line.length() <= width, width + ": " + line.length() + " " + line);
            }
            assertEquals(expected.get(width), titles(lines.getFirst()), width + ": " + lines.getFirst());
            // every kept column has its value under it, right-aligned as before
            assertTrue(lines.get(1).startsWith("10:00:00          7        7"), lines.get(1));
            assertFalse(lines.getFirst().contains("TOP SYN PORTS"), "no room left for the top ports at " + width);
        }
        // 250 holds every column; the top ports get what is left after the 217 of the fixed ones.
        List<String> wide = table(reading(ALL, 7), 250);
        assertTrue(wide.getFirst().endsWith("CYCLING  TOP SYN PORTS"), wide.getFirst());
        assertTrue(wide.get(1).endsWith("      7  8000:100 8001:99 8002:98 +9"), wide.get(1));
        assertTrue(wide.stream().allMatch(l -> l.length() <= 250), wide.toString());
    }

    @Test
    void theTopLabelsTakeWhatIsLeftAndGiveUpLabelsFirst() {
        Object[][] packets = Arrays.copyOf(ALL, 8); // the packets probe alone: 76 characters and its top ports
        List<String> roomy = table(reading(packets, 7), 200);
        assertTrue(roomy.get(1).endsWith("  8000:100 8001:99 8002:98 8003:97 8004:96 +7"), roomy.get(1));
        List<String> tight = table(reading(packets, 7), 100); // 22 characters after the two spaces
        assertTrue(tight.getFirst().endsWith("MALFORMED  TOP SYN PORTS"), tight.getFirst());
        assertTrue(tight.get(1).endsWith("  8000:100 8001:99 +10"), tight.get(1));
        List<String> none = table(reading(packets, 7), 80); // 2 left: not even the title fits
        assertFalse(none.getFirst().contains("TOP"), none.getFirst());
        for (List<String> lines : List.of(roomy, tight, none)) {
            assertTrue(lines.stream().allMatch(l -> l.length() <= 200), lines.toString());
        }
        assertTrue(tight.stream().allMatch(l -> l.length() <= 100), tight.toString());
        assertTrue(none.stream().allMatch(l -> l.length() <= 80), none.toString());
        Map<String, Long> many = new LinkedHashMap<>(Map.of("8000", 100L));
        for (int p = 1; p <= 11; p++) {
            many.put(Integer.toString(p), 1L);
        }
        assertEquals("8000:100 +11", TextPresenter.topLabels(many, 12));
        assertEquals("+2", TextPresenter.topLabels(Map.of("8000", 100L, "8001", 1L), 5));
        assertEquals("", TextPresenter.topLabels(Map.of("8000", 100L, "8001", 1L), 1));
    }

    @Test
    void aCountWiderThanItsColumnEndsTheRowRatherThanPassTheWidth() {
        for (int width : List.of(80, 100, 120, 200)) {
            List<String> lines = table(reading(ALL, 123_456_789_012L), width);
            for (String line : lines) {
                assertTrue(line.length() <= width, width + ": " + line);
            }
        }
    }

    @Test
    void theFullTableIsTheSameTextAsBeforeWhenItFits() {
        // What the table printed before --width, for a reading of the packets probe (121 characters):
        // unchanged at 121, and at 120 the fifth port gives way.
        List<String> lines = table(reading(Arrays.copyOf(ALL, 8), 7), 121);
        assertEquals("UTC             TCP      SYN  SYN-ACK      FIN      RST   PURE-ACK MALFORMED  TOP SYN PORTS",
                lines.getFirst());
        assertEquals("10:00:00          7        7        7        7        7          7         7"
                + "  8000:100 8001:99 8002:98 8003:97 8004:96 +7", lines.get(1));
        assertTrue(table(reading(Arrays.copyOf(ALL, 8), 7), 120).get(1).endsWith("  8000:100 8001:99 8002:98 8003:97 +8"));
    }

    @Test
    void theActiveAlertsLineFitsToo() {
        List<Alert> alerts = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            alerts.add(new Alert("port_scan", "scan-" + i, Alert.State.START, T, "fd00:7c1:1234:5678:9abc:def0:1234:" + i,
                    "ipv6", "port scan", List.of()));
        }
        alerts.add(new Alert("syn_flood", "flood", Alert.State.START, T, "*", "any", "SYN flood", List.of()));
        String wide = TextPresenter.activeLine(alerts, 200);
        assertTrue(wide.startsWith("!! active: port_scan from fd00:7c1:1234:5678:9abc:def0:1234:0, "), wide);
        String narrow = TextPresenter.activeLine(alerts, 80);
        assertEquals("!! active: port_scan from 3 sources; syn_flood from *", narrow);
        String tiny = TextPresenter.activeLine(alerts, 40);
        assertEquals(40, tiny.length(), tiny);
        assertTrue(tiny.endsWith("..."), tiny);
    }
}
