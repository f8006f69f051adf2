package dev.tcpinspect.probe.dupack;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.probe.ProbeSet;
import dev.tcpinspect.testing.Capture;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.Connections;
import dev.tcpinspect.testing.Loss;
import dev.tcpinspect.testing.RequiresBpf;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Duplicate ACKs arriving at the server while the client loses data, against Wireshark's own analysis. */
@RequiresBpf
class DupAckProbeTest {
    @Test
    void duplicateAcksMatchTsharksAnalysis() throws Exception {
        try (Lab lab = Lab.create();
             var bulk4 = Traffic.listenSending(lab.server(), Lab.SERVER_V4, 8080, 4_000_000);
             var bulk6 = Traffic.listenSending(lab.server(), Lab.SERVER_V6, 8080, 4_000_000);
             Capture in = Capture.incoming(lab.serverNs(), lab.serverIf());
             ProbeSet set = lab.server().call(() -> ProbeSet.start(List.of(new DupAckProbe()),
                     ProbeSet.Options.defaults().interfaces(List.of(lab.serverIf())).events(true)))) {
            DupAckProbe probe = set.probe(DupAckProbe.class);
            // Whether an ACK repeats the one before it depends on order. The client's ACKs of one flow
            // leave from both CPUs (softirq and the reading process) and, handled on both at once,
            // could reach tcpdump's tap in one order and the TC program in the other: one CPU handles
            // them all here, so both observers see one order (without it, 1 run in 15 differed by one).
            lab.serverIngressOnOneCpu();
            // veth passes GSO packets whole, so a drop loses up to 64 KB: a few drops per transfer.
            Loss.input(lab.clientNs(), "-A", Loss.randomFromPort(8080, 0.1));
            for (String address : List.of(Lab.SERVER_V4, Lab.SERVER_V6)) {
                // Random loss can spare a transfer's middle (a few dozen GSO packets each; a lost tail
                // brings a timeout, not dup ACKs), and an ACK that repeats the last one with a new window
                // is no duplicate to Wireshark: transfers go on until the client's stack queued data out
                // of order and the probe counted a duplicate from this family. Only the loop's end rests
                // on the probe: tshark's counts below judge it, family by family (a CI run's transfers
                // over IPv6 ended, on the out-of-order data alone, with no duplicate tshark counted).
                boolean ipv6 = address.contains(":");
                long outOfOrder = Cmd.nstat(lab.clientNs(), "TcpExtTCPOFOQueue");
                for (int i = 0; i < 2 || (i < 8 && (Cmd.nstat(lab.clientNs(), "TcpExtTCPOFOQueue") == outOfOrder
                        || probe.topFlows(100).stream().noneMatch(f -> f.flow().ipv6() == ipv6))); i++) {
                    assertEquals(4_000_000, Traffic.download(lab.client(), address, 8080));
                }
            }
            Connections.settle(lab); // a late retransmit would bring a dup ACK the count below missed
            long counted = probe.read().dupacks();
            long oracle = in.count("tcp.analysis.duplicate_ack");
            assertTrue(oracle > 0, "loss made the client repeat its ACKs");
            assertEquals(oracle, counted, "dup ACKs: tcpinspect vs tshark");
            assertEquals(0, probe.read().flowsUntracked(), "no flow went untracked");
            List<FlowDupAcks> flows = probe.topFlows(100);
            assertEquals(counted, flows.stream().mapToLong(FlowDupAcks::dupacks).sum());
            assertTrue(flows.stream().allMatch(f -> f.flow().lport() == 8080), flows.toString());
            for (boolean ipv6 : new boolean[] {false, true}) {
                long family = in.count("tcp.analysis.duplicate_ack && " + (ipv6 ? "ipv6" : "ip"));
                assertTrue(family > 0, (ipv6 ? "IPv6" : "IPv4") + ": loss made the client repeat its ACKs");
                assertEquals(family, flows.stream().filter(f -> f.flow().ipv6() == ipv6).mapToLong(FlowDupAcks::dupacks).sum(),
                        (ipv6 ? "IPv6" : "IPv4") + " dup ACKs: tcpinspect vs tshark, " + flows);
            }
        }
    }
}
