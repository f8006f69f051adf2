package dev.tcpinspect.cli;

import dev.tcpinspect.ebpf.XdpMode;
import dev.tcpinspect.enforce.EnforceStat;
import dev.tcpinspect.enforce.Enforcer;
import dev.tcpinspect.os.Netns;
import dev.tcpinspect.policy.Policy;
import dev.tcpinspect.probe.ProbeSet;
import dev.tcpinspect.probe.registry.ProbeRegistry;
import dev.tcpinspect.snapshot.Alert;
import dev.tcpinspect.policy.PolicyException;
import dev.tcpinspect.policy.PolicyFile;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalTime;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** The XDP enforcer (README "tcpinspect enforce"). */
@Command(name = "enforce", mixinStandardHelpOptions = true,
        description = {
            "Enforce a policy file (README, 'Policy files') at the XDP hook of the interfaces named: sources",
            "denied or allowed by prefix, only the ports served open to new connections, failsafe ports",
            "never closed, per-source limits, a per-port SYN rate that lets known clients through a flood,",
            "protocol checks of first payloads, and sources that detection names denied for a while",
            "(auto_block). The policy stays in force if this process is killed",
            "(its tables and links are pinned in /sys/fs/bpf/tcpinspect/enforce); Ctrl-C, SIGTERM or",
            "`tcpinspect enforce stop` removes it all. Change it live with `tcpinspect policy`, or edit",
            "FILE and send SIGHUP (kill -HUP PID): it is read again and applied in one step; a file that",
            "cannot be used is refused in one line on stderr and the running policy is kept."},
        subcommands = {EnforceCommand.Stop.class},
        footer = {"", "Examples:",
            "  sudo tcpinspect enforce --policy /etc/tcpinspect/policy.yaml -i eth1",
            "  sudo tcpinspect enforce --policy policy.yaml -i eth1 --audit   count what it would drop, drop nothing",
            "  sudo tcpinspect enforce --policy policy.yaml -i eth1 --events --pcap dropped.pcapng",
            "  sudo tcpinspect enforce stop"})
final class EnforceCommand implements Callable<Integer> {
    private static final DateTimeFormatter CLOCK = DateTimeFormatter.ofPattern("HH:mm:ss");

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--policy", paramLabel = "FILE", description = "The policy file (YAML). Required.")
    Path policyFile;

    @Option(names = {"-i", "--interface"}, paramLabel = "IFACE", split = ",",
            description = "An interface to protect (repeat, or separate with commas). Required: a dropping"
                    + " program goes only where it is asked to.")
    List<String> interfaces;

    @Option(names = "--xdp-mode", paramLabel = "MODE", defaultValue = "auto",
            description = "native (in the driver), generic (in the stack, any device) or auto (native where the"
                    + " driver has it). Default: ${DEFAULT-VALUE}.")
    String xdpMode;

    @Option(names = "--audit", description = "Judge and count everything as the policy says, drop nothing: try a"
            + " policy on live traffic first.")
    boolean audit;

    @Option(names = "--netns", paramLabel = "NAME", description = "Enforce in the network namespace NAME (ip netns),"
            + " from this mount namespace, where the pins stay visible to other commands.")
    String netns;

    @Option(names = "--interval", paramLabel = "SECONDS", defaultValue = "10",
            description = "Print the counters every SECONDS (0: only at the end). Default: ${DEFAULT-VALUE}.")
    int intervalSeconds;

    @Option(names = "--events", description = "Print a line for each packet judged to drop, as sampled by --events-rate:"
            + " time, reason, source > destination, protocol and TCP flags, interface.")
    boolean events;

    @Option(names = "--events-rate", paramLabel = "N", defaultValue = "10", description = "With --events or --pcap: at"
            + " most N dropped packets a second on each CPU are copied out of the kernel (1 to 1000000); the rest are"
            + " counted as capture_skipped. Default: ${DEFAULT-VALUE}.")
    int eventsRate;

    @Option(names = "--pcap", paramLabel = "FILE", description = "Write the sampled dropped packets to a pcapng file"
            + " (Wireshark, tshark), each with the comment 'policy REASON'. Headers only unless --pcap-payload;"
            + " rotated at 100 MB, 5 files kept.")
    Path pcap;

    @Option(names = "--pcap-payload", description = "With --pcap: up to 256 bytes of each frame, payload included.")
    boolean pcapPayload;

