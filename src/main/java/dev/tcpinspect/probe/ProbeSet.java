package dev.tcpinspect.probe;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.tcpinspect.ebpf.BpfMap;
import dev.tcpinspect.ebpf.BpfObject;
import dev.tcpinspect.ebpf.Features;
import dev.tcpinspect.ebpf.KernelEnums;
import dev.tcpinspect.ebpf.MapType;
import dev.tcpinspect.ebpf.NotSupportedException;
import dev.tcpinspect.ebpf.OpenObject;
import dev.tcpinspect.ebpf.RingBufReader;
import dev.tcpinspect.ebpf.TcDirection;
import dev.tcpinspect.ebpf.XdpMode;
import dev.tcpinspect.os.Claim;
import dev.tcpinspect.os.Libc;
import dev.tcpinspect.os.NetInterfaces;
import dev.tcpinspect.snapshot.Alert;
import dev.tcpinspect.os.Netns;
import dev.tcpinspect.snapshot.Desc;
import dev.tcpinspect.snapshot.Metric;
import dev.tcpinspect.snapshot.Reading;
import dev.tcpinspect.snapshot.Snapshot;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * The probes one watch runs, in one BPF object: loaded with those probes switched on (the verifier
 * drops the rest of the code, and maps of probes that are off are not created), only the hooks they
 * need attached, read together, their events read by one thread, closed together. Start it in the
 * network namespace to watch: its tracepoint handlers report that namespace (unless all), its packet
 * hooks attach to interfaces of that namespace.
 */
public final class ProbeSet implements AutoCloseable {
    /** The object, embedded in the jar (bpf/tcpinspect.bpf.c). */
    public static final String OBJECT = "/bpf/tcpinspect.bpf.o";

    /**
     * How a set runs.
     *
     * @param interfaces where the packet hooks attach (names in the starting namespace)
     * @param xdp the ingress hook as XDP instead of TC ingress, in xdpMode
     * @param allNetns tracepoint handlers report every namespace, not only the starting one
     * @param events the kernel makes event records (an output shows events one by one); without,
     *     probes keep their counters and tables and make none
     * @param flowTableEntries room for new flows between two drains in each per-flow table; 0 keeps the object's own
     * @param xdpHandoff with xdp: another XDP program on some of the interfaces that hands its packets
     *     on (the enforcer's); there the probes run behind it instead of attaching. Null: none. The set
     *     closes it.
     * @param cgroup a cgroup v2 directory whose sockets' packets the packet hooks see, on every
     *     interface, instead of interfaces' (cgroup_skb programs); null: none
     */
    public record Options(List<String> interfaces, boolean xdp, XdpMode xdpMode, boolean allNetns, boolean events,
                          int flowTableEntries, XdpHandoff xdpHandoff, java.nio.file.Path cgroup) {
        public Options {
            interfaces = List.copyOf(interfaces);
        }

        /** No interface, TC, this namespace, no events. */
        public static Options defaults() {
            return new Options(List.of(), false, XdpMode.AUTO, false, false, 0, null, null);
        }

        public Options interfaces(List<String> names) {
            return new Options(names, xdp, xdpMode, allNetns, events, flowTableEntries, xdpHandoff, cgroup);
        }

        public Options xdp(boolean on, XdpMode mode) {
            return new Options(interfaces, on, mode, allNetns, events, flowTableEntries, xdpHandoff, cgroup);
        }

        public Options allNetns(boolean all) {
            return new Options(interfaces, xdp, xdpMode, all, events, flowTableEntries, xdpHandoff, cgroup);
        }

        public Options events(boolean on) {
            return new Options(interfaces, xdp, xdpMode, allNetns, on, flowTableEntries, xdpHandoff, cgroup);
        }

        public Options flowTableEntries(int entries) {
            return new Options(interfaces, xdp, xdpMode, allNetns, events, entries, xdpHandoff, cgroup);
        }

        public Options xdpHandoff(XdpHandoff handoff) {
            return new Options(interfaces, xdp, xdpMode, allNetns, events, flowTableEntries, handoff, cgroup);
        }

        public Options cgroup(java.nio.file.Path directory) {
            return new Options(interfaces, xdp, xdpMode, allNetns, events, flowTableEntries, xdpHandoff, directory);
        }

        /** Whether the ingress probes run behind the hand-off on this interface instead of attaching there. */
        boolean behindHandoff(String name) {
            return xdp && xdpHandoff != null && xdpHandoff.interfaces().contains(name);
        }
    }

