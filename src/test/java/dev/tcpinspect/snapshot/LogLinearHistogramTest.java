package dev.tcpinspect.snapshot;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

class LogLinearHistogramTest {
    @Test
    void everyValueLiesInItsBucketAndBucketsAreNarrow() {
        Random random = new Random(7);
        for (int i = 0; i < 200_000; i++) {
            long v = random.nextLong(1L << random.nextInt(1, 40));
            int b = LogLinearHistogram.bucketOf(v);
            long lo = LogLinearHistogram.lowerBound(b);
            long hi = LogLinearHistogram.upperBound(b);
            assertTrue(lo <= v && v < hi, v + " not in [" + lo + "," + hi + ")");
            assertTrue(v < 16 ? hi - lo == 1 : (hi - lo) * 16 <= lo, "bucket of " + v + " too wide");
        }
    }

    @Test
    void bucketsAreContiguousAndEndAtTheLastOne() {
        for (int b = 0; b + 1 < LogLinearHistogram.BUCKETS; b++) {
            assertEquals(LogLinearHistogram.upperBound(b), LogLinearHistogram.lowerBound(b + 1));
            assertEquals(b, LogLinearHistogram.bucketOf(LogLinearHistogram.lowerBound(b)));
        }
        assertEquals(LogLinearHistogram.BUCKETS - 1, LogLinearHistogram.bucketOf(Long.MAX_VALUE));
        assertEquals(592, LogLinearHistogram.BUCKETS, "must match HIST_BUCKETS in bpf/include/hist.h");
    }

    /**
     * Percentiles against the exact ones of the same data (sorted array), for skewed latencies,
     * within the README's promise: 3.2%. A bucket above 16 spans lo..lo+w-1 with lo >= 16w, and the
     * estimate is its middle (clamped to min and max), so it is less than w/2 <= lo/32 from any value
     * in it: within 1/32 (3.125%) of the exact value. Below 16 every value has its own bucket: exact.
     */
    @Test
    void percentilesAreWithinThreePointTwoPercentOfExact() {
        Random random = new Random(11);
        for (int round = 0; round < 20; round++) {
            LogLinearHistogram h = new LogLinearHistogram();
            long[] values = new long[5000];
            for (int i = 0; i < values.length; i++) {
                values[i] = (long) Math.exp(random.nextGaussian() * 1.5 + 7); // log-normal, microseconds
                h.record(values[i]);
            }
            Arrays.sort(values);
            for (double q : new double[] {0.5, 0.9, 0.99}) {
                long exact = values[(int) Math.ceil(q * values.length) - 1];
                long estimate = h.percentile(q);
                assertTrue(Math.abs(estimate - exact) <= exact / 32.0,
                        "q" + q + ": " + estimate + " vs exact " + exact);
            }
            assertEquals(values[0], h.min());
            assertEquals(values[values.length - 1], h.max());
            assertEquals(values.length, h.count());
        }
    }

    @Test
    void emptyAndSingleValue() {
        LogLinearHistogram h = new LogLinearHistogram();
        assertEquals(new LogLinearHistogram.Percentiles(0, 0, 0, 0, 0, 0), h.percentiles());
        h.record(1_000_000);
        assertEquals(new LogLinearHistogram.Percentiles(1, 1_000_000, 1_000_000, 1_000_000, 1_000_000, 1_000_000),
                h.percentiles());
    }

    /** The kernel's hist_bucket() (run through BPF_PROG_TEST_RUN) and bucketOf() must agree. */
    @Test
    @dev.tcpinspect.testing.RequiresBpf
    void kernelAndJavaBucketTheSame() {
        try (var obj = dev.tcpinspect.ebpf.BpfObject.loadResource("/bpf/test/hist_test.bpf.o")) {
            var program = obj.program("rt_hist_bucket");
            Random random = new Random(3);
            for (int i = 0; i < 3000; i++) {
                long v = i < 1000 ? i : random.nextLong(1L << random.nextInt(1, 63));
                byte[] packet = java.nio.ByteBuffer.allocate(64).order(java.nio.ByteOrder.nativeOrder()).putLong(v).array();
                assertEquals(LogLinearHistogram.bucketOf(v), program.testRun(packet, 1).verdict(), "value " + v);
            }
        }
    }
}
