package dev.tcpinspect.probe;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.ebpf.BpfMap;
import dev.tcpinspect.testing.RequiresBpf;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * FlowTable's bookkeeping on real maps (the drops probe's, loaded, not attached): this test writes
 * into the table the kernel would count into, as the kernel would, and reads the totals back.
 */
@RequiresBpf
class FlowTableTest {
    private ProbeSet object;
    private BpfMap[] tables;
    private BpfMap control;
    private final Arena arena = Arena.ofConfined();

    @BeforeEach
    void load() {
        object = ProbeSet.load(java.util.List.of(new dev.tcpinspect.probe.drops.DropsProbe()),
                ProbeSet.Options.defaults().allNetns(true));
        tables = new BpfMap[] {object.object().map("drops_flows_0"), object.object().map("drops_flows_1")};
        control = object.object().map("drops_flow_tables");
    }

    @AfterEach
    void close() {
        object.close();
        arena.close();
    }

    private FlowTable table(int capacity) {
        return new FlowTable(tables[0], tables[1], control, FlowTable.sumOfLongs(1),
                value -> value.get(ValueLayout.JAVA_LONG_UNALIGNED, 0), capacity);
    }

    /** Adds n to flow id's count in the table the kernel counts into now, as the kernel does. */
    private void count(int id, long n) {
        BpfMap table = tables[slot(0)];
        MemorySegment key = arena.allocate(table.keySize(), 8);
        key.set(ValueLayout.JAVA_BYTE, 0, (byte) id);
        MemorySegment value = arena.allocate(8, 8);
        long old = table.lookup(key, value) ? value.get(ValueLayout.JAVA_LONG, 0) : 0;
        value.set(ValueLayout.JAVA_LONG, 0, old + n);
        table.update(key, value, BpfMap.ANY);
    }

    private int slot(int index) {
        MemorySegment key = arena.allocate(ValueLayout.JAVA_INT);
        key.set(ValueLayout.JAVA_INT, 0, index);
        MemorySegment value = arena.allocate(ValueLayout.JAVA_INT);
        control.lookup(key, value);
        return value.get(ValueLayout.JAVA_INT, 0);
    }

    private void setSlot(int index, int v) {
        MemorySegment key = arena.allocate(ValueLayout.JAVA_INT);
        key.set(ValueLayout.JAVA_INT, 0, index);
        MemorySegment value = arena.allocate(ValueLayout.JAVA_INT);
        value.set(ValueLayout.JAVA_INT, 0, v);
        control.update(key, value, BpfMap.ANY);
    }

    /** Every flow's total, by id, read through top(): largest first. */
    private static Map<Integer, Long> totals(FlowTable table) {
        List<Map.Entry<Integer, Long>> top = table.top(Integer.MAX_VALUE, (key, value) ->
                Map.entry((int) key.get(ValueLayout.JAVA_BYTE, 0), value.get(ValueLayout.JAVA_LONG_UNALIGNED, 0)));
        for (int i = 1; i < top.size(); i++) {
            assertTrue(top.get(i - 1).getValue() >= top.get(i).getValue(), "largest first: " + top);
        }
        Map<Integer, Long> all = new TreeMap<>();
        top.forEach(e -> all.put(e.getKey(), e.getValue()));
        return all;
    }

    private static int entries(BpfMap map) {
        int[] n = {0};
        map.forEach((key, value) -> n[0]++);
        return n[0];
    }

    @Test
    void eachDrainEmptiesTheIdleTableAndSwitchesTheKernelToIt() {
        FlowTable table = table(100);
        assertEquals(0, slot(0), "the kernel starts on flows_0");
        count(1, 5);
        table.drain();
        assertEquals(1, slot(0), "the drain emptied flows_1 and switched the kernel to it");
        assertEquals(1, entries(tables[0]), "flows_0 is left for the next drain");
        count(1, 3); // the same flow, counted on after the switch
        count(2, 1);
        setSlot(1, 1); // flows_0 was found full at some point
        table.drain();
        assertEquals(0, slot(0));
        assertEquals(0, entries(tables[0]), "emptied");
        assertEquals(0, slot(1), "and it has room again");
        assertEquals(Map.of(1, 8L, 2, 1L), totals(table), "counts of one flow from both tables add up");
        assertEquals(0, entries(tables[0]) + entries(tables[1]), "reading the totals drains both tables");
        count(2, 4);
        assertEquals(Map.of(1, 8L, 2, 5L), totals(table));
        assertEquals(0, table.released());
    }

    @Test
    void pastItsCapacityTheSmallestFlowsAreReleasedAndCounted() {
        FlowTable table = table(8);
        for (int id = 1; id <= 10; id++) {
            count(id, id);
        }
        // 10 flows > 8: the drain keeps the biggest 6 (three quarters of the capacity)
        assertEquals(Map.of(5, 5L, 6, 6L, 7, 7L, 8, 8L, 9, 9L, 10, 10L), totals(table));
        assertEquals(1 + 2 + 3 + 4, table.released());
    }

    @Test
    void topDecodesOnlyTheBiggestFlows() {
        FlowTable table = table(100);
        for (int id = 1; id <= 20; id++) {
            count(id, id * 10L);
        }
        List<Integer> decoded = new java.util.ArrayList<>();
        List<Long> top = table.top(3, (key, value) -> {
            decoded.add((int) key.get(ValueLayout.JAVA_BYTE, 0));
            return value.get(ValueLayout.JAVA_LONG_UNALIGNED, 0);
        });
        assertEquals(List.of(200L, 190L, 180L), top);
        assertEquals(List.of(20, 19, 18), decoded, "only the three asked for are decoded");
    }

    @Test
    void flowsOfEqualCountsAreReleasedOnlyAsFarAsNeeded() {
        FlowTable table = table(8);
        long[] counts = {1, 1, 1, 2, 2, 2, 2, 3, 3, 3};
        for (int i = 0; i < counts.length; i++) {
            count(i + 1, counts[i]);
        }
        Map<Integer, Long> kept = totals(table);
        assertEquals(6, kept.size(), kept.toString());
        assertEquals(3, kept.values().stream().filter(n -> n == 3).count(), "the biggest all stay");
        assertEquals(3, kept.values().stream().filter(n -> n == 2).count(), "three of the four 2s stay");
        assertEquals(1 + 1 + 1 + 2, table.released());
    }
}
