package dev.tcpinspect.agent;

import dev.tcpinspect.enforce.Enforcer;
import dev.tcpinspect.os.NetInterfaces;
import dev.tcpinspect.os.Privileges;
import dev.tcpinspect.output.PcapngWriter;
import dev.tcpinspect.output.PrometheusMetrics;
import dev.tcpinspect.probe.Probe;
import dev.tcpinspect.probe.ProbeSet;
import dev.tcpinspect.probe.TcSlots;
import dev.tcpinspect.probe.capture.CaptureProbe;
import dev.tcpinspect.probe.registry.ProbeRegistry;
import dev.tcpinspect.snapshot.Alert;
import dev.tcpinspect.snapshot.Reading;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;
import java.util.stream.Collectors;

/**
 * A long-running watch that serves what it counts over HTTP instead of printing it: the probes
 * read every interval into a {@link State} that /metrics, /api/snapshot and /healthz render, and
 * alerts kept on an {@link AlertBoard}. A reload (SIGHUP) reads the config again: a config that
 * cannot be used is refused with a log line and the running one kept; one that changes what the
 * probes watch loads them again (their counters start over, which Prometheus' rate() handles as a
 * restart); one that changes only the listen address, the ports or the log applies in place.
 */
public final class Agent implements AutoCloseable {
    /** What the HTTP endpoints serve: the latest reading, replaced whole (readers never see half of one). */
    public record State(Instant started, Instant time, List<String> interfaces, String hook, List<String> probes,
                        Reading total, Reading interval, Duration intervalLength, Set<Integer> ports,
                        List<AgentMetrics.ProgramStat> programs) {}

    /** Waits for a stop: true when one was requested within the timeout. */
    @FunctionalInterface
    public interface Stop {
        boolean await(Duration timeout) throws InterruptedException;
    }

    private final Supplier<AgentConfig> configs;
    private final AgentLog log;
    private final AlertBoard alerts = new AlertBoard();
    private final AtomicBoolean reloadRequested = new AtomicBoolean();
    /** When the running probes started counting (the start, or the last reload that loaded them again). */
    private Instant countingSince = Instant.now();
    /** The probes were loaded again: the next reading's interval is its total. */
    private boolean restarted;
    private final AgentMetrics self = new AgentMetrics();
    private AgentConfig config;
    private ProbeSet probes;
    private AgentHttp http;
    /** The pcapng file of flagged packets, when the config names one; kept across reloads that keep its settings. */
    private volatile PcapngWriter capture;
    private AgentConfig.Pcap capturing;
    /** A capture file made for probes not yet swapped in. */
    private PcapngWriter pendingCapture;
    private volatile State state;
    /** The policy enforced at XDP, while the config names one. */
    private volatile Enforcer enforcer;
    /** Whether this agent has begun to start an enforcer: pins of the namespace's enforcer may be its own since. */
    private volatile boolean startedAnEnforcer;
    /** The kernel's run-time accounting, on while the config asks for it. */
    private dev.tcpinspect.ebpf.RunTimeStats runTimeStats;

    /**
     * @param configs reads the config (the file and the command line's overrides), throwing
     *     {@link AgentConfig.ConfigException} for one that cannot be used; called at the start and
     *     on every reload
     */
    public Agent(Supplier<AgentConfig> configs, AgentLog log) {
        this(configs, log, null);
    }

    /** @param view a full-screen view (agent --tui) fed each reading and alert, or null */
    public Agent(Supplier<AgentConfig> configs, AgentLog log, dev.tcpinspect.output.Presenter view) {
        this.configs = configs;
        this.log = log;
        this.view = view;
    }

    private final dev.tcpinspect.output.Presenter view;

