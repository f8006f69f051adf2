package dev.tcpinspect.probe.zerowin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.probe.ProbeSet;
import dev.tcpinspect.testing.Capture;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.RequiresBpf;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/**
 * A server that stops reading advertises zero windows (against nstat's TCPToZeroWindowAdv and a
 * capture); a client that stops reading makes the server receive them (against tshark's analysis).
 */
@RequiresBpf
class ZeroWindowProbeTest {
    private static long nstat(Lab lab, String counter) {
        for (String line : Cmd.run("ip", "netns", "exec", lab.serverNs(), "nstat", "-az", counter).ok().out().lines().toList()) {
            if (line.startsWith(counter)) {
                return Long.parseLong(line.trim().split("\\s+")[1]);
            }
        }
        throw new AssertionError("nstat has no " + counter);
    }

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
            long toZeroBefore = nstat(lab, "TcpExtTCPToZeroWindowAdv");
            Traffic.upload(lab.client(), Lab.SERVER_V4, 8080, 16_000_000);      // the server stops reading
            assertEquals(8_000_000, Traffic.slowDownload(lab.client(), Lab.SERVER_V6, 8081, 700)); // the client does
            Thread.sleep(300);
            ZeroWindowCounts counted = probe.read();

            long toZero = nstat(lab, "TcpExtTCPToZeroWindowAdv") - toZeroBefore;
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
}
