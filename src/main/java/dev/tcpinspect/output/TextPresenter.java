package dev.tcpinspect.output;

import dev.tcpinspect.probe.EventType;
import dev.tcpinspect.probe.EventView;
import dev.tcpinspect.snapshot.Addresses;
import dev.tcpinspect.snapshot.Desc;
import dev.tcpinspect.snapshot.Desc.Role;
import dev.tcpinspect.snapshot.LogLinearHistogram;
import dev.tcpinspect.snapshot.Metric;
import dev.tcpinspect.snapshot.Reading;
import dev.tcpinspect.snapshot.Snapshot;
import java.io.PrintStream;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * A table of per-interval counts (a header every 20 rows) and a summary at the end, made from the
 * snapshots' descriptors: a metric with a column is a column, and each metric's role says how the
 * summary shows it (Desc.Role).
 */
public final class TextPresenter implements Presenter {
    private static final DateTimeFormatter CLOCK = DateTimeFormatter.ofPattern("HH:mm:ss").withZone(ZoneOffset.UTC);
    private static final int TOP_LABELS = 5;
    private static final int MAP_LINES = 20;
    /** The table's width when none is given: what fits a common terminal window. */
    public static final int DEFAULT_WIDTH = 120;
    private final PrintStream out;
    private final int width;
    private final boolean terminal;
    private int rows;

    public TextPresenter(PrintStream out) {
        this(out, DEFAULT_WIDTH, false);
    }

    /**
     * A table no wider than width characters (see {@link TableFit}: which columns are kept). On a
     * terminal the summary's wide lines (flows, histograms) take a shorter form where they would
     * pass the width; through a pipe or into a file the summary is always the same text.
     */
    public TextPresenter(PrintStream out, int width, boolean terminal) {
        this.out = out;
        this.width = width;
        this.terminal = terminal;
    }

    @Override
    public boolean wantsEvents() {
        return false;
    }

    @Override
    public synchronized void ready(Instant time, List<String> interfaces, String hook, List<String> probes) {
        String line = String.format("Watching incoming TCP on %s (%s; probes: %s). Ctrl-C to stop.",
                where(interfaces), hook, String.join(", ", probes));
        out.println(!terminal || line.length() <= width ? line : String.format(
                "Watching incoming TCP on %s (%s; %d probes). Ctrl-C to stop.", where(interfaces), hook,
                probes.size()));
        out.flush();
    }

    /** The interfaces watched, or every interface when there is none (a cgroup scope: its hook says which). */
    static String where(List<String> interfaces) {
        return interfaces.isEmpty() ? "every interface" : String.join(", ", interfaces);
    }

    /** The metrics with a column, fixed-width ones first and variable-width ones (top labels) last. */
    private static List<Metric> columns(Reading reading) {
        List<Metric> fixed = new ArrayList<>();
        List<Metric> variable = new ArrayList<>();
        for (Snapshot s : reading.snapshots()) {
            for (Metric m : s.metrics()) {
                Desc.Column c = m.desc().column();
                if (c != null) {
                    (c.cell() == Desc.Column.Cell.TOP_LABELS ? variable : fixed).add(m);
                }
            }
        }
        fixed.addAll(variable);
        return fixed;
    }

    @Override
    public synchronized void interval(Instant time, Duration length, Reading d) {
        List<Metric> metrics = columns(d);
        List<Desc.Column> columns = metrics.stream().map(m -> m.desc().column()).toList();
        TableFit fit = TableFit.of(columns, width);
        if (rows++ % 20 == 0) {
            StringBuilder header = new StringBuilder(String.format("%-8s", "UTC"));
            for (int i = 0; i < columns.size(); i++) {
                Desc.Column c = columns.get(i);
                if (fit.kept()[i]) {
                    header.append(c.cell() == Desc.Column.Cell.TOP_LABELS
                            ? "  " + pad(c.title(), fit.budget()[i], fit.lastVariable(columns, i))
                            : String.format(" %" + c.width() + "s", c.title()));
                }
            }
            out.println(header);
        }
        activeAlerts();
        StringBuilder row = new StringBuilder(String.format("%-8s", CLOCK.format(time)));
        for (int i = 0; i < metrics.size(); i++) {
            if (!fit.kept()[i]) {
                continue;
            }
            Metric m = metrics.get(i);
            Desc.Column c = columns.get(i);
            String cell = switch (c.cell()) {
                case COUNT -> String.format(" %" + c.width() + "d", value(m));
                case P50_MS_1, P50_MS_3 -> {
                    LogLinearHistogram h = ((Metric.Distribution) m).histogram();
                    yield h.count() == 0 ? String.format(" %" + c.width() + "s", "-")
                            : String.format(" %" + c.width() + (c.cell() == Desc.Column.Cell.P50_MS_1 ? ".1f" : ".3f"),
                                    h.percentile(0.5) / 1000.0);
                }
                case TOP_LABELS -> "  " + pad(topLabels(((Metric.CounterMap) m).counts(), fit.budget()[i]),
                        fit.budget()[i], fit.lastVariable(columns, i));
            };
            if (row.length() + cell.stripTrailing().length() > width) {
                break; // a count wider than its column (a long interval): the row ends rather than pass the width
            }
            row.append(cell);
        }
        out.println(row);
        out.flush();
    }