    @Override
    public Integer call() throws Exception {
        PrintWriter err = spec.commandLine().getErr();
        PrintWriter out = spec.commandLine().getOut();
        if (!PolicyCommand.privileged(spec, "enforce")) {
            return 1;
        }
        if (policyFile == null || interfaces == null || interfaces.isEmpty()) {
            err.println(Main.printable("tcpinspect: enforce: name " + (policyFile == null ? "the policy with --policy FILE"
                    : "the interfaces to protect with -i IFACE") + " (see tcpinspect enforce --help)"));
            return 2;
        }
        Policy policy;
        try {
            policy = PolicyFile.read(policyFile);
        } catch (PolicyException e) {
            err.println(Main.printable("tcpinspect: " + e.getMessage()));
            return 2;
        }
        XdpMode mode = switch (xdpMode) {
            case "native" -> XdpMode.NATIVE;
            case "generic" -> XdpMode.GENERIC;
            case "auto" -> XdpMode.AUTO;
            default -> null;
        };
        if (eventsRate < 1 || eventsRate > 1_000_000 || (pcapPayload && pcap == null)) {
            err.println(Main.printable("tcpinspect: enforce: " + (pcapPayload && pcap == null ? "--pcap-payload goes with"
                    + " --pcap FILE" : "--events-rate must be 1 to 1000000, not " + eventsRate)));
            return 2;
        }
        if (mode == null || intervalSeconds < 0) {
            err.println(Main.printable("tcpinspect: enforce: " + (mode == null ? "--xdp-mode must be native, generic or auto, not '"
                    + xdpMode + "'" : "--interval must be 0 or more seconds")));
            return 2;
        }
        Optional<String> namespace = PolicyCommand.namespace(netns);
        // the interfaces' names by index, in the namespace enforced (this process may be elsewhere): for the copies
        java.util.Map<Integer, String> names = new java.util.HashMap<>();
        try (Netns target = namespace.map(Netns::named).orElseGet(Netns::current)) {
            target.call(() -> {
                for (String name : interfaces) {
                    names.put(dev.tcpinspect.os.NetInterfaces.indexOf(name), name);
                }
                return null;
            });
        }
        PcapFile file = pcap == null ? null : new PcapFile(pcap, names);
        try {
            return enforce(policy, mode, namespace, file, names);
        } finally {
            if (file != null) {
                file.close(err);
            }
        }
    }

    /**
     * The --pcap file, made on first use (the first copy, or the start's success): a start that is
     * refused leaves no file behind, nor truncates one that was there.
     */
    private static final class PcapFile {
        private final Path path;
        private final java.util.Map<Integer, String> names;
        private dev.tcpinspect.output.PcapngWriter writer;

        PcapFile(Path path, java.util.Map<Integer, String> names) {
            this.path = path;
            this.names = names;
        }

        synchronized dev.tcpinspect.output.PcapngWriter get() {
            if (writer == null) {
                writer = new dev.tcpinspect.output.PcapngWriter(path, 100_000_000L, 5,
                        i -> names.getOrDefault(i, "ifindex " + i));
            }
            return writer;
        }

        synchronized void close(PrintWriter err) {
            if (writer != null) {
                writer.close();
                err.println("tcpinspect: " + writer.packets() + " dropped packets written to " + path);
                err.flush();
            }
        }
    }

    /** Copies of dropped packets: event lines, the pcap file, or both; null when neither is asked for. */
    private Enforcer.Capture copies(PcapFile file, PrintWriter out, java.util.Map<Integer, String> names,
                                    java.util.concurrent.atomic.AtomicBoolean outputGone) {
        if (!events && file == null) {
            return null;
        }
        return new Enforcer.Capture(pcapPayload, eventsRate, (ts, ifindex, link, origLen, data, offset, capLen, comment) -> {
            if (file != null) {
                file.get().packet(ts, ifindex, link, origLen, data, offset, capLen, comment);
            }
            if (events) {
                // "policy not_served" or "policy denied (audit: passed)": the reason, said as the counters say it
                String reason = comment.substring("policy ".length()).replace(" (audit: passed)", "");
                out.println(LocalTime.now().format(CLOCK) + " " + (audit ? "would drop " : "drop ") + reason + " "
                        + dev.tcpinspect.enforce.DroppedPacket.parse(data, offset, capLen) + " on "
                        + names.getOrDefault(ifindex, "ifindex " + ifindex));
                out.flush();
                outputGone.compareAndSet(false, System.out.checkError());
            }
        });
    }

