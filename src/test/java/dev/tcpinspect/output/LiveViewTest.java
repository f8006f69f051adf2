package dev.tcpinspect.output;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.snapshot.Alert;
import dev.tcpinspect.snapshot.Desc;
import dev.tcpinspect.snapshot.Flow;
import dev.tcpinspect.snapshot.LogLinearHistogram;
import dev.tcpinspect.snapshot.Metric;
import dev.tcpinspect.snapshot.Reading;
import dev.tcpinspect.snapshot.Snapshot;
import java.net.InetAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.jline.utils.AttributedString;
import org.junit.jupiter.api.Test;

/**
 * The live view's screen, without a terminal: made from a probe it has never heard of, fitted to
 * 80x24 and 120x35 (and smaller), counters added up with their rates, the table sorted by the key
 * that 's' changes, 't', 'p' and '?'.
 */
class LiveViewTest {
    private static final Instant T = Instant.parse("2026-12-01T10:00:00Z");
    private static final Desc.Column.Cell COUNT = Desc.Column.Cell.COUNT;

    private static Flow flow(int lport, String remote, int rport) throws Exception {
        return new Flow(4026531840L, remote.contains(":"), InetAddress.getByName(remote.contains(":") ? "fd00:7c1::1"
                : "198.18.0.1"), lport, InetAddress.getByName(remote), rport);
    }

    /** A made-up probe: 21 counters with columns, a map of top labels, histograms, two tables. */
    private static Reading reading(long n) throws Exception {
        List<Metric> metrics = new ArrayList<>();
        String[] titles = {"TCP", "SYN", "SYN-ACK", "FIN", "RST", "PURE-ACK", "MALFORMED", "ACCEPTED", "OPENED",
            "CLOSED", "RETRANS", "RST-OUT", "RST-IN", "DROPS", "ZWIN-IN", "ZWIN-OUT", "DUPACKS", "ANOMAL", "SCANS",
            "FLOODS", "CYCLING"};
        for (int i = 0; i < titles.length; i++) {
            metrics.add(new Metric.Counter(Desc.of("w." + i, titles[i].toLowerCase(), "h").column(titles[i], 8, COUNT),
                    n * (i + 1)));
        }
        metrics.add(new Metric.Counter(Desc.of("w.no_column", "not a column", "h"), 999));
        metrics.add(new Metric.CounterMap(Desc.of("w.ports", "by port", "h").column("TOP PORTS", 0,
                Desc.Column.Cell.TOP_LABELS), Map.of("443", 3 * n, "80", n)));
        LogLinearHistogram h = new LogLinearHistogram();
        for (long us : new long[] {100, 200, 400, 800, 1_600, 50_000}) {
            h.record(us);
        }
        metrics.add(new Metric.Distribution(Desc.of("w.spin_ms", "spin time", "h"), h));
        metrics.add(new Metric.DistributionMap(Desc.of("w.spin_by_port", "spin by port", "h"), Map.of("443", h)));
        metrics.add(new Metric.Table(Desc.of("w.top_flows", "top", "h"), "Top flows by spins", "->", List.of(
                Metric.Row.of(new Metric.Cell.FlowCell(flow(8080, "198.18.0.2", 40001)), new Metric.Cell.Text("why", "a"),
                        new Metric.Cell.Count("spins", 30), new Metric.Cell.Count("stops", 1)),
                Metric.Row.of(new Metric.Cell.FlowCell(flow(8080, "198.18.0.2", 40002)), new Metric.Cell.Text("why", "b"),
                        new Metric.Cell.Count("spins", 20), new Metric.Cell.Count("stops", 5)),
                Metric.Row.of(new Metric.Cell.FlowCell(flow(8080, "fd00:7c1::2", 40003)), new Metric.Cell.Text("why", "c"),
                        new Metric.Cell.Count("spins", 10), new Metric.Cell.Count("stops", 9)))));
        metrics.add(new Metric.Table(Desc.of("w.sources", "sources", "h"), "Busy sources", "", List.of(
                Metric.Row.of(new Metric.Cell.Text("source", "198.18.0.9"), new Metric.Cell.Count("packets", 4)))));
        metrics.add(new Metric.Table(Desc.of("w.empty", "empty", "h"), "Nothing yet", "", List.of()));
        return new Reading(List.of(new Snapshot("widget", metrics)));
    }

