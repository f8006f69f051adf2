package dev.tcpinspect.snapshot;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import dev.tcpinspect.snapshot.Metric.Counter;
import dev.tcpinspect.snapshot.Metric.CounterMap;
import dev.tcpinspect.snapshot.Metric.Distribution;
import dev.tcpinspect.snapshot.Metric.DistributionMap;
import dev.tcpinspect.snapshot.Metric.Gauge;
import dev.tcpinspect.snapshot.Metric.Table;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Intervals are cumulative readings less the reading before: each kind of metric subtracts its own way. */
class SnapshotTest {
    private static final Desc COUNT = Desc.of("p.count", "count", "a count");
    private static final Desc LEVEL = Desc.of("p.level", "level", "a level");
    private static final Desc BY_REASON = Desc.of("p.by_reason", "by reason", "counts by reason");
    private static final Desc LATENCY = Desc.of("p.latency", "latency", "a distribution");
    private static final Desc BY_PORT = Desc.of("p.by_port", "latency by port", "distributions by port");
    private static final Desc TOP = Desc.of("p.top", "top", "top flows");

    private static LogLinearHistogram histogram(long... values) {
        LogLinearHistogram h = new LogLinearHistogram();
        for (long v : values) {
            h.record(v);
        }
        return h;
    }

    @Test
    void countersSubtractGaugesAndTablesKeepTheLaterReading() {
        Table earlierTop = new Table(TOP, "Top", "->", List.of());
        Table laterTop = new Table(TOP, "Top", "->", List.of(Metric.Row.of(new Metric.Cell.Count("n", 3))));
        Snapshot earlier = new Snapshot("p", List.of(new Counter(COUNT, 10), new Gauge(LEVEL, 4), earlierTop));
        Snapshot later = new Snapshot("p", List.of(new Counter(COUNT, 25), new Gauge(LEVEL, 1), laterTop));
        Snapshot interval = later.minus(earlier);
        assertEquals(15, ((Counter) interval.metric("p.count")).value());
        assertEquals(1, ((Gauge) interval.metric("p.level")).value(), "a level is what it is now, not a difference");
        assertSame(laterTop, interval.metric("p.top"));
        assertEquals("p", interval.probe());
    }

    @Test
    void mapsKeepOnlyTheLabelsThatMoved() {
        CounterMap earlier = new CounterMap(BY_REASON, Map.of("NO_SOCKET", 5L, "NETFILTER_DROP", 2L));
        CounterMap later = new CounterMap(BY_REASON, Map.of("NO_SOCKET", 9L, "NETFILTER_DROP", 2L, "OTHERHOST", 1L));
        CounterMap d = (CounterMap) later.minus(earlier);
        assertEquals(Map.of("NO_SOCKET", 4L, "OTHERHOST", 1L), d.counts());
        assertEquals(5, d.total());
    }

    @Test
    void numericLabelsSortAsNumbers() {
        CounterMap ports = new CounterMap(BY_REASON, Map.of("8080", 1L, "443", 1L, "80", 1L, "other", 1L));
        assertEquals(List.of("80", "443", "8080", "other"), List.copyOf(ports.counts().keySet()));
    }

    @Test
    void distributionsSubtractBucketByBucket() {
        Distribution earlier = new Distribution(LATENCY, histogram(100, 200));
        Distribution later = new Distribution(LATENCY, histogram(100, 200, 5_000, 5_000));
        LogLinearHistogram d = ((Distribution) later.minus(earlier)).histogram();
        assertEquals(2, d.count());
        assertEquals(LogLinearHistogram.bucketOf(5_000), LogLinearHistogram.bucketOf(d.percentiles().p50()));

        DistributionMap before = new DistributionMap(BY_PORT, Map.of("443", histogram(100), "80", histogram(50)));
        DistributionMap after = new DistributionMap(BY_PORT, Map.of("443", histogram(100, 300), "80", histogram(50)));
        DistributionMap dm = (DistributionMap) after.minus(before);
        assertEquals(List.of("443"), List.copyOf(dm.histograms().keySet()), "a port with nothing new is left out");
        assertEquals(1, dm.histograms().get("443").count());
    }

    @Test
    void aMetricNewInTheLaterReadingIsTakenWhole() {
        Snapshot earlier = new Snapshot("p", List.of(new Counter(COUNT, 10)));
        Snapshot later = new Snapshot("p", List.of(new Counter(COUNT, 12), new Gauge(LEVEL, 7)));
        Snapshot d = later.minus(earlier);
        assertEquals(2, ((Counter) d.metric("p.count")).value());
        assertEquals(7, ((Gauge) d.metric("p.level")).value());
        assertNull(d.metric("p.nothing"));
    }

    @Test
    void aReadingFindsMetricsByPathAcrossProbes() {
        Reading earlier = new Reading(List.of(new Snapshot("a", List.of(new Counter(COUNT, 1))),
                new Snapshot("b", List.of(new Counter(Desc.of("q.n", "n", "n"), 5)))));
        Reading later = new Reading(List.of(new Snapshot("a", List.of(new Counter(COUNT, 4))),
                new Snapshot("b", List.of(new Counter(Desc.of("q.n", "n", "n"), 6)))));
        Reading d = later.minus(earlier);
        assertEquals(3, d.count("p.count"));
        assertEquals(1, d.count("q.n"));
        assertEquals(0, d.count("no.such"), "a probe that is not running counts nothing");
        assertNull(d.snapshot("c"));
    }

    @Test
    void theFieldIsThePathsLastPart() {
        assertEquals("closed_now", Desc.of("zero_window_detail.closed_now", "l", "h").field());
        assertEquals("dupacks", Desc.of("dupacks", "l", "h").field());
    }
}
