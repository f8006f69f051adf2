package dev.tcpinspect.probe.packets;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Map;
import org.junit.jupiter.api.Test;

class PacketCountsTest {
    @Test
    void minusGivesTheWindowAndDropsPortsWithNoNewSyns() {
        PacketCounts before = new PacketCounts(10, 4, 1, 2, 0, 3, 0, Map.of(80, 3L, 443, 1L));
        PacketCounts after = new PacketCounts(25, 9, 1, 4, 2, 8, 1, Map.of(80, 3L, 443, 4L, 22, 2L));
        assertEquals(new PacketCounts(15, 5, 0, 2, 2, 5, 1, Map.of(443, 3L, 22, 2L)), after.minus(before));
        assertEquals(PacketCounts.ZERO, after.minus(after));
    }

    @Test
    void fieldsAreReadInTheOrderOfStructSynCounters() {
        PacketCounts c = PacketCounts.of(new long[] {1, 2, 3, 4, 5, 6, 7}, Map.of());
        assertEquals(new PacketCounts(1, 2, 3, 4, 5, 6, 7, Map.of()), c);
    }

    @Test
    void portsComeOutSorted() {
        PacketCounts c = new PacketCounts(0, 0, 0, 0, 0, 0, 0, Map.of(9000, 1L, 22, 5L, 443, 2L));
        assertEquals(java.util.List.of(22, 443, 9000), java.util.List.copyOf(c.synByPortSorted().keySet()));
    }
}
