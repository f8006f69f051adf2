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
 * The detector's set-associative table (lib/ingressflows.h) when more flows meet in one set than it has
 * ways: the oldest gives way, a flow pushed out within a second of its last segment is counted, one
 * idle longer is not, and the flows kept go on being judged. Frames go through BPF_PROG_TEST_RUN;
 * three flows that share a set are found with the object's own hash seed.
 */
@RequiresBpf
class DetectorTableTest {
    private static final int SET_BITS = 15; // INGRESS_FLOW_SET_BITS in bpf/lib/ingressflows.h
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
            assertEquals(hash(seed, 1, 80), tags(obj, arena, set).getFirst(),
                    "this test's copy of flowslot_hash agrees with the kernel's (way 0 of the flow's set)");

            List<byte[]> sameSet = flowsInSet(seed, set, 3).stream().map(f -> pureAck(f[0], f[1])).toList();
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

    /**
     * The table is handshake's too (bpf/lib/ingressflows.h): a SYN, which handshake records there,
     * takes no way from a flow whose detector runs and was seen within the second, so a SYN flood
     * cannot push established flows out; it takes a free way, or one another SYN holds.
     */
    @Test
    void aSynTakesNoWayFromAnEstablishedFlow() throws Exception {
        try (ProbeSet loaded = ProbeSet.load(java.util.List.of(new DupAckProbe(),
                new dev.tcpinspect.probe.handshake.HandshakeProbe()), ProbeSet.Options.defaults());
             Arena arena = Arena.ofConfined()) {
            BpfObject obj = loaded.object();
            Program tc = obj.program("tcpi_tc_ingress");
            long seed = seed(obj, arena);
            int set = setOf(seed, 1, 80);
            List<int[]> sameSet = flowsInSet(seed, set, 2); // two more flows in flow (1, 80)'s set
            int[] c = sameSet.get(0), d = sameSet.get(1);

            tc.testRun(syn(c[0], c[1]), 1); // a SYN takes a free way
            assertEquals(List.of(hash(seed, c[0], c[1]), 0L), tags(obj, arena, set));
            tc.testRun(pureAck(1, 80), 1); // an established flow takes the other
            tc.testRun(syn(d[0], d[1]), 1); // a SYN takes the way of the other SYN, not the established flow's
            assertEquals(List.of(hash(seed, d[0], d[1]), hash(seed, 1, 80)), tags(obj, arena, set));
            tc.testRun(pureAck(d[0], d[1]), 1); // its handshake's ACK: the detector starts in the SYN's way
            assertEquals(List.of(hash(seed, d[0], d[1]), hash(seed, 1, 80)), tags(obj, arena, set));

            tc.testRun(syn(c[0], c[1]), 1); // both ways hold established flows active within the second
            assertEquals(List.of(hash(seed, d[0], d[1]), hash(seed, 1, 80)), tags(obj, arena, set));
            assertEquals(0, stat(obj, STAT_EVICTED), "no running detector was pushed out");
            tc.testRun(pureAck(1, 80), 1);
            tc.testRun(pureAck(d[0], d[1]), 1);
            assertEquals(2, stat(obj, STAT_TOTAL), "both flows kept their detectors: their repeated ACKs are dup ACKs");

            Thread.sleep(1_100); // both flows idle for over a second: a SYN may take the way of either
            tc.testRun(syn(c[0], c[1]), 1);
            assertTrue(tags(obj, arena, set).contains(hash(seed, c[0], c[1])), "the SYN took an idle flow's way");
        }
    }

    /**
     * handshake's clock in the record: a retried SYN (the same sequence number) keeps its first one's
     * time; a SYN with another sequence number is a new attempt on the tuple and starts it again.
     */
    @Test
    void aRetriedSynKeepsTheFirstTimeAndANewAttemptStartsAgain() throws Exception {
        try (ProbeSet loaded = ProbeSet.load(List.of(new dev.tcpinspect.probe.handshake.HandshakeProbe()),
                ProbeSet.Options.defaults());
             Arena arena = Arena.ofConfined()) {
            BpfObject obj = loaded.object();
            Program tc = obj.program("tcpi_tc_ingress");
            long seed = seed(obj, arena);
            int set = setOf(seed, 7, 80);

            tc.testRun(Frame.ipv4().flags(Frame.SYN).sport(7).dport(80).seq(1000).build(), 1);
            long first = synTime(obj, arena, set);
            assertTrue(first > 0, "the SYN's time is kept");
            tc.testRun(Frame.ipv4().flags(Frame.SYN).sport(7).dport(80).seq(1000).build(), 1);
            assertEquals(first, synTime(obj, arena, set), "a retried SYN keeps the first one's time");
            tc.testRun(Frame.ipv4().flags(Frame.SYN).sport(7).dport(80).seq(90_000).build(), 1);
            assertTrue(synTime(obj, arena, set) > first, "a new attempt starts the clock again");
        }
    }

