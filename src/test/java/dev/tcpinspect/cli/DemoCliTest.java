package dev.tcpinspect.cli;

import dev.tcpinspect.testing.RunsBeside;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.RequiresBpf;
import dev.tcpinspect.testing.TcpinspectProcess;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

@RequiresBpf
@RunsBeside
class DemoCliTest {
    /** Tests run one at a time and close their labs, so any lab namespace now is the demo's. */
    /** A lab namespace left by the demo (this JVM's own labs, those of the tests beside this one among them, aside). */
    private static boolean labLeft() {
        String ours = Lab.PREFIX + Long.toString(ProcessHandle.current().pid(), 36) + "x";
        return Cmd.run("ip", "netns", "list").ok().out().lines()
                .anyMatch(l -> l.startsWith(Lab.PREFIX) && !l.startsWith(ours));
    }

    @Test
    void demoCountsWhatItsTrafficDidAndRemovesItsLab() {
        Cmd.Result r = TcpinspectProcess.run(null, "demo", "--rounds", "1", "--connections", "8", "--closed-ports", "4");
        assertEquals(0, r.exit(), r.err());
        Matcher m = Pattern.compile("(?m)^  (SYN|SYN-ACK|FIN|RST)\\s+(\\d+)\\s+(\\d+)$").matcher(r.out());
        int rows = 0;
        while (m.find()) {
            rows++;
            assertEquals(m.group(2), m.group(3), m.group(1) + " expected vs counted:\n" + r.out());
        }
        assertEquals(4, rows, r.out());
        assertTrue(r.out().contains("8080"), r.out());
        assertFalse(labLeft(), "the demo removed its namespaces");
    }

    @Test
    void ctrlCDuringTheDemoStillRemovesTheLab() {
        try (TcpinspectProcess demo = TcpinspectProcess.start(null, "demo", "--rounds", "30", "--format", "json")) {
            demo.awaitJson("ready", 30);
            Cmd.run("kill", "-INT", Long.toString(demo.pid())).ok();
            assertEquals("summary", demo.awaitJson("summary", 30).get("type").asText());
            assertEquals(0, demo.waitFor(30));
        }
        assertFalse(labLeft(), "the demo removed its namespaces");
    }
}
