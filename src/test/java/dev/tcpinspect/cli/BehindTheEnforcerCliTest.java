package dev.tcpinspect.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
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
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code watch --xdp} on an interface the enforcer protects: one XDP program there (the enforcer's,
 * as ip link names it), the watch's probes behind it through its hand-off (bpf/lib/handoff.h),
 * counting exactly what the enforcer passed, which a capture on the server's side of the veth sees
 * (packet sockets see a frame after XDP has passed it). Judged by that capture, the client's own
 * capture (the SYNs the enforcer dropped were sent), curl's exit status, ip link and bpftool.
 */
@RequiresBpf
class BehindTheEnforcerCliTest {
    private Lab lab;
    private Path policy;
    private final List<Process> servers = new ArrayList<>();

    @BeforeEach
    void lab() throws IOException {
        lab = Lab.create();
        policy = Files.createTempFile("tcpinspect-behind-", ".yaml");
        Files.writeString(policy, "services: [8080]\nfailsafe: [22]\n");
    }

    @AfterEach
    void cleanUp() throws IOException {
        servers.forEach(Process::destroyForcibly);
        if (Files.exists(folder())) { // what a test left pinned (a start of the CLI saved when nothing is)
            TcpinspectProcess.run(null, "enforce", "stop", "--netns", lab.serverNs());
        }
        lab.close();
        Files.deleteIfExists(policy);
    }

    private void httpServer(int port) throws Exception {
        servers.add(EnforcerLab.httpServer(lab.serverNs(), port));
    }

    private static int curl(String netns, String to, int port) {
        return EnforcerLab.curl(netns, null, to, port);
    }

    private TcpinspectProcess enforce() {
        TcpinspectProcess p = TcpinspectProcess.start(null, "enforce", "--policy", policy.toString(), "-i", lab.serverIf(),
                "--netns", lab.serverNs(), "--interval", "0");
        EnforcerLab.awaitLine(p, "enforcing");
        return p;
    }

    private TcpinspectProcess watchBehind(String... more) {
        List<String> args = new ArrayList<>(List.of("watch", "--netns", lab.serverNs(), "-i", lab.serverIf(), "--xdp",
                "--format", "json", "--interval", "0.5", "--probe", "packets"));
        args.addAll(List.of(more));
        return TcpinspectProcess.start(null, args.toArray(String[]::new));
    }

    private String xdpOnServer() {
        return Cmd.run("ip", "-n", lab.serverNs(), "link", "show", "dev", lab.serverIf()).ok().out();
    }

    private Path folder() {
        return Enforcer.folder(lab.server().inode());
    }

    /** What the enforcer's observer slot holds, as bpftool dumps it ("[]" when empty). */
    private String observerSlot() {
        return Cmd.run("bpftool", "map", "dump", "pinned", folder().resolve("enf_observer").toString()).ok().out().strip();
    }