    /** Loads and attaches the probes and starts answering HTTP; anything that fails leaves nothing behind. */
    public Agent start() {
        config = configs.get();
        log.format(config.logFormat());
        try {
            if (config.behindEnforcer().isEmpty()) {
                probes = startProbes(config);
                adoptCapture(config, true);
                enforcer = startEnforcer(config);
            } else {
                enforcer = startEnforcer(config); // first: the probes' XDP program runs behind its program
                probes = startProbes(config);
                adoptCapture(config, true);
            }
            runTimeStats(config);
            read(Instant.now()); // before the first request can come
            http = AgentHttp.start(config.listen(), this);
        } catch (RuntimeException e) {
            close();
            throw e;
        }
        log.info("ready", "interfaces", String.join(",", probes.options().interfaces()), "hook", hook(config), "probes",
                String.join(",", probes.names()), "listen", AgentHttp.describe(http.address()), "ports", portsText(),
                "enforce", enforcing(config));
        if (view != null) {
            view.ready(Instant.now(), probes.options().interfaces(), hook(config), probes.names());
            log.divert(view::notice);
        }
        return this;
    }

    /**
     * Whether this agent has begun to start an enforcer (its config named one, at the start or a
     * reload): only then may the namespace's enforcer pins be this process's, for a forced exit to remove.
     */
    public boolean startedAnEnforcer() {
        return startedAnEnforcer;
    }

    /** Asks the running loop to read the config again (from a signal handler: returns at once). */
    public void requestReload() {
        reloadRequested.set(true);
    }

    /** Reads every interval and drains every second until stopped; reloads when asked. */
    public void run(Stop stop) throws InterruptedException {
        Instant next = Instant.now().plus(interval());
        Instant drain = Instant.now().plus(DRAIN_EVERY);
        while (true) {
            Instant now = Instant.now();
            Instant wake = next.isBefore(drain) ? next : drain;
            Duration wait = Duration.between(now, wake);
            if (wait.compareTo(RELOAD_POLL) > 0) {
                wait = RELOAD_POLL;
            }
            if (stop.await(wait)) {
                return;
            }
            if (reloadRequested.getAndSet(false)) {
                reload();
                next = Instant.now().plus(interval());
                continue;
            }
            now = Instant.now();
            reportInterfacesGone();
            if (!now.isBefore(drain)) { // on its own clock: a short interval must not put draining off
                probes.drain();
                if (enforcer != null) {
                    try {
                        enforcer.tables().sweep(System.nanoTime()); // expired live entries (auto_block) go
                    } catch (RuntimeException e) {
                        log.error("enforcer: expired live entries not removed this time (the kernel ignores them)",
                                "problem", AgentHttp.oneLine(e));
                    }
                }
                drain = now.plus(DRAIN_EVERY);
            }
            if (!now.isBefore(next)) {
                read(now);
                next = now.plus(interval());
            }
        }
    }

    /** How often the kernel's per-flow tables are drained when the interval is longer (flowtable.h). */
    private static final Duration DRAIN_EVERY = Duration.ofSeconds(1);
    /** How soon a reload request is noticed (signal handlers only set a flag). */
    private static final Duration RELOAD_POLL = Duration.ofMillis(200);

    private Duration interval() {
        return Duration.ofNanos((long) (config.interval() * 1e9));
    }

    public State state() {
        return state;
    }

    public AlertBoard alerts() {
        return alerts;
    }

    AgentMetrics self() {
        return self;
    }

    /** Everything /metrics serves: the probes' snapshots, rendered generically, and the agent's own figures. */
    MetricSnapshots metrics() {
        State s = state;
        Set<String> ports = new TreeSet<>();
        s.ports().forEach(p -> ports.add(String.valueOf(p)));
        List<MetricSnapshot> all = new ArrayList<>();
        new PrometheusMetrics(Map.of("port", ports)).render(s.total()).forEach(all::add);
        all.addAll(self.render(s, alerts, s.programs(), runTimeStats != null));
        return new MetricSnapshots(all);
    }

