package dev.tcpinspect.deploy;

import dev.tcpinspect.testing.RunsBeside;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.RequiresBpf;
import dev.tcpinspect.testing.TcpinspectProcess;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The agent run the way the deployment files run it, in a lab namespace: the systemd unit's
 * ExecStart as a user of no privilege with the unit's capabilities and no_new_privs, the DaemonSet's
 * command as a container runtime starts it (uid 0, every capability but the added ones dropped),
 * and, for each of the capabilities, the agent and the kernel without it. Scraped from the client's
 * namespace as Prometheus and the kubelet would from elsewhere.
 */
@RequiresBpf
@RunsBeside
class DeployCapabilitiesTest {
    private static final String MISSING = "grant CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON";
    private static final int PORT = 9977;

    @Test
    void theUnitsCommandServesAsANobodyWithOnlyTheUnitsCapabilities(@TempDir Path tmp) throws IOException {
        Set<String> caps = unitCapabilities();
        assertEquals(DeployFilesTest.CAPABILITIES, caps);
        try (Lab lab = Lab.create()) {
            List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", lab.serverNs()));
            command.addAll(nobodyWith(caps));
            command.addAll(unitCommand(tmp));
            try (TcpinspectProcess agent = TcpinspectProcess.startCommand(command)) {
                awaitLog(agent, "ready");
                Map<String, String> status = status(agent);
                assertEquals("65534", status.get("Uid").split("\\s+")[1], "effective uid");
                assertEquals(mask(caps), status.get("CapEff"));
                assertEquals(mask(caps), status.get("CapBnd"));
                assertEquals("1", status.get("NoNewPrivs"));

                String metrics = curl(lab, "/metrics");
                assertTrue(metrics.contains("tcpinspect_build_info{") && metrics.contains("tcpinspect_packets_total "), metrics);
                assertEquals("ok", curl(lab, "/healthz").strip());

                Cmd.run("kill", "-HUP", String.valueOf(status.get("Pid"))).ok(); // ExecReload
                awaitLog(agent, "reloaded");
                assertTrue(curl(lab, "/metrics").contains("tcpinspect_agent_reloads_total{result=\"applied\"} 1.0"));

                agent.terminate(); // systemctl stop
                assertEquals(0, agent.waitFor(15), agent.stderr());
                assertTrue(agent.stderr().contains("\"msg\":\"stopped\""), agent.stderr());
            }
            assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()), "left attached");
        }
    }

    /**
     * Without any one of the three the agent refuses at its start (its own check), and the kernel
     * refuses what the agent would do (every probe attached, without that check): CAP_BPF for maps
     * and programs at all, CAP_PERFMON for BTF-typed tracepoints and the pointer arithmetic of the
     * packet programs, CAP_NET_ADMIN for loading TC programs. With all three the same harness attaches.
     */
    @Test
    void withoutAnyOneOfThemTheAgentAndTheKernelRefuse(@TempDir Path tmp) throws IOException {
        Set<String> caps = unitCapabilities();
        String classPath = TcpinspectProcess.worldReadableClassPath();
        try (Lab lab = Lab.create()) {
            Cmd.Result control = attachEveryProbe(lab, caps, classPath);
            assertEquals(0, control.exit(), control.out() + control.err());
            assertTrue(control.out().startsWith("attached"), control.out());
            for (String dropped : caps) {
                Set<String> fewer = new TreeSet<>(caps);
                fewer.remove(dropped);
                List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", lab.serverNs()));
                command.addAll(nobodyWith(fewer));
                command.addAll(unitCommand(tmp));
                Cmd.Result agent = Cmd.run(command, 60);
                assertEquals(1, agent.exit(), "without " + dropped + ": " + agent.err());
                assertTrue(agent.err().contains(MISSING), agent.err());

                Cmd.Result kernel = attachEveryProbe(lab, fewer, classPath);
                assertEquals(3, kernel.exit(), "without " + dropped + " the kernel let it attach: " + kernel.out() + kernel.err());
                assertTrue(kernel.out().startsWith("refused: "), kernel.out());
                assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()), "left attached");
            }
        }
    }

    /**
     * The DaemonSet's container command, started as a runtime starts it: uid 0, the bounding set
     * reduced to the added capabilities (drop ALL), no_new_privs (allowPrivilegeEscalation: false),
     * $(HOST_IP) the node's address; its probes' /healthz from another host. As uid 65534 with
     * the capabilities only inheritable and bounding (Kubernetes sets no ambient ones), it refuses.
     */
    @Test
    void theDaemonSetsCommandServesAsTheRuntimeStartsItButNotAsNonRoot() throws IOException {
        DaemonSet ds = (DaemonSet) DeployFilesTest.kubernetesObjects(Files.readString(DeployFiles.DAEMONSET)).get("DaemonSet");
        Container c = ds.getSpec().getTemplate().getSpec().getContainers().getFirst();
        Set<String> caps = c.getSecurityContext().getCapabilities().getAdd().stream().map(a -> "CAP_" + a)
                .collect(Collectors.toCollection(TreeSet::new));
        List<String> command = runnable(c.getCommand(), word -> word.replace("$(HOST_IP)", Lab.SERVER_V4));
        String list = setprivList(caps);
        try (Lab lab = Lab.create()) {
            List<String> asRuntime = new ArrayList<>(List.of("ip", "netns", "exec", lab.serverNs(), "setpriv", "--no-new-privs",
                    "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=" + list));
            asRuntime.addAll(command);
            try (TcpinspectProcess agent = TcpinspectProcess.startCommand(asRuntime)) {
                awaitLog(agent, "ready");
                Map<String, String> status = status(agent);
                assertEquals("0", status.get("Uid").split("\\s+")[1]);
                assertEquals(mask(caps), status.get("CapEff"));
                assertEquals("ok", curl(lab, "/healthz").strip());
                assertTrue(curl(lab, "/metrics").contains("tcpinspect_build_info{"));
                agent.terminate();
                assertEquals(0, agent.waitFor(15), agent.stderr());
            }
            List<String> nonRoot = new ArrayList<>(List.of("ip", "netns", "exec", lab.serverNs(), "setpriv", "--no-new-privs",
                    "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=" + list, "--ambient-caps=-all",
                    "--bounding-set=" + list));
            nonRoot.addAll(command);
            Cmd.Result refused = Cmd.run(nonRoot, 60);
            assertEquals(1, refused.exit(), refused.err());
            assertTrue(refused.err().contains(MISSING), refused.err());
            assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()), "left attached");
        }
    }

    static Set<String> unitCapabilities() {
        Set<String> caps = new TreeSet<>();
        for (String v : DeployFilesTest.unitSection("Service").get("AmbientCapabilities")) {
            caps.addAll(List.of(v.strip().split("\\s+")));
        }
        return caps;
    }

    /**
     * The unit's ExecStart with this JVM for its JVM, a world-readable copy of the class path for
     * the jar and of deploy/systemd/agent.yaml for /etc/tcpinspect/agent.yaml.
     */
    static List<String> unitCommand(Path tmp) throws IOException {
        Path dir = tmp.resolve("etc");
        Files.createDirectories(dir);
        Path config = dir.resolve("agent.yaml");
        Files.copy(DeployFiles.AGENT_CONFIG, config, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.setPosixFilePermissions(config, PosixFilePermissions.fromString("rw-r--r--"));
        List<String> exec = DeployFilesTest.execStart();
        return runnable(exec, word -> word.equals("/etc/tcpinspect/agent.yaml") ? config.toString() : word);
    }

    /**
     * A deployed command line (java ... -jar JAR agent ...) as this test runs it: this JVM, the
     * build's classes instead of the jar (with the native access its manifest grants), and each other
     * word through substitute.
     */
    private static List<String> runnable(List<String> deployed, java.util.function.UnaryOperator<String> substitute) {
        List<String> command = new ArrayList<>();
        for (int i = 0; i < deployed.size(); i++) {
            String word = deployed.get(i);
            if (i == 0) {
                command.add(ProcessHandle.current().info().command().orElseThrow());
                command.addAll(RunsBeside.Mark.jvmOptions()); // what the other tests' checks for leftovers know it by
            } else if (word.equals("-jar")) {
                // the flag stands in for the jar's manifest, which grants native access under -jar
                command.addAll(List.of("--enable-native-access=ALL-UNNAMED", "-cp", TcpinspectProcess.worldReadableClassPath(),
                        "dev.tcpinspect.cli.Main"));
                i++;
            } else {
                command.add(substitute.apply(word));
            }
        }
        return command;
    }

    private static Cmd.Result attachEveryProbe(Lab lab, Set<String> caps, String classPath) {
        List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", lab.serverNs()));
        command.addAll(nobodyWith(caps));
        command.addAll(TcpinspectProcess.javaCommand(classPath, AttachEveryProbe.class.getName()));
        command.add(lab.serverIf());
        return Cmd.run(command, 90);
    }

    /** setpriv as nobody with these capabilities (effective, inheritable, ambient, bounding) and no_new_privs. */
    static List<String> nobodyWith(Set<String> caps) {
        String list = setprivList(caps);
        return List.of("setpriv", "--no-new-privs", "--reuid=65534", "--regid=65534", "--clear-groups",
                "--inh-caps=" + list, "--ambient-caps=" + list, "--bounding-set=" + list);
    }

    private static String setprivList(Set<String> caps) {
        StringBuilder s = new StringBuilder("-all");
        for (String c : caps) {
            s.append(",+").append(c.substring("CAP_".length()).toLowerCase(Locale.ROOT));
        }
        return s.toString();
    }

    /** The capability mask /proc/PID/status shows for these. */
    private static String mask(Set<String> caps) {
        Map<String, Integer> bits = Map.of("CAP_NET_ADMIN", 12, "CAP_SYS_ADMIN", 21, "CAP_PERFMON", 38, "CAP_BPF", 39);
        long m = 0;
        for (String c : caps) {
            Integer bit = bits.get(c);
            assertNotNull(bit, "unknown capability " + c);
            m |= 1L << bit;
        }
        return String.format("%016x", m);
    }

    private static void awaitLog(TcpinspectProcess agent, String msg) {
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (!agent.stderr().contains("\"msg\":\"" + msg + "\"")) {
            if (System.nanoTime() > deadline || agent.exitsWithin(0)) {
                throw new AssertionError("no '" + msg + "' log line: " + agent.stderr());
            }
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
    }

    /** /proc/PID/status of the agent's JVM (ip netns exec and setpriv exec it in place), and its Pid. */
    private static Map<String, String> status(TcpinspectProcess agent) throws IOException {
        Path proc = Path.of("/proc", String.valueOf(agent.pid()));
        assertEquals("java", Files.readString(proc.resolve("comm")).strip(), "the process is not the JVM");
        return Files.readAllLines(proc.resolve("status")).stream().filter(l -> l.contains(":"))
                .collect(Collectors.toMap(l -> l.substring(0, l.indexOf(':')), l -> l.substring(l.indexOf(':') + 1).strip(),
                        (a, b) -> a));
    }

    /** A GET from the client's namespace to the server's address, as a scraper on another host. */
    private static String curl(Lab lab, String path) {
        return Cmd.run(List.of("ip", "netns", "exec", lab.clientNs(), "curl", "-sf", "--max-time", "10",
                "http://" + Lab.SERVER_V4 + ":" + PORT + path), 30).ok().out();
    }
}
