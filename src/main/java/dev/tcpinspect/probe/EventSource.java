package dev.tcpinspect.probe;

/** A probe that delivers ring-buffer events to a consumer. */
public interface EventSource {
    /** Events read from the ring that the consumer threw on: read but not shown, so reported. */
    long eventsFailed();

    /**
     * Runs of the probe's programs the kernel skipped (the program was already running on that CPU
     * when its tracepoint fired again in an interrupting softirq), less those a twin made up for:
     * what the probe never saw, so reported.
     */
    long runsSkipped();
}
