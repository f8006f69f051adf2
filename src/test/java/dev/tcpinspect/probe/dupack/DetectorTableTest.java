package dev.tcpinspect.probe.dupack;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.ebpf.BpfMap;
import dev.tcpinspect.ebpf.BpfObject;
import dev.tcpinspect.ebpf.Program;
import dev.tcpinspect.probe.ProbeSet;
import dev.tcpinspect.testing.Frame;
import dev.tcpinspect.testing.RequiresBpf;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The detector's set-associative table (flowslots.h) when more flows meet in one set than it has
 * ways: the oldest gives way, a flow pushed out within a second of its last segment is counted, one
 * idle longer is not, and the flows kept go on being judged. Frames go through BPF_PROG_TEST_RUN;
 * three flows that share a set are found with the object's own hash seed.
 */
@RequiresBpf
class DetectorTableTest {
    private static final int SET_BITS = 15; // DUPACK_SET_BITS in bpf/probes/dupack.h
    private static final int STAT_TOTAL = 0, STAT_EVICTED = 3;

    @Test
    void aFullSetPushesOutTheOldestAndCountsOnlyActiveFlows() throws Exception {
        try (ProbeSet loaded = ProbeSet.load(java.util.List.of(new DupAckProbe()), ProbeSet.Options.defaults());
             Arena arena = Arena.ofConfined()) {
            BpfObject obj = loaded.object();
            Program tc = obj.program("tcpi_tc_ingress");
            tc.testRun(pureAck(1, 80), 1);
            long seed = seed(obj, arena);
            assertNotEquals(1, seed, "ProbeSet set the seed (its default is 1)");

            int set = setOf(seed, 1, 80);
            BpfMap detector = obj.map("dupack_detector");
            MemorySegment value = arena.allocate(detector.valueSize());
            assertTrue(detector.lookup(arena.allocateFrom(ValueLayout.JAVA_INT, set), value));
            assertEquals(hash(seed, 1, 80), value.get(ValueLayout.JAVA_LONG, 0),
                    "this test's copy of flowslot_hash agrees with the kernel's (way 0 of the flow's set)");

            List<byte[]> sameSet = new ArrayList<>(); // 2^15 sets: about 2 of every 65,536 flows share one
            for (int dport = 80; dport < 100 && sameSet.size() < 3; dport++) {
                for (int sport = 2; sport < 65536 && sameSet.size() < 3; sport++) {
                    if (setOf(seed, sport, dport) == set) {
                        sameSet.add(pureAck(sport, dport));
                    }
                }
            }
            assertEquals(3, sameSet.size(), "three more flows share the set");
            tc.testRun(sameSet.get(0), 1); // fills the set's second way
            assertEquals(0, stat(obj, STAT_EVICTED));
            tc.testRun(sameSet.get(1), 1); // a third active flow: one of the two gives way
            assertEquals(1, stat(obj, STAT_EVICTED));

            tc.testRun(sameSet.get(1), 1); // the same ACK again: the newcomer is judged
            assertEquals(1, stat(obj, STAT_TOTAL), "the flow that took the way counts its dup ACK");

            Thread.sleep(1_100); // both flows idle for over a second: taking a way from one is no loss
            tc.testRun(sameSet.get(2), 1);
            assertEquals(1, stat(obj, STAT_EVICTED));
        }
    }

    /** A pure ACK from 198.18.0.2:sport to 198.18.0.1:dport (Frame's fixed sequence, ack and window). */
    private static byte[] pureAck(int sport, int dport) {
        return Frame.ipv4().flags(Frame.ACK).sport(sport).dport(dport).build();
    }

    /** flowslot_seed, the constant user space drew for this load (bpf/lib/flowslots.h). */
    private static long seed(BpfObject obj, Arena arena) {
        BpfMap rodata = obj.dataSection(".rodata");
        MemorySegment value = arena.allocate(rodata.valueSize());
        assertTrue(rodata.lookup(arena.allocateFrom(ValueLayout.JAVA_INT, 0), value));
        return value.get(ValueLayout.JAVA_LONG_UNALIGNED, obj.variable(".rodata", "flowslot_seed").offset());
    }

    private static long stat(BpfObject obj, int slot) {
        BpfMap stats = obj.map("dupack_stats");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment values = arena.allocate(stats.valueBufferSize());
            assertTrue(stats.lookup(arena.allocateFrom(ValueLayout.JAVA_INT, slot), values));
            long sum = 0;
            for (int cpu = 0; cpu < BpfMap.possibleCpus(); cpu++) {
                sum += values.get(ValueLayout.JAVA_LONG, cpu * 8L);
            }
            return sum;
        }
    }

    private static int setOf(long seed, int sport, int dport) {
        return (int) (hash(seed, sport, dport) >>> (64 - SET_BITS));
    }

    /** flowslot_hash of the tuple dupack makes of pureAck: struct pkt_tuple, local side first. */
    private static long hash(long seed, int sport, int dport) {
        ByteBuffer tuple = ByteBuffer.allocate(40).order(ByteOrder.LITTLE_ENDIAN);
        tuple.put(0, new byte[] {(byte) 198, 18, 0, 1}); // laddr
        tuple.put(16, new byte[] {(byte) 198, 18, 0, 2}); // raddr
        tuple.putShort(32, (short) dport).putShort(34, (short) sport).putShort(36, (short) 2); // ports, AF_INET
        long h = seed;
        for (int i = 0; i < 5; i++) {
            h ^= tuple.getLong(i * 8);
            h *= 0xff51afd7ed558ccdL;
            h ^= h >>> 33;
        }
        h *= 0xc4ceb9fe1a85ec53L;
        h ^= h >>> 33;
        return h | 1;
    }
}