    private static LiveView view() throws Exception {
        LiveView v = new LiveView();
        v.ready(T, List.of("veth0"), "tc-ingress", List.of("widget"));
        v.interval(T.plusSeconds(1), Duration.ofSeconds(1), reading(1));
        v.interval(T.plusSeconds(3), Duration.ofSeconds(2), reading(2));
        return v;
    }

    private static List<String> screen(LiveView v, int width, int height) {
        List<AttributedString> lines = v.render(width, height, T.plusSeconds(4));
        assertEquals(height, lines.size(), "one line per row");
        for (AttributedString line : lines) {
            assertTrue(line.columnLength() <= width, width + "x" + height + ": " + line.columnLength() + " " + line);
        }
        return lines.stream().map(AttributedString::toString).toList();
    }

    /** The table's rows: the lines after its column names, down to the first blank one. */
    private static List<String> tableRows(List<String> screen) {
        int header = -1;
        for (int i = 0; i < screen.size(); i++) {
            if (screen.get(i).startsWith("FLOW ")) {
                header = i;
            }
        }
        List<String> rows = new ArrayList<>();
        for (int i = header + 1; header >= 0 && i < screen.size() - 1 && !screen.get(i).isBlank(); i++) {
            rows.add(screen.get(i));
        }
        return rows;
    }

    @Test
    void fitsAtEightyByTwentyFourAndAHundredTwentyByThirtyFive() throws Exception {
        LiveView v = view();
        for (int[] size : new int[][] {{80, 24}, {120, 35}}) {
            List<String> s = screen(v, size[0], size[1]);
            String all = String.join("\n", s);
            assertTrue(s.getFirst().startsWith(" tcpinspect watch  veth0 (tc-ingress; 1 probe: widget)  up 0:04")
                    && s.getFirst().endsWith(" 10:00:03 UTC "), s.getFirst());
            assertEquals(size[0] > 80, s.getFirst().contains("  every 1s "), "left out where it does not fit");
            assertTrue(s.getLast().contains("q quit") && s.getLast().contains("s sort"), s.getLast());
            // totals since ready (1 + 2) and the rate of the last interval (2 over 2 s)
            assertTrue(all.contains("TCP             3   1.0/s"), all);
            assertTrue(all.contains("ACCEPTED       24   8.0/s"), all);
            assertTrue(all.contains("CYCLING        63  21.0/s"), all);
            assertFalse(all.contains("999"), "metrics without a column are not counters here: " + all);
            assertTrue(all.contains("TOP PORTS  443:9 80:3"), all);
            assertTrue(all.contains("spin time") && all.contains("spin by port 443"), all);
            assertTrue(s.stream().anyMatch(l -> l.startsWith("spin time") && l.contains("   12 p50 ")), all);
            assertTrue(all.contains("ALERTS none active"), all);
            assertTrue(all.contains("TOP FLOWS BY SPINS since start  sort: spins (s)  table 1/2 (t)"), all);
            assertEquals(List.of(40001, 40002, 40003), tableRows(s).stream().map(LiveViewTest::remotePort).toList(), all);
        }
        // Three counters a line at 80 columns, four at 120.
        assertTrue(screen(v, 80, 24).get(1).startsWith("TCP             3   1.0/s  SYN             6   2.0/s  SYN-ACK"));
        assertTrue(screen(v, 120, 35).get(1).matches("TCP .* SYN .* SYN-ACK .* FIN .*"));
    }

    private static int remotePort(String row) {
        String flow = row.substring(0, row.indexOf("  "));
        return Integer.parseInt(flow.substring(flow.lastIndexOf(':') + 1));
    }

