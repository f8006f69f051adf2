package dev.tcpinspect.cli;

import dev.tcpinspect.output.Presenter;
import dev.tcpinspect.probe.ProbeSet;
import dev.tcpinspect.snapshot.Reading;
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
     * Runs until the duration ends (null: until stopped) or stop is requested; closes the probes
     * (detaching everything) before printing the summary. afterReady runs once "ready" is out.
     */
    static Reading run(ProbeSet probes, List<String> interfaces, String hook, Presenter presenter,
                       Duration interval, Duration duration, StopSignal stop, Runnable afterReady)
            throws InterruptedException {
        if (presenter.wantsEvents()) {
            probes.onEvents(presenter::event);
        }
        probes.onAlerts(presenter::alert);
        Reading baseline = probes.read(false);
        Instant start = Instant.now();
        presenter.ready(start, interfaces, hook, probes.names());
        afterReady.run();
        Instant deadline = duration == null ? null : start.plus(duration);
        Reading last = baseline;
        Instant lastTime = start;
        while (true) {
            Instant next = lastTime.plus(interval);
            if (deadline != null && next.isAfter(deadline)) {
                next = deadline;
            }
            if (awaitDraining(probes, stop, next, presenter)) {
                stop.request();
                break;
            }
            Instant now = Instant.now();
            if (deadline != null && !now.isBefore(deadline)) {
                break;
            }
            Reading current = probes.read(presenter.wantsTables()); // the live view shows top flows each interval
            presenter.interval(now, Duration.between(lastTime, now), current.minus(last));
            last = current;
            lastTime = now;
            if (presenter.outputGone()) {
                stop.request(); // demo's traffic stops too
                break;
            }
        }
        Reading total = probes.read(true).minus(baseline);
        Instant end = Instant.now();
        probes.close(); // drains the rings: events still waiting are shown before the summary
        long unshown = probes.eventsFailed();
        presenter.summary(end, Duration.between(start, end), interfaces, total);
        if (presenter.outputGone() && !stdoutIsPipeOrSocket()) {
            // not a reader that went away but a write that failed (a full disk): that is a failure
            throw new IllegalStateException("writing the output failed (a full disk, or an I/O error); stopped,"
                    + " with everything detached");
        }
        if (unshown > 0 && !presenter.outputGone()) {
            System.err.println("tcpinspect: " + unshown + " events were read but could not be shown (an output "
                    + "error); the counts above include them");
        }
        return total;
    }

    /** Whether standard output is a pipe or a socket, whose reader may leave (`watch | head`). */
    private static boolean stdoutIsPipeOrSocket() {
        try {
            String target = java.nio.file.Files.readSymbolicLink(java.nio.file.Path.of("/proc/self/fd/1")).toString();
            return target.startsWith("pipe:") || target.startsWith("socket:");
        } catch (java.io.IOException e) {
            return false;
        }
    }

    /**
     * One line (on stderr, or in the live view) for each watched interface that goes away; the
     * others are watched on.
     */
    private static void reportInterfacesGone(ProbeSet probes, Presenter presenter) {
        for (String name : probes.interfacesGone()) {
            List<String> left = probes.interfacesWatched();
            presenter.notice("tcpinspect: interface " + name + " is gone (deleted or moved); "
                    + (left.isEmpty() ? "no interface is left: the tracepoint probes go on"
                            : "still watching " + String.join(", ", left)));
        }
        if (probes.cgroupGone()) {
            presenter.notice("tcpinspect: cgroup " + probes.cgroup() + " is gone (removed, or made again as its service or"
                    + " container restarted): no new socket joins the one watched; start the watch again to follow it");
        }
        for (ProbeSet.HandoffEnded end : probes.handoffsEnded()) {
            presenter.notice("tcpinspect: " + end.name() + ": the enforcer there was stopped; the ingress probes ran"
                    + " behind its XDP program and " + (end.failure() == null ? "go on at TC ingress there"
                            : "see nothing there now (TC ingress could not be attached: " + end.failure() + ")"));
        }
    }

    /** How often the kernel's per-flow tables are drained when the interval is longer (flowtable.h). */
    static final Duration DRAIN_EVERY = Duration.ofSeconds(1);

    /**
     * Waits until next, draining the per-flow tables every second meanwhile: each holds only so
     * many new flows between drains, whatever the interval. True when stop was requested or the output is gone.
     */
    private static boolean awaitDraining(ProbeSet probes, StopSignal stop, Instant next, Presenter presenter)
            throws InterruptedException {
        while (true) {
            Instant now = Instant.now();
            Instant wake = now.plus(DRAIN_EVERY).isBefore(next) ? now.plus(DRAIN_EVERY) : next;
            if (stop.await(Duration.between(now, wake))) {
                return true;
            }
            reportInterfacesGone(probes, presenter);
            if (!wake.isBefore(next)) {
                return false;
            }
            if (presenter.outputGone()) {
                return true; // events written meanwhile found the reader gone
            }
            probes.drain();
        }
    }
}
