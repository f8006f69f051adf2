package dev.tcpinspect.cli;

import dev.tcpinspect.ebpf.XdpMode;
import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.os.Privileges;
import dev.tcpinspect.output.Presenter;
import dev.tcpinspect.probe.ProbeSet;
import dev.tcpinspect.probe.registry.ProbeRegistry;
import dev.tcpinspect.snapshot.Reading;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {
            "See tcpinspect work without touching this host's own interfaces: builds a lab of two network",
            "namespaces joined by a veth pair (198.18.0.1 <-> 198.18.0.2, fd00:7c1::1 <-> fd00:7c1::2),",
            "attaches in the server namespace, runs a few seconds of real traffic (connections and SYNs",
            "to closed ports, both ways, over IPv4 and IPv6), prints what it counted next to what the",
            "traffic generator did, and removes the lab, also on Ctrl-C."})
final class DemoCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** What the demo's traffic generator did, and so what the server must have received. */
    static final class TrafficTally {
        int inbound;        // client -> server connections: a SYN and a FIN arrive at the server for each
        int inboundRefused; // client SYNs to closed server ports: a SYN arrives, the RST leaves
        int outbound;       // server -> client connections: a SYN-ACK and a FIN arrive at the server
        int outboundRefused; // server SYNs to closed client ports: a RST arrives

        void round(Lab lab, int connections, int closedPorts) {
            for (String[] pair : new String[][] {{Lab.SERVER_V4, Lab.CLIENT_V4}, {Lab.SERVER_V6, Lab.CLIENT_V6}}) {
                inbound += Traffic.connect(lab.client(), pair[0], PORT, connections);
                inboundRefused += Traffic.synToClosedPorts(lab.client(), pair[0], CLOSED_PORT, closedPorts);
                outbound += Traffic.connect(lab.server(), pair[1], PORT, Math.max(1, connections / 4));
                outboundRefused += Traffic.synToClosedPorts(lab.server(), pair[1], CLOSED_PORT, Math.max(1, closedPorts / 2));
            }
        }

        /** What the demo's table compares: the packets probe's counts, by their JSON paths. */
        void print(Reading seen) {
            System.out.printf("%nThe traffic generator made, over IPv4 and IPv6:%n");
            System.out.printf("  %4d connections client -> server:%d, %d SYNs client -> closed server ports%n",
                    inbound, PORT, inboundRefused);
            System.out.printf("  %4d connections server -> client:%d, %d SYNs server -> closed client ports%n",
                    outbound, PORT, outboundRefused);
            System.out.printf("%n  incoming at the server   expected  counted%n");
            System.out.printf("  %-22s %10d %8d%n", "SYN", inbound + inboundRefused, seen.count("packets.syn"));
            System.out.printf("  %-22s %10d %8d%n", "SYN-ACK", outbound, seen.count("packets.synack"));
            System.out.printf("  %-22s %10d %8d%n", "FIN", inbound + outbound, seen.count("packets.fin"));
            System.out.printf("  %-22s %10d %8d%n", "RST", outboundRefused, seen.count("packets.rst"));
        }
    }

    static final int PORT = 8080;
    static final int CLOSED_PORT = 9000;

    @Option(names = "--connections", defaultValue = "20", paramLabel = "N",
            description = "Connections per round and address family. Default: ${DEFAULT-VALUE}.")
    int connections;

    @Option(names = "--closed-ports", defaultValue = "10", paramLabel = "N",
            description = "SYNs to closed ports per round and address family. Default: ${DEFAULT-VALUE}.")
    int closedPorts;

    @Option(names = "--rounds", defaultValue = "3", paramLabel = "N",
            description = "Rounds of traffic, one a second. Default: ${DEFAULT-VALUE}.")
    int rounds;

    @Option(names = "--xdp", description = "Attach with XDP instead of TC ingress.")
    boolean xdp;

    @Option(names = "--format", paramLabel = "FORMAT", defaultValue = "text",
            description = "text or json. Default: ${DEFAULT-VALUE}.")
    Presenter.Format format;

    @Override
    public Integer call() throws Exception {
        if (connections < 0 || connections > 10_000 || closedPorts < 0 || closedPorts > 10_000 || rounds < 1
                || rounds > 3_600) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--connections and --closed-ports must be"
                    + " from 0 to 10000, and --rounds from 1 to 3600");
        }
        Privileges privileges = Privileges.current();
        if (!privileges.canAttachPacketPrograms() || !privileges.capSysAdmin()) {
            throw new IllegalStateException("demo: this needs root (CAP_SYS_ADMIN as well as CAP_BPF, CAP_PERFMON and"
                    + " CAP_NET_ADMIN: it makes network namespaces): run it with sudo");
        }
        boolean text = format == Presenter.Format.TEXT;
        try (StopSignal stop = new StopSignal(); Lab lab = Lab.create()) {
            if (text) {
                System.out.printf("Lab: namespaces %s (server %s, %s) and %s (client %s, %s)%n", lab.serverNs(),
                        Lab.SERVER_V4, Lab.SERVER_V6, lab.clientNs(), Lab.CLIENT_V4, Lab.CLIENT_V6);
            }
            // the line table, as wide as the terminal (or 120 columns through a pipe)
            boolean terminal = dev.tcpinspect.os.Tty.isTerminal(dev.tcpinspect.os.Tty.STDOUT);
            Presenter presenter = Presenter.of(format, System.out, WatchCommand.defaultWidth(terminal), terminal);
            ProbeSet.Options options = ProbeSet.Options.defaults().interfaces(List.of(lab.serverIf()))
                    .xdp(xdp, XdpMode.AUTO).events(presenter.wantsEvents());
            try (Traffic.Server v4 = Traffic.listen(lab.server(), Lab.SERVER_V4, PORT);
                 Traffic.Server v6 = Traffic.listen(lab.server(), Lab.SERVER_V6, PORT);
                 Traffic.Server back4 = Traffic.listen(lab.client(), Lab.CLIENT_V4, PORT);
                 Traffic.Server back6 = Traffic.listen(lab.client(), Lab.CLIENT_V6, PORT);
                 ProbeSet probes = lab.server().call(() -> ProbeSet.start(ProbeRegistry.all(), options))) {
                AtomicReference<Throwable> trafficFailure = new AtomicReference<>();
                TrafficTally tally = new TrafficTally();
                Reading seen = WatchSession.run(probes, List.of(lab.serverIf()), xdp ? "xdp" : "tc-ingress",
                        presenter, Duration.ofSeconds(1), null, stop,
                        () -> Thread.ofPlatform().daemon(true).name("demo-traffic").start(() -> {
                            try {
                                for (int r = 0; r < rounds && !stop.requested(); r++) {
                                    tally.round(lab, connections, closedPorts);
                                    stop.await(Duration.ofSeconds(1));
                                }
                            } catch (Throwable t) {
                                trafficFailure.set(t);
                            } finally {
                                stop.request();
                            }
                        }));
                if (trafficFailure.get() != null) {
                    throw new IllegalStateException("demo traffic failed: " + Main.oneLine(trafficFailure.get()),
                            trafficFailure.get());
                }
                if (text) {
                    tally.print(seen);
                }
            }
        }
        return 0;
    }
}
