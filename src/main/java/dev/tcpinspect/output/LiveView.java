package dev.tcpinspect.output;

import dev.tcpinspect.snapshot.Addresses;
import dev.tcpinspect.snapshot.Alert;
import dev.tcpinspect.snapshot.Desc;
import dev.tcpinspect.snapshot.LogLinearHistogram;
import dev.tcpinspect.snapshot.Metric;
import dev.tcpinspect.snapshot.Reading;
import dev.tcpinspect.snapshot.Snapshot;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.jline.utils.AttributedString;
import org.jline.utils.AttributedStringBuilder;
import org.jline.utils.AttributedStyle;

/**
 * What the full-screen live view shows, as lines fitted to a width and a height: counters with
 * their totals since ready and their rates over the last interval, the top labels of maps, the
 * histograms since ready, the active alerts, and one of the probes' tables (top flows) sorted by one
 * of its numeric columns. Made from the snapshots' descriptors alone, as the line table is: it names
 * no probe. Not thread-safe: {@link LivePresenter} calls it under its lock. Everything here runs once
 * an interval or on a key, never per event.
 */
final class LiveView {
    private static final DateTimeFormatter CLOCK = DateTimeFormatter.ofPattern("HH:mm:ss").withZone(ZoneOffset.UTC);
    private static final AttributedStyle BAR = AttributedStyle.INVERSE;
    private static final AttributedStyle HEADING = AttributedStyle.BOLD;
    private static final AttributedStyle ALERT = AttributedStyle.BOLD.foreground(AttributedStyle.RED);
    private static final AttributedStyle SORTED = AttributedStyle.BOLD.underline();
    /** A histogram's strip: one character per power of two, darker for more values. */
    private static final String SHADES = " .:-=+*#%@";
    private static final int ENDED_KEPT = 5;

    private String where = "";
    private Instant started;
    private Duration every;

    /** Totals since ready, by path: counters, maps and histograms, added up from the intervals. */
    private final Map<String, Long> totals = new HashMap<>();
    private final Map<String, Map<String, Long>> mapTotals = new HashMap<>();
    private final Map<String, LogLinearHistogram> histograms = new HashMap<>();
    private final Map<String, Map<String, LogLinearHistogram>> histogramMaps = new HashMap<>();

    /** What is on screen (kept while paused) and the latest (shown when the pause ends). */
    private Frame shown;
    private Frame latest;
    private final Map<String, Alert> active = new LinkedHashMap<>();
    private final Deque<Alert> ended = new ArrayDeque<>();
    private long alertsSeen;

    private String table;
    private final Map<String, String> sortKeys = new HashMap<>();
    private boolean paused;
    private boolean help;
    private String notice;
    private Instant noticeTime;

    /** One interval's worth of what the view shows. */
    record Frame(Instant time, Duration length, List<CounterCell> counters, List<Labels> labels,
                 List<Histogram> histograms, List<Metric.Table> tables) {}

    /** A counter: its column's title, its total since ready, its rate over the interval (NaN: a level). */
    record CounterCell(String title, long total, double rate) {}

    record Labels(String title, Map<String, Long> counts) {}

    record Histogram(String label, LogLinearHistogram histogram) {}

    void ready(Instant time, List<String> interfaces, String hook, List<String> probes) {
        started = time;
        where = TextPresenter.where(interfaces) + " (" + hook + "; " + probes.size()
                + (probes.size() == 1 ? " probe: " + probes.getFirst() : " probes") + ")";
    }

