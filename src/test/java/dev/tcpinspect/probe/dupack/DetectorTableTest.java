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
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The ingress hook's per-flow records (lib/ingressflows.h) when more flows meet in one set than it has
 * ways: every flow starts in the small young table; the flow whose young way a newcomer takes moves
 * to the old table unless it ended; there the oldest gives way, and a flow pushed out within a second
 * of its last segment is counted, one idle longer is not; the flows kept go on being judged; a SYN
 * pushes out no established flow. Frames go through BPF_PROG_TEST_RUN; flows that share a set are
 * found with the object's own hash seed (flows that share an old set share a young one).
 */
@RequiresBpf
class DetectorTableTest {
    private static final int OLD_BITS = 15; // INGRESS_FLOW_SET_BITS in bpf/lib/ingressflows.h
    private static final int YOUNG_BITS = 9; // INGRESS_YOUNG_SET_BITS
    private static final String OLD = "shared_ingress_flows", YOUNG = "shared_young_flows";
    private static final int STAT_TOTAL = 0, STAT_EVICTED = 3;

    @Test
    void aFullSetPushesOutTheOldestAndCountsOnlyActiveFlows() throws Exception {
        try (ProbeSet loaded = ProbeSet.load(java.util.List.of(new DupAckProbe()), ProbeSet.Options.defaults());
             Arena arena = Arena.ofConfined()) {
            BpfObject obj = loaded.object();
            Program tc = obj.program("tcpi_tc_ingress");
            seenTwice(tc, new int[] {1, 80}); // a flow confirmed by a second segment (a dup ACK)
            long seed = seed(obj, arena);
            assertNotEquals(1, seed, "ProbeSet set the seed (its default is 1)");
            assertEquals(hash(seed, 1, 80), tags(obj, arena, YOUNG, youngSet(seed, 1, 80)).getFirst(),
                    "this test's copy of flowslot_hash agrees with the kernel's (way 0 of the flow's young set)");

            int set = oldSet(seed, 1, 80);
            List<int[]> sameSet = flowsInSet(seed, set, 5);
            int[] a = {1, 80}, b = sameSet.get(0), c = sameSet.get(1), d = sameSet.get(2), e = sameSet.get(3);
            Thread.sleep(20); // a few ticks apart, so that "seen longest ago" tells the flows apart
            seenTwice(tc, b); // the young set's other way
            Thread.sleep(20);
            seenTwice(tc, c); // the young set is full: a, seen longest ago, moves to the old table
            assertEquals(List.of(hash(seed, a), 0L), tags(obj, arena, OLD, set), "the flow seen longest ago moved");
            Thread.sleep(20);
            seenTwice(tc, d); // then b
            assertEquals(List.of(hash(seed, a), hash(seed, b)), tags(obj, arena, OLD, set));
            assertEquals(Set.of(hash(seed, a), hash(seed, b), hash(seed, c), hash(seed, d)), held(obj, arena, seed, set),
                    "four flows fill the young and the old set");
            assertEquals(0, stat(obj, STAT_EVICTED));
            long total = stat(obj, STAT_TOTAL);
            Thread.sleep(20);
            tc.testRun(pureAck(a[0], a[1]), 1); // a, moved to the old table, keeps its detector
            assertEquals(total + 1, stat(obj, STAT_TOTAL), "a flow moved to the old table goes on being judged");

            Thread.sleep(20);
            seenTwice(tc, e); // a fifth active flow: c moves, and b, seen longest ago in the old set, goes
            assertEquals(1, stat(obj, STAT_EVICTED), "a flow pushed out within a second of its last segment is counted");
            assertEquals(Set.of(hash(seed, a), hash(seed, c), hash(seed, d), hash(seed, e)), held(obj, arena, seed, set));
            assertEquals(total + 2, stat(obj, STAT_TOTAL), "the flow that took the way counts its dup ACK");

            Thread.sleep(1_100); // every flow idle for over a second: taking a way from one is no loss
            seenTwice(tc, sameSet.get(4));
            assertEquals(1, stat(obj, STAT_EVICTED));
        }
    }

