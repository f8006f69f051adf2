package dev.tcpinspect.enforce;

import static java.lang.foreign.ValueLayout.JAVA_INT;

import dev.tcpinspect.ebpf.BpfMap;
import dev.tcpinspect.ebpf.Pins;
import dev.tcpinspect.ebpf.Program;
import dev.tcpinspect.os.Errno;
import dev.tcpinspect.probe.XdpHandoff;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * The running enforcer's hand-off to a watch's XDP probes (bpf/lib/handoff.h), through its pins:
 * the parse slot, the observer slot (a program array of one) and the slot's owner (the pid of the
 * watch or agent holding it). An interface has room for one XDP program: with this, {@code watch
 * --xdp} on an enforced interface runs its probes behind the enforcer's program instead of being
 * refused. A holder killed with -9 leaves its program in the slot, still counting for nobody: the
 * next claim or {@code tcpinspect cleanup} takes it out ({@link #clearAbandoned}).
 */
public final class EnforcerHandoff implements XdpHandoff {
    private static final String PARSE_SLOT = "enf_handoff";
    private static final String OBSERVER = "enf_observer";
    private static final String OWNER = "enf_observer_owner";

    private final Path folder;
    private final Set<String> interfaces;
    private final Set<String> ended = new LinkedHashSet<>();
    private final Pins.PinnedMap parseSlot;
    private final Pins.PinnedMap observer;
    private final Pins.PinnedMap owner;
    private final int pid = (int) ProcessHandle.current().pid();
    private boolean claimed;
    private int installedId;
    private boolean closed;

    private EnforcerHandoff(Path folder, Set<String> interfaces, Pins.PinnedMap parseSlot, Pins.PinnedMap observer,
                            Pins.PinnedMap owner) {
        this.folder = folder;
        this.interfaces = Set.copyOf(interfaces);
        this.parseSlot = parseSlot;
        this.observer = observer;
        this.owner = owner;
    }

    /**
     * The hand-off of the enforcer of the namespace with this inode, for those of the interfaces it
     * protects; empty when no enforcer runs there or it protects none of them.
     */
    public static Optional<EnforcerHandoff> find(long netnsInode, Collection<String> interfaces) {
        Path folder = Enforcer.folder(netnsInode);
        Set<String> covered = new LinkedHashSet<>();
        for (String name : interfaces) {
            if (Files.exists(Enforcer.xdpLinkPin(folder, name))) {
                covered.add(name);
            }
        }
        if (covered.isEmpty()) {
            return Optional.empty();
        }
        return Optional.of(open(folder, covered));
    }

    /**
     * The hand-off of the enforcer pinned in folder, for these interfaces whether it protects them
     * or not: for benchmarks, whose enforcer is loaded but not attached.
     */
    public static EnforcerHandoff open(Path folder, Set<String> covered) {
        List<Pins.PinnedMap> opened = new ArrayList<>();
        try {
            for (String name : List.of(PARSE_SLOT, OBSERVER, OWNER)) {
                opened.add(Pins.openMap(folder.resolve(name)).orElseThrow(() -> new IllegalStateException(
                        "the enforcer protecting " + String.join(", ", covered) + " has no hand-off to XDP probes (" + folder
                                + " lacks " + name + ": it is an older version's): restart it with tcpinspect enforce, or"
                                + " watch without --xdp")));
            }
            return new EnforcerHandoff(folder, covered, opened.get(0), opened.get(1), opened.get(2));
        } catch (RuntimeException e) {
            opened.forEach(Pins.PinnedMap::close);
            throw e;
        }
    }

    @Override
    public Set<String> interfaces() {
        return interfaces;
    }

    @Override
    public String name() {
        return "enforcer";
    }

    @Override
    public synchronized void claim() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment key = a.allocate(JAVA_INT);
            MemorySegment value = a.allocateFrom(JAVA_INT, pid);
            for (int attempt = 0; attempt < 2; attempt++) {
                if (insertOwner(key, value)) {
                    claimed = true;
                    return;
                }
                MemorySegment held = a.allocate(JAVA_INT);
                if (!owner.map().lookup(key, held)) {
                    continue; // given back meanwhile
                }
                int holder = held.get(JAVA_INT, 0);
                if (holder == pid) {
                    claimed = true; // this process's probes again (an agent's reload): the new set's program replaces the old's
                    return;
                }
                if (alive(holder)) {
                    throw new IllegalStateException(String.join(", ", interfaces) + ": the enforcer there hands its packets"
                            + " to the XDP probes of another tcpinspect already (pid " + holder + "); one at a time runs"
                            + " behind it: stop that one, or watch without --xdp (TC ingress sees what the enforcer passed too)");
                }
                clearAbandoned(observer.map(), owner.map(), holder);
            }
            throw new IllegalStateException("the enforcer's XDP hand-off in " + folder + " is contended: try again");
        }
    }

    private boolean insertOwner(MemorySegment key, MemorySegment value) {
        try {
            owner.map().update(key, value, BpfMap.NOEXIST);
            return true;
        } catch (dev.tcpinspect.ebpf.BpfException e) {
            if (e.errno() == Errno.EEXIST) {
                return false;
            }
            throw e;
        }
    }

    /** Whether pid is a live tcpinspect process (another may have its pid now: its command line says). */
    private static boolean alive(int pid) {
        return ProcessHandle.of(pid).map(p -> p.info().commandLine().orElse("").contains("tcpinspect")).orElse(false);
    }

    /** Takes a dead holder's program out of the observer slot, then its claim (if it is still that holder's). */
    private static void clearAbandoned(BpfMap observer, BpfMap owner, int holder) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment key = a.allocate(JAVA_INT);
            MemorySegment held = a.allocate(JAVA_INT);
            if (owner.lookup(key, held) && held.get(JAVA_INT, 0) == holder) {
                observer.delete(key);
                owner.delete(key);
            }
        }
    }

    /**
     * Takes out what a watch killed with -9 left behind the enforcer of that folder: its program in
     * the observer slot and its claim. True when there was something to take out.
     */
    public static boolean clearAbandoned(Path folder) {
        Optional<Pins.PinnedMap> observer = Pins.openMap(folder.resolve(OBSERVER));
        Optional<Pins.PinnedMap> owner = Pins.openMap(folder.resolve(OWNER));
        try (Arena a = Arena.ofConfined()) {
            if (observer.isEmpty() || owner.isEmpty()) {
                return false;
            }
            MemorySegment key = a.allocate(JAVA_INT);
            MemorySegment held = a.allocate(JAVA_INT);
            if (!owner.get().map().lookup(key, held) || alive(held.get(JAVA_INT, 0))) {
                return false;
            }
            clearAbandoned(observer.get().map(), owner.get().map(), held.get(JAVA_INT, 0));
            return true;
        } finally {
            observer.ifPresent(Pins.PinnedMap::close);
            owner.ifPresent(Pins.PinnedMap::close);
        }
    }

    @Override
    public int parseSlotFd() {
        return parseSlot.map().fd();
    }

    @Override
    public synchronized void install(Program program) {
        if (!claimed) {
            throw new IllegalStateException("the enforcer's XDP hand-off is not claimed");
        }
        try (Arena a = Arena.ofConfined()) {
            observer.map().update(a.allocate(JAVA_INT), a.allocateFrom(JAVA_INT, program.fd()), BpfMap.ANY);
        }
        installedId = program.info().id();
    }

    @Override
    public synchronized List<String> ended() {
        List<String> now = new ArrayList<>();
        for (String name : interfaces) {
            if (!ended.contains(name) && !Files.exists(Enforcer.xdpLinkPin(folder, name))) {
                ended.add(name);
                now.add(name);
            }
        }
        return now;
    }

    /**
     * Takes this program out of the slot and gives the claim back; when the slot holds another program
     * of this process (an agent's reload installed its new probes' before closing the old), both stay.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return; // its fds are closed: their numbers may be another file's by now
        }
        closed = true;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment key = a.allocate(JAVA_INT);
            MemorySegment held = a.allocate(JAVA_INT);
            boolean slotHeld = observer.map().lookup(key, held); // a prog array answers with the program's id
            boolean ours = slotHeld && installedId != 0 && held.get(JAVA_INT, 0) == installedId;
            if (ours) {
                observer.map().delete(key);
            }
            installedId = 0;
            if (claimed && (ours || !slotHeld) && owner.map().lookup(key, held) && held.get(JAVA_INT, 0) == pid) {
                owner.map().delete(key);
            }
            claimed = false;
        } finally {
            parseSlot.close();
            observer.close();
            owner.close();
        }
    }
}
