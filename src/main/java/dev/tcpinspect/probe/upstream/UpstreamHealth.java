package dev.tcpinspect.probe.upstream;

import dev.tcpinspect.snapshot.LogLinearHistogram;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Locale;

/**
 * One upstream's health from its counters, by rules modelled on proxies' outlier detection
 * (Envoy's consecutive gateway failures, a failure percentage, latency against the host's own
 * history): unhealthy after so many connects in a row failed; degraded while the connections that
 * ended in the last window retransmitted more than a share of the segments they sent, while the
 * window's handshakes are much slower than the upstream's own before it, or while a connection
 * waits for data that does not come ({@link StreamStalls}: a proxy's read timeout, seen from below).
 * Pure logic: the probe feeds it a reading every second.
 */
final class UpstreamHealth {
    /** Healthy, degraded, unhealthy: the order is the severity, and the metric's value. */
    enum State {
        HEALTHY, DEGRADED, UNHEALTHY;

        String label() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** The thresholds (watch --set upstream.KEY=VALUE). */
    record Rules(long failures, double retransmitPercent, long windowSeconds, long minSegments, long handshakeFactor,
                 long stallSeconds) {
        static Rules defaults() {
            // 1%: an upstream losing 5% of the packets sent to it retransmits about 4% of its segments
            // (pure ACKs are among those sent, and are never retransmitted), and a 10 s window of such
            // an upstream read 2.2% to 7.4% in six runs; a healthy path retransmits next to none
            return new Rules(5, 1.0, 10, 100, 3, 10);
        }

        /** Handshakes a window needs before its p99 is judged, and the baseline before the window. */
        static final long MIN_WINDOW_HANDSHAKES = 20;
        static final long MIN_BASELINE_HANDSHAKES = 50;
        /** A p99 this much above the baseline's at least (microseconds): a LAN's jitter is no degradation. */
        static final long MIN_HANDSHAKE_EXCESS_US = 5_000;
    }

    /**
     * What the rules look at, cumulative since the start; handshakes may be null in a reading kept
     * in the window (only some keep theirs, so that a long window stays small).
     */
    record Sample(long nanos, long refused, long timedOut, long unreachable, long abandoned, long otherError,
                  long failedInARow, long segsSent, long segsRetransmitted, LogLinearHistogram handshakes,
                  int stalled, long longestStallMs) {}

    /** A state and the reasons for it (none when healthy). */
    record Verdict(State state, List<String> reasons) {
        Verdict {
            reasons = List.copyOf(reasons);
        }
    }

    private final Deque<Sample> window = new ArrayDeque<>();
    /** When a reading last kept its histogram (a tenth of the window apart, so a window holds about ten). */
    private Long lastKeptHistogram;

    /** Adds the latest reading and judges the upstream by it and the window before it. */
    Verdict judge(Sample now, Rules rules) {
        long tenth = rules.windowSeconds() * 100_000_000L;
        Sample kept = now;
        if (lastKeptHistogram == null || now.nanos() - lastKeptHistogram >= tenth) {
            lastKeptHistogram = now.nanos();
        } else {
            kept = new Sample(now.nanos(), now.refused(), now.timedOut(), now.unreachable(), now.abandoned(),
                    now.otherError(), now.failedInARow(), now.segsSent(), now.segsRetransmitted(), null, now.stalled(),
                    now.longestStallMs());
        }
        window.addLast(kept);
        long windowNanos = rules.windowSeconds() * 1_000_000_000L;
        while (window.size() > 1 && now.nanos() - window.peekFirst().nanos() > windowNanos) {
            window.removeFirst();
        }
        Sample first = window.peekFirst();
        List<String> reasons = new ArrayList<>();
        State state = State.HEALTHY;
        if (now.failedInARow() >= rules.failures()) {
            state = State.UNHEALTHY;
            // the failures' kinds over the window, or since the start at the first reading
            Sample since = window.size() == 1 ? new Sample(now.nanos(), 0, 0, 0, 0, 0, 0, 0, 0, null, 0, 0) : first;
            reasons.add(now.failedInARow() + " connects in a row failed" + kinds(since, now));
        }
        long sent = now.segsSent() - first.segsSent();
        long again = now.segsRetransmitted() - first.segsRetransmitted();
        if (sent >= rules.minSegments() && again * 100.0 >= rules.retransmitPercent() * sent) {
            if (state == State.HEALTHY) {
                state = State.DEGRADED;
            }
            reasons.add(String.format(Locale.ROOT, "%.1f%% of segments retransmitted (%d of %d, last %d s)",
                    again * 100.0 / sent, again, sent, rules.windowSeconds()));
        }
        if (now.stalled() > 0) {
            if (state == State.HEALTHY) {
                state = State.DEGRADED;
            }
            reasons.add(String.format(Locale.ROOT, "%d %s nothing for %d s or more while data was expected (longest %d s)",
                    now.stalled(), now.stalled() == 1 ? "stream stalled: it received" : "streams stalled: they received",
                    rules.stallSeconds(), now.longestStallMs() / 1000));
        }
        // the window's handshakes since its oldest reading that kept a histogram
        LogLinearHistogram baseline = window.stream().map(Sample::handshakes).filter(java.util.Objects::nonNull)
                .findFirst().orElse(now.handshakes());
        LogLinearHistogram recent = now.handshakes().minus(baseline);
        if (recent.count() >= Rules.MIN_WINDOW_HANDSHAKES && baseline.count() >= Rules.MIN_BASELINE_HANDSHAKES) {
            long p99 = recent.percentile(0.99);
            long usual = baseline.percentile(0.99);
            if (p99 > rules.handshakeFactor() * usual && p99 - usual >= Rules.MIN_HANDSHAKE_EXCESS_US) {
                if (state == State.HEALTHY) {
                    state = State.DEGRADED;
                }
                reasons.add(String.format(Locale.ROOT, "handshake p99 %.1f ms (last %d s), %dx its p99 of %.1f ms before",
                        p99 / 1000.0, rules.windowSeconds(), p99 / Math.max(1, usual), usual / 1000.0));
            }
        }
        return new Verdict(state, reasons);
    }

    /** The failures of the window by kind: " (refused 5)"; empty when none fell in the window. */
    private static String kinds(Sample first, Sample now) {
        List<String> parts = new ArrayList<>();
        add(parts, "refused", now.refused() - first.refused());
        add(parts, "timed out", now.timedOut() - first.timedOut());
        add(parts, "unreachable", now.unreachable() - first.unreachable());
        add(parts, "abandoned", now.abandoned() - first.abandoned());
        add(parts, "other error", now.otherError() - first.otherError());
        long seconds = (now.nanos() - first.nanos()) / 1_000_000_000L;
        return parts.isEmpty() ? "" : " (" + (seconds > 0 ? "last " + seconds + " s: " : "") + String.join(", ", parts)
                + ")";
    }

    private static void add(List<String> parts, String kind, long n) {
        if (n > 0) {
            parts.add(kind + " " + n);
        }
    }
}
