package dev.tcpinspect.cli;

import dev.tcpinspect.ebpf.XdpMode;
import dev.tcpinspect.os.NetInterfaces;
import dev.tcpinspect.os.Privileges;
import dev.tcpinspect.os.Tty;
import dev.tcpinspect.output.Presenter;
import dev.tcpinspect.output.TextPresenter;
import dev.tcpinspect.probe.Probe;
import dev.tcpinspect.probe.ProbeSet;
import dev.tcpinspect.probe.TcSlots;
import dev.tcpinspect.probe.registry.ProbeRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "watch", mixinStandardHelpOptions = true,
        description = {
            "Watch incoming TCP in the kernel. Observation only: every packet goes on unchanged.",
            "",
            "Probes (all by default; choose with --probe):",
            // the probes' own lines follow, from the registry (Main adds them)
        },
        footer = {"", "On a terminal it shows a full-screen live view, redrawn every interval: counters with rates,",
            "alerts, histograms and a table of top flows (keys: q quit, s sort, t table, p pause, ? or h help,",
            "Ctrl-L redraw).",
            "Through a pipe or a file, or with --no-tui, it prints a line every interval, as wide as --width.",
            "At the end of --duration, on q, Ctrl-C or SIGTERM it detaches everything and prints a summary",
            "of what happened after it said it was ready.",
            "", "Examples:",
            "  sudo tcpinspect watch                          every interface that is up, until Ctrl-C",
            "  sudo tcpinspect watch -i eth0 --duration 10    ten seconds on eth0, then a summary",
            "  sudo tcpinspect watch -i eth0 -i lo --xdp      XDP instead of TC ingress (one XDP program per device)",
            "  sudo tcpinspect watch --format json | jq .     one JSON object per line",
            "  sudo tcpinspect watch --probe retrans --all-netns   retransmits in every namespace",
            "  sudo tcpinspect watch --cgroup /sys/fs/cgroup/system.slice/nginx.service --probe packets,handshake",
            "                                                 one service's segments, on every interface"})