    /** Adds an interval's counts to the totals and makes the frame to show. */
    void interval(Instant time, Duration length, Reading delta) {
        every = every == null ? length : every;
        double seconds = Math.max(length.toNanos() / 1e9, 1e-9);
        List<CounterCell> counters = new ArrayList<>();
        List<Labels> labels = new ArrayList<>();
        List<Histogram> shownHistograms = new ArrayList<>();
        List<Metric.Table> tables = new ArrayList<>();
        for (Snapshot s : delta.snapshots()) {
            for (Metric m : s.metrics()) {
                Desc d = m.desc();
                Desc.Column column = d.column();
                switch (m) {
                    case Metric.Counter c when column != null -> counters.add(count(d, column, c.value(), seconds));
                    case Metric.Gauge g when column != null -> counters.add(new CounterCell(column.title(), g.value(),
                            Double.NaN));
                    case Metric.CounterMap map when column != null -> {
                        Map<String, Long> sum = mapTotals.computeIfAbsent(d.path(), p -> new HashMap<>());
                        map.counts().forEach((k, v) -> sum.merge(k, v, Long::sum));
                        if (column.cell() == Desc.Column.Cell.TOP_LABELS) {
                            labels.add(new Labels(column.title(), Map.copyOf(sum)));
                        } else {
                            counters.add(count(d, column, map.total(), seconds));
                        }
                    }
                    case Metric.Distribution dist when d.role() != Desc.Role.HIDDEN -> {
                        LogLinearHistogram sum = histograms.computeIfAbsent(d.path(), p -> new LogLinearHistogram());
                        sum.add(dist.histogram());
                        shownHistograms.add(new Histogram(d.label(), copy(sum)));
                    }
                    case Metric.DistributionMap map when d.role() != Desc.Role.HIDDEN -> {
                        Map<String, LogLinearHistogram> sums = histogramMaps.computeIfAbsent(d.path(),
                                p -> new LinkedHashMap<>());
                        map.histograms().forEach((k, h) -> sums.computeIfAbsent(k, x -> new LogLinearHistogram()).add(h));
                        sums.entrySet().stream()
                                .sorted(Comparator.comparingLong(
                                        (Map.Entry<String, LogLinearHistogram> e) -> e.getValue().count()).reversed())
                                .forEach(e -> shownHistograms.add(new Histogram(d.label() + " " + e.getKey(),
                                        copy(e.getValue()))));
                    }
                    case Metric.Table t -> tables.add(t);
                    default -> { }
                }
            }
        }
        latest = new Frame(time, length, counters, labels, shownHistograms, tables);
        if (!paused || shown == null) {
            shown = latest;
        }
    }

    private CounterCell count(Desc d, Desc.Column column, long value, double seconds) {
        return new CounterCell(column.title(), totals.merge(d.path(), value, Long::sum), value / seconds);
    }

    private static LogLinearHistogram copy(LogLinearHistogram h) {
        LogLinearHistogram c = new LogLinearHistogram();
        c.add(h);
        return c;
    }

    void alert(Alert alert) {
        if (alert.state() == Alert.State.START) {
            alertsSeen++;
        }
        if (alert.state() == Alert.State.END) {
            active.remove(alert.episode());
            ended.addFirst(alert);
            while (ended.size() > ENDED_KEPT) {
                ended.removeLast();
            }
        } else if (active.size() < TextPresenter.MAX_ACTIVE || active.containsKey(alert.episode())) {
            active.put(alert.episode(), alert);
        }
    }

    void notice(String line, Instant time) {
        notice = line;
        noticeTime = time;
    }

    void togglePause() {
        paused = !paused;
        if (!paused) {
            shown = latest;
        }
    }

    boolean paused() {
        return paused;
    }

    void toggleHelp() {
        help = !help;
    }

    boolean help() {
        return help;
    }

    /** The table after the one shown, among those with rows (all of them when none has any). */
    void nextTable() {
        List<Metric.Table> choices = choices();
        if (choices.isEmpty()) {
            return;
        }
        int at = indexOf(choices, current());
        table = choices.get((at + 1) % choices.size()).desc().path();
    }

    /** The shown table's next numeric column to sort by. */
    void nextSortKey() {
        Metric.Table t = current();
        if (t == null) {
            return;
        }
        List<String> keys = numericColumns(t);
        if (keys.isEmpty()) {
            return;
        }
        String key = sortKey(t);
        sortKeys.put(t.desc().path(), keys.get((keys.indexOf(key) + 1) % keys.size()));
    }

    /** The shown table's sort key, or null when it has no numeric column (or there is no table). */
    String sortKey() {
        Metric.Table t = current();
        return t == null ? null : sortKey(t);
    }

