package dev.tcpinspect.probe.retrans;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.probe.Flow;
import dev.tcpinspect.testing.Bpftrace;
import dev.tcpinspect.testing.Cmd;
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
class RetransProbeTest {
    static final int BULK_PORT = 8080;
    static final int HANDSHAKE_PORT = 8081;

    private static void iptables(String ns, String family, String... rule) {
        List<String> command = new java.util.ArrayList<>(List.of("ip", "netns", "exec", ns,
                family.equals("6") ? "ip6tables" : "iptables", "-w"));
        command.addAll(List.of(rule));
        Cmd.run(command, 30).ok();
    }

    /** Loss on the client: 3% of the server's bulk data, and every other SYN-ACK of HANDSHAKE_PORT. */
    private static void injectLoss(Lab lab, String action) {
        for (String family : new String[] {"4", "6"}) {
            iptables(lab.clientNs(), family, action, "INPUT", "-p", "tcp", "--sport", "" + BULK_PORT,
                    "-m", "statistic", "--mode", "random", "--probability", "0.03", "-j", "DROP");
            iptables(lab.clientNs(), family, action, "INPUT", "-p", "tcp", "--sport", "" + HANDSHAKE_PORT,
                    "--tcp-flags", "SYN,ACK", "SYN,ACK", "-m", "statistic", "--mode", "nth", "--every", "2",
                    "--packet", "0", "-j", "DROP");
        }
    }

    /** Waits until the server namespace has no connection still closing (so no timer can fire). */
    private static void settle(Lab lab) throws InterruptedException {
        for (int i = 0; i < 100; i++) {
            String busy = Cmd.run("ip", "netns", "exec", lab.serverNs(), "ss", "-Htn", "state", "connected",
                    "exclude", "time-wait").ok().out().strip();
            if (busy.isEmpty()) {
                return;
            }
            Thread.sleep(100);
        }
    }

    private static String bpftraceScript(long... netns) {
        StringBuilder filter = new StringBuilder();
        for (long n : netns) {
            filter.append(filter.isEmpty() ? "" : " || ")
                    .append("((struct sock *)args->skaddr)->__sk_common.skc_net.net->ns.inum == ").append(n);
        }
        return "tracepoint:tcp:tcp_retransmit_skb /" + filter + "/ { @data = count(); } "
                + "tracepoint:tcp:tcp_retransmit_synack /" + filter + "/ { @synack = count(); }";
    }

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
            injectLoss(lab, "-A");
            // Loss the other way too, so the client namespace retransmits and --all-netns differs.
            iptables(lab.serverNs(), "4", "-A", "INPUT", "-p", "tcp", "--sport", "" + BULK_PORT, "-m", "statistic",
                    "--mode", "random", "--probability", "0.03", "-j", "DROP");
            try (Bpftrace serverOnly = Bpftrace.start(bpftraceScript(serverNs));
                 Bpftrace both = Bpftrace.start(bpftraceScript(serverNs, clientNs));
                 RetransProbe probe = lab.server().call(() -> RetransProbe.load(false));
                 RetransProbe all = RetransProbe.load(true)) {
                AtomicLong events = new AtomicLong();
                AtomicLong foreign = new AtomicLong();
                probe.onEvents(e -> {
                    events.incrementAndGet();
                    if (e.netns() != serverNs) {
                        foreign.incrementAndGet();
                    }
                });
                probe.attach();
                all.attach();

                for (String address : new String[] {Lab.SERVER_V4, Lab.SERVER_V6}) {
                    for (int i = 0; i < 3; i++) {
                        assertEquals(2_000_000, Traffic.download(lab.client(), address, BULK_PORT));
                    }
                    assertEquals(4, Traffic.connect(lab.client(), address, HANDSHAKE_PORT, 4));
                }
                assertEquals(2_000_000, Traffic.download(lab.server(), Lab.CLIENT_V4, BULK_PORT));
                injectLoss(lab, "-D");
                settle(lab);

                RetransCounts counted = probe.read();
                RetransCounts countedAll = all.read();
                Map<String, Long> oracle = serverOnly.stop();
                Map<String, Long> oracleBoth = both.stop();

                assertTrue(counted.data() > 0 && counted.synack() > 0, "loss caused retransmits: " + counted);
                assertEquals(oracle.getOrDefault("data", 0L), counted.data(), "tcp_retransmit_skb in the server netns");
                assertEquals(oracle.getOrDefault("synack", 0L), counted.synack(), "tcp_retransmit_synack");
                assertEquals(0, counted.eventsLost());

                // --all-netns: the lab's two namespaces together, from the per-flow table.
                long labData = 0;
                long labSynack = 0;
                for (FlowRetransmits f : all.topFlows(Integer.MAX_VALUE)) {
                    if (f.flow().netns() == serverNs || f.flow().netns() == clientNs) {
                        labData += f.data();
                        labSynack += f.synack();
                    }
                }
                assertEquals(oracleBoth.getOrDefault("data", 0L), labData);
                assertEquals(oracleBoth.getOrDefault("synack", 0L), labSynack);
                assertTrue(labData > counted.data(), "the client's retransmits are seen only with all namespaces");
                assertTrue(countedAll.total() >= labData + labSynack);

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
                assertTrue(first.lport() == BULK_PORT || first.lport() == HANDSHAKE_PORT, first.toString());
            }
        }
    }
}
