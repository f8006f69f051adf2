package dev.tcpinspect.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.RequiresBpf;
import dev.tcpinspect.testing.RunsBeside;
import dev.tcpinspect.testing.SystemdManager;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The agent's unit (deploy/systemd/tcpinspect-agent.service) run by a real systemd ({@link
 * SystemdManager}) and driven by systemctl as an operator drives it: start, reload, stop. The unit's
 * start, reload and stop settings are taken from the file; its ExecStart runs as {@link
 * DeployCapabilitiesTest} runs it (nobody with the unit's capabilities, in a lab namespace), and its
 * output goes to a file instead of the journal.
 */
@RequiresBpf
@RunsBeside
class AgentUnitUnderSystemdTest {
    /** The unit's settings that decide how systemd starts, reloads and stops it. */
    private static final List<String> LIFECYCLE = List.of("Type", "ExecReload", "TimeoutStopSec", "Restart",
            "RestartSec", "KillMode", "KillSignal", "SuccessExitStatus");

    @Test
    void systemctlStartsReloadsAndStopsTheAgentCleanly(@TempDir Path tmp) throws Exception {
        Map<String, List<String>> service = DeployFilesTest.unitSection("Service");
        try (Lab lab = Lab.create(); SystemdManager systemd = SystemdManager.start()) {
            List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", lab.serverNs()));
            command.addAll(DeployCapabilitiesTest.nobodyWith(DeployCapabilitiesTest.unitCapabilities()));
            command.addAll(DeployCapabilitiesTest.unitCommand(tmp));
            Path log = tmp.resolve("journal");
            StringBuilder unit = new StringBuilder("[Service]\nExecStart=" + SystemdManager.execLine(command) + "\n");
            for (String key : LIFECYCLE) {
                for (String value : service.getOrDefault(key, List.of())) {
                    unit.append(key).append('=').append(value).append('\n');
                }
            }
            Path exits = tmp.resolve("exits");
            unit.append(SystemdManager.recordExit(exits)).append('\n');
            unit.append("StandardOutput=append:").append(log).append("\nStandardError=append:").append(log).append('\n');
            String name = systemd.unit("agent");
            systemd.install(name, unit.toString());

            systemd.systemctl("start", name).ok();
            SystemdManager.awaitLine(log, "\"msg\":\"ready\"", 60);
            assertEquals("active", systemd.show(name, "ActiveState").get("ActiveState"));
            String mainPid = systemd.show(name, "MainPID").get("MainPID");
            assertTrue(Cmd.procStatus(Long.parseLong(mainPid), "Name").contains("java"),
                    "the main process is the agent's JVM: " + Cmd.procStatus(Long.parseLong(mainPid), "Name"));

            systemd.systemctl("reload", name).ok(); // the unit's ExecReload: SIGHUP to $MAINPID
            SystemdManager.awaitLine(log, "\"msg\":\"reloaded\"", 60);
            assertEquals(mainPid, systemd.show(name, "MainPID").get("MainPID"), "reloaded in place");

            long start = System.nanoTime();
            systemd.systemctl("stop", name).ok(); // returns once systemd has seen the unit stop
            double seconds = (System.nanoTime() - start) / 1e9;
            assertEquals("inactive", systemd.show(name, "ActiveState").get("ActiveState"), "not failed");
            // how systemd saw the main process end: exited with 0, not killed by its SIGTERM nor after TimeoutStopSec
            assertEquals(List.of("success exited 0"), java.nio.file.Files.readAllLines(exits));
            String stopLine = SystemdManager.awaitLine(log, "\"msg\":\"stopped\"", 1);
            System.out.printf("agent unit under systemd: stopped in %.2f s (TimeoutStopSec=%s): %s%n", seconds,
                    service.get("TimeoutStopSec"), stopLine);
            assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()), "left attached");
            assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), "lo"), "left attached");
        }
    }
}
