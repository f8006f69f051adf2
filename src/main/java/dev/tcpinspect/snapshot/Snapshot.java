package dev.tcpinspect.snapshot;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What one probe counted, cumulative since it was loaded or, after {@link #minus}, over an
 * interval: its metrics in the order it shows them. Outputs render it without knowing the probe.
 */
public record Snapshot(String probe, List<Metric> metrics) {
    public Snapshot {
        metrics = List.copyOf(metrics);
    }

    /** The counts of this snapshot that were not yet in earlier, a reading of the same probe. */
    public Snapshot minus(Snapshot earlier) {
        Map<String, Metric> before = new LinkedHashMap<>();
        for (Metric m : earlier.metrics) {
            before.put(m.desc().path(), m);
        }
        List<Metric> d = new ArrayList<>(metrics.size());
        for (Metric m : metrics) {
            Metric e = before.get(m.desc().path());
            d.add(e == null || e.getClass() != m.getClass() ? m : m.minus(e));
        }
        return new Snapshot(probe, d);
    }

    /** The metric at a JSON path, or null. */
    public Metric metric(String path) {
        for (Metric m : metrics) {
            if (m.desc().path().equals(path)) {
                return m;
            }
        }
        return null;
    }

    /** A snapshot with one more metric at the end. */
    public Snapshot with(Metric m) {
        List<Metric> more = new ArrayList<>(metrics);
        more.add(m);
        return new Snapshot(probe, more);
    }
}
