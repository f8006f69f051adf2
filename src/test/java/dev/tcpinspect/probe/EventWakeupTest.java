package dev.tcpinspect.probe;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.ebpf.BpfObject;
import dev.tcpinspect.ebpf.Codec;
import dev.tcpinspect.ebpf.OpenObject;
import dev.tcpinspect.testing.RequiresBpf;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * How often a CPU wakes the event reader (bpf/lib/events.h), run in the kernel through
 * bpf/test/events_test.bpf.c, and how ProbeSet sizes the batches.
 */
class EventWakeupTest {
    private static final int WAKEUP_BYTES = 4096;
    private static final int RECORD = 120; // 128 bytes with the ring's header: a wakeup every 32 records

    @Test
    void batchesStayWithinHalfTheSmallestRing() {
        assertEquals(256 * 1024, ProbeSet.eventsWakeupBytes(1 << 20, 2)); // this VM: the cap
        assertEquals(256 * 1024, ProbeSet.eventsWakeupBytes(4 << 20, 1));
        assertEquals(8 * 1024, ProbeSet.eventsWakeupBytes(1 << 20, 64)); // 64 x 8 KiB = half of 1 MiB
        assertEquals(4096, ProbeSet.eventsWakeupBytes(1 << 20, 1024)); // never under a page
        assertEquals(256 * 1024, ProbeSet.eventsWakeupBytes(Long.MAX_VALUE, 2)); // no ring of events
    }

    @Test
    @RequiresBpf
    void aCpuWakesTheReaderOncePerBatchOfItsOwnBytes() {
        try (BpfObject obj = OpenObject.openResource("/bpf/test/events_test.bpf.o")
                .setConstant("events_wakeup_bytes", WAKEUP_BYTES).load()) {
            var program = obj.program("rt_events_wakeup");
            byte[] record = ByteBuffer.allocate(64).order(ByteOrder.nativeOrder()).putInt(RECORD).array();
            // One test run repeats the program on one CPU: the 32nd record of a fresh count wakes.
            assertEquals(1, program.testRun(record, 32).verdict(), "the record that reaches 4096 bytes wakes");
            assertEquals(0, program.testRun(record, 31).verdict(), "31 records after a wakeup (or on a fresh CPU) do not");

            // Many single runs, on whichever CPU the thread is: every byte is either announced by a
            // wakeup or still counted on its CPU, and no CPU holds a whole batch unannounced.
            long wakeups = 1;
            int runs = 2000;
            for (int i = 0; i < runs; i++) {
                wakeups += program.testRun(record, 1).verdict();
            }
            List<Integer> unannounced = obj.map("events_unannounced").perCpu(Codec.U32, Codec.U32)
                    .getPerCpu(0).orElseThrow();
            long pending = 0;
            for (int bytes : unannounced) {
                assertTrue(bytes < WAKEUP_BYTES, "a CPU holds " + bytes + " bytes unannounced");
                pending += bytes;
            }
            long submitted = (32 + 31 + runs) * (RECORD + 8L);
            assertEquals(submitted, wakeups * WAKEUP_BYTES + pending, "per-CPU counts " + unannounced);
        }
    }
}
