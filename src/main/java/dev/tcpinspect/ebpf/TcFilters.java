package dev.tcpinspect.ebpf;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import dev.tcpinspect.os.Netns;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * clsact hooks and cls_bpf filters through libbpf's netlink calls ({@code bpf_tc_*}). These act in
 * the calling thread's network namespace and outlive the process, unlike BPF links.
 */
public final class TcFilters {
    private static final int EEXIST = 17;
    private static final int ENOENT = 2;
    private static final int HOOK_SIZE = 24;
    private static final int OPTS_SIZE = 32;
    private static final int BPF_TC_F_REPLACE = 1;

    private TcFilters() {}

    private static MemorySegment hook(Arena arena, int ifindex, TcDirection direction) {
        MemorySegment hook = arena.allocate(HOOK_SIZE, 8);
        hook.set(JAVA_LONG, 0, HOOK_SIZE);
        hook.set(JAVA_INT, 8, ifindex);
        hook.set(JAVA_INT, 12, direction.attachPoint);
        return hook;
    }

    private static MemorySegment opts(Arena arena, int progFd, int flags, TcFilterId id) {
        MemorySegment opts = arena.allocate(OPTS_SIZE, 8);
        opts.set(JAVA_LONG, 0, OPTS_SIZE);
        opts.set(JAVA_INT, 8, progFd);
        opts.set(JAVA_INT, 12, flags);
        opts.set(JAVA_INT, 20, id.handle());
        opts.set(JAVA_INT, 24, id.priority());
        return opts;
    }

    /** clsact qdiscs this process created ("netns inode:ifindex"): the only ones it may remove. */
    private static final Set<String> CREATED = ConcurrentHashMap.newKeySet();

    private static String key(int ifindex) {
        return Netns.currentInode() + ":" + ifindex;
    }

    /** Adds the clsact qdisc if missing (an existing one is fine). Returns true when this call created it. */
    public static boolean ensureClsact(int ifindex, TcDirection direction) {
        try (Arena arena = Arena.ofConfined()) {
            int rc = (int) Libbpf.TC_HOOK_CREATE.invokeExact(hook(arena, ifindex, direction));
            if (rc == -EEXIST) {
                return false;
            }
            Libbpf.check("bpf_tc_hook_create(ifindex " + ifindex + ")", rc);
            CREATED.add(key(ifindex));
            return true;
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    /** Attaches a direct-action cls_bpf filter; returns the kernel's program id. */
    static int attach(int ifindex, TcDirection direction, int progFd, TcFilterId id, boolean replace) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment opts = opts(arena, progFd, replace ? BPF_TC_F_REPLACE : 0, id);
            int rc = (int) Libbpf.TC_ATTACH.invokeExact(hook(arena, ifindex, direction), opts);
            Libbpf.check("bpf_tc_attach(ifindex " + ifindex + " " + direction.name().toLowerCase() + ")", rc);
            return opts.get(JAVA_INT, 16);
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    /**
     * Removes the clsact qdisc (both hooks) if this process created it and it carries no filter at
     * all any more. True when removed. A clsact that was there before is never touched.
     */
    public static boolean releaseClsact(int ifindex) {
        String key = key(ifindex);
        if (!CREATED.contains(key)) {
            return false;
        }
        if (TcFilterDump.count(ifindex, TcDirection.INGRESS) > 0 || TcFilterDump.count(ifindex, TcDirection.EGRESS) > 0) {
            return false;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment hook = arena.allocate(HOOK_SIZE, 8);
            hook.set(JAVA_LONG, 0, HOOK_SIZE);
            hook.set(JAVA_INT, 8, ifindex);
            hook.set(JAVA_INT, 12, TcDirection.INGRESS.attachPoint | TcDirection.EGRESS.attachPoint);
            int rc = (int) Libbpf.TC_HOOK_DESTROY.invokeExact(hook);
            CREATED.remove(key);
            if (rc == -ENOENT || rc == -22 || rc == -19) {
                return false;
            }
            Libbpf.check("bpf_tc_hook_destroy(ifindex " + ifindex + ")", rc);
            return true;
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    /** How many filters the clsact hook holds (0 without a clsact qdisc). */
    public static int count(int ifindex, TcDirection direction) {
        return TcFilterDump.count(ifindex, direction);
    }

    /** Removes exactly the filter named by id; false when it was not there. */
    public static boolean detach(int ifindex, TcDirection direction, TcFilterId id) {
        try (Arena arena = Arena.ofConfined()) {
            int rc = (int) Libbpf.TC_DETACH.invokeExact(hook(arena, ifindex, direction), opts(arena, 0, 0, id));
            if (rc == -ENOENT || rc == -19 /* ENODEV: the device is gone */ || rc == -22 /* EINVAL: no clsact */) {
                return false;
            }
            Libbpf.check("bpf_tc_detach(ifindex " + ifindex + ")", rc);
            return true;
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    /** The program attached as filter id, if any. */
    public static Optional<ProgramInfo> query(int ifindex, TcDirection direction, TcFilterId id) {
        int progId;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment opts = opts(arena, 0, 0, id);
            int rc = (int) Libbpf.TC_QUERY.invokeExact(hook(arena, ifindex, direction), opts);
            if (rc == -ENOENT || rc == -22 || rc == -19) {
                return Optional.empty();
            }
            Libbpf.check("bpf_tc_query(ifindex " + ifindex + ")", rc);
            progId = opts.get(JAVA_INT, 16);
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
        return Optional.of(Programs.info(progId));
    }

}
