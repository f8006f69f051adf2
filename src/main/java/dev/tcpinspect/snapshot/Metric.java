package dev.tcpinspect.snapshot;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * One value of a snapshot with its descriptor. The kinds are closed: an output that renders these
 * renders every probe. Counters only grow; {@link #minus} turns two cumulative readings into the
 * interval between them.
 */
public sealed interface Metric {
    Desc desc();

    /** This metric less an earlier reading of the same one (same path). */
    Metric minus(Metric earlier);

    /** A count that only grows (packets, connections, events lost). */
    record Counter(Desc desc, long value) implements Metric {
        @Override
        public Metric minus(Metric earlier) {
            return new Counter(desc, value - ((Counter) earlier).value);
        }
    }

    /** A level that goes up and down (windows closed now): an interval shows the current one. */
    record Gauge(Desc desc, long value) implements Metric {
        @Override
        public Metric minus(Metric earlier) {
            return this;
        }
    }

    /** A distribution of microseconds (handshake latency, RTT) as a log-linear histogram. */
    record Distribution(Desc desc, LogLinearHistogram histogram) implements Metric {
        @Override
        public Metric minus(Metric earlier) {
            return new Distribution(desc, histogram.minus(((Distribution) earlier).histogram));
        }
    }

    /**
     * Counts by a label from a bounded set (drop reason, destination port); labels with a zero count
     * are left out. Labels that are numbers sort as numbers.
     */
    record CounterMap(Desc desc, Map<String, Long> counts) implements Metric {
        public CounterMap {
            counts = sorted(counts);
        }

        @Override
        public Metric minus(Metric earlier) {
            Map<String, Long> before = ((CounterMap) earlier).counts;
            Map<String, Long> d = new TreeMap<>();
            counts.forEach((label, n) -> {
                long delta = n - before.getOrDefault(label, 0L);
                if (delta != 0) {
                    d.put(label, delta);
                }
            });
            return new CounterMap(desc, d);
        }

        public long total() {
            return counts.values().stream().mapToLong(Long::longValue).sum();
        }
    }

    /** Distributions by a label from a bounded set (handshake latency by port). */
    record DistributionMap(Desc desc, Map<String, LogLinearHistogram> histograms) implements Metric {
        public DistributionMap {
            histograms = sorted(histograms);
        }

        @Override
        public Metric minus(Metric earlier) {
            Map<String, LogLinearHistogram> before = ((DistributionMap) earlier).histograms;
            Map<String, LogLinearHistogram> d = new TreeMap<>();
            histograms.forEach((label, h) -> {
                LogLinearHistogram e = before.get(label);
                LogLinearHistogram delta = e == null ? h : h.minus(e);
                if (delta.count() > 0) {
                    d.put(label, delta);
                }
            });
            return new DistributionMap(desc, d);
        }
    }

    /**
     * The busiest flows (or remotes) of a probe, biggest first, in summaries only: their labels are
     * unbounded, so no output turns them into metric labels. An interval keeps the later table.
     *
     * @param title the text view's heading ("Top flows by retransmits")
     * @param arrow how a flow's local and remote ends are joined in text ("->", "<-")
     */
    record Table(Desc desc, String title, String arrow, List<Row> rows) implements Metric {
        public Table {
            rows = List.copyOf(rows);
        }

        @Override
        public Metric minus(Metric earlier) {
            return this;
        }
    }

    /** One row of a table: named cells, a flow first where there is one. */
    record Row(List<Cell> cells) {
        public Row {
            cells = List.copyOf(cells);
        }

        public static Row of(Cell... cells) {
            return new Row(List.of(cells));
        }
    }

    /** A table cell. */
    sealed interface Cell {
        /** A flow: its namespace, family, addresses and ports (JSON: netns, family, laddr, lport, raddr, rport). */
        record FlowCell(Flow flow) implements Cell {}

        record Text(String name, String value) implements Cell {}

        record Count(String name, long value) implements Cell {}

        record Decimal(String name, double value) implements Cell {}
    }

    /** Numbers as numbers (80 before 443), the rest in text order. */
    private static <V> Map<String, V> sorted(Map<String, V> map) {
        TreeMap<String, V> sorted = new TreeMap<>(Metric::compareLabels);
        sorted.putAll(map);
        return java.util.Collections.unmodifiableMap(sorted);
    }

    static int compareLabels(String a, String b) {
        boolean na = isNumber(a);
        boolean nb = isNumber(b);
        if (na && nb) {
            int c = Integer.compare(a.length(), b.length());
            return c != 0 ? c : a.compareTo(b);
        }
        return na != nb ? (na ? -1 : 1) : a.compareTo(b);
    }

    private static boolean isNumber(String s) {
        if (s.isEmpty() || s.length() > 18) {
            return false;
        }
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) < '0' || s.charAt(i) > '9') {
                return false;
            }
        }
        return true;
    }
}