    /** text padded to width, unless it is the last cell of its line. */
    private static String pad(String text, int width, boolean last) {
        return last || text.length() >= width ? text : text + " ".repeat(width - text.length());
    }

    private static long value(Metric m) {
        return switch (m) {
            case Metric.Counter c -> c.value();
            case Metric.Gauge g -> g.value();
            case Metric.CounterMap map -> map.total();
            default -> throw new IllegalArgumentException(m.desc().path() + " has no single value");
        };
    }

    @Override
    public boolean outputGone() {
        return out.checkError();
    }

    @Override
    public synchronized void summary(Instant time, Duration length, List<String> interfaces, Reading total) {
        out.printf("%nSummary: %.1f s on %s%n", length.toMillis() / 1000.0, where(interfaces));
        List<String> notSeen = new ArrayList<>();
        for (Snapshot s : total.snapshots()) {
            probe(s, notSeen);
        }
        if (!notSeen.isEmpty()) {
            out.printf("  %-22s runs the kernel skipped (the probe was already running on that CPU): %s%n",
                    "NOT SEEN", String.join(", ", notSeen));
        }
        out.flush();
    }

    /** One probe's part of the summary. */
    private void probe(Snapshot s, List<String> notSeen) {
        List<Metric> metrics = s.metrics();
        List<String> notShown = new ArrayList<>();
        boolean anyNotShown = false;
        for (int i = 0; i < metrics.size(); i++) {
            Metric m = metrics.get(i);
            Desc d = m.desc();
            switch (d.role()) {
                case HEADLINE -> headline(m, parts(metrics, i));
                case NOTE -> note(m);
                case NOT_SHOWN -> {
                    notShown.add(String.format("%,d %s", value(m), d.label()));
                    anyNotShown |= value(m) != 0;
                }
                case NOT_SEEN -> {
                    if (value(m) != 0) {
                        notSeen.add(d.label() + " " + String.format("%,d", value(m)));
                    }
                }
                case PART, HIDDEN -> { }
            }
        }
        if (anyNotShown) {
            out.printf("  %-22s %s%n", "NOT SHOWN", String.join(", ", notShown));
        }
    }

    /** The PART metrics right after index i. */
    private static List<Metric> parts(List<Metric> metrics, int i) {
        List<Metric> parts = new ArrayList<>();
        for (int j = i + 1; j < metrics.size() && metrics.get(j).desc().role() == Role.PART; j++) {
            parts.add(metrics.get(j));
        }
        return parts;
    }

