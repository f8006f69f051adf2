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
 * the numbers it shows are /api/snapshot's; a screenshot is kept in target/screenshots for a person
 * to look at.
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
        try (Lab lab = Lab.create();
             var echo = Traffic.listen(lab.server(), Lab.SERVER_V4, 8080);
             TcpinspectProcess agent = TcpinspectProcess.start(lab.serverNs(), "agent", "-i", lab.serverIf())) {
            AgentCliTest.awaitLog(agent, " info ready ", 30);
            assertEquals(12, Traffic.connect(lab.client(), Lab.SERVER_V4, 8080, 12));
            Thread.sleep(1500); // readings after the traffic; nothing moves after this but the page's own requests
            JsonNode snapshot = TcpinspectProcess.parse(Http.get(lab.serverNs(), "http://127.0.0.1:9977/api/snapshot").body());

            String dom = chromium(lab, profile, "--dump-dom");
            chromium(lab, profile, "--screenshot=" + shots.toAbsolutePath().resolve("agent-page.png"), "--window-size=1280,1400");
            assertTrue(Files.size(shots.resolve("agent-page.png")) > 10_000, "a screenshot of a drawn page");

            assertTrue(dom.contains(lab.serverIf() + " (tc-ingress), probes packets, conn"), dom);
            // the latency table's row of accepted handshakes: its count is the snapshot's
            List<String> row = row(dom, "handshake_ms passive");
            assertEquals(snapshot.at("/total/handshake_ms/passive/count").asLong(), Long.parseLong(row.get(1).replace(",", "")));
            assertEquals(12, Long.parseLong(row.get(1).replace(",", "")));
            assertEquals(snapshot.at("/total/handshake_ms/passive/p50").asDouble(), Double.parseDouble(row.get(3)), 0.005);
            // the map of SYNs by port: 8080's count is the snapshot's
            List<String> port = row(dom, "8080");
            assertEquals(snapshot.at("/total/syn_by_port/8080").asLong(), Long.parseLong(port.get(1).replace(",", "")));
            assertTrue(dom.contains("<div class=\"n\">packets.syn</div>"), "a card per counter");
            assertTrue(dom.contains("<div id=\"status\" class=\"\">"), "neither stale nor unanswered: " + dom);
        } finally {
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
