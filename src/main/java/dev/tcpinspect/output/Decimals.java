package dev.tcpinspect.output;

/**
 * Fixed-point counts (microseconds, nanoseconds) as the decimal numbers of a larger unit, written
 * into a caller's buffer: what Java writes for the double value / 10^decimals ("12.345", "1.0"),
 * without the String that formatting a double allocates for every event line.
 */
final class Decimals {
    /** Room for any long and a six-digit fraction. */
    static final int MAX_LENGTH = 27;

    private Decimals() {}

    /**
     * Writes value / 10^decimals (decimals 3 or 6, value not negative) right-aligned at the end of
     * text and returns where it starts.
     */
    static int writeScaled(long value, int decimals, char[] text) {
        long unit = decimals == 3 ? 1000L : 1_000_000L;
        long whole = value / unit;
        long fraction = value % unit;
        int n = text.length;
        int digits = decimals;
        while (digits > 1 && fraction % 10 == 0) { // trailing zeros go, one digit stays
            fraction /= 10;
            digits--;
        }
        for (int i = 0; i < digits; i++) {
            text[--n] = (char) ('0' + fraction % 10);
            fraction /= 10;
        }
        text[--n] = '.';
        do {
            text[--n] = (char) ('0' + whole % 10);
            whole /= 10;
        } while (whole > 0);
        return n;
    }
}
