package dev.tcpinspect.enforce;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;

import dev.tcpinspect.ebpf.BpfMap;
import dev.tcpinspect.ebpf.BpfObject;
import dev.tcpinspect.ebpf.KernelLink;
import dev.tcpinspect.ebpf.LibbpfLink;
import dev.tcpinspect.ebpf.OpenObject;
import dev.tcpinspect.ebpf.Pins;
import dev.tcpinspect.ebpf.XdpMode;
import dev.tcpinspect.os.NetInterfaces;
import dev.tcpinspect.os.Netns;
import dev.tcpinspect.policy.Policy;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * The XDP enforcer of one network namespace: bpf/enforce.bpf.c loaded with its tables pinned in
 * {@link #folder} and its links pinned there too, so the policy keeps being enforced if the process
 * dies (kill -9): a new start adopts what it finds (the tables as they are, the programs replaced
 * in place), and {@link #stop} or a clean {@link #close} removes everything it pinned.
 */
public final class Enforcer implements AutoCloseable {
    public static final String OBJECT = "/bpf/enforce.bpf.o";
    /** Where enforcers pin their tables and links: one folder per network namespace. */
    public static final Path ROOT = Pins.BPFFS.resolve("tcpinspect").resolve("enforce");
    private static final String XDP_PIN_PREFIX = "link-xdp-";
    /** The TC ingress program that turns the XDP program's marks into socket buffer marks (tcx kernels only). */
    private static final String MARK_PIN_PREFIX = "link-tcx-mark-";
    private static final List<String> STATE_PROGRAMS = List.of("tcpi_enforce_state", "tcpi_enforce_state_twin");

    public record Options(Policy policy, List<String> interfaces, XdpMode mode, boolean audit, Optional<String> netns,
                          Capture capture) {
        public Options(Policy policy, List<String> interfaces, XdpMode mode, boolean audit, Optional<String> netns) {
            this(policy, interfaces, mode, audit, netns, null);
        }
    }

    /**
     * Copies of the packets judged to drop (dropped, or under audit passed), delivered to sink on a
     * reader thread of the enforcer's own: headers only unless payload, at most perSecond a second
     * on each CPU (0: every one), the kernel counting the rest (EnforceStat.CAPTURE_SKIPPED).
     */
    public record Capture(boolean payload, int perSecond, CaptureSink sink) {}

    /** Where copies go; the data is valid only during the call. As PcapngWriter.packet takes them. */
    @FunctionalInterface
    public interface CaptureSink {
        void packet(long monotonicNanos, int ifindex, int link, int origLen, java.lang.foreign.MemorySegment data,
                    long offset, int capLen, String comment);
    }

    /** The reader of the copies, while a capture is asked for. */
    private dev.tcpinspect.ebpf.RingBufReader captureReader;

    private final Path folder;
    private final BpfObject object;
    private final EnforcerTables tables;
    private final Map<String, Integer> interfaces;
    /** The namespace enforced, by name (ip netns), or empty: this process's. */
    private Optional<String> netns = Optional.empty();
    private final boolean adopted;
    private boolean closed;

    private Enforcer(Path folder, BpfObject object, EnforcerTables tables, Map<String, Integer> interfaces,
                     boolean adopted) {
        this.folder = folder;
        this.object = object;
        this.tables = tables;
        this.interfaces = interfaces;
        this.adopted = adopted;
    }

    /**
     * This process mounted a BPF filesystem of its own (requireBpffs(true)): its pins are its alone,
     * so its tables need no lock file in /run, which a kill -9 would leave behind.
     */
    private static volatile boolean pinnedPrivately;
    private boolean staleRemoved;
    /** Its namespace's cookie (0 unknown): the folder is still its own while the pinned cookie is this one. */
    private long cookie;

    /** Where the lock of an enforcer's tables lives (bpffs holds no regular file). */
    static Path lockFile(Path folder) {
        return Path.of("/run/tcpinspect/enforce", folder.getFileName() + ".lock");
    }

    /** The folder of the enforcer of the namespace with this inode. */
    public static Path folder(long netnsInode) {
        return ROOT.resolve("net-" + netnsInode);
    }

    /** The pinned table holding the protected namespace's cookie (enforce.h). */
    private static final String COOKIE = "enf_netns_cookie";

    /**
     * Whether the enforcer pinned in folder protected another namespace than the one with this
     * cookie: a deleted one that had the same inode. False when either cookie is unknown (a kernel
     * without SO_NETNS_COOKIE, an older version's folder without the table): judged by the inode then.
     */
    public static boolean ofAnotherNamespace(Path folder, long cookie) {
        if (cookie == 0) {
            return false;
        }
        Optional<Pins.PinnedMap> pinned = Pins.openMap(folder.resolve(COOKIE));
        if (pinned.isEmpty()) {
            return false;
        }
        try (Pins.PinnedMap m = pinned.get(); java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
            var value = a.allocate(8);
            if (!m.map().lookup(a.allocate(4), value)) {
                return false;
            }
            long theirs = value.get(JAVA_LONG_UNALIGNED, 0);
            return theirs != 0 && theirs != cookie;
        }
    }

    /**
     * Whether the enforcer pinned in folder is left from a network namespace that is gone, so it
     * protects nothing and nobody can reach it (but its connection counting stays attached to the
     * tracepoints): its process is gone, each of its XDP links has lost its interface, and no process
     * or {@code ip netns} name is in a namespace with its inode (and cookie). {@code cleanup} removes it.
     */
    public static boolean abandoned(Path folder) {
        if (!folder.getFileName().toString().matches("net-[0-9]{1,19}")) {
            return false;
        }
        Optional<Pins.PinnedMap> pinnedCookie = Pins.openMap(folder.resolve(COOKIE));
        if (pinnedCookie.isEmpty()) {
            return false; // an older version's, or not an enforcer's: left alone
        }
        long cookie;
        try (Pins.PinnedMap m = pinnedCookie.get(); java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
            var value = a.allocate(8);
            cookie = m.map().lookup(a.allocate(4), value) ? value.get(JAVA_LONG_UNALIGNED, 0) : 0;
        }
        Optional<Integer> pid = pinnedPid(folder);
        if (pid.isEmpty() || running(pid.get()).isPresent()) {
            return false;
        }
        for (String name : pinnedInterfaces(folder)) {
            Optional<KernelLink> link = KernelLink.openPinned(folder.resolve(XDP_PIN_PREFIX + name), "XDP link on " + name);
            if (link.isPresent()) {
                try (KernelLink l = link.get()) {
                    if (l.xdpInterfaceIndex() != 0) {
                        return false; // still on an interface: still protecting it
                    }
                }
            }
        }
        long inode = Long.parseLong(folder.getFileName().toString().substring("net-".length()));
        for (Path ns : liveNamespaceFiles()) {
            long found;
            try {
                found = Netns.inodeOf(ns);
            } catch (RuntimeException vanished) {
                continue; // a process or name gone meanwhile
            }
            if (found != inode) {
                continue;
            }
            try (Netns n = Netns.of(ns)) {
                if (cookie == 0 || n.cookie() == cookie) {
                    return false; // its namespace is still there
                }
            } catch (RuntimeException unreadable) {
                return false; // a namespace with its inode whose cookie cannot be read: taken as its own
            }
        }
        return true;
    }

    /** A file naming the live network namespace whose enforcer folder this is (by its inode), if any is found. */
    public static Optional<Path> namespaceOf(Path folder) {
        String name = folder.getFileName().toString();
        if (!name.matches("net-[0-9]{1,19}")) {
            return Optional.empty();
        }
        long inode = Long.parseLong(name.substring("net-".length()));
        for (Path ns : liveNamespaceFiles()) {
            try {
                if (Netns.inodeOf(ns) == inode) {
                    return Optional.of(ns);
                }
            } catch (RuntimeException vanished) {
                // a process gone meanwhile
            }
        }
        return Optional.empty();
    }

    /** Files that name the live network namespaces: every process's, and ip netns's names. */
    private static List<Path> liveNamespaceFiles() {
        List<Path> files = new ArrayList<>();
        try (Stream<Path> names = Files.list(Path.of("/run/netns"))) {
            names.forEach(files::add);
        } catch (IOException none) {
            // no ip netns names
        }
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            procs.filter(p -> p.getFileName().toString().chars().allMatch(Character::isDigit))
                    .forEach(p -> files.add(p.resolve("ns").resolve("net")));
        } catch (IOException unreadable) {
            throw new IllegalStateException("cannot list /proc: " + unreadable.getMessage(), unreadable);
        }
        return files;
    }

    /** The pid the enforcer pinned in folder noted, if its tables can be read. */
    public static Optional<Integer> pinnedPid(Path folder) {
        try {
            Optional<PinnedTables> pinned = openPinned(folder);
            if (pinned.isEmpty()) {
                return Optional.empty();
            }
            try (PinnedTables t = pinned.get()) {
                return Optional.of(t.tables().config().pid());
            }
        } catch (RuntimeException otherVersion) {
            return Optional.empty();
        }
    }

    /**
     * Removes the folder when the condition, checked again under the folder's lock (the one its tables
     * are changed under), still holds: a start in the namespace that has its inode now cannot slip in
     * between the check and the removal. True when it was removed.
     */
    public static boolean removeIf(Path folder, java.util.function.Predicate<Path> condition) {
        if (pinnedPrivately) {
            if (condition.test(folder)) {
                removeFolder(folder);
                return true;
            }
            return false;
        }
        Path lock = lockFile(folder);
        try {
            Files.createDirectories(lock.getParent());
            try (var channel = java.nio.channels.FileChannel.open(lock, java.nio.file.StandardOpenOption.CREATE,
                    java.nio.file.StandardOpenOption.WRITE); var held = channel.lock()) {
                if (!Files.exists(folder) || !condition.test(folder)) {
                    return false;
                }
                removeFolder(folder);
                return true;
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot lock " + lock + ": " + e.getMessage(), e);
        }
    }

    private static void writeCookie(BpfMap map, long cookie) {
        try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
            var value = a.allocate(8);
            value.set(JAVA_LONG_UNALIGNED, 0, cookie);
            map.update(a.allocate(4), value, BpfMap.ANY);
        }
    }

    /** Whether its start removed a deleted namespace's enforcer that had this namespace's inode. */
    public boolean replacedStale() {
        return staleRemoved;
    }

    /** Where the enforcer of folder pins its XDP link on the interface named: there while it protects it. */
    public static Path xdpLinkPin(Path folder, String interfaceName) {
        return folder.resolve(XDP_PIN_PREFIX + interfaceName);
    }

    public Path folder() {
        return folder;
    }

    public EnforcerTables tables() {
        return tables;
    }

    /** Interface names and indexes it protects. */
    public Map<String, Integer> interfaces() {
        return interfaces;
    }

    /** Whether it took over tables and links a previous enforcer left pinned. */
    public boolean adopted() {
        return adopted;
    }

    /**
     * Makes sure a BPF filesystem is where pins go. Mounts one when none is and this process shares
     * the host's mount namespace; in a private one (ip netns exec gives each command its own /sys)
     * pins would vanish with the process and no other command would find them, so it refuses.
     */
    public static void requireBpffs() {
        requireBpffs(false);
    }

    /**
     * As {@link #requireBpffs()}, but where privateAllowed, a private mount namespace gets a BPF
     * filesystem of its own (true is returned): the pins there are seen by this process alone and go
     * when its mount namespace does, so a kill -9 detaches the enforcer too (an agent started with ip
     * netns exec).
     */
    public static boolean requireBpffs(boolean privateAllowed) {
        if (Pins.isBpffs(Pins.BPFFS)) {
            return false;
        }
        boolean shared = sameMountNamespaceAsInit();
        if (!shared && privateAllowed) {
            Pins.mountBpffs(Pins.BPFFS);
            pinnedPrivately = true;
            return true;
        }
        if (!shared) {
            throw new IllegalStateException("no BPF filesystem at " + Pins.BPFFS + " in this mount namespace (ip netns"
                    + " exec gives each command a private /sys): run tcpinspect from the host with --netns NAME");
        }
        Pins.mountBpffs(Pins.BPFFS);
        return false;
    }

    private static boolean sameMountNamespaceAsInit() {
        long mine = Netns.inodeOf(Path.of("/proc/self/ns/mnt"));
        try {
            return mine == Netns.inodeOf(Path.of("/proc/1/ns/mnt"));
        } catch (RuntimeException unreadable) {
            // Some sandboxes hide /proc/1/ns even from root: then an ancestor in another mount
            // namespace is the sign of a private one (ip netns exec and unshare -m run their command
            // in place of themselves, as a child of the shell that was in the host's).
            for (var p = ProcessHandle.current().parent(); p.isPresent(); p = p.get().parent()) {
                try {
                    if (Netns.inodeOf(Path.of("/proc", Long.toString(p.get().pid()), "ns", "mnt")) != mine) {
                        return false;
                    }
                } catch (RuntimeException hidden) {
                    break; // as far as this process may look
                }
            }
            return true;
        }
    }

    /**
     * Starts (or takes over) the enforcer of the namespace: checks every interface first, loads the
     * object with its tables pinned, writes the policy, then attaches; on failure removes what this
     * call added and leaves what was there before as it was.
     */
    public static Enforcer start(Options options) {
        requireBpffs();
        try (Netns target = options.netns().map(Netns::named).orElseGet(Netns::current)) {
            Map<String, Integer> ifindexes = target.call(() -> {
                Map<String, Integer> m = new LinkedHashMap<>();
                for (String name : options.interfaces()) {
                    m.put(name, NetInterfaces.indexOf(name));
                }
                return m;
            });
            Path folder = folder(target.inode());
            long cookie = target.cookie();
            boolean staleRemoved = false;
            if (Files.exists(folder.resolve("enf_config")) && ofAnotherNamespace(folder, cookie)) {
                pinnedPid(folder).flatMap(Enforcer::running).ifPresent(p -> {
                    throw new IllegalStateException("an enforcer of a deleted network namespace that had this one's"
                            + " inode still runs (pid " + p.pid() + ") and holds " + folder + ": stop it first (kill "
                            + p.pid() + ")");
                });
                staleRemoved = removeIf(folder, f -> ofAnotherNamespace(f, cookie)); // nothing to take over
            }
            createFolder(folder);
            boolean adopting = Files.exists(folder.resolve("enf_config"));
            BpfObject object;
            try (OpenObject open = OpenObject.openResource(OBJECT, folder)) {
                open.setConstant("enf_capture_drops", options.capture() != null);
                open.setConstant("enf_capture_payload", options.capture() != null && options.capture().payload());
                open.setConstant("enf_capture_per_second", options.capture() == null ? 0 : options.capture().perSecond());
                object = open.load();
            } catch (RuntimeException e) {
                if (!adopting) {
                    removeFolder(folder);
                }
                if (adopting && e instanceof dev.tcpinspect.ebpf.BpfException b && !(e instanceof dev.tcpinspect.ebpf.VerifierException)
                        && b.errno() == dev.tcpinspect.os.Errno.EINVAL) {
                    throw new IllegalStateException("the enforcer's tables pinned in " + folder + " do not fit this"
                            + " version's (" + e.getMessage() + "): remove them with tcpinspect enforce stop", e);
                }
                throw e;
            }
            Enforcer enforcer = null;
            try {
                Map<String, BpfMap> maps = new LinkedHashMap<>();
                for (String name : EnforcerTables.MAPS) {
                    maps.put(name, object.map(name));
                }
                EnforcerTables tables = new EnforcerTables(maps, pinnedPrivately ? null : lockFile(folder));
                int pid = (int) ProcessHandle.current().pid();
                if (adopting) {
                    running(tables.config().pid()).ifPresent(p -> {
                        throw new IllegalStateException("an enforcer runs in this network namespace already (pid " + p.pid()
                                + "): change its policy with tcpinspect policy apply FILE, or stop it with tcpinspect"
                                + " enforce stop");
                    });
                }
                enforcer = new Enforcer(folder, object, tables, ifindexes, adopting);
                enforcer.netns = options.netns();
                enforcer.staleRemoved = staleRemoved;
                enforcer.cookie = cookie;
                writeCookie(object.map(COOKIE), cookie);
                if (adopting) {
                    // Programs first (each link swaps in place, judging by the tables as they are),
                    // then the policy: a failure on the way leaves the enforcer that was there enforcing.
                    enforcer.attachStateCounting();
                    enforcer.attachMark(target);
                    enforcer.attachXdp(target, options.mode());
                    tables.updateConfig(c -> new EnforcerTables.Config(c.activeGen(), c.liveEntries(), target.inode(),
                            options.audit(), pid));
                    tables.apply(options.policy());
                } else {
                    // The policy first: the first packet judged is judged by it.
                    tables.updateConfig(c -> new EnforcerTables.Config(0, false, target.inode(), options.audit(), pid));
                    tables.apply(options.policy());
                    enforcer.attachStateCounting();
                    enforcer.attachMark(target);
                    enforcer.attachXdp(target, options.mode());
                }
                if (options.capture() != null) {
                    // last: what was judged since the attach waits in the ring
                    enforcer.startCapture(options.capture(), options.audit());
                }
                return enforcer;
            } catch (RuntimeException e) {
                if (!adopting && enforcer != null) {
                    enforcer.close();
                } else {
                    object.close();
                    if (!adopting) {
                        removeFolder(folder);
                    }
                }
                throw e;
            }
        }
    }

    /** The enforcer process with this pid, if it still runs (another process may have its pid now: its command line says). */
    public static Optional<ProcessHandle> running(int pid) {
        if (pid == 0 || pid == ProcessHandle.current().pid()) {
            return Optional.empty();
        }
        return ProcessHandle.of(pid).filter(p -> {
            String line = p.info().commandLine().orElse("");
            return line.contains("tcpinspect") && (line.contains(" agent") || line.contains("enforce")
                    && !line.contains("enforce stop"));
        });
    }

    /** Reads the copies of judged packets into the sink, each with its comment ("policy denied"). */
    private void startCapture(Capture capture, boolean audit) {
        String[] comments = new String[EnforceStat.values().length];
        for (EnforceStat s : EnforceStat.values()) {
            comments[s.ordinal()] = "policy " + s.key() + (audit ? " (audit: passed)" : "");
        }
        CaptureSink sink = capture.sink();
        var r = Layouts.CAPTURE_RECORD;
        long ts = Layouts.offset(r, "ts_ns");
        long ifindex = Layouts.offset(r, "ifindex");
        long code = Layouts.offset(r, "code");
        long origLen = Layouts.offset(r, "orig_len");
        long capLen = Layouts.offset(r, "cap_len");
        long link = Layouts.offset(r, "link");
        long bytes = Layouts.offset(r, "data");
        captureReader = new dev.tcpinspect.ebpf.RingBufReader(object.map("enf_captured"), (data, offset, length) -> {
            int why = data.get(JAVA_SHORT_UNALIGNED, offset + code) & 0xffff;
            sink.packet(data.get(JAVA_LONG_UNALIGNED, offset + ts), data.get(JAVA_INT_UNALIGNED, offset + ifindex),
                    data.get(JAVA_BYTE, offset + link) & 0xff, data.get(JAVA_INT_UNALIGNED, offset + origLen), data,
                    offset + bytes, Math.min(Layouts.CAPTURE_BYTES, data.get(JAVA_SHORT_UNALIGNED, offset + capLen) & 0xffff),
                    why < comments.length ? comments[why] : "policy " + why);
        }).start();
    }

    private void stopCapture() {
        if (captureReader != null) {
            captureReader.close();
            captureReader = null;
        }
    }

    /** The connection-counting twins: new links first, then the old ones' pins go (no moment uncounted). */
    private void attachStateCounting() {
        for (String name : STATE_PROGRAMS) {
            Path pin = folder.resolve("link-" + name);
            try (LibbpfLink link = object.program(name).attach()) {
                Pins.unpin(pin);
                link.pin(pin); // the pin holds it from here on: closing this process's handle leaves it attached
            }
        }
    }

    /**
     * The mark setter at TC ingress of each interface, before XDP so that no marked packet goes by
     * unmarked. Kernels without tcx get none (a policy with marks is refused there: EnforcerTables.apply).
     */
    private void attachMark(Netns target) {
        if (dev.tcpinspect.ebpf.Features.tcx()) {
            var program = object.program("tcpi_enforce_mark");
            attachPinned(target, MARK_PIN_PREFIX, program,
                    ifindex -> program.attachTcx(ifindex, dev.tcpinspect.ebpf.TcDirection.INGRESS));
        }
    }

    private void attachXdp(Netns target, XdpMode mode) {
        var program = object.program("tcpi_enforce");
        attachPinned(target, XDP_PIN_PREFIX, program, ifindex -> program.attachXdp(ifindex, mode));
    }

    /**
     * One program on each interface, its link pinned as prefix + interface name: a link already
     * pinned there gets the new program in place (no moment without one), else a new link is made
     * in the target namespace and pinned. Interfaces a previous enforcer protected that this one
     * does not: their pins go, and the program with them.
     */
    private void attachPinned(Netns target, String prefix, dev.tcpinspect.ebpf.Program program,
                              java.util.function.IntFunction<KernelLink> attach) {
        for (Map.Entry<String, Integer> e : interfaces.entrySet()) {
            Path pin = folder.resolve(prefix + e.getKey());
            Optional<KernelLink> old = KernelLink.openPinned(pin, prefix + e.getKey());
            if (old.isPresent()) {
                try (KernelLink link = old.get()) {
                    link.update(program);
                }
                continue;
            }
            try (KernelLink link = target.call(() -> attach.apply(e.getValue()))) {
                link.pin(pin); // the pin holds it from here on, as it does an adopted one
            }
        }
        for (String name : pinnedNames(folder, prefix)) {
            if (!interfaces.containsKey(name)) {
                Pins.unpin(folder.resolve(prefix + name));
            }
        }
    }

    /**
     * Loads the enforcer with its tables pinned in folder and attaches nothing: for benchmarks and
     * tests that judge packets with BPF_PROG_TEST_RUN. Closing it removes the folder.
     */
    public static Enforcer loadDetached(Path folder, boolean audit) {
        return loadDetached(folder, audit, true);
    }

    /** As {@link #loadDetached(Path, boolean)}, with the rule cache off when not ruleCache: what a source's first packet costs. */
    public static Enforcer loadDetached(Path folder, boolean audit, boolean ruleCache) {
        return loadDetached(folder, audit, ruleCache, true);
    }

    /**
     * As {@link #loadDetached(Path, boolean, boolean)}, with the direct tables of both families off
     * when not directTables (the tries judge, whatever {@code EnforcerTables.direct} says): for
     * benchmarks and tests of the tries.
     */
    public static Enforcer loadDetached(Path folder, boolean audit, boolean ruleCache, boolean directTables) {
        requireBpffs();
        if (Files.exists(folder)) {
            throw new IllegalStateException(folder + " exists: a detached enforcer starts from empty tables");
        }
        createFolder(folder);
        BpfObject object;
        try (OpenObject open = OpenObject.openResource(OBJECT, folder)) {
            open.setConstant("enf_rule_cache_off", !ruleCache);
            open.setConstant("enf_dir_off", !directTables);
            object = open.load();
        } catch (RuntimeException e) {
            removeFolder(folder);
            throw e;
        }
        Map<String, BpfMap> maps = new LinkedHashMap<>();
        for (String name : EnforcerTables.MAPS) {
            maps.put(name, object.map(name));
        }
        EnforcerTables tables = new EnforcerTables(maps, lockFile(folder));
        tables.updateConfig(c -> new EnforcerTables.Config(0, false, 0, audit, 0));
        return new Enforcer(folder, object, tables, Map.of(), false);
    }

    /**
     * The interfaces protected a moment ago that are gone now (deleted, moved to another namespace,
     * or their namespace deleted): no longer protected, their links' pins removed (a link to a
     * device that is gone judges nothing). Each is reported once.
     */
    public synchronized List<String> interfacesGone() {
        if (closed || interfaces.isEmpty()) {
            return List.of();
        }
        List<String> gone;
        Netns target;
        try {
            target = netns.map(Netns::named).orElseGet(Netns::current);
        } catch (RuntimeException namespaceGone) {
            target = null; // ip netns delete: its devices are gone with it
        }
        if (target == null) {
            gone = List.copyOf(interfaces.keySet());
        } else {
            try (Netns t = target) {
                // by index: a device renamed is the same device, still protected; one whose index names
                // nothing is gone (a new device never takes a live one's index)
                gone = t.call(() -> interfaces.entrySet().stream()
                        .filter(e -> dev.tcpinspect.os.Libc.ifIndexToName(e.getValue()) == null)
                        .map(Map.Entry::getKey).toList());
            }
        }
        boolean ownFolder = !ofAnotherNamespace(folder, cookie);
        for (String name : gone) {
            interfaces.remove(name);
            if (ownFolder) {
                Pins.unpin(folder.resolve(XDP_PIN_PREFIX + name));
                Pins.unpin(folder.resolve(MARK_PIN_PREFIX + name));
            }
        }
        return gone;
    }

    /** The enforcer's counters as a snapshot ("policy"); its rule hits never go down between calls. */
    public synchronized dev.tcpinspect.snapshot.Snapshot snapshot() {
        return ruleHits.snapshot(tables);
    }

    private final EnforcerSnapshot ruleHits = new EnforcerSnapshot();

    /** Every program of the enforcer's object (the XDP judge, the mark setter, the connection counters). */
    public java.util.Collection<dev.tcpinspect.ebpf.Program> programs() {
        return object.programs().values();
    }

    /** The XDP program that judges packets. */
    public dev.tcpinspect.ebpf.Program program() {
        return object.program("tcpi_enforce");
    }

    /** Interfaces with an enforcer's XDP link pinned in folder. */
    public static List<String> pinnedInterfaces(Path folder) {
        return pinnedNames(folder, XDP_PIN_PREFIX);
    }

    private static List<String> pinnedNames(Path folder, String prefix) {
        try (Stream<Path> files = Files.list(folder)) {
            return files.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(prefix))
                    .map(n -> n.substring(prefix.length())).sorted().toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    /**
     * Opens the tables pinned in folder for a `policy` command; empty when no enforcer is there.
     * The caller closes the returned handle.
     */
    public static Optional<PinnedTables> openPinned(Path folder) {
        if (!Files.exists(folder.resolve("enf_config"))) {
            return Optional.empty();
        }
        List<Pins.PinnedMap> opened = new ArrayList<>();
        try {
            Map<String, BpfMap> maps = new LinkedHashMap<>();
            for (String name : EnforcerTables.MAPS) {
                Pins.PinnedMap m = Pins.openMap(folder.resolve(name)).orElseThrow(() -> new IllegalStateException(
                        "the enforcer in " + folder + " has no table " + name + ": it was started by another"
                                + " tcpinspect version (stop it with that version), or it is half gone (tcpinspect"
                                + " enforce stop removes what is left)"));
                opened.add(m);
                maps.put(name, m.map());
            }
            BpfMap config = maps.get("enf_config");
            BpfMap rules = maps.get("enf_prefix_v4");
            if (config.valueSize() != Layouts.CONFIG.byteSize() || rules.valueSize() != Layouts.RULE.byteSize()
                    || maps.get("enf_settings").valueSize() != Layouts.SETTINGS.byteSize()) {
                throw new IllegalStateException("the enforcer in " + folder + " is of another tcpinspect version (its"
                        + " tables' layout differs): stop it with that version, or remove it with tcpinspect enforce stop");
            }
            return Optional.of(new PinnedTables(new EnforcerTables(maps, lockFile(folder)), opened));
        } catch (RuntimeException e) {
            opened.forEach(Pins.PinnedMap::close);
            throw e;
        }
    }

    /** Tables opened from their pins, with the fds that close with them. */
    public record PinnedTables(EnforcerTables tables, List<Pins.PinnedMap> maps) implements AutoCloseable {
        @Override
        public void close() {
            maps.forEach(Pins.PinnedMap::close);
        }
    }

    /**
     * Removes an enforcer's folder: its links' pins (detaching them), its tables' pins, the folder.
     * What this returns: the interfaces that were protected.
     */
    public static List<String> removePins(Path folder) {
        List<String> names = pinnedInterfaces(folder);
        removeFolder(folder);
        return names;
    }

    private static void createFolder(Path folder) {
        try {
            madeAgainIfRemoved(() -> Files.createDirectories(folder));
        } catch (IOException e) {
            throw new IllegalStateException("cannot create " + folder + ": " + e.getMessage(), e);
        }
    }

    /** Something that makes a file or folder, and may fail as files do. */
    interface Making<T> {
        T make() throws IOException;
    }

    /**
     * Makes something under the folders that the last enforcer of another namespace, stopping,
     * removes when it leaves them empty (removeFolder): when a parent went between two steps of the
     * making, it is made again (three tries in all).
     */
    static <T> T madeAgainIfRemoved(Making<T> making) throws IOException {
        for (int attempt = 0; ; attempt++) {
            try {
                return making.make();
            } catch (java.nio.file.NoSuchFileException removedMeanwhile) {
                if (attempt == 2) {
                    throw removedMeanwhile;
                }
            }
        }
    }

    private static void removeFolder(Path folder) {
        try {
            if (Files.isDirectory(folder)) {
                try (Stream<Path> files = Files.list(folder)) {
                    // Links first: traffic stops being judged before the tables it is judged by go.
                    List<Path> all = files.sorted((a, b) -> Boolean.compare(!isLink(a), !isLink(b))).toList();
                    for (Path p : all) {
                        Files.deleteIfExists(p);
                    }
                }
                Files.deleteIfExists(folder);
            }
            // also when the pins went before (enforce stop under a deleted namespace's enforcer that ran on)
            Files.deleteIfExists(lockFile(folder));
            // The lock's folders in /run too, when no other enforcer's lock is there.
            for (Path dir = lockFile(folder).getParent(); dir != null && dir.startsWith("/run/tcpinspect");
                    dir = dir.getParent()) {
                try {
                    Files.deleteIfExists(dir);
                } catch (java.nio.file.DirectoryNotEmptyException busy) {
                    break;
                }
            }
            // The parents too, when this was the last enforcer (and another has not just made its own
            // folder there: then the parent is not empty by the time it is removed, and stays).
            for (Path parent = folder.getParent(); parent != null && parent.startsWith(Pins.BPFFS)
                    && !parent.equals(Pins.BPFFS); parent = parent.getParent()) {
                try (Stream<Path> left = Files.list(parent)) {
                    if (left.findAny().isPresent()) {
                        break;
                    }
                }
                try {
                    Files.deleteIfExists(parent);
                } catch (java.nio.file.DirectoryNotEmptyException busy) {
                    break;
                }
            }
        } catch (java.nio.file.NoSuchFileException gone) {
            // nothing there
        } catch (IOException e) {
            throw new IllegalStateException("cannot remove " + folder + ": " + e.getMessage(), e);
        }
    }

    private static boolean isLink(Path p) {
        return p.getFileName().toString().startsWith("link-");
    }

    /**
     * Denies the source an alert names for ttl (a policy's auto_block), as a live entry that every
     * new alert about it starts again; false when the alert names no single source (a spoofed
     * flood's "*").
     */
    public synchronized boolean autoBlock(dev.tcpinspect.snapshot.Alert alert, java.time.Duration ttl) {
        if (closed) {
            return false; // handed over or closed meanwhile (an alert read on another thread): the newer one acts
        }
        byte[] address;
        try {
            address = java.net.InetAddress.ofLiteral(alert.source()).getAddress();
        } catch (IllegalArgumentException noSource) {
            return false;
        }
        tables.addLive(new dev.tcpinspect.policy.Cidr(address, address.length * 8), RuleKind.DENY,
                System.nanoTime() + ttl.toNanos());
        return true;
    }

    /**
     * Lets go of this process's handle on the enforcer after another {@link #start} in this process
     * took it over (successor): its object is closed, the pins (which the newer one holds too) stay.
     */
    public synchronized void handOver(Enforcer successor) {
        synchronized (successor) {
            successor.ruleHits.continueFrom(ruleHits); // the rules' hits go on growing from where they were
        }
        if (!closed) {
            closed = true;
            stopCapture();
            object.close();
        }
    }

    /**
     * Removes the enforcer's pins in folder if this process pinned them (the pid in its config is
     * this one's), without waiting for anything (not even for {@link #close}, which may be stuck on a
     * stalled output while it holds the object): for a process about to end at once, whose exit then
     * closes the links' last descriptors, which detaches them. A start that has not yet written its
     * pid, or a newer enforcer's pins in the same folder, are left alone.
     */
    public static void removePinsIfOurs(Path folder) {
        try {
            if (pinnedPid(folder).filter(pid -> pid == ProcessHandle.current().pid()).isPresent()) {
                removeFolder(folder);
            }
        } catch (RuntimeException e) {
            // the process ends at once either way; a kill -9 would have left the same
        }
    }

    /** Stops enforcing: every pin removed (XDP detached), the object closed. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            if (!ofAnotherNamespace(folder, cookie)) {
                removeFolder(folder); // not when a new namespace's enforcer replaced its pins (its own namespace gone)
            }
        } finally {
            stopCapture(); // after the links went: the last copies are read
            object.close();
        }
    }
}