    private List<Metric.Table> choices() {
        if (shown == null) {
            return List.of();
        }
        List<Metric.Table> withRows = shown.tables().stream().filter(t -> !t.rows().isEmpty()).toList();
        return withRows.isEmpty() ? shown.tables() : withRows;
    }

    private static int indexOf(List<Metric.Table> tables, Metric.Table t) {
        for (int i = 0; t != null && i < tables.size(); i++) {
            if (tables.get(i).desc().path().equals(t.desc().path())) {
                return i;
            }
        }
        return -1;
    }

    /**
     * The table shown: the one chosen with 't' while it is there, else the first with rows whose rows
     * are flows, else the first with rows, else the first.
     */
    private Metric.Table current() {
        if (shown == null || shown.tables().isEmpty()) {
            return null;
        }
        for (Metric.Table t : shown.tables()) {
            if (t.desc().path().equals(table)) {
                return t;
            }
        }
        return shown.tables().stream()
                .filter(t -> !t.rows().isEmpty() && t.rows().getFirst().cells().getFirst() instanceof Metric.Cell.FlowCell)
                .findFirst()
                .orElse(shown.tables().stream().filter(t -> !t.rows().isEmpty()).findFirst()
                        .orElse(shown.tables().getFirst()));
    }

    private String sortKey(Metric.Table t) {
        String chosen = sortKeys.get(t.desc().path());
        List<String> keys = numericColumns(t);
        if (chosen != null && keys.contains(chosen)) {
            return chosen;
        }
        // The column the title names ("... by retransmits"), else the first numeric column the
        // probe's rows are sorted by (and not all equal), else the first.
        for (String key : keys) {
            if (t.title().toLowerCase(Locale.ROOT).contains(key.replace('_', ' ').toLowerCase(Locale.ROOT))) {
                return key;
            }
        }
        for (String key : keys) {
            boolean descending = true;
            boolean varies = false;
            for (int i = 1; i < t.rows().size(); i++) {
                double before = number(t.rows().get(i - 1), key);
                double now = number(t.rows().get(i), key);
                descending &= now <= before;
                varies |= now != before;
            }
            if (descending && varies) {
                return key;
            }
        }
        return keys.isEmpty() ? null : keys.getFirst();
    }

    /** The names of a table's count columns (and decimal ones), in their order. */
    static List<String> numericColumns(Metric.Table t) {
        List<String> keys = new ArrayList<>();
        for (Metric.Row row : t.rows()) {
            for (Metric.Cell cell : row.cells()) {
                String name = switch (cell) {
                    case Metric.Cell.Count c -> c.name();
                    case Metric.Cell.Decimal d -> d.name();
                    default -> null;
                };
                if (name != null && !keys.contains(name)) {
                    keys.add(name);
                }
            }
        }
        return keys;
    }

    private static double number(Metric.Row row, String name) {
        for (Metric.Cell cell : row.cells()) {
            switch (cell) {
                case Metric.Cell.Count c when c.name().equals(name) -> {
                    return c.value();
                }
                case Metric.Cell.Decimal d when d.name().equals(name) -> {
                    return d.value();
                }
                default -> { }
            }
        }
        return 0;
    }

    // ---------------------------------------------------------------- rendering

    /** The screen: a title bar, the body, a key bar; height lines, none wider than width. */
    List<AttributedString> render(int width, int height, Instant now) {
        List<AttributedString> lines = new ArrayList<>();
        if (width < 1 || height < 1) {
            return lines;
        }
        String status = statusText();
        lines.add(bar(titleText(now, width - status.length() - 1), status, width));
        if (height == 1) {
            return lines;
        }
        int bodyHeight = height - 2;
        List<AttributedString> body = help ? helpLines() : body(width, bodyHeight);
        for (int i = 0; i < bodyHeight; i++) {
            lines.add(i < body.size() ? cut(body.get(i), width) : AttributedString.EMPTY);
        }
        lines.add(bar(keysText(), noticeText(now), width));
        return lines;
    }