    /** Whether the agent reads as it should: a reading within three intervals. */
    public boolean healthy() {
        State s = state;
        return s != null && Duration.between(s.time(), Instant.now()).compareTo(interval().multipliedBy(3).plusSeconds(1)) < 0;
    }

    private void read(Instant now) {
        Reading total = probes.read(true);
        if (enforcer != null) {
            total = total.with(enforcer.snapshot());
        }
        State before = state;
        Reading interval = before == null || restarted ? total : total.minus(before.total());
        Duration length = before == null || restarted ? Duration.between(countingSince, now)
                : Duration.between(before.time(), now);
        if (view != null && before != null && !restarted) {
            view.interval(now, length, interval);
        }
        restarted = false;
        List<AgentMetrics.ProgramStat> programs = new ArrayList<>();
        List<dev.tcpinspect.ebpf.Program> loaded = new ArrayList<>(probes.object().programs().values());
        Enforcer e = enforcer;
        if (e != null) {
            loaded.addAll(e.programs()); // the enforcer's too: its cost is the agent's
        }
        for (var p : loaded) {
            if (p.fd() >= 0) {
                var info = p.info();
                programs.add(new AgentMetrics.ProgramStat(p.name(), info.runCount(), info.runTimeNanos()));
            }
        }
        state = new State(countingSince, now, probes.options().interfaces(), hook(config), probes.names(), total, interval, length,
                portsOf(config), programs);
        self.readings.incrementAndGet();
    }

    private void reload() {
        AgentConfig next;
        try {
            next = configs.get();
        } catch (RuntimeException e) {
            self.reloadsFailed.incrementAndGet();
            log.error("reload refused; the running configuration is kept", "problem", e.getMessage());
            return;
        }
        ProbeSet replacement = null;
        AgentHttp moved = null;
        Enforcer takeover = null;
        boolean enforceChanged = !java.util.Objects.equals(enforcerKey(next), enforcerKey(config));
        if (!next.behindEnforcer().equals(config.behindEnforcer())) {
            self.reloadsFailed.incrementAndGet();
            log.error("reload refused; the running configuration is kept", "problem", "the interfaces where the probes run"
                    + " at XDP behind the enforcer (xdp: true and enforce: on the same interfaces) are set at the agent's"
                    + " start: restart the agent to change them (now " + (config.behindEnforcer().isEmpty() ? "none"
                            : String.join(",", config.behindEnforcer())) + ")");
            return;
        }
        try {
            if (!next.sameProbes(config)) {
                replacement = startProbes(next); // refused before anything running is touched
            }
            if (!next.listen().equals(config.listen())) {
                moved = AgentHttp.start(next.listen(), this); // bound before the old one goes
            }
            if (enforceChanged && next.enforce() != null) {
                // takes over the running enforcer's pins in place (no moment unenforced), or starts one
                takeover = startEnforcer(next);
            }
        } catch (RuntimeException e) {
            if (replacement != null) {
                replacement.close();
            }
            if (moved != null) {
                moved.close();
            }
            adoptCapture(next, false);
            self.reloadsFailed.incrementAndGet();
            log.error("reload failed; the running configuration is kept", "problem", AgentHttp.oneLine(e));
            return;
        }
        if (replacement != null) {
            ProbeSet old = probes;
            probes = replacement;
            old.close();
            adoptCapture(next, true);
            alerts.clearActive(); // the old probes' episodes end with them
            countingSince = Instant.now(); // the new probes count from zero
            restarted = true;
        }
        if (moved != null) {
            http.close();
            http = moved;
        }
        if (enforceChanged) {
            Enforcer old = enforcer;
            enforcer = takeover;
            if (old != null && takeover != null) {
                old.handOver(takeover);
            } else if (old != null) {
                old.close(); // enforce: taken out of the config: XDP detached, pins removed
            }
        }
        config = next;
        runTimeStats(config);
        log.format(config.logFormat());
        portsCache = null;
        read(Instant.now());
        self.reloads.incrementAndGet();
        log.info("reloaded", "interfaces", String.join(",", probes.options().interfaces()), "probes", String.join(",", probes.names()),
                "listen", AgentHttp.describe(http.address()), "ports", portsText(), "enforce", enforcing(config));
    }

