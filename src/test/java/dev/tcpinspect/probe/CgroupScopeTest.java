package dev.tcpinspect.probe;

import dev.tcpinspect.testing.RunsBeside;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.probe.packets.PacketCounts;
import dev.tcpinspect.probe.packets.PacketsProbe;
import dev.tcpinspect.testing.Capture;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.Connections;
import dev.tcpinspect.testing.RequiresBpf;
import dev.tcpinspect.testing.TestCgroup;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The packet probes scoped to a cgroup (watch --cgroup), as the issue describes the test: two
 * servers in two cgroups of their own, in the same namespace, on neighbouring ports, each called
 * over IPv4 and IPv6; a probe set scoped to each counts exactly the segments a capture on the
 * server's side of the veth shows arriving for its server's port, and none of the other's. The
 * clients close first, so every segment the servers receive reaches one of their sockets (a
 * TIME_WAIT's, answered by the stack, would not pass the cgroup hook).
 */
@RequiresBpf
@RunsBeside(inProcess = true)
class CgroupScopeTest {
    static final int PORT_A = 9421;
    static final int PORT_B = 9422;

    /** A server that reads each connection to its end, then closes it: on IPv4 and IPv6, one port. */
    static final String SERVER = """
            import socket, sys, threading
            port = int(sys.argv[1])
            def serve(s):
                while True:
                    c, _ = s.accept()
                    while c.recv(65536):
                        pass
                    c.close()
            for family, host in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
                s = socket.socket(family, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s.bind((host, port))
                s.listen(64)
                threading.Thread(target=serve, args=(s,), daemon=True).start()
            print("ready", flush=True)
            threading.Event().wait()
            """;

    @Test
    void eachCgroupsCountsAreItsServersAsTheCaptureSeesThemAndNoneOfTheOthers() throws Exception {
        try (Lab lab = Lab.create();
             TestCgroup a = TestCgroup.create("a");
             TestCgroup b = TestCgroup.create("b")) {
            List<Process> servers = new ArrayList<>();
            try {
                for (var e : Map.of(a, PORT_A, b, PORT_B).entrySet()) {
                    Process p = new ProcessBuilder(e.getKey().command(List.of("ip", "netns", "exec", lab.serverNs(),
                            "python3", "-c", SERVER, Integer.toString(e.getValue())))).redirectErrorStream(true).start();
                    servers.add(p);
                    assertEquals("ready", new BufferedReader(new InputStreamReader(p.getInputStream())).readLine());
                    assertEquals(1, e.getKey().pids().size(), "the server runs in its cgroup");
                }
                Capture in = Capture.incoming(lab.serverNs(), lab.serverIf());
                PacketsProbe probeA = new PacketsProbe();
                PacketsProbe probeB = new PacketsProbe();
                try (ProbeSet setA = lab.server().call(() -> ProbeSet.start(List.of(probeA),
                        ProbeSet.Options.defaults().cgroup(a.path())));
                     ProbeSet setB = lab.server().call(() -> ProbeSet.start(List.of(probeB),
                             ProbeSet.Options.defaults().cgroup(b.path())))) {
                    // A: 3 over IPv4 and 2 over IPv6; B: 4 and 4, of other sizes
                    for (int i = 0; i < 3; i++) {
                        Traffic.upload(lab.client(), Lab.SERVER_V4, PORT_A, 200_000);
                    }
                    for (int i = 0; i < 2; i++) {
                        Traffic.upload(lab.client(), Lab.SERVER_V6, PORT_A, 30_000);
                    }
                    for (int i = 0; i < 4; i++) {
                        Traffic.upload(lab.client(), Lab.SERVER_V4, PORT_B, 5_000);
                        Traffic.upload(lab.client(), Lab.SERVER_V6, PORT_B, 80_000);
                    }
                    Connections.settle(lab); // the servers got the last ACKs: every segment is in
                    in.stop();
                    for (var e : Map.of(PORT_A, probeA.read(), PORT_B, probeB.read()).entrySet()) {
                        String port = "tcp.dstport==" + e.getKey();
                        PacketCounts c = e.getValue();
                        long captured = in.count(port);
                        System.out.println("cgroup scope, port " + e.getKey() + ": probe " + c + "; capture " + captured
                                + " segments, " + in.count(port + " && " + Capture.SYN) + " SYNs, "
                                + in.count(port + " && " + Capture.FIN) + " FINs");
                        assertTrue(captured > 0, "the capture saw port " + e.getKey());
                        assertEquals(captured, c.tcp(), "segments to port " + e.getKey() + " (" + in.describe(port) + ")");
                        assertEquals(in.count(port + " && " + Capture.SYN), c.syn(), "SYNs");
                        assertEquals(in.count(port + " && " + Capture.FIN), c.fin(), "FINs");
                        assertEquals(in.count(port + " && " + Capture.RST), c.rst(), "RSTs");
                        assertEquals(in.count(port + " && " + Capture.PURE_ACK), c.ack(), "pure ACKs");
                        assertEquals(Map.of(e.getKey(), c.syn()), c.synByPort(), "no SYN to another port");
                    }
                    assertEquals(5, probeA.read().syn(), "A's five connections");
                    assertEquals(8, probeB.read().syn(), "B's eight");
                }
                // closed: nothing of tcpinspect's is left on either cgroup
                for (TestCgroup g : List.of(a, b)) {
                    assertEquals("", Cmd.run(List.of("bpftool", "cgroup", "show", g.path().toString()), 30).ok().out().trim(),
                            "programs left on " + g.path());
                }
            } finally {
                for (Process p : servers) {
                    p.destroyForcibly().waitFor();
                }
            }
        }
    }

    /**
     * The command as a user runs it, from the host's namespace, on a service whose process is in
     * another (a container's): the tracepoint halves of the probes report the service's namespace,
     * so its accepted connections' handshakes are measured (they end in a state change there), and
     * the packets counted are its own: its clients' connections, as the client made them.
     */
    @Test
    void watchFollowsTheCgroupsProcessesIntoTheirNamespace() throws Exception {
        try (Lab lab = Lab.create();
             TestCgroup service = TestCgroup.create("watch")) {
            Process server = new ProcessBuilder(service.command(List.of("ip", "netns", "exec", lab.serverNs(), "python3",
                    "-c", SERVER, Integer.toString(PORT_A)))).redirectErrorStream(true).start();
            try {
                assertEquals("ready", new BufferedReader(new InputStreamReader(server.getInputStream())).readLine());
                try (var watch = dev.tcpinspect.testing.TcpinspectProcess.start(null, "watch", "--cgroup",
                        service.path().toString(), "--probe", "packets,handshake", "--format", "json")) {
                    watch.awaitJson("ready", 60);
                    for (int i = 0; i < 4; i++) {
                        Traffic.upload(lab.client(), Lab.SERVER_V4, PORT_A, 10_000);
                    }
                    Connections.settle(lab);
                    Thread.sleep(1200); // an interval's reading
                    watch.terminate();
                    assertEquals(0, watch.waitFor(30), watch.stderr());
                    assertTrue(watch.stderr().contains("its processes are in network namespace"), watch.stderr());
                    var summary = watch.lines().stream().map(dev.tcpinspect.testing.TcpinspectProcess::parse)
                            .filter(j -> j.path("type").asText().equals("summary")).findFirst().orElseThrow();
                    assertEquals(4, summary.at("/packets/syn").asLong(), summary.toString());
                    assertEquals(4, summary.at("/syn_by_port/" + PORT_A).asLong(), summary.toString());
                    assertEquals(4, summary.at("/handshake_ms/passive/count").asLong(),
                            "the accepted connections' handshakes, ended in the service's namespace: " + summary);
                    assertEquals(0, summary.at("/handshake_detail/passive_unmatched").asLong(), summary.toString());
                }
            } finally {
                server.destroyForcibly().waitFor();
            }
        }
    }

    /** Refused before anything is loaded: not a cgroup v2 directory, or beside an interface or XDP. */
    @Test
    void aScopeThatIsNoCgroupOrSitsBesideInterfacesIsRefused() {
        String notCgroup = assertThrows(IllegalArgumentException.class, () -> ProbeSet.start(List.of(new PacketsProbe()),
                ProbeSet.Options.defaults().cgroup(java.nio.file.Path.of("/tmp")))).getMessage();
        assertTrue(notCgroup.contains("is not a cgroup v2 directory"), notCgroup);
        String beside = assertThrows(IllegalArgumentException.class, () -> ProbeSet.start(List.of(new PacketsProbe()),
                ProbeSet.Options.defaults().interfaces(List.of("lo")).cgroup(TestCgroup.mount()))).getMessage();
        assertTrue(beside.contains("name no interface beside it"), beside);
        String xdp = assertThrows(IllegalArgumentException.class, () -> ProbeSet.start(List.of(new PacketsProbe()),
                ProbeSet.Options.defaults().xdp(true, dev.tcpinspect.ebpf.XdpMode.AUTO).cgroup(TestCgroup.mount())))
                .getMessage();
        assertTrue(xdp.contains("has no XDP hook"), xdp);
    }
}
