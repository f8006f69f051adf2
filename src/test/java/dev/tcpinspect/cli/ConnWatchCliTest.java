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

/** watch --probe conn: FIN versus RST closes (SO_LINGER 0) in the summary and the conn event lines. */
@RequiresBpf
class ConnWatchCliTest {
    @Test
    void finAndResetClosesOverIpv4AndIpv6() throws Exception {
        try (Lab lab = Lab.create();
             var echo4 = Traffic.listen(lab.server(), Lab.SERVER_V4, 8080);
             var echo6 = Traffic.listen(lab.server(), Lab.SERVER_V6, 8080);
             Capture in = Capture.incoming(lab.serverNs(), lab.serverIf());
             TcpinspectProcess watch = TcpinspectProcess.start(lab.serverNs(), "watch", "--probe", "conn",
                     "--format", "json")) {
            watch.awaitJson("ready", 30);
            for (String address : List.of(Lab.SERVER_V4, Lab.SERVER_V6)) {
                assertEquals(4, Traffic.connect(lab.client(), address, 8080, 4));
                assertEquals(2, Traffic.connectAndReset(lab.client(), address, 8080, 2));
            }
            Thread.sleep(500);
            watch.terminate();
            JsonNode summary = watch.awaitJson("summary", 30);
            assertEquals(0, watch.waitFor(30));

            JsonNode c = summary.get("connections");
            assertEquals(in.streams(Capture.SYN), c.get("opened_passive").asLong(), "one accepted per connection made");
            assertEquals(12, c.get("opened_passive").asLong());
            assertEquals(0, c.get("opened_active").asLong());
            assertEquals(12, c.get("closed").asLong());
            assertEquals(in.streams(Capture.RST), c.get("reset").asLong());

            List<JsonNode> closes = watch.lines().stream().map(TcpinspectProcess::parse)
                    .filter(n -> n.get("type").asText().equals("conn") && n.has("end")).toList();
            assertEquals(8, closes.stream().filter(e -> e.get("end").asText().equals("fin")).count());
            assertEquals(4, closes.stream().filter(e -> e.get("end").asText().equals("rst_received")).count());
            for (JsonNode e : closes) {
                assertEquals("CLOSE", e.get("new_state").asText());
                assertTrue(e.get("duration_ms").asDouble() > 0, e.toString());
                assertEquals(8080, e.get("lport").asInt());
            }
            assertEquals(12, watch.lines().stream().map(TcpinspectProcess::parse)
                    .filter(n -> n.get("type").asText().equals("conn") && n.path("open").asText().equals("passive")).count());
        }
    }
}
