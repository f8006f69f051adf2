package dev.tcpinspect.cli;

import dev.tcpinspect.testing.RunsBeside;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.testing.Capture;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.Frame;
import dev.tcpinspect.testing.Pcap;
import dev.tcpinspect.testing.RequiresBpf;
import dev.tcpinspect.testing.TcpinspectProcess;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * tcpinspect watch, run as its own process inside the lab's server namespace, against real traffic;
 * every count is checked against a tcpdump capture of the same interface counted by tshark.
 */
@RequiresBpf
@RunsBeside
class WatchCliTest {
    static final int OPEN_PORT = 8080;
    static final int CLOSED_PORT = 9100;

    /** Traffic seen at the server: SYNs and FINs in, SYN-ACKs in, RSTs in. */
    record Plan(int inbound, int inboundRefused, int outbound, int outboundRefused) {}

    static void drive(Lab lab, String serverAddress, String clientAddress, Plan plan) {
        assertEquals(plan.inbound(), Traffic.connect(lab.client(), serverAddress, OPEN_PORT, plan.inbound()));
        assertEquals(plan.inboundRefused(),
                Traffic.synToClosedPorts(lab.client(), serverAddress, CLOSED_PORT, plan.inboundRefused()));
        assertEquals(plan.outbound(), Traffic.connect(lab.server(), clientAddress, OPEN_PORT, plan.outbound()));
        assertEquals(plan.outboundRefused(),
                Traffic.synToClosedPorts(lab.server(), clientAddress, CLOSED_PORT, plan.outboundRefused()));
    }

