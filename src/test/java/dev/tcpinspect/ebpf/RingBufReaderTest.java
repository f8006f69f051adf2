package dev.tcpinspect.ebpf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.testing.RequiresBpf;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

@RequiresBpf
class RingBufReaderTest {
    @Test
    void everyRecordIsDeliveredInOrderOrCountedAsDroppedByTheProducer() throws Exception {
        try (BpfObject obj = RuntimeTest.openTestObject().setConstant("record_tag", 0x7C1).load()) {
            AtomicLong expectedSeq = new AtomicLong();
            AtomicLong outOfOrder = new AtomicLong();
            AtomicLong wrongTag = new AtomicLong();
            try (RingBufReader reader = new RingBufReader(obj.map("events"), (data, offset, length) -> {
                long seq = data.get(ValueLayout.JAVA_LONG_UNALIGNED, offset);
                if (data.get(ValueLayout.JAVA_INT_UNALIGNED, offset + 8) != 0x7C1 || length != 16) {
                    wrongTag.incrementAndGet();
                }
                // Records the producer could not reserve leave gaps, never reorderings.
                if (seq < expectedSeq.get()) {
                    outOfOrder.incrementAndGet();
                }
                expectedSeq.set(seq + 1);
            }).start()) {
                int runs = 200_000;
                Program producer = obj.program("rt_xdp");
                for (int i = 0; i < runs / 10_000; i++) {
                    producer.testRun(new byte[64], 10_000);
                }
                TypedMap<Integer, Long> hits = obj.map("hits").typed(Codec.U32, Codec.U64);
                long reserveFailed = hits.get(7).orElseThrow();
                long deadline = System.nanoTime() + 5_000_000_000L;
                while (reader.delivered() + reserveFailed < runs && System.nanoTime() < deadline) {
                    Thread.sleep(10);
                }
                assertEquals(runs, reader.delivered() + reserveFailed,
                        "delivered " + reader.delivered() + " + ring full " + reserveFailed);
                assertEquals(0, outOfOrder.get());
                assertEquals(0, wrongTag.get());
                assertEquals(0, reader.failed());
            }
        }
    }

    @Test
    void aThrowingHandlerIsCountedAndTheReaderGoesOn() {
        try (BpfObject obj = RuntimeTest.openTestObject().load()) {
            AtomicLong seen = new AtomicLong();
            try (RingBufReader reader = new RingBufReader(obj.map("events"), (data, offset, length) -> {
                if (seen.incrementAndGet() % 2 == 0) {
                    throw new IllegalStateException("handler bug");
                }
            })) {
                obj.program("rt_xdp").testRun(new byte[64], 10);
                assertEquals(10, reader.poll(1000));
                assertEquals(5, reader.failed());
                assertEquals(5, reader.delivered());
                assertTrue(reader.lastFailure().getMessage().contains("handler bug"));
                assertEquals(0, reader.poll(0), "nothing left");
            }
        }
    }

    @Test
    void onlyRingBuffersCanBeRead() {
        try (BpfObject obj = RuntimeTest.openTestObject().load()) {
            org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> new RingBufReader(obj.map("hits"), (d, o, l) -> {}));
        }
    }
}