    @Test
    void aWatchAtXdpRunsBehindTheEnforcerAndCountsExactlyWhatItPasses() throws Exception {
        httpServer(8080);
        try (TcpinspectProcess enforcer = enforce()) {
            JsonNode summary;
            try (Capture arrived = Capture.incoming(lab.serverNs(), lab.serverIf());
                 Capture sent = Capture.outgoing(lab.clientNs(), lab.clientIf());
                 TcpinspectProcess watch = watchBehind()) {
                JsonNode ready = watch.awaitJson("ready", 30);
                assertEquals("xdp-behind-enforcer", ready.get("hook").asText(), ready.toString());
                assertTrue(xdpOnServer().contains("name tcpi_enforce"), "one XDP program, the enforcer's: " + xdpOnServer());
                assertNotEquals("[]", observerSlot(), "the watch's program is in the enforcer's observer slot");

                Cmd.Result second = TcpinspectProcess.run(null, "watch", "--netns", lab.serverNs(), "-i", lab.serverIf(),
                        "--xdp", "--probe", "packets", "--duration", "1", "--format", "json");
                assertNotEquals(0, second.exit());
                assertTrue(second.err().contains("another tcpinspect already (pid " + watch.pid() + ")"), second.err());
                assertEquals(1, second.err().strip().lines().count(), "one line: " + second.err());

                for (int i = 0; i < 6; i++) {
                    assertEquals(0, curl(lab.clientNs(), i % 2 == 0 ? Lab.SERVER_V4 : Lab.SERVER_V6, 8080));
                }
                assertEquals(3, Traffic.unansweredConnects(lab.client(), Lab.SERVER_V4, 9090, 3, 300),
                        "SYNs to a port not served are dropped");
                watch.awaitJson("interval", 10);
                watch.terminate();
                summary = watch.awaitJson("summary", 30);
                assertEquals(0, watch.waitFor(30), watch.stderr());
                arrived.stop();
                sent.stop();

                JsonNode packets = summary.get("packets");
                assertEquals(arrived.count(Capture.TCP), packets.get("tcp").asLong(), "tcp");
                assertEquals(arrived.count(Capture.SYN), packets.get("syn").asLong(), "syn");
                assertEquals(arrived.count(Capture.FIN), packets.get("fin").asLong(), "fin");
                assertEquals(arrived.count(Capture.PURE_ACK), packets.get("ack").asLong(), "pure ack");
                assertEquals(6, summary.get("syn_by_port").path("8080").asLong(), summary.toString());
                assertEquals(6, arrived.count(Capture.SYN + " && tcp.dstport == 8080"));
                assertEquals(3, sent.count(Capture.SYN + " && tcp.dstport == 9090"), "the client sent them");
                assertEquals(0, arrived.count(Capture.SYN + " && tcp.dstport == 9090"), "the enforcer dropped them");
                assertTrue(summary.get("syn_by_port").path("9090").isMissingNode(), "not seen behind it: " + summary);
            }
            assertEquals("[]", observerSlot(), "the watch took its program out on exit");
            assertFalse(!Cmd.programsNamed("tcpi_xdp_behind").isEmpty(), "its program is gone");
            assertTrue(xdpOnServer().contains("name tcpi_enforce"), "the enforcer protects on: " + xdpOnServer());
            assertEquals(28, curl(lab.clientNs(), Lab.SERVER_V4, 9090), "and still drops what is not served");
        }
    }

