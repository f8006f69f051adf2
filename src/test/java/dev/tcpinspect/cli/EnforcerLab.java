package dev.tcpinspect.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.enforce.Enforcer;
import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.testing.Capture;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.RequiresBpf;
import dev.tcpinspect.testing.TcpinspectProcess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The lab and the helpers of the enforcer's CLI tests ({@link EnforceCliTest}, {@link
 * EnforcePolicyCliTest}): a lab whose veth has a second subnet (198.19.5.0/24 and fd00:7c1:0:1::/64),
 * so that one client has an address the policy allows and one it denies; the enforcer runs from the
 * host's mount namespace with --netns, where its pins are visible to the policy commands.
 */
abstract class EnforcerLab {
    static final String DENIED_V4_CLIENT = "198.19.5.2";
    static final String DENIED_V4_SERVER = "198.19.5.1";
    static final String DENIED_V6_CLIENT = "fd00:7c1:0:1::2";
    static final String DENIED_V6_SERVER = "fd00:7c1:0:1::1";
    /** Allow the lab's first subnet inside a deny of both: the allow wins where it is more specific. */
    static final String PREFIXES = """
            deny: [198.18.0.0/15, "fd00:7c1::/32"]
            allow: [198.18.0.0/24, "fd00:7c1::/64"]
            """;

    Lab lab;
    Path dir;
    final List<Process> servers = new ArrayList<>();

    @BeforeEach
    void lab() throws IOException {
        lab = Lab.create();
        Cmd.run("ip", "-n", lab.clientNs(), "addr", "add", DENIED_V4_CLIENT + "/24", "dev", lab.clientIf()).ok();
        Cmd.run("ip", "-n", lab.serverNs(), "addr", "add", DENIED_V4_SERVER + "/24", "dev", lab.serverIf()).ok();
        Cmd.run("ip", "-n", lab.clientNs(), "addr", "add", DENIED_V6_CLIENT + "/64", "dev", lab.clientIf(), "nodad").ok();
        Cmd.run("ip", "-n", lab.serverNs(), "addr", "add", DENIED_V6_SERVER + "/64", "dev", lab.serverIf(), "nodad").ok();
        dir = Files.createTempDirectory("tcpinspect-enforce");
    }

    @AfterEach
    void cleanUp() throws IOException {
        servers.forEach(Process::destroyForcibly);
        // Whatever a failed test left: the enforcer's pins for this lab's namespace (a start of the CLI
        // saved when there are none, as after every test that passed), then the lab.
        if (Files.exists(folder())) {
            TcpinspectProcess.run(null, "enforce", "stop", "--netns", lab.serverNs());
        }
        lab.close();
        try (var files = Files.list(dir)) {
            for (Path p : files.toList()) {
                Files.delete(p);
            }
        }
        Files.delete(dir);
    }

    Path policy(String yaml) throws IOException {
        Path p = Files.createTempFile(dir, "policy-", ".yaml");
        Files.writeString(p, yaml);
        return p;
    }

    /** An HTTP server on every address of the server namespace. */
    void httpServer(int port) throws Exception {
        servers.add(httpServer(lab.serverNs(), port));
    }

    /** An HTTP server on every address of the namespace, once it answers; the caller stops it. */
    static Process httpServer(String netns, int port) throws Exception {
        Process p = new ProcessBuilder("ip", "netns", "exec", netns, "python3", "-m", "http.server",
                Integer.toString(port), "--bind", "::").redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (curl(netns, null, "::1", port) != 0) {
            if (System.nanoTime() > deadline) {
                p.destroyForcibly();
                throw new AssertionError("the test's HTTP server on port " + port + " did not start");
            }
            Thread.sleep(100);
        }
        return p;
    }

    /** curl's exit status for a request from the client's address `from` (0: a page came back; 28: timed out). */
    int curl(String from, String to, int port) {
        return curl(lab.clientNs(), from, to, port);
    }