    /** What is watched, for how long, how often: the last parts left out first where they do not fit. */
    private String titleText(Instant now, int room) {
        List<String> parts = new ArrayList<>(List.of(" tcpinspect watch", where));
        if (started != null) {
            parts.add("up " + elapsed(Duration.between(started, now)));
        }
        if (every != null) {
            parts.add("every " + seconds(every));
        }
        while (parts.size() > 1 && String.join("  ", parts).length() > room) {
            parts.removeLast();
        }
        return String.join("  ", parts);
    }

    private String statusText() {
        Frame f = shown;
        String clock = f == null ? "" : CLOCK.format(f.time()) + " UTC ";
        return (paused ? "PAUSED (p) " : "") + clock;
    }

    private static String keysText() {
        return " q quit  s sort  t table  p pause  ? help";
    }

    private String noticeText(Instant now) {
        return notice != null && Duration.between(noticeTime, now).toSeconds() < 30 ? notice + " " : "";
    }

    /** Text on the left, text on the right, in inverse video across the whole width. */
    private static AttributedString bar(String left, String right, int width) {
        String line;
        if (left.length() + right.length() <= width) {
            line = left + " ".repeat(width - left.length() - right.length()) + right;
        } else if (right.length() < width) {
            line = left.substring(0, width - right.length()) + right;
        } else {
            line = right.substring(0, width);
        }
        return new AttributedString(line, BAR);
    }

    private static AttributedString cut(AttributedString line, int width) {
        return line.columnLength() <= width ? line : line.columnSubSequence(0, width);
    }

    private List<AttributedString> body(int width, int height) {
        List<AttributedString> top = new ArrayList<>();
        if (shown == null) {
            top.add(new AttributedString("Counting: the first figures come at the end of the first interval."));
            top.addAll(alertLines(width, Integer.MAX_VALUE));
            return top;
        }
        top.addAll(counterLines(width));
        top.addAll(labelLines(width));
        if (top.size() >= height) {
            return top.subList(0, height);
        }
        // What is left goes to the histograms, the alerts and the table, headings first, then a few
        // lines of each, then the rest in the order alerts, table, histograms.
        int left = height - top.size();
        List<AttributedString> hist = histogramLines(width);
        List<AttributedString> alerts = alertLines(width, Integer.MAX_VALUE);
        List<AttributedString> tableText = tableLines(width, Integer.MAX_VALUE);
        int histHeadings = hist.isEmpty() ? 0 : 1;
        int tableHeadings = Math.min(tableText.size(), 2);
        int[] take = new int[3]; // histograms, alerts, table
        int[] size = {hist.size(), alerts.size(), tableText.size()};
        int[][] steps = {{1, 1}, {2, tableHeadings}, {0, histHeadings}, {1, 1 + 5}, {2, tableHeadings + 3},
            {0, Integer.MAX_VALUE}, {1, Integer.MAX_VALUE}, {2, Integer.MAX_VALUE}};
        for (int[] step : steps) {
            int s = step[0];
            int want = Math.min(size[s], step[1]) - take[s];
            int give = Math.max(0, Math.min(want, left));
            take[s] += give;
            left -= give;
        }
        List<AttributedString> lines = new ArrayList<>(top);
        lines.addAll(hist.subList(0, take[0]));
        lines.addAll(alerts.subList(0, take[1]));
        if (take[2] > 0) {
            lines.addAll(tableLines(width, Math.max(0, take[2] - 2)).subList(0, take[2]));
        }
        return lines;
    }

    /** Counters in a grid, row by row: title, total since ready, rate over the last interval. */
    private List<AttributedString> counterLines(int width) {
        List<CounterCell> counters = shown.counters();
        if (counters.isEmpty()) {
            return List.of();
        }
        int titleWidth = counters.stream().mapToInt(c -> c.title().length()).max().orElse(0);
        int cellWidth = titleWidth + 1 + 7 + 1 + 7;
        int perLine = Math.max(1, (width + 2) / (cellWidth + 2));
        List<AttributedString> lines = new ArrayList<>();
        for (int i = 0; i < counters.size(); i += perLine) {
            AttributedStringBuilder line = new AttributedStringBuilder();
            for (int j = i; j < Math.min(counters.size(), i + perLine); j++) {
                CounterCell c = counters.get(j);
                if (j > i) {
                    line.append("  ");
                }
                line.style(HEADING).append(padRight(c.title(), titleWidth)).style(AttributedStyle.DEFAULT);
                line.append(' ').append(padLeft(total(c.total()), 7)).append(' ')
                        .append(padLeft(Double.isNaN(c.rate()) ? "now" : rate(c.rate()) + "/s", 7));
            }
            lines.add(line.toAttributedString());
        }
        return lines;
    }

