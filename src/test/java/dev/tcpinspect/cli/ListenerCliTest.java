package dev.tcpinspect.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.RequiresBpf;
import dev.tcpinspect.testing.TcpinspectProcess;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * watch --socket PID:PORT on a service of its own in the lab (python3 -m http.server): its requests
 * counted as curl made them, from the host's namespace with no interface of the lab watched; a bad
 * PID:PORT refused in one line; and after kill -9 the filter stays on the service's sockets until
 * `tcpinspect cleanup` removes it, leaving the service answering.
 */
@RequiresBpf
class ListenerCliTest {
    static final int SERVICE = 9510;

    private static boolean filterLoaded() throws InterruptedException {
        // a detached filter is freed after an RCU grace period: wait a moment for it to go
        for (long deadline = System.nanoTime() + 3_000_000_000L; System.nanoTime() < deadline; Thread.sleep(50)) {
            if (Cmd.programsNamed("tcpi_socket_filter").isBlank()) { // the watches of the tests beside this one aside
                return false;
            }
        }
        return true;
    }

    private static void curl(Lab lab, int times) {
        for (int i = 0; i < times; i++) {
            Cmd.run(List.of("ip", "netns", "exec", lab.clientNs(), "curl", "-sf", "-o", "/dev/null",
                    "http://" + Lab.SERVER_V4 + ":" + SERVICE + "/"), 30).ok();
        }
    }

    @Test
    void aServiceIsWatchedByItsSocketAndCleanupRemovesWhatAKilledWatchLeft() throws Exception {
        try (Lab lab = Lab.create()) {
            Process service = new ProcessBuilder("ip", "netns", "exec", lab.serverNs(), "python3", "-m", "http.server",
                    "--bind", Lab.SERVER_V4, "--protocol", "HTTP/1.1", Integer.toString(SERVICE))
                    .redirectErrorStream(true).start();
            try {
                BufferedReader out = new BufferedReader(new InputStreamReader(service.getInputStream()));
                assertTrue(out.readLine().startsWith("Serving HTTP"), "the service started");
                Thread.ofPlatform().daemon(true).start(() -> out.lines().forEach(l -> { }));
                String target = service.pid() + ":" + SERVICE;

                Cmd.Result bad = TcpinspectProcess.run(null, "watch", "--socket", service.pid() + ":1");
                assertEquals(2, bad.exit(), bad.err());
                assertTrue(bad.err().contains("has no TCP socket listening on port 1"), bad.err());

                try (TcpinspectProcess watch = TcpinspectProcess.start(null, "watch", "-i", "lo", "--probe", "listener",
                        "--socket", target, "--format", "json")) {
                    watch.awaitJson("ready", 60);
                    curl(lab, 1);
                    // a second watch of the same listener is refused, and leaves the first one's filter in place
                    Cmd.Result second = TcpinspectProcess.run(null, "watch", "-i", "lo", "--probe", "listener",
                            "--socket", target, "--duration", "1");
                    assertEquals(2, second.exit(), second.err());
                    assertEquals(1, second.err().lines().count(), second.err());
                    assertTrue(second.err().contains("another tcpinspect watches the listener on port " + SERVICE), second.err());
                    curl(lab, 2);
                    watch.terminate();
                    assertEquals(0, watch.waitFor(30), watch.stderr());
                    JsonNode summary = watch.lines().stream().map(TcpinspectProcess::parse)
                            .filter(j -> j.path("type").asText().equals("summary")).findFirst().orElseThrow();
                    // curl: SYN, ACK, request, ACK of the answer, FIN, last ACK per connection
                    assertEquals(3, summary.at("/listener_segments/syn/" + target).asLong(), summary.toString());
                    assertEquals(3, summary.at("/listener_segments/fin/" + target).asLong(), summary.toString());
                    assertEquals(3, summary.at("/listener_segments/data/" + target).asLong(), summary.toString());
                }
                assertTrue(!filterLoaded(), "a watch that ends detaches everything");

                try (TcpinspectProcess watch = TcpinspectProcess.start(null, "watch", "-i", "lo", "--probe", "listener",
                        "--socket", target, "--format", "json")) {
                    watch.awaitJson("ready", 60);
                    watch.kill9();
                }
                assertTrue(filterLoaded(), "after kill -9 the filter stays on the service's listener");
                curl(lab, 1); // the service never notices
                Cmd.Result cleanup = TcpinspectProcess.run(null, "cleanup");
                assertEquals(0, cleanup.exit(), cleanup.err());
                assertTrue(cleanup.out().contains("removed the socket filter a killed watch left on port " + SERVICE
                        + " of process " + service.pid()), cleanup.out());
                assertTrue(!filterLoaded(), "cleanup detached it: " + cleanup.out());
                curl(lab, 1);
            } finally {
                service.destroy();
                service.waitFor();
            }
        }
    }

    /**
     * A service whose listener carries a socket filter of its own (a classic one that accepts
     * everything, as a service may attach): watch --socket is refused in one line, exit 2, and the
     * service's filter stays (a second try is refused the same way, where an attach or a detach by
     * the first would have replaced or removed it).
     */
    @Test
    void aListenerWithAFilterOfItsOwnIsRefusedAndKeepsIt() throws Exception {
        String service = """
                import ctypes, socket, struct
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("%s", %d))
                s.listen()
                insn = ctypes.create_string_buffer(struct.pack("HBBI", 0x06, 0, 0, 0xffffffff))  # ret #-1: keep all
                s.setsockopt(socket.SOL_SOCKET, 26, struct.pack("HL", 1, ctypes.addressof(insn)))  # SO_ATTACH_FILTER
                print("ready", flush=True)
                while True:
                    c, _ = s.accept()
                    c.close()
                """.formatted(Lab.SERVER_V4, SERVICE + 1);
        try (Lab lab = Lab.create()) {
            Process p = new ProcessBuilder("ip", "netns", "exec", lab.serverNs(), "python3", "-c", service)
                    .redirectErrorStream(true).start();
            try {
                BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream()));
                assertEquals("ready", out.readLine());
                for (int attempt = 0; attempt < 2; attempt++) {
                    Cmd.Result r = TcpinspectProcess.run(null, "watch", "-i", "lo", "--probe", "listener", "--socket",
                            p.pid() + ":" + (SERVICE + 1), "--duration", "1");
                    assertEquals(2, r.exit(), r.err());
                    assertEquals(1, r.err().lines().count(), r.err());
                    assertTrue(r.err().contains("has a socket filter of its own (classic)"), r.err());
                }
                assertTrue(!filterLoaded(), "nothing of tcpinspect's stayed");
            } finally {
                p.destroy();
                p.waitFor();
            }
        }
    }
}
