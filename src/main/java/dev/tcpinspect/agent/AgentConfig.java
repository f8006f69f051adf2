package dev.tcpinspect.agent;

import dev.tcpinspect.ebpf.XdpMode;
import dev.tcpinspect.probe.TcSlots;
import dev.tcpinspect.probe.registry.ProbeRegistry;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.error.Mark;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.nodes.MappingNode;
import org.yaml.snakeyaml.nodes.Node;
import org.yaml.snakeyaml.nodes.NodeTuple;
import org.yaml.snakeyaml.nodes.ScalarNode;
import org.yaml.snakeyaml.nodes.SequenceNode;

/**
 * What an agent runs: its probes and where, where it answers HTTP, how it logs. Read from a YAML
 * file (every key optional: no file is every default), strictly: an unknown key or a value out of
 * range is refused with one {@link ConfigException} naming the file, the line and the problem,
 * since a config read differently from how it was meant watches the wrong things.
 *
 * @param listen where the HTTP endpoint binds (default 127.0.0.1:9977: this host only)
 * @param interfaces interfaces to watch; empty: every interface that is up at the start or reload
 * @param probes probes to run; empty: every probe
 * @param settings probe settings, PROBE.KEY to value, as watch's --set
 * @param upstreams the upstream probe's upstreams, NAME to TARGET[,TARGET...] as watch's --upstream
 * @param ports the local ports that become label values of per-port metrics; null: the TCP ports
 *     this host listens on at the start or reload (at most {@link #MAX_PORTS})
 * @param interval seconds between readings of the kernel's counters (what /metrics serves)
 * @param pcap the file flagged packets go to, or null
 * @param bpfStats keep the kernel's BPF run-time accounting on while the agent runs (its
 *     bpf_program_* metrics count only then; it costs every BPF program two clock reads a run)
 * @param enforce the policy the agent enforces, or null
 */
