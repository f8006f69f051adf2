package dev.tcpinspect.snapshot;

import java.util.Arrays;

/**
 * The log-linear histogram of bpf/include/hist.h: values below 16 get a bucket each; above, every
 * power of two is split into 16 sub-buckets. A percentile is read as the middle of its bucket,
 * clamped to the exact min and max, so it is within 1/32 (3.2%) of a value in that bucket.
 */
public final class LogLinearHistogram {
    public static final int SUB_BITS = 4;
    public static final int SUB = 1 << SUB_BITS;
    public static final int MAX_EXP = 39;
    public static final int BUCKETS = SUB + (MAX_EXP - SUB_BITS + 1) * SUB;

    private final long[] counts = new long[BUCKETS];
    private long count;
    private long sum;
    private long min = Long.MAX_VALUE;
    private long max = Long.MIN_VALUE;

    /** The bucket of a value, exactly as hist_bucket() computes it in the kernel. */
    public static int bucketOf(long v) {
        if (v < SUB) {
            return (int) Math.max(v, 0);
        }
        int e = 63 - Long.numberOfLeadingZeros(v);
        if (e > MAX_EXP) {
            return BUCKETS - 1;
        }
        return SUB + (e - SUB_BITS) * SUB + (int) ((v >>> (e - SUB_BITS)) & (SUB - 1));
    }

    /** Smallest value in the bucket. */
    public static long lowerBound(int bucket) {
        if (bucket < SUB) {
            return bucket;
        }
        int e = (bucket - SUB) / SUB + SUB_BITS;
        long sub = (bucket - SUB) % SUB;
        return (SUB + sub) << (e - SUB_BITS);
    }

    /** One past the largest value in the bucket. */
    public static long upperBound(int bucket) {
        return bucket == BUCKETS - 1 ? Long.MAX_VALUE : lowerBound(bucket + 1);
    }

    /** Adds n values that fell into a bucket (the kernel's counts). */
    public void addBucket(int bucket, long n) {
        counts[bucket] += n;
    }

    /** Adds the kernel's exact count, sum, min and max of the same values. */
    public void addSummary(long n, long total, long smallest, long largest) {
        if (n == 0) {
            return;
        }
        count += n;
        sum += total;
        min = Math.min(min, smallest);
        max = Math.max(max, largest);
    }

    /**
     * Counts in this histogram that were not in {@code earlier} (an earlier reading of the same
     * kernel histogram). Min and max cannot be subtracted: they stay this histogram's.
     */
    public LogLinearHistogram minus(LogLinearHistogram earlier) {
        LogLinearHistogram d = new LogLinearHistogram();
        for (int b = 0; b < BUCKETS; b++) {
            d.counts[b] = counts[b] - earlier.counts[b];
        }
        d.count = count - earlier.count;
        d.sum = sum - earlier.sum;
        d.min = min;
        d.max = max;
        return d;
    }

    /** Sets min and max from the occupied buckets, for histograms the kernel keeps no summary of. */
    public void summarizeFromBuckets() {
        for (int b = 0; b < BUCKETS; b++) {
            if (counts[b] != 0) {
                long n = counts[b];
                count += n;
                min = Math.min(min, lowerBound(b));
                max = Math.max(max, b == BUCKETS - 1 ? lowerBound(b) : upperBound(b) - 1);
                sum += n * (lowerBound(b) + (upperBound(b) - lowerBound(b)) / 2);
            }
        }
    }

    /** Records one value (for tests and for histograms built in Java). */
    public void record(long v) {
        addBucket(bucketOf(v), 1);
        addSummary(1, v, v, v);
    }

    public long count() {
        return count;
    }

    /** The sum of the values (the kernel's exact one, or estimated from the buckets where it keeps none). */
    public long sum() {
        return sum;
    }

    /** Adds another histogram's values (two ports' histograms shown as one). */
    public void add(LogLinearHistogram other) {
        for (int b = 0; b < BUCKETS; b++) {
            counts[b] += other.counts[b];
        }
        addSummary(other.count, other.sum, other.min, other.max);
    }

    /** How many values fell below a bucket edge (a value bucketOf maps to a bucket's lower bound). */
    public long countBelow(long edge) {
        long n = 0;
        for (int b = 0; b < BUCKETS && upperBound(b) <= edge; b++) {
            n += counts[b];
        }
        return n;
    }

    public long min() {
        return count == 0 ? 0 : min;
    }

    public long max() {
        return count == 0 ? 0 : max;
    }

    public long bucketCount(int bucket) {
        return counts[bucket];
    }

    /** The value at quantile q (0..1): the middle of the bucket holding that rank, within [min, max]. */
    public long percentile(double q) {
        long total = Arrays.stream(counts).sum();
        if (total == 0) {
            return 0;
        }
        long rank = Math.max(1, (long) Math.ceil(q * total));
        long seen = 0;
        for (int b = 0; b < BUCKETS; b++) {
            seen += counts[b];
            if (seen >= rank) {
                long lo = lowerBound(b);
                long hi = b == BUCKETS - 1 ? lo : upperBound(b) - 1;
                long mid = lo + (hi - lo) / 2;
                return Math.min(Math.max(mid, min()), max());
            }
        }
        return max();
    }

    public Percentiles percentiles() {
        return new Percentiles(count, min(), percentile(0.5), percentile(0.9), percentile(0.99), max());
    }

    /** The usual summary of a distribution. */
    public record Percentiles(long count, long min, long p50, long p90, long p99, long max) {}
}