    /** A SYN on a flow whose detector runs (the tuple used again) starts the detector again at the next segment. */
    @Test
    void aSynOnAFollowedFlowStartsItsDetectorAgain() {
        try (ProbeSet loaded = ProbeSet.load(List.of(new DupAckProbe()), ProbeSet.Options.defaults())) {
            BpfObject obj = loaded.object();
            Program tc = obj.program("tcpi_tc_ingress");
            tc.testRun(pureAck(9, 80), 1); // starts the detector
            tc.testRun(pureAck(9, 80), 1); // the same ACK again: a dup ACK
            assertEquals(1, stat(obj, STAT_TOTAL));
            tc.testRun(syn(9, 80), 1); // a new connection on the tuple
            tc.testRun(pureAck(9, 80), 1); // its first ACK starts the detector again: nothing to repeat yet
            assertEquals(1, stat(obj, STAT_TOTAL), "the segment after the SYN is compared with nothing");
            tc.testRun(pureAck(9, 80), 1);
            assertEquals(2, stat(obj, STAT_TOTAL), "and the one after it with it");
        }
    }

    /**
     * Both probes on one record: a SYN behind all a followed flow sent (duplicated, retransmitted)
     * leaves its detector be; one ahead of it (the tuple used again) starts the detector again and
     * handshake's clock with it.
     */
    @Test
    void aSynBehindTheFlowLeavesItsDetectorAndOneAheadStartsItAgain() throws Exception {
        try (ProbeSet loaded = ProbeSet.load(
                List.of(new DupAckProbe(), new dev.tcpinspect.probe.handshake.HandshakeProbe()), ProbeSet.Options.defaults());
             Arena arena = Arena.ofConfined()) {
            BpfObject obj = loaded.object();
            Program tc = obj.program("tcpi_tc_ingress");
            int set = setOf(seed(obj, arena), 9, 80);
            byte[] ack = Frame.ipv4().flags(Frame.ACK).sport(9).dport(80).seq(5000).build();
            tc.testRun(ack, 1); // starts the detector: the peer has sent up to 5000
            tc.testRun(ack, 1);
            assertEquals(1, stat(obj, STAT_TOTAL));

            tc.testRun(Frame.ipv4().flags(Frame.SYN).sport(9).dport(80).seq(4000).build(), 1); // behind
            tc.testRun(ack, 1);
            assertEquals(2, stat(obj, STAT_TOTAL), "a SYN behind the flow left its detector running");
            long clock = synTime(obj, arena, set);

            tc.testRun(Frame.ipv4().flags(Frame.SYN).sport(9).dport(80).seq(90_000).build(), 1); // ahead
            assertTrue(synTime(obj, arena, set) > clock, "the new connection's clock starts");
            byte[] newAck = Frame.ipv4().flags(Frame.ACK).sport(9).dport(80).seq(90_001).build();
            tc.testRun(newAck, 1); // starts the detector again
            assertEquals(2, stat(obj, STAT_TOTAL), "the new connection's first ACK is compared with nothing");
            tc.testRun(newAck, 1);
            assertEquals(3, stat(obj, STAT_TOTAL));
        }
    }

    /** syn_ns of way 0 (struct ingress_flow: tag, then syn_ns). */
    private static long synTime(BpfObject obj, Arena arena, int set) {
        return record(obj, arena, set).get(ValueLayout.JAVA_LONG, 8);
    }

    /** The shared table is created for either probe that uses it, and takes no memory when both are off. */
    @Test
    void theSharedTableIsMadeOnlyForTheProbesThatUseIt() {
        String table = "shared_ingress_flows";
        try (ProbeSet loaded = ProbeSet.load(List.of(new dev.tcpinspect.probe.packets.PacketsProbe()),
                ProbeSet.Options.defaults())) {
            assertTrue(!loaded.object().hasMap(table), "packets alone");
        }
        try (ProbeSet loaded = ProbeSet.load(List.of(new dev.tcpinspect.probe.handshake.HandshakeProbe()),
                ProbeSet.Options.defaults())) {
            assertTrue(loaded.object().hasMap(table), "handshake alone");
        }
        try (ProbeSet loaded = ProbeSet.load(List.of(new DupAckProbe()), ProbeSet.Options.defaults())) {
            assertTrue(loaded.object().hasMap(table), "dupack alone");
        }
    }

    /** The tags of a set's two ways (0: free). */
    private static List<Long> tags(BpfObject obj, Arena arena, int set) {
        MemorySegment value = record(obj, arena, set);
        return List.of(value.get(ValueLayout.JAVA_LONG, 0), value.get(ValueLayout.JAVA_LONG, 32));
    }

    /** A set of the shared table, as the kernel holds it (struct ingress_flow_set: two 32-byte ways). */
    private static MemorySegment record(BpfObject obj, Arena arena, int set) {
        BpfMap table = obj.map("shared_ingress_flows");
        MemorySegment value = arena.allocate(table.valueSize());
        assertTrue(table.lookup(arena.allocateFrom(ValueLayout.JAVA_INT, set), value));
        return value;
    }

    /** A SYN from 198.18.0.2:sport to 198.18.0.1:dport. */
    private static byte[] syn(int sport, int dport) {
        return Frame.ipv4().flags(Frame.SYN).sport(sport).dport(dport).build();
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

    /** {sport, dport} of count flows from 198.18.0.2 to 198.18.0.1 (other than 1 -> 80) whose tuples hash to set. */
    private static List<int[]> flowsInSet(long seed, int set, int count) {
        List<int[]> found = new ArrayList<>(); // 2^15 sets: about 2 of every 65,536 flows share one
        for (int dport = 80; dport < 100 && found.size() < count; dport++) {
            for (int sport = 2; sport < 65536 && found.size() < count; sport++) {
                if (setOf(seed, sport, dport) == set) {
                    found.add(new int[] {sport, dport});
                }
            }
        }
        assertEquals(count, found.size(), count + " more flows share the set");
        return found;
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