    /**
     * struct twin_claims (bpf/lib/twin.h): a ring of 64 claims of three words, depth, second_running,
     * the oldest claim's slot, first_running, the firings the second copy rescued, and the claims
     * pushed out fresh or found stale.
     */
    static final StructLayout TWIN_CLAIMS = MemoryLayout.structLayout(
            MemoryLayout.sequenceLayout(64, JAVA_LONG).withName("a"),
            MemoryLayout.sequenceLayout(64, JAVA_LONG).withName("b"),
            MemoryLayout.sequenceLayout(64, JAVA_LONG).withName("at"),
            JAVA_INT.withName("depth"),
            JAVA_INT.withName("second_running"),
            JAVA_INT.withName("head"),
            JAVA_INT.withName("first_running"),
            JAVA_LONG.withName("rescued"),
            JAVA_LONG.withName("pushed_out"),
            JAVA_LONG.withName("stale")).withName("twin_claims");
    private static final long RESCUED = TWIN_CLAIMS.byteOffset(groupElement("rescued"));
    private static final long PUSHED_OUT = TWIN_CLAIMS.byteOffset(groupElement("pushed_out"));
    private static final long STALE = TWIN_CLAIMS.byteOffset(groupElement("stale"));

    private static final java.security.SecureRandom SEEDS = new java.security.SecureRandom();

    private final Options options;
    private final List<Probe> probes;
    private final Set<Hook> hooks;
    private final Netns namespace;
    /** The interfaces the packet hooks attached to, by name, with the index they had then; those gone are removed. */
    private final Map<String, Integer> attachedTo = new LinkedHashMap<>();
    /** The clsact slots this set holds (TcSlots): released after the object's close has removed the filters. */
    private final List<Claim> claims = new ArrayList<>();
    private final long netnsInode;
    /** The scope's cgroup id when attached (its directory's inode), 0 when none or once reported gone. */
    private long cgroupId;
    private BpfObject object;
    private RingBufReader reader;
    private long eventsFailedBeforeClose;

    private ProbeSet(List<Probe> probes, Options options, Set<Hook> hooks) {
        this.probes = List.copyOf(probes);
        this.options = options;
        this.hooks = hooks;
        this.namespace = Netns.current();
        this.netnsInode = namespace.inode();
    }

    /**
     * Loads the object with these probes switched on and attaches the hooks they need (in the calling
     * thread's namespace). Every interface name is checked before anything is attached; on any
     * failure what was made is closed and the exception rethrown, so a failed start leaves nothing
     * attached. A kernel without a hook a probe needs gives {@link NotSupportedException}.
     */
    public static ProbeSet start(List<? extends Probe> probes, Options options) {
        return make(probes, options, true);
    }

    /**
     * Loads the object with these probes switched on and binds them, attaching nothing: for tests
     * and benchmarks that run the programs with BPF_PROG_TEST_RUN or look at the maps.
     */
    public static ProbeSet load(List<? extends Probe> probes, Options options) {
        return make(probes, options, false);
    }