    private int enforce(Policy policy, XdpMode mode, Optional<String> namespace, PcapFile file,
                        java.util.Map<Integer, String> names) throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        // SIGHUP reads the policy file again, as daemons read their config: installed before the start, so
        // that one right after the ready line is a reload, and taken back from nohup, which leaves it
        // ignored (a reload is what nohup wants a hangup not to do: end the process).
        java.util.concurrent.atomic.AtomicBoolean reload = new java.util.concurrent.atomic.AtomicBoolean();
        dev.tcpinspect.os.Libc.restoreIfIgnored(dev.tcpinspect.os.Libc.SIGHUP);
        sun.misc.Signal.handle(new sun.misc.Signal("HUP"), s -> reload.set(true));
        // The reader of the output gone (`enforce ... | head`): seen by whichever thread wrote last.
        java.util.concurrent.atomic.AtomicBoolean outputGone = new java.util.concurrent.atomic.AtomicBoolean();
        StopSignal stop = new StopSignal();
        // A second Ctrl-C while the first one's clean-up is stuck (on a stalled output), or during the start,
        // ends the process at once: the pins this process made go first, so that its links (whose
        // descriptors the exit closes) go with it.
        java.nio.file.Path folder = PolicyCommand.folderOf(namespace);
        stop.beforeHalt(() -> Enforcer.removePinsIfOurs(folder));
        try (stop; Enforcer enforcer = Enforcer.start(new Enforcer.Options(policy, interfaces, mode, audit, namespace,
                     copies(file, out, names, outputGone)))) {
            if (file != null) {
                file.get(); // started: the file exists from now on, copies or not
            }
            long[] start = enforcer.tables().stats();
            Duration interval = Duration.ofSeconds(intervalSeconds == 0 ? 3600 : intervalSeconds);
            long nextPrint = System.nanoTime() + interval.toNanos();
            AutoBlock autoBlock = policy.autoBlockTtl().isPresent()
                    ? AutoBlock.start(enforcer, policy.autoBlockTtl().get(), namespace, out) : null;
            try {
                // Ready once everything is in place, the detectors of auto_block included.
                out.printf("%s %s on %s (xdp %s)%s%s; Ctrl-C to stop%n", audit ? "auditing" : "enforcing", policyFile,
                        String.join(", ", enforcer.interfaces().keySet()), xdpMode, audit ? ", dropping nothing" : "",
                        enforcer.adopted() ? ", taking over the enforcer left in " + enforcer.folder()
                                : enforcer.replacedStale() ? ", after removing a deleted network namespace's enforcer"
                                        + " that had this one's inode from " + enforcer.folder() : "");
                out.flush();
                while (!stop.await(Duration.ofSeconds(1))) {
                    if (reload.getAndSet(false)) {
                        autoBlock = reload(enforcer, autoBlock, namespace, out);
                    }
                    if (outputGone.get()) {
                        break; // the output's reader left (`enforce ... | head`): stop quietly, as on Ctrl-C
                    }
                    if (autoBlock != null) {
                        autoBlock.poll();
                    }
                    enforcer.tables().sweep(System.nanoTime()); // expired live entries go
                    for (String gone : enforcer.interfacesGone()) {
                        out.println(LocalTime.now().format(CLOCK) + " interface " + gone + " gone (deleted or moved): "
                                + (enforcer.interfaces().isEmpty() ? "no interface is protected; the policy stays loaded"
                                        + " until Ctrl-C" : "still enforcing on "
                                        + String.join(", ", enforcer.interfaces().keySet())));
                        out.flush();
                    }
                    if (intervalSeconds > 0 && System.nanoTime() - nextPrint >= 0) {
                        nextPrint += interval.toNanos();
                        out.println(LocalTime.now().format(CLOCK) + " " + counters(enforcer.tables().stats(), start, audit));
                        out.flush();
                        outputGone.compareAndSet(false, System.out.checkError());
                    }
                }
            } finally {
                if (autoBlock != null) {
                    autoBlock.close();
                }
            }
            long[] end = enforcer.tables().stats();
            enforcer.close();
            out.println("stopped: XDP detached from " + String.join(", ", enforcer.interfaces().keySet())
                    + ", pins removed; " + counters(end, start, audit));
            out.flush();
            return 0;
        }
    }

    /**
     * SIGHUP: the policy file read again and applied as `policy apply` applies it (in one step; live
     * entries stay), auto_block started, stopped or given its new TTL. A policy that cannot be used
     * is refused in one line on stderr, and the running one is kept. What this returns: the
     * auto_block now running, or null.
     */
    private AutoBlock reload(Enforcer enforcer, AutoBlock autoBlock, Optional<String> namespace, PrintWriter out) {
        PrintWriter err = spec.commandLine().getErr();
        Policy next;
        try {
            next = PolicyFile.read(policyFile);
            enforcer.tables().apply(next);
        } catch (PolicyException e) {
            err.println(Main.printable("tcpinspect: reload refused, the running policy is kept: " + e.getMessage()));
            err.flush();
            return autoBlock;
        } catch (IllegalArgumentException e) {
            err.println(Main.printable("tcpinspect: reload refused, the running policy is kept: " + policyFile + ": "
                    + e.getMessage()));
            err.flush();
            return autoBlock;
        } catch (RuntimeException e) {
            // the kernel refused a table update (apply switches to the new policy only once it is all written)
            err.println(Main.printable("tcpinspect: reload failed, the running policy is kept: " + policyFile + ": "
                    + e.getMessage()));
            err.flush();
            return autoBlock;
        }
        Optional<Duration> ttl = next.autoBlockTtl();
        if (autoBlock != null && ttl.isEmpty()) {
            autoBlock.close();
            autoBlock = null;
        } else if (autoBlock != null) {
            autoBlock.ttl(ttl.get());
        } else if (ttl.isPresent()) {
            try {
                autoBlock = AutoBlock.start(enforcer, ttl.get(), namespace, out);
            } catch (RuntimeException e) {
                err.println(Main.printable("tcpinspect: reload: the policy is applied, but auto_block's detectors could"
                        + " not start (" + e.getMessage() + "): no source is denied by alert"));
                err.flush();
            }
        }
        out.println(LocalTime.now().format(CLOCK) + " reloaded " + policyFile);
        out.flush();
        return autoBlock;
    }

    /**
     * The policy's auto_block: the detection probes (scan, flood, cycling) watch the same interfaces
     * at the TC hook, behind the enforcer, and each source an alert names is denied live for the TTL,
     * which every new alert about it starts again. A spoofed flood names no source ("*"): nothing to deny.
     */
    static final class AutoBlock implements AutoCloseable {
        static final List<String> PROBES = List.of("scan", "flood", "cycling");
        private final ProbeSet probes;
        private final Enforcer enforcer;
        private volatile Duration ttl;
        private final PrintWriter out;
        private final java.util.concurrent.ConcurrentLinkedQueue<Alert> alerts = new java.util.concurrent.ConcurrentLinkedQueue<>();

        private AutoBlock(ProbeSet probes, Enforcer enforcer, Duration ttl, PrintWriter out) {
            this.probes = probes;
            this.enforcer = enforcer;
            this.ttl = ttl;
            this.out = out;
            probes.onAlerts(a -> {
                if (a.state() != Alert.State.END) {
                    alerts.add(a);
                }
            });
        }

        static AutoBlock start(Enforcer enforcer, Duration ttl, Optional<String> namespace, PrintWriter out) {
            ProbeSet.Options options = ProbeSet.Options.defaults().interfaces(List.copyOf(enforcer.interfaces().keySet()));
            try (Netns target = namespace.map(Netns::named).orElseGet(Netns::current)) {
                // Started inside the namespace: the set attaches there and its tracepoints report it.
                ProbeSet probes = target.call(() -> ProbeSet.start(ProbeRegistry.create(PROBES), options));
                return new AutoBlock(probes, enforcer, ttl, out);
            }
        }

        /** How long a source an alert names is denied from now on (a reload's new auto_block TTL). */
        void ttl(Duration ttl) {
            this.ttl = ttl;
        }

        /** Reads the detectors (their thresholds run in Java) and denies whom their alerts name. */
        void poll() {
            probes.read(false);
            for (Alert a; (a = alerts.poll()) != null; ) {
                if (enforcer.autoBlock(a, ttl) && a.state() == Alert.State.START) { // an update starts the TTL again, without a line
                    out.println(LocalTime.now().format(CLOCK) + " auto_block: denied " + a.source() + " for "
                            + ttl.toString().substring(2).toLowerCase() + " (" + a.headline() + ")");
                    out.flush();
                }
            }
        }

        @Override
        public void close() {
            probes.close();
        }
    }

    /** What a packet can be dropped for, in the order a packet is judged. */
    static final List<EnforceStat> DROP_REASONS = dev.tcpinspect.enforce.EnforcerSnapshot.DROP_REASONS;

    /** "judged N packets: passed N, dropped N (denied N, ...), failsafe N", counted since start. */
    static String counters(long[] now, long[] start, boolean audit) {
        StringBuilder reasons = new StringBuilder();
        long judgedToDrop = 0;
        for (EnforceStat s : DROP_REASONS) {
            reasons.append(reasons.isEmpty() ? "" : ", ").append(s.key()).append(' ').append(delta(now, start, s));
            judgedToDrop += delta(now, start, s);
        }
        return "judged " + delta(now, start, EnforceStat.PACKETS) + " packets: passed "
                + delta(now, start, EnforceStat.PASSED) + ", " + (audit ? "would have dropped " + judgedToDrop
                        : "dropped " + delta(now, start, EnforceStat.DROPPED))
                + " (" + reasons + "), failsafe " + delta(now, start, EnforceStat.FAILSAFE);
    }

    private static long delta(long[] now, long[] start, EnforceStat s) {
        return now[s.ordinal()] - start[s.ordinal()];
    }

    @Command(name = "stop", mixinStandardHelpOptions = true,
            description = {
                "Stop the enforcer of this network namespace (its process, or what a kill -9 left pinned).",
                "The running process is asked to stop (SIGTERM); whatever is still pinned is removed, which",
                "detaches its XDP programs. An agent's enforcer (enforce: in its config) is refused: reload",
                "the agent without enforce:, or stop the agent."})
    static final class Stop implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Option(names = "--netns", paramLabel = "NAME", description = "The enforcer of the network namespace NAME.")
        String netns;

        @Override
        public Integer call() throws Exception {
            PrintWriter out = spec.commandLine().getOut();
            if (!PolicyCommand.privileged(spec, "enforce stop")) {
                return 1;
            }
            Optional<String> namespace = PolicyCommand.namespace(netns);
            Path folder = PolicyCommand.folderOf(namespace);
            if (!java.nio.file.Files.exists(folder)) {
                out.println("no enforcer in this network namespace: nothing to stop");
                return 0;
            }
            long cookie;
            try (dev.tcpinspect.os.Netns ns = namespace.map(dev.tcpinspect.os.Netns::named)
                    .orElseGet(dev.tcpinspect.os.Netns::current)) {
                cookie = ns.cookie();
            }
            if (Enforcer.ofAnotherNamespace(folder, cookie)) {
                // a deleted namespace's: its pid may be another process's by now, so nobody is signalled
                if (Enforcer.removeIf(folder, f -> Enforcer.ofAnotherNamespace(f, cookie))) {
                    out.println("removed what the enforcer of a deleted network namespace that had this one's inode left"
                            + " in " + folder + " (no process signalled)");
                } else {
                    out.println("no enforcer in this network namespace: nothing to stop");
                }
                return 0;
            }
            int pid = 0;
            try (Enforcer.PinnedTables t = Enforcer.openPinned(folder).orElse(null)) {
                if (t != null) {
                    pid = t.tables().config().pid();
                }
            } catch (RuntimeException partial) {
                // What a crash in the middle of a start or a stop left: removed below all the same.
            }
            List<String> interfaces = Enforcer.pinnedInterfaces(folder);
            Optional<ProcessHandle> process = Enforcer.running(pid);
            if (process.isPresent() && process.get().info().commandLine().orElse("").contains(" agent")) {
                spec.commandLine().getErr().println("tcpinspect: enforce stop: the enforcer runs inside the agent (pid "
                        + pid + "): take enforce: out of its config and reload it (kill -HUP " + pid + "), or stop the agent");
                return 1;
            }
            if (process.isPresent()) {
                process.get().destroy(); // SIGTERM: it detaches and removes its pins itself
                long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
                while (process.get().isAlive() && System.nanoTime() < deadline) {
                    Thread.sleep(50);
                }
                if (process.get().isAlive()) {
                    spec.commandLine().getErr().println("tcpinspect: enforce stop: the enforcer (pid " + pid + ") did not"
                            + " stop within 10 s; it still holds its programs: kill it (kill -9 " + pid + ") and run"
                            + " tcpinspect enforce stop again");
                    return 1;
                }
            }
            Enforcer.removePins(folder);
            out.println("stopped the enforcer" + (process.isPresent() ? " (pid " + pid + ")" : "")
                    + (interfaces.isEmpty() ? "" : " on " + String.join(", ", interfaces))
                    + ": XDP detached, pins removed");
            return 0;
        }
    }
}