    /** A map's biggest labels since ready: "TOP SYN PORTS  443:120 80:3 +2". */
    private List<AttributedString> labelLines(int width) {
        List<AttributedString> lines = new ArrayList<>();
        for (Labels l : shown.labels()) {
            AttributedStringBuilder line = new AttributedStringBuilder();
            line.style(HEADING).append(l.title()).style(AttributedStyle.DEFAULT).append("  ");
            line.append(l.counts().isEmpty() ? "-" : TextPresenter.topLabels(l.counts(),
                    Math.max(0, width - l.title().length() - 2)));
            lines.add(line.toAttributedString());
        }
        return lines;
    }

    /** A heading, then each distribution since ready: count, percentiles in ms, a strip by power of two. */
    private List<AttributedString> histogramLines(int width) {
        List<Histogram> all = shown.histograms();
        if (all.isEmpty()) {
            return List.of();
        }
        List<AttributedString> lines = new ArrayList<>();
        lines.add(new AttributedString("HISTOGRAMS since start, ms", HEADING));
        // the label takes what the figures leave (52 characters), up to its longest
        int labelWidth = Math.min(Math.max(12, width - 52), all.stream().mapToInt(h -> h.label().length()).max().orElse(0));
        for (Histogram h : all) {
            LogLinearHistogram.Percentiles p = h.histogram().percentiles();
            StringBuilder s = new StringBuilder(padRight(clip(h.label(), labelWidth), labelWidth))
                    .append(' ').append(padLeft(total(p.count()), 7));
            if (p.count() > 0) {
                s.append(" p50 ").append(padLeft(ms(p.p50()), 6)).append(" p90 ").append(padLeft(ms(p.p90()), 6))
                        .append(" p99 ").append(padLeft(ms(p.p99()), 6)).append(" max ").append(padLeft(ms(p.max()), 6));
                String strip = strip(h.histogram());
                String low = ms(p.min());
                String withStrip = "  " + low + " [" + strip + "] " + ms(p.max());
                if (s.length() + withStrip.length() <= width) {
                    s.append(withStrip);
                }
            }
            lines.add(new AttributedString(s.toString()));
        }
        return lines;
    }

    /** One character per power of two from the first value to the last, darker for more values. */
    static String strip(LogLinearHistogram h) {
        long[] rows = HistogramBars.powersOfTwo(h);
        int first = -1;
        int last = -1;
        long most = 0;
        for (int r = 0; r < rows.length; r++) {
            if (rows[r] != 0) {
                first = first < 0 ? r : first;
                last = r;
                most = Math.max(most, rows[r]);
            }
        }
        StringBuilder s = new StringBuilder();
        for (int r = first; first >= 0 && r <= last; r++) {
            s.append(SHADES.charAt(rows[r] == 0 ? 0 : 1 + (int) (rows[r] * (SHADES.length() - 2) / most)));
        }
        return s.toString();
    }

    /** A heading with how many alerts are active, then the active ones, then those that ended lately. */
    private List<AttributedString> alertLines(int width, int max) {
        List<AttributedString> lines = new ArrayList<>();
        String heading = active.isEmpty() ? "ALERTS none active" : "ALERTS " + active.size() + " active";
        lines.add(new AttributedString(heading + (alertsSeen > 0 ? " (" + alertsSeen + " since start)" : ""),
                active.isEmpty() ? HEADING : ALERT));
        active.values().stream().sorted(Comparator.comparing(Alert::time).reversed()).forEach(a ->
                lines.add(new AttributedString("  " + CLOCK.format(a.time()) + " " + a.headline() + " (" + a.family()
                        + ")", ALERT)));
        for (Alert a : ended) {
            lines.add(new AttributedString("  " + CLOCK.format(a.time()) + " ended: " + a.headline()));
        }
        return lines.size() > max ? lines.subList(0, max) : lines;
    }

