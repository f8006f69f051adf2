package dev.tcpinspect.output;

import java.time.LocalDateTime;
import java.time.ZoneOffset;

/**
 * Turns the kernel's CLOCK_MONOTONIC timestamps (bpf_ktime_get_ns) into wall-clock time. On Linux
 * System.nanoTime() reads the same clock, so one offset taken at start converts every event.
 *
 * <p>An instance also writes them as RFC 3339 text with milliseconds ("2026-11-27T13:27:51.042Z")
 * into a caller's buffer without allocating: the date and time of day are worked out once per
 * second and reused. Not thread-safe; one per writer.
 */
final class EventTime {
    /** "2026-11-27T13:27:51.042Z". */
    static final int LENGTH = 24;
    private static final long OFFSET_NANOS = System.currentTimeMillis() * 1_000_000L - System.nanoTime();
    private final char[] secondText = new char[19];
    private long second = Long.MIN_VALUE;

    /** Writes the wall-clock time of a monotonic timestamp into text (at least LENGTH chars); returns LENGTH. */
    int write(long monotonicNanos, char[] text) {
        return writeEpochMillis(Math.floorDiv(OFFSET_NANOS + monotonicNanos, 1_000_000L), text);
    }

    int writeEpochMillis(long epochMillis, char[] text) {
        long s = Math.floorDiv(epochMillis, 1000L);
        if (s != second) {
            second = s;
            LocalDateTime t = LocalDateTime.ofEpochSecond(s, 0, ZoneOffset.UTC);
            digits(t.getYear(), 4, 0);
            secondText[4] = '-';
            digits(t.getMonthValue(), 2, 5);
            secondText[7] = '-';
            digits(t.getDayOfMonth(), 2, 8);
            secondText[10] = 'T';
            digits(t.getHour(), 2, 11);
            secondText[13] = ':';
            digits(t.getMinute(), 2, 14);
            secondText[16] = ':';
            digits(t.getSecond(), 2, 17);
        }
        System.arraycopy(secondText, 0, text, 0, 19);
        int millis = (int) Math.floorMod(epochMillis, 1000L);
        text[19] = '.';
        text[20] = (char) ('0' + millis / 100);
        text[21] = (char) ('0' + millis / 10 % 10);
        text[22] = (char) ('0' + millis % 10);
        text[23] = 'Z';
        return LENGTH;
    }

    private void digits(int value, int width, int at) {
        for (int i = width - 1; i >= 0; i--) {
            secondText[at + i] = (char) ('0' + value % 10);
            value /= 10;
        }
    }
}