    private void headline(Metric m, List<Metric> parts) {
        String label = m.desc().label();
        switch (m) {
            case Metric.Counter c -> out.printf("  %-22s %,d%s%n", label, c.value(), partsText(parts));
            case Metric.Gauge g -> out.printf("  %-22s %,d%s%n", label, g.value(), partsText(parts));
            case Metric.Distribution d -> {
                LogLinearHistogram.Percentiles p = d.histogram().percentiles();
                String line = String.format("  %-22s %,d; ms: min %.3f  p50 %.3f  p90 %.3f  p99 %.3f  max %.3f", label,
                        p.count(), p.min() / 1000.0, p.p50() / 1000.0, p.p90() / 1000.0, p.p99() / 1000.0,
                        p.max() / 1000.0);
                out.println(!terminal || line.length() <= width ? line : String.format(
                        "  %-22s %,d; ms p50 %.3f p90 %.3f p99 %.3f max %.3f", label, p.count(), p.p50() / 1000.0,
                        p.p90() / 1000.0, p.p99() / 1000.0, p.max() / 1000.0));
                int bars = terminal ? Math.clamp(width - 4 - HistogramBars.LABELS, 10, HistogramBars.WIDTH)
                        : HistogramBars.WIDTH;
                for (String bar : HistogramBars.render(d.histogram(), "usecs", bars)) {
                    out.println("    " + bar);
                }
            }
            case Metric.CounterMap map -> {
                if (map.counts().isEmpty()) {
                    return;
                }
                out.printf("  %s:%n", label);
                map.counts().entrySet().stream()
                        .sorted(Map.Entry.<String, Long>comparingByValue().reversed())
                        .limit(MAP_LINES)
                        .forEach(e -> out.printf("    %5s  %,d%n", e.getKey(), e.getValue()));
                if (map.counts().size() > MAP_LINES) {
                    out.printf("    ... and %d more%n", map.counts().size() - MAP_LINES);
                }
            }
            case Metric.DistributionMap map -> {
                if (map.histograms().isEmpty()) {
                    return;
                }
                out.printf("  %s:%n", label);
                map.histograms().forEach((key, h) -> {
                    LogLinearHistogram.Percentiles p = h.percentiles();
                    out.printf("    %-8s %,8d; ms p50 %.2f  p99 %.2f%n", key, p.count(), p.p50() / 1000.0,
                            p.p99() / 1000.0);
                });
            }
            case Metric.Table t -> {
                if (t.rows().isEmpty()) {
                    return;
                }
                out.printf("  %s:%n", t.title());
                for (Metric.Row row : t.rows()) {
                    String line = "    " + row(row, t.arrow(), true);
                    out.println(!terminal || line.length() <= width ? line : "    " + row(row, t.arrow(), false));
                }
            }
        }
    }

    /** " (data 9, SYN-ACK 2)", or nothing. */
    private static String partsText(List<Metric> parts) {
        if (parts.isEmpty()) {
            return "";
        }
        return parts.stream().map(p -> p.desc().label() + " " + String.format("%,d", value(p)))
                .collect(Collectors.joining(", ", " (", ")"));
    }

    /** A line of its own only when the value is not zero (a map: when it has any label). */
    private void note(Metric m) {
        switch (m) {
            case Metric.CounterMap map when !map.counts().isEmpty() -> out.printf("  %-22s %s%n", m.desc().label() + ":",
                    map.counts().entrySet().stream().map(e -> e.getKey() + " " + String.format("%,d", e.getValue()))
                            .collect(Collectors.joining(", ")));
            case Metric.Counter c when c.value() != 0 -> out.printf("  %,d %s%n", c.value(), m.desc().label());
            case Metric.Gauge g when g.value() != 0 -> out.printf("  %s: %,d%n", m.desc().label(), g.value());
            default -> { }
        }
    }

    /** A table's row: aligned (flows and first texts padded to their widest), or as short as it goes. */
    private static String row(Metric.Row row, String arrow, boolean aligned) {
        StringBuilder s = new StringBuilder();
        for (Metric.Cell cell : row.cells()) {
            switch (cell) {
                case Metric.Cell.FlowCell f -> s.append(String.format(aligned ? "%-45s %s %-45s" : "%s %s %s",
                        Addresses.endpoint(f.flow().laddr(), f.flow().lport()), arrow,
                        Addresses.endpoint(f.flow().raddr(), f.flow().rport())));
                case Metric.Cell.Text t -> s.append(s.isEmpty() ? String.format(aligned ? "%-40s" : "%s", t.value())
                        : "  " + t.value());
                case Metric.Cell.Count c -> s.append(String.format("  %s %,d", c.name(), c.value()));
                case Metric.Cell.Decimal d -> s.append(String.format("  %s %.3f", d.name(), d.value()));
            }
        }
        return s.toString().stripTrailing();
    }

    /** "443:12 80:3" for the biggest labels. */
    static String topLabels(Map<String, Long> counts) {
        return topLabels(counts, Integer.MAX_VALUE);
    }

    /**
     * "443:12 80:3 +4": the biggest labels (at most five) that fit in max characters with the count
     * of the others after them; fewer labels when five do not fit, nothing when not even the count does.
     */
    static String topLabels(Map<String, Long> counts, int max) {
        List<String> top = counts.entrySet().stream()
                .sorted(Map.Entry.<String, Long>comparingByValue().reversed().thenComparing(Map.Entry.comparingByKey(
                        Comparator.comparingLong(TextPresenter::asNumber).thenComparing(Comparator.naturalOrder()))))
                .limit(TOP_LABELS)
                .map(e -> e.getKey() + ':' + e.getValue())
                .toList();
        for (int k = top.size(); k >= 0; k--) {
            StringBuilder s = new StringBuilder();
            for (int i = 0; i < k; i++) {
                s.append(s.isEmpty() ? "" : " ").append(top.get(i));
            }
            if (counts.size() > k) {
                s.append(s.isEmpty() ? "+" : " +").append(counts.size() - k);
            }
            if (s.length() <= max) {
                return s.toString();
            }
        }
        return "";
    }

