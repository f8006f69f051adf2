package dev.tcpinspect.cli;

import dev.tcpinspect.testing.RunsBeside;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.testing.RequiresBpf;
import dev.tcpinspect.testing.TcpinspectProcess;
import org.junit.jupiter.api.Test;

/**
 * tcpinspect upstreams in the lab's client namespace (the gateway): an upstream that answers and one
 * whose port is closed. The client's own results (connects that completed, connects refused) are the
 * oracle for the rows; the closed one's health change arrives as an alert line; SIGTERM ends it cleanly.
 * Then watch --upstream reports the same upstreams in its summary.
 */
@RequiresBpf
@RunsBeside
class UpstreamsCliTest {
    static final int OPEN = 9411;
    static final int CLOSED = 9412;

    @Test
    void theTableAndTheAlertAgreeWithWhatTheClientSaw() throws Exception {
        try (Lab lab = Lab.create();
             var open = Traffic.listen(lab.server(), Lab.SERVER_V6, OPEN)) {
            try (TcpinspectProcess p = TcpinspectProcess.start(lab.clientNs(), "upstreams", "--upstream",
                    "api=[" + Lab.SERVER_V6 + "]:" + OPEN, "--upstream", "down=" + Lab.SERVER_V4 + ":" + CLOSED,
                    "--format", "json", "--interval", "0.5")) {
                JsonNode ready = p.awaitJson("ready", 60);
                assertEquals(2, ready.get("upstreams").size(), ready.toString());
                assertEquals(4, Traffic.connect(lab.client(), Lab.SERVER_V6, OPEN, 4));
                assertEquals(6, Traffic.synToClosedPorts(lab.client(), Lab.SERVER_V4, CLOSED, 1)
                        + Traffic.synToClosedPorts(lab.client(), Lab.SERVER_V4, CLOSED, 1)
                        + Traffic.synToClosedPorts(lab.client(), Lab.SERVER_V4, CLOSED, 1)
                        + Traffic.synToClosedPorts(lab.client(), Lab.SERVER_V4, CLOSED, 1)
                        + Traffic.synToClosedPorts(lab.client(), Lab.SERVER_V4, CLOSED, 1)
                        + Traffic.synToClosedPorts(lab.client(), Lab.SERVER_V4, CLOSED, 1));
                JsonNode alert = p.awaitJson("upstream", 10);
                assertEquals("start", alert.get("state").asText(), alert.toString());
                assertEquals("down", alert.get("upstream").asText());
                assertEquals("unhealthy", alert.get("health").asText());
                assertTrue(alert.get("reasons").asText().contains("refused"), alert.toString());
                JsonNode rows = null;
                long deadline = System.nanoTime() + 10_000_000_000L;
                while (System.nanoTime() < deadline) {
                    rows = p.awaitJson("upstreams", 10).get("upstreams");
                    if (rows.get(0).get("connects").asLong() == 4 && rows.get(1).get("connects").asLong() == 6) {
                        break;
                    }
                }
                assertEquals("api", rows.get(0).get("upstream").asText(), rows.toString());
                assertEquals("healthy", rows.get(0).get("health").asText(), rows.toString());
                assertEquals(4, rows.get(0).get("connects").asLong(), rows.toString());
                assertEquals(0, rows.get(0).get("failed").asLong(), rows.toString());
                assertEquals("unhealthy", rows.get(1).get("health").asText(), rows.toString());
                assertEquals(6, rows.get(1).get("failed").asLong(), rows.toString());
                assertEquals(6, rows.get(1).get("failed_in_a_row").asLong(), rows.toString());
                p.terminate();
                assertEquals(0, p.waitFor(30), p.stderr());
            }
            // the text table, through the launcher's path: its header and a row per upstream
            try (TcpinspectProcess p = TcpinspectProcess.start(lab.clientNs(), "upstreams", "--upstream",
                    "api=[" + Lab.SERVER_V6 + "]:" + OPEN, "--duration", "1.5", "--interval", "0.5")) {
                assertEquals(0, p.waitFor(60), p.stderr());
                assertTrue(p.lines().stream().anyMatch(l -> l.startsWith("UPSTREAM") && l.contains("HEALTH")
                        && l.contains("HANDSHAKE-P99-MS")), p.lines().toString());
                assertTrue(p.lines().stream().anyMatch(l -> l.startsWith("api ") && l.contains("healthy")),
                        p.lines().toString());
            }
        }
    }
    /**
     * `upstreams | head -n 1`, in both formats: once head has its line and goes, upstreams ends within
     * an interval, exit 0 and nothing on stderr, as `watch | head` does (LifecycleCliTest).
     */
    @Test
    void aClosedPipeEndsUpstreamsQuietly() throws Exception {
        try (Lab lab = Lab.create();
             var open = Traffic.listen(lab.server(), Lab.SERVER_V6, OPEN)) {
            for (String format : java.util.List.of("text", "json")) {
                java.util.List<String> command = new java.util.ArrayList<>(TcpinspectProcess.javaCommand());
                // --duration: should the test fail, upstreams still ends (Cmd.run's timeout stops only bash)
                command.addAll(java.util.List.of("upstreams", "--upstream", "api=[" + Lab.SERVER_V6 + "]:" + OPEN,
                        "--format", format, "--interval", "0.5", "--duration", "28"));
                TcpinspectProcess.asLauncherStarts(command);
                long start = System.nanoTime();
                dev.tcpinspect.testing.Cmd.Result r = dev.tcpinspect.testing.Cmd.run(java.util.List.of("ip", "netns",
                        "exec", lab.clientNs(), "bash", "-c", "set -o pipefail; " + TcpinspectProcess.shellLine(command)
                                + " | head -n 1"), 40);
                double seconds = (System.nanoTime() - start) / 1e9;
                assertEquals(0, r.exit(), format + ": " + r.err());
                assertEquals("", r.err(), format + ": nothing on stderr");
                assertEquals(1, r.out().lines().count(), r.out());
                // from before the JVM's start (a few seconds at nice 10, beside the other tests) to its exit
                assertTrue(seconds < 20, format + ": upstreams went on for " + seconds + " s after head left");
            }
        }
    }
}