    @Test
    void sCyclesTheSortKeyThroughTheCountColumnsAndTCyclesTheTablesWithRows() throws Exception {
        LiveView v = view();
        assertEquals("spins", v.sortKey(), "the probe's own order first");
        v.nextSortKey();
        assertEquals("stops", v.sortKey());
        List<String> s = screen(v, 80, 24);
        assertTrue(String.join("\n", s).contains("sort: stops (s)"), String.join("\n", s));
        assertEquals(List.of(40003, 40002, 40001), tableRows(s).stream().map(LiveViewTest::remotePort).toList());
        v.nextSortKey();
        assertEquals("spins", v.sortKey(), "round again");
        v.nextTable();
        s = screen(v, 80, 24);
        String all = String.join("\n", s);
        assertTrue(all.contains("BUSY SOURCES since start  sort: packets (s)  table 2/2 (t)"), all);
        assertTrue(all.contains("SOURCE      PACKETS") && all.contains("198.18.0.9        4"), all);
        v.nextTable();
        assertEquals("spins", v.sortKey(), "back to the first, its key kept");
        // The key survives the next interval.
        v.nextSortKey();
        v.interval(T.plusSeconds(4), Duration.ofSeconds(1), reading(1));
        assertEquals("stops", v.sortKey());
    }

    @Test
    void pauseKeepsTheScreenWhileCountingGoesOn() throws Exception {
        LiveView v = view();
        v.togglePause();
        v.interval(T.plusSeconds(4), Duration.ofSeconds(1), reading(10));
        String paused = String.join("\n", screen(v, 80, 24));
        assertTrue(paused.contains("PAUSED") && paused.contains("TCP             3   1.0/s"), paused);
        v.togglePause();
        String resumed = String.join("\n", screen(v, 80, 24));
        assertTrue(!resumed.contains("PAUSED") && resumed.contains("TCP            13  10.0/s"), resumed);
    }

    @Test
    void helpListsTheKeys() throws Exception {
        LiveView v = view();
        v.toggleHelp();
        String help = String.join("\n", screen(v, 80, 24));
        for (String key : List.of("  q ", "  s ", "  t ", "  p ", "  ? or h ")) {
            assertTrue(help.contains(key), help);
        }
        v.toggleHelp();
        assertFalse(String.join("\n", screen(v, 80, 24)).contains("KEYS"));
    }

    @Test
    void alertsShowWhileActiveThenAsEnded() throws Exception {
        LiveView v = view();
        Alert start = new Alert("port_scan", "scan-1", Alert.State.START, T.plusSeconds(2), "198.18.0.7", "ipv4",
                "port scan (syn) from 198.18.0.7: 60 ports", List.of());
        v.alert(start);
        String during = String.join("\n", screen(v, 80, 24));
        assertTrue(during.contains("ALERTS 1 active (1 since start)")
                && during.contains("10:00:02 port scan (syn) from 198.18.0.7: 60 ports (ipv4)"), during);
        v.alert(new Alert("port_scan", "scan-1", Alert.State.END, T.plusSeconds(3), "198.18.0.7", "ipv4",
                "port scan (syn) from 198.18.0.7 ended", List.of()));
        String after = String.join("\n", screen(v, 80, 24));
        assertTrue(after.contains("ALERTS none active (1 since start)")
                && after.contains("10:00:03 ended: port scan (syn) from 198.18.0.7 ended"), after);
    }

    @Test
    void smallAndOddSizesStillFit() throws Exception {
        LiveView v = view();
        for (int[] size : new int[][] {{40, 10}, {60, 15}, {20, 5}, {200, 60}, {80, 3}, {10, 2}}) {
            screen(v, size[0], size[1]);
        }
        LiveView empty = new LiveView();
        empty.ready(T, List.of("lo"), "xdp", List.of("packets"));
        List<String> s = screen(empty, 80, 24);
        assertTrue(s.get(1).startsWith("Counting"), s.toString());
        assertNotEquals(null, s.getLast());
    }

    @Test
    void numbersStayNarrow() {
        assertEquals("999,999", LiveView.total(999_999));
        assertEquals("1.00M", LiveView.total(1_000_000));
        assertEquals("12.3G", LiveView.total(12_345_678_901L));
        assertEquals("999.9", LiveView.rate(999.9));
        assertEquals("1.00k", LiveView.rate(1000));
        assertEquals("0.123", LiveView.ms(123));
        assertEquals("12.3", LiveView.ms(12_345));
        LogLinearHistogram h = new LogLinearHistogram();
        h.record(1);
        h.record(1_000);
        h.record(1_000);
        assertEquals("+        @", LiveView.strip(h));
    }
}
