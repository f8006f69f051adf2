package dev.tcpinspect.cli;

import dev.tcpinspect.testing.RunsBeside;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.testing.Capture;
import dev.tcpinspect.testing.Firewall;
import dev.tcpinspect.testing.RequiresBpf;
import dev.tcpinspect.testing.TcpinspectProcess;
import java.util.List;
import org.junit.jupiter.api.Test;

/** watch --probe drops: drop reasons in the summary and the event lines, against a capture and iptables. */
@RequiresBpf
@RunsBeside
class DropsWatchCliTest {
    @Test
    void dropReasonsMatchTheCaptureAndTheFirewallCounters() throws Exception {
        try (Lab lab = Lab.create();
             Capture in = Capture.incoming(lab.serverNs(), lab.serverIf());
             TcpinspectProcess watch = TcpinspectProcess.start(lab.serverNs(), "watch", "--probe", "drops",
                     "--format", "json")) {
            Firewall.dropPort(lab.serverNs(), 7777);
            watch.awaitJson("ready", 30);
            for (String address : List.of(Lab.SERVER_V4, Lab.SERVER_V6)) {
                assertEquals(5, Traffic.synToClosedPorts(lab.client(), address, 9600, 5));
                assertEquals(3, Traffic.unansweredConnects(lab.client(), address, 7777, 3, 300));
            }
            Thread.sleep(300);
            watch.terminate();
            JsonNode summary = watch.awaitJson("summary", 30);
            assertEquals(0, watch.waitFor(30));

            long noSocket = in.count(Capture.SYN + " && tcp.dstport >= 9600 && tcp.dstport < 9605");
            assertEquals(10, noSocket);
            assertEquals(noSocket, summary.get("drops").get("NO_SOCKET").asLong(), summary.toString());
            long firewalled = Firewall.droppedPackets(lab.serverNs(), 7777);
            assertEquals(6, firewalled);
            assertEquals(firewalled, summary.get("drops").get("NETFILTER_DROP").asLong(), summary.toString());

            List<JsonNode> events = watch.lines().stream().map(TcpinspectProcess::parse)
                    .filter(n -> n.get("type").asText().equals("drop")).toList();
            assertEquals(summary.get("drop_detail").get("total").asLong(), events.size());
            assertEquals(6, events.stream().filter(e -> e.get("reason").asText().equals("NETFILTER_DROP")
                    && e.get("lport").asInt() == 7777).count());
            assertTrue(events.stream().allMatch(e -> e.get("netns_name").asText().equals(lab.serverNs())));
            assertTrue(summary.get("top_drop_flows").size() > 0);
        }
    }
}