    /** The hand-off of this namespace's enforcer (the agent's own) for those of the interfaces it protects, or null. */
    private static dev.tcpinspect.probe.XdpHandoff handoff(List<String> names) {
        try (dev.tcpinspect.os.Netns here = dev.tcpinspect.os.Netns.current()) {
            return dev.tcpinspect.enforce.EnforcerHandoff.find(here, names).orElse(null);
        }
    }

    /** The probe the config's upstreams: section configures (as watch --upstream). */
    private static final String UPSTREAM_PROBE = "upstream";

    /** Chooses, configures, checks and attaches the probes of a config; throws before attaching anything on bad input. */
    private ProbeSet startProbes(AgentConfig c) {
        List<Probe> chosen = new java.util.ArrayList<>(c.probes().isEmpty() ? ProbeRegistry.all()
                : ProbeRegistry.create(c.probes()));
        if (!c.upstreams().isEmpty()) {
            Probe upstream = chosen.stream().filter(p -> p.name().equals(UPSTREAM_PROBE)).findFirst().orElse(null);
            if (upstream == null) {
                upstream = ProbeRegistry.create(List.of(UPSTREAM_PROBE)).getFirst();
                chosen.add(upstream);
            }
            for (var u : c.upstreams().entrySet()) {
                try {
                    upstream.set("add", u.getKey() + "=" + u.getValue()); // resolves its names now: at each start and reload
                } catch (IllegalArgumentException bad) {
                    throw new AgentConfig.ConfigException("upstreams", 0, bad.getMessage());
                }
            }
        }
        for (var e : c.settings().entrySet()) {
            String key = e.getKey();
            String probeName = key.substring(0, key.indexOf('.'));
            Probe probe = chosen.stream().filter(p -> p.name().equals(probeName)).findFirst().orElseThrow(
                    () -> new AgentConfig.ConfigException("set", 0, key + ": the probe " + probeName + " is not running"));
            try {
                probe.set(key.substring(key.indexOf('.') + 1), e.getValue());
            } catch (IllegalArgumentException bad) {
                throw new AgentConfig.ConfigException("set", 0, key + ": " + bad.getMessage());
            }
        }
        if (!Privileges.current().canAttachPacketPrograms()) {
            throw new IllegalStateException("agent: " + Privileges.MISSING);
        }
        List<String> names = c.interfaces().isEmpty() ? NetInterfaces.up() : List.copyOf(new LinkedHashSet<>(c.interfaces()));
        for (String name : names) {
            NetInterfaces.indexOf(name);
        }
        if (names.isEmpty()) {
            throw new IllegalStateException("no interface is up; name them under interfaces: in the config");
        }
        TcSlots.mode(c.tcMode());
        if (c.pcap() != null) {
            chosen = new ArrayList<>(chosen);
            chosen.add(new CaptureProbe(c.pcap().payload(), writer(c.pcap())::packet));
        }
        ProbeSet.Options options = ProbeSet.Options.defaults().interfaces(names).xdp(c.xdp(), c.xdpMode())
                .allNetns(c.allNetns()).events(false).xdpHandoff(c.behindEnforcer().isEmpty() ? null
                        : handoff(names));
        ProbeSet set = ProbeSet.start(chosen, options);
        set.onAlerts(alert -> {
            alerts.accept(alert);
            if (view != null) {
                view.alert(alert);
            }
            if (alert.state() != Alert.State.UPDATE) {
                log.warn("alert " + alert.state().label(), "type", alert.type(), "source", alert.source(),
                        "headline", alert.headline());
            }
            autoBlock(alert);
        });
        return set;
    }