    @Test
    void cleanupTakesOutAWatchKilledBehindTheEnforcerAndAWatchGoesOnAtTcWhenTheEnforcerStops() throws Exception {
        httpServer(8080);
        try (TcpinspectProcess enforcer = enforce()) {
            try (TcpinspectProcess killed = watchBehind()) {
                killed.awaitJson("ready", 30);
                killed.kill9();
            }
            assertTrue(!Cmd.programsNamed("tcpi_xdp_behind").isEmpty(), "kill -9 leaves its program in the enforcer's slot");
            Cmd.Result cleanup = TcpinspectProcess.run(null, "cleanup").ok();
            assertTrue(cleanup.out().contains("removed the XDP probes a killed watch left behind the enforcer"), cleanup.out());
            assertEquals("[]", observerSlot());
            assertFalse(!Cmd.programsNamed("tcpi_xdp_behind").isEmpty(), "nothing of it left");

            try (TcpinspectProcess watch = watchBehind()) {
                watch.awaitJson("ready", 30);
                Cmd.Result stop = TcpinspectProcess.run(null, "enforce", "stop", "--netns", lab.serverNs());
                assertEquals(0, stop.exit(), stop.err());
                assertEquals(0, enforcer.waitFor(20), "enforce stop ended the enforcer: " + enforcer.stderr());
                AgentCliTest.awaitLog(watch, "the enforcer there was stopped; the ingress probes ran behind its XDP program"
                        + " and go on at TC ingress there", 30);
                assertFalse(xdpOnServer().contains("prog/xdp"), "the XDP hook is left free: " + xdpOnServer());
                try (Capture arrived = Capture.incoming(lab.serverNs(), lab.serverIf())) {
                    for (int i = 0; i < 3; i++) {
                        assertEquals(0, curl(lab.clientNs(), Lab.SERVER_V4, 8080));
                    }
                    for (int i = 0; i < 2; i++) {
                        assertEquals(7, curl(lab.clientNs(), Lab.SERVER_V4, 9090),
                                "nothing filters port 9090 now: the stack refuses the connection (curl's 7)");
                    }
                    // an enforcer started again takes the XDP hook; the probes at TC see what it passes
                    try (TcpinspectProcess again = enforce()) {
                        assertTrue(xdpOnServer().contains("name tcpi_enforce"), xdpOnServer());
                        // the first watch gave its claim back with the enforcer it ran behind: another may run behind this one
                        Cmd.Result behindAgain = TcpinspectProcess.run(null, "watch", "--netns", lab.serverNs(), "-i",
                                lab.serverIf(), "--xdp", "--probe", "packets", "--duration", "1", "--format", "json");
                        assertEquals(0, behindAgain.exit(), behindAgain.err());
                        assertTrue(behindAgain.out().contains("\"hook\":\"xdp-behind-enforcer\""), behindAgain.out());
                        assertEquals(2, Traffic.unansweredConnects(lab.client(), Lab.SERVER_V4, 9090, 2, 300));
                        assertEquals(0, curl(lab.clientNs(), Lab.SERVER_V4, 8080));
                        watch.awaitJson("interval", 10);
                        watch.terminate();
                        JsonNode summary = watch.awaitJson("summary", 30);
                        assertEquals(0, watch.waitFor(30), watch.stderr());
                        arrived.stop();
                        assertEquals(4, summary.get("syn_by_port").path("8080").asLong(), summary.toString());
                        assertEquals(2, arrived.count(Capture.SYN + " && tcp.dstport == 9090"), "only the refused ones arrived");
                        assertEquals(2, summary.get("syn_by_port").path("9090").asLong(), summary.toString());
                        assertEquals(arrived.count(Capture.TCP), summary.get("packets").get("tcp").asLong());
                        TcpinspectProcess.run(null, "enforce", "stop", "--netns", lab.serverNs()).ok();
                        assertEquals(0, again.waitFor(20), again.stderr());
                    }
                }
            }
        }
        assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()), "nothing attached");
        assertFalse(Files.exists(folder()), "nothing pinned");
    }

    /**
     * --netns from the host's mount namespace, no enforcer: the namespace's interface at TC, its
     * counts against a capture, and the watch lives through its interval checks (which enter the
     * namespace: it keeps root for them) to a clean end.
     */
    @Test
    void watchWithNetnsWatchesThatNamespaceFromTheHost() throws Exception {
        httpServer(8080);
        try (Capture arrived = Capture.incoming(lab.serverNs(), lab.serverIf());
             TcpinspectProcess watch = TcpinspectProcess.start(null, "watch", "--netns", lab.serverNs(), "-i",
                     lab.serverIf(), "--format", "json", "--interval", "0.5", "--probe", "packets")) {
            JsonNode ready = watch.awaitJson("ready", 30);
            assertEquals("tc-ingress", ready.get("hook").asText());
            for (int i = 0; i < 4; i++) {
                assertEquals(0, curl(lab.clientNs(), i % 2 == 0 ? Lab.SERVER_V4 : Lab.SERVER_V6, 8080));
            }
            Thread.sleep(2500); // several interval checks of the interfaces, in the namespace
            watch.terminate();
            JsonNode summary = watch.awaitJson("summary", 30);
            assertEquals(0, watch.waitFor(30), watch.stderr());
            arrived.stop();
            assertEquals(4, summary.get("syn_by_port").path("8080").asLong(), summary.toString());
            assertEquals(arrived.count(Capture.TCP), summary.get("packets").get("tcp").asLong());
            assertEquals(arrived.count(Capture.SYN), summary.get("packets").get("syn").asLong());
        }
        assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()), "nothing attached");
    }
}