    private static long asNumber(String label) {
        try {
            return Long.parseLong(label);
        } catch (NumberFormatException e) {
            return Long.MAX_VALUE;
        }
    }

    /**
     * An alert on a line of its own between the table's rows, where a person on call sees it: a
     * start and an end stand out ("ALERT" and "ended"), changes come at most once a second.
     */
    @Override
    public synchronized void alert(dev.tcpinspect.snapshot.Alert alert) {
        String mark = switch (alert.state()) {
            case START -> "!! ALERT ";
            case UPDATE -> "!! still  ";
            case END -> "!! ended  ";
        };
        long second = System.nanoTime() / 1_000_000_000L;
        if (second != alertSecond) {
            alertSecond = second;
            alertLines = 0;
        }
        if (++alertLines <= ALERT_LINES_PER_SECOND) {
            out.printf("%s%s %s (%s)%n", mark, CLOCK.format(alert.time()), alert.headline(), alert.family());
            out.flush();
        } else {
            alertsNotPrinted++; // a storm of alerts (anomalies from random sources) would bury the table
        }
        String key = alert.episode();
        if (alert.state() == dev.tcpinspect.snapshot.Alert.State.END) {
            active.remove(key);
        } else if (active.size() < MAX_ACTIVE || active.containsKey(key)) {
            active.put(key, alert);
        }
    }

    /** Active alerts kept for the reminder line; beyond, the line's counts stop growing (a storm of sources). */
    static final int MAX_ACTIVE = 10_000;

    /** Alert lines printed at most this many a second; the rest are counted and said once. */
    static final int ALERT_LINES_PER_SECOND = 10;
    private long alertSecond;
    private int alertLines;
    private long alertsNotPrinted;

    /** The alerts started and not yet ended, for the reminder above each row while they last. */
    private final Map<String, dev.tcpinspect.snapshot.Alert> active = new java.util.LinkedHashMap<>();

    /** "!! active: scan from 198.18.0.2; flood from *" above a row while alerts last: an attack still going is seen at a glance. */
    private void activeAlerts() {
        if (alertsNotPrinted > 0) {
            String line = String.format("!! and %,d more alert lines not printed (at most %d a second here; --format"
                    + " json has each)", alertsNotPrinted, ALERT_LINES_PER_SECOND);
            out.println(line.length() <= width ? line
                    : fitted(String.format("!! %,d more alert lines not printed", alertsNotPrinted), width));
            alertsNotPrinted = 0;
        }
        if (!active.isEmpty()) {
            out.println(activeLine(active.values(), width));
        }
    }

    /**
     * "!! active: scan from 198.18.0.2; flood from *": by type, its sources, or how many when there
     * are more than a glance takes in; within width, counting the sources of each type when naming
     * them does not fit, and cut short ("...") when even that does not.
     */
    static String activeLine(java.util.Collection<dev.tcpinspect.snapshot.Alert> alerts, int width) {
        Map<String, List<String>> byType = new java.util.LinkedHashMap<>();
        for (dev.tcpinspect.snapshot.Alert a : alerts) {
            List<String> sources = byType.computeIfAbsent(a.type(), t -> new ArrayList<>());
            if (!sources.contains(a.source())) {
                sources.add(a.source());
            }
        }
        for (int named = 3; named >= 0; named--) {
            List<String> parts = new ArrayList<>();
            for (Map.Entry<String, List<String>> e : byType.entrySet()) {
                List<String> sources = e.getValue();
                parts.add(e.getKey() + (sources.size() <= named ? " from " + String.join(", ", sources)
                        : " from " + sources.size() + (sources.size() == 1 ? " source" : " sources")));
            }
            String line = "!! active: " + String.join("; ", parts);
            if (line.length() <= width || named == 0) {
                return fitted(line, width);
            }
        }
        throw new AssertionError("unreachable");
    }

    /** The line, or its start and "..." when it is longer than width. */
    static String fitted(String line, int width) {
        return line.length() <= width ? line : line.substring(0, Math.max(0, width - 3)) + "...";
    }

    @Override
    public void event(EventType<?> type, EventView event) {
        // The table shows counts per interval and the summary aggregates; events are for --format json.
    }
}
