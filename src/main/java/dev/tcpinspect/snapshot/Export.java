package dev.tcpinspect.snapshot;

import java.util.List;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * How a metric appears in Prometheus: the family it belongs to and the labels that set it apart
 * there. Several metrics may share a family (the SYN, FIN and RST counts are one family told apart
 * by a {@code kind} label), so that PromQL can sum and divide them. Labels only ever come from
 * bounded sets: a constant per metric, or the keys of a map (drop reasons; ports only from a list
 * the user configures). A metric without an Export is exported under its path.
 *
 * @param family the family's name and help
 * @param labels constant labels as name, value, name, value...
 * @param keyLabel for a map, the label its keys go under ("reason", "port"); null otherwise
 */
public record Export(Family family, List<String> labels, String keyLabel) {
    private static final Pattern LABEL = Pattern.compile("[a-z_][a-z0-9_]*");

    public Export {
        Objects.requireNonNull(family);
        labels = List.copyOf(labels);
        if (labels.size() % 2 != 0) {
            throw new IllegalArgumentException("labels come as name, value pairs: " + labels);
        }
        for (int i = 0; i < labels.size(); i += 2) {
            if (!LABEL.matcher(labels.get(i)).matches()) {
                throw new IllegalArgumentException("not a label name: " + labels.get(i));
            }
        }
        if (keyLabel != null && !LABEL.matcher(keyLabel).matches()) {
            throw new IllegalArgumentException("not a label name: " + keyLabel);
        }
    }

    /**
     * A metric family: its name after the {@code tcpinspect_} prefix, in base units and without a
     * counter's {@code _total} (the exposition adds it), and one sentence of help for all its members.
     */
    public record Family(String name, String help) {
        private static final Pattern NAME = Pattern.compile("[a-z][a-z0-9_]*");

        public Family {
            if (!NAME.matcher(name).matches() || name.endsWith("_total")) {
                throw new IllegalArgumentException("not a family name (lower case, no _total): " + name);
            }
            Objects.requireNonNull(help);
        }

        /** Events a probe's ring had no room for, by probe. */
        public static final Family EVENTS_LOST = new Family("events_lost",
                "Events a probe could not deliver because its ring buffer was full (still in its counts), by probe");
        /** Counts a probe's kernel table had no room to attribute, by probe and what the table keys. */
        public static final Family UNTRACKED = new Family("untracked",
                "Counts a probe's kernel table had no room to attribute to a flow, socket, remote, port or source (still"
                        + " in its totals), by probe and table");
        /** Entries a table pushed out for newer ones, by probe. */
        public static final Family EVICTED = new Family("evicted",
                "Entries a probe's kernel table pushed out for newer ones while still in use, by probe");
        /** Alerts a detection probe's ring had no room for, by probe. */
        public static final Family ALERTS_LOST = new Family("alerts_lost",
                "Alerts a detection probe's ring buffer had no room for, by probe");
        /** Runs of a probe's programs the kernel skipped, by probe. */
        public static final Family RUNS_SKIPPED = new Family("runs_skipped",
                "Runs of a probe's programs the kernel skipped (the program was already running on that CPU) that no"
                        + " twin made up for, by probe");
        /** State changes both twin copies handled, by probe. */
        public static final Family RUNS_TWICE = new Family("runs_twice",
                "State changes both copies of a twin handler handled (a claim found stale: the virtual CPU was taken"
                        + " away between them), so possibly counted twice, by probe");
        /** Alerts a detection probe started, by type. */
        public static final Family ALERTS = new Family("alerts",
                "Alert episodes a detection probe started (scan, flood, cycling), by type");
    }
}