    private static ProbeSet make(List<? extends Probe> probes, Options options, boolean attach) {
        if (probes.isEmpty()) {
            throw new IllegalArgumentException("no probe to run");
        }
        Set<Hook> hooks = EnumSet.noneOf(Hook.class);
        for (Probe p : probes) {
            hooks.addAll(p.hooks());
        }
        Map<String, Integer> ifindexes = new LinkedHashMap<>();
        for (String name : options.interfaces()) {
            ifindexes.put(name, NetInterfaces.indexOf(name));
        }
        if (options.cgroup() != null) {
            checkCgroup(options);
        } else if (attach && ifindexes.isEmpty() && hooks.stream().anyMatch(Hook::isPacketHook)) {
            throw new IllegalArgumentException("the packet hooks of " + names(probes) + " need an interface to watch");
        }
        ProbeSet set = new ProbeSet(new ArrayList<>(probes), options, hooks);
        prefetchKernelEnums(probes, hooks.stream().anyMatch(h -> h.isPacketHook() && !(h == Hook.INGRESS && options.xdp())));
        try {
            if (set.behindHandoff()) {
                options.xdpHandoff().claim(); // before the load: a slot taken is refused at once
            }
            set.load(ifindexes);
            for (Probe p : set.probes) {
                p.bind(new ProbeContext(set.object, set, p.name()));
            }
            if (set.behindHandoff()) {
                options.xdpHandoff().install(set.object.program(Hook.XDP_BEHIND_PROGRAM)); // also when loading only: benchmarks measure the pair
            }
            if (attach) {
                set.attach(ifindexes);
                set.attachedTo.putAll(ifindexes);
            }
            return set;
        } catch (RuntimeException e) {
            try {
                set.close();
            } catch (RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    /** A cgroup scope excludes interfaces and XDP, and must name a cgroup v2 directory. */
    public static void checkCgroup(Options options) {
        java.nio.file.Path dir = options.cgroup();
        if (!options.interfaces().isEmpty()) {
            throw new IllegalArgumentException("a cgroup scope (" + dir + ") sees its sockets' packets on every interface:"
                    + " name no interface beside it");
        }
        if (options.xdp()) {
            throw new IllegalArgumentException("a cgroup scope (" + dir + ") has no XDP hook: its packets are seen at the"
                    + " sockets (cgroup_skb), leave XDP out");
        }
        if (!java.nio.file.Files.isDirectory(dir)) {
            throw new IllegalArgumentException("cgroup " + dir + " is not a directory: name a cgroup v2 directory, such as"
                    + " /sys/fs/cgroup/system.slice/nginx.service");
        }
        if (!java.nio.file.Files.exists(dir.resolve("cgroup.controllers"))) {
            throw new IllegalArgumentException(dir + " is not a cgroup v2 directory (it has no cgroup.controllers): name"
                    + " one under the cgroup2 mount (`findmnt -t cgroup2`)");
        }
    }

    /**
     * Reads the kernel enums that attaching and the probes' names need on another thread, while
     * this one loads the object: parsing the kernel's BTF would otherwise add ~60-150 ms to a start.
     */
    private static void prefetchKernelEnums(List<? extends Probe> probes, boolean attachesTc) {
        List<String> enums = new ArrayList<>(attachesTc ? Features.KERNEL_ENUMS : List.of());
        probes.forEach(p -> enums.addAll(p.kernelEnums()));
        if (enums.isEmpty()) {
            return;
        }
        Thread.ofPlatform().daemon(true).name("kernel-enums").start(() -> {
            try {
                KernelEnums.prefetch(enums);
            } catch (Throwable e) {
                // a lookup that needs them reads them again and reports the failure there, in one line
            }
        });
    }

    private static List<String> names(List<? extends Probe> probes) {
        return probes.stream().map(Probe::name).toList();
    }

    /** The watched interfaces where the ingress probes run behind the hand-off (XdpHandoff), in order. */
    public List<String> interfacesBehindHandoff() {
        return hooks.contains(Hook.INGRESS) ? options.interfaces().stream().filter(options::behindHandoff).toList() : List.of();
    }

    /** Whether the ingress probes run behind a hand-off on any interface (XdpHandoff). */
    private boolean behindHandoff() {
        return hooks.contains(Hook.INGRESS) && options.interfaces().stream().anyMatch(options::behindHandoff);
    }

    /** The programs the running probes' hooks need. */
    private Set<String> programsNeeded() {
        Set<String> programs = new java.util.HashSet<>();
        for (Hook h : hooks) {
            if (h.isPacketHook() && options.cgroup() != null) {
                programs.add(h == Hook.INGRESS ? Hook.CGROUP_INGRESS_PROGRAM : Hook.CGROUP_EGRESS_PROGRAM);
            } else if (h == Hook.INGRESS && options.xdp()) {
                // unless every interface is behind the hand-off (loading alone, with none, it is wanted too)
                if (!behindHandoff() || options.interfaces().stream().anyMatch(n -> !options.behindHandoff(n))) {
                    programs.add(Hook.XDP_INGRESS_PROGRAM);
                }
                if (behindHandoff()) {
                    programs.add(Hook.XDP_BEHIND_PROGRAM);
                    programs.addAll(h.programs()); // TC ingress, where the probes go if the hand-off ends
                }
            } else {
                programs.addAll(h.programs());
            }
        }
        return programs;
    }

    private void load(Map<String, Integer> ifindexes) {
        OpenObject open = OpenObject.openResource(OBJECT);
        try {
            Set<String> programs = programsNeeded();
            for (String program : open.programNames()) {
                open.setAutoload(program, programs.contains(program));
            }
            Set<String> running = Set.copyOf(names());
            List<String> known = knownProbes(open);
            for (String name : running) {
                if (!known.contains(name)) {
                    throw new IllegalArgumentException("the object has no probe " + name + " (it has " + known + ")");
                }
            }
            long smallestRing = Long.MAX_VALUE; // of the rings of events (their wakeups are counted together)
            for (String map : open.mapNames()) {
                if (map.startsWith(Hook.XDP_BEHIND_MAP_PREFIX)) {
                    if (!behindHandoff()) {
                        open.setAutocreate(map, false);
                    } else if (map.equals(Hook.XDP_BEHIND_PARSE_SLOT)) {
                        open.reuseMap(map, options.xdpHandoff().parseSlotFd()); // the enforcer writes, the probes read
                    }
                    continue;
                }
                if (map.startsWith(SHARED_MAP_PREFIX)) {
                    if (probes.stream().noneMatch(p -> p.sharedMaps().contains(map))) {
                        open.setAutocreate(map, false); // every probe that uses it is off
                    }
                    continue;
                }
                String owner = probeOwning(map, known);
                Hook hook = hookOwning(map);
                if ((owner != null && !running.contains(owner)) || (hook != null && !hooks.contains(hook))) {
                    open.setAutocreate(map, false); // a probe or hook that is off takes no memory
                } else if (owner != null && !options.events() && open.mapType(map) == MapType.RINGBUF
                        && !map.endsWith(ALERT_RING_SUFFIX) && !readsRingsAlways(owner)) {
                    open.setMaxEntries(map, (int) Libc.pageSize()); // nobody reads events: the smallest ring
                } else if (owner != null && options.flowTableEntries() > 0
                        && (map.endsWith("_flows_0") || map.endsWith("_flows_1"))) {
                    open.setMaxEntries(map, options.flowTableEntries());
                } else if (options.events() && map.endsWith(EVENT_RING_SUFFIX)) {
                    smallestRing = Math.min(smallestRing, Integer.toUnsignedLong(open.maxEntries(map)));
                }
            }
            open.setConstant("events_wakeup_bytes", eventsWakeupBytes(smallestRing, BpfMap.possibleCpus()));
            for (Probe p : probes) {
                open.setConstant(p.name() + SWITCH, true);
                p.configure(open, options);
            }
            open.setConstant("target_netns", options.allNetns() ? 0 : (int) netnsInode);
            // The per-flow tables' hash seed (bpf/lib/flowslots.h): nobody outside can aim at a set.
            open.setConstant("flowslot_seed", SEEDS.nextLong() | 1);
            open.setConstant("emit_events", options.events() ? 1 : 0);
            if (behindHandoff()) {
                open.setConstant(Hook.XDP_BEHIND_INTERFACES, behindIfindexes(ifindexes));
            }
            object = open.load();
        } catch (RuntimeException e) {
            open.close();
            if (Features.refusedForPrivileges(e)) {
                throw new IllegalStateException(dev.tcpinspect.os.Privileges.MISSING + " (the kernel refused to load the"
                        + " probes' programs: " + ((dev.tcpinspect.ebpf.BpfException) rootBpfCause(e)).errnoName() + ")", e);
            }
            if (!Features.tpBtf() && hooks.stream().anyMatch(h -> !h.isPacketHook())) {
                throw new NotSupportedException("tp_btf", "BTF-typed tracepoints, kernel 5.5 or later with BTF,"
                        + " needed by " + probesOn(EnumSet.complementOf(EnumSet.of(Hook.INGRESS, Hook.EGRESS))));
            }
            throw e;
        }
    }

    private static Throwable rootBpfCause(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof dev.tcpinspect.ebpf.BpfException) {
                return t;
            }
        }
        return e;
    }

    /** The probe a map belongs to (its name starts with the probe's), or null. */
    private boolean readsRingsAlways(String probe) {
        return probes.stream().anyMatch(p -> p.name().equals(probe) && p.readsRingsAlways());
    }

    private static String probeOwning(String map, List<String> known) {
        for (String name : known) {
            if (map.startsWith(name + "_")) {
                return name;
            }
        }
        return null;
    }

    /** Every probe the object has, running or not: its switches (NAME_enabled, lib/probe.h) say which. */
    private static List<String> knownProbes(OpenObject open) {
        return open.btf().variables(".rodata").stream().map(v -> v.name())
                .filter(n -> n.endsWith(SWITCH)).map(n -> n.substring(0, n.length() - SWITCH.length())).toList();
    }

    private static final String SWITCH = "_enabled";

    /**
     * How many bytes of records each CPU submits before it wakes the event reader (bpf/lib/events.h):
     * few wakeups, since each is an interrupt and a context switch, but never so many bytes that the
     * CPUs together leave more than half the smallest ring unannounced (then only the reader's timer
     * would drain it). At most 256 KiB, at least a page.
     */
    static int eventsWakeupBytes(long smallestRing, int cpus) {
        return (int) Math.max(4096, Math.min(256 * 1024, smallestRing / (2L * Math.max(1, cpus))));
    }

    private static Hook hookOwning(String map) {
        for (Hook h : Hook.values()) {
            if (h.mapPrefix() != null && map.startsWith(h.mapPrefix())) {
                return h;
            }
        }
        return null;
    }

    private String probesOn(Set<Hook> of) {
        return probes.stream().filter(p -> p.hooks().stream().anyMatch(of::contains)).map(Probe::name).toList().toString();
    }

    private void attach(Map<String, Integer> ifindexes) {
        for (Hook h : hooks) {
            switch (h.attach) {
                case TRACEPOINT -> object.program(h.programs().getFirst()).attach();
                case TWIN -> {
                    // The kernel runs them in the order they were attached, which the twins rely on.
                    object.program(h.programs().get(0)).attach();
                    object.program(h.programs().get(1)).attach();
                }
                case SOCKET -> { } // its probe attached it to the sockets it took (bind)
                case INTERFACE -> {
                    if (options.cgroup() != null) {
                        attachCgroup(h);
                        continue;
                    }
                    ifindexes.forEach((name, ifindex) -> {
                        if (h == Hook.INGRESS && options.behindHandoff(name)) {
                            return; // its program is in the hand-off's slot instead (make)
                        }
                        if (h == Hook.INGRESS && options.xdp()) {
                            object.program(Hook.XDP_INGRESS_PROGRAM).attachXdp(ifindex, options.xdpMode());
                        } else {
                            TcSlots.attach(object.program(h.programs().getFirst()), name, ifindex,
                                    h == Hook.INGRESS ? TcSlots.INGRESS : TcSlots.EGRESS).ifPresent(claims::add);
                        }
                    });
                }
            }
        }
    }

    /** A packet hook's cgroup_skb program on the cgroup's directory: a link the process holds, gone with it. */
    private void attachCgroup(Hook h) {
        String dir = options.cgroup().toString();
        cgroupId = dev.tcpinspect.os.Cgroups.id(options.cgroup());
        int fd = Libc.open(dir, Libc.O_RDONLY | Libc.O_CLOEXEC);
        try {
            object.program(h == Hook.INGRESS ? Hook.CGROUP_INGRESS_PROGRAM : Hook.CGROUP_EGRESS_PROGRAM)
                    .attachCgroup(fd, dir, h == Hook.INGRESS ? TcDirection.INGRESS : TcDirection.EGRESS);
        } finally {
            Libc.close(fd);
        }
    }

    /**
     * The indexes of the interfaces the probes watch behind the hand-off, for the program's constant
     * (the enforcer may protect more, whose packets it passes on too): 0 where unused.
     */
    private byte[] behindIfindexes(Map<String, Integer> ifindexes) {
        List<Integer> behind = ifindexes.entrySet().stream().filter(e -> options.behindHandoff(e.getKey()))
                .map(Map.Entry::getValue).toList();
        if (behind.size() > Hook.XDP_BEHIND_MAX_INTERFACES) {
            throw new IllegalArgumentException("at most " + Hook.XDP_BEHIND_MAX_INTERFACES + " interfaces can be watched"
                    + " at XDP behind the " + options.xdpHandoff().name() + ", not " + behind.size()
                    + ": watch the others at TC (without --xdp)");
        }
        var bytes = java.nio.ByteBuffer.allocate(4 * Hook.XDP_BEHIND_MAX_INTERFACES).order(java.nio.ByteOrder.nativeOrder());
        behind.forEach(bytes::putInt);
        return bytes.array();
    }

    /** A watched interface whose hand-off ended; failure: why the probes could not go on at TC ingress there, or null. */
    public record HandoffEnded(String name, String failure) {}

    /**
     * The watched interfaces where the program the probes ran behind has gone since the last call
     * (its owner stopped it): the ingress probes go on there at TC ingress, which leaves the XDP hook
     * free for an enforcer started again (the probes then see what it passes, as behind it). Each is
     * named once.
     */
    public synchronized List<HandoffEnded> handoffsEnded() {
        if (!behindHandoff() || object == null) {
            return List.of();
        }
        List<HandoffEnded> ended = new ArrayList<>();
        for (String name : options.xdpHandoff().ended()) {
            Integer ifindex = attachedTo.get(name);
            if (ifindex == null) {
                continue;
            }
            String failure = null;
            try {
                namespace.call(() -> TcSlots.attach(object.program(Hook.INGRESS.programs().getFirst()), name, ifindex,
                        TcSlots.INGRESS)).ifPresent(claims::add);
            } catch (RuntimeException e) {
                failure = e.getMessage();
            }
            ended.add(new HandoffEnded(name, failure));
        }
        return ended;
    }

    public Options options() {
        return options;
    }

    /**
     * The watched interfaces that have gone since the last call (deleted, moved to another
     * namespace, or replaced by another of the same name, whose index differs): the kernel has
     * detached the programs there, and the other interfaces and the tracepoints go on. Each is
     * named once.
     */
    public synchronized List<String> interfacesGone() {
        if (attachedTo.isEmpty() || object == null) {
            return List.of();
        }
        List<String> gone = namespace.call(() -> attachedTo.entrySet().stream()
                .filter(e -> Libc.ifNameToIndex(e.getKey()) != e.getValue())
                .map(Map.Entry::getKey).toList());
        gone.forEach(attachedTo::remove);
        return gone;
    }

    /**
     * Whether closing detaches everything without any privilege: links (tcx, XDP, tracepoints) go
     * with their file descriptors, but clsact filters are removed through netlink, which needs
     * CAP_NET_ADMIN.
     */
    public synchronized boolean detachesWithoutPrivileges() {
        return claims.isEmpty() && probes.stream().allMatch(Probe::detachesWithoutPrivileges);
    }

    /** The interfaces still watched (the packet hooks' names, less those gone). */
    /** The cgroup the packet hooks are scoped to, or null. */
    public java.nio.file.Path cgroup() {
        return options.cgroup();
    }

    /**
     * True once, when the scope's cgroup is gone: removed, or made again under its path (a service
     * or container restarted): the links stay on the old one, which no socket joins any more.
     */
    public synchronized boolean cgroupGone() {
        if (cgroupId == 0) {
            return false;
        }
        long now;
        try {
            now = dev.tcpinspect.os.Cgroups.id(options.cgroup());
        } catch (RuntimeException gone) {
            now = 0;
        }
        if (now == cgroupId) {
            return false;
        }
        cgroupId = 0;
        return true;
    }

    public synchronized List<String> interfacesWatched() {
        return List.copyOf(attachedTo.keySet());
    }

    /** The running probes, in the order they were given. */
    public List<Probe> probes() {
        return probes;
    }

    public List<String> names() {
        return names(probes);
    }

    /** The hooks attached. */
    public Set<Hook> hooks() {
        return EnumSet.copyOf(hooks);
    }

    /** The running probe of that class. */
    public <P extends Probe> P probe(Class<P> type) {
        for (Probe p : probes) {
            if (type.isInstance(p)) {
                return type.cast(p);
            }
        }
        throw new IllegalArgumentException(type.getSimpleName() + " is not running");
    }

    /** The loaded object (benchmarks read its programs' run times). */
    public BpfObject object() {
        return object;
    }

    long netnsInode() {
        return netnsInode;
    }

    Netns namespace() {
        return namespace;
    }

    /**
     * What every probe counted so far, cumulative; with tables, the summary's extras (top flows) too.
     * Each snapshot ends with the runs the kernel skipped for that probe.
     */
    public Reading read(boolean withTables) {
        List<Snapshot> snapshots = new ArrayList<>(probes.size());
        // One reading of each twin pair for every probe on it: its skipped and doubled runs come from the same counts.
        Map<Hook, TwinRuns> twins = new EnumMap<>(Hook.class);
        for (Probe p : probes) {
            snapshots.add(p.snapshot(withTables).with(new Metric.Counter(skippedDesc(p.name()), runsSkipped(p, twins)))
                    .with(new Metric.Counter(twiceDesc(p.name()), runsTwice(p, twins))));
        }
        return new Reading(snapshots);
    }

    private static Desc skippedDesc(String probe) {
        return Desc.of("runs_skipped." + probe, probe, "Runs of the probe's programs the kernel skipped (the program "
                + "was already running on that CPU) that no twin made up for").role(Desc.Role.NOT_SEEN)
                .metric(dev.tcpinspect.snapshot.Export.Family.RUNS_SKIPPED, "probe", probe);
    }

    private static Desc twiceDesc(String probe) {
        return Desc.of("runs_twice." + probe, "state changes handled twice", "State changes both copies of the "
                + "probe's twin handler handled (twin.h: a claim found stale), so possibly counted twice")
                .role(Desc.Role.NOTE).metric(dev.tcpinspect.snapshot.Export.Family.RUNS_TWICE, "probe", probe);
    }

    /**
     * State changes both twin copies handled, at least: the second copy's rescues beyond the first
     * copy's skipped runs (bpf/lib/twin.h's cases left to chance, each counted there as a stale or
     * pushed-out claim). A lost firing beside a doubled one would hide both from this and runsSkipped.
     */
    public long runsTwice(String probe) {
        return runsTwice(named(probe), new EnumMap<>(Hook.class));
    }

    private long runsTwice(Probe p, Map<Hook, TwinRuns> twins) {
        long twice = 0;
        for (Hook h : p.hooks()) {
            if (h.attach == Hook.Attach.TWIN) {
                TwinRuns runs = twins.computeIfAbsent(h, this::twinRuns);
                twice += Math.max(0, runs.rescued() - runs.firstSkipped());
            }
        }
        return twice;
    }

    /** Empties every probe's kernel per-flow tables into its totals (each holds only so many new flows between drains). */
    public void drain() {
        for (Probe p : probes) {
            p.drain();
        }
    }

    /**
     * Runs the kernel skipped (recursion_misses) of the programs on the probe's hooks, less those a
     * twin made up for (a second copy's skips are firings the first copy handled, and each firing
     * the second copy rescued is one the first skipped).
     */
    public long runsSkipped(String probe) {
        return runsSkipped(named(probe), new EnumMap<>(Hook.class));
    }

    private Probe named(String probe) {
        return probes.stream().filter(x -> x.name().equals(probe)).findFirst().orElseThrow();
    }

    private long runsSkipped(Probe p, Map<Hook, TwinRuns> twins) {
        long skipped = 0;
        for (Hook h : p.hooks()) {
            switch (h.attach) {
                case TRACEPOINT -> skipped += object.program(h.programs().getFirst()).info().recursionMisses();
                case TWIN -> {
                    TwinRuns runs = twins.computeIfAbsent(h, this::twinRuns);
                    skipped += Math.max(0, runs.firstSkipped() - runs.rescued());
                }
                case INTERFACE, SOCKET -> { } // packet programs never run nested on a CPU
            }
        }
        return skipped;
    }

    /**
     * A twin pair's runs: each copy's skipped runs, the firings the second rescued, and the claims
     * the first copy's stack pushed out while fresh or the second found stale (bpf/lib/twin.h): where
     * rescues outnumber the first copy's skipped runs, these say why.
     */
    public record TwinRuns(long firstSkipped, long secondSkipped, long rescued, long pushedOut, long stale) {}

    /** The runs of a twin hook (bpf/lib/twin.h), to check that they add up. */
    public TwinRuns twinRuns(Hook hook) {
        long[] claims = twinClaimCounts(); // first: every rescue follows the miss it makes up for
        return new TwinRuns(object.program(hook.programs().get(0)).info().recursionMisses(),
                object.program(hook.programs().get(1)).info().recursionMisses(), claims[0], claims[1], claims[2]);
    }

    /** Rescued, pushed out and stale, summed over the CPUs. */
    private long[] twinClaimCounts() {
        int cpus = BpfMap.possibleCpus();
        long[] sums = new long[3];
        long[] offsets = {RESCUED, PUSHED_OUT, STALE};
        object.map("state_twin_claims").forEach((key, values) -> {
            for (int cpu = 0; cpu < cpus; cpu++) {
                for (int i = 0; i < offsets.length; i++) {
                    sums[i] += values.get(ValueLayout.JAVA_LONG_UNALIGNED, cpu * TWIN_CLAIMS.byteSize() + offsets[i]);
                }
            }
        });
        return sums;
    }

    /**
     * Delivers every running probe's events to the listener, on one reader thread polling all their
     * rings, through one reused view per probe: read what you need during the call. Nothing comes
     * when the set runs without events.
     */
    public void onEvents(EventListener listener) {
        for (Probe p : probes) {
            p.events().ifPresent(type -> subscribe(type, view -> listener.onEvent(type, view)));
        }
    }

    /** Receives events of any probe. */
    @FunctionalInterface
    public interface EventListener {
        void onEvent(EventType<?> type, EventView event);
    }

    /** Rings of alerts (PROBE_alerts): rare, always made and always read, whatever the output. */
    static final String ALERT_RING_SUFFIX = "_alerts";

    /** Rings of events (maps.h EVENT_RING: PROBE_events), whose records wake the reader in batches (events.h). */
    static final String EVENT_RING_SUFFIX = "_events";

    /** Maps used by several probes and named after none of them (Probe.sharedMaps). */
    static final String SHARED_MAP_PREFIX = "shared_";

    /**
     * Reads a probe's ring of alerts on the set's reader thread, with or without events: the table
     * view shows alerts too.
     */
    synchronized void subscribeAlerts(String ring, RingBufReader.Handler handler) {
        if (!ring.endsWith(ALERT_RING_SUFFIX)) {
            throw new IllegalArgumentException(ring + ": a ring of alerts is named PROBE" + ALERT_RING_SUFFIX);
        }
        subscribeRing(ring, handler);
    }

    /** Reads a ring on the set's reader thread, with or without events. */
    synchronized void subscribeRing(String ring, RingBufReader.Handler handler) {
        if (reader == null) {
            reader = new RingBufReader().start();
        }
        reader.add(object.map(ring), handler);
    }

    /** Its own lock: close() holds the set's while it waits for the reader thread, which may be raising an alert. */
    private final Object alertLock = new Object();
    private Consumer<Alert> alertListener;
    /** Alerts raised before anyone listened (between start and onAlerts), delivered to the first listener. */
    private final List<Alert> earlyAlerts = new ArrayList<>();

    /** Where the probes' alerts go (the watch's presenter), beginning with any raised since the start. */
    public void onAlerts(Consumer<Alert> listener) {
        synchronized (alertLock) {
            alertListener = listener;
            earlyAlerts.forEach(listener);
            earlyAlerts.clear();
        }
    }

    /** A probe's alert, passed on to the listener (from the reader thread or the watch's). */
    void alert(Alert alert) {
        synchronized (alertLock) {
            if (alertListener != null) {
                alertListener.accept(alert);
            } else if (earlyAlerts.size() < 1000) {
                earlyAlerts.add(alert);
            }
        }
    }

    synchronized <V extends EventView> void subscribe(EventType<V> type, Consumer<? super V> consumer) {
        if (!options.events()) {
            return;
        }
        if (reader == null) {
            reader = new RingBufReader().start();
        }
        V view = type.views().get();
        reader.add(object.map(type.ring()), (segment, offset, length) -> {
            view.wrap(segment, offset);
            consumer.accept(view);
        });
    }

    /** Events read from a ring that a consumer threw on: read but not shown, so reported. */
    public synchronized long eventsFailed() {
        return reader == null ? eventsFailedBeforeClose : reader.failed();
    }

    /** Detaches everything (after delivering the events still in the rings) and frees the object. */
    @Override
    public synchronized void close() {
        RuntimeException first = null;
        if (options.xdpHandoff() != null) {
            try {
                options.xdpHandoff().close(); // first: the enforcer stops handing packets to a program about to go
            } catch (RuntimeException e) {
                first = e;
            }
        }
        if (reader != null) {
            try {
                reader.close();
            } catch (RuntimeException e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
            eventsFailedBeforeClose = reader.failed();
            reader = null;
        }
        for (Probe p : probes) {
            try {
                p.close(); // what a probe holds outside the object (sockets taken from another process)
            } catch (RuntimeException e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        if (object != null) {
            try {
                object.close();
            } catch (RuntimeException e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
            object = null;
        }
        claims.forEach(Claim::close);
        claims.clear();
        namespace.close();
        if (first != null) {
            throw first;
        }
    }
}
