package dev.tcpinspect.probe.reset;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.probe.ProbeSet;
import dev.tcpinspect.probe.TcpStates;
import dev.tcpinspect.testing.Capture;
import dev.tcpinspect.testing.RequiresBpf;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** Resets sent and received in the server namespace, against tcpdump captures of both directions. */
@RequiresBpf
class ResetProbeTest {
    static final int ECHO_PORT = 8080;
    static final int RESETTING_PORT = 8082;
    static final int CLOSED_PORT = 9300;

    @Test
    void sentAndReceivedResetsMatchTheCaptureWithTheStateTheyHit() throws Exception {
        try (Lab lab = Lab.create();
             var echo4 = Traffic.listen(lab.server(), Lab.SERVER_V4, ECHO_PORT);
             var echo6 = Traffic.listen(lab.server(), Lab.SERVER_V6, ECHO_PORT);
             var resetting4 = Traffic.listenResetting(lab.server(), Lab.SERVER_V4, RESETTING_PORT);
             var resetting6 = Traffic.listenResetting(lab.server(), Lab.SERVER_V6, RESETTING_PORT);
             Capture in = Capture.incoming(lab.serverNs(), lab.serverIf());
             Capture out = Capture.outgoing(lab.serverNs(), lab.serverIf());
             ProbeSet set = lab.server().call(() -> ProbeSet.start(List.of(new ResetProbe()),
                     ProbeSet.Options.defaults().events(true)))) {
            ResetProbe probe = set.probe(ResetProbe.class);
            Map<String, AtomicLong> byKind = new ConcurrentHashMap<>();
            probe.onEvents(e -> byKind.computeIfAbsent((e.received() ? "received " : "sent ")
                    + TcpStates.name(e.state()) + " " + e.flow().family(), k -> new AtomicLong()).incrementAndGet());
            for (String address : List.of(Lab.SERVER_V4, Lab.SERVER_V6)) {
                assertEquals(4, Traffic.synToClosedPorts(lab.client(), address, CLOSED_PORT, 4));
                assertEquals(3, Traffic.connectAndReset(lab.client(), address, ECHO_PORT, 3));
                for (int i = 0; i < 2; i++) {
                    try {
                        Traffic.connect(lab.client(), address, RESETTING_PORT, 1);
                    } catch (IllegalStateException reset) {
                        // the server's RST ends the exchange: expected
                    }
                }
            }
            Thread.sleep(300);
            ResetCounts counted = probe.read();
            long rstOut = out.count(Capture.RST);
            long rstIn = in.count(Capture.RST);
            assertEquals(2 * (4 + 2), rstOut, () -> "the capture shows the planned resets leaving:\n"
                    + out.describe(Capture.RST) + "arriving:\n" + in.describe(Capture.TCP));
            assertEquals(2 * 3, rstIn, "and arriving");
            assertEquals(rstOut, counted.sent());
            assertEquals(rstIn, counted.received());

            long deadline = System.nanoTime() + 3_000_000_000L;
            while (byKind.values().stream().mapToLong(AtomicLong::get).sum() < counted.sent() + counted.received()
                    && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            for (String family : List.of("ipv4", "ipv6")) {
                assertEquals(4, byKind.getOrDefault("sent UNKNOWN " + family, new AtomicLong()).get(),
                        "SYNs to closed ports: a reset without a socket; " + byKind);
                // An abort (SO_LINGER 0 close) moves the socket to CLOSE before the reset goes out,
                // and the tracepoint reports that state.
                assertEquals(2, byKind.getOrDefault("sent CLOSE " + family, new AtomicLong()).get(), byKind.toString());
                assertEquals(3, byKind.getOrDefault("received ESTABLISHED " + family, new AtomicLong()).get(),
                        byKind.toString());
            }
            List<FlowResets> top = probe.topFlows(100);
            assertTrue(top.stream().allMatch(f -> f.flow().netns() == lab.server().inode()));
            assertEquals(counted.sent() + counted.received(), top.stream().mapToLong(FlowResets::total).sum());
        }
    }
}
