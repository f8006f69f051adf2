package dev.tcpinspect.policy;

import dev.tcpinspect.policy.Policy.Limits;
import dev.tcpinspect.policy.Policy.Protocol;
import dev.tcpinspect.policy.Policy.Service;
import dev.tcpinspect.policy.Policy.Verdict;
import java.io.IOException;
import java.io.Reader;
import java.io.StringReader;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
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
 * Reads a policy file (YAML, through SnakeYAML's node tree, which keeps each value's line) into a
 * {@link Policy}, or refuses it with one {@link PolicyException} naming the file, the line and the
 * problem. Strict: an unknown key, a value of the wrong kind, a port out of range or a prefix with
 * host bits set is refused, never ignored, since a policy read differently from how it was meant
 * decides which packets are dropped.
 */
public final class PolicyFile {
    /** A policy is a page of text; anything much bigger is a wrong file. */
    static final int MAX_BYTES = 1 << 20;
    static final long MAX_LIMIT = 10_000_000;
    /** Entries of one list (services, deny, allow): a policy, not a database. */
    static final int MAX_ENTRIES = 100_000;
    static final Duration MAX_TTL = Duration.ofDays(30);
    private static final Pattern RANGE = Pattern.compile("(\\d{1,5})\\s*-\\s*(\\d{1,5})");
    private static final Pattern TTL = Pattern.compile("(?:(\\d{1,6})d)?(?:(\\d{1,6})h)?(?:(\\d{1,6})m)?(?:(\\d{1,6})s)?");
    private static final Set<String> TOP = Set.of("default", "services", "failsafe", "deny", "allow", "count", "mark", "limits",
            "auto_block", "syn_flood");
    /** A rule's name: what `policy stats` shows its hits under. */
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{0,47}");

    private final String file;

    private PolicyFile(String file) {
        this.file = file;
    }

