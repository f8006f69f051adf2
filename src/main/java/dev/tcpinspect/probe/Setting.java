package dev.tcpinspect.probe;

/**
 * A threshold or window a probe lets its user change (watch --set PROBE.KEY=VALUE): its key, the
 * value it has by default, and one line on what it does.
 */
public record Setting(String key, String defaultValue, String help) {
    /** A whole number from 1 to max, or a clear refusal naming the setting. */
    public static long positive(String probe, String key, String value, long max) {
        try {
            long n = Long.parseLong(value.trim());
            if (n > 0 && n <= max) {
                return n;
            }
        } catch (NumberFormatException e) {
            // refused below
        }
        throw new IllegalArgumentException(probe + "." + key + " must be a whole number from 1 to " + max + ", not '"
                + value + "'");
    }

    /** Seconds a window or a quiet time may last: an hour. */
    public static final long MAX_SECONDS = 3600;
}
