package dev.tcpinspect.enforce;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import dev.tcpinspect.ebpf.BpfMap;
import dev.tcpinspect.policy.Cidr;
import dev.tcpinspect.policy.Policy;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * The enforcer's tables in the kernel (bpf/enforce/enforce.h), read and written from user space:
 * whether by the enforcer that loaded them or by a `tcpinspect policy` command that opened their
 * pins. Every change keeps the tables consistent for a packet judged at any moment: a policy is
 * written into the generation no packet reads and then switched in by one word
 * ({@link #apply}); live entries are written whole, one entry at a time.
 */
public final class EnforcerTables {
    public static final List<String> MAPS = List.of("enf_config", "enf_settings", "enf_prefix_v4", "enf_prefix_v6",
            "enf_live_v4", "enf_live_v6", "enf_ports", "enf_served_on", "enf_sources", "enf_conns", "enf_counted",
            "enf_stats", "enf_hits", "enf_port_syn", "enf_known", "enf_firsts", "enf_misfits", "enf_names",
            "enf_dir_v4_on", "enf_dir_v4_any", "enf_dir_v4_top", "enf_dir_v4_chunks", "enf_dir_v4_checks", "enf_dir_v4_rules",
            "enf_dir_v6_on", "enf_dir_v6_any", "enf_dir_v6_top", "enf_dir_v6_chunks", "enf_dir_v6_checks", "enf_dir_v6_rules");
    /** Most address-bound service ports a policy may have (enf_served_on's size). */
    public static final int MAX_SERVED_ON = 16384;
    /** How many rules of a generation (or live) have a hit counter of their own; the rest share the last. */
    public static final int RULE_SLOTS = Layouts.RULE_SLOTS;

    private final Map<String, BpfMap> maps;
    private final java.nio.file.Path lockFile;

    /**
     * The tables, and the file whose lock every change holds: the enforcer's own loop (expiry,
     * auto_block) and `policy` commands in other processes change the same tables, and each change
     * reads before it writes.
     */
    public EnforcerTables(Map<String, BpfMap> maps, java.nio.file.Path lockFile) {
        for (String name : MAPS) {
            if (!maps.containsKey(name)) {
                throw new IllegalArgumentException("the enforcer's table " + name + " is missing");
            }
        }
        this.maps = Map.copyOf(maps);
        this.lockFile = lockFile;
    }

    /**
     * Holds the tables' lock (across processes) until closed. Without a lock file (tables pinned
     * where no other process can reach them) the methods' own monitor is the only lock needed.
     */
    private AutoCloseable lock() {
        if (lockFile == null) {
            return () -> { };
        }
        try {
            java.nio.channels.FileChannel opened = Enforcer.madeAgainIfRemoved(() -> {
                java.nio.file.Files.createDirectories(lockFile.getParent());
                return java.nio.channels.FileChannel.open(lockFile, java.nio.file.StandardOpenOption.CREATE,
                        java.nio.file.StandardOpenOption.WRITE);
            });
            java.nio.channels.FileLock lock = opened.lock();
            return () -> {
                lock.release();
                opened.close();
            };
        } catch (java.io.IOException e) {
            throw new IllegalStateException("cannot lock " + lockFile + ": " + e.getMessage(), e);
        }
    }

    /** Changes the enforcer's config under the lock (read, change, write). */
    public synchronized void updateConfig(java.util.function.UnaryOperator<Config> change) {
        try (AutoCloseable held = lock()) {
            writeConfig(change.apply(config()));
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static String prefixMap(boolean v6, int gen) {
        return (gen == LIVE ? "enf_live_" : "enf_prefix_") + (v6 ? "v6" : "v4");
    }

    private BpfMap map(String name) {
        return maps.get(name);
    }

    // ---- the enforcer as a whole ----

    /** enf_config: which generation packets read, and the enforcer's run. */
    public record Config(int activeGen, boolean liveEntries, long netnsInum, boolean audit, int pid) {}

    public synchronized Config config() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(Layouts.CONFIG);
            map("enf_config").lookup(a.allocateFrom(JAVA_INT, 0), v);
            return new Config(v.get(JAVA_INT, 0) & 1, v.get(JAVA_INT, 4) != 0, Integer.toUnsignedLong(v.get(JAVA_INT, 8)),
                    v.get(JAVA_INT, 12) != 0, v.get(JAVA_INT, 16));
        }
    }

    synchronized void writeConfig(Config c) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(Layouts.CONFIG);
            MemorySegment key = a.allocateFrom(JAVA_INT, 0);
            map("enf_config").lookup(key, v);
            // A switch of generation moves the epoch on, which makes the kernel's rule cache stale; never 0 (empty).
            int epoch = v.get(JAVA_INT, 20);
            if (epoch == 0 || (v.get(JAVA_INT, 0) & 1) != c.activeGen()) {
                epoch = nextEpoch(epoch);
            }
            v.set(JAVA_INT, 20, epoch);
            v.set(JAVA_INT, 0, c.activeGen());
            v.set(JAVA_INT, 4, c.liveEntries() ? 1 : 0);
            v.set(JAVA_INT, 8, (int) c.netnsInum());
            v.set(JAVA_INT, 12, c.audit() ? 1 : 0);
            v.set(JAVA_INT, 16, c.pid());
            map("enf_config").update(a.allocateFrom(JAVA_INT, 0), v, BpfMap.ANY);
        }
    }

    /** The epoch a switch of generation moves enf_config.epoch to: one more, never 0. */
    private static int nextEpoch(int epoch) {
        return epoch + 1 == 0 ? 1 : epoch + 1;
    }

    private int epoch() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(Layouts.CONFIG);
            map("enf_config").lookup(a.allocateFrom(JAVA_INT, 0), v);
            return v.get(JAVA_INT, 20);
        }
    }

    // ---- a policy ----

    /** One generation's settings (enf_settings). */
    public record Settings(boolean defaultDeny, boolean serviceFilter, long connLimit, long newIntervalNs,
                           long newBurstNs, long synIntervalNs, long synBurstNs, long knownNs) {
        static Settings of(Policy p) {
            OptionalLong rate = p.limits().newPerSecond();
            OptionalLong syns = p.synFlood().map(f -> OptionalLong.of(f.synPerSecond())).orElse(OptionalLong.empty());
            return new Settings(p.defaultVerdict() == Policy.Verdict.DENY, !p.services().isEmpty(),
                    p.limits().connections().orElse(0), interval(rate), burst(rate), interval(syns), burst(syns),
                    p.synFlood().map(f -> f.knownFor().toNanos()).orElse(0L));
        }

        private static long interval(OptionalLong perSecond) {
            return perSecond.isPresent() ? Math.max(1, 1_000_000_000L / perSecond.getAsLong()) : 0;
        }

        /** A bucket of one second's worth: `rate` at once, then `rate` a second. */
        private static long burst(OptionalLong perSecond) {
            return perSecond.isPresent() ? (perSecond.getAsLong() - 1) * interval(perSecond) : 0;
        }

        /** New connections a second per source, as the policy said it. */
        public OptionalLong newPerSecond() {
            return perSecond(newIntervalNs);
        }

        /** SYNs a second per port before only known sources pass (syn_flood). */
        public OptionalLong synPerSecond() {
            return perSecond(synIntervalNs);
        }

        private static OptionalLong perSecond(long intervalNs) {
            return intervalNs == 0 ? OptionalLong.empty() : OptionalLong.of(Math.round(1e9 / intervalNs));
        }
    }

    public synchronized Settings settings(int gen) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(Layouts.SETTINGS);
            map("enf_settings").lookup(a.allocateFrom(JAVA_INT, gen), v);
            return new Settings(v.get(JAVA_INT, 0) != 0, v.get(JAVA_INT, 4) != 0, Integer.toUnsignedLong(v.get(JAVA_INT, 8)),
                    v.get(JAVA_LONG, 16), v.get(JAVA_LONG, 24), v.get(JAVA_LONG, 32), v.get(JAVA_LONG, 40),
                    v.get(JAVA_LONG, 48));
        }
    }

    /**
     * Writes the policy into the generation no packet reads, then switches packets to it in one
     * step. The generation left behind stays as it was until the next apply clears it, so a packet
     * judged during the switch finds a whole policy either way. Checks what the tables can hold
     * before writing anything.
     */
    public synchronized void apply(Policy policy) {
        try (AutoCloseable held = lock()) {
            applyLocked(policy);
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private void applyLocked(Policy policy) {
        List<PrefixRule> rules = new ArrayList<>();
        int ownCount = 0;
        for (Cidr c : policy.deny()) {
            rules.add(PrefixRule.named(c, RuleKind.DENY, 0, 0));
        }
        for (Cidr c : policy.allow()) {
            rules.add(PrefixRule.named(c, RuleKind.ALLOW, 0, 0));
        }
        for (Cidr c : policy.count()) {
            rules.add(PrefixRule.named(c, RuleKind.COUNT, 0, 0));
        }
        policy.marks().forEach((c, mark) -> rules.add(PrefixRule.marking(c, 0, mark)));
        if (!policy.marks().isEmpty() && !dev.tcpinspect.ebpf.Features.tcx()) {
            throw new IllegalArgumentException("the policy marks packets, which needs tcx links (Linux 6.6 and later) for"
                    + " the program that sets the mark: leave mark out on this kernel");
        }
        int servedOn = 0;
        for (Policy.Service s : policy.services()) {
            if (s.localAddress().isPresent()) {
                servedOn += s.lastPort() - s.firstPort() + 1;
            }
        }
        if (servedOn > MAX_SERVED_ON) {
            throw new dev.tcpinspect.os.InputRefusedException("the policy serves " + servedOn + " ports on single addresses; the"
                    + " enforcer holds " + MAX_SERVED_ON + ": serve ranges on every address, or fewer");
        }
        Config config = config();
        int next = 1 - config.activeGen();
        // Ids: the generation's slots, in the order the policy lists its rules; the last slot is shared.
        List<PrefixRule> numbered = new ArrayList<>(rules.size());
        for (PrefixRule r : rules) {
            int slot = Math.min(ownCount++, Layouts.RULE_SLOTS - 1);
            int id = next * Layouts.RULE_SLOTS + slot;
            numbered.add(r.listed() == RuleKind.MARK ? PrefixRule.marking(r.prefix(), id, r.mark())
                    : PrefixRule.named(r.prefix(), r.listed(), id, 0));
        }
        List<PrefixRule> resolved = PrefixChains.resolve(numbered);
        for (boolean v6 : new boolean[] {false, true}) {
            long running = countPrefixes(v6, config.activeGen());
            long adding = resolved.stream().filter(r -> r.prefix().ipv6() == v6).count();
            if (running + adding > Layouts.PREFIX_ENTRIES) {
                throw new dev.tcpinspect.os.InputRefusedException("the policy has " + adding + (v6 ? " IPv6" : " IPv4") + " prefixes and"
                        + " the running one " + running + "; the enforcer holds " + Layouts.PREFIX_ENTRIES + " for both");
            }
        }

        clearPrefixes(next);
        clearServedOn(next);
        zeroHits(next * Layouts.RULE_SLOTS, Layouts.RULE_SLOTS);
        for (PrefixRule r : resolved) {
            writePrefix(next, r);
        }
        // The direct tables are switched on for the epoch this apply's switch sets: a policy another
        // version writes without them (tries only) moves the epoch on and so switches them off.
        int switchedOn = nextEpoch(epoch());
        writeDirect(next, "v4", resolved.stream().filter(r -> !r.prefix().ipv6()).toList(), switchedOn);
        writeDirect(next, "v6", resolved.stream().filter(r -> r.prefix().ipv6()).toList(), switchedOn);
        clearNames(next * Layouts.RULE_SLOTS, Layouts.RULE_SLOTS);
        for (PrefixRule r : numbered) {
            String name = policy.names().get(r.prefix());
            if (name != null && r.ownId() % Layouts.RULE_SLOTS != Layouts.RULE_SLOTS - 1) {
                writeName(r.ownId(), name);
            }
        }
        int[] flags = new int[Layouts.PORTS];
        for (Policy.Service s : policy.services()) {
            for (int port = s.firstPort(); port <= s.lastPort(); port++) {
                if (s.expect().isPresent()) {
                    flags[port] |= (s.expect().get().ordinal() + 1) * Layouts.PORT_EXPECT
                            | switch (s.onMisfit()) {
                                case COUNT -> 0;
                                case DROP -> Layouts.PORT_DROP_MISFITS;
                                case RESET -> Layouts.PORT_RESET_MISFITS;
                            };
                }
                if (s.localAddress().isEmpty()) {
                    flags[port] |= Layouts.PORT_SERVED;
                } else {
                    flags[port] |= Layouts.PORT_SERVED_ON;
                    writeServedOn(next, port, s.localAddress().get());
                }
            }
        }
        for (int port : policy.failsafe()) {
            flags[port] |= Layouts.PORT_FAILSAFE;
        }
        writePorts(next, flags);
        writeSettings(next, Settings.of(policy));
        writeConfig(new Config(next, config.liveEntries(), config.netnsInum(), config.audit(), config.pid()));
    }

    private void writeSettings(int gen, Settings s) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(Layouts.SETTINGS);
            v.set(JAVA_INT, 0, s.defaultDeny() ? 1 : 0);
            v.set(JAVA_INT, 4, s.serviceFilter() ? 1 : 0);
            v.set(JAVA_INT, 8, (int) Math.min(s.connLimit(), 0xFFFF_FFFFL));
            v.set(JAVA_LONG, 16, s.newIntervalNs());
            v.set(JAVA_LONG, 24, s.newBurstNs());
            v.set(JAVA_LONG, 32, s.synIntervalNs());
            v.set(JAVA_LONG, 40, s.synBurstNs());
            v.set(JAVA_LONG, 48, s.knownNs());
            map("enf_settings").update(a.allocateFrom(JAVA_INT, gen), v, BpfMap.ANY);
        }
    }

    private void writePorts(int gen, int[] flags) {
        BpfMap ports = map("enf_ports");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment key = a.allocate(JAVA_INT);
            MemorySegment value = a.allocate(JAVA_INT);
            MemorySegment old = a.allocate(JAVA_INT);
            for (int port = 0; port < Layouts.PORTS; port++) {
                key.set(JAVA_INT, 0, gen * Layouts.PORTS + port);
                ports.lookup(key, old);
                if (old.get(JAVA_INT, 0) != flags[port]) {
                    value.set(JAVA_INT, 0, flags[port]);
                    ports.update(key, value, BpfMap.ANY);
                }
            }
        }
    }

    /** Port flags of one generation, for every port (Layouts.PORT_*). */
    public synchronized int[] portFlags(int gen) {
        int[] flags = new int[Layouts.PORTS];
        BpfMap ports = map("enf_ports");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment key = a.allocate(JAVA_INT);
            MemorySegment value = a.allocate(JAVA_INT);
            for (int port = 0; port < Layouts.PORTS; port++) {
                key.set(JAVA_INT, 0, gen * Layouts.PORTS + port);
                if (ports.lookup(key, value)) {
                    flags[port] = value.get(JAVA_INT, 0);
                }
            }
        }
        return flags;
    }

    /** The protocol a port's connections must start with, if any. */
    public static Optional<Policy.Protocol> expects(int flags) {
        int p = (flags / Layouts.PORT_EXPECT) & 7;
        return p == 0 ? Optional.empty() : Optional.of(Policy.Protocol.values()[p - 1]);
    }

    /** What a port's flags do with a misfit connection. */
    public static Policy.OnMisfit onMisfit(int flags) {
        return (flags & Layouts.PORT_RESET_MISFITS) != 0 ? Policy.OnMisfit.RESET
                : (flags & Layouts.PORT_DROP_MISFITS) != 0 ? Policy.OnMisfit.DROP : Policy.OnMisfit.COUNT;
    }

    /** Misfit connections per source address (text), most first. */
    public synchronized List<Map.Entry<String, Long>> misfitSources() {
        BpfMap m = map("enf_misfits");
        List<Map.Entry<String, Long>> out = new ArrayList<>();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment value = a.allocate(JAVA_LONG);
            forEachKey(m, key -> {
                if (m.lookup(key, value)) {
                    boolean v6 = key.get(JAVA_INT, 0) == Layouts.AF_INET6;
                    byte[] addr = key.asSlice(4, v6 ? 16 : 4).toArray(JAVA_BYTE);
                    String text = new Cidr(addr, addr.length * 8).toString().replaceFirst("/(32|128)$", "");
                    out.add(Map.entry(text, value.get(JAVA_LONG, 0)));
                }
            });
        }
        out.sort(Map.Entry.<String, Long>comparingByValue().reversed());
        return out;
    }

    public static boolean served(int flags) {
        return (flags & (Layouts.PORT_SERVED | Layouts.PORT_SERVED_ON)) != 0;
    }

    public static boolean failsafe(int flags) {
        return (flags & Layouts.PORT_FAILSAFE) != 0;
    }

    /** A port served on one local address only. */
    public record ServedOn(int port, Cidr address) {}

    public synchronized List<ServedOn> servedOn(int gen) {
        List<ServedOn> out = new ArrayList<>();
        forEachKey(map("enf_served_on"), key -> {
            if (key.get(JAVA_BYTE, 0) == gen) {
                boolean v6 = key.get(JAVA_BYTE, 1) == Layouts.AF_INET6;
                byte[] addr = key.asSlice(4, v6 ? 16 : 4).toArray(JAVA_BYTE);
                out.add(new ServedOn(Short.toUnsignedInt(key.get(JAVA_SHORT, 2)), new Cidr(addr, addr.length * 8)));
            }
        });
        return out;
    }

    private void writeServedOn(int gen, int port, Cidr address) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment key = a.allocate(Layouts.SERVICE_KEY);
            key.set(JAVA_BYTE, 0, (byte) gen);
            key.set(JAVA_BYTE, 1, (byte) (address.ipv6() ? Layouts.AF_INET6 : Layouts.AF_INET));
            key.set(JAVA_SHORT, 2, (short) port);
            MemorySegment.copy(address.address(), 0, key, JAVA_BYTE, 4, address.address().length);
            map("enf_served_on").update(key, a.allocateFrom(JAVA_INT, 1), BpfMap.ANY);
        }
    }

    private void clearServedOn(int gen) {
        BpfMap m = map("enf_served_on");
        List<byte[]> doomed = new ArrayList<>();
        forEachKey(m, key -> {
            if (key.get(JAVA_BYTE, 0) == gen) {
                doomed.add(key.toArray(JAVA_BYTE));
            }
        });
        deleteAll(m, doomed);
    }

    // ---- source prefixes ----

    /** The prefixes of one generation (0, 1) or the live ones ({@link #LIVE}), as the tables hold them. */
    public synchronized List<PrefixRule> prefixes(int gen) {
        List<PrefixRule> out = new ArrayList<>();
        for (boolean v6 : new boolean[] {false, true}) {
            BpfMap m = map(prefixMap(v6, gen));
            int addrLength = v6 ? 16 : 4;
            try (Arena a = Arena.ofConfined()) {
                MemorySegment value = a.allocate(Layouts.RULE);
                forEachKey(m, key -> {
                    if (Byte.toUnsignedInt(key.get(JAVA_BYTE, 4)) != gen || !m.lookup(key, value)) {
                        return;
                    }
                    byte[] addr = key.asSlice(5, addrLength).toArray(JAVA_BYTE);
                    out.add(new PrefixRule(new Cidr(addr, key.get(JAVA_INT, 0) - 8),
                            RuleKind.of(value.get(JAVA_SHORT, 6)), RuleKind.of(value.get(JAVA_SHORT, 4)),
                            value.get(JAVA_INT, 0), value.get(JAVA_LONG, 8), value.get(JAVA_INT, 16),
                            value.get(JAVA_INT, 24), value.get(JAVA_INT, 28)));
                });
            }
        }
        return out;
    }

    /** The generation byte of live entries. */
    public static final int LIVE = Layouts.LIVE;

    private MemorySegment prefixKey(Arena a, int gen, Cidr prefix) {
        MemorySegment key = a.allocate(prefix.ipv6() ? Layouts.KEY_V6 : Layouts.KEY_V4);
        key.set(JAVA_INT, 0, 8 + prefix.prefixLength());
        key.set(JAVA_BYTE, 4, (byte) gen);
        MemorySegment.copy(prefix.network(), 0, key, JAVA_BYTE, 5, prefix.address().length);
        return key;
    }

    private void writePrefix(int gen, PrefixRule r) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment value = a.allocate(Layouts.RULE);
            setRule(value, r);
            map(prefixMap(r.prefix().ipv6(), gen)).update(prefixKey(a, gen, r.prefix()), value, BpfMap.ANY);
        }
    }

    /** A rule as struct enf_rule. */
    private static void setRule(MemorySegment value, PrefixRule r) {
        value.set(JAVA_INT, 0, r.id());
        value.set(JAVA_SHORT, 4, (short) r.decides().value);
        value.set(JAVA_SHORT, 6, (short) r.listed().value);
        value.set(JAVA_LONG, 8, r.expiresNs());
        value.set(JAVA_INT, 16, r.ownId());
        value.set(JAVA_INT, 20, r.prefix().prefixLength());
        value.set(JAVA_INT, 24, r.countId());
        value.set(JAVA_INT, 28, r.mark());
    }

    /**
     * A generation's rules of one family (v4 or v6) again as direct tables (DirectTables), switched on
     * for it once written whole (enf_dir_vX_on: the epoch under which they are right); off (the trie
     * judges) while they are written and when they do not fit.
     */
    private void writeDirect(int gen, String family, List<PrefixRule> rules, int epoch) {
        BpfMap on = map("enf_dir_" + family + "_on");
        BpfMap chunks = map("enf_dir_" + family + "_chunks");
        BpfMap checks = map("enf_dir_" + family + "_checks");
        BpfMap ruleTable = map("enf_dir_" + family + "_rules");
        int chunkRoom = chunks.maxEntries() / 2;
        int checkRoom = checks.maxEntries() / 2;
        int rulesRoom = ruleTable.maxEntries() / 2;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment key = a.allocateFrom(JAVA_INT, gen);
            on.update(key, a.allocateFrom(JAVA_INT, 0), BpfMap.ANY);
            Optional<DirectTables> built = DirectTables.build(rules, chunkRoom, checkRoom, rulesRoom);
            if (built.isEmpty()) {
                return;
            }
            DirectTables t = built.get();
            writeChunks(map("enf_dir_" + family + "_any"), gen * 8, t.any(), 8);
            writeChunks(map("enf_dir_" + family + "_top"), gen * 256, t.top(), 256);
            writeChunks(chunks, gen * chunkRoom, t.chunks(), t.chunkCount());
            int n = t.checks().size();
            if (n > 0) {
                long size = Layouts.DIR_CHECK.byteSize();
                MemorySegment keys = a.allocate(JAVA_INT, n);
                MemorySegment values = a.allocate(size * n, 8);
                for (int i = 0; i < n; i++) {
                    DirectTables.Check c = t.checks().get(i);
                    MemorySegment v = values.asSlice(i * size, size);
                    // raw bytes, as the kernel loads the address: the same bytes Check.contains compares
                    MemorySegment.copy(c.net(), 0, v, JAVA_BYTE, Layouts.offset(Layouts.DIR_CHECK, "net"), 16);
                    MemorySegment.copy(c.mask(), 0, v, JAVA_BYTE, Layouts.offset(Layouts.DIR_CHECK, "mask"), 16);
                    v.set(JAVA_INT, Layouts.offset(Layouts.DIR_CHECK, "match"), c.match());
                    v.set(JAVA_INT, Layouts.offset(Layouts.DIR_CHECK, "other"), c.other());
                    keys.setAtIndex(JAVA_INT, i, gen * checkRoom + i);
                }
                checks.updateBatch(keys, values, n);
            }
            writeRules(ruleTable, gen * rulesRoom, t.rules());
            on.update(key, a.allocateFrom(JAVA_INT, epoch), BpfMap.ANY);
        }
    }

    /** Rules into an array of struct enf_rule from index first on. */
    private static void writeRules(BpfMap array, int first, List<PrefixRule> rules) {
        int n = rules.size();
        if (n == 0) {
            return;
        }
        try (Arena a = Arena.ofConfined()) {
            long size = Layouts.RULE.byteSize();
            MemorySegment keys = a.allocate(JAVA_INT, n);
            MemorySegment values = a.allocate(size * n, 8);
            for (int i = 0; i < n; i++) {
                keys.setAtIndex(JAVA_INT, i, first + i);
                setRule(values.asSlice(i * size, size), rules.get(i));
            }
            array.updateBatch(keys, values, n);
        }
    }

    /** Whether the running generation's prefixes of a family are judged by the direct tables (else by the trie alone). */
    public boolean direct(boolean ipv6) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment on = a.allocate(JAVA_INT);
            return map(ipv6 ? "enf_dir_v6_on" : "enf_dir_v4_on").lookup(a.allocateFrom(JAVA_INT, config().activeGen()), on)
                    && on.get(JAVA_INT, 0) != 0 && on.get(JAVA_INT, 0) == epoch();
        }
    }

    /** Elements first .. first + count of an array of struct enf_dir_chunk from values[0 .. 256 x count). */
    private static void writeChunks(BpfMap array, int first, int[] values, int count) {
        if (count == 0) {
            return;
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment keys = a.allocate(JAVA_INT, count);
            MemorySegment chunks = a.allocate(Layouts.DIR_CHUNK, count);
            for (int c = 0; c < count; c++) {
                keys.setAtIndex(JAVA_INT, c, first + c);
            }
            MemorySegment.copy(values, 0, chunks, JAVA_INT, 0, 256 * count);
            array.updateBatch(keys, chunks, count);
        }
    }

    private long countPrefixes(boolean v6, int gen) {
        long[] n = {0};
        forEachKey(map(prefixMap(v6, gen)), key -> {
            if (Byte.toUnsignedInt(key.get(JAVA_BYTE, 4)) == gen) {
                n[0]++;
            }
        });
        return n[0];
    }

    private void clearPrefixes(int gen) {
        for (String name : List.of(prefixMap(false, gen), prefixMap(true, gen))) {
            BpfMap m = map(name);
            List<byte[]> doomed = new ArrayList<>();
            forEachKey(m, key -> {
                if (Byte.toUnsignedInt(key.get(JAVA_BYTE, 4)) == gen) {
                    doomed.add(key.toArray(JAVA_BYTE));
                }
            });
            deleteAll(m, doomed);
        }
    }

    // ---- live entries: policy deny / allow / delete, auto_block ----

    /**
     * Adds (or replaces) a live entry, which packets judge beside the running policy until it
     * expires (0: never) or is deleted; the live entries' chains are worked out again as a whole.
     */
    public synchronized void addLive(Cidr prefix, RuleKind kind, long expiresNs) {
        try (AutoCloseable held = lock()) {
            List<PrefixRule> live = new ArrayList<>(prefixes(LIVE));
            BitSet used = new BitSet();
            Optional<PrefixRule> same = live.stream().filter(r -> r.prefix().equals(prefix)).findFirst();
            live.removeIf(r -> r.prefix().equals(prefix));
            live.forEach(r -> used.set(r.ownId() - LIVE * Layouts.RULE_SLOTS));
            // An entry keeps its counter when replaced; a new one takes the first free (the last is shared).
            int slot = same.map(r -> r.ownId() - LIVE * Layouts.RULE_SLOTS)
                    .orElseGet(() -> Math.min(used.nextClearBit(0), Layouts.RULE_SLOTS - 1));
            if (same.isEmpty() && slot < Layouts.RULE_SLOTS - 1) {
                zeroHits(LIVE * Layouts.RULE_SLOTS + slot, 1);
            }
            live.add(PrefixRule.named(prefix, kind, LIVE * Layouts.RULE_SLOTS + slot, expiresNs));
            writeLive(live);
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** Removes a live entry; false when there was none for exactly that prefix. */
    public synchronized boolean deleteLive(Cidr prefix) {
        try (AutoCloseable held = lock()) {
            List<PrefixRule> live = new ArrayList<>(prefixes(LIVE));
            if (!live.removeIf(r -> r.prefix().equals(prefix))) {
                return false;
            }
            try (Arena a = Arena.ofConfined()) {
                map(prefixMap(prefix.ipv6(), LIVE)).delete(prefixKey(a, LIVE, prefix));
            }
            writeLive(live);
            return true;
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** Removes live entries that have expired; the number removed. */
    public synchronized int sweep(long nowNs) {
        try (AutoCloseable held = lock()) {
            List<PrefixRule> live = new ArrayList<>(prefixes(LIVE));
            List<PrefixRule> expired = live.stream().filter(r -> r.expired(nowNs)).toList();
            if (expired.isEmpty()) {
                return 0;
            }
            live.removeAll(expired);
            try (Arena a = Arena.ofConfined()) {
                for (PrefixRule r : expired) {
                    map(prefixMap(r.prefix().ipv6(), LIVE)).delete(prefixKey(a, LIVE, r.prefix()));
                }
            }
            writeLive(live);
            return expired.size();
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private void writeLive(List<PrefixRule> live) {
        List<PrefixRule> named = live.stream().map(r -> PrefixRule.named(r.prefix(), r.listed(), r.ownId(),
                r.expiresNs())).toList();
        // Live entries first, then the flag that makes packets look: a packet never looks at half an entry.
        for (PrefixRule r : PrefixChains.resolve(named)) {
            writePrefix(LIVE, r);
        }
        Config c = config();
        if (c.liveEntries() != !live.isEmpty()) {
            writeConfig(new Config(c.activeGen(), !live.isEmpty(), c.netnsInum(), c.audit(), c.pid()));
        }
    }

    // ---- rule names ----

    /** The names of the rules the policy named, by hit counter id. */
    public synchronized Map<Integer, String> names() {
        Map<Integer, String> out = new java.util.HashMap<>();
        BpfMap m = map("enf_names");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment value = a.allocate(Layouts.NAME_BYTES);
            forEachKey(m, key -> {
                if (m.lookup(key, value)) {
                    out.put(key.get(JAVA_INT, 0), value.getString(0));
                }
            });
        }
        return out;
    }

    private void writeName(int id, String name) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment value = a.allocate(Layouts.NAME_BYTES);
            byte[] bytes = name.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
            MemorySegment.copy(bytes, 0, value, JAVA_BYTE, 0, Math.min(bytes.length, Layouts.NAME_BYTES - 1));
            map("enf_names").update(a.allocateFrom(JAVA_INT, id), value, BpfMap.ANY);
        }
    }

    private void clearNames(int first, int count) {
        BpfMap m = map("enf_names");
        List<byte[]> doomed = new ArrayList<>();
        forEachKey(m, key -> {
            int id = key.get(JAVA_INT, 0);
            if (id >= first && id < first + count) {
                doomed.add(key.toArray(JAVA_BYTE));
            }
        });
        deleteAll(m, doomed);
    }

    // ---- counters ----

    /** The enforcer's counters, summed over CPUs, in {@link EnforceStat} order. */
    public synchronized long[] stats() {
        var counters = map("enf_stats").perCpu(dev.tcpinspect.ebpf.Codec.U32, dev.tcpinspect.ebpf.Codec.U64);
        long[] out = new long[EnforceStat.values().length];
        for (int i = 0; i < out.length; i++) {
            out[i] = counters.getSummed(i, Long::sum).orElse(0L);
        }
        // The program counts every packet it judges as passed or dropped and not again as judged:
        // one per-CPU increment less on every packet.
        out[EnforceStat.PACKETS.ordinal()] = out[EnforceStat.PASSED.ordinal()] + out[EnforceStat.DROPPED.ordinal()];
        return out;
    }

    /** Hits of one rule id, summed over CPUs. */
    public synchronized long hits(int id) {
        return map("enf_hits").perCpu(dev.tcpinspect.ebpf.Codec.U32, dev.tcpinspect.ebpf.Codec.U64)
                .getSummed(id, Long::sum).orElse(0L);
    }

    /** Zeroes the hit counters of ids first to first + count - 1 on every CPU. */
    private void zeroHits(int first, int count) {
        var hits = map("enf_hits").perCpu(dev.tcpinspect.ebpf.Codec.U32, dev.tcpinspect.ebpf.Codec.U64);
        for (int id = first; id < first + count; id++) {
            hits.putAll(id, 0L);
        }
    }

    // ---- helpers ----

    private static void forEachKey(BpfMap m, java.util.function.Consumer<MemorySegment> visitor) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment key = a.allocate(m.keySize());
            MemorySegment next = a.allocate(m.keySize());
            MemorySegment previous = MemorySegment.NULL;
            while (m.nextKey(previous, next)) {
                MemorySegment.copy(next, 0, key, 0, m.keySize());
                visitor.accept(key);
                previous = key;
            }
        }
    }

    private static void deleteAll(BpfMap m, List<byte[]> keys) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment key = a.allocate(m.keySize());
            for (byte[] k : keys) {
                MemorySegment.copy(k, 0, key, JAVA_BYTE, 0, k.length);
                m.delete(key);
            }
        }
    }
}
