package dev.tcpinspect.cli;

import dev.tcpinspect.testing.RunsBeside;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.RequiresBpf;
import dev.tcpinspect.testing.TcpinspectProcess;
import org.junit.jupiter.api.Test;

/**
 * The detection probes through the command line: a setting given with --set reaches the kernel,
 * alerts come as JSON event lines of their type with the fields the README lists, and the summary
 * counts them; in the table view an alert is a line of its own.
 */
@RequiresBpf
@RunsBeside
class DetectionWatchCliTest {
    @Test
    void aLoweredScanThresholdAlertsOnEightClosedPortsInJsonAndInTheTable() throws Exception {
        try (Lab lab = Lab.create();
             TcpinspectProcess json = TcpinspectProcess.start(lab.serverNs(), "watch", "-i", lab.serverIf(),
                     "--format", "json", "--probe", "scan", "--set", "scan.closed_ports=5", "--set", "scan.quiet=1")) {
            json.awaitJson("ready", 60);
            assertEquals(8, Traffic.synToClosedPorts(lab.client(), Lab.SERVER_V4, 9700, 8));
            JsonNode start = json.awaitJson("scan", 10);
            assertEquals("start", start.path("state").asText(), start.toString());
            assertEquals(Lab.CLIENT_V4, start.path("source").asText(), start.toString());
            assertEquals("ipv4", start.path("family").asText(), start.toString());
            assertEquals("syn", start.path("style").asText(), start.toString());
            assertTrue(start.path("closed_ports").asLong() >= 5, start.toString());
            for (String field : new String[] {"ports", "handshakes", "sample_ports", "first_seen", "last_seen"}) {
                assertTrue(start.has(field), field + " in " + start);
            }
            JsonNode end = json.awaitJson("scan", 10);
            while (end.path("state").asText().equals("update")) { // the ports the scan touched after its start
                end = json.awaitJson("scan", 10);
            }
            assertEquals("end", end.path("state").asText(), end.toString());
            // The estimate counts the bits the ports' seeded hashes chose in a set of 512 (bpf/probes/scan.h),
            // and the sample keeps the ports that set a new bit: eight ports share a bit with probability
            // 1 - (511/512 x ... x 505/512) = 5.4% per run (a new seed each start), and then the estimate
            // and the sample both say seven. Anything else is wrong.
            java.util.List<Integer> sample = java.util.Arrays.stream(end.path("sample_ports").asText()
                    .replaceAll("[\\[\\] ]", "").split(",")).filter(x -> !x.isEmpty()).map(Integer::valueOf).toList();
            long closed = end.path("closed_ports").asLong();
            assertTrue(closed == 8 || (closed == 7 && sample.size() == 7),
                    "eight closed ports, estimated from their bits (seven when two share one): " + end);
            assertEquals(closed, sample.size(), end.toString());
            assertTrue(sample.stream().allMatch(p -> p >= 9700 && p < 9708), end.toString());
            assertEquals(sample.size(), new java.util.HashSet<>(sample).size(), end.toString());
            json.terminate();
            assertEquals(0, json.waitFor(30), json.stderr());
            JsonNode summary = TcpinspectProcess.parse(json.lines().getLast());
            assertEquals(1, summary.path("alerts").path("port_scan").asLong(), summary.toString());
            assertEquals(1, summary.path("port_scans").size(), summary.toString());
        }
        // With the default threshold (15 closed ports within 5 s), eight closed ports are no scan and
        // twenty are; in the table view the alert is a line of its own.
        try (Lab lab = Lab.create();
             TcpinspectProcess table = TcpinspectProcess.start(lab.serverNs(), "watch", "-i", lab.serverIf(),
                     "--probe", "scan")) {
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (table.lines().stream().noneMatch(l -> l.startsWith("Watching")) && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            Traffic.synToClosedPorts(lab.client(), Lab.SERVER_V6, 9700, 8);
            Thread.sleep(2500); // more than a watch's second: an alert would be out
            assertTrue(table.lines().stream().noneMatch(l -> l.startsWith("!!")), "eight is below 15: " + table.lines());
            Traffic.synToClosedPorts(lab.client(), Lab.SERVER_V6, 9800, 20);
            deadline = System.nanoTime() + 10_000_000_000L;
            while (table.lines().stream().noneMatch(l -> l.startsWith("!! ALERT")) && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            table.terminate();
            table.waitFor(30);
            String alert = table.lines().stream().filter(l -> l.startsWith("!! ALERT")).findFirst().orElse("");
            assertTrue(alert.contains("port scan (syn) from " + Lab.CLIENT_V6) && alert.endsWith("(ipv6)"),
                    "the table view's alert line: " + table.lines());
        }
        Cmd.Result quiet = TcpinspectProcess.run(null, "watch", "--probe", "scan", "-i", "lo", "--duration", "1");
        assertEquals(0, quiet.exit(), quiet.err());
    }
}
