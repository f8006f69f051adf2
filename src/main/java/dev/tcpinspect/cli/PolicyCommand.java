package dev.tcpinspect.cli;

import dev.tcpinspect.enforce.EnforceStat;
import dev.tcpinspect.enforce.Enforcer;
import dev.tcpinspect.enforce.EnforcerTables;
import dev.tcpinspect.enforce.PrefixRule;
import dev.tcpinspect.enforce.RuleKind;
import dev.tcpinspect.os.Netns;
import dev.tcpinspect.policy.Cidr;
import dev.tcpinspect.policy.Policy;
import dev.tcpinspect.policy.PolicyException;
import dev.tcpinspect.policy.PolicyFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** Policy files for the XDP enforcer (README "Policy files"). */
@Command(name = "policy", mixinStandardHelpOptions = true,
        description = {
            "Work with enforcement policies: YAML files that say which sources and ports incoming TCP may",
            "come from and to (README, 'Policy files'), and with the policy a running enforcer",
            "(tcpinspect enforce) holds: apply a new one, show it, count its hits, deny or allow a prefix",
            "live. Every command but check works on the enforcer's pinned tables, so it works whether",
            "the enforcer process still runs or was killed."},
        subcommands = {PolicyCommand.Check.class, PolicyCommand.Apply.class, PolicyCommand.Show.class,
            PolicyCommand.Stats.class, PolicyCommand.Deny.class, PolicyCommand.Allow.class, PolicyCommand.Delete.class})
