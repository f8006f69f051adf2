package dev.tcpinspect.probe.drops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.ebpf.KernelEnums;
import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.os.SnmpCounters;
import dev.tcpinspect.probe.ProbeSet;
import dev.tcpinspect.testing.Bpftrace;
import dev.tcpinspect.testing.Capture;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.Connections;
import dev.tcpinspect.testing.Firewall;
import dev.tcpinspect.testing.RequiresBpf;
import java.util.List;
import java.util.Map;
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

    /**
     * The drops handler reads the freed packet's own headers, IPv6 extension headers included: SYNs
     * with a bad TCP checksum (frames built here, replayed onto the wire) behind a destination-
     * options header, and behind hop-by-hop plus destination options, are dropped by TCP and must
     * be counted under their own flows, with the ports past the extension headers. Oracles: the
     * capture shows the frames arrived, and the kernel's own Tcp InCsumErrors counts them.
     */
    @Test
    void dropsBehindIpv6ExtensionHeadersAreUnderTheirFlows() throws Exception {
        List<byte[]> frames = new java.util.ArrayList<>();
        for (int i = 0; i < 3; i++) {
            frames.add(dev.tcpinspect.testing.Frame.ipv6().ext(60).flags(dev.tcpinspect.testing.Frame.SYN)
                    .sport(41000).dport(9600).build());
        }
        for (int i = 0; i < 2; i++) {
            frames.add(dev.tcpinspect.testing.Frame.ipv6().ext(0).ext(60).flags(dev.tcpinspect.testing.Frame.SYN)
                    .sport(41001).dport(9601).build());
        }
        frames.add(dev.tcpinspect.testing.Frame.ipv6().flags(dev.tcpinspect.testing.Frame.SYN).sport(41002).dport(9602)
                .build());
        java.nio.file.Path replay = dev.tcpinspect.testing.Pcap.write(frames);
        try (Lab lab = Lab.create()) {
            // The frames are addressed to 02:00:00:00:00:01: the server's interface takes that address.
            Cmd.run("ip", "netns", "exec", lab.serverNs(), "ip", "link", "set", "dev", lab.serverIf(), "address",
                    "02:00:00:00:00:01").ok();
            try (Capture in = Capture.incoming(lab.serverNs(), lab.serverIf());
                 ProbeSet set = lab.server().call(() -> ProbeSet.start(List.of(new DropsProbe()),
                         ProbeSet.Options.defaults()))) {
                DropsProbe probe = set.probe(DropsProbe.class);
                Map<String, Long> snmpBefore = lab.server().call(SnmpCounters::read);
                DropCounts before = probe.read();
                Cmd.run("ip", "netns", "exec", lab.clientNs(), "tcpreplay", "-q", "-i", lab.clientIf(),
                        replay.toString()).ok();
                Thread.sleep(300);
                DropCounts counted = probe.read().minus(before);
                long csumErrors = delta(lab.server().call(SnmpCounters::read), snmpBefore, "Tcp:InCsumErrors");

                assertEquals(6, in.count("ipv6 && tcp.dstport >= 9600 && tcp.dstport <= 9602"),
                        "the capture shows the frames arrived");
                assertEquals(6, csumErrors, "the kernel counted their bad checksums; the probe: " + counted);
                assertEquals(6, counted.byReason().getOrDefault("TCP_CSUM", 0L), counted.toString());
                Map<Integer, Long> byPort = new java.util.TreeMap<>();
                for (FlowDrops f : probe.topFlows(100)) {
                    if (f.reason().equals("TCP_CSUM")) {
                        assertTrue(f.flow().ipv6(), f.toString());
                        assertEquals(java.net.InetAddress.getByName(Lab.CLIENT_V6), f.flow().raddr(), f.toString());
                        assertEquals(java.net.InetAddress.getByName(Lab.SERVER_V6), f.flow().laddr(), f.toString());
                        assertEquals(41000 + f.flow().lport() - 9600, f.flow().rport(), f.toString());
                        byPort.merge(f.flow().lport(), f.count(), Long::sum);
                    }
                }
                assertEquals(Map.of(9600, 3L, 9601, 2L, 9602, 1L), byPort);
            }
        } finally {
            replay.toFile().delete();
        }
    }

    /** A number of a kernel enum skb_drop_reason value, by its name without the prefix, from the kernel's BTF. */
    private static long dropReason(String name) {
        return KernelEnums.values("skb_drop_reason", "SKB_DROP_REASON_").entrySet().stream()
                .filter(e -> e.getValue().equals(name)).mapToLong(Map.Entry::getKey).findFirst()
                .orElseThrow(() -> new AssertionError("the kernel has no drop reason " + name));
    }

    /** A server that answers the first line and closes first, before the peer's FIN: the peer's FIN finds it in FIN_WAIT2. */
    private static java.net.ServerSocket answerAndCloseFirst(Lab lab, int port) {
        java.net.ServerSocket server = lab.server().call(() -> {
            java.net.ServerSocket s = new java.net.ServerSocket();
            s.setReuseAddress(true);
            s.bind(new java.net.InetSocketAddress(Lab.SERVER_V4, port), 1024);
            return s;
        });
        Thread.ofPlatform().daemon(true).name("answer-close-first").start(() -> {
            while (!server.isClosed()) {
                try (java.net.Socket s = server.accept()) {
                    java.io.InputStream in = s.getInputStream();
                    int b;
                    do {
                        b = in.read();
                    } while (b != -1 && b != '\n');
                    s.getOutputStream().write("bye\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
                } catch (java.io.IOException e) {
                    return; // closed
                }
            }
        });
        return server;
    }

    /** Connections to a server that closes first: each sends a line, reads the answer to its end and closes. */
    private static int requestsToServerClosingFirst(Lab lab, int port, int count) {
        return lab.client().call(() -> {
            int done = 0;
            for (int i = 0; i < count; i++) {
                try (java.net.Socket s = new java.net.Socket()) {
                    s.connect(new java.net.InetSocketAddress(Lab.SERVER_V4, port), 3000);
                    s.getOutputStream().write("hello\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
                    if (s.getInputStream().readAllBytes().length == 4) {
                        done++;
                    }
                }
            }
            return done;
        });
    }

    private static long delta(Map<String, Long> after, Map<String, Long> before, String counter) {
        return after.getOrDefault(counter, 0L) - before.getOrDefault(counter, 0L);
    }

    /**
     * Healthy short connections free packets at teardown without losing any: counted as teardown
     * frees, not drops. Both ways a connection ends: the client closes first (the server, in
     * LAST_ACK, frees the final ACK without a reason) and the server closes first (the client's FIN
     * is purged when the server's socket goes to TIME_WAIT). nstat and a capture show nothing was
     * lost and every connection completed; bpftrace counts the same frees on the same tracepoint in
     * the server's namespace; then one SYN to a closed port is a real drop, and only it.
     */
    @Test
    void teardownFreesOfHealthyConnectionsAreNotDrops() throws Exception {
        int connections = 200;
        int clientClosesFirst = 8080;
        int serverClosesFirst = 8082;
        int inClientNs = 8083;
        long notSpecified = dropReason("NOT_SPECIFIED");
        long queuePurge = dropReason("QUEUE_PURGE");
        try (Lab lab = Lab.create();
             Traffic.Server readToEnd = Traffic.listen(lab.server(), Lab.SERVER_V4, clientClosesFirst);
             java.net.ServerSocket closesFirst = answerAndCloseFirst(lab, serverClosesFirst);
             Traffic.Server clientSideServer = Traffic.listen(lab.client(), Lab.CLIENT_V4, inClientNs);
             Capture in = Capture.incoming(lab.serverNs(), lab.serverIf());
             Capture out = Capture.outgoing(lab.serverNs(), lab.serverIf());
             ProbeSet set = lab.server().call(() -> ProbeSet.start(List.of(new DropsProbe()),
                     ProbeSet.Options.defaults()))) {
            DropsProbe probe = set.probe(DropsProbe.class);
            long serverNs = lab.server().inode();
            long clientNs = lab.client().inode();
            // The probe's namespace is the packet's device's, else its socket's, else the receiving
            // socket's (rx_sk, from 6.12); TCP is read from the IP header, as the kernel wrote it.
            String script = """
                    tracepoint:skb:kfree_skb /(args->protocol == 0x0800 || args->protocol == 0x86DD)
                        && (args->reason == %d || args->reason == %d)/ {
                      $skb = (struct sk_buff *)args->skbaddr;
                      $l3 = $skb->head + $skb->network_header;
                      $tcp = args->protocol == 0x0800 ? ((struct iphdr *)$l3)->protocol == 6
                                                      : ((struct ipv6hdr *)$l3)->nexthdr == 6;
                      if ($tcp) {
                        $ns = (uint64)0;
                        if ($skb->dev != 0) {
                          $ns = $skb->dev->nd_net.net->ns.inum;
                        } else if ($skb->sk != 0) {
                          $ns = $skb->sk->__sk_common.skc_net.net->ns.inum;
                        } else if (args->rx_sk != 0) {
                          $ns = ((struct sock *)args->rx_sk)->__sk_common.skc_net.net->ns.inum;
                        }
                        @frees[args->reason, $ns] = count();
                      }
                    }
                    """.formatted(notSpecified, queuePurge);
            Map<String, Long> serverBefore = lab.server().call(SnmpCounters::read);
            Map<String, Long> clientBefore = lab.client().call(SnmpCounters::read);
            Map<String, Long> frees;
            String bpftraceSaid;
            DropCounts counted;
            try (Bpftrace bpftrace = Bpftrace.start(script)) {
                DropCounts before = probe.read();
                assertEquals(connections, Traffic.connect(lab.client(), Lab.SERVER_V4, clientClosesFirst, connections));
                assertEquals(connections, requestsToServerClosingFirst(lab, serverClosesFirst, connections));
                // The other way round: a server in the client's namespace frees the last ACKs there.
                assertEquals(50, Traffic.connect(lab.server(), Lab.CLIENT_V4, inClientNs, 50));
                Connections.settle(lab);
                Thread.sleep(200);
                counted = probe.read().minus(before);
                frees = bpftrace.stop();
                bpftraceSaid = bpftrace.output();
            }
            Map<String, Long> serverAfter = lab.server().call(SnmpCounters::read);
            Map<String, Long> clientAfter = lab.client().call(SnmpCounters::read);

            // One real drop in the same run: a SYN to a closed port is a drop, not a teardown free.
            DropCounts beforeDrop = probe.read();
            assertEquals(1, Traffic.synToClosedPorts(lab.client(), Lab.SERVER_V4, CLOSED_PORT, 1));
            Thread.sleep(200);
            DropCounts drop = probe.read().minus(beforeDrop);

            // Nothing was lost: no retransmission either way, nothing refused or discarded on arrival.
            for (String counter : List.of("Tcp:RetransSegs", "TcpExt:TCPLostRetransmit", "Tcp:InErrs",
                    "TcpExt:ListenDrops", "TcpExt:ListenOverflows", "TcpExt:TCPBacklogDrop", "Ip:InDiscards")) {
                assertEquals(0, delta(serverAfter, serverBefore, counter), "server " + counter);
                assertEquals(0, delta(clientAfter, clientBefore, counter), "client " + counter);
            }
            // Every connection completed, both FINs each, none reset or retransmitted.
            for (int port : List.of(clientClosesFirst, serverClosesFirst)) {
                assertEquals(connections, in.streams(Capture.SYN + " && tcp.dstport == " + port), "SYNs to " + port);
                assertEquals(connections, in.streams(Capture.FIN + " && tcp.dstport == " + port), "client FINs to " + port);
                assertEquals(connections, out.streams(Capture.FIN + " && tcp.srcport == " + port), "server FINs from " + port);
            }
            assertEquals(50, out.streams(Capture.SYN + " && tcp.dstport == " + inClientNs), "SYNs to " + inClientNs);
            assertEquals(50, in.streams(Capture.FIN + " && tcp.srcport == " + inClientNs), "FINs from " + inClientNs);
            String served = "(tcp.port == " + clientClosesFirst + " || tcp.port == " + serverClosesFirst
                    + " || tcp.port == " + inClientNs + ")";
            assertEquals(0, in.count(served + " && " + Capture.RST) + out.count(served + " && " + Capture.RST),
                    in.describe(Capture.RST) + out.describe(Capture.RST));
            String lost = "tcp.analysis.retransmission || tcp.analysis.lost_segment || tcp.analysis.out_of_order";
            assertEquals(0, in.count(lost) + out.count(lost), in.describe(lost) + out.describe(lost));

            // So none of it is a drop, and what was freed at teardown is what bpftrace saw freed in the
            // server's namespace, reason by reason.
            assertEquals(0, counted.total(), counted.toString());
            assertEquals(Map.of(), counted.byReason(), counted.toString());
            long expectedNotSpecified = frees.getOrDefault("frees[" + notSpecified + ", " + serverNs + "]", 0L);
            long expectedQueuePurge = frees.getOrDefault("frees[" + queuePurge + ", " + serverNs + "]", 0L);
            // (once in CI bpftrace's counts came back empty: what it printed then, to tell why)
            assertTrue(expectedNotSpecified > 0 && expectedQueuePurge > 0, frees + "; bpftrace printed: " + bpftraceSaid);
            assertEquals(expectedNotSpecified, counted.teardownFrees().getOrDefault("NOT_SPECIFIED", 0L),
                    counted + " vs bpftrace " + frees);
            // One per connection on the side that closes second (README): in the server's namespace,
            // the connections whose client closed first.
            // A close that races its peer's can end without that free (one of 200 did in a CI run, where
            // the probe and bpftrace both counted 199): the kernel's behaviour, not a count missed, so
            // this model check allows 1%; the probe's own count is held to bpftrace's exactly (above).
            assertTrue(expectedNotSpecified <= connections && expectedNotSpecified >= connections - connections / 100,
                    "NOT_SPECIFIED frees in the server's namespace, one per connection: " + connections + " vs " + frees);
            assertEquals(expectedQueuePurge, counted.teardownFrees().getOrDefault("QUEUE_PURGE", 0L),
                    counted + " vs bpftrace " + frees);
            // The client's namespace freed packets at teardown too (its server's); the probe watches the
            // server's namespace only.
            assertTrue(frees.getOrDefault("frees[" + notSpecified + ", " + clientNs + "]", 0L) > 0, frees.toString());

            assertEquals(1, in.count(Capture.SYN + " && tcp.dstport == " + CLOSED_PORT), "the capture shows the SYN");
            assertEquals(1, drop.total(), drop.toString());
            assertEquals(Map.of("NO_SOCKET", 1L), drop.byReason(), drop.toString());
            assertEquals(Map.of(), drop.teardownFrees(), drop.toString());
        }
    }


    /**
     * Overflows come from the kernel's own counter (no tracepoint fires), TcpExt ListenOverflows, which
     * nstat reads too: so nstat alone would only check that the probe reads it. The oracles tcpinspect
     * did not read: the clients' own failed connects, and the capture. With a backlog of 1 the accept
     * queue takes two connections; every later SYN finds it full and is dropped (one overflow each)
     * without a SYN-ACK, and each client gives up after 300 ms, before the kernel's first SYN retry
     * at 1 s: one SYN, one overflow, one failed connect each. So overflows = failed connects = SYNs
     * to the port that got no SYN-ACK.
     */
    @Test
    void listenQueueOverflowsMatchNstat() throws Exception {
        try (Lab lab = Lab.create();
             ProbeSet set = lab.server().call(() -> ProbeSet.start(List.of(new DropsProbe()),
                     ProbeSet.Options.defaults().events(true)));
             java.net.ServerSocket neverAccepts = lab.server().call(() -> {
                 java.net.ServerSocket s = new java.net.ServerSocket();
                 s.bind(new java.net.InetSocketAddress(Lab.SERVER_V4, 8090), 1);
                 return s;
             });
             Capture in = Capture.incoming(lab.serverNs(), lab.serverIf());
             Capture out = Capture.outgoing(lab.serverNs(), lab.serverIf())) {
            DropsProbe probe = set.probe(DropsProbe.class);
            long overflowsBefore = Cmd.nstat(lab.serverNs(), "TcpExtListenOverflows");
            DropCounts before = probe.read();
            int[] failed = new int[1];
            List<java.net.Socket> clients = lab.client().call(() -> {
                List<java.net.Socket> made = new java.util.ArrayList<>();
                for (int i = 0; i < 6; i++) {
                    java.net.Socket s = new java.net.Socket();
                    try {
                        s.connect(new java.net.InetSocketAddress(Lab.SERVER_V4, 8090), 300);
                    } catch (java.io.IOException timedOut) {
                        // the queue is full: expected for most of them
                        failed[0]++;
                    }
                    made.add(s);
                }
                return made;
            });
            Thread.sleep(1500);
            DropCounts counted = probe.read().minus(before);
            long overflows = Cmd.nstat(lab.serverNs(), "TcpExtListenOverflows") - overflowsBefore;
            for (java.net.Socket s : clients) {
                s.close();
            }
            assertTrue(overflows > 0, "the accept queue overflowed");
            assertEquals(overflows, counted.listenOverflows(), counted.toString());
            assertEquals(4, failed[0], "two connections fit the queue (backlog 1), four did not");
            assertEquals(failed[0], counted.listenOverflows(), counted.toString());
            long syns = in.count(Capture.SYN + " && tcp.dstport == 8090");
            long synAcks = out.count(Capture.SYNACK + " && tcp.srcport == 8090");
            assertEquals(6, syns, in.describe(Capture.TCP));
            assertEquals(syns - synAcks, counted.listenOverflows(), "SYNs without a SYN-ACK: " + out.describe(Capture.TCP));
        }
    }

    /**
     * A TCP receive queue that overflows: the server accepts with the default buffer (a large first
     * window), then shrinks SO_RCVBUF to 4 KB before the client sends; the segments already allowed
     * in flight find the buffer full and tcp_data_queue drops them (PROTO_MEM, TcpExt TCPRcvQDrop).
     * The oracle tcpinspect does not read: bpftrace counting kfree_skb with reason PROTO_MEM on
     * sockets of the server's namespace. Out-of-order drops share that reason, so nstat must show
     * none of them (TCPOFODrop); nstat's TCPRcvQDrop must agree as well.
     */
    @Test
    void receiveQueueFullMatchesTheKernelsDrops() throws Exception {
        try (Lab lab = Lab.create();
             ProbeSet set = lab.server().call(() -> ProbeSet.start(List.of(new DropsProbe()),
                     ProbeSet.Options.defaults().events(true)));
             java.net.ServerSocket listener = lab.server().call(() -> {
                 java.net.ServerSocket s = new java.net.ServerSocket();
                 s.bind(new java.net.InetSocketAddress(Lab.SERVER_V4, 8091));
                 return s;
             })) {
            DropsProbe probe = set.probe(DropsProbe.class);
            String script = "tracepoint:skb:kfree_skb /args->reason == SKB_DROP_REASON_PROTO_MEM && args->rx_sk != 0"
                    + " && ((struct sock *)args->rx_sk)->__sk_common.skc_net.net->ns.inum == " + lab.server().inode()
                    + "/ { @protomem = count(); }";
            long rcvqBefore = Cmd.nstat(lab.serverNs(), "TcpExtTCPRcvQDrop");
            long ofoBefore = Cmd.nstat(lab.serverNs(), "TcpExtTCPOFODrop");
            DropCounts before = probe.read();
            java.net.Socket client = lab.client().call(() -> {
                java.net.Socket s = new java.net.Socket();
                s.connect(new java.net.InetSocketAddress(Lab.SERVER_V4, 8091), 3000);
                return s;
            });
            Map<String, Long> oracle;
            try (client; java.net.Socket accepted = listener.accept(); Bpftrace bpftrace = Bpftrace.start(script)) {
                accepted.setReceiveBufferSize(4096); // never read from
                Thread writer = Thread.ofPlatform().daemon(true).start(() -> {
                    try {
                        client.getOutputStream().write(new byte[1 << 20]);
                    } catch (java.io.IOException closed) {
                        // the test closed the connection
                    }
                });
                Thread.sleep(1500);
                oracle = bpftrace.stop();
                writer.interrupt();
            }
            DropCounts counted = probe.read().minus(before);
            long rcvq = Cmd.nstat(lab.serverNs(), "TcpExtTCPRcvQDrop") - rcvqBefore;
            long drops = oracle.getOrDefault("protomem", 0L);
            assertTrue(drops > 0, "the receive queue overflowed: " + oracle);
            assertEquals(0, Cmd.nstat(lab.serverNs(), "TcpExtTCPOFODrop") - ofoBefore, "no out-of-order drops share PROTO_MEM");
            assertEquals(drops, counted.rcvqueueFull(), counted.toString());
            assertEquals(rcvq, counted.rcvqueueFull(), counted.toString());
            assertEquals(drops, counted.byReason().getOrDefault("PROTO_MEM", 0L), counted.toString());
        }
    }
}
