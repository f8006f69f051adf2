package dev.tcpinspect.probe.listener;

import org.junit.jupiter.api.parallel.Isolated;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.probe.ProbeSet;
import dev.tcpinspect.testing.Capture;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.RequiresBpf;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A service of its own (python3 -m http.server in the lab's server namespace, one dual-stack
 * listener, HTTP/1.1 so that it keeps a connection open after answering): the listener probe takes its listening socket by pid and port, and counts exactly the
 * segments that reach it and its connections, as a capture on the server's side of the veth sees
 * those for its port; another service's port beside it is not counted. At the end, nothing of
 * tcpinspect stays on the service's sockets (the program is gone from the kernel), even on a
 * connection still open, and the service goes on answering.
 */
@RequiresBpf
// Alone, after the rest (RunsBeside explains the two lanes): it looks host-wide (bpftool) for the socket filter it loaded in this JVM, which a class loading probes beside it would blur.
@Isolated
class ListenerProbeTest {
    static final int SERVICE = 9500;
    static final int OTHER = 9501;

    @Test
    void aServicesListenerAndItsConnectionsAreCountedAsTheCaptureSeesThem() throws Exception {
        try (Lab lab = Lab.create();
             var other = Traffic.listen(lab.server(), Lab.SERVER_V4, OTHER)) {
            Process service = new ProcessBuilder("ip", "netns", "exec", lab.serverNs(), "python3", "-m", "http.server",
                    "--bind", "::", "--protocol", "HTTP/1.1", Integer.toString(SERVICE)).redirectErrorStream(true).start();
            try {
                BufferedReader out = new BufferedReader(new InputStreamReader(service.getInputStream()));
                assertTrue(out.readLine().startsWith("Serving HTTP"), "the service started");
                Thread.ofPlatform().daemon(true).start(() -> out.lines().forEach(l -> { })); // its access log
                ListenerProbe probe = new ListenerProbe();
                probe.set("add", service.pid() + ":" + SERVICE);
                Capture in = Capture.incoming(lab.serverNs(), lab.serverIf());
                Socket held;
                try (ProbeSet set = ProbeSet.start(List.of(probe), ProbeSet.Options.defaults())) {
                    for (String address : List.of(Lab.SERVER_V4, "[" + Lab.SERVER_V6 + "]")) {
                        for (int i = 0; i < 3; i++) {
                            Cmd.run(List.of("ip", "netns", "exec", lab.clientNs(), "curl", "-sf", "-o", "/dev/null",
                                    "http://" + address + ":" + SERVICE + "/"), 30).ok();
                        }
                    }
                    assertEquals(2, Traffic.connect(lab.client(), Lab.SERVER_V4, OTHER, 2));
                    // only the service holds its listener: a copy kept here would keep it listening after the
                    // service let go of it (clients queued to nobody, its restart refused: EADDRINUSE)
                    String holders = Cmd.run(List.of("ip", "netns", "exec", lab.serverNs(), "ss", "-Htlnp", "sport", "=",
                            ":" + SERVICE), 30).ok().out();
                    assertTrue(holders.contains("python3") && !holders.contains("java"), holders);
                    // a connection accepted while watched and still open when the watch ends
                    held = lab.client().call(() -> {
                        Socket s = new Socket();
                        s.connect(new InetSocketAddress(Lab.SERVER_V4, SERVICE), 5000);
                        s.getOutputStream().write("GET / HTTP/1.1\r\nHost: x\r\n\r\n".getBytes());
                        s.getInputStream().read(new byte[100]);
                        return s;
                    });
                    Thread.sleep(300);
                    Map<String, Long> counted = probe.counts().get(service.pid() + ":" + SERVICE);
                    String port = "tcp.dstport==" + SERVICE;
                    long payload = in.fields(port, "tcp.len").stream().mapToLong(Long::parseLong).sum();
                    String seen = "probe " + counted + "\ncapture:\n" + in.describe(port);
                    assertEquals(in.count(port), counted.get("segments"), seen);
                    assertEquals(in.count(port + " && " + Capture.SYN), counted.get("syn"), seen);
                    assertEquals(7, counted.get("syn"), "six curls and the held connection");
                    assertEquals(in.count(port + " && " + Capture.FIN), counted.get("fin"), seen);
                    assertEquals(in.count(port + " && " + Capture.RST), counted.get("rst"), seen);
                    assertEquals(in.count(port + " && " + Capture.PURE_ACK), counted.get("pure_ack"), seen);
                    assertEquals(in.count(port + " && tcp.len>0"), counted.get("data"), seen);
                    assertEquals(payload, counted.get("payload_bytes"), seen);
                    assertTrue(in.count("tcp.dstport==" + OTHER) > 0, "the other port had traffic, not counted");
                    System.out.println("listener: " + counted);
                }
                // detached from the listener and from the connection still open: the kernel let the program go
                // (a filter detached is freed after an RCU grace period: a moment, not at once)
                String loaded = "";
                for (long deadline = System.nanoTime() + 3_000_000_000L; System.nanoTime() < deadline; Thread.sleep(50)) {
                    loaded = Cmd.programsNamed("tcpi_socket_filter"); // the watches of the tests beside this one aside
                    if (loaded.isEmpty()) {
                        break;
                    }
                }
                assertEquals("", loaded, "a socket still holds the filter: " + Cmd.run(List.of("ip", "netns", "exec",
                        lab.serverNs(), "ss", "-tanp"), 30).out());
                held.close();
                Cmd.run(List.of("ip", "netns", "exec", lab.clientNs(), "curl", "-sf", "-o", "/dev/null",
                        "http://" + Lab.SERVER_V4 + ":" + SERVICE + "/"), 30).ok(); // the service goes on
            } finally {
                service.destroy();
                service.waitFor();
            }
        }
    }

    @Test
    void aListenerThatIsNotThereIsRefusedWithWhatToDo() {
        ListenerProbe probe = new ListenerProbe();
        long me = ProcessHandle.current().pid();
        assertTrue(assertThrows(IllegalArgumentException.class, () -> probe.set("add", me + ":1")).getMessage()
                .contains("has no TCP socket listening on port 1 (ss -ltnp"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> probe.set("add", "x:80")).getMessage()
                .contains("is not PID:PORT"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> probe.set("add", "999999999:80")).getMessage()
                .contains("no process 999999999"));
    }
}
