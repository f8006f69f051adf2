package dev.tcpinspect.probe.retrans;

import org.junit.jupiter.api.parallel.Isolated;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.probe.ProbeSet;
import dev.tcpinspect.snapshot.Flow;
import dev.tcpinspect.testing.Bpftrace;
import dev.tcpinspect.testing.Loss;
import dev.tcpinspect.testing.Connections;
import dev.tcpinspect.testing.RetransScenario;
import dev.tcpinspect.testing.RequiresBpf;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * Retransmits under loss injected with iptables' statistic match, counted by the probe and by
 * bpftrace on the same tracepoints, filtered to the same namespaces.
 */
@RequiresBpf
// Alone, after the rest (RunsBeside explains the two lanes): it counts retransmits of every namespace, against bpftrace.
@Isolated
class RetransProbeTest {
    static final int BULK_PORT = RetransScenario.BULK_PORT;
    static final int HANDSHAKE_PORT = RetransScenario.HANDSHAKE_PORT;

    @Test
    void countsEqualBpftraceForTheServerNamespaceAndForAllNamespaces() throws Exception {
        try (Lab lab = Lab.create();
             var bulk4 = Traffic.listenSending(lab.server(), Lab.SERVER_V4, BULK_PORT, 2_000_000);
             var bulk6 = Traffic.listenSending(lab.server(), Lab.SERVER_V6, BULK_PORT, 2_000_000);
             var hs4 = Traffic.listen(lab.server(), Lab.SERVER_V4, HANDSHAKE_PORT);
             var hs6 = Traffic.listen(lab.server(), Lab.SERVER_V6, HANDSHAKE_PORT);
             var upload = Traffic.listenSending(lab.client(), Lab.CLIENT_V4, BULK_PORT, 2_000_000)) {
            long serverNs = lab.server().inode();
            long clientNs = lab.client().inode();
            RetransScenario.clientLoss(lab, "-A");
            // Loss the other way too, so the client namespace retransmits and --all-netns differs.
            Loss.input(lab.serverNs(), "-A", Loss.randomFromPort(BULK_PORT, 0.08));
            try (Bpftrace serverOnly = Bpftrace.start(RetransScenario.bpftraceScript(serverNs));
                 Bpftrace both = Bpftrace.start(RetransScenario.bpftraceScript(serverNs, clientNs));
                 ProbeSet set = lab.server().call(() -> ProbeSet.start(List.of(new RetransProbe()),
                         ProbeSet.Options.defaults().events(true)));
                 ProbeSet allSet = ProbeSet.start(List.of(new RetransProbe()), ProbeSet.Options.defaults().allNetns(true))) {
                RetransProbe probe = set.probe(RetransProbe.class);
                RetransProbe all = allSet.probe(RetransProbe.class);
                AtomicLong events = new AtomicLong();
                AtomicLong foreign = new AtomicLong();
                probe.onEvents(e -> {
                    events.incrementAndGet();
                    if (e.netns() != serverNs) {
                        foreign.incrementAndGet();
                    }
                });

                for (String address : new String[] {Lab.SERVER_V4, Lab.SERVER_V6}) {
                    for (int i = 0; i < 3; i++) {
                        assertEquals(2_000_000, Traffic.download(lab.client(), address, BULK_PORT));
                    }
                    assertEquals(4, Traffic.connect(lab.client(), address, HANDSHAKE_PORT, 4));
                }
                assertEquals(2_000_000, Traffic.download(lab.server(), Lab.CLIENT_V4, BULK_PORT));
                RetransScenario.clientLoss(lab, "-D");
                Connections.settle(lab);

                // Our counts are read just before and just after the oracles stop: a late retransmit (the
                // lab's last FIN, say) between the two stops must land inside that bracket, not on one side
                RetransCounts counted = probe.read();
                long[] labBefore = labCounts(all, serverNs, clientNs);
                Map<String, Long> oracle = serverOnly.stop();
                Map<String, Long> oracleBoth = both.stop();
                RetransCounts countedAfter = probe.read();
                long[] labAfter = labCounts(all, serverNs, clientNs);
                RetransCounts countedAll = all.read();

                assertTrue(counted.data() > 0 && counted.synack() > 0, "loss caused retransmits: " + counted);
                assertBetween(counted.data(), oracle.getOrDefault("data", 0L), countedAfter.data(),
                        "tcp_retransmit_skb in the server netns; bpftrace printed: " + serverOnly.output());
                assertBetween(counted.synack(), oracle.getOrDefault("synack", 0L), countedAfter.synack(),
                        "tcp_retransmit_synack");
                assertEquals(0, countedAfter.eventsLost());

                // --all-netns: the lab's two namespaces together, from the per-flow table.
                assertBetween(labBefore[0], oracleBoth.getOrDefault("data", 0L), labAfter[0],
                        "data, all namespaces; bpftrace printed: " + both.output());
                assertBetween(labBefore[1], oracleBoth.getOrDefault("synack", 0L), labAfter[1], "SYN-ACKs, all namespaces");
                assertTrue(labAfter[0] > countedAfter.data(), "the client's retransmits are seen only with all namespaces");
                assertTrue(countedAll.total() >= labAfter[0] + labAfter[1]);
                counted = countedAfter;

                // One event per retransmit, all from the server namespace.
                long deadline = System.nanoTime() + 5_000_000_000L;
                while (events.get() < counted.total() && System.nanoTime() < deadline) {
                    Thread.sleep(20);
                }
                assertEquals(counted.total(), events.get());
                assertEquals(0, foreign.get());

                List<FlowRetransmits> top = probe.topFlows(5);
                Flow first = top.getFirst().flow();
                assertEquals(serverNs, first.netns());
                assertTrue(first.lport() == BULK_PORT || first.lport() == HANDSHAKE_PORT || first.rport() == BULK_PORT,
                        first.toString());
            }
        }
    }

    /** The lab's two namespaces' retransmits (data, SYN-ACKs) in an all-namespaces probe's per-flow table. */
    private static long[] labCounts(RetransProbe all, long serverNs, long clientNs) {
        long[] c = new long[2];
        for (FlowRetransmits f : all.topFlows(Integer.MAX_VALUE)) {
            if (f.flow().netns() == serverNs || f.flow().netns() == clientNs) {
                c[0] += f.data();
                c[1] += f.synack();
            }
        }
        return c;
    }

    /** The oracle's count, taken between our two readings, lies between them (equal to both when nothing moved). */
    private static void assertBetween(long before, long oracle, long after, String what) {
        assertTrue(before <= oracle && oracle <= after, what + ": bpftrace " + oracle + ", tcpinspect " + before
                + " just before it stopped and " + after + " just after");
    }
}
