package dev.tcpinspect.ebpf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.testing.RequiresBpf;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

@RequiresBpf
class MapTest {
    private BpfObject obj;

    @BeforeEach
    void load() {
        obj = RuntimeTest.openTestObject().load();
    }

    @AfterEach
    void close() {
        obj.close();
    }

    @Test
    void arrayLookupUpdateAndIterationInKeyOrder() {
        TypedMap<Integer, Long> hits = obj.map("hits").typed(Codec.U32, Codec.U64);
        assertEquals(Optional.of(0L), hits.get(3), "array entries exist and start at zero");
        hits.put(3, 42L);
        assertEquals(Optional.of(42L), hits.get(3));
        Map<Integer, Long> all = hits.entries();
        assertEquals(List.of(0, 1, 2, 3, 4, 5, 6, 7), List.copyOf(all.keySet()));
        assertEquals(42L, all.get(3));
        assertEquals(Optional.empty(), hits.get(8), "out of range is absent");
    }

    @Test
    void drainVisitsEveryEntryOnceAndLeavesTheMapEmpty() {
        TypedMap<Integer, Long> hash = obj.map("plain_hash").typed(Codec.U32, Codec.U64);
        Map<Integer, Long> expected = new HashMap<>();
        for (int i = 0; i < 64; i++) {
            hash.put(i * 3, 1000L + i);
            expected.put(i * 3, 1000L + i);
        }
        Map<Integer, Long> drained = new HashMap<>();
        obj.map("plain_hash").drain((keys, values, count) -> {
            for (int i = 0; i < count; i++) {
                Long before = drained.put(keys.get(ValueLayout.JAVA_INT, 4L * i), values.get(ValueLayout.JAVA_LONG, 8L * i));
                assertEquals(null, before, "each entry once");
            }
        });
        assertEquals(expected, drained);
        assertEquals(Map.of(), hash.entries(), "drained means empty");
        hash.put(5, 1L); // and it takes entries again: all 64 places are free
        assertEquals(Map.of(5, 1L), hash.entries());
    }

    @Test
    void hashPutGetRemoveAndNoExistFlag() {
        TypedMap<Integer, Long> hash = obj.map("plain_hash").typed(Codec.U32, Codec.U64);
        Map<Integer, Long> expected = new HashMap<>();
        for (int i = 0; i < 50; i++) {
            hash.put(i * 7, (long) i * i);
            expected.put(i * 7, (long) i * i);
        }
        assertEquals(expected, hash.entries(), "batch iteration returns exactly what was put");
        assertTrue(hash.remove(7));
        assertFalse(hash.remove(7));
        assertEquals(Optional.empty(), hash.get(7));
        BpfException exists = assertThrows(BpfException.class, () -> hash.put(14, 1L, BpfMap.NOEXIST));
        assertEquals("EEXIST", exists.errnoName());
    }

    @Test
    void fullHashIsAnErrorNamingE2big() {
        TypedMap<Integer, Long> hash = obj.map("plain_hash").typed(Codec.U32, Codec.U64);
        for (int i = 0; i < 64; i++) {
            hash.put(i, 1L);
        }
        BpfException full = assertThrows(BpfException.class, () -> hash.put(1000, 1L));
        assertEquals("E2BIG", full.errnoName());
    }

    @Test
    void lruEvictsInsteadOfFailing() {
        TypedMap<Integer, Long> lru = obj.map("lru_hash").typed(Codec.U32, Codec.U64);
        for (int i = 0; i < 500; i++) {
            lru.put(i, (long) i);
        }
        int size = lru.entries().size();
        assertTrue(size > 0 && size <= 32 + BpfMap.possibleCpus() * 32, "LRU keeps at most about its capacity: " + size);
        assertEquals(Optional.of(499L), lru.get(499), "the newest entry survives");
    }

    @Test
    void perCpuValuesAreReadPerCpuAndSummed() {
        PerCpuMap<Integer, Long> pc = obj.map("percpu_hash").perCpu(Codec.U32, Codec.U64);
        pc.putAll(5, 3L);
        assertEquals(BpfMap.possibleCpus(), pc.getPerCpu(5).orElseThrow().size());
        assertEquals(Optional.of(3L * BpfMap.possibleCpus()), pc.getSummed(5, Long::sum));
        assertEquals(Map.of(5, 3L * BpfMap.possibleCpus()), pc.entriesSummed(Long::sum));

        PerCpuMap<Integer, Long> array = obj.map("percpu_array").perCpu(Codec.U32, Codec.U64);
        obj.program("rt_xdp").testRun(new byte[64], 10);
        assertEquals(Optional.of(10L), array.getSummed(0, Long::sum), "the program counted 10 runs");
    }

    @Test
    void typedAndPerCpuViewsRefuseTheWrongKindOfMapAndWrongSizes() {
        assertThrows(IllegalArgumentException.class, () -> obj.map("percpu_hash").typed(Codec.U32, Codec.U64));
        assertThrows(IllegalArgumentException.class, () -> obj.map("plain_hash").perCpu(Codec.U32, Codec.U64));
        var e = assertThrows(IllegalArgumentException.class, () -> obj.map("plain_hash").typed(Codec.U64, Codec.U64));
        assertTrue(e.getMessage().contains("sizes 4/8"), e.getMessage());
    }

    record Prefix(int length, byte[] address) {}

    static final Codec<Prefix> PREFIX = new Codec<>() {
        public int size() { return 8; }
        public Prefix read(MemorySegment s, long o) {
            return new Prefix(s.get(ValueLayout.JAVA_INT_UNALIGNED, o), s.asSlice(o + 4, 4).toArray(ValueLayout.JAVA_BYTE));
        }
        public void write(MemorySegment s, long o, Prefix p) {
            s.set(ValueLayout.JAVA_INT_UNALIGNED, o, p.length());
            MemorySegment.copy(p.address(), 0, s, ValueLayout.JAVA_BYTE, o + 4, 4);
        }
    };

    @Test
    void lpmTrieFindsTheLongestPrefixAndIteratesWithoutBatch() {
        TypedMap<Prefix, Integer> lpm = obj.map("lpm").typed(PREFIX, Codec.U32);
        lpm.put(new Prefix(15, new byte[] {(byte) 198, 18, 0, 0}), 15);
        lpm.put(new Prefix(24, new byte[] {(byte) 198, 18, 7, 0}), 24);
        assertEquals(Optional.of(24), lpm.get(new Prefix(32, new byte[] {(byte) 198, 18, 7, 9})));
        assertEquals(Optional.of(15), lpm.get(new Prefix(32, new byte[] {(byte) 198, 19, 1, 1})));
        assertEquals(Optional.empty(), lpm.get(new Prefix(32, new byte[] {10, 0, 0, 1})));
        assertEquals(2, lpm.entries().size());
    }
}