    /**
     * Starts the enforcer a config names (or takes over the one this agent or an earlier one left
     * pinned), or returns null when it names none. Refused, before anything is attached, when it
     * cannot work with the config's probes.
     */
    private Enforcer startEnforcer(AgentConfig c) {
        AgentConfig.Enforce e = c.enforce();
        if (e == null) {
            return null;
        }
        startedAnEnforcer = true;
        String conflict = c.enforceConflict();
        if (conflict != null) {
            throw new AgentConfig.ConfigException("the configuration", 0, conflict);
        }
        if (Enforcer.requireBpffs(true)) {
            log.warn("no BPF filesystem in this mount namespace: mounted one of the agent's own; the enforcer's pins are"
                    + " seen by this process alone (tcpinspect policy elsewhere cannot reach them) and go with it");
        }
        // the policy's drops go to the capture file, whichever writer is current when they come
        var copies = c.pcap() == null ? null : new Enforcer.Capture(c.pcap().payload(), POLICY_COPIES_PER_SECOND,
                (ts, ifindex, link, origLen, data, offset, capLen, comment) -> {
                    PcapngWriter w = capture;
                    if (w != null) {
                        w.packet(ts, ifindex, link, origLen, data, offset, capLen, comment);
                    }
                });
        return Enforcer.start(new Enforcer.Options(e.policy(),
                e.interfaces(), e.mode(), e.audit(), java.util.Optional.empty(), copies));
    }

    /** The policy's drops copied into the capture file at most, a second on each CPU: a flood costs the XDP path little. */
    static final int POLICY_COPIES_PER_SECOND = 1000;

    /** What the enforcer is loaded with: a change of any of it takes the enforcer over anew. */
    private static List<Object> enforcerKey(AgentConfig c) {
        return c.enforce() == null ? null : List.of(c.enforce(), c.pcap() != null, c.pcap() != null && c.pcap().payload());
    }

    /** auto_block: a source a detection alert names is denied for the policy's TTL, which each new alert starts again. */
    private void autoBlock(Alert alert) {
        Enforcer e = enforcer;
        AgentConfig.Enforce settings = config == null ? null : config.enforce();
        if (e == null || settings == null || alert.state() == Alert.State.END
                || !AgentConfig.AUTO_BLOCK_PROBES.contains(alert.type())) {
            return;
        }
        settings.policy().autoBlockTtl().ifPresent(ttl -> {
            try {
                if (e.autoBlock(alert, ttl) && alert.state() == Alert.State.START) {
                    log.warn("auto_block: denied", "source", alert.source(), "ttl", ttl.toString().substring(2)
                            .toLowerCase(java.util.Locale.ROOT), "alert", alert.type());
                }
            } catch (RuntimeException failed) {
                // the live table full, its lock unavailable: the agent and the policy in force go on
                if (autoBlockFailures++ % 100 == 0) {
                    log.error("auto_block: could not deny a source (every 100th failure is logged)", "source",
                            alert.source(), "failures", autoBlockFailures, "problem", AgentHttp.oneLine(failed));
                }
            }
        });
    }

    /** Denials auto_block could not make (on the alert reader's thread only). */
    private long autoBlockFailures;

    /** "POLICY on IFACES", with " (audit)", or "none": for the log. */
    private static String enforcing(AgentConfig c) {
        AgentConfig.Enforce e = c.enforce();
        return e == null ? "none" : e.policyFile() + " on " + String.join(",", e.interfaces()) + (e.audit() ? " (audit)" : "");
    }

    /** The writer for a pcap setting: the running one when it is the same, else a new one (the old closed after the swap). */
    private PcapngWriter writer(AgentConfig.Pcap p) {
        if (capture != null && p.equals(capturing)) {
            return capture;
        }
        pendingCapture = new PcapngWriter(p.file(), p.maxMegabytes() * 1_000_000L, p.files(),
                NetInterfaces::nameOf);
        return pendingCapture;
    }