final class PolicyCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /** Prefixes a list shows unless --all: a policy may hold tens of thousands, which no line should. */
    static final int SHOWN = 20;

    /** "a, b, c", or the first SHOWN and "... and N more (M in all; --all lists them)"; "none" when empty. */
    static String listed(List<String> items, boolean all) {
        if (items.isEmpty()) {
            return "none";
        }
        if (all || items.size() <= SHOWN) {
            return String.join(", ", items);
        }
        return String.join(", ", items.subList(0, SHOWN)) + String.format(", ... and %,d more (%,d in all; --all lists"
                + " them)", items.size() - SHOWN, items.size());
    }

    @Command(name = "check", mixinStandardHelpOptions = true,
            description = {
                "Check a policy file without touching anything: prints what it says, or one line naming the",
                "file, the line and the problem (exit status 2). Needs no privileges."},
            footer = {"", "Example:", "  tcpinspect policy check /etc/tcpinspect/policy.yaml"})
    static final class Check implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Parameters(paramLabel = "FILE", description = "The policy file (YAML).")
        Path file;

        @Option(names = "--all", description = "List every prefix (by default the first " + SHOWN + " of each list and how"
                + " many more).")
        boolean all;

        @Override
        public Integer call() {
            Policy p;
            try {
                p = PolicyFile.read(file);
            } catch (PolicyException e) {
                spec.commandLine().getErr().println(Main.printable("tcpinspect: " + e.getMessage()));
                return 2;
            }
            var out = spec.commandLine().getOut();
            out.println(file + ": a valid policy");
            out.printf("  default      %s%n", p.defaultVerdict().name().toLowerCase());
            out.printf("  services     %s%n", p.services().isEmpty() ? "any port (no service filter)"
                    : String.join(", ", p.services().stream().map(Policy.Service::toString).toList())
                            + "; other TCP is dropped before the stack");
            out.printf("  failsafe     %s%n", p.failsafe().isEmpty() ? "none"
                    : String.join(", ", p.failsafe().stream().map(String::valueOf).toList())
                            + " (never closed by this policy)");
            out.printf("  deny         %s%n", prefixes(p.deny(), p.names(), all));
            out.printf("  allow        %s%n", prefixes(p.allow(), p.names(), all) + (p.allow().isEmpty() ? "" : " (wins over deny)"));
            out.printf("  count        %s%n", prefixes(p.count(), p.names(), all) + (p.count().isEmpty() ? "" : " (counted only)"));
            out.printf("  mark         %s%n", p.marks().isEmpty() ? "none" : String.join(", ", p.marks().entrySet().stream()
                    .map(e -> e.getKey() + " mark 0x" + Integer.toHexString(e.getValue())
                            + (p.names().containsKey(e.getKey()) ? " (" + p.names().get(e.getKey()) + ")" : "")).toList())
                    + " (passing packets marked)");
            out.printf("  per source   %s%n", limits(p.limits()));
            out.printf("  syn_flood    %s%n", p.synFlood().map(f -> "over " + f.synPerSecond() + " SYNs a second to a port, only"
                    + " sources known for " + f.knownFor().toString().substring(2).toLowerCase() + " pass").orElse("off"));
            out.printf("  auto_block   %s%n", p.autoBlockTtl().map(t -> "sources detection names, for " + t.toString()
                    .substring(2).toLowerCase()).orElse("off"));
            return 0;
        }

        private static String prefixes(List<dev.tcpinspect.policy.Cidr> list, Map<dev.tcpinspect.policy.Cidr, String> names,
                                       boolean all) {
            return listed(list.stream().map(c -> c + (names.containsKey(c) ? " (" + names.get(c) + ")" : "")).toList(), all);
        }

        private static String limits(Policy.Limits l) {
            if (l.connections().isEmpty() && l.newPerSecond().isEmpty()) {
                return "no limit";
            }
            return (l.connections().isPresent() ? l.connections().getAsLong() + " connections at once" : "")
                    + (l.connections().isPresent() && l.newPerSecond().isPresent() ? ", " : "")
                    + (l.newPerSecond().isPresent() ? l.newPerSecond().getAsLong() + " new a second" : "");
        }
    }

    /** The namespace named by --netns, checked; empty for this process's own. */
    static Optional<String> namespace(String name) {
        if (name == null) {
            return Optional.empty();
        }
        if (name.isEmpty() || name.contains("/") || !Files.exists(Path.of("/run/netns", name))) {
            throw new dev.tcpinspect.os.InputRefusedException("no network namespace named '" + name
                    + "' (see ip netns list)");
        }
        return Optional.of(name);
    }

    /** Whether this process may use the enforcer's pinned objects; if not, says so in one line. */
    static boolean privileged(CommandLine.Model.CommandSpec spec, String command) {
        if (dev.tcpinspect.os.Privileges.current().canUseEnforcer()) {
            return true;
        }
        spec.commandLine().getErr().println("tcpinspect: " + command + ": " + dev.tcpinspect.os.Privileges.MISSING_ROOT);
        return false;
    }

    /** The enforcer folder of the namespace (--netns NAME, or this process's). */
    static Path folderOf(Optional<String> namespace) {
        try (Netns ns = namespace.map(Netns::named).orElseGet(Netns::current)) {
            return Enforcer.folder(ns.inode());
        }
    }

    /**
     * The running enforcer's tables, or a one-line failure naming what is missing and what to do:
     * the privileges, or an enforcer.
     */
    static Enforcer.PinnedTables running(CommandLine.Model.CommandSpec spec, String netns) {
        if (!dev.tcpinspect.os.Privileges.current().canUseEnforcer()) {
            throw new IllegalStateException(spec.qualifiedName(" ").replaceFirst("^tcpinspect ", "") + ": "
                    + dev.tcpinspect.os.Privileges.MISSING_ROOT);
        }
        Optional<String> namespace = namespace(netns);
        Path folder = folderOf(namespace);
        String where = netns == null ? "this network namespace" : "network namespace " + netns;
        try (Netns ns = namespace.map(Netns::named).orElseGet(Netns::current)) {
            if (Enforcer.ofAnotherNamespace(folder, ns.cookie())) {
                throw new IllegalStateException("no enforcer runs in " + where + " (" + folder + " holds a deleted"
                        + " namespace's, which had the same inode: tcpinspect enforce stop" + (netns == null ? ""
                                : " --netns " + netns) + " removes it): start one with tcpinspect enforce --policy FILE -i IFACE");
            }
        }
        return Enforcer.openPinned(folder).orElseThrow(() -> new IllegalStateException("no enforcer runs in "
                + where + " (nothing pinned at " + folder + "): start one with tcpinspect enforce --policy FILE -i IFACE"));
    }

    /** Options every command on a running enforcer takes. */
    static final class Target {
        @Option(names = "--netns", paramLabel = "NAME", description = "The enforcer of the network namespace NAME.")
        String netns;
    }

    @Command(name = "apply", mixinStandardHelpOptions = true,
            description = {
                "Replace the running enforcer's policy with FILE in one step: the new policy is written beside the",
                "running one and switched in at once, so a packet is judged by the old or the new, never a mix.",
                "A policy that is refused (one line: file, line, problem; exit status 2) changes nothing.",
                "Prefixes denied or allowed live (policy deny/allow) stay."},
            footer = {"", "Example:", "  sudo tcpinspect policy apply /etc/tcpinspect/policy.yaml"})
    static final class Apply implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;
        @CommandLine.Mixin
        Target target;
        @Parameters(paramLabel = "FILE", description = "The policy file (YAML).")
        Path file;

        @Option(names = "--all", description = "List every prefix (by default the first " + SHOWN + " of each list and how"
                + " many more).")
        boolean all;

        @Override
        public Integer call() {
            Policy p;
            try {
                p = PolicyFile.read(file);
            } catch (PolicyException e) {
                spec.commandLine().getErr().println(Main.printable("tcpinspect: " + e.getMessage()));
                return 2;
            }
            try (Enforcer.PinnedTables t = running(spec, target.netns)) {
                try {
                    t.tables().apply(p);
                } catch (IllegalArgumentException e) {
                    spec.commandLine().getErr().println(Main.printable("tcpinspect: " + file + ": " + e.getMessage()));
                    return 2;
                }
            }
            spec.commandLine().getOut().println("applied " + file);
            return 0;
        }
    }

    @Command(name = "show", mixinStandardHelpOptions = true,
            description = {"Print the policy the running enforcer holds, read back from its tables, and the",
                "prefixes denied or allowed live with the time each has left."})
    static final class Show implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;
        @CommandLine.Mixin
        Target target;
        @Option(names = "--all", description = "List every prefix (by default the first " + SHOWN + " of each list and how"
                + " many more).")
        boolean all;

        @Override
        public Integer call() {
            var out = spec.commandLine().getOut();
            Path folder = folderOf(namespace(target.netns));
            try (Enforcer.PinnedTables t = running(spec, target.netns)) {
                EnforcerTables tables = t.tables();
                EnforcerTables.Config c = tables.config();
                EnforcerTables.Settings s = tables.settings(c.activeGen());
                int[] flags = tables.portFlags(c.activeGen());
                List<PrefixRule> rules = tables.prefixes(c.activeGen());
                out.printf("enforcer     %s on %s%s%n", Enforcer.running(c.pid()).isPresent()
                                ? "pid " + c.pid() : "no process (the pinned programs enforce on their own)",
                        String.join(", ", Enforcer.pinnedInterfaces(folder)), c.audit() ? ", audit: drops nothing" : "");
                out.printf("default      %s%n", s.defaultDeny() ? "deny" : "allow");
                out.printf("services     %s%n", s.serviceFilter() ? ports(flags, EnforcerTables::served,
                        tables.servedOn(c.activeGen())) : "any port (no service filter)");
                out.printf("failsafe     %s%n", orNone(ports(flags, EnforcerTables::failsafe, List.of())));
                Map<Integer, String> names = tables.names();
                out.printf("deny         %s%n", prefixes(rules, RuleKind.DENY, names, all));
                out.printf("allow        %s%n", prefixes(rules, RuleKind.ALLOW, names, all));
                out.printf("count        %s%n", prefixes(rules, RuleKind.COUNT, names, all));
                out.printf("mark         %s%n", prefixes(rules, RuleKind.MARK, names, all));
                out.printf("lookup       %s%n", lookup(tables));
                out.printf("per source   %s%n", s.connLimit() == 0 && s.newPerSecond().isEmpty() ? "no limit"
                        : (s.connLimit() == 0 ? "" : s.connLimit() + " connections at once")
                                + (s.connLimit() != 0 && s.newPerSecond().isPresent() ? ", " : "")
                                + (s.newPerSecond().isPresent() ? s.newPerSecond().getAsLong() + " new a second" : ""));
                out.printf("syn_flood    %s%n", s.synPerSecond().isEmpty() ? "off" : "over " + s.synPerSecond().getAsLong()
                        + " SYNs a second to a port, only sources with a handshake in the last "
                        + Duration.ofNanos(s.knownNs()).toString().substring(2).toLowerCase() + " pass");
                long now = System.nanoTime();
                List<PrefixRule> live = tables.prefixes(EnforcerTables.LIVE).stream().filter(r -> !r.expired(now))
                        .sorted(java.util.Comparator.comparing(r -> r.prefix().toString())).toList();
                out.printf("live         %s%n", live.isEmpty() ? "none" : String.join(", ", live.stream()
                        .map(r -> r.listed().word() + " " + r.prefix() + (r.expiresNs() == 0 ? ""
                                : " (" + Duration.ofNanos(r.expiresNs() - now).toSeconds() + "s left)")).toList()));
            }
            return 0;
        }

        /** How sources are looked up: by the direct tables, or by the tries where the policy needs more than they hold. */
        private static String lookup(EnforcerTables tables) {
            boolean v4 = tables.direct(false);
            boolean v6 = tables.direct(true);
            return (v4 ? "IPv4 direct" : "IPv4 trie") + ", " + (v6 ? "IPv6 direct" : "IPv6 trie")
                    + (v4 && v6 ? "" : " (the policy needs more than the direct tables hold: a source's first packet"
                            + " walks the trie, README \"How a packet is judged\")");
        }

        private static String orNone(String s) {
            return s.isEmpty() ? "none" : s;
        }

        private static String ports(int[] flags, java.util.function.IntPredicate which, List<EnforcerTables.ServedOn> on) {
            List<String> parts = new ArrayList<>();
            for (int port = 0; port < flags.length; port++) {
                if (!which.test(flags[port])) {
                    continue;
                }
                int last = port;
                while (last + 1 < flags.length && which.test(flags[last + 1]) && flags[last + 1] == flags[port]) {
                    last++;
                }
                int first = port;
                List<String> addresses = on.stream().filter(o -> o.port() == first).map(o -> o.address().toString()
                        .replaceFirst("/(32|128)$", "")).sorted().toList();
                parts.add((first == last ? Integer.toString(first) : first + "-" + last)
                        + (addresses.isEmpty() ? "" : " on " + String.join(", ", addresses))
                        + EnforcerTables.expects(flags[first]).map(p -> " (expects " + p.name().toLowerCase()
                                + switch (EnforcerTables.onMisfit(flags[first])) {
                                    case COUNT -> "";
                                    case DROP -> ", drops misfits";
                                    case RESET -> ", resets misfits";
                                } + ")").orElse(""));
                port = last;
            }
            return String.join(", ", parts);
        }

        private static String prefixes(List<PrefixRule> rules, RuleKind listed, Map<Integer, String> names, boolean all) {
            List<String> shown = rules.stream().filter(r -> r.listed() == listed)
                    .sorted(java.util.Comparator.comparing(r -> r.prefix().toString()))
                    .map(r -> r.prefix() + (listed == RuleKind.MARK ? " mark 0x" + Integer.toHexString(r.mark()) : "")
                            + (names.containsKey(r.ownId()) ? " (" + names.get(r.ownId()) + ")" : ""))
                    .toList();
            return listed(shown, all);
        }
    }

    @Command(name = "stats", mixinStandardHelpOptions = true,
            description = {"Print the running enforcer's counters (since it was first started; README lists them)",
                "and the hits of each prefix rule, most hit first."})
    static final class Stats implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;
        @CommandLine.Mixin
        Target target;
        @Option(names = "--top", paramLabel = "N", defaultValue = "20", description = "Rules to list. Default: ${DEFAULT-VALUE}.")
        int top;

        @Override
        public Integer call() {
            var out = spec.commandLine().getOut();
            try (Enforcer.PinnedTables t = running(spec, target.netns)) {
                EnforcerTables tables = t.tables();
                long[] stats = tables.stats();
                for (EnforceStat s : EnforceStat.values()) {
                    out.printf("%-16s %14d   %s%n", s.key(), stats[s.ordinal()], s.help);
                }
                int gen = tables.config().activeGen();
                List<PrefixRule> rules = new ArrayList<>(tables.prefixes(gen));
                rules.addAll(tables.prefixes(EnforcerTables.LIVE));
                Map<Integer, String> names = tables.names();
                record Hit(PrefixRule rule, long hits) {}
                // Each rule's own counter: what it decided (a deny inside an allow counts under the allow), or
                // for a counted prefix, the packets of its sources.
                List<Hit> hits = rules.stream().map(r -> new Hit(r, tables.hits(r.ownId()))).filter(h -> h.hits() > 0)
                        .sorted(java.util.Comparator.comparingLong(Hit::hits).reversed()).limit(Math.max(0, top)).toList();
                List<Map.Entry<String, Long>> misfits = tables.misfitSources();
                if (!misfits.isEmpty()) {
                    out.println();
                    out.println("misfit connections by source");
                    misfits.stream().limit(Math.max(0, top)).forEach(e -> out.printf("%d  %s%n", e.getValue(), e.getKey()));
                }
                out.println();
                out.println(hits.isEmpty() ? "no prefix rule has matched yet" : "hits  rule");
                for (Hit h : hits) {
                    String name = names.get(h.rule().ownId());
                    out.printf("%d  %s %s%s%s%n", h.hits(), h.rule().listed().word(), h.rule().prefix(),
                            name == null ? "" : " (" + name + ")",
                            h.rule().ownId() / EnforcerTables.RULE_SLOTS == EnforcerTables.LIVE ? " (live)" : "");
                }
            }
            return 0;
        }
    }

    /** deny and allow: a live entry. */
    abstract static class LiveEntry implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;
        @CommandLine.Mixin
        Target target;
        @Parameters(paramLabel = "PREFIX", description = "An IPv4 or IPv6 prefix or address (a host).")
        String prefix;
        @Option(names = "--ttl", paramLabel = "DURATION", description = "Remove it after this long: 90s, 10m, 2h, 1d"
                + " (1s to 30d). Default: until deleted or the enforcer stops.")
        String ttl;

        abstract RuleKind kind();

        @Override
        public Integer call() {
            Cidr cidr;
            Optional<Duration> life;
            try {
                cidr = Cidr.parse(prefix);
                life = ttl == null ? Optional.empty() : Optional.of(PolicyFile.parseTtl(ttl));
            } catch (IllegalArgumentException e) {
                spec.commandLine().getErr().println(Main.printable("tcpinspect: policy " + kind().word() + ": "
                        + (ttl != null && !e.getMessage().startsWith("'") ? "--ttl " : "") + e.getMessage()));
                return 2;
            }
            try (Enforcer.PinnedTables t = running(spec, target.netns)) {
                t.tables().addLive(cidr, kind(), life.map(d -> System.nanoTime() + d.toNanos()).orElse(0L));
            }
            spec.commandLine().getOut().println(kind().word() + " " + cidr
                    + life.map(d -> " for " + d.toString().substring(2).toLowerCase()).orElse(""));
            return 0;
        }
    }

    @Command(name = "deny", mixinStandardHelpOptions = true,
            description = {"Deny a source prefix now, beside the running policy (an allow still wins), until",
                "--ttl runs out, `policy delete` removes it, or the enforcer stops."},
            footer = {"", "Example:", "  sudo tcpinspect policy deny 203.0.113.0/24 --ttl 10m"})
    static final class Deny extends LiveEntry {
        @Override
        RuleKind kind() {
            return RuleKind.DENY;
        }
    }

    @Command(name = "allow", mixinStandardHelpOptions = true,
            description = {"Allow a source prefix now, beside the running policy: it wins over every deny and is",
                "exempt from default: deny, the per-source limits, the SYN flood rate and protocol",
                "identification."},
            footer = {"", "Example:", "  sudo tcpinspect policy allow 198.51.100.7"})
    static final class Allow extends LiveEntry {
        @Override
        RuleKind kind() {
            return RuleKind.ALLOW;
        }
    }

    @Command(name = "delete", mixinStandardHelpOptions = true,
            description = {"Remove a prefix denied or allowed live (policy deny/allow); the policy file's own",
                "rules change only with policy apply."})
    static final class Delete implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;
        @CommandLine.Mixin
        Target target;
        @Parameters(paramLabel = "PREFIX", description = "The prefix as it was denied or allowed.")
        String prefix;

        @Override
        public Integer call() {
            Cidr cidr;
            try {
                cidr = Cidr.parse(prefix);
            } catch (IllegalArgumentException e) {
                spec.commandLine().getErr().println(Main.printable("tcpinspect: policy delete: " + e.getMessage()));
                return 2;
            }
            try (Enforcer.PinnedTables t = running(spec, target.netns)) {
                if (!t.tables().deleteLive(cidr)) {
                    spec.commandLine().getErr().println(Main.printable("tcpinspect: policy delete: " + cidr
                            + " was not denied or allowed live (see tcpinspect policy show)"));
                    return 1;
                }
            }
            spec.commandLine().getOut().println("deleted " + cidr);
            return 0;
        }
    }
}
