package dev.tcpinspect.cli;

import org.junit.jupiter.api.parallel.Isolated;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.testing.Bpftrace;
import dev.tcpinspect.testing.Loss;
import dev.tcpinspect.testing.RequiresBpf;
import dev.tcpinspect.testing.Connections;
import dev.tcpinspect.testing.RetransScenario;
import dev.tcpinspect.testing.TcpinspectProcess;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** watch --probe retrans as its own process: events, summary and --all-netns against bpftrace. */
@RequiresBpf
// Alone, after the rest (RunsBeside explains the two lanes): it counts retransmits of every namespace, against bpftrace.
@Isolated
class RetransWatchCliTest {
    @Test
    void eventLinesAndSummaryMatchBpftraceWithAndWithoutAllNetns() throws Exception {
        int bulk = RetransScenario.BULK_PORT;
        int handshake = RetransScenario.HANDSHAKE_PORT;
        try (Lab lab = Lab.create();
             var bulk4 = Traffic.listenSending(lab.server(), Lab.SERVER_V4, bulk, 1_500_000);
             var bulk6 = Traffic.listenSending(lab.server(), Lab.SERVER_V6, bulk, 1_500_000);
             var hs4 = Traffic.listen(lab.server(), Lab.SERVER_V4, handshake);
             var hs6 = Traffic.listen(lab.server(), Lab.SERVER_V6, handshake);
             var upload = Traffic.listenSending(lab.client(), Lab.CLIENT_V6, bulk, 1_500_000)) {
            long serverNs = lab.server().inode();
            long clientNs = lab.client().inode();
            RetransScenario.clientLoss(lab, "-A");
            Loss.input(lab.serverNs(), "-A", Loss.randomFromPort(bulk, 0.08));
            // The upload's sixth packet too, so that the client retransmits in every run: its 1.5 MB go as
            // a few dozen large segments, and 8% at random missed them all once in a CI run.
            Loss.input(lab.serverNs(), "-A", Loss.nthFromPort(bulk, 6));
            try (Bpftrace serverOnly = Bpftrace.start(RetransScenario.bpftraceScript(serverNs));
                 Bpftrace both = Bpftrace.start(RetransScenario.bpftraceScript(serverNs, clientNs));
                 TcpinspectProcess watch = TcpinspectProcess.start(lab.serverNs(), "watch", "--probe", "retrans",
                         "--format", "json");
                 TcpinspectProcess watchAll = TcpinspectProcess.start(lab.serverNs(), "watch", "--probe", "retrans",
                         "--all-netns", "--format", "json")) {
                JsonNode ready = watch.awaitJson("ready", 30);
                assertEquals("[\"retrans\"]", ready.get("probes").toString());
                watchAll.awaitJson("ready", 30);

                for (String address : new String[] {Lab.SERVER_V4, Lab.SERVER_V6}) {
                    for (int i = 0; i < 2; i++) {
                        assertEquals(1_500_000, Traffic.download(lab.client(), address, bulk));
                    }
                    assertEquals(3, Traffic.connect(lab.client(), address, handshake, 3));
                }
                assertEquals(1_500_000, Traffic.download(lab.server(), Lab.CLIENT_V6, bulk));
                RetransScenario.clientLoss(lab, "-D");
                Connections.settle(lab);
                Thread.sleep(300); // let the last events reach stdout

                watch.terminate();
                watchAll.terminate();
                JsonNode summary = watch.awaitJson("summary", 30);
                JsonNode summaryAll = watchAll.awaitJson("summary", 30);
                assertEquals(0, watch.waitFor(30));
                assertEquals(0, watchAll.waitFor(30));
                Map<String, Long> oracle = serverOnly.stop();
                Map<String, Long> oracleBoth = both.stop();

                long expected = oracle.getOrDefault("data", 0L) + oracle.getOrDefault("synack", 0L);
                assertTrue(oracle.getOrDefault("synack", 0L) > 0 && oracle.getOrDefault("data", 0L) > 0, oracle.toString());
                assertEquals(expected, summary.get("retransmits").asLong(), "summary vs bpftrace " + oracle);
                assertEquals(oracle.getOrDefault("synack", 0L), summary.get("retransmit_detail").get("synack").asLong());
                assertTrue(!summary.has("packets"), "only the retrans probe ran");

                List<JsonNode> events = watch.lines().stream().map(TcpinspectProcess::parse)
                        .filter(n -> n.get("type").asText().equals("retransmit")).toList();
                assertEquals(expected, events.size(), "one event line per retransmit");
                for (JsonNode e : events) {
                    assertEquals(serverNs, e.get("netns").asLong(), e.toString());
                    assertEquals(lab.serverNs(), e.get("netns_name").asText());
                    assertTrue(Set.of(Lab.SERVER_V4, Lab.SERVER_V6).contains(e.get("laddr").asText()), e.toString());
                    // The server's own listeners, or its download from the client (a lost SYN-ACK there
                    // makes the server retransmit its SYN, from an ephemeral port).
                    assertTrue(Set.of(bulk, handshake).contains(e.get("lport").asInt()) || e.get("rport").asInt() == bulk,
                            e.toString());
                    assertEquals(e.get("laddr").asText().contains(":") ? "ipv6" : "ipv4", e.get("family").asText());
                    if (e.get("kind").asText().equals("synack")) {
                        // Mostly the handshake port; the random loss on the bulk port can hit a SYN-ACK too.
                        assertEquals("SYN_RECV", e.get("state").asText());
                    }
                }

                // --all-netns sees the client namespace's retransmits too, each event naming its namespace.
                List<JsonNode> allEvents = watchAll.lines().stream().map(TcpinspectProcess::parse)
                        .filter(n -> n.get("type").asText().equals("retransmit")).toList();
                long inLab = allEvents.stream().filter(e -> e.get("netns").asLong() == serverNs
                        || e.get("netns").asLong() == clientNs).count();
                assertEquals(oracleBoth.getOrDefault("data", 0L) + oracleBoth.getOrDefault("synack", 0L), inLab,
                        "bpftrace printed: " + both.output());
                assertTrue(allEvents.stream().anyMatch(e -> e.get("netns").asLong() == clientNs
                        && e.get("netns_name").asText().equals(lab.clientNs())), "client namespace events");
                assertTrue(summaryAll.get("retransmits").asLong() >= inLab);
            }
        }
    }
}