    /** curl's exit status for a request from the namespace (from: the source address, or null for the route's). */
    static int curl(String netns, String from, String to, int port) {
        String host = to.contains(":") ? "[" + to + "]" : to;
        List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", netns, "curl", "-s", "-o", "/dev/null",
                "--max-time", "1.5"));
        if (from != null) {
            command.addAll(List.of("--interface", from));
        }
        command.add("http://" + host + ":" + port + "/");
        return Cmd.run(command, 30).exit();
    }

    TcpinspectProcess enforce(Path policy, String... more) {
        List<String> args = new ArrayList<>(List.of("enforce", "--policy", policy.toString(), "-i", lab.serverIf(),
                "--netns", lab.serverNs(), "--interval", "0"));
        args.addAll(List.of(more));
        // closed with SIGTERM: a kill -9 would leave its policy pinned until the clean-up after the test
        TcpinspectProcess p = TcpinspectProcess.start(null, args.toArray(String[]::new)).stoppedOnClose();
        awaitLine(p, "enforcing|auditing");
        return p;
    }

    static String awaitLine(TcpinspectProcess p, String regex) {
        long deadline = System.nanoTime() + 30_000_000_000L;
        Pattern pattern = Pattern.compile(regex);
        while (System.nanoTime() < deadline) {
            for (String line : p.lines()) {
                if (pattern.matcher(line).find()) {
                    return line;
                }
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
        throw new AssertionError("no line matching " + regex + "; stdout " + p.lines() + " stderr " + p.stderr());
    }

    Cmd.Result policyCommand(String... args) {
        List<String> all = new ArrayList<>(List.of("policy"));
        all.addAll(List.of(args));
        all.addAll(List.of("--netns", lab.serverNs()));
        return TcpinspectProcess.run(null, all.toArray(String[]::new));
    }

    /** `policy stats` counters by name. */
    Map<String, Long> stats() {
        Map<String, Long> out = new TreeMap<>();
        Matcher m = Pattern.compile("(?m)^([a-z_]+)\\s+(\\d+)\\s").matcher(policyCommand("stats").ok().out());
        while (m.find()) {
            out.put(m.group(1), Long.parseLong(m.group(2)));
        }
        return out;
    }

    /** What ip link says of the server interface's XDP program (ip names the program; bpftool net gives its id only). */
    String xdpOnServer() {
        return Cmd.run("ip", "-n", lab.serverNs(), "link", "show", "dev", lab.serverIf()).ok().out();
    }

    Path folder() {
        return Enforcer.folder(lab.server().inode());
    }

    long serverCounter(String name) {
        return Cmd.nstat(lab.serverNs(), name);
    }

    /** Writes another namespace's cookie into the enforcer's pins, as a deleted namespace's with this inode would have. */
    void markAnotherNamespaces() {
        Cmd.run("bpftool", "map", "update", "pinned", folder().resolve("enf_netns_cookie").toString(), "key", "0", "0", "0",
                "0", "value", "1", "2", "3", "4", "5", "6", "7", "8").ok();
    }

    static java.net.Socket connect(String from, String to, int port) throws IOException {
        java.net.Socket s = new java.net.Socket();
        s.bind(new java.net.InetSocketAddress(from, 0));
        s.connect(new java.net.InetSocketAddress(to, port), 1500);
        return s;
    }

    static void assertThrows(Class<? extends Throwable> type, org.junit.jupiter.api.function.Executable e) {
        try {
            e.execute();
        } catch (Throwable t) {
            for (Throwable c = t; c != null; c = c.getCause()) {
                if (type.isInstance(c)) {
                    return;
                }
            }
            throw new AssertionError("expected " + type.getSimpleName() + ", got " + t, t);
        }
        throw new AssertionError("expected " + type.getSimpleName() + ", but it succeeded");
    }

    /** Everything a packet is judged by, read from the enforcer's pinned tables. */
    String tables() {
        try (Enforcer.PinnedTables t = Enforcer.openPinned(folder()).orElseThrow()) {
            var tables = t.tables();
            var c = tables.config();
            return c + " " + tables.settings(c.activeGen()) + " " + tables.prefixes(c.activeGen()).stream()
                    .map(Object::toString).sorted().toList() + " " + java.util.Arrays.hashCode(tables.portFlags(c.activeGen()))
                    + " " + tables.servedOn(c.activeGen()).stream().map(Object::toString).sorted().toList();
        }
    }

    /** What the client's first read after sending `payload` gets: "reset", "eof", "data N", or nothing within 1.5 s. */
    String firstReply(int port, byte[] payload) {
        return lab.client().call(() -> {
            try (java.net.Socket s = connect(Lab.CLIENT_V4, Lab.SERVER_V4, port)) {
                s.getOutputStream().write(payload);
                s.getOutputStream().flush();
                try {
                    s.setSoTimeout(1500);
                    int n = s.getInputStream().read(new byte[100]);
                    return n < 0 ? "eof" : "data " + n;
                } catch (java.net.SocketTimeoutException quiet) {
                    return "nothing within 1500 ms";
                } catch (java.net.SocketException e) {
                    return e.getMessage().contains("reset") ? "reset" : e.getMessage();
                }
            }
        });
    }

    /** One connection from the client: its first payload in one write, then a close (a dropped one times out its close). */
    void send(int port, byte[] payload) {
        lab.client().call(() -> {
            try (java.net.Socket s = connect(Lab.CLIENT_V4, Lab.SERVER_V4, port)) {
                s.setSoLinger(true, 0);
                s.getOutputStream().write(payload);
                s.getOutputStream().flush();
                Thread.sleep(100);
            }
            return null;
        });
    }

    /** Nothing of the enforcer left: no XDP program on the interface, no pin, no lock, no program loaded. */
    void assertNothingLeft() {
        assertFalse(xdpOnServer().contains("xdp"), "nothing attached: " + xdpOnServer());
        assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()), "nothing attached");
        assertFalse(Files.exists(folder()), "nothing pinned");
        assertFalse(Files.exists(Path.of("/run/tcpinspect/enforce", folder().getFileName() + ".lock")), "no lock file");
    }

    /** The enforcer's command line, from the host's mount namespace into the lab's with --netns. */
    List<String> enforceCommand(Path policy, String... more) {
        List<String> command = new ArrayList<>(TcpinspectProcess.javaCommand());
        command.addAll(List.of("enforce", "--policy", policy.toString(), "-i", lab.serverIf(), "--netns", lab.serverNs()));
        command.addAll(List.of(more));
        return TcpinspectProcess.asLauncherStarts(command); // with the launcher's JIT options
    }

    /** The id of the XDP program on the server's interface, as ip link shows it. */
    long xdpProgramId() {
        Matcher m = Pattern.compile("prog/xdp id (\\d+)").matcher(xdpOnServer());
        assertTrue(m.find(), xdpOnServer());
        return Long.parseLong(m.group(1));
    }
}
