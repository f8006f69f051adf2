package dev.tcpinspect.probe.zerowin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.probe.ProbeSet;
import dev.tcpinspect.testing.Capture;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.Firewall;
import dev.tcpinspect.testing.RequiresBpf;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/**
 * A server that stops reading advertises zero windows (against nstat's TCPToZeroWindowAdv and a
 * capture); a client that stops reading makes the server receive them (against tshark's analysis).
 */
@RequiresBpf
class ZeroWindowProbeTest {

    record Closed(boolean sent, long nanos) {}

    @Test
    void sentAndReceivedZeroWindowsWithHowLongTheyLasted() throws Exception {
        try (Lab lab = Lab.create();
             var slow = Traffic.listenSlowReader(lab.server(), Lab.SERVER_V4, 8080, 700);
             var bulk = Traffic.listenSending(lab.server(), Lab.SERVER_V6, 8081, 8_000_000);
             Capture in = Capture.incoming(lab.serverNs(), lab.serverIf());
             Capture out = Capture.outgoing(lab.serverNs(), lab.serverIf());
             ProbeSet set = lab.server().call(() -> ProbeSet.start(List.of(new ZeroWindowProbe()),
                     ProbeSet.Options.defaults().interfaces(List.of(lab.serverIf())).events(true)))) {
            ZeroWindowProbe probe = set.probe(ZeroWindowProbe.class);
            List<Closed> reopened = new CopyOnWriteArrayList<>();
            probe.onEvents(e -> {
                if (e.reopened()) {
                    reopened.add(new Closed(e.sent(), e.closedNanos()));
                }
            });
            long toZeroBefore = Cmd.nstat(lab.serverNs(), "TcpExtTCPToZeroWindowAdv");
            Traffic.upload(lab.client(), Lab.SERVER_V4, 8080, 16_000_000);      // the server stops reading
            assertEquals(8_000_000, Traffic.slowDownload(lab.client(), Lab.SERVER_V6, 8081, 700)); // the client does
            Thread.sleep(300);
            ZeroWindowCounts counted = probe.read();

            long toZero = Cmd.nstat(lab.serverNs(), "TcpExtTCPToZeroWindowAdv") - toZeroBefore;
            assertTrue(toZero > 0, "the server advertised a zero window");
            assertEquals(toZero, counted.sent(), "closures sent vs the kernel's TCPToZeroWindowAdv");
            assertEquals(out.count("tcp.analysis.zero_window"), counted.segmentsSent(), "zero-window segments sent");
            assertTrue(counted.received() > 0, "the client advertised a zero window");
            assertEquals(in.count("tcp.analysis.zero_window"), counted.segmentsReceived(), "zero-window segments received");

            // Each closure ended when the reader started, about 700 ms after the start.
            assertEquals(counted.sent() + counted.received(), reopened.size(), reopened.toString());
            long longest = reopened.stream().mapToLong(Closed::nanos).max().orElseThrow();
            assertTrue(longest > 300_000_000L && longest < 1_000_000_000L, "closed for " + longest + " ns");
            assertEquals(0, probe.closedNow(), "every window reopened, so the kernel holds no closure");
            List<FlowZeroWindows> flows = probe.topFlows(10);
            assertEquals(counted.sent() + counted.received(), flows.stream().mapToLong(FlowZeroWindows::closures).sum(),
                    flows.toString());
            assertTrue(flows.stream().anyMatch(f -> f.sent() && f.flow().lport() == 8080), flows.toString());
            assertTrue(flows.stream().anyMatch(f -> !f.sent() && f.flow().lport() == 8081 && f.flow().ipv6()), flows.toString());
        }
    }