    /**
     * The shown table: a heading (its title, the sort key, which table of how many), the column
     * names, and up to rows rows sorted by the key, biggest first. Columns are kept in order while
     * they fit, the first (the flow) and the sort key always; the first is cut when it must be.
     */
    private List<AttributedString> tableLines(int width, int rows) {
        Metric.Table t = current();
        List<AttributedString> lines = new ArrayList<>();
        if (t == null) {
            lines.add(new AttributedString("TOP FLOWS none: the running probes keep no tables", HEADING));
            return lines;
        }
        String key = sortKey(t);
        List<Metric.Table> choices = choices();
        int at = indexOf(choices, t);
        String heading = t.title().toUpperCase(Locale.ROOT) + " since start"
                + (key == null ? "" : "  sort: " + key + " (s)")
                + (choices.size() > 1 ? "  table " + (at + 1) + "/" + choices.size() + " (t)" : "");
        lines.add(new AttributedString(heading, HEADING));
        if (t.rows().isEmpty()) {
            lines.add(new AttributedString("  none yet"));
            return lines;
        }
        // Columns from the first row; each cell as text.
        List<String> names = new ArrayList<>();
        List<Boolean> numeric = new ArrayList<>();
        for (Metric.Cell cell : t.rows().getFirst().cells()) {
            names.add(switch (cell) {
                case Metric.Cell.FlowCell f -> "flow";
                case Metric.Cell.Text x -> x.name();
                case Metric.Cell.Count c -> c.name();
                case Metric.Cell.Decimal d -> d.name();
            });
            numeric.add(cell instanceof Metric.Cell.Count || cell instanceof Metric.Cell.Decimal);
        }
        List<Metric.Row> sorted = new ArrayList<>(t.rows());
        if (key != null) {
            sorted.sort(Comparator.comparingDouble((Metric.Row r) -> number(r, key)).reversed());
        }
        List<String[]> cells = new ArrayList<>();
        for (Metric.Row row : sorted.subList(0, Math.min(rows, sorted.size()))) {
            String[] text = new String[names.size()];
            for (int i = 0; i < names.size(); i++) {
                text[i] = cellText(row, names.get(i), t.arrow());
            }
            cells.add(text);
        }
        int n = names.size();
        int[] widths = new int[n];
        for (int i = 0; i < n; i++) {
            widths[i] = names.get(i).length();
            for (String[] text : cells) {
                widths[i] = Math.max(widths[i], text[i].length());
            }
        }
        int keyIndex = key == null ? -1 : names.indexOf(key);
        boolean[] kept = new boolean[n];
        kept[0] = true;
        int used = widths[0];
        if (keyIndex > 0) {
            kept[keyIndex] = true;
            used += 2 + widths[keyIndex];
        }
        for (int i = 1; i < n; i++) {
            if (!kept[i] && used + 2 + widths[i] <= width) {
                kept[i] = true;
                used += 2 + widths[i];
            }
        }
        if (used > width) {
            widths[0] = Math.max(4, widths[0] - (used - width));
        }
        AttributedStringBuilder header = new AttributedStringBuilder();
        for (int i = 0; i < n; i++) {
            if (kept[i]) {
                if (i > 0) {
                    header.append("  ");
                }
                String name = names.get(i).toUpperCase(Locale.ROOT);
                String padded = numeric.get(i) ? padLeft(name, widths[i]) : padRight(clip(name, widths[i]), widths[i]);
                header.style(i == keyIndex ? SORTED : HEADING).append(padded).style(AttributedStyle.DEFAULT);
            }
        }
        lines.add(header.toAttributedString());
        for (String[] text : cells) {
            StringBuilder line = new StringBuilder();
            for (int i = 0; i < n; i++) {
                if (kept[i]) {
                    if (i > 0) {
                        line.append("  ");
                    }
                    line.append(numeric.get(i) ? padLeft(text[i], widths[i]) : padRight(clip(text[i], widths[i]), widths[i]));
                }
            }
            lines.add(new AttributedString(line.toString().stripTrailing()));
        }
        return lines;
    }

