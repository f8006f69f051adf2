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
    private final PrintStream out;
    private int rows;

    public TextPresenter(PrintStream out) {
        this.out = out;
    }

    @Override
    public boolean wantsEvents() {
        return false;
    }

    @Override
    public synchronized void ready(Instant time, List<String> interfaces, String hook, List<String> probes) {
        out.printf("Watching incoming TCP on %s (%s; probes: %s). Ctrl-C to stop.%n", String.join(", ", interfaces),
                hook, String.join(", ", probes));
        out.flush();
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
        List<Metric> columns = columns(d);
        if (rows++ % 20 == 0) {
            StringBuilder header = new StringBuilder(String.format("%-8s", "UTC"));
            for (Metric m : columns) {
                Desc.Column c = m.desc().column();
                header.append(c.cell() == Desc.Column.Cell.TOP_LABELS ? "  " + c.title()
                        : String.format(" %" + c.width() + "s", c.title()));
            }
            out.println(header);
        }
        activeAlerts();
        StringBuilder row = new StringBuilder(String.format("%-8s", CLOCK.format(time)));
        for (Metric m : columns) {
            Desc.Column c = m.desc().column();
            row.append(switch (c.cell()) {
                case COUNT -> String.format(" %" + c.width() + "d", value(m));
                case P50_MS_1, P50_MS_3 -> {
                    LogLinearHistogram h = ((Metric.Distribution) m).histogram();
                    yield h.count() == 0 ? String.format(" %" + c.width() + "s", "-")
                            : String.format(" %" + c.width() + (c.cell() == Desc.Column.Cell.P50_MS_1 ? ".1f" : ".3f"),
                                    h.percentile(0.5) / 1000.0);
                }
                case TOP_LABELS -> "  " + topLabels(((Metric.CounterMap) m).counts());
            });
        }
        out.println(row);
        out.flush();
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
        out.printf("%nSummary: %.1f s on %s%n", length.toMillis() / 1000.0, String.join(", ", interfaces));
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
                out.printf("  %-22s %,d; ms: min %.3f  p50 %.3f  p90 %.3f  p99 %.3f  max %.3f%n", label, p.count(),
                        p.min() / 1000.0, p.p50() / 1000.0, p.p90() / 1000.0, p.p99() / 1000.0, p.max() / 1000.0);
                for (String line : HistogramBars.render(d.histogram(), "usecs")) {
                    out.println("    " + line);
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
                    out.println("    " + row(row, t.arrow()));
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

    private static String row(Metric.Row row, String arrow) {
        StringBuilder s = new StringBuilder();
        for (Metric.Cell cell : row.cells()) {
            switch (cell) {
                case Metric.Cell.FlowCell f -> s.append(String.format("%-45s %s %-45s",
                        Addresses.endpoint(f.flow().laddr(), f.flow().lport()), arrow,
                        Addresses.endpoint(f.flow().raddr(), f.flow().rport())));
                case Metric.Cell.Text t -> s.append(s.isEmpty() ? String.format("%-40s", t.value()) : "  " + t.value());
                case Metric.Cell.Count c -> s.append(String.format("  %s %,d", c.name(), c.value()));
                case Metric.Cell.Decimal d -> s.append(String.format("  %s %.3f", d.name(), d.value()));
            }
        }
        return s.toString().stripTrailing();
    }

    /** "443:12 80:3" for the biggest labels. */
    static String topLabels(Map<String, Long> counts) {
        StringBuilder s = new StringBuilder();
        counts.entrySet().stream()
                .sorted(Map.Entry.<String, Long>comparingByValue().reversed().thenComparing(Map.Entry.comparingByKey(
                        Comparator.comparingLong(TextPresenter::asNumber).thenComparing(Comparator.naturalOrder()))))
                .limit(TOP_LABELS)
                .forEach(e -> s.append(s.isEmpty() ? "" : " ").append(e.getKey()).append(':').append(e.getValue()));
        if (counts.size() > TOP_LABELS) {
            s.append(" +").append(counts.size() - TOP_LABELS);
        }
        return s.toString();
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
            out.printf("!! and %,d more alert lines not printed (at most %d a second here; --format json has each)%n",
                    alertsNotPrinted, ALERT_LINES_PER_SECOND);
            alertsNotPrinted = 0;
        }
        if (!active.isEmpty()) {
            // By type: its sources, or how many when there are more than a glance takes in.
            Map<String, List<String>> byType = new java.util.LinkedHashMap<>();
            for (dev.tcpinspect.snapshot.Alert a : active.values()) {
                byType.computeIfAbsent(a.type(), t -> new ArrayList<>()).add(a.source());
            }
            List<String> parts = new ArrayList<>();
            byType.forEach((type, sources) -> {
                List<String> distinct = sources.stream().distinct().toList();
                parts.add(type + (distinct.size() <= 3 ? " from " + String.join(", ", distinct)
                        : " from " + distinct.size() + " sources"));
            });
            out.println("!! active: " + String.join("; ", parts));
        }
    }

    @Override
    public void event(EventType<?> type, EventView event) {
        // The table shows counts per interval and the summary aggregates; events are for --format json.
    }
}
