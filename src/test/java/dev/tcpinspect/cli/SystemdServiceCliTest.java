package dev.tcpinspect.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.RequiresBpf;
import dev.tcpinspect.testing.RunsBeside;
import dev.tcpinspect.testing.SystemdManager;
import dev.tcpinspect.testing.TcpinspectProcess;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * watch and enforce as services of a real systemd ({@link SystemdManager}), stopped and reloaded by
 * systemctl: systemd sends SIGTERM to every process of the service and judges the stop by how the
 * main process ended, so a clean stop is the summary or "stopped:" line, exit 0 (not a signal, not a
 * timeout) and nothing left in the kernel. The agent's own unit is {@code AgentUnitUnderSystemdTest}.
 */
@RequiresBpf
@RunsBeside
class SystemdServiceCliTest extends EnforcerLab {
    private static SystemdManager systemd;

    @BeforeAll
    static void startSystemd() throws Exception {
        systemd = SystemdManager.start();
    }

    @AfterAll
    static void stopSystemd() throws Exception {
        if (systemd != null) {
            systemd.close();
        }
    }

    /** A unit of command whose output goes to output, installed; started by the caller. */
    private String install(String what, List<String> command, Path output, String... more) throws Exception {
        String name = systemd.unit(what);
        StringBuilder unit = new StringBuilder("[Service]\nType=exec\nExecStart=" + SystemdManager.execLine(command) + "\n");
        for (String line : more) {
            unit.append(line).append('\n');
        }
        unit.append(SystemdManager.recordExit(exits(name))).append('\n');
        unit.append("StandardOutput=append:").append(output).append("\nStandardError=append:").append(output).append('\n');
        systemd.install(name, unit.toString());
        return name;
    }

    private Path exits(String name) {
        return dir.resolve(name + ".exit");
    }

    /** systemctl stop, then how systemd says the service ended: exited with 0, not killed by its SIGTERM nor timed out. */
    private void stopAndAssertClean(String name) throws Exception {
        systemd.systemctl("stop", name).ok(); // returns once systemd has seen the unit stop, ExecStopPost included
        assertEquals("inactive", systemd.show(name, "ActiveState").get("ActiveState"), "not failed");
        assertEquals(List.of("success exited 0"), Files.readAllLines(exits(name)));
    }

    /**
     * A watch service ended by systemctl stop (SIGTERM to the service's processes) or by systemctl
     * kill --signal=INT (what Ctrl-C would send, to every process of the service).
     */
    @ParameterizedTest
    @ValueSource(strings = {"stop", "kill --signal=INT"})
    void systemctlEndsAWatchServiceWithItsSummaryAndNothingAttached(String how) throws Exception {
        Path output = dir.resolve("watch.out");
        List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", lab.serverNs()));
        command.addAll(TcpinspectProcess.javaCommand());
        command.addAll(List.of("watch", "-i", lab.serverIf(), "--format", "json"));
        TcpinspectProcess.asLauncherStarts(command);
        String name = install("watch", command, output);
        systemd.systemctl("start", name).ok();
        SystemdManager.awaitLine(output, "\"ready\"", 60);
        if (how.equals("stop")) {
            stopAndAssertClean(name);
        } else {
            List<String> kill = new ArrayList<>(List.of(how.split(" ")));
            kill.add(name);
            systemd.systemctl(kill.toArray(String[]::new)).ok();
            long deadline = System.nanoTime() + 30_000_000_000L;
            while (!systemd.show(name, "ActiveState").get("ActiveState").matches("inactive|failed")) {
                assertTrue(System.nanoTime() < deadline, "ended after SIGINT: " + Files.readString(output));
                Thread.sleep(100);
            }
            assertEquals("inactive", systemd.show(name, "ActiveState").get("ActiveState"), "not failed");
            assertEquals(List.of("success exited 0"), Files.readAllLines(exits(name)));
        }
        SystemdManager.awaitLine(output, "\"summary\"", 1);
        // its tcx links live in its descriptors, gone with the process that systemd saw exit (bpftool 7.1 lists tcx
        // links only host-wide, which a class beside the serial lane does not look at)
        assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()), "left attached");
    }

    /**
     * The enforcer as a service with an ExecReload that sends SIGHUP: systemctl reload applies the
     * edited policy (curl from the source it no longer denies gets through) and systemctl stop
     * removes everything.
     */
    @Test
    void systemctlReloadAppliesTheEditedPolicyAndStopRemovesTheEnforcer() throws Exception {
        httpServer(8080);
        Path policy = policy(PREFIXES);
        Path output = dir.resolve("enforce.out");
        String name = install("enforce", enforceCommand(policy, "--interval", "0"), output,
                "ExecReload=/bin/kill -HUP $MAINPID");
        systemd.systemctl("start", name).ok();
        SystemdManager.awaitLine(output, "^enforcing", 60);
        assertEquals(28, curl(DENIED_V4_CLIENT, DENIED_V4_SERVER, 8080), "denied by the policy it started with");

        Files.writeString(policy, PREFIXES.replace("deny: [198.18.0.0/15, ", "deny: ["));
        systemd.systemctl("reload", name).ok();
        SystemdManager.awaitLine(output, " reloaded " + java.util.regex.Pattern.quote(policy.toString()), 30);
        assertEquals(0, curl(DENIED_V4_CLIENT, DENIED_V4_SERVER, 8080), "served after the reload");

        stopAndAssertClean(name);
        SystemdManager.awaitLine(output, "^stopped:", 1);
        assertNothingLeft();
    }
}