final class WatchCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = {"-i", "--interface"}, paramLabel = "IFACE",
            description = "Interface to watch; repeat for several. Default: every interface that is up, lo included.")
    List<String> interfaces = new ArrayList<>();

    @Option(names = "--xdp", description = "Run the ingress probes at XDP instead of TC ingress (frames before the stack"
            + " builds an skb).")
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
            description = "text (for people: the live view on a terminal, else the line table) or json (one object"
                    + " per line). Default: ${DEFAULT-VALUE}.")
    Presenter.Format format;

    @Option(names = "--no-tui", description = "Print the line table even on a terminal, instead of the full-screen"
            + " live view.")
    boolean noTui;

    @Option(names = "--width", paramLabel = "COLUMNS",
            description = "Widest line of the line table (pipes, files, --no-tui): the columns that fit are kept, in"
                    + " order. Default: the terminal's width when standard output is a terminal, else "
                    + TextPresenter.DEFAULT_WIDTH + ".")
    Integer width;

    @Option(names = "--probe", paramLabel = "NAME", split = ",", completionCandidates = ProbeNames.class,
            converter = ProbeNames.class,
            description = "Run only this probe; repeat, or separate with commas, for several: ${COMPLETION-CANDIDATES}."
                    + " Default: all.")
    List<String> probes = new ArrayList<>();

    @Option(names = "--set", paramLabel = "PROBE.KEY=VALUE", mapFallbackValue = "",
            description = "Change a probe's threshold or window (the settings under each probe above); repeat for"
                    + " several. Example: --set scan.ports=30 --set flood.syn_rate=2000.")
    java.util.Map<String, String> settings = new java.util.LinkedHashMap<>();

    @Option(names = "--upstream", paramLabel = "NAME=TARGET",
            description = "An upstream this host connects to, for the upstream probe (which it switches on):"
                    + " NAME=HOST:PORT, NAME=CIDR:PORT, NAME=[IPV6]:PORT or NAME=[IPV6/LEN]:PORT, several targets joined"
                    + " by commas, no port for any; repeat for more (at most 16 upstreams, 64 targets in all). Names are"
                    + " resolved once, at the start. Example:"
                    + " --upstream openai=api.openai.com:443 --upstream pool-a=198.18.8.0/24:8443.")
    List<String> upstreams = new ArrayList<>();

    @Option(names = "--socket", paramLabel = "PID:PORT",
            description = "A service's listening socket, for the listener probe (which it switches on): tcpinspect"
                    + " takes a duplicate of process PID's socket listening on PORT and attaches a socket filter, which"
                    + " the connections it accepts from then on inherit; detached from the listener and the connections"
                    + " the service holds at the end (README: One service's traffic). Counts"
                    + " exactly that service's segments, bytes and flags, whatever the interface. Repeat for more (at"
                    + " most 16). The watch keeps root to detach at the end.")
    List<String> sockets = new ArrayList<>();

    @Option(names = "--cgroup", paramLabel = "PATH",
            description = "Scope the packet probes to one cgroup's sockets (cgroup v2: a systemd service's, such as"
                    + " /sys/fs/cgroup/system.slice/nginx.service, or a container's; its children included): they see"
                    + " the segments those sockets receive and send, on every interface (cgroup_skb programs), instead"
                    + " of an interface's. Not with -i or --xdp. The tracepoint probes (conn, retrans, ...) are not"
                    + " scoped; they report the namespace of the cgroup's processes (README: One cgroup's traffic).")
    java.nio.file.Path cgroup;

    @Option(names = "--keep-root", description = "Stay root after attaching. By default a watch started as root"
            + " becomes the user nobody, with no capability, once everything is attached (with tcx links and XDP; with"
            + " clsact filters it keeps root to remove them at exit).")
    boolean keepRoot;

    @CommandLine.Mixin
    PcapOptions pcap = new PcapOptions();

    @Option(names = "--netns", paramLabel = "NAME", description = "Watch in the network namespace NAME (ip netns): its"
            + " interfaces, its connections; from this mount namespace, where an enforcer's pins are visible (ip netns"
            + " exec gives a command a /sys of its own).")
    String netns;

    @Option(names = "--all-netns",
            description = "Report tracepoint probes for every network namespace, not only this one.")
    boolean allNetns;

    /** The probes' names, for --probe's candidates and to refuse an unknown one as bad usage. */
    static final class ProbeNames implements Iterable<String>, CommandLine.ITypeConverter<String> {
        @Override
        public java.util.Iterator<String> iterator() {
            return ProbeRegistry.names().iterator();
        }

        @Override
        public String convert(String value) {
            if (!ProbeRegistry.names().contains(value)) {
                throw new CommandLine.TypeConversionException("no probe named '" + value + "'; the probes are "
                        + String.join(", ", ProbeRegistry.names()));
            }
            return value;
        }
    }

    /** The description's probe lines: each probe's name and help, wrapped to the usage width. */
    static List<String> probeLines(int width) {
        List<String> lines = new ArrayList<>();
        for (Probe p : ProbeRegistry.all()) {
            String indent = " ".repeat(12);
            StringBuilder line = new StringBuilder(String.format("  %-9s ", p.name()));
            for (String word : p.help().split(" ")) {
                if (line.length() + 1 + word.length() > width && line.length() > indent.length()) {
                    lines.add(line.toString().stripTrailing());
                    line = new StringBuilder(indent);
                }
                line.append(word).append(' ');
            }
            lines.add(line.toString().stripTrailing());
            if (!p.settings().isEmpty()) {
                StringBuilder set = new StringBuilder(" ".repeat(12) + "--set");
                for (var setting : p.settings()) {
                    String item = " " + p.name() + "." + setting.key() + "=" + setting.defaultValue();
                    if (set.length() + item.length() > width) {
                        lines.add(set.toString());
                        set = new StringBuilder(" ".repeat(17));
                    }
                    set.append(item);
                }
                lines.add(set.toString());
            }
        }
        return lines;
    }

    @Override
    public Integer call() throws Exception {
        if (!(interval >= MIN_INTERVAL && interval <= MAX_SECONDS)) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--interval must be a number of seconds from "
                    + MIN_INTERVAL + " to " + (long) MAX_SECONDS + ", not " + interval);
        }
        if (width != null && (width < MIN_WIDTH || width > MAX_WIDTH)) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--width must be a number of columns from "
                    + MIN_WIDTH + " to " + MAX_WIDTH + ", not " + width);
        }
        if (duration != null && !(duration > 0 && duration <= MAX_SECONDS)) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--duration must be a number of seconds above 0"
                    + " and at most " + (long) MAX_SECONDS + " (leave it out to watch until Ctrl-C), not " + duration);
        }
        List<Probe> chosen = new ArrayList<>(probes.isEmpty() ? ProbeRegistry.all() : ProbeRegistry.create(probes));
        addTo(chosen, UPSTREAM_PROBE, "--upstream", upstreams, spec);
        addTo(chosen, LISTENER_PROBE, "--socket", sockets, spec);
        applySettings(chosen); // bad usage is reported before anything else is tried
        pcap.check(spec);
        if (cgroup != null) {
            cgroup = cgroup.toAbsolutePath().normalize();
            try {
                ProbeSet.checkCgroup(ProbeSet.Options.defaults().interfaces(interfaces).xdp(xdp, xdpMode).cgroup(cgroup));
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--cgroup: " + e.getMessage());
            }
        }
        if (!Privileges.current().canAttachPacketPrograms()) {
            throw new IllegalStateException("watch: " + Privileges.MISSING);
        }
        try (dev.tcpinspect.os.Netns target = PolicyCommand.namespace(netns).map(dev.tcpinspect.os.Netns::named)
                .orElseGet(() -> cgroup != null ? cgroupNamespace() : dev.tcpinspect.os.Netns.current())) {
            return watchIn(target, chosen);
        }
    }

    /** Said once the output is open: which namespace the tracepoint probes report with --cgroup, and why. */
    private String scopeNote;

    /**
     * With --cgroup (and no --netns): the namespace the tracepoint probes report is its processes'
     * (a container's own), so that the halves of a probe that a tracepoint sees (a handshake's end, a
     * flood's completions) meet the segments the cgroup's hooks saw; every namespace when they are
     * in several; this one when the cgroup has no process yet.
     */
    private dev.tcpinspect.os.Netns cgroupNamespace() {
        List<java.nio.file.Path> spaces = dev.tcpinspect.os.Cgroups.networkNamespaces(cgroup);
        if (spaces.size() == 1) {
            dev.tcpinspect.os.Netns ns = dev.tcpinspect.os.Netns.of(spaces.getFirst());
            if (ns.inode() != dev.tcpinspect.os.Netns.currentInode()) {
                scopeNote = "tcpinspect: cgroup " + cgroup + ": its processes are in network namespace " + ns.inode()
                        + ": the tracepoint probes report that one";
            }
            return ns;
        }
        if (spaces.size() > 1) {
            allNetns = true;
            scopeNote = "tcpinspect: cgroup " + cgroup + ": its processes are in " + spaces.size() + " network namespaces:"
                    + " the tracepoint probes report every namespace";
        } else {
            scopeNote = "tcpinspect: cgroup " + cgroup + " has no process yet: the tracepoint probes report this network"
                    + " namespace";
        }
        return dev.tcpinspect.os.Netns.current();
    }

    /** The watch itself, its probes started in target (the interfaces and connections watched are target's). */
    private int watchIn(dev.tcpinspect.os.Netns target, List<Probe> chosen) throws Exception {
        List<String> names = cgroup != null ? List.of() : target.call(() -> {
            List<String> in = interfaces.isEmpty() ? NetInterfaces.up() : List.copyOf(new LinkedHashSet<>(interfaces));
            for (String name : in) {
                NetInterfaces.indexOf(name); // every name checked before anything is attached
            }
            return in;
        });
        if (names.isEmpty() && cgroup == null) {
            throw new IllegalStateException("no interface is up; name one with -i");
        }
        String hookName = cgroup != null ? "cgroup_skb " + cgroup : xdp ? "xdp-" + xdpMode.name().toLowerCase() : "tc-ingress";

        dev.tcpinspect.output.PcapngWriter capture = pcap.file == null ? null : new dev.tcpinspect.output.PcapngWriter(
                pcap.file, pcap.sizeMegabytes * 1_000_000L, pcap.files, ifindex -> target.call(() -> NetInterfaces.nameOf(ifindex)));
        if (capture != null) {
            chosen.add(new dev.tcpinspect.probe.capture.CaptureProbe(pcap.payload, capture::packet));
        }
        TcSlots.mode(tcMode);
        boolean terminal = Tty.isTerminal(Tty.STDOUT);
        int tableWidth = width != null ? width : defaultWidth(terminal);
        boolean live = terminal && format == Presenter.Format.TEXT && !noTui;
        // An enforced interface's XDP hook is the enforcer's: the probes run behind its program there.
        boolean atIngress = chosen.stream().anyMatch(p -> p.hooks().contains(dev.tcpinspect.probe.Hook.INGRESS));
        try (dev.tcpinspect.probe.XdpHandoff handoff = xdp && atIngress // the probe set closes it too
                ? dev.tcpinspect.enforce.EnforcerHandoff.find(target, names).orElse(null) : null;
             StopSignal stop = new StopSignal();
             Presenter presenter = live ? LiveOutput.open(tableWidth, stop)
                     : Presenter.of(format, System.out, tableWidth, terminal);
             ProbeSet running = target.call(() -> ProbeSet.start(chosen, ProbeSet.Options.defaults().interfaces(names)
                     .xdp(xdp, xdpMode).allNetns(allNetns).events(presenter.wantsEvents()).xdpHandoff(handoff)
                     .cgroup(cgroup)))) {
            if (scopeNote != null) {
                presenter.notice(scopeNote);
            }
            List<String> behind = running.interfacesBehindHandoff();
            if (!behind.isEmpty()) {
                presenter.notice("tcpinspect: " + String.join(", ", behind) + ": the enforcer's XDP program is there:"
                        + " the ingress probes run behind it and see the packets it passes");
                if (behind.containsAll(names)) {
                    hookName = "xdp-behind-enforcer";
                }
            }
            // a capture keeps root: rotating its files makes new ones where root put the first; behind
            // the enforcer too: whether it still runs is read from its pins, which only root may see; and
            // in another namespace, which only root may enter to look at its interfaces
            // and with --socket: detaching from the service's sockets takes them from its process again
            if (running.detachesWithoutPrivileges() && !keepRoot && capture == null && behind.isEmpty() && netns == null
                    && sockets.isEmpty() && target.inode() == dev.tcpinspect.os.Netns.currentInode()
                    && dev.tcpinspect.ebpf.Features.descriptorsSufficeWithoutCapabilities()) {
                Privileges.dropRoot(); // attached: from here on only file descriptors it holds are used
            }
            WatchSession.run(running, names, hookName, presenter, seconds(interval),
                    duration == null ? null : seconds(duration), stop, () -> {});
        } finally {
            if (capture != null) {
                capture.close();
                System.err.println("tcpinspect: " + capture.packets() + " flagged packets written to " + pcap.file
                        + (capture.rotations() > 0 ? " (rotated " + capture.rotations() + " times)" : ""));
            }
        }
        return 0;
    }

    /**
     * --upstream NAME=TARGET and --socket PID:PORT: what the probe they belong to watches (its
     * setting "add", which checks and resolves each now), the probe added when --probe left it out.
     */
    static void addTo(List<Probe> chosen, String probeName, String option, List<String> values,
                      CommandLine.Model.CommandSpec spec) {
        if (values.isEmpty()) {
            return;
        }
        Probe probe = chosen.stream().filter(p -> p.name().equals(probeName)).findFirst().orElse(null);
        if (probe == null) {
            probe = ProbeRegistry.create(List.of(probeName)).getFirst();
            chosen.add(probe);
        }
        for (String v : values) {
            try {
                probe.set(ADD_KEY, v);
            } catch (IllegalArgumentException bad) {
                throw new CommandLine.ParameterException(spec.commandLine(), option + " " + v + ": " + bad.getMessage());
            }
        }
    }

    /** The probe --socket configures (its setting "add" takes PID:PORT). */
    static final String LISTENER_PROBE = "listener";

    /** The probe --upstream configures, and the setting that adds one thing for a probe to watch. */
    static final String UPSTREAM_PROBE = "upstream";
    static final String ADD_KEY = "add";

    /** --set PROBE.KEY=VALUE on the chosen probes, before anything is loaded; a bad one is bad usage. */
    private void applySettings(List<Probe> chosen) {
        for (var e : settings.entrySet()) {
            String name = e.getKey();
            int dot = name.indexOf('.');
            Probe probe = dot < 0 ? null : chosen.stream().filter(p -> p.name().equals(name.substring(0, dot)))
                    .findFirst().orElse(null);
            if (probe == null) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--set " + name + ": "
                        + (dot < 0 ? "name a probe's setting as PROBE.KEY (e.g. scan.ports)"
                                : "no running probe named '" + name.substring(0, dot) + "'"));
            }
            try {
                probe.set(name.substring(dot + 1), e.getValue());
            } catch (IllegalArgumentException bad) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--set " + name + ": " + bad.getMessage());
            }
        }
    }

    /** The line table's width when --width is not given: the terminal's, else what fits a common window. */
    static int defaultWidth(boolean terminal) {
        int columns = terminal ? Tty.columns(Tty.STDOUT) : 0;
        return columns > 0 ? Math.clamp(columns, MIN_WIDTH, MAX_WIDTH) : TextPresenter.DEFAULT_WIDTH;
    }

    /** The live view, its classes (and JLine's) loaded only here: a pipe's watch never loads them. */
    private static final class LiveOutput {
        static Presenter open(int tableWidth, StopSignal stop) {
            dev.tcpinspect.output.LivePresenter live = new dev.tcpinspect.output.LivePresenter(System.out, tableWidth,
                    stop::request);
            stop.beforeHalt(live::restore);
            return live;
        }
    }

    /** --width's bounds: the time and a few columns; and far wider than any screen. */
    static final int MIN_WIDTH = 40;
    static final int MAX_WIDTH = 10_000;

    /** Shortest interval between lines: a table redrawn faster than this is not read, only paid for. */
    static final double MIN_INTERVAL = 0.1;
    /** Longest --duration or --interval (about 31 years): finite, and far inside a Duration's nanoseconds. */
    static final double MAX_SECONDS = 1e9;

    static Duration seconds(double s) {
        return Duration.ofNanos((long) (s * 1e9));
    }
}
