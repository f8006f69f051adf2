package dev.tcpinspect.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.testing.Capture;
import dev.tcpinspect.testing.RequiresBpf;
import dev.tcpinspect.testing.TcpinspectProcess;
import java.util.List;
import org.junit.jupiter.api.Test;

/** watch --probe reset as its own process: summary and event lines against tcpdump captures. */
@RequiresBpf
class ResetWatchCliTest {
    @Test
    void resetEventsAndSummaryMatchTheCaptures() throws Exception {
        try (Lab lab = Lab.create();
             var echo4 = Traffic.listen(lab.server(), Lab.SERVER_V4, 8080);
             var echo6 = Traffic.listen(lab.server(), Lab.SERVER_V6, 8080);
             Capture in = Capture.incoming(lab.serverNs(), lab.serverIf());
             Capture out = Capture.outgoing(lab.serverNs(), lab.serverIf());
             TcpinspectProcess watch = TcpinspectProcess.start(lab.serverNs(), "watch", "--probe", "reset",
                     "--format", "json")) {
            watch.awaitJson("ready", 30);
            for (String address : List.of(Lab.SERVER_V4, Lab.SERVER_V6)) {
                assertEquals(5, Traffic.synToClosedPorts(lab.client(), address, 9400, 5));
                assertEquals(2, Traffic.connectAndReset(lab.client(), address, 8080, 2));
            }
            Thread.sleep(300);
            watch.terminate();
            JsonNode summary = watch.awaitJson("summary", 30);
            assertEquals(0, watch.waitFor(30));
            assertEquals(10, out.count(Capture.RST));
            assertEquals(4, in.count(Capture.RST));
            assertEquals(out.count(Capture.RST), summary.get("resets").get("sent").asLong());
            assertEquals(in.count(Capture.RST), summary.get("resets").get("received").asLong());

            List<JsonNode> events = watch.lines().stream().map(TcpinspectProcess::parse)
                    .filter(n -> n.get("type").asText().equals("reset")).toList();
            assertEquals(14, events.size());
            for (JsonNode e : events) {
                if (e.get("direction").asText().equals("sent")) {
                    assertEquals("NO_SOCKET", e.get("reason").asText(), e.toString());
                    assertTrue(e.get("lport").asInt() >= 9400 && e.get("lport").asInt() < 9405, e.toString());
                } else {
                    assertEquals("ESTABLISHED", e.get("state").asText(), e.toString());
                    assertEquals(8080, e.get("lport").asInt());
                    assertTrue(!e.has("reason"));
                }
            }
            assertTrue(summary.get("top_reset_flows").size() > 0);
        }
    }
}
