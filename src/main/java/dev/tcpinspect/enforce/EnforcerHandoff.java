package dev.tcpinspect.enforce;

import static java.lang.foreign.ValueLayout.JAVA_INT;

import dev.tcpinspect.ebpf.BpfMap;
import dev.tcpinspect.ebpf.Pins;
import dev.tcpinspect.ebpf.Program;
import dev.tcpinspect.os.Claim;
import dev.tcpinspect.probe.XdpHandoff;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The running enforcer's hand-off to a watch's XDP probes (bpf/lib/handoff.h), through its pins:
 * the parse slot, the observer slot (a program array of one) and the pid of the watch or agent
 * holding it (for lines; the hold itself is an os.Claim in the enforcer's namespace). An interface has room for one XDP program: with this, {@code watch
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
    private final int pid = (int) ProcessHandle.current().pid(); // noted in the slot's owner table, for lines
    private boolean claimed;
    private Program installed;
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
     * The hand-off of the enforcer of the namespace, for those of the interfaces it protects; empty
     * when no enforcer runs there (or what is pinned is a deleted namespace's that had its inode) or
     * it protects none of them.
     */
    public static Optional<EnforcerHandoff> find(dev.tcpinspect.os.Netns namespace, Collection<String> interfaces) {
        Path folder = Enforcer.folder(namespace.inode());
        if (Enforcer.ofAnotherNamespace(folder, namespace.cookie())) {
            return Optional.empty();
        }
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

    /**
     * The claims this process holds, by enforcer folder, with the hand-offs sharing each in the order
     * they installed: an agent's reload claims for its new probes before the old ones let go, and a
     * reload that fails closes the new ones while the old run on.
     */
    private static final Map<Path, Holding> HELD = new HashMap<>();

    private static final class Holding {
        final Claim claim;
        final List<EnforcerHandoff> users = new ArrayList<>();

        Holding(Claim claim) {
            this.claim = claim;
        }
    }

    /** The name held while a process's probes are behind the enforcer of folder (os.Claim: scoped to its namespace). */
    private static String claimName(Path folder) {
        return "tcpinspect-xdp-observer-" + folder.getFileName();
    }

    /**
     * Takes the observer slot: a name in the enforcer's network namespace (os.Claim), which the
     * kernel lets go of when its process ends, kill -9 included, whatever pid namespace it ran in.
     * Call it in that namespace. A name taken means a live holder: refused, naming the pid it noted.
     * Taking it means whatever is in the slot is a dead holder's: taken out first.
     */
    @Override
    public void claim() {
        synchronized (HELD) {
            Holding held = HELD.get(folder);
            if (held != null) {
                held.users.add(this); // this process's probes again: they take the slot over from its earlier ones
                claimed = true;
                return;
            }
            Optional<Claim> taken = Claim.tryTake(claimName(folder));
            if (taken.isEmpty()) {
                int holder = notedOwner(owner.map());
                throw new IllegalStateException(String.join(", ", interfaces) + ": the enforcer there hands its packets"
                        + " to the XDP probes of another tcpinspect already" + (holder == 0 ? "" : " (pid " + holder + ")")
                        + "; one at a time runs behind it: stop that one, or watch without --xdp (TC ingress sees what"
                        + " the enforcer passed too)");
            }
            held = new Holding(taken.get());
            held.users.add(this);
            HELD.put(folder, held);
            claimed = true;
            takeOut(observer.map(), owner.map()); // a dead holder's, if any
            try (Arena a = Arena.ofConfined()) {
                owner.map().update(a.allocate(JAVA_INT), a.allocateFrom(JAVA_INT, pid), BpfMap.ANY);
            }
        }
    }

    /** The pid the slot's holder noted (for lines only), or 0. */
    private static int notedOwner(BpfMap owner) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment held = a.allocate(JAVA_INT);
            return owner.lookup(a.allocate(JAVA_INT), held) ? held.get(JAVA_INT, 0) : 0;
        }
    }

    /** Empties the observer slot and the noted owner. */
    private static void takeOut(BpfMap observer, BpfMap owner) {
        try (Arena a = Arena.ofConfined()) {
            observer.delete(a.allocate(JAVA_INT));
            owner.delete(a.allocate(JAVA_INT));
        }
    }

    /**
     * Takes out what a watch killed with -9 left behind the enforcer of that folder, whose network
     * namespace the calling thread must be in: its program in the observer slot and its noted pid.
     * True when there was something to take out; nothing is touched while a live process holds the slot.
     */
    public static boolean clearAbandoned(Path folder) {
        synchronized (HELD) {
            return clearAbandonedHere(folder);
        }
    }

    private static boolean clearAbandonedHere(Path folder) {
        Optional<Pins.PinnedMap> observer = Pins.openMap(folder.resolve(OBSERVER));
        Optional<Pins.PinnedMap> owner = Pins.openMap(folder.resolve(OWNER));
        try (Arena a = Arena.ofConfined()) {
            if (observer.isEmpty() || owner.isEmpty()) {
                return false;
            }
            boolean occupied = observer.get().map().lookup(a.allocate(JAVA_INT), a.allocate(JAVA_INT));
            if (!occupied || HELD.containsKey(folder)) {
                return false;
            }
            Optional<Claim> free = Claim.tryTake(claimName(folder));
            if (free.isEmpty()) {
                return false; // a live holder
            }
            try (Claim c = free.get()) {
                takeOut(observer.get().map(), owner.get().map());
            }
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
    public void install(Program program) {
        synchronized (HELD) {
            if (!claimed) {
                throw new IllegalStateException("the enforcer's XDP hand-off is not claimed");
            }
            int id = program.info().id(); // first: a failure leaves the slot as it was
            put(program);
            installed = program;
            installedId = id;
        }
    }

    private void put(Program program) {
        try (Arena a = Arena.ofConfined()) {
            observer.map().update(a.allocate(JAVA_INT), a.allocateFrom(JAVA_INT, program.fd()), BpfMap.ANY);
        }
    }

    /**
     * Covered interfaces whose enforcer has gone since the last call: its link's pin is gone, or the
     * observer slot pinned now is another map (an enforcer stopped and started again within a check:
     * it hands its packets to a slot this program is not in). Once every one has ended, the claim is
     * given back, so that a watch may run behind the next enforcer.
     */
    @Override
    public List<String> ended() {
        synchronized (HELD) {
            if (closed) {
                return List.of();
            }
            boolean sameSlot;
            Optional<Pins.PinnedMap> now = Pins.openMap(folder.resolve(OBSERVER));
            try {
                sameSlot = now.isPresent() && now.get().id() == observer.id();
            } finally {
                now.ifPresent(Pins.PinnedMap::close);
            }
            List<String> newly = new ArrayList<>();
            for (String name : interfaces) {
                if (!ended.contains(name) && (!sameSlot || !Files.exists(Enforcer.xdpLinkPin(folder, name)))) {
                    ended.add(name);
                    newly.add(name);
                }
            }
            if (!newly.isEmpty() && ended.size() == interfaces.size()) {
                release();
            }
            return newly;
        }
    }

    /** Gives the claim back (this process's last user closes the name); the slot is left as it is. */
    private void release() {
        Holding held = claimed ? HELD.get(folder) : null;
        claimed = false;
        if (held != null) {
            held.users.remove(this);
            if (held.users.isEmpty()) {
                held.claim.close();
                HELD.remove(folder);
            }
        }
    }

    /**
     * Takes this program out of the slot and gives the claim back. Where this process's other probes
     * share the claim (an agent's reload), the slot goes back to the latest of theirs, and the claim stays.
     */
    @Override
    public void close() {
        synchronized (HELD) {
            if (closed) {
                return; // its fds are closed: their numbers may be another file's by now
            }
            closed = true;
            try (Arena a = Arena.ofConfined()) {
                Holding held = claimed ? HELD.get(folder) : null;
                if (held != null) {
                    held.users.remove(this);
                }
                MemorySegment key = a.allocate(JAVA_INT);
                MemorySegment inSlot = a.allocate(JAVA_INT);
                // a prog array answers a lookup with the program's id
                if (installedId != 0 && observer.map().lookup(key, inSlot) && inSlot.get(JAVA_INT, 0) == installedId) {
                    EnforcerHandoff other = held == null ? null : held.users.reversed().stream()
                            .filter(h -> h.installed != null).findFirst().orElse(null);
                    if (other != null) {
                        put(other.installed);
                    } else {
                        observer.map().delete(key);
                    }
                }
                if (held != null && held.users.isEmpty()) {
                    owner.map().delete(key);
                    held.claim.close();
                    HELD.remove(folder);
                }
            } finally {
                installed = null;
                installedId = 0;
                claimed = false;
                parseSlot.close();
                observer.close();
                owner.close();
            }
        }
    }
}
