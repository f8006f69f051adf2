package dev.tcpinspect.cli;

import dev.tcpinspect.output.Presenter;
import dev.tcpinspect.probe.syncount.PacketCounts;
import dev.tcpinspect.probe.syncount.SynCountProbe;
import java.time.Duration;
import java.time.Instant;
import java.util.List;

/**
 * The loop shared by watch and demo: baseline, "ready", a line per interval, then detach and the
 * summary of everything counted after "ready".
 */
final class WatchSession {
    private WatchSession() {}

    /**
     * Runs until the duration ends (null: until stopped) or stop is requested; closes the probe
     * (detaching everything) before printing the summary. afterReady runs once "ready" is out.
     */
    static PacketCounts run(SynCountProbe probe, List<String> interfaces, String hook, Presenter presenter,
                            Duration interval, Duration duration, StopSignal stop, Runnable afterReady)
            throws InterruptedException {
        PacketCounts baseline = probe.read();
        Instant start = Instant.now();
        presenter.ready(start, interfaces, hook);
        afterReady.run();
        Instant deadline = duration == null ? null : start.plus(duration);
        PacketCounts last = baseline;
        Instant lastTime = start;
        while (true) {
            Instant next = lastTime.plus(interval);
            if (deadline != null && next.isAfter(deadline)) {
                next = deadline;
            }
            if (stop.await(Duration.between(Instant.now(), next))) {
                break;
            }
            Instant now = Instant.now();
            if (deadline != null && !now.isBefore(deadline)) {
                break;
            }
            PacketCounts current = probe.read();
            presenter.interval(now, Duration.between(lastTime, now), current.minus(last));
            last = current;
            lastTime = now;
        }
        PacketCounts total = probe.read().minus(baseline);
        Instant end = Instant.now();
        probe.close();
        presenter.summary(end, Duration.between(start, end), interfaces, total);
        return total;
    }
}
