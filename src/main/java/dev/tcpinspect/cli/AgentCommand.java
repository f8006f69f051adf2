package dev.tcpinspect.cli;

import dev.tcpinspect.agent.Agent;
import dev.tcpinspect.agent.AgentConfig;
import dev.tcpinspect.agent.AgentLog;
import dev.tcpinspect.enforce.Enforcer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import sun.misc.Signal;

@Command(name = "agent", mixinStandardHelpOptions = true,
        description = {
            "Run as a long-lived agent: every probe (or those the config names) on every interface that is up,",
            "served over HTTP for Prometheus, dashboards and scripts. Observation only: every packet goes on unchanged.",
            "",
            "Endpoints (127.0.0.1:9977 unless --listen or listen: says otherwise):",
            "  /metrics       Prometheus text format: the probes' counters and histograms, and the agent's own cost",
            "  /api/snapshot  JSON: totals since the probes started and the last interval, top flows included",
            "  /api/alerts    JSON: alerts under way and the last 200 changes",
            "  /healthz       200 'ok' while the kernel's counters are read on time, else 503",
            "  /              a live page of the above, refreshing on its own",
            ""},
        footer = {"", "Logs go to stderr, one line each (JSON with --log-format json). SIGTERM or Ctrl-C detaches",
            "everything and exits 0; SIGHUP reads the config again (a config that cannot be used is refused in the",
            "log and the running one kept). The config's keys are in the README (agent configuration).",
            "", "Examples:",
            "  sudo tcpinspect agent                                  every probe, every interface that is up",
            "  sudo tcpinspect agent --config /etc/tcpinspect/agent.yaml",
            "  sudo tcpinspect agent -i eth0 --listen 0.0.0.0:9977 --log-format json",
            "  sudo tcpinspect agent --pcap /var/log/tcpinspect/flagged.pcapng   flagged packets to a rotated file",
            "  curl -s localhost:9977/metrics | grep ^tcpinspect_packets"})
final class AgentCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--config", paramLabel = "FILE", description = "The agent's YAML config. Default: none (every default).")
    Path config;

    @Option(names = "--listen", paramLabel = "ADDR:PORT", description = "Where HTTP answers, over the config's listen:"
            + " 127.0.0.1:9977, [::1]:9977, or :9977 for every address. Default: 127.0.0.1:9977 (this host only).")
    String listen;

    @Option(names = "--log-format", paramLabel = "FORMAT", description = "text or json, over the config's log_format:."
            + " Default: text.")
    AgentConfig.LogFormat logFormat;

    @Option(names = {"-i", "--interface"}, paramLabel = "IFACE",
            description = "Interface to watch, over the config's interfaces:; repeat for several. Default: every"
                    + " interface that is up.")
    List<String> interfaces = new ArrayList<>();

    @Option(names = "--probe", paramLabel = "NAME", split = ",", converter = WatchCommand.ProbeNames.class,
            completionCandidates = WatchCommand.ProbeNames.class,
            description = "Run only this probe, over the config's probes:; repeat or separate with commas:"
                    + " ${COMPLETION-CANDIDATES}. Default: all.")
    List<String> probes = new ArrayList<>();

    /** Over the config's pcap:, the whole of it (its defaults included). */
    @CommandLine.Mixin
    PcapOptions pcap = new PcapOptions();

    @Option(names = "--tui", description = "Also show the full-screen live view of watch on this terminal (q or Ctrl-C"
            + " stops the agent); the log's lines show in it. Needs standard output to be a terminal.")
    boolean tui;

    @Override
    public Integer call() throws Exception {
        java.net.InetSocketAddress address = null;
        if (listen != null) {
            try {
                address = AgentConfig.listenAddress(listen);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--listen " + e.getMessage());
            }
        }
        java.net.InetSocketAddress listenOverride = address;
        pcap.check(spec);
        AgentConfig.Pcap capture = pcap.file == null ? null
                : new AgentConfig.Pcap(pcap.file.toAbsolutePath().normalize(), pcap.payload, pcap.sizeMegabytes, pcap.files);
        if (tui && !dev.tcpinspect.os.Tty.isTerminal(dev.tcpinspect.os.Tty.STDOUT)) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--tui needs standard output to be a terminal");
        }
        AgentLog log = new AgentLog(System.err, logFormat == null ? AgentConfig.LogFormat.TEXT : logFormat);
        Path enforcerPins = PolicyCommand.folderOf(java.util.Optional.empty()); // where the enforcer of enforce: pins
        StopSignal stop = new StopSignal();
        dev.tcpinspect.output.LivePresenter live = null;
        if (tui) {
            live = new dev.tcpinspect.output.LivePresenter(System.out, WatchCommand.defaultWidth(true), stop::request);
        }
        dev.tcpinspect.output.LivePresenter view = live;
        Agent agent = new Agent(() -> {
            AgentConfig c = config == null ? AgentConfig.defaults() : AgentConfig.read(config);
            if (listenOverride != null) {
                c = c.withListen(listenOverride);
            }
            if (logFormat != null) {
                c = c.withLogFormat(logFormat);
            }
            if (!interfaces.isEmpty()) {
                c = c.withInterfaces(interfaces);
            }
            if (!probes.isEmpty()) {
                c = c.withProbes(probes);
            }
            if (capture != null) {
                c = c.withPcap(capture);
            }
            return c;
        }, log, live);
        // A second Ctrl-C while the first one's clean-up is stuck ends the process at once: the pins of the
        // enforcer this agent started (enforce:) go first, as enforce's do, so that its XDP links go with it.
        // First, since it takes no lock: the view's restore waits for a draw that may be the stuck writer.
        stop.beforeHalt(() -> {
            try {
                if (agent.startedAnEnforcer()) {
                    Enforcer.removePinsIfOurs(enforcerPins);
                }
            } finally {
                if (view != null) {
                    view.restore();
                }
            }
        });
        Agent.State last = null;
        // SIGHUP reloads, as for most daemons; installed before the start, so that one right after "ready"
        // is a reload. Started under nohup, SIGHUP comes ignored, and the JVM would silently leave it so:
        // the agent takes it back, since a reload is what nohup wants a hangup not to do (end the process).
        dev.tcpinspect.os.Libc.restoreIfIgnored(dev.tcpinspect.os.Libc.SIGHUP);
        Signal.handle(new Signal("HUP"), s -> agent.requestReload());
        try (stop; view; Agent running = agent.start()) {
            running.run(stop::await);
            last = running.state();
            if (view != null) {
                log.divert(null);
                view.summary(java.time.Instant.now(), java.time.Duration.between(last.started(), java.time.Instant.now()),
                        last.interfaces(), last.total());
            }
            log.info("stopping: detaching everything");
        }
        log.info("stopped");
        return 0;
    }
}