    /** Runs watch on the server side while traffic runs; checks the JSON lines and detach; returns the summary. */
    static JsonNode watchAndCompare(Lab lab, String device, Runnable traffic, List<Integer> ports, String... extra) {
        List<String> args = new ArrayList<>(List.of("watch", "-i", device, "--format", "json", "--interval", "0.5"));
        args.addAll(List.of(extra));
        try (Capture capture = Capture.incoming(lab.serverNs(), device);
             TcpinspectProcess watch = TcpinspectProcess.start(lab.serverNs(), args.toArray(String[]::new))) {
            JsonNode ready = watch.awaitJson("ready", 30);
            assertEquals(device, ready.get("interfaces").get(0).asText());
            Instant.parse(ready.get("time").asText());
            traffic.run();
            watch.awaitJson("interval", 10); // at least one live line came out
            watch.terminate();
            JsonNode summary = watch.awaitJson("summary", 30);
            assertEquals(0, watch.waitFor(30), "SIGTERM ends watch normally; stderr: " + watch.stderr());
            List<String> lines = watch.lines();
            assertEquals("summary", TcpinspectProcess.parse(lines.getLast()).get("type").asText(), "summary is last");
            for (String line : lines) {
                JsonNode node = TcpinspectProcess.parse(line);
                assertTrue(node.has("type") && node.has("time"), line);
                assertTrue(node.get("time").asText().endsWith("Z"), "UTC time: " + line);
            }
            assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), device), "watch detached on exit");

            JsonNode packets = summary.get("packets");
            assertEquals(capture.count(Capture.TCP), packets.get("tcp").asLong(), "tcp");
            assertEquals(capture.count(Capture.SYN), packets.get("syn").asLong(), "syn");
            assertEquals(capture.count(Capture.SYNACK), packets.get("synack").asLong(), "synack");
            assertEquals(capture.count(Capture.FIN), packets.get("fin").asLong(), "fin");
            assertEquals(capture.count(Capture.RST), packets.get("rst").asLong(), "rst");
            assertEquals(capture.count(Capture.PURE_ACK), packets.get("ack").asLong(), "pure ack");
            assertEquals(0, packets.get("malformed").asLong());
            JsonNode synByPort = summary.get("syn_by_port");
            for (int port : ports) {
                assertEquals(capture.count(Capture.SYN + " && tcp.dstport==" + port), synByPort.path("" + port).asLong(),
                        "SYNs to port " + port);
            }
            return summary;
        }
    }

    /** Real connections over both families in both directions, with the capture checked against the plan. */
    static JsonNode connectionsAndCompare(Lab lab, Plan plan, String... extra) {
        try (var servers = new Closer()) {
            for (String[] pair : BOTH) {
                servers.add(Traffic.listen(lab.server(), pair[0], OPEN_PORT));
                servers.add(Traffic.listen(lab.client(), pair[1], OPEN_PORT));
            }
            List<Integer> ports = new ArrayList<>(List.of(OPEN_PORT));
            for (int p = CLOSED_PORT; p < CLOSED_PORT + plan.inboundRefused(); p++) {
                ports.add(p);
            }
            JsonNode summary = watchAndCompare(lab, lab.serverIf(), () -> BOTH.forEach(pair -> drive(lab, pair[0], pair[1], plan)),
                    ports, extra);
            // The capture agreed with tcpinspect; it must also show the traffic as planned.
            JsonNode packets = summary.get("packets");
            assertEquals(2L * (plan.inbound() + plan.inboundRefused()), packets.get("syn").asLong());
            assertEquals(2L * plan.outbound(), packets.get("synack").asLong());
            assertEquals(2L * plan.outboundRefused(), packets.get("rst").asLong());
            assertEquals(2L * (plan.inbound() + plan.outbound()), packets.get("fin").asLong());
            return summary;
        }
    }

    static final List<String[]> BOTH = List.of(new String[] {Lab.SERVER_V4, Lab.CLIENT_V4},
            new String[] {Lab.SERVER_V6, Lab.CLIENT_V6});

    @Test
    void tcIngressCountsMatchTheCaptureOverIpv4AndIpv6() {
        try (Lab lab = Lab.create()) {
            connectionsAndCompare(lab, new Plan(25, 12, 7, 5));
        }
    }

    @Test
    void xdpCountsMatchTheCapture() {
        try (Lab lab = Lab.create()) {
            connectionsAndCompare(lab, new Plan(15, 6, 4, 3), "--xdp");
        }
    }

    /**
     * 802.1Q and QinQ frames replayed onto the wire (this kernel has no VLAN devices to make them):
     * XDP parses the tags in the frame; at TC the stack has already moved the outer tag to metadata.
     */
    @Test
    void vlanAndQinqFramesOnTheWireAreCountedByXdpAndTc() {
        List<byte[]> frames = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            frames.add(Frame.ipv4().vlan().flags(Frame.SYN).dport(8443).build());
        }
        for (int i = 0; i < 3; i++) {
            frames.add(Frame.ipv6().qinq().flags(Frame.SYN).dport(8443).tcpOptions(12).build());
        }
        frames.add(Frame.ipv4().qinq().flags(Frame.SYN | Frame.ACK).build());
        frames.add(Frame.ipv6().vlan().ext(0).flags(Frame.SYN | Frame.ACK).build());
        frames.add(Frame.ipv4().vlan().flags(Frame.RST).build());
        frames.add(Frame.ipv4().vlan().flags(Frame.FIN | Frame.ACK).build());
        frames.add(Frame.ipv6().vlan().flags(Frame.ACK).build());
        frames.add(Frame.ipv4().qinq().flags(Frame.ACK | Frame.PSH).payload(100).build());
        Path replay = Pcap.write(frames);
        try (Lab lab = Lab.create()) {
            Runnable send = () -> Cmd.run("ip", "netns", "exec", lab.clientNs(), "tcpreplay", "-q", "-i", lab.clientIf(),
                    replay.toString()).ok();
            for (String[] mode : new String[][] {{}, {"--xdp"}, {"--xdp", "--xdp-mode", "generic"}}) {
                JsonNode summary = watchAndCompare(lab, lab.serverIf(), send, List.of(8443), mode);
                assertEquals(8, summary.get("packets").get("syn").asLong(), String.join(" ", mode));
                assertEquals(frames.size(), summary.get("packets").get("tcp").asLong(), String.join(" ", mode));
            }
        } finally {
            replay.toFile().delete();
        }
    }

    /** Closes what it holds in reverse order. */
    static final class Closer implements AutoCloseable {
        private final List<AutoCloseable> items = new ArrayList<>();

        void add(AutoCloseable c) {
            items.add(c);
        }

        @Override
        public void close() {
            for (AutoCloseable c : items.reversed()) {
                try {
                    c.close();
                } catch (Exception e) {
                    // keep closing the rest
                }
            }
        }
    }
}
