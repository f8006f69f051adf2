package dev.tcpinspect.cli;

import org.junit.jupiter.api.parallel.Isolated;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.RequiresBpf;
import dev.tcpinspect.testing.TcpinspectProcess;
import dev.tcpinspect.testing.WebLoad;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * No false alarm: a web server under a load generator at full speed, for 30 s with a connection per
 * request and 30 s with keep-alive, and a curl loop, watched by every detection probe. Not one
 * anomaly, scan, flood or cycling alert.
 */
@RequiresBpf
// Alone, after the rest (RunsBeside explains the two lanes): wrk at full speed fills both CPUs for a minute.
@Isolated
class DetectionQuietCliTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void aBusyHealthyWebServerRaisesNoAlert() throws Exception {
        try (Lab lab = Lab.create(); WebLoad web = WebLoad.start(lab);
             TcpinspectProcess watch = TcpinspectProcess.start(lab.serverNs(), "watch", "-i", lab.serverIf(),
                     "--format", "json", "--probe", "anomaly", "--probe", "scan", "--probe", "flood",
                     "--probe", "cycling")) {
            watch.awaitJson("ready", 60);
            double close = web.run(WebLoad.Workload.CLOSE, 30);
            double keepAlive = web.run(WebLoad.Workload.KEEPALIVE, 30);
            // 200 requests by one curl, each on a connection of its own (Connection: close), as a loop of curls
            List<String> curl = new ArrayList<>(List.of("ip", "netns", "exec", lab.clientNs(), "curl", "-sf",
                    "-H", "Connection: close"));
            for (int i = 0; i < 200; i++) {
                curl.addAll(List.of("-o", "/dev/null", "http://" + Lab.SERVER_V4 + "/"));
            }
            Cmd.run(curl, 60).ok();
            Thread.sleep(1500); // a second's drain after the last request
            watch.terminate();
            assertEquals(0, watch.waitFor(30), watch.stderr());
            assertTrue(close > 1000 && keepAlive > 1000, "wrk ran at speed: " + close + " and " + keepAlive + " requests/s");

            List<String> alarms = new ArrayList<>();
            JsonNode summary = null;
            for (String line : watch.lines()) {
                JsonNode node = JSON.readTree(line);
                String type = node.path("type").asText();
                if (Set.of("anomaly", "scan", "flood", "cycling").contains(type)) {
                    alarms.add(line);
                }
                if (type.equals("summary")) {
                    summary = node;
                }
            }
            assertEquals(List.of(), alarms);
            assertTrue(summary != null, watch.lines().toString());
            assertEquals(0, summary.path("anomalies").size(), summary.toString());
            assertEquals(0, summary.path("alerts").path("port_scan").asLong(-1), summary.toString());
            assertEquals(0, summary.path("alerts").path("syn_flood").asLong(-1), summary.toString());
            assertEquals(0, summary.path("alerts").path("cycling").asLong(-1), summary.toString());
        }
    }
}
