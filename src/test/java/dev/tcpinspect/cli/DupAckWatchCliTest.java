package dev.tcpinspect.cli;

import dev.tcpinspect.testing.RunsBeside;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.testing.Capture;
import dev.tcpinspect.testing.Connections;
import dev.tcpinspect.testing.Loss;
import dev.tcpinspect.testing.RequiresBpf;
import dev.tcpinspect.testing.TcpinspectProcess;
import org.junit.jupiter.api.Test;

/** watch --probe dupack: summary and event lines against tshark's duplicate-ACK analysis. */
@RequiresBpf
@RunsBeside
class DupAckWatchCliTest {
    @Test
    void dupAckSummaryAndEventsMatchTshark() throws Exception {
        try (Lab lab = Lab.create();
             var bulk = Traffic.listenSending(lab.server(), Lab.SERVER_V6, 8080, 4_000_000);
             Capture in = Capture.incoming(lab.serverNs(), lab.serverIf());
             TcpinspectProcess watch = TcpinspectProcess.start(lab.serverNs(), "watch", "-i", lab.serverIf(),
                     "--probe", "dupack", "--format", "json")) {
            watch.awaitJson("ready", 30);
            lab.serverIngressOnOneCpu(); // one order for tshark and the probe (see DupAckProbeTest)
            Loss.input(lab.clientNs(), "-A", Loss.randomFromPort(8080, 0.1));
            for (int i = 0; i < 3; i++) {
                assertEquals(4_000_000, Traffic.download(lab.client(), Lab.SERVER_V6, 8080));
            }
            Connections.settle(lab); // a late retransmit would bring a dup ACK after watch stopped counting
            watch.terminate();
            JsonNode summary = watch.awaitJson("summary", 30);
            assertEquals(0, watch.waitFor(30));
            long oracle = in.count("tcp.analysis.duplicate_ack");
            assertTrue(oracle > 0);
            assertEquals(oracle, summary.get("dupacks").asLong());
            assertEquals(oracle, watch.lines().stream().map(TcpinspectProcess::parse)
                    .filter(n -> n.get("type").asText().equals("dupack")).count());
            assertEquals("fd00:7c1::1", summary.get("top_dupack_flows").get(0).get("laddr").asText());
        }
    }
}