    /** Reads and checks the policy in this file. */
    public static Policy read(Path path) {
        String name = path.toString();
        try (var in = Files.newInputStream(path)) {
            byte[] bytes = in.readNBytes(MAX_BYTES + 1); // bounded: /dev/zero has no size to check first
            if (bytes.length > MAX_BYTES) {
                throw new PolicyException(name, 0, "is larger than " + MAX_BYTES / 1024 + " KiB: not a policy");
            }
            String text = StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(bytes)).toString();
            return parse(name, new StringReader(text));
        } catch (CharacterCodingException e) {
            throw new PolicyException(name, 0, "is not UTF-8 text");
        } catch (java.nio.file.NoSuchFileException e) {
            throw new PolicyException(name, 0, "no such file");
        } catch (java.nio.file.AccessDeniedException e) {
            throw new PolicyException(name, 0, "cannot be read: permission denied");
        } catch (IOException e) {
            throw new PolicyException(name, 0, "cannot be read: " + e.getMessage());
        }
    }

    /** Reads and checks a policy from text; name is what errors call it. */
    public static Policy parse(String name, Reader text) {
        LoaderOptions options = new LoaderOptions();
        options.setMaxAliasesForCollections(10);
        options.setNestingDepthLimit(20);
        options.setCodePointLimit(MAX_BYTES);
        Node root;
        try {
            root = new Yaml(options).compose(text);
        } catch (MarkedYAMLException e) {
            Mark mark = e.getProblemMark() != null ? e.getProblemMark() : e.getContextMark();
            String problem = e.getProblem() != null ? e.getProblem() : e.getMessage().lines().findFirst().orElse("");
            throw new PolicyException(name, mark == null ? 0 : mark.getLine() + 1, "not valid YAML: " + problem);
        } catch (YAMLException e) {
            throw new PolicyException(name, 0, "not valid YAML: " + e.getMessage().lines().findFirst().orElse(""));
        }
        if (root == null) {
            throw new PolicyException(name, 0, "is empty (a truncated file?): write 'default: allow' for a policy of"
                    + " every default");
        }
        return new PolicyFile(name).policy(root);
    }

    private Policy policy(Node root) {
        Map<String, Node> top = mapping(root, "the policy", TOP);
        Verdict verdict = top.containsKey("default")
                ? choice(top.get("default"), "default", Verdict.class) : Verdict.ALLOW;
        List<Service> services = top.containsKey("services") ? services(top.get("services")) : List.of();
        TreeSet<Integer> failsafe = new TreeSet<>(Policy.DEFAULT_FAILSAFE);
        if (top.containsKey("failsafe")) {
            java.util.BitSet ports = new java.util.BitSet(65536);
            for (Node n : sequence(top.get("failsafe"), "failsafe")) {
                int[] range = ports(n, "failsafe");
                ports.set(range[0], range[1] + 1);
            }
            failsafe.clear();
            ports.stream().forEach(failsafe::add);
        }
        Map<Cidr, String> names = new java.util.LinkedHashMap<>();
        Map<String, Node> namedAt = new java.util.HashMap<>();
        List<Cidr> deny = top.containsKey("deny") ? prefixes(top.get("deny"), "deny", names, namedAt) : List.of();
        List<Cidr> allow = top.containsKey("allow") ? prefixes(top.get("allow"), "allow", names, namedAt) : List.of();
        List<Cidr> count = top.containsKey("count") ? prefixes(top.get("count"), "count", names, namedAt) : List.of();
        Map<Cidr, Integer> marks = new java.util.LinkedHashMap<>();
        if (top.containsKey("mark")) {
            prefixes(top.get("mark"), "mark", names, namedAt, marks);
        }
        Limits limits = top.containsKey("limits") ? limits(top.get("limits")) : Limits.NONE;
        Optional<Duration> ttl = Optional.empty();
        if (top.containsKey("auto_block")) {
            Map<String, Node> block = mapping(top.get("auto_block"), "auto_block", Set.of("ttl"));
            ttl = Optional.of(block.containsKey("ttl") ? ttl(block.get("ttl")) : Duration.ofMinutes(10));
        }
        Optional<Policy.SynFlood> synFlood = Optional.empty();
        if (top.containsKey("syn_flood")) {
            Map<String, Node> flood = mapping(top.get("syn_flood"), "syn_flood", Set.of("syn_per_second", "known_for"));
            if (!flood.containsKey("syn_per_second")) {
                throw error(top.get("syn_flood"), "syn_flood needs syn_per_second: the SYNs a second a port takes from"
                        + " anyone before only known sources get through");
            }
            synFlood = Optional.of(new Policy.SynFlood(count(flood.get("syn_per_second"), "syn_per_second").getAsLong(),
                    flood.containsKey("known_for") ? duration(flood.get("known_for"), "known_for")
                            : Policy.SynFlood.DEFAULT_KNOWN_FOR));
        }
        return new Policy(verdict, services, failsafe, deny, allow, limits, ttl, synFlood, count, names, marks);
    }

    private List<Service> services(Node node) {
        List<Service> services = new ArrayList<>();
        List<Integer> lines = new ArrayList<>();
        List<Node> listed = sequence(node, "services");
        if (listed.isEmpty()) {
            throw error(node, "services lists no port, which would close every one: leave services out for no"
                    + " service filter, or name the ports served");
        }
        if (listed.size() > MAX_ENTRIES) {
            throw error(node, "services has " + listed.size() + " entries; at most " + MAX_ENTRIES);
        }
        for (Node n : listed) {
            Service s;
            if (n instanceof MappingNode) {
                Map<String, Node> m = mapping(n, "a service", Set.of("port", "address", "expect", "on_misfit"));
                if (!m.containsKey("port")) {
                    throw error(n, "a service names its port (port: 443)");
                }
                int[] range = ports(m.get("port"), "port");
                Optional<Cidr> address = m.containsKey("address") ? Optional.of(host(m.get("address"))) : Optional.empty();
                Optional<Protocol> expect = m.containsKey("expect")
                        ? Optional.of(choice(m.get("expect"), "expect", Protocol.class)) : Optional.empty();
                Policy.OnMisfit onMisfit = Policy.OnMisfit.COUNT;
                if (m.containsKey("on_misfit")) {
                    if (expect.isEmpty()) {
                        throw error(m.get("on_misfit"), "on_misfit needs expect: the protocol a connection must start with");
                    }
                    onMisfit = choice(m.get("on_misfit"), "on_misfit", Policy.OnMisfit.class);
                }
                s = new Service(range[0], range[1], address, expect, onMisfit);
            } else {
                int[] range = ports(n, "services");
                s = new Service(range[0], range[1], Optional.empty(), Optional.empty(), Policy.OnMisfit.COUNT);
            }
            services.add(s);
            lines.add(line(n));
        }
        refuseOverlaps(services, lines);
        return services;
    }

    /** A port listed twice for the same address (ranges included) is refused, naming both lines. */
    private void refuseOverlaps(List<Service> services, List<Integer> lines) {
        java.util.Comparator<Integer> byAddressThenPort = java.util.Comparator
                .comparing((Integer i) -> services.get(i).localAddress().map(Cidr::toString).orElse(""))
                .thenComparingInt(i -> services.get(i).firstPort());
        List<Integer> order = new ArrayList<>(java.util.stream.IntStream.range(0, services.size()).boxed().toList());
        order.sort(byAddressThenPort);
        for (int k = 1; k < order.size(); k++) {
            Service a = services.get(order.get(k - 1));
            Service b = services.get(order.get(k));
            if (a.localAddress().equals(b.localAddress()) && b.firstPort() <= a.lastPort()) {
                int first = Math.min(lines.get(order.get(k - 1)), lines.get(order.get(k)));
                int later = Math.max(lines.get(order.get(k - 1)), lines.get(order.get(k)));
                throw new PolicyException(file, later, "port " + b.firstPort() + b.localAddress().map(x -> " on " + x)
                        .orElse("") + " is already listed, on line " + first);
            }
        }
    }

    private Limits limits(Node node) {
        Map<String, Node> limits = mapping(node, "limits", Set.of("per_source"));
        if (!limits.containsKey("per_source")) {
            return Limits.NONE;
        }
        Map<String, Node> perSource = mapping(limits.get("per_source"), "per_source",
                Set.of("connections", "new_per_second"));
        return new Limits(count(perSource.get("connections"), "connections"),
                count(perSource.get("new_per_second"), "new_per_second"));
    }

    private OptionalLong count(Node node, String key) {
        if (node == null) {
            return OptionalLong.empty();
        }
        String v = scalar(node, key);
        if (!v.matches("\\d{1,9}") || Long.parseLong(v) < 1 || Long.parseLong(v) > MAX_LIMIT) {
            throw error(node, key + " must be a whole number from 1 to " + MAX_LIMIT + ", not '" + v + "'");
        }
        return OptionalLong.of(Long.parseLong(v));
    }

    private Duration ttl(Node node) {
        return duration(node, "ttl");
    }

    private Duration duration(Node node, String key) {
        try {
            return parseTtl(scalar(node, key));
        } catch (IllegalArgumentException e) {
            throw error(node, key + " " + e.getMessage());
        }
    }

    /**
     * A time to live as policies and `policy deny --ttl` write it: 90s, 10m, 2h, 1d, 1h30m; from 1 s to
     * 30 days. The message of the exception says what is wrong ("must be ...").
     */
    public static Duration parseTtl(String text) {
        String v = text.strip();
        Matcher m = TTL.matcher(v);
        if (v.isEmpty() || !m.matches()) {
            throw new IllegalArgumentException("must be a duration such as 90s, 10m, 2h or 1d, not '" + v + "'");
        }
        long[] units = {86400, 3600, 60, 1};
        long seconds = 0;
        for (int i = 0; i < 4; i++) {
            if (m.group(i + 1) != null) {
                seconds += Long.parseLong(m.group(i + 1)) * units[i];
            }
        }
        if (seconds < 1 || seconds > MAX_TTL.toSeconds()) {
            throw new IllegalArgumentException("must be from 1s to " + MAX_TTL.toDays() + "d, not '" + v + "'");
        }
        return Duration.ofSeconds(seconds);
    }

    /**
     * A list of prefixes, each a string or a mapping {prefix: ..., name: ...}; names go into names
     * (a name used twice is refused, naming both lines).
     */
    private List<Cidr> prefixes(Node node, String key, Map<Cidr, String> names, Map<String, Node> namedAt) {
        return prefixes(node, key, names, namedAt, null);
    }

    /** A list of prefixes, each a literal or {prefix, name}; with marks (the mark list), each {prefix, mark, name}. */
    private List<Cidr> prefixes(Node node, String key, Map<Cidr, String> names, Map<String, Node> namedAt,
                                Map<Cidr, Integer> marks) {
        List<Cidr> prefixes = new ArrayList<>();
        List<Node> listed = sequence(node, key);
        if (listed.size() > MAX_ENTRIES) {
            throw error(node, key + " has " + listed.size() + " entries; at most " + MAX_ENTRIES);
        }
        for (Node n : listed) {
            Node prefixNode = n;
            Optional<String> name = Optional.empty();
            Integer mark = null;
            if (marks != null && !(n instanceof MappingNode)) {
                throw error(n, "a mark rule names its prefix and its mark: {prefix: 198.51.100.0/24, mark: 0x10}");
            }
            if (n instanceof MappingNode) {
                Map<String, Node> m = mapping(n, "a " + key + " rule",
                        marks != null ? Set.of("prefix", "mark", "name") : Set.of("prefix", "name"));
                if (!m.containsKey("prefix")) {
                    throw error(n, "a " + key + " rule names its prefix (prefix: 203.0.113.0/24)");
                }
                if (marks != null) {
                    if (!m.containsKey("mark")) {
                        throw error(n, "a mark rule names its mark (mark: 0x10), 1 to 0xffffffff");
                    }
                    mark = mark(m.get("mark"));
                }
                prefixNode = m.get("prefix");
                if (m.containsKey("name")) {
                    String text = scalar(m.get("name"), "name");
                    if (!NAME.matcher(text).matches()) {
                        throw error(m.get("name"), "name: '" + text + "' is not a rule name (letters, digits, '_', '.'"
                                + " and '-', at most 48, starting with a letter or digit)");
                    }
                    Node earlier = namedAt.putIfAbsent(text, m.get("name"));
                    if (earlier != null) {
                        throw error(m.get("name"), "name: '" + text + "' is already the name of the rule at line "
                                + line(earlier));
                    }
                    name = Optional.of(text);
                }
            }
            String text = scalar(prefixNode, key);
            Cidr c;
            try {
                c = Cidr.parse(text);
            } catch (IllegalArgumentException e) {
                throw error(prefixNode, key + ": " + e.getMessage());
            }
            prefixes.add(c);
            if (name.isPresent()) {
                names.put(c, name.get());
            }
            if (mark != null && marks.putIfAbsent(c, mark) != null) {
                throw error(prefixNode, "mark: " + c + " is marked twice");
            }
        }
        return prefixes;
    }

    /** A packet mark: decimal or 0x hexadecimal, 1 to 0xffffffff (0 is no mark), as ip rule's fwmark takes it. */
    private int mark(Node node) {
        String text = scalar(node, "mark").trim();
        try {
            long v = text.startsWith("0x") || text.startsWith("0X") ? Long.parseLong(text.substring(2), 16)
                    : Long.parseLong(text);
            if (v >= 1 && v <= 0xFFFF_FFFFL) {
                return (int) v;
            }
        } catch (NumberFormatException e) {
            // refused below
        }
        throw error(node, "mark: '" + text + "' is not a mark (1 to 4294967295, or 0x1 to 0xffffffff)");
    }

    private Cidr host(Node node) {
        String text = scalar(node, "address");
        Cidr c;
        try {
            c = Cidr.parse(text);
        } catch (IllegalArgumentException e) {
            throw error(node, "address: " + e.getMessage());
        }
        if (c.prefixLength() != c.address().length * 8) {
            throw error(node, "address is one local address, not a prefix: '" + text + "'");
        }
        return c;
    }

    /** A port (443) or a range ("8000-8100"), as {first, last}. */
    private int[] ports(Node node, String key) {
        String v = scalar(node, key).strip();
        Matcher range = RANGE.matcher(v);
        int first, last;
        if (v.matches("\\d{1,5}")) {
            first = last = Integer.parseInt(v);
        } else if (range.matches()) {
            first = Integer.parseInt(range.group(1));
            last = Integer.parseInt(range.group(2));
            if (first > last) {
                throw error(node, key + ": the range " + v + " runs backwards");
            }
        } else {
            throw error(node, key + ": '" + v + "' is not a port (1 to 65535) or a range of ports (8000-8100)");
        }
        if (first < 1 || last > 65535) {
            throw error(node, key + ": port " + (first < 1 ? first : last) + " is out of range (1 to 65535)");
        }
        return new int[] {first, last};
    }

    private <E extends Enum<E>> E choice(Node node, String key, Class<E> kind) {
        String v = scalar(node, key).strip();
        for (E e : kind.getEnumConstants()) {
            if (e.name().equalsIgnoreCase(v)) {
                return e;
            }
        }
        List<String> names = java.util.Arrays.stream(kind.getEnumConstants()).map(e -> e.name().toLowerCase(Locale.ROOT))
                .toList();
        throw error(node, key + " is one of " + String.join(", ", names) + ", not '" + v + "'");
    }

    private Map<String, Node> mapping(Node node, String what, Set<String> keys) {
        if (!(node instanceof MappingNode m)) {
            throw error(node, what + " must be a mapping (key: value lines), not " + kindOf(node));
        }
        Map<String, Node> values = new LinkedHashMap<>();
        for (NodeTuple t : m.getValue()) {
            String key = scalar(t.getKeyNode(), "a key");
            if (!keys.contains(key)) {
                throw error(t.getKeyNode(), "unknown key '" + key + "' in " + what + " (known: "
                        + String.join(", ", new TreeSet<>(keys)) + ")");
            }
            Node before = values.put(key, t.getValueNode());
            if (before != null) {
                throw error(t.getKeyNode(), "'" + key + "' is given twice (first on line " + line(before) + ")");
            }
        }
        return values;
    }

    private List<Node> sequence(Node node, String key) {
        if (node instanceof ScalarNode s && s.getValue().isEmpty()) {
            // "failsafe:" with nothing after it reads as null, not as []: too close to a slip of the pen
            throw error(node, key + " has no value: write a list ([] for an empty one), or leave the key out");
        }
        if (!(node instanceof SequenceNode s)) {
            throw error(node, key + " must be a list ([a, b] or lines starting with '- '), not " + kindOf(node));
        }
        return s.getValue();
    }

    private String scalar(Node node, String what) {
        if (!(node instanceof ScalarNode s)) {
            throw error(node, what + " must be a single value, not " + kindOf(node));
        }
        return s.getValue();
    }

    private static String kindOf(Node node) {
        return node instanceof MappingNode ? "a mapping" : node instanceof SequenceNode ? "a list"
                : "'" + ((ScalarNode) node).getValue() + "'";
    }

    private static int line(Node node) {
        return node.getStartMark() == null ? 0 : node.getStartMark().getLine() + 1;
    }

    private PolicyException error(Node node, String message) {
        return new PolicyException(file, line(node), message);
    }
}
