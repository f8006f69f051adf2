package dev.tcpinspect.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.RequiresBpf;
import dev.tcpinspect.testing.TcpinspectProcess;
import java.util.List;
import org.junit.jupiter.api.Test;

/** watch --probe zerowin: a server that stops reading, beside nstat's TCPToZeroWindowAdv. */
@RequiresBpf
class ZeroWindowWatchCliTest {
    private static long toZeroWindowAdv(Lab lab) {
        for (String line : Cmd.run("ip", "netns", "exec", lab.serverNs(), "nstat", "-az", "TcpExtTCPToZeroWindowAdv").ok()
                .out().lines().toList()) {
            if (line.startsWith("TcpExtTCPToZeroWindowAdv")) {
                return Long.parseLong(line.trim().split("\\s+")[1]);
            }
        }
        throw new AssertionError("no TcpExtTCPToZeroWindowAdv");
    }

    @Test
    void zeroWindowsSentAndReceivedWithEvents() throws Exception {
        try (Lab lab = Lab.create();
             var slow = Traffic.listenSlowReader(lab.server(), Lab.SERVER_V6, 8080, 600);
             var bulk = Traffic.listenSending(lab.server(), Lab.SERVER_V4, 8081, 8_000_000);
             TcpinspectProcess watch = TcpinspectProcess.start(lab.serverNs(), "watch", "-i", lab.serverIf(),
                     "--probe", "zerowin", "--format", "json")) {
            watch.awaitJson("ready", 30);
            long before = toZeroWindowAdv(lab);
            Traffic.upload(lab.client(), Lab.SERVER_V6, 8080, 16_000_000);
            assertEquals(8_000_000, Traffic.slowDownload(lab.client(), Lab.SERVER_V4, 8081, 600));
            Thread.sleep(300);
            long sent = toZeroWindowAdv(lab) - before;
            watch.terminate();
            JsonNode summary = watch.awaitJson("summary", 30);
            assertEquals(0, watch.waitFor(30));
            assertTrue(sent > 0);
            assertEquals(sent, summary.get("zero_window").get("sent").asLong());
            assertTrue(summary.get("zero_window").get("received").asLong() > 0);
            List<JsonNode> events = watch.lines().stream().map(TcpinspectProcess::parse)
                    .filter(n -> n.get("type").asText().equals("zero_window")).toList();
            long closes = events.stream().filter(e -> e.get("event").asText().equals("closed")).count();
            assertEquals(summary.get("zero_window").get("sent").asLong() + summary.get("zero_window").get("received").asLong(),
                    closes);
            assertTrue(events.stream().anyMatch(e -> e.get("event").asText().equals("reopened")
                    && e.get("closed_ms").asDouble() > 200 && e.get("direction").asText().equals("sent")
                    && e.get("family").asText().equals("ipv6")), events.toString());
        }
    }
}
