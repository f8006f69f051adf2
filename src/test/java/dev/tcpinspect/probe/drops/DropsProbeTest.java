package dev.tcpinspect.probe.drops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.probe.ProbeSet;
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
             ProbeSet set = lab.server().call(() -> ProbeSet.start(List.of(new DropsProbe()),
                     ProbeSet.Options.defaults().events(true)))) {
            DropsProbe probe = set.probe(DropsProbe.class);
            Firewall.dropPort(lab.serverNs(), FIREWALLED_PORT);
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

    /**
     * A gateway sees new flows without end: the kernel's flow table must have room again after each
     * read, not fill once and stay full. A table of 64 flows, 100 SYNs to closed ports at once (64
     * tracked, the rest counted as untracked), then 240 more in batches of 60, IPv4 and IPv6, with a
     * read between batches: every one of those is under its own flow, as the capture shows them.
     */
    @Test
    void theFlowTableHasRoomAgainAfterEachRead() throws Exception {
        int tableSize = 64;
        int firstPort = 20000;
        int laterPort = 21000;
        try (Lab lab = Lab.create();
             Capture in = Capture.incoming(lab.serverNs(), lab.serverIf());
             ProbeSet set = lab.server().call(() -> ProbeSet.start(List.of(new DropsProbe()),
                     ProbeSet.Options.defaults().flowTableEntries(tableSize)))) {
            DropsProbe probe = set.probe(DropsProbe.class);
            DropCounts before = probe.read();
            assertEquals(100, Traffic.synToClosedPorts(lab.client(), Lab.SERVER_V4, firstPort, 100));
            for (int batch = 0; batch < 4; batch++) {
                probe.read(); // what a watch does every interval
                String address = batch % 2 == 0 ? Lab.SERVER_V4 : Lab.SERVER_V6;
                assertEquals(60, Traffic.synToClosedPorts(lab.client(), address, laterPort + 60 * batch, 60));
            }
            Thread.sleep(200);
            DropCounts counted = probe.read().minus(before);
            List<FlowDrops> flows = probe.topFlows(Integer.MAX_VALUE);

            String syn = Capture.SYN + " && tcp.dstport >= ";
            assertEquals(100, in.count(syn + firstPort + " && tcp.dstport < " + (firstPort + 100)));
            java.util.Set<String> laterSyns = new java.util.TreeSet<>(in.fields(syn + laterPort + " && tcp.dstport < "
                    + (laterPort + 240), "tcp.srcport", "tcp.dstport"));
            assertEquals(240, laterSyns.size(), "the capture shows 240 SYNs of distinct flows");
            assertEquals(340, counted.byReason().getOrDefault("NO_SOCKET", 0L), counted.toString());

            List<FlowDrops> first = flows.stream().filter(f -> f.flow().lport() >= firstPort
                    && f.flow().lport() < firstPort + 100).toList();
            assertEquals(tableSize, first.size(), "the first burst filled the table");
            assertEquals(100 - tableSize, counted.flowsFull(), "and the rest of it was counted as untracked");
            java.util.Set<String> laterFlows = new java.util.TreeSet<>();
            for (FlowDrops f : flows) {
                if (f.flow().lport() >= laterPort && f.flow().lport() < laterPort + 240) {
                    assertEquals("NO_SOCKET", f.reason());
                    assertEquals(1, f.count(), f.toString());
                    laterFlows.add(f.flow().rport() + "\t" + f.flow().lport());
                }
            }
            assertEquals(laterSyns, laterFlows, "every later SYN is under its own flow");
            assertEquals(120, flows.stream().filter(f -> f.flow().lport() >= laterPort && f.flow().ipv6()).count());
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
             ProbeSet set = lab.server().call(() -> ProbeSet.start(List.of(new DropsProbe()),
                     ProbeSet.Options.defaults().events(true)));
             java.net.ServerSocket neverAccepts = lab.server().call(() -> {
                 java.net.ServerSocket s = new java.net.ServerSocket();
                 s.bind(new java.net.InetSocketAddress(Lab.SERVER_V4, 8090), 1);
                 return s;
             })) {
            DropsProbe probe = set.probe(DropsProbe.class);
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