    /** The id the kernel gave a map this process holds open, from its descriptor's fdinfo (for bpftool). */
    private static long mapId(int fd) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/fdinfo/" + fd))) {
            if (line.startsWith("map_id:")) {
                return Long.parseLong(line.substring("map_id:".length()).strip());
            }
        }
        throw new AssertionError("fd " + fd + " is not a BPF map");
    }

    /** The kernel's zerowin_closed entries as bpftool dumps them (its "formatted" view, from the map's BTF). */
    private static List<JsonNode> kernelClosed(long mapId) throws IOException {
        List<JsonNode> entries = new ArrayList<>();
        String json = Cmd.run("bpftool", "-j", "map", "dump", "id", Long.toString(mapId)).ok().out();
        for (JsonNode entry : new ObjectMapper().readTree(json)) {
            entries.add(entry.path("formatted"));
        }
        return entries;
    }

    /** The kernel's stamp (jiffies) of the last zero-window segment of the only closed window. */
    private static long lastZero(long mapId) throws IOException {
        List<JsonNode> closed = kernelClosed(mapId);
        assertEquals(1, closed.size(), closed.toString());
        return closed.getFirst().path("value").path("last_zero").asLong();
    }

    /** Polls the condition every 50 ms for up to timeoutMillis; false if it never held. */
    private static boolean await(long timeoutMillis, java.util.concurrent.Callable<Boolean> condition) throws Exception {
        long end = System.nanoTime() + timeoutMillis * 1_000_000L;
        while (System.nanoTime() < end) {
            if (condition.call()) {
                return true;
            }
            Thread.sleep(50);
        }
        return condition.call();
    }

    /**
     * A window closed for good: the server accepts a connection and never reads, so the client's
     * upload closes the window it advertises, and the client's window probes are answered with a
     * zero window. The kernel keeps the closure until user space expires it. A scan 301 s (of
     * expire()'s clock) after another does not expire it while the window probes' answers move its
     * stamp (read with bpftool). Then the flow vanishes without a RST: the server's firewall drops
     * everything the client sends (iptables counts the probes it swallowed), so the server answers
     * nothing and the stamp stays put; the next scan 301 s later expires the closure, and bpftool
     * shows the kernel map empty.
     */
    @Test
    void closuresWhoseFlowWentSilentExpire() throws Exception {
        int port = 8090;
        Socket client = null;
        Socket accepted = null;
        try (Lab lab = Lab.create();
             ServerSocket listener = lab.server().call(() -> {
                 ServerSocket s = new ServerSocket();
                 s.bind(new InetSocketAddress(Lab.SERVER_V4, port), 8);
                 return s;
             });
             Capture out = Capture.outgoing(lab.serverNs(), lab.serverIf());
             ProbeSet set = lab.server().call(() -> ProbeSet.start(List.of(new ZeroWindowProbe()),
                     ProbeSet.Options.defaults().interfaces(List.of(lab.serverIf()))))) {
            ZeroWindowProbe probe = set.probe(ZeroWindowProbe.class);
            long mapId = mapId(set.object().map("zerowin_closed").fd());
            long toZeroBefore = Cmd.nstat(lab.serverNs(), "TcpExtTCPToZeroWindowAdv");

            Socket sender = lab.client().call(() -> {
                Socket s = new Socket();
                s.connect(new InetSocketAddress(Lab.SERVER_V4, port), 3000);
                return s;
            });
            client = sender;
            accepted = listener.accept(); // and never read
            Thread.ofPlatform().daemon(true).name("zerowin-sender").start(() -> {
                byte[] chunk = new byte[64 * 1024];
                try {
                    while (true) {
                        sender.getOutputStream().write(chunk); // blocks once the window is closed
                    }
                } catch (IOException e) {
                    // closed at the end of the test
                }
            });
            assertTrue(await(10_000, () -> kernelClosed(mapId).size() == 1), "the kernel holds a closed window");
            JsonNode entry = kernelClosed(mapId).getFirst();
            assertEquals(1, entry.path("key").path("direction").asInt(), "the server's (sent) window: " + entry);
            assertEquals(1, probe.closedNow());
            assertEquals(0, probe.read().expired());

            // The window stays closed and the client probes it: each answer moves the kernel's stamp,
            // so a scan 301 s after the first one expires nothing.
            long clock = System.nanoTime();
            probe.expire(clock);
            long stamp = lastZero(mapId);
            assertTrue(await(30_000, () -> lastZero(mapId) != stamp), "a window probe's answer moved the stamp");
            clock += 301_000_000_000L;
            probe.expire(clock);
            assertEquals(0, probe.read().expired(), "a closed window still answering probes is not expired");
            assertEquals(1, probe.closedNow());
            assertEquals(1, kernelClosed(mapId).size(), "the kernel still holds it");

            // The flow vanishes without a RST or a reopening: nothing the client sends reaches the
            // server's socket any more, so the server sends nothing at all.
            Firewall.dropPort(lab.serverNs(), port);
            Thread.sleep(300);
            clock += 1_000_000_000L;
            probe.expire(clock);
            long frozen = lastZero(mapId);
            assertTrue(await(30_000, () -> Firewall.droppedPackets(lab.serverNs(), port) > 0),
                    "the client went on probing, and the firewall swallowed its probes");
            assertEquals(frozen, lastZero(mapId), "no zero-window segment since: the stamp did not move");
            assertEquals(1, probe.closedNow(), "not expired before 300 s of silence");
            clock += 301_000_000_000L;
            probe.expire(clock);

            ZeroWindowCounts counted = probe.read();
            assertEquals(1, counted.expired(), counted.toString());
            assertEquals(0, probe.closedNow());
            assertEquals(List.of(), kernelClosed(mapId), "the kernel map is empty");
            // What closed was one real closure: the kernel's own count, and the capture shows the
            // closing segment and at least one answer to a window probe after it.
            long toZero = Cmd.nstat(lab.serverNs(), "TcpExtTCPToZeroWindowAdv") - toZeroBefore;
            assertEquals(1, toZero, "the server advertised one closed window");
            assertEquals(toZero, counted.sent(), counted.toString());
            assertTrue(out.count("tcp.srcport == " + port + " && tcp.window_size_value == 0 && tcp.flags.syn == 0") >= 2,
                    out.describe("tcp.srcport == " + port + " && tcp.window_size_value == 0"));
        } finally {
            if (client != null) {
                client.close();
            }
            if (accepted != null) {
                accepted.close();
            }
        }
    }
}
