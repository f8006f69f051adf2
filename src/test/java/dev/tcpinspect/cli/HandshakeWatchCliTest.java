package dev.tcpinspect.cli;

import org.junit.jupiter.api.parallel.Isolated;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.testing.Loss;
import dev.tcpinspect.testing.RequiresBpf;
import dev.tcpinspect.testing.TcpinspectProcess;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** watch --probe handshake: a lost first SYN in the summary's percentiles and the event lines. */
@RequiresBpf
// Alone, after the rest (RunsBeside explains the two lanes): it holds the kernel's handshake times to the client's clock within 20 ms.
@Isolated
class HandshakeWatchCliTest {
    @Test
    void summaryPercentilesAndEventsAgreeWithConnectTimes() throws Exception {
        try (Lab lab = Lab.create();
             var in4 = Traffic.listen(lab.server(), Lab.SERVER_V4, 8080);
             var in6 = Traffic.listen(lab.server(), Lab.SERVER_V6, 8080);
             TcpinspectProcess watch = TcpinspectProcess.start(lab.serverNs(), "watch", "-i", lab.serverIf(),
                     "--probe", "handshake", "--format", "json")) {
            watch.awaitJson("ready", 30);
            Loss.input(lab.serverNs(), "-A", Loss.everyOtherSynToPort(8080));
            long[] v4 = Traffic.connectTimed(lab.client(), Lab.SERVER_V4, 8080, 2);
            long[] v6 = Traffic.connectTimed(lab.client(), Lab.SERVER_V6, 8080, 1);
            Thread.sleep(300);
            watch.terminate();
            JsonNode summary = watch.awaitJson("summary", 30);
            assertEquals(0, watch.waitFor(30));

            long[] all = {v4[0], v4[1], v6[0]};
            double slowestMs = Arrays.stream(all).max().orElseThrow() / 1e6;
            JsonNode passive = summary.get("handshake_ms").get("passive");
            // (A rare failure here counted 2 of the 3: the events and connect times say which one went.)
            assertEquals(3, passive.get("count").asLong(), summary + "\nevents: " + watch.lines().stream()
                    .filter(l -> l.contains("\"type\":\"handshake\"")).toList() + "\nconnect ns: "
                    + Arrays.toString(all) + "\nstderr: " + watch.stderr());
            assertTrue(Math.abs(passive.get("max").asDouble() - slowestMs) < 20, passive + " vs " + slowestMs);
            // the median of the three, within the README's promise for percentiles (1/32 = 3.2%), plus 5 ms
            // for the client's clock against the server's hook (the max above is within 20 ms)
            double medianMs = Arrays.stream(all).sorted().toArray()[1] / 1e6;
            assertTrue(Math.abs(passive.get("p50").asDouble() - medianMs) <= medianMs / 32 + 5,
                    passive + " vs the connect times' median " + medianMs + " ms");
            assertEquals(3, summary.get("handshake_ms_by_port").get("8080").get("count").asLong());

            List<JsonNode> events = watch.lines().stream().map(TcpinspectProcess::parse)
                    .filter(n -> n.get("type").asText().equals("handshake")).toList();
            assertEquals(3, events.size());
            for (int i = 0; i < 3; i++) {
                assertEquals("passive", events.get(i).get("kind").asText());
                assertTrue(Math.abs(events.get(i).get("latency_ms").asDouble() - all[i] / 1e6) < 20, events.get(i).toString());
            }
            assertEquals("ipv6", events.get(2).get("family").asText());
        }
    }
}