    /**
     * A flow that ended (a FIN or RST seen) gives its young way to a newcomer without moving: a short
     * connection never touches the old table. One still running moves there, and keeps its detector.
     */
    @Test
    void anEndedFlowGivesWayWithoutMovingAndARunningOneMoves() throws Exception {
        try (ProbeSet loaded = ProbeSet.load(List.of(new DupAckProbe()), ProbeSet.Options.defaults());
             Arena arena = Arena.ofConfined()) {
            BpfObject obj = loaded.object();
            Program tc = obj.program("tcpi_tc_ingress");
            long seed = seed(obj, arena);
            int set = oldSet(seed, 1, 80);
            int young = youngSet(seed, 1, 80);
            List<int[]> sameSet = flowsInSet(seed, set, 3);
            int[] b = sameSet.get(0), c = sameSet.get(1), d = sameSet.get(2);

            seenTwice(tc, new int[] {1, 80});
            tc.testRun(Frame.ipv4().flags(Frame.FIN | Frame.ACK).sport(1).dport(80).build(), 1); // the peer's FIN
            seenTwice(tc, b); // b and c take the ended flow's way and the free one
            seenTwice(tc, c);
            assertEquals(Set.of(hash(seed, b), hash(seed, c)), Set.copyOf(tags(obj, arena, YOUNG, young)));
            assertEquals(List.of(0L, 0L), tags(obj, arena, OLD, set), "the ended flow went without moving");

            long total = stat(obj, STAT_TOTAL);
            seenTwice(tc, d); // no way spare: a running flow moves
            List<Long> old = tags(obj, arena, OLD, set);
            assertEquals(1, old.stream().filter(t -> t != 0).count(), "one flow moved to the old table: " + old);
            long moved = old.stream().filter(t -> t != 0).findFirst().orElseThrow();
            int[] movedFlow = moved == hash(seed, b) ? b : c;
            assertEquals(hash(seed, movedFlow), moved);
            assertTrue(tags(obj, arena, YOUNG, young).contains(hash(seed, d)));
            tc.testRun(pureAck(movedFlow[0], movedFlow[1]), 1);
            assertEquals(total + 2, stat(obj, STAT_TOTAL), "the moved flow kept its detector: its repeated ACK is a dup ACK");
            assertEquals(0, stat(obj, STAT_EVICTED));
        }
    }

    /**
     * A flow first seen after its handshake may be one whose record went when it ended, seen again
     * for its last ACK: its record gives way without moving until a second segment confirms it.
     */
    @Test
    void aFlowSeenOnceAfterItsHandshakeGivesWayUntilASecondSegment() throws Exception {
        try (ProbeSet loaded = ProbeSet.load(List.of(new DupAckProbe()), ProbeSet.Options.defaults());
             Arena arena = Arena.ofConfined()) {
            BpfObject obj = loaded.object();
            Program tc = obj.program("tcpi_tc_ingress");
            long seed = seed(obj, arena);
            int set = oldSet(seed, 1, 80);
            int young = youngSet(seed, 1, 80);
            List<int[]> sameSet = flowsInSet(seed, set, 3);
            int[] b = sameSet.get(0), c = sameSet.get(1), d = sameSet.get(2);

            tc.testRun(pureAck(1, 80), 1); // one segment each
            tc.testRun(pureAck(b[0], b[1]), 1);
            tc.testRun(pureAck(c[0], c[1]), 1); // takes the first flow's way: it moves nowhere
            assertEquals(List.of(0L, 0L), tags(obj, arena, OLD, set), "an unconfirmed flow went without moving");
            assertEquals(Set.of(hash(seed, b), hash(seed, c)), Set.copyOf(tags(obj, arena, YOUNG, young)));

            tc.testRun(pureAck(b[0], b[1]), 1); // second segments confirm both (and are dup ACKs)
            tc.testRun(pureAck(c[0], c[1]), 1);
            assertEquals(2, stat(obj, STAT_TOTAL));
            tc.testRun(pureAck(d[0], d[1]), 1); // no way spare now: a confirmed flow moves
            assertEquals(1, tags(obj, arena, OLD, set).stream().filter(t -> t != 0).count(),
                    "a confirmed flow moved to the old table");
        }
    }

