package dev.tcpinspect.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.Http;
import dev.tcpinspect.testing.RequiresBpf;
import dev.tcpinspect.testing.TcpinspectProcess;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The agent's live page in headless Chromium (Debian's), inside the lab's namespace: it loads, and
 * the numbers it shows are /api/snapshot's and /api/alerts': a card per counter, the latency table,
 * the histograms' bars, the drops by reason, the alert under way, the top flows; a screenshot and
 * the page as drawn are kept in target/screenshots for a person to look at.
 */
@RequiresBpf
class AgentPageTest {
    private static final String CHROMIUM = "/usr/bin/chromium";

    @Test
    void thePageShowsTheSnapshotsNumbers() throws Exception {
        if (!Files.isExecutable(Path.of(CHROMIUM)) && System.getenv("CI") == null) {
            Assumptions.abort("chromium is not installed (apt-get install chromium)");
        }
        Path profile = Files.createTempDirectory("chromium");
        Path shots = Path.of("target", "screenshots");
        Files.createDirectories(shots);
        // the scan's alert stays under way for the page to show (it ends after a minute without a probe)
        Path config = Files.createTempFile("agent", ".yaml");
        Files.writeString(config, "set: {scan.quiet: 60}\n");
        try (Lab lab = Lab.create();
             var echo = Traffic.listen(lab.server(), Lab.SERVER_V4, 8080);
             TcpinspectProcess agent = TcpinspectProcess.start(lab.serverNs(), "agent", "-i", lab.serverIf(), "--config",
                     config.toString())) {
            AgentCliTest.awaitLog(agent, " info ready ", 30);
            assertEquals(12, Traffic.connect(lab.client(), Lab.SERVER_V4, 8080, 12));
            // SYNs to 20 closed ports: drops (NO_SOCKET) and a scan alert (15 closed ports in 5 s)
            assertEquals(20, Traffic.synToClosedPorts(lab.client(), Lab.SERVER_V4, 9000, 20));
            Thread.sleep(1500); // readings after the traffic; nothing moves after this but the page's own requests
            JsonNode snapshot = TcpinspectProcess.parse(Http.get(lab.serverNs(), "http://127.0.0.1:9977/api/snapshot").body());

            JsonNode alerts = TcpinspectProcess.parse(Http.get(lab.serverNs(), "http://127.0.0.1:9977/api/alerts").body());
            String dom = chromium(lab, profile, "--dump-dom");
            Files.writeString(shots.resolve("agent-page.html"), dom); // kept beside the screenshot
            chromium(lab, profile, "--screenshot=" + shots.toAbsolutePath().resolve("agent-page.png"), "--window-size=1280,1400");
            assertTrue(Files.size(shots.resolve("agent-page.png")) > 10_000, "a screenshot of a drawn page");

            assertTrue(dom.contains(lab.serverIf() + " (tc-ingress), probes packets, conn"), dom);
            // the latency table's row of accepted handshakes: its count is the snapshot's
            List<String> row = row(dom, "handshake_ms passive");
            assertEquals(snapshot.at("/total/handshake_ms/passive/count").asLong(), Long.parseLong(row.get(1).replace(",", "")));
            assertEquals(12, Long.parseLong(row.get(1).replace(",", "")));
            // two decimals on the page: off by up to half the last, exactly half when the value ends in 5 (0.015 -> 0.02)
            assertEquals(snapshot.at("/total/handshake_ms/passive/p50").asDouble(), Double.parseDouble(row.get(3)), 0.005 + 1e-9);
            // the map of SYNs by port: 8080's count is the snapshot's
            List<String> port = row(dom, "8080");
            assertEquals(snapshot.at("/total/syn_by_port/8080").asLong(), Long.parseLong(port.get(1).replace(",", "")));
            assertTrue(dom.contains("<div class=\"n\">packets.syn</div>"), "a card per counter");
            // the histogram of accepted handshakes: its bars' counts are the snapshot's buckets, 12 in all
            Matcher hist = Pattern.compile("<table class=\"hist\"><tr><th>handshake_ms passive</th>(.*?)</table>")
                    .matcher(dom);
            assertTrue(hist.find(), "a histogram of the accepted handshakes: " + dom);
            Matcher bar = Pattern.compile("<tr><td class=\"t\">([0-9.,]+) to ([0-9.,]+)</td><td>([0-9,]+)</td>")
                    .matcher(hist.group(1));
            List<Long> bars = new ArrayList<>();
            while (bar.find()) {
                bars.add(Long.parseLong(bar.group(3).replace(",", "")));
            }
            List<Long> buckets = new ArrayList<>();
            snapshot.at("/total/handshake_ms/passive/buckets").forEach(b -> buckets.add(b.get(2).asLong()));
            assertEquals(buckets, bars, "the bars against /api/snapshot's buckets");
            assertEquals(12, bars.stream().mapToLong(Long::longValue).sum());
            // drops by reason: the SYNs to closed ports
            assertEquals(snapshot.at("/total/drops/NO_SOCKET").asLong(), Long.parseLong(row(dom, "NO_SOCKET").get(1)));
            assertEquals(20, snapshot.at("/total/drops/NO_SOCKET").asLong());
            // the alert under way: the scan of those ports, as /api/alerts has it
            // (another alert may have started and ended meanwhile: the resets of those SYNs make a cycling one now and then)
            JsonNode scan = null;
            for (JsonNode a : alerts.get("active")) {
                scan = a.path("type").asText().equals("scan") ? a : scan;
            }
            assertTrue(scan != null, "a scan alert under way: " + alerts);
            assertTrue(dom.contains("<div class=\"alert\">scan from " + scan.get("source").asText() + " (ipv4)"),
                    "the alert on the page: " + dom);
            // top flows: the drops' table, a row per flow /api/snapshot lists, each port as it is
            int flows = snapshot.at("/total/top_drop_flows").size();
            assertTrue(flows > 0, snapshot.toString());
            Matcher top = Pattern.compile("<b>top_drop_flows</b><table>(.*?)</table>").matcher(dom);
            assertTrue(top.find(), "a table of the top drop flows: " + dom);
            assertEquals(flows + 1, top.group(1).split("<tr>").length - 1, "a header and a row per flow");
            for (JsonNode flow : snapshot.at("/total/top_drop_flows")) {
                String endpoints = "<td class=\"t\">" + flow.get("lport").asInt() + "</td><td class=\"t\">"
                        + flow.get("raddr").asText() + "</td><td class=\"t\">" + flow.get("rport").asInt() + "</td>";
                assertTrue(top.group(1).contains(endpoints), "the flow " + flow + " on the page: " + top.group(1));
            }
            assertTrue(dom.contains("<div id=\"status\" class=\"\">"), "neither stale nor unanswered: " + dom);
        } finally {
            Files.deleteIfExists(config);
            Cmd.run("rm", "-rf", profile.toString());
        }
    }

    /** Headless Chromium in the lab's server namespace, given time for the page's scripts and requests. */
    private static String chromium(Lab lab, Path profile, String... what) {
        List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", lab.serverNs(), CHROMIUM, "--headless",
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--user-data-dir=" + profile,
                "--virtual-time-budget=5000"));
        command.addAll(List.of(what));
        command.add("http://127.0.0.1:9977/");
        Cmd.Result r = Cmd.run(command, 90);
        assertEquals(0, r.exit(), r.err());
        return r.out();
    }

    /** The cells of the table row whose first cell is the label. */
    private static List<String> row(String dom, String label) {
        Matcher m = Pattern.compile("<tr><td class=\"t\">" + Pattern.quote(label) + "</td>(.*?)</tr>").matcher(dom);
        assertTrue(m.find(), "no row " + label + " in " + dom);
        List<String> cells = new ArrayList<>(List.of(label));
        Matcher c = Pattern.compile("<td[^>]*>(.*?)</td>").matcher(m.group(1));
        while (c.find()) {
            cells.add(c.group(1));
        }
        return cells;
    }
}
