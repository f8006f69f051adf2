package dev.tcpinspect.output;

import dev.tcpinspect.snapshot.LogLinearHistogram;
import java.util.ArrayList;
import java.util.List;

/**
 * Draws a histogram as bcc's tools do: one row per power of two (the finer buckets added up), from
 * the first row with values to the last, with a bar scaled to the largest row.
 */
public final class HistogramBars {
    /** The bar's width. */
    static final int WIDTH = 40;
    /** What comes before the bar on a line: "%10d -> %-10d : %-8d |", and the closing "|". */
    static final int LABELS = 38;

    private HistogramBars() {}

    public static List<String> render(LogLinearHistogram h, String unit) {
        return render(h, unit, WIDTH);
    }

    /** The histogram's counts by power of two: row r holds the values from 2^(r-1) up to 2^r (row 0: zero). */
    static long[] powersOfTwo(LogLinearHistogram h) {
        long[] rows = new long[64];
        for (int b = 0; b < LogLinearHistogram.BUCKETS; b++) {
            long n = h.bucketCount(b);
            if (n != 0) {
                long low = LogLinearHistogram.lowerBound(b);
                rows[low == 0 ? 0 : 64 - Long.numberOfLeadingZeros(low)] += n;
            }
        }
        return rows;
    }

    /** With bars of at most width characters. */
    public static List<String> render(LogLinearHistogram h, String unit, int width) {
        int top = 64;
        long[] rows = powersOfTwo(h);
        int first = -1;
        int last = -1;
        long most = 0;
        for (int r = 0; r < top; r++) {
            if (rows[r] != 0) {
                first = first < 0 ? r : first;
                last = r;
                most = Math.max(most, rows[r]);
            }
        }
        List<String> lines = new ArrayList<>();
        if (first < 0) {
            return lines;
        }
        lines.add(String.format("%20s : %-8s %s", unit, "count", "distribution"));
        for (int r = first; r <= last; r++) {
            long low = r == 0 ? 0 : 1L << (r - 1);
            long high = r == 0 ? 0 : (1L << r) - 1;
            int stars = (int) (rows[r] * width / most);
            lines.add(String.format("%10d -> %-10d : %-8d |%-" + width + "s|", low, high, rows[r], "*".repeat(stars)));
        }
        return lines;
    }
}