    /** A SYN behind an ended flow (its tuple used again, with an ISN that fell behind) makes its record live again. */
    @Test
    void aSynOnAnEndedFlowMakesItLiveAgain() throws Exception {
        try (ProbeSet loaded = ProbeSet.load(List.of(new DupAckProbe()), ProbeSet.Options.defaults());
             Arena arena = Arena.ofConfined()) {
            BpfObject obj = loaded.object();
            Program tc = obj.program("tcpi_tc_ingress");
            long seed = seed(obj, arena);
            int set = oldSet(seed, 1, 80);
            List<int[]> sameSet = flowsInSet(seed, set, 2);

            seenTwice(tc, new int[] {1, 80});
            tc.testRun(Frame.ipv4().flags(Frame.FIN | Frame.ACK).sport(1).dport(80).build(), 1); // ended
            tc.testRun(Frame.ipv4().flags(Frame.SYN).sport(1).dport(80).seq(0).build(), 1); // behind: live again
            Thread.sleep(20);
            seenTwice(tc, sameSet.get(0));
            seenTwice(tc, sameSet.get(1)); // no way spare: the older flow moves rather than going
            assertEquals(List.of(hash(seed, 1, 80), 0L), tags(obj, arena, OLD, set));
        }
    }

    /**
     * The records are handshake's too (bpf/lib/ingressflows.h): a SYN takes no way from a flow whose
     * detector runs and was seen within the second, in either table, so a SYN flood cannot push
     * established flows out; it takes a free way, or one another SYN holds (which moves to the old
     * table if that has room), or moves a young established flow to an old way that yields to it.
     */
    @Test
    void aSynTakesNoWayFromAnEstablishedFlow() throws Exception {
        try (ProbeSet loaded = ProbeSet.load(java.util.List.of(new DupAckProbe(),
                new dev.tcpinspect.probe.handshake.HandshakeProbe()), ProbeSet.Options.defaults());
             Arena arena = Arena.ofConfined()) {
            BpfObject obj = loaded.object();
            Program tc = obj.program("tcpi_tc_ingress");
            long seed = seed(obj, arena);
            int set = oldSet(seed, 1, 80);
            int young = youngSet(seed, 1, 80);
            List<int[]> sameSet = flowsInSet(seed, set, 5); // more flows in flow (1, 80)'s sets
            int[] c = sameSet.get(0), d = sameSet.get(1), e = sameSet.get(2), f = sameSet.get(3), g = sameSet.get(4);
            long a = hash(seed, 1, 80);

            seenTwice(tc, new int[] {1, 80}); // an established flow takes a free way
            Thread.sleep(20); // a few ticks apart: "seen longest ago" tells the flows apart
            tc.testRun(syn(c[0], c[1]), 1); // a SYN takes the other
            assertEquals(List.of(a, hash(seed, c)), tags(obj, arena, YOUNG, young));
            Thread.sleep(20);
            tc.testRun(syn(d[0], d[1]), 1); // a SYN takes the way of the other SYN, not the older established flow's
            assertEquals(List.of(a, hash(seed, d)), tags(obj, arena, YOUNG, young));
            assertEquals(List.of(hash(seed, c), 0L), tags(obj, arena, OLD, set), "the SYN it took it from moved");
            tc.testRun(pureAck(d[0], d[1]), 1); // its handshake's ACK: the detector starts in the SYN's way
            assertEquals(List.of(a, hash(seed, d)), tags(obj, arena, YOUNG, young));

            Thread.sleep(20);
            tc.testRun(syn(e[0], e[1]), 1); // both young ways hold established flows: the older moves to
            // the old set's free way, and the SYN takes its young way
            assertEquals(List.of(hash(seed, c), a), tags(obj, arena, OLD, set));
            assertEquals(List.of(hash(seed, e), hash(seed, d)), tags(obj, arena, YOUNG, young));
            tc.testRun(pureAck(e[0], e[1]), 1); // e established too
            tc.testRun(pureAck(1, 80), 1); // a seen again (a dup ACK): the old SYN is now the oldest there
            Thread.sleep(20);
            seenTwice(tc, f); // a fourth: d moves, and takes the old SYN's way
            assertEquals(Set.of(a, hash(seed, d), hash(seed, e), hash(seed, f)), held(obj, arena, seed, set));
            assertEquals(0, stat(obj, STAT_EVICTED));
            long evicted = stat(obj, STAT_EVICTED);

            tc.testRun(syn(g[0], g[1]), 1); // all four active within the second: the SYN has no way
            assertEquals(Set.of(a, hash(seed, d[0], d[1]), hash(seed, e[0], e[1]), hash(seed, f[0], f[1])),
                    held(obj, arena, seed, set));
            assertEquals(evicted, stat(obj, STAT_EVICTED), "no running detector was pushed out");
            long total = stat(obj, STAT_TOTAL);
            for (int[] flow : List.of(new int[] {1, 80}, d, e, f)) {
                tc.testRun(pureAck(flow[0], flow[1]), 1);
            }
            assertEquals(total + 4, stat(obj, STAT_TOTAL), "every flow kept its detector: its repeated ACK is a dup ACK");

            Thread.sleep(1_100); // all idle for over a second: a SYN may take the way of any
            tc.testRun(syn(g[0], g[1]), 1);
            assertTrue(tags(obj, arena, YOUNG, young).contains(hash(seed, g[0], g[1])), "the SYN took an idle flow's way");
        }
    }