    private void reportInterfacesGone() {
        Enforcer e = enforcer;
        if (e != null) {
            List<String> gone;
            try {
                gone = e.interfacesGone();
            } catch (RuntimeException failed) {
                log.error("enforcer: could not check its interfaces", "problem", AgentHttp.oneLine(failed));
                gone = List.of();
            }
            for (String name : gone) {
                log.warn("enforced interface gone (deleted or moved)", "interface", name, "still_enforcing",
                        e.interfaces().isEmpty() ? "on no interface" : String.join(",", e.interfaces().keySet()));
            }
        }
        for (String name : probes.interfacesGone()) {
            List<String> left = probes.interfacesWatched();
            log.warn("interface gone (deleted or moved)", "interface", name, "still_watching",
                    left.isEmpty() ? "no interface: the tracepoint probes go on" : String.join(",", left));
        }
        for (ProbeSet.HandoffEnded end : probes.handoffsEnded()) {
            log.warn("the enforcer's XDP program is gone from an interface the probes watched behind it", "interface",
                    end.name(), "now", end.failure() == null ? "the probes at TC ingress"
                            : "nothing at ingress (" + end.failure() + ")");
        }
    }

    private String hook(AgentConfig c) {
        List<String> behind = probes.interfacesBehindHandoff();
        if (!behind.isEmpty() && behind.containsAll(probes.options().interfaces())) {
            return "xdp-behind-enforcer";
        }
        return c.xdp() ? "xdp-" + c.xdpMode().name().toLowerCase(java.util.Locale.ROOT) : "tc-ingress";
    }

    private Set<Integer> portsCache;

    /** The per-port metrics' label values: the configured ports, else the ports listening at the start or reload. */
    Set<Integer> portsOf(AgentConfig c) {
        if (portsCache == null) {
            portsCache = c.ports() != null ? c.ports() : ListeningPorts.read(AgentConfig.MAX_PORTS);
        }
        return portsCache;
    }

    private String portsText() {
        return portsOf(config).isEmpty() ? "none" : portsOf(config).stream().map(String::valueOf)
                .collect(Collectors.joining(","));
    }

    /**
     * After the probes of a config were swapped in (or failed to be): a capture file made for them is
     * the one written from now on and the earlier one is closed, or, on failure, the new one is.
     */
    private void adoptCapture(AgentConfig c, boolean swapped) {
        if (!swapped) {
            if (pendingCapture != null) {
                pendingCapture.close();
                pendingCapture = null;
            }
            return;
        }
        if (pendingCapture != null || c.pcap() == null) {
            if (capture != null && capture != pendingCapture) {
                capture.close();
            }
            capture = pendingCapture;
            capturing = c.pcap();
            pendingCapture = null;
        }
    }

    /** Turns the kernel's run-time accounting on or off as the config says (a failure is logged: the probes run on). */
    private void runTimeStats(AgentConfig c) {
        if (c.bpfStats() && runTimeStats == null) {
            try {
                runTimeStats = dev.tcpinspect.ebpf.RunTimeStats.enable();
            } catch (RuntimeException e) {
                log.warn("bpf_stats: cannot turn the kernel's run-time accounting on (it takes CAP_SYS_ADMIN); the"
                        + " program metrics stay 0", "problem", AgentHttp.oneLine(e));
            }
        } else if (!c.bpfStats() && runTimeStats != null) {
            runTimeStats.close();
            runTimeStats = null;
        }
    }

    /** Detaches everything and stops answering. */
    @Override
    public void close() {
        if (http != null) {
            http.close();
            http = null;
        }
        if (enforcer != null) {
            enforcer.close();
            enforcer = null;
        }
        if (probes != null) {
            probes.close();
            probes = null;
        }
        adoptCapture(null, false);
        if (runTimeStats != null) {
            runTimeStats.close();
            runTimeStats = null;
        }
        if (capture != null) {
            capture.close();
            capture = null;
        }
    }
}
