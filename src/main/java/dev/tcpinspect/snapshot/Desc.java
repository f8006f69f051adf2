package dev.tcpinspect.snapshot;

import java.util.Objects;

/**
 * What a metric is, independent of its value: everything an output needs to render it without
 * knowing the probe. A probe makes its descriptors once and pairs them with values in each
 * snapshot.
 *
 * @param path where the metric sits in a JSON line, dot-separated ("retransmit_detail.data"): a
 *     contract, never renamed, and the metric's stable name for every output
 * @param label what people read in the text view ("SYN-ACK", "events lost (ring buffer full)")
 * @param help one sentence on what it counts, for --help, metrics and the README
 * @param role how the text summary shows it
 * @param column the interval table's column, or null when it has none
 * @param export its family and labels in Prometheus, or null: exported under its path
 */
public record Desc(String path, String label, String help, Role role, Column column, Export export) {
    public Desc {
        Objects.requireNonNull(path);
        Objects.requireNonNull(label);
        Objects.requireNonNull(help);
        Objects.requireNonNull(role);
    }

    /** How the text summary shows a metric. */
    public enum Role {
        /** A line of its own: label and value. */
        HEADLINE,
        /** In parentheses after the headline before it: "retransmits 11 (data 9, SYN-ACK 2)". */
        PART,
        /** A line of its own, only when it is not zero (something worth a look). */
        NOTE,
        /** Counted but not attributed (a full ring or table): on the probe's NOT SHOWN line when not zero. */
        NOT_SHOWN,
        /** Never seen (runs the kernel skipped): on the summary's NOT SEEN line when not zero. */
        NOT_SEEN,
        /** In JSON (and metrics) only. */
        HIDDEN,
    }

    /**
     * A column of the interval table: a title, a width (right-aligned), and what a cell shows. Cells
     * of variable width (the top labels of a map) go after all the others.
     */
    public record Column(String title, int width, Cell cell) {
        public enum Cell {
            /** The value, a count. */
            COUNT,
            /** A distribution's median in milliseconds (it keeps microseconds), one decimal. */
            P50_MS_1,
            /** A distribution's median in milliseconds, three decimals. */
            P50_MS_3,
            /** A map's five biggest labels as "label:count", and how many more. */
            TOP_LABELS,
        }
    }

    public static Desc of(String path, String label, String help) {
        return new Desc(path, label, help, Role.HEADLINE, null, null);
    }

    public Desc role(Role r) {
        return new Desc(path, label, help, r, column, export);
    }

    public Desc column(String title, int width, Column.Cell cell) {
        return new Desc(path, label, help, role, new Column(title, width, cell), export);
    }

    /** Exported in a family, told apart there by constant labels (name, value, ...). */
    public Desc metric(Export.Family family, String... labels) {
        return new Desc(path, label, help, role, column, new Export(family, java.util.List.of(labels), null));
    }

    /** A map exported in a family, its keys under keyLabel, with constant labels (name, value, ...). */
    public Desc metricByKey(Export.Family family, String keyLabel, String... labels) {
        return new Desc(path, label, help, role, column, new Export(family, java.util.List.of(labels), keyLabel));
    }

    public Desc column(String title, int width) {
        return column(title, width, Column.Cell.COUNT);
    }

    /** The path's last part: the JSON field name. */
    public String field() {
        return path.substring(path.lastIndexOf('.') + 1);
    }
}
