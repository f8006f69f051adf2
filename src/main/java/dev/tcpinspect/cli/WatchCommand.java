package dev.tcpinspect.cli;

import dev.tcpinspect.ebpf.XdpMode;
import dev.tcpinspect.os.NetInterfaces;
import dev.tcpinspect.os.Privileges;
import dev.tcpinspect.output.Presenter;
import dev.tcpinspect.probe.TcSlots;
import dev.tcpinspect.probe.syncount.SynCountProbe;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "watch", mixinStandardHelpOptions = true,
        description = {
            "Watch incoming TCP in the kernel. Observation only: every packet goes on unchanged.",
            "",
            "Probes (all by default; choose with --probe):",
            "  packets   incoming TCP packets: all, SYN (no ACK), SYN-ACK, FIN, RST, pure ACK, malformed,",
            "            and SYNs per destination port; a TC ingress program (or XDP with --xdp) per interface",
            "  conn      every TCP state change (sock:inet_sock_set_state); connections accepted, opened and",
            "            closed, with duration, bytes and how they ended (FIN, RST sent/received, timeout)",
            "  handshake handshake latency: accepted connections from their first SYN at TC ingress (a lost",
            "            and retried SYN counts from the first) to ESTABLISHED, others from SYN_SENT; log-linear",
            "            histograms, percentiles overall and per local port",
            "  retrans   retransmissions (tcp:tcp_retransmit_skb and tcp_retransmit_synack), per flow, with",
            "            an event line per retransmit in JSON; this network namespace unless --all-netns",
            "  reset     resets sent (tcp:tcp_send_reset, with the kernel's reason) and received",
            "            (tcp:tcp_receive_reset), per flow, with the TCP state they hit; namespaces as retrans",
            "  drops     TCP packets the kernel dropped (skb:kfree_skb), per reason as the running kernel names",
            "            them and per flow; receive queue full; listen-queue overflows (kernel counter)",
            "  zerowin   zero windows advertised by peers (TC ingress) and by this host (TC egress), per",
            "            flow, with how long the window stayed closed",
            "  rtt       smoothed RTT and cwnd per remote address from tcp:tcp_probe; histogram, percentiles",
            "  dupack    duplicate ACKs received per flow at TC ingress (Wireshark's definition)",
            "",
            "Prints a line every interval; at the end of --duration, on Ctrl-C or SIGTERM it detaches",
            "everything and prints a summary of what happened after it said it was ready."},
        footer = {"", "Examples:",
            "  sudo tcpinspect watch                          every interface that is up, until Ctrl-C",
            "  sudo tcpinspect watch -i eth0 --duration 10    ten seconds on eth0, then a summary",
            "  sudo tcpinspect watch -i eth0 -i lo --xdp      XDP instead of TC (one XDP program per device)",
            "  sudo tcpinspect watch --format json | jq .     one JSON object per line",
            "  sudo tcpinspect watch --probe retrans --all-netns   retransmits in every namespace"})
final class WatchCommand implements Callable<Integer> {
    @Option(names = {"-i", "--interface"}, paramLabel = "IFACE",
            description = "Interface to watch; repeat for several. Default: every interface that is up, lo included.")
    List<String> interfaces = new ArrayList<>();

    @Option(names = "--xdp", description = "Use XDP instead of TC ingress (sees frames before the stack builds an skb).")
    boolean xdp;

    @Option(names = "--xdp-mode", paramLabel = "MODE", defaultValue = "auto",
            description = "With --xdp: auto (native where the driver has it), native or generic. Default: ${DEFAULT-VALUE}.")
    XdpMode xdpMode;

    @Option(names = "--tc-mode", paramLabel = "MODE", defaultValue = "auto",
            description = "How TC programs attach: auto (tcx links where the kernel has them, 6.6+, else clsact"
                    + " filters), tcx or clsact. Default: ${DEFAULT-VALUE}.")
    TcSlots.Mode tcMode;

    @Option(names = "--duration", paramLabel = "SECONDS", description = "Stop after this many seconds. Default: until Ctrl-C.")
    Double duration;

    @Option(names = "--interval", paramLabel = "SECONDS", defaultValue = "1",
            description = "Seconds between live lines. Default: ${DEFAULT-VALUE}.")
    double interval;

    @Option(names = "--format", paramLabel = "FORMAT", defaultValue = "text",
            description = "text (a table) or json (one object per line). Default: ${DEFAULT-VALUE}.")
    Presenter.Format format;

    @Option(names = "--probe", paramLabel = "NAME",
            description = "Run only this probe; repeat for several: ${COMPLETION-CANDIDATES}. Default: all.")
    List<ProbeSet.Name> probes = new ArrayList<>();

    @Option(names = "--all-netns",
            description = "Report tracepoint probes for every network namespace, not only this one.")
    boolean allNetns;

    @Override
    public Integer call() throws Exception {
        if (interval <= 0 || (duration != null && duration <= 0)) {
            throw new IllegalArgumentException("--interval and --duration must be positive numbers of seconds");
        }
        if (!Privileges.current().canAttachPacketPrograms()) {
            throw new IllegalStateException("watch: " + Privileges.MISSING);
        }
        List<String> names = interfaces.isEmpty() ? NetInterfaces.up() : List.copyOf(new LinkedHashSet<>(interfaces));
        for (String name : names) {
            NetInterfaces.indexOf(name); // every name checked before anything is attached
        }
        if (names.isEmpty()) {
            throw new IllegalStateException("no interface is up; name one with -i");
        }
        SynCountProbe.Hook hook = xdp ? SynCountProbe.Hook.XDP : SynCountProbe.Hook.TC;
        String hookName = xdp ? "xdp-" + xdpMode.name().toLowerCase() : "tc-ingress";
        List<ProbeSet.Name> chosen = probes.isEmpty() ? List.of(ProbeSet.Name.values()) : probes;
        Presenter presenter = Presenter.of(format, System.out);
        TcSlots.mode(tcMode);
        try (StopSignal stop = new StopSignal();
             ProbeSet running = ProbeSet.start(chosen, names, hook, xdpMode, allNetns, presenter.wantsEvents())) {
            WatchSession.run(running, names, hookName, presenter, seconds(interval),
                    duration == null ? null : seconds(duration), stop, () -> {});
        }
        return 0;
    }

    static Duration seconds(double s) {
        return Duration.ofNanos((long) (s * 1e9));
    }
}