public record AgentConfig(InetSocketAddress listen, List<String> interfaces, List<String> probes,
                          Map<String, String> settings, Map<String, String> upstreams, boolean xdp, XdpMode xdpMode, TcSlots.Mode tcMode,
                          boolean allNetns, Set<Integer> ports, double interval, LogFormat logFormat, Pcap pcap, boolean bpfStats,
                          Enforce enforce) {
    public static final int DEFAULT_PORT = 9977;
    /** Ports as label values: each is a series per per-port metric; more than this is not a bounded set. */
    public static final int MAX_PORTS = 64;
    static final int MAX_BYTES = 1 << 16;
    private static final Set<String> KEYS = Set.of("listen", "interfaces", "probes", "set", "xdp", "xdp_mode", "tc_mode",
            "all_netns", "ports", "interval", "log_format", "pcap", "bpf_stats", "enforce", "upstreams");
    /** The probes whose alerts a policy's auto_block acts on. */
    public static final List<String> AUTO_BLOCK_PROBES = List.of("scan", "flood", "cycling");

    public AgentConfig {
        interfaces = List.copyOf(interfaces);
        probes = List.copyOf(probes);
        settings = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(settings));
        upstreams = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(upstreams));
        ports = ports == null ? null : java.util.Collections.unmodifiableSet(new TreeSet<>(ports));
    }

    public enum LogFormat { TEXT, JSON }

    /** Flagged packets into a pcapng file, as watch --pcap: headers only unless payload, rotated past maxMegabytes. */
    public record Pcap(Path file, boolean payload, int maxMegabytes, int files) {}

    /**
     * A policy enforced at XDP on the interfaces named (never on one it is not asked for), as
     * tcpinspect enforce does; the policy file is read with the config, so a reload reads it again.
     */
    public record Enforce(Path policyFile, dev.tcpinspect.policy.Policy policy, List<String> interfaces, XdpMode mode,
                          boolean audit) {
        public Enforce {
            interfaces = List.copyOf(interfaces);
        }
    }

    /** Every default: all probes on every interface that is up, HTTP on 127.0.0.1:9977. */
    public static AgentConfig defaults() {
        return new AgentConfig(new InetSocketAddress(InetAddress.getLoopbackAddress(), DEFAULT_PORT), List.of(), List.of(),
                Map.of(), Map.of(), false, XdpMode.AUTO, TcSlots.Mode.AUTO, false, null, 1.0, LogFormat.TEXT, null, false, null);
    }

    public AgentConfig withListen(InetSocketAddress address) {
        return new AgentConfig(address, interfaces, probes, settings, upstreams, xdp, xdpMode, tcMode, allNetns, ports, interval,
                logFormat, pcap, bpfStats, enforce);
    }

    public AgentConfig withLogFormat(LogFormat format) {
        return new AgentConfig(listen, interfaces, probes, settings, upstreams, xdp, xdpMode, tcMode, allNetns, ports, interval, format, pcap, bpfStats, enforce);
    }

    public AgentConfig withInterfaces(List<String> names) {
        return new AgentConfig(listen, names, probes, settings, upstreams, xdp, xdpMode, tcMode, allNetns, ports, interval, logFormat, pcap, bpfStats, enforce);
    }

    public AgentConfig withProbes(List<String> names) {
        return new AgentConfig(listen, interfaces, names, settings, upstreams, xdp, xdpMode, tcMode, allNetns, ports, interval, logFormat,
                pcap, bpfStats, enforce);
    }

    public AgentConfig withPcap(Pcap capture) {
        return new AgentConfig(listen, interfaces, probes, settings, upstreams, xdp, xdpMode, tcMode, allNetns, ports, interval, logFormat,
                capture, bpfStats, enforce);
    }

    /** Whether the probes must be loaded again to go from this config to other (what they watch changed). */
    public boolean sameProbes(AgentConfig other) {
        return interfaces.equals(other.interfaces) && probes.equals(other.probes) && settings.equals(other.settings)
                && upstreams.equals(other.upstreams)
                && xdp == other.xdp && xdpMode == other.xdpMode && tcMode == other.tcMode && allNetns == other.allNetns
                && java.util.Objects.equals(pcap, other.pcap);
    }

    /**
     * The interfaces where the probes run at XDP behind the enforcer's program (xdp: true on an
     * enforced interface: one XDP program there, bpf/lib/handoff.h), in the enforce section's order.
     */
    public List<String> behindEnforcer() {
        if (enforce == null || !xdp) {
            return List.of();
        }
        return interfaces.isEmpty() ? enforce.interfaces()
                : enforce.interfaces().stream().filter(interfaces::contains).toList();
    }

    /**
     * What keeps the enforcer and the probes of this config from working together, or null: an
     * auto_block without a detection probe, or without the probes on every enforced interface (they
     * name whom to deny).
     */
    public String enforceConflict() {
        if (enforce == null) {
            return null;
        }
        if (enforce.policy().autoBlockTtl().isPresent()) {
            if (!probes.isEmpty() && probes.stream().noneMatch(AUTO_BLOCK_PROBES::contains)) {
                return "probes: the policy's auto_block denies the sources that " + String.join(", ", AUTO_BLOCK_PROBES)
                        + " name: run at least one of them";
            }
            List<String> unwatched = enforce.interfaces().stream()
                    .filter(i -> !interfaces.isEmpty() && !interfaces.contains(i)).toList();
            if (!unwatched.isEmpty()) {
                return "interfaces: the policy's auto_block needs the probes on the enforced interfaces too: add "
                        + String.join(", ", unwatched);
            }
        }
        return null;
    }

    /** A config that cannot be used: file, line (0 when the file as a whole) and problem, on one line. */
    public static final class ConfigException extends dev.tcpinspect.os.InputRefusedException {
        public ConfigException(String file, int line, String problem) {
            super(dev.tcpinspect.policy.PolicyException.oneLine(file, Integer.MAX_VALUE) + (line > 0 ? ":" + line : "")
                    + ": " + dev.tcpinspect.policy.PolicyException.oneLine(problem, 240));
        }
    }

    /** Reads and checks the config in this file. */
    public static AgentConfig read(Path path) {
        String name = path.toString();
        try (var in = Files.newInputStream(path)) {
            byte[] bytes = in.readNBytes(MAX_BYTES + 1);
            if (bytes.length > MAX_BYTES) {
                throw new ConfigException(name, 0, "is larger than " + MAX_BYTES / 1024 + " KiB: not an agent config");
            }
            String text = StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(bytes)).toString();
            return parse(name, text);
        } catch (CharacterCodingException e) {
            throw new ConfigException(name, 0, "is not UTF-8 text");
        } catch (java.nio.file.NoSuchFileException e) {
            throw new ConfigException(name, 0, "no such file");
        } catch (java.nio.file.AccessDeniedException e) {
            throw new ConfigException(name, 0, "cannot be read: permission denied");
        } catch (IOException e) {
            throw new ConfigException(name, 0, "cannot be read: " + e.getMessage());
        }
    }

    /** Reads and checks a config from text; name is what errors call it. */
    public static AgentConfig parse(String name, String text) {
        LoaderOptions options = new LoaderOptions();
        options.setMaxAliasesForCollections(10);
        options.setNestingDepthLimit(10);
        options.setCodePointLimit(MAX_BYTES);
        Node root;
        try {
            root = new Yaml(options).compose(new java.io.StringReader(text));
        } catch (MarkedYAMLException e) {
            Mark mark = e.getProblemMark() != null ? e.getProblemMark() : e.getContextMark();
            String problem = e.getProblem() != null ? e.getProblem() : e.getMessage().lines().findFirst().orElse("");
            throw new ConfigException(name, mark == null ? 0 : mark.getLine() + 1, "not valid YAML: " + problem);
        } catch (YAMLException e) {
            throw new ConfigException(name, 0, "not valid YAML: " + e.getMessage().lines().findFirst().orElse(""));
        }
        AgentConfig d = defaults();
        if (root == null) {
            return d; // an empty file: every default
        }
        return new Reader(name).config(root, d);
    }

    /** Walks the node tree, which keeps every value's line for the error that names it. */
    private record Reader(String file) {
        AgentConfig config(Node root, AgentConfig d) {
            if (!(root instanceof MappingNode map)) {
                throw error(root, "the config is a mapping of keys (listen:, probes:, ...), not a " + kind(root));
            }
            Map<String, Node> top = new LinkedHashMap<>();
            for (NodeTuple t : map.getValue()) {
                String key = scalar(t.getKeyNode(), "a key");
                if (!KEYS.contains(key)) {
                    throw error(t.getKeyNode(), "unknown key '" + key + "'; the keys are " + String.join(", ", new TreeSet<>(KEYS)));
                }
                if (top.put(key, t.getValueNode()) != null) {
                    throw error(t.getKeyNode(), "'" + key + "' is given twice");
                }
            }
            InetSocketAddress listen = top.containsKey("listen") ? listen(top.get("listen")) : d.listen();
            List<String> interfaces = top.containsKey("interfaces") ? interfaces(top.get("interfaces")) : d.interfaces();
            List<String> probes = top.containsKey("probes") ? probes(top.get("probes")) : d.probes();
            Map<String, String> settings = top.containsKey("set") ? settings(top.get("set")) : d.settings();
            Map<String, String> upstreams = top.containsKey("upstreams") ? upstreams(top.get("upstreams")) : d.upstreams();
            boolean xdp = top.containsKey("xdp") ? bool(top.get("xdp"), "xdp") : d.xdp();
            XdpMode xdpMode = top.containsKey("xdp_mode") ? choice(top.get("xdp_mode"), "xdp_mode", XdpMode.class) : d.xdpMode();
            TcSlots.Mode tcMode = top.containsKey("tc_mode") ? choice(top.get("tc_mode"), "tc_mode", TcSlots.Mode.class) : d.tcMode();
            boolean allNetns = top.containsKey("all_netns") ? bool(top.get("all_netns"), "all_netns") : d.allNetns();
            Set<Integer> ports = top.containsKey("ports") ? ports(top.get("ports")) : d.ports();
            double interval = top.containsKey("interval") ? interval(top.get("interval")) : d.interval();
            LogFormat log = top.containsKey("log_format") ? choice(top.get("log_format"), "log_format", LogFormat.class)
                    : d.logFormat();
            Pcap pcap = top.containsKey("pcap") ? pcap(top.get("pcap")) : d.pcap();
            boolean bpfStats = top.containsKey("bpf_stats") ? bool(top.get("bpf_stats"), "bpf_stats") : d.bpfStats();
            Enforce enforce = top.containsKey("enforce") ? enforce(top.get("enforce")) : d.enforce();
            AgentConfig c = new AgentConfig(listen, interfaces, probes, settings, upstreams, xdp, xdpMode, tcMode, allNetns, ports,
                    interval, log, pcap, bpfStats, enforce);
            String conflict = c.enforceConflict();
            if (conflict != null) {
                String key = conflict.substring(0, conflict.indexOf(':'));
                throw error(top.getOrDefault(key, top.get("enforce")), conflict);
            }
            return c;
        }

        InetSocketAddress listen(Node n) {
            String text = scalar(n, "listen");
            try {
                return AgentConfig.listenAddress(text);
            } catch (IllegalArgumentException e) {
                throw error(n, "listen: " + e.getMessage());
            }
        }

        List<String> interfaces(Node n) {
            List<String> names = new ArrayList<>();
            for (Node item : sequence(n, "interfaces")) {
                String name = scalar(item, "an interface name");
                if (name.isEmpty() || name.length() > 15 || name.contains("/") || name.contains(" ")) {
                    throw error(item, "'" + name + "' is not an interface name (1 to 15 characters, no '/' or space)");
                }
                if (!names.contains(name)) {
                    names.add(name);
                }
            }
            return names;
        }

        List<String> probes(Node n) {
            List<String> names = new ArrayList<>();
            for (Node item : sequence(n, "probes")) {
                String name = scalar(item, "a probe name");
                if (!ProbeRegistry.names().contains(name)) {
                    throw error(item, "no probe named '" + name + "'; the probes are " + String.join(", ", ProbeRegistry.names()));
                }
                if (!names.contains(name)) {
                    names.add(name);
                }
            }
            return names;
        }

        Map<String, String> settings(Node n) {
            if (!(n instanceof MappingNode map)) {
                throw error(n, "set: a mapping of PROBE.KEY: VALUE (scan.ports: 30), not a " + kind(n));
            }
            Map<String, String> settings = new LinkedHashMap<>();
            for (NodeTuple t : map.getValue()) {
                String key = scalar(t.getKeyNode(), "a setting");
                int dot = key.indexOf('.');
                if (dot < 0 || !ProbeRegistry.names().contains(key.substring(0, dot))) {
                    throw error(t.getKeyNode(), "set: '" + key + "' is not PROBE.KEY with one of the probes "
                            + String.join(", ", ProbeRegistry.names()));
                }
                // the value itself is checked by the probe when the agent applies it (it knows its ranges)
                settings.put(key, scalar(t.getValueNode(), key));
            }
            return settings;
        }

        Map<String, String> upstreams(Node n) {
            if (!(n instanceof MappingNode map)) {
                throw error(n, "upstreams: a mapping of NAME: TARGET (openai: api.openai.com:443), not a " + kind(n));
            }
            Map<String, String> upstreams = new LinkedHashMap<>();
            for (NodeTuple t : map.getValue()) {
                String name = scalar(t.getKeyNode(), "an upstream name");
                if (upstreams.put(name, scalar(t.getValueNode(), name)) != null) {
                    throw error(t.getKeyNode(), "upstreams: '" + name + "' is given twice");
                }
            }
            // the targets are checked (and names resolved) by the probe when the agent applies them
            return upstreams;
        }

        Set<Integer> ports(Node n) {
            Set<Integer> ports = new TreeSet<>();
            for (Node item : sequence(n, "ports")) {
                String text = scalar(item, "a port");
                int port;
                try {
                    port = Integer.parseInt(text);
                } catch (NumberFormatException e) {
                    throw error(item, "ports: '" + text + "' is not a port number");
                }
                if (port < 1 || port > 65535) {
                    throw error(item, "ports: " + port + " is not a port (1 to 65535)");
                }
                ports.add(port);
            }
            if (ports.size() > MAX_PORTS) {
                throw error(n, "ports: " + ports.size() + " ports; at most " + MAX_PORTS + " (each is a series of every"
                        + " per-port metric)");
            }
            return ports;
        }

        Pcap pcap(Node n) {
            if (!(n instanceof MappingNode map)) {
                throw error(n, "pcap: a mapping (file: /var/log/tcpinspect/flagged.pcapng, payload: false, max_mb: 100,"
                        + " files: 5), not a " + kind(n));
            }
            Map<String, Node> keys = new LinkedHashMap<>();
            for (NodeTuple t : map.getValue()) {
                String key = scalar(t.getKeyNode(), "a key");
                if (!Set.of("file", "payload", "max_mb", "files").contains(key)) {
                    throw error(t.getKeyNode(), "pcap: unknown key '" + key + "'; its keys are file, payload, max_mb, files");
                }
                keys.put(key, t.getValueNode());
            }
            if (!keys.containsKey("file")) {
                throw error(n, "pcap: name the file (file: PATH)");
            }
            String file = scalar(keys.get("file"), "pcap.file");
            if (file.isEmpty() || !file.startsWith("/")) {
                throw error(keys.get("file"), "pcap.file: '" + file + "' is not an absolute path");
            }
            boolean payload = keys.containsKey("payload") && bool(keys.get("payload"), "pcap.payload");
            int max = keys.containsKey("max_mb") ? number(keys.get("max_mb"), "pcap.max_mb", 1, 1_000_000) : 100;
            int files = keys.containsKey("files") ? number(keys.get("files"), "pcap.files", 1, 1000) : 5;
            return new Pcap(Path.of(file), payload, max, files);
        }

        Enforce enforce(Node n) {
            if (!(n instanceof MappingNode map)) {
                throw error(n, "enforce: a mapping (policy: /etc/tcpinspect/policy.yaml, interfaces: [eth1], xdp_mode: auto,"
                        + " audit: false), not a " + kind(n));
            }
            Map<String, Node> keys = new LinkedHashMap<>();
            for (NodeTuple t : map.getValue()) {
                String key = scalar(t.getKeyNode(), "a key");
                if (!Set.of("policy", "interfaces", "xdp_mode", "audit").contains(key)) {
                    throw error(t.getKeyNode(), "enforce: unknown key '" + key + "'; its keys are policy, interfaces,"
                            + " xdp_mode, audit");
                }
                keys.put(key, t.getValueNode());
            }
            if (!keys.containsKey("policy")) {
                throw error(n, "enforce: name the policy file (policy: PATH)");
            }
            if (!keys.containsKey("interfaces")) {
                throw error(n, "enforce: name the interfaces to protect (interfaces: [eth1]): a dropping program goes"
                        + " only where it is asked to");
            }
            String text = scalar(keys.get("policy"), "enforce.policy");
            if (text.isEmpty()) {
                throw error(keys.get("policy"), "enforce.policy: name the policy file");
            }
            // a relative path is the config file's neighbour, wherever the agent was started from
            Path file = Path.of(file()).toAbsolutePath().getParent().resolve(text).normalize();
            List<String> names = interfaces(keys.get("interfaces"));
            if (names.isEmpty()) {
                throw error(keys.get("interfaces"), "enforce.interfaces: name at least one interface to protect");
            }
            XdpMode mode = keys.containsKey("xdp_mode") ? choice(keys.get("xdp_mode"), "enforce.xdp_mode", XdpMode.class)
                    : XdpMode.AUTO;
            boolean audit = keys.containsKey("audit") && bool(keys.get("audit"), "enforce.audit");
            dev.tcpinspect.policy.Policy policy;
            try {
                policy = dev.tcpinspect.policy.PolicyFile.read(file);
            } catch (dev.tcpinspect.policy.PolicyException e) {
                // the policy's own file, line and problem, after the config's line that names it
                throw error(keys.get("policy"), "enforce.policy: " + e.getMessage());
            }
            return new Enforce(file, policy, names, mode, audit);
        }

        int number(Node n, String what, int min, int max) {
            String text = scalar(n, what);
            try {
                int v = Integer.parseInt(text);
                if (v >= min && v <= max) {
                    return v;
                }
            } catch (NumberFormatException e) {
                // said below
            }
            throw error(n, what + ": '" + text + "' is not a whole number from " + min + " to " + max);
        }

        double interval(Node n) {
            String text = scalar(n, "interval");
            double v;
            try {
                v = Double.parseDouble(text);
            } catch (NumberFormatException e) {
                throw error(n, "interval: '" + text + "' is not a number of seconds");
            }
            if (!(v >= 0.1 && v <= 60)) {
                throw error(n, "interval: " + text + " seconds; from 0.1 to 60");
            }
            return v;
        }

        boolean bool(Node n, String what) {
            String text = scalar(n, what);
            return switch (text) {
                case "true" -> true;
                case "false" -> false;
                default -> throw error(n, what + ": '" + text + "' is not true or false");
            };
        }

        <E extends Enum<E>> E choice(Node n, String what, Class<E> type) {
            String text = scalar(n, what);
            for (E e : type.getEnumConstants()) {
                if (e.name().equalsIgnoreCase(text)) {
                    return e;
                }
            }
            List<String> names = new ArrayList<>();
            for (E e : type.getEnumConstants()) {
                names.add(e.name().toLowerCase(Locale.ROOT));
            }
            throw error(n, what + ": '" + text + "' is not one of " + String.join(", ", names));
        }

        List<Node> sequence(Node n, String what) {
            if (n instanceof SequenceNode seq) {
                return seq.getValue();
            }
            throw error(n, what + ": a list ([a, b]), not a " + kind(n));
        }

        String scalar(Node n, String what) {
            if (n instanceof ScalarNode s) {
                return s.getValue();
            }
            throw error(n, what + ": a single value, not a " + kind(n));
        }

        ConfigException error(Node n, String problem) {
            return new ConfigException(file, n.getStartMark() == null ? 0 : n.getStartMark().getLine() + 1, problem);
        }

        private static String kind(Node n) {
            return n instanceof MappingNode ? "mapping" : n instanceof SequenceNode ? "list" : "value";
        }
    }

    /**
     * An address to listen on: HOST:PORT, [IPV6]:PORT or :PORT (every address). A name is resolved
     * once; an address that is not this host's fails when the agent binds it.
     */
    public static InetSocketAddress listenAddress(String text) {
        int colon = text.lastIndexOf(':');
        if (colon < 0) {
            throw new IllegalArgumentException("'" + text + "' is not ADDRESS:PORT (127.0.0.1:9977, [::1]:9977, :9977)");
        }
        String host = text.substring(0, colon);
        int port;
        try {
            port = Integer.parseInt(text.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + text + "' has no port number after its last ':'");
        }
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("port " + port + " is out of range (0 to 65535)");
        }
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        } else if (host.contains(":")) {
            throw new IllegalArgumentException("'" + text + "': write an IPv6 address in brackets, [::1]:" + port);
        }
        if (host.isEmpty()) {
            return new InetSocketAddress(port); // every address
        }
        try {
            return new InetSocketAddress(InetAddress.getByName(host), port);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("'" + host + "' is neither an address nor a name that resolves");
        }
    }
}