    /**
     * handshake's clock in the record: a retried SYN (the same sequence number) keeps its first one's
     * time, also after its record moved to the old table; a SYN with another sequence number is a new
     * attempt on the tuple and starts it again.
     */
    @Test
    void aRetriedSynKeepsTheFirstTimeAndANewAttemptStartsAgain() throws Exception {
        try (ProbeSet loaded = ProbeSet.load(List.of(new dev.tcpinspect.probe.handshake.HandshakeProbe()),
                ProbeSet.Options.defaults());
             Arena arena = Arena.ofConfined()) {
            BpfObject obj = loaded.object();
            Program tc = obj.program("tcpi_tc_ingress");
            long seed = seed(obj, arena);
            int young = youngSet(seed, 7, 80);

            tc.testRun(Frame.ipv4().flags(Frame.SYN).sport(7).dport(80).seq(1000).build(), 1);
            long first = synTime(obj, arena, YOUNG, young);
            assertTrue(first > 0, "the SYN's time is kept");
            tc.testRun(Frame.ipv4().flags(Frame.SYN).sport(7).dport(80).seq(1000).build(), 1);
            assertEquals(first, synTime(obj, arena, YOUNG, young), "a retried SYN keeps the first one's time");
            tc.testRun(Frame.ipv4().flags(Frame.SYN).sport(7).dport(80).seq(90_000).build(), 1);
            long second = synTime(obj, arena, YOUNG, young);
            assertTrue(second > first, "a new attempt starts the clock again");

            int set = oldSet(seed, 7, 80);
            for (int[] other : flowsInSet(seed, set, 2, 7)) { // two more SYNs in its sets: it moves to the old table
                tc.testRun(syn(other[0], other[1]), 1);
            }
            assertTrue(tags(obj, arena, OLD, set).contains(hash(seed, 7, 80)), "the first SYN's record moved");
            tc.testRun(Frame.ipv4().flags(Frame.SYN).sport(7).dport(80).seq(90_000).build(), 1);
            int way = tags(obj, arena, OLD, set).indexOf(hash(seed, 7, 80));
            assertTrue(way >= 0, "the retried SYN found its record in the old table");
            assertTrue(!tags(obj, arena, YOUNG, young).contains(hash(seed, 7, 80)), "and took no young one");
            assertEquals(second, record(obj, arena, OLD, set).get(ValueLayout.JAVA_LONG, way * 32L + 8),
                    "a retried SYN keeps the first one's time when its record moved");
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
            int young = youngSet(seed(obj, arena), 9, 80);
            byte[] ack = Frame.ipv4().flags(Frame.ACK).sport(9).dport(80).seq(5000).build();
            tc.testRun(ack, 1); // starts the detector: the peer has sent up to 5000
            tc.testRun(ack, 1);
            assertEquals(1, stat(obj, STAT_TOTAL));

            tc.testRun(Frame.ipv4().flags(Frame.SYN).sport(9).dport(80).seq(4000).build(), 1); // behind
            tc.testRun(ack, 1);
            assertEquals(2, stat(obj, STAT_TOTAL), "a SYN behind the flow left its detector running");
            long clock = synTime(obj, arena, YOUNG, young);

            tc.testRun(Frame.ipv4().flags(Frame.SYN).sport(9).dport(80).seq(90_000).build(), 1); // ahead
            assertTrue(synTime(obj, arena, YOUNG, young) > clock, "the new connection's clock starts");
            byte[] newAck = Frame.ipv4().flags(Frame.ACK).sport(9).dport(80).seq(90_001).build();
            tc.testRun(newAck, 1); // starts the detector again
            assertEquals(2, stat(obj, STAT_TOTAL), "the new connection's first ACK is compared with nothing");
            tc.testRun(newAck, 1);
            assertEquals(3, stat(obj, STAT_TOTAL));
        }
    }

