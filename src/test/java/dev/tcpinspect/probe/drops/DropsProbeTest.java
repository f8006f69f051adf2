package dev.tcpinspect.probe.drops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.testing.Capture;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.Firewall;
import dev.tcpinspect.testing.RequiresBpf;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Drop reasons against a capture (closed ports) and iptables' own rule counters (firewall drops). */
@RequiresBpf
class DropsProbeTest {
    static final int FIREWALLED_PORT = 7777;
    static final int CLOSED_PORT = 9500;

    @Test
    void closedPortsAreNoSocketAndFirewallDropsAreNetfilterDrop() throws Exception {
        try (Lab lab = Lab.create();
             Capture in = Capture.incoming(lab.serverNs(), lab.serverIf());
             DropsProbe probe = lab.server().call(() -> DropsProbe.load(false, true))) {
            Firewall.dropPort(lab.serverNs(), FIREWALLED_PORT);
            probe.attach();
            DropCounts before = probe.read();
            for (String address : List.of(Lab.SERVER_V4, Lab.SERVER_V6)) {
                assertEquals(6, Traffic.synToClosedPorts(lab.client(), address, CLOSED_PORT, 6));
                assertEquals(4, Traffic.unansweredConnects(lab.client(), address, FIREWALLED_PORT, 4, 300));
            }
            Thread.sleep(200);
            DropCounts counted = probe.read().minus(before);

            long synsToClosed = in.count(Capture.SYN + " && tcp.dstport >= " + CLOSED_PORT + " && tcp.dstport < "
                    + (CLOSED_PORT + 6));
            assertEquals(12, synsToClosed, "the capture shows the SYNs to closed ports");
            assertEquals(synsToClosed, counted.byReason().getOrDefault("NO_SOCKET", 0L), counted.toString());
            long firewalled = Firewall.droppedPackets(lab.serverNs(), FIREWALLED_PORT);
            assertEquals(8, firewalled, "iptables counted its drops");
            assertEquals(firewalled, counted.byReason().getOrDefault("NETFILTER_DROP", 0L), counted.toString());
            assertEquals(counted.byReason().values().stream().mapToLong(Long::longValue).sum(), counted.total());

            List<FlowDrops> flows = probe.topFlows(100);
            assertTrue(flows.stream().allMatch(f -> f.flow().netns() == lab.server().inode()));
            assertEquals(8, flows.stream().filter(f -> f.reason().equals("NETFILTER_DROP")
                    && f.flow().lport() == FIREWALLED_PORT).mapToLong(FlowDrops::count).sum());
            assertTrue(flows.stream().filter(f -> f.reason().equals("NO_SOCKET"))
                    .allMatch(f -> f.flow().lport() >= CLOSED_PORT && f.flow().lport() < CLOSED_PORT + 6), flows.toString());
        }
    }

    private static long nstat(Lab lab, String counter) {
        String out = Cmd.run("ip", "netns", "exec", lab.serverNs(), "nstat", "-az", counter).ok().out();
        for (String line : out.lines().toList()) {
            if (line.startsWith(counter)) {
                return Long.parseLong(line.trim().split("\\s+")[1]);
            }
        }
        throw new AssertionError("nstat has no " + counter + ": " + out);
    }

    @Test
    /** Overflows come from the kernel's own counter (no tracepoint fires); nstat reads it too. */
    void listenQueueOverflowsMatchNstat() throws Exception {
        try (Lab lab = Lab.create();
             DropsProbe probe = lab.server().call(() -> DropsProbe.load(false, true));
             java.net.ServerSocket neverAccepts = lab.server().call(() -> {
                 java.net.ServerSocket s = new java.net.ServerSocket();
                 s.bind(new java.net.InetSocketAddress(Lab.SERVER_V4, 8090), 1);
                 return s;
             })) {
            probe.attach();
            long overflowsBefore = nstat(lab, "TcpExtListenOverflows");
            DropCounts before = probe.read();
            List<java.net.Socket> clients = lab.client().call(() -> {
                List<java.net.Socket> made = new java.util.ArrayList<>();
                for (int i = 0; i < 6; i++) {
                    java.net.Socket s = new java.net.Socket();
                    try {
                        s.connect(new java.net.InetSocketAddress(Lab.SERVER_V4, 8090), 300);
                    } catch (java.io.IOException timedOut) {
                        // the queue is full: expected for most of them
                    }
                    made.add(s);
                }
                return made;
            });
            Thread.sleep(1500);
            DropCounts counted = probe.read().minus(before);
            long overflows = nstat(lab, "TcpExtListenOverflows") - overflowsBefore;
            for (java.net.Socket s : clients) {
                s.close();
            }
            assertTrue(overflows > 0, "the accept queue overflowed");
            assertEquals(overflows, counted.listenOverflows(), counted.toString());
        }
    }
}
