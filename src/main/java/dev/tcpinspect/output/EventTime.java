package dev.tcpinspect.output;

import java.time.Instant;

/**
 * Turns the kernel's CLOCK_MONOTONIC timestamps (bpf_ktime_get_ns) into wall-clock time. On Linux
 * System.nanoTime() reads the same clock, so one offset taken at start converts every event.
 */
final class EventTime {
    private static final long OFFSET_NANOS = System.currentTimeMillis() * 1_000_000L - System.nanoTime();

    private EventTime() {}

    static Instant of(long monotonicNanos) {
        return Instant.ofEpochSecond(0, OFFSET_NANOS + monotonicNanos);
    }
}
