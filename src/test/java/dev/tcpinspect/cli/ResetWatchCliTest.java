package dev.tcpinspect.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.testing.Capture;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.RequiresBpf;
import dev.tcpinspect.testing.TcpinspectProcess;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** watch --probe reset as its own process: summary and event lines against tcpdump captures. */
@RequiresBpf
class ResetWatchCliTest {
    @Test
    void resetEventsAndSummaryMatchTheCaptures() throws Exception {
        try (Lab lab = Lab.create();
             var echo4 = Traffic.listen(lab.server(), Lab.SERVER_V4, 8080);
             var echo6 = Traffic.listen(lab.server(), Lab.SERVER_V6, 8080);
             Capture in = Capture.incoming(lab.serverNs(), lab.serverIf());
             Capture out = Capture.outgoing(lab.serverNs(), lab.serverIf());
             TcpinspectProcess watch = TcpinspectProcess.start(lab.serverNs(), "watch", "--probe", "reset",
                     "--format", "json")) {
            watch.awaitJson("ready", 30);
            for (String address : List.of(Lab.SERVER_V4, Lab.SERVER_V6)) {
                assertEquals(5, Traffic.synToClosedPorts(lab.client(), address, 9400, 5));
                assertEquals(2, Traffic.connectAndReset(lab.client(), address, 8080, 2));
            }
            Thread.sleep(300);
            watch.terminate();
            JsonNode summary = watch.awaitJson("summary", 30);
            assertEquals(0, watch.waitFor(30));
            assertEquals(10, out.count(Capture.RST));
            assertEquals(4, in.count(Capture.RST));
            assertEquals(out.count(Capture.RST), summary.get("resets").get("sent").asLong());
            assertEquals(in.count(Capture.RST), summary.get("resets").get("received").asLong());

            List<JsonNode> events = watch.lines().stream().map(TcpinspectProcess::parse)
                    .filter(n -> n.get("type").asText().equals("reset")).toList();
            assertEquals(14, events.size());
            for (JsonNode e : events) {
                if (e.get("direction").asText().equals("sent")) {
                    assertEquals("NO_SOCKET", e.get("reason").asText(), e.toString());
                    assertTrue(e.get("lport").asInt() >= 9400 && e.get("lport").asInt() < 9405, e.toString());
                } else {
                    assertEquals("ESTABLISHED", e.get("state").asText(), e.toString());
                    assertEquals(8080, e.get("lport").asInt());
                    assertTrue(!e.has("reason"));
                }
            }
            assertTrue(summary.get("top_reset_flows").size() > 0);
        }
    }


    /**
     * A reason other than NO_SOCKET: a server that closes a connection with data still unread, which
     * the kernel answers with a RST (TCP_ABORT_ON_CLOSE, tcp_close) and counts, in that path only, as
     * TcpExt TCPAbortOnClose. Oracles: that counter, read with nstat in the server's namespace, and
     * the outgoing capture's RSTs from the server's port.
     */
    @Test
    void abortOnCloseIsTheReasonAndMatchesNstat() throws Exception {
        try (Lab lab = Lab.create();
             Capture out = Capture.outgoing(lab.serverNs(), lab.serverIf());
             TcpinspectProcess watch = TcpinspectProcess.start(lab.serverNs(), "watch", "--probe", "reset",
                     "--format", "json")) {
            watch.awaitJson("ready", 30);
            java.util.Map<String, Long> stackBefore = Cmd.nstatAll(lab.serverNs());
            long before = stackBefore.get("TcpExtTCPAbortOnClose");
            // What each server socket still held unread just before its close (5 bytes expected), to
            // tell, if the kernel ever sends a FIN there, whether the data had left the receive queue
            List<Integer> unread = new java.util.ArrayList<>();
            for (String address : List.of(Lab.SERVER_V4, Lab.SERVER_V6)) {
                // Reads one byte of the client's line, then closes: five bytes are left unread.
                try (ServerSocket server = lab.server().call(() -> {
                    ServerSocket s = new ServerSocket();
                    s.bind(new InetSocketAddress(InetAddress.getByName(address), 8082));
                    return s;
                })) {
                    for (int i = 0; i < 2; i++) {
                        Socket client = lab.client().call(() -> {
                            Socket s = new Socket();
                            s.connect(new InetSocketAddress(InetAddress.getByName(address), 8082), 3000);
                            s.getOutputStream().write("hello\n".getBytes(StandardCharsets.US_ASCII));
                            return s;
                        });
                        try (client; Socket accepted = server.accept()) {
                            assertEquals('h', accepted.getInputStream().read());
                            Thread.sleep(50); // the whole line is in the receive queue, unread
                            unread.add(accepted.getInputStream().available());
                        }
                    }
                }
            }
            Thread.sleep(300);
            java.util.Map<String, Long> stackAfter = Cmd.nstatAll(lab.serverNs());
            long aborts = stackAfter.get("TcpExtTCPAbortOnClose") - before;
            watch.terminate();
            JsonNode summary = watch.awaitJson("summary", 30);
            assertEquals(0, watch.waitFor(30));

            assertEquals(4, aborts, "the kernel counted four closes with unread data (bytes unread before each close: "
                    + unread + "); the server's counters that moved: "
                    + Cmd.nstatMoved(stackBefore, stackAfter) + "; the server sent:\n" + out.describe("tcp.port == 8082"));
            List<JsonNode> events = watch.lines().stream().map(TcpinspectProcess::parse)
                    .filter(n -> n.get("type").asText().equals("reset") && n.get("direction").asText().equals("sent"))
                    .toList();
            assertEquals(aborts, events.stream().filter(e -> e.path("reason").asText().equals("TCP_ABORT_ON_CLOSE")
                    && e.get("lport").asInt() == 8082).count(), events.toString());
            assertEquals(out.count(Capture.RST + " && tcp.srcport == 8082"), aborts);
            assertEquals(out.count(Capture.RST), summary.get("resets").get("sent").asLong());
            assertEquals(List.of("ipv4", "ipv4", "ipv6", "ipv6"), events.stream().map(e -> e.get("family").asText()).toList());
        }
    }
}
