package dev.tcpinspect.snapshot;

import java.util.ArrayList;
import java.util.List;

/** What every running probe counted at one moment (or over an interval): their snapshots, in the registry's order. */
public record Reading(List<Snapshot> snapshots) {
    public Reading {
        snapshots = List.copyOf(snapshots);
    }

    /** The counts of this reading not yet in earlier (a reading of the same probes). */
    public Reading minus(Reading earlier) {
        List<Snapshot> d = new ArrayList<>(snapshots.size());
        for (Snapshot s : snapshots) {
            Snapshot e = earlier.snapshot(s.probe());
            d.add(e == null ? s : s.minus(e));
        }
        return new Reading(d);
    }

    /** This reading with one more snapshot at the end (an enforcer's beside the probes'). */
    public Reading with(Snapshot more) {
        List<Snapshot> all = new ArrayList<>(snapshots);
        all.add(more);
        return new Reading(all);
    }

    /** A probe's snapshot, or null when it is not running. */
    public Snapshot snapshot(String probe) {
        for (Snapshot s : snapshots) {
            if (s.probe().equals(probe)) {
                return s;
            }
        }
        return null;
    }

    /** The metric at a JSON path in any probe's snapshot, or null. */
    public Metric metric(String path) {
        for (Snapshot s : snapshots) {
            Metric m = s.metric(path);
            if (m != null) {
                return m;
            }
        }
        return null;
    }

    /** The value of the counter at a JSON path; 0 when no running probe has it. */
    public long count(String path) {
        return metric(path) instanceof Metric.Counter c ? c.value() : 0;
    }
}