    /** syn_ns of way 0 of a set of table (struct ingress_flow: tag, then syn_ns). */
    private static long synTime(BpfObject obj, Arena arena, String table, int set) {
        return record(obj, arena, table, set).get(ValueLayout.JAVA_LONG, 8);
    }

    /** The shared tables are created for either probe that uses them, and take no memory when both are off. */
    @Test
    void theSharedTablesAreMadeOnlyForTheProbesThatUseThem() {
        for (String table : List.of(OLD, YOUNG)) {
            try (ProbeSet loaded = ProbeSet.load(List.of(new dev.tcpinspect.probe.packets.PacketsProbe()),
                    ProbeSet.Options.defaults())) {
                assertTrue(!loaded.object().hasMap(table), "packets alone: " + table);
            }
            try (ProbeSet loaded = ProbeSet.load(List.of(new dev.tcpinspect.probe.handshake.HandshakeProbe()),
                    ProbeSet.Options.defaults())) {
                assertTrue(loaded.object().hasMap(table), "handshake alone: " + table);
            }
            try (ProbeSet loaded = ProbeSet.load(List.of(new DupAckProbe()), ProbeSet.Options.defaults())) {
                assertTrue(loaded.object().hasMap(table), "dupack alone: " + table);
            }
        }
    }

    /** The tags of a set's two ways (0: free). */
    private static List<Long> tags(BpfObject obj, Arena arena, String table, int set) {
        MemorySegment value = record(obj, arena, table, set);
        return List.of(value.get(ValueLayout.JAVA_LONG, 0), value.get(ValueLayout.JAVA_LONG, 32));
    }

    /** The flows an old set and its young set hold together. */
    private static Set<Long> held(BpfObject obj, Arena arena, long seed, int oldSet) {
        Set<Long> held = new java.util.HashSet<>(tags(obj, arena, OLD, oldSet));
        held.addAll(tags(obj, arena, YOUNG, oldSet >>> (OLD_BITS - YOUNG_BITS)));
        held.remove(0L);
        return held;
    }

    /** A set of a shared table, as the kernel holds it (struct ingress_flow_set: two 32-byte ways). */
    private static MemorySegment record(BpfObject obj, Arena arena, String name, int set) {
        BpfMap table = obj.map(name);
        MemorySegment value = arena.allocate(table.valueSize());
        assertTrue(table.lookup(arena.allocateFrom(ValueLayout.JAVA_INT, set), value));
        return value;
    }

    /** Two pure ACKs of a flow {sport, dport}: the second confirms it (and is a dup ACK). */
    private static void seenTwice(Program tc, int[] flow) {
        tc.testRun(pureAck(flow[0], flow[1]), 1);
        tc.testRun(pureAck(flow[0], flow[1]), 1);
    }

    private static long hash(long seed, int[] flow) {
        return hash(seed, flow[0], flow[1]);
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

    /** {sport, dport} of count flows from 198.18.0.2 to 198.18.0.1 (other than 1 -> 80) whose tuples hash to old set. */
    private static List<int[]> flowsInSet(long seed, int set, int count) {
        return flowsInSet(seed, set, count, 1);
    }

    /** The same, other than sport -> 80. */
    private static List<int[]> flowsInSet(long seed, int set, int count, int notSport) {
        List<int[]> found = new ArrayList<>(); // 2^15 sets: about 2 of every 65,536 flows share one
        for (int dport = 80; dport < 100 && found.size() < count; dport++) {
            for (int sport = 1; sport < 65536 && found.size() < count; sport++) {
                if (oldSet(seed, sport, dport) == set && !(sport == notSport && dport == 80)) {
                    found.add(new int[] {sport, dport});
                }
            }
        }
        assertEquals(count, found.size(), count + " more flows share the set");
        return found;
    }

    private static int oldSet(long seed, int sport, int dport) {
        return (int) (hash(seed, sport, dport) >>> (64 - OLD_BITS));
    }

    private static int youngSet(long seed, int sport, int dport) {
        return (int) (hash(seed, sport, dport) >>> (64 - YOUNG_BITS));
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