    private static String cellText(Metric.Row row, String name, String arrow) {
        for (Metric.Cell cell : row.cells()) {
            switch (cell) {
                case Metric.Cell.FlowCell f when name.equals("flow") -> {
                    return Addresses.endpoint(f.flow().laddr(), f.flow().lport()) + " "
                            + (arrow.isEmpty() ? "-" : arrow) + " " + Addresses.endpoint(f.flow().raddr(), f.flow().rport());
                }
                case Metric.Cell.Text x when x.name().equals(name) -> {
                    return x.value();
                }
                case Metric.Cell.Count c when c.name().equals(name) -> {
                    return String.format("%,d", c.value());
                }
                case Metric.Cell.Decimal d when d.name().equals(name) -> {
                    return String.format("%.2f", d.value());
                }
                default -> { }
            }
        }
        return "";
    }

    private static List<AttributedString> helpLines() {
        List<AttributedString> lines = new ArrayList<>();
        lines.add(new AttributedString("KEYS", HEADING));
        for (String line : new String[] {
            "  q        quit: detach everything and print the summary (as Ctrl-C does)",
            "  s        sort the table by its next numeric column",
            "  t        show the next table (top flows by retransmits, resets, drops, ...)",
            "  p        pause redrawing (counting goes on); p again shows the latest",
            "  ? or h   this help; any key closes it",
            "  Ctrl-L   draw the whole screen again",
            "",
            "Counters: the total since start and the rate over the last interval.",
            "Histograms: since start, in milliseconds; the strip has one character",
            "  per power of two, from the smallest value to the largest.",
            "Tables: the probe's busiest rows since start, sorted by the key shown.",
            "Alerts: those still active, then the last few that ended.",
            "Pipes, files and --no-tui get the line table instead (--width)."}) {
            lines.add(new AttributedString(line));
        }
        return lines;
    }

    // ---------------------------------------------------------------- formats

    /** Exact below a million ("999,999"), then three digits with k, M, G ("1.23M"): at most 7 characters. */
    static String total(long v) {
        if (v < 1_000_000 && v > -1_000_000) {
            return String.format("%,d", v);
        }
        return compact(v);
    }

    /** A rate: one decimal below a thousand, then three digits with k, M, G. */
    static String rate(double r) {
        if (r < 999.95) {
            return String.format("%.1f", r);
        }
        return compact(r);
    }

    private static String compact(double v) {
        String[] units = {"", "k", "M", "G", "T", "P", "E"};
        int u = 0;
        while (Math.abs(v) >= 999.5 && u < units.length - 1) {
            v /= 1000;
            u++;
        }
        String digits = Math.abs(v) < 9.995 ? String.format("%.2f", v) : Math.abs(v) < 99.95
                ? String.format("%.1f", v) : String.format("%.0f", v);
        return digits + units[u];
    }

    /** Microseconds as milliseconds with three significant digits. */
    static String ms(long micros) {
        double v = micros / 1000.0;
        return v < 1 ? String.format("%.3f", v) : v < 10 ? String.format("%.2f", v)
                : v < 100 ? String.format("%.1f", v) : String.format("%.0f", v);
    }

    /** An interval as set, give or take the few milliseconds a wake-up is late: "1s", "0.5s". */
    private static String seconds(Duration d) {
        double s = Math.round(d.toMillis() / 100.0) / 10.0;
        return s == Math.rint(s) ? (long) s + "s" : s + "s";
    }

    private static String elapsed(Duration d) {
        long s = Math.max(0, d.toSeconds());
        return s >= 3600 ? String.format("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                : String.format("%d:%02d", s / 60, s % 60);
    }

    private static String padRight(String s, int width) {
        return s.length() >= width ? s : s + " ".repeat(width - s.length());
    }

    private static String padLeft(String s, int width) {
        return s.length() >= width ? s : " ".repeat(width - s.length()) + s;
    }

    private static String clip(String s, int width) {
        return s.length() <= width ? s : width <= 2 ? s.substring(0, width) : s.substring(0, width - 2) + "..";
    }
}
