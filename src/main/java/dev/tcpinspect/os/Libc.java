package dev.tcpinspect.os;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

/** The few libc calls tcpinspect needs, each returning its result or throwing {@link SystemCallException}. */
public final class Libc {
    private static final SymbolLookup LIBC = Native.LINKER.defaultLookup();

    public static final int O_RDONLY = 0;
    public static final int O_RDWR = 2;
    public static final int O_CLOEXEC = 0x80000;
    public static final int CLONE_NEWNET = 0x40000000;
    public static final int PROT_READ = 1;
    public static final int PROT_WRITE = 2;
    public static final int MAP_SHARED = 1;
    public static final int EPOLLIN = 1;
    public static final int EPOLL_CTL_ADD = 1;
    public static final int AF_UNIX = 1;
    public static final int SOCK_STREAM = 1;
    public static final int AF_INET = 2;
    public static final int SOCK_DGRAM = 2;
    public static final int SOL_SOCKET = 1;
    /** The network namespace's cookie (kernel 5.14+): unlike its inode, never given to another namespace. */
    public static final int SO_NETNS_COOKIE = 71;
    public static final int SO_ATTACH_BPF = 50;
    public static final int SO_DETACH_BPF = 27;
    public static final int AF_NETLINK = 16;
    public static final int SOCK_RAW = 3;
    public static final int SIGHUP = 1;
    public static final int SIGINT = 2;
    public static final int SIGTERM = 15;
    public static final int SIGSTOP = 19;
    private static final long SIG_IGN = 1;
    /** struct sigaction is 152 bytes on x86_64 and arm64 glibc; the handler comes first. */
    private static final long SIGACTION_BYTES = 256;

    private static final MethodHandle OPEN = fn("open", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle CLOSE = fn("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle SETNS = fn("setns", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle SETGROUPS = fn("setgroups", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS));
    private static final MethodHandle SETRESGID = fn("setresgid",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle SETRESUID = fn("setresuid",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle MMAP = fn("mmap",
            FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG));
    private static final MethodHandle MUNMAP = fn("munmap", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle EPOLL_CREATE1 = fn("epoll_create1", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle EPOLL_CTL = fn("epoll_ctl",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle EPOLL_WAIT = fn("epoll_wait",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
    private static final MethodHandle SOCKET = fn("socket", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle BIND = fn("bind", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle SETSOCKOPT = fn("setsockopt",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle GETSOCKOPT = fn("getsockopt",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle SEND = fn("send",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    private static final MethodHandle RECV = fn("recv",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    private static final MethodHandle IF_NAMETOINDEX = fn("if_nametoindex", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle IF_INDEXTONAME = fn("if_indextoname", FunctionDescriptor.of(ADDRESS, JAVA_INT, ADDRESS));
    private static final MethodHandle MOUNT = fn("mount",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS));
    private static final MethodHandle SIGACTION = fn("sigaction",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle RAISE = fn("raise", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle SIGNAL = fn("signal", FunctionDescriptor.of(ADDRESS, JAVA_INT, ADDRESS));
    private static final MethodHandle SYSCONF = Native.downcall(LIBC, "libc", "sysconf",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT), false);
    private static final int SC_PAGESIZE = 30;
    private static final MethodHandle GETEUID = Native.downcall(LIBC, "libc", "geteuid",
            FunctionDescriptor.of(JAVA_INT), false);
    private static final MethodHandle STRERRORNAME_NP = Native.downcall(LIBC, "libc", "strerrorname_np",
            FunctionDescriptor.of(ADDRESS, JAVA_INT), false);
    private static final MethodHandle STRERROR = Native.downcall(LIBC, "libc", "strerror",
            FunctionDescriptor.of(ADDRESS, JAVA_INT), false);

    private Libc() {}

    private static MethodHandle fn(String name, FunctionDescriptor descriptor) {
        return Native.downcall(LIBC, "libc", name, descriptor, true);
    }

    private static int check(String call, int rc) {
        if (rc < 0) {
            throw new SystemCallException(call, Native.lastErrno());
        }
        return rc;
    }

    public static int open(String path, int flags) {
        try (Arena arena = Arena.ofConfined()) {
            return check("open(" + path + ")", (int) OPEN.invokeExact(Native.errnoSlot(), arena.allocateFrom(path), flags));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static void close(int fd) {
        try {
            int rc = (int) CLOSE.invokeExact(Native.errnoSlot(), fd);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Sends a signal to this process's calling thread (SIGSTOP stops the whole process). */
    public static void raise(int signal) {
        try {
            check("raise", (int) RAISE.invokeExact(Native.errnoSlot(), signal));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * Gives a signal its default action back when whoever started this process left it ignored (a
     * shell does that to SIGINT for the background jobs of a script), since the JVM never handles a
     * signal it finds ignored. Leaves a handled or default signal alone. True when it was ignored.
     */
    public static boolean restoreIfIgnored(int signal) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment current = arena.allocate(SIGACTION_BYTES, 8);
            check("sigaction", (int) SIGACTION.invokeExact(Native.errnoSlot(), signal, MemorySegment.NULL, current));
            if (current.get(JAVA_LONG, 0) != SIG_IGN) {
                return false;
            }
            MemorySegment before = (MemorySegment) SIGNAL.invokeExact(Native.errnoSlot(), signal, MemorySegment.NULL);
            if (before.address() == -1L) { // SIG_ERR
                throw new SystemCallException("signal", Native.lastErrno());
            }
            return true;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static void setns(int fd, int nstype) {
        try {
            check("setns", (int) SETNS.invokeExact(Native.errnoSlot(), fd, nstype));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * Becomes uid and gid in every thread of the process: glibc's set*id calls reach each thread
     * (its setxid broadcast), where the system calls would change only the caller's. Leaving uid 0
     * this way also clears every thread's capabilities (capabilities(7), SECBIT_KEEP_CAPS unset).
     */
    public static void becomeUser(int uid, int gid) {
        try {
            check("setgroups", (int) SETGROUPS.invokeExact(Native.errnoSlot(), 0L, MemorySegment.NULL));
            check("setresgid", (int) SETRESGID.invokeExact(Native.errnoSlot(), gid, gid, gid));
            check("setresuid", (int) SETRESUID.invokeExact(Native.errnoSlot(), uid, uid, uid));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static MemorySegment mmap(long length, int prot, int flags, int fd, long offset) {
        try {
            MemorySegment p = (MemorySegment) MMAP.invokeExact(Native.errnoSlot(), MemorySegment.NULL, length,
                    prot, flags, fd, offset);
            if (p.address() == -1L) {
                throw new SystemCallException("mmap", Native.lastErrno());
            }
            return p.reinterpret(length);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static void munmap(MemorySegment segment) {
        try {
            check("munmap", (int) MUNMAP.invokeExact(Native.errnoSlot(), segment, segment.byteSize()));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int epollCreate() {
        try {
            return check("epoll_create1", (int) EPOLL_CREATE1.invokeExact(Native.errnoSlot(), O_CLOEXEC));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Registers fd for EPOLLIN; the event's data is the fd itself. */
    public static void epollAdd(int epfd, int fd) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment event = arena.allocate(12); // struct epoll_event is packed on x86_64
            event.set(JAVA_INT, 0, EPOLLIN);
            event.set(JAVA_INT.withByteAlignment(1), 4, fd);
            check("epoll_ctl", (int) EPOLL_CTL.invokeExact(Native.errnoSlot(), epfd, EPOLL_CTL_ADD, fd, event));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Waits for events; returns how many are ready, 0 on timeout or EINTR. */
    public static int epollWait(int epfd, MemorySegment events, int maxEvents, int timeoutMillis) {
        try {
            int n = (int) EPOLL_WAIT.invokeExact(Native.errnoSlot(), epfd, events, maxEvents, timeoutMillis);
            if (n < 0) {
                int errno = Native.lastErrno();
                if (errno == Errno.EINTR) {
                    return 0;
                }
                throw new SystemCallException("epoll_wait", errno);
            }
            return n;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * System calls glibc wraps only from 2.36 on (pidfd_open, pidfd_getfd): through syscall(2), made
     * when first used, so that an older glibc loads this class and everything else still works.
     */
    private static final class Syscalls {
        static final MethodHandle SYSCALL = Native.downcallVariadic(LIBC, "libc", "syscall",
                FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG), 1);
        /** The numbers of the generic system call table, which x86-64 and arm64 share for these. */
        static final long PIDFD_OPEN = 434;
        static final long PIDFD_GETFD = 438;
    }

    /** A file descriptor that refers to the process pid (pidfd_open, Linux 5.3). */
    public static int pidfdOpen(long pid) {
        try {
            return check("pidfd_open(" + pid + ")", (int) (long) Syscalls.SYSCALL.invokeExact(Native.errnoSlot(),
                    Syscalls.PIDFD_OPEN, pid, 0L, 0L));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * A duplicate, in this process, of the process's file descriptor targetFd (pidfd_getfd, Linux
     * 5.6): the same open file, close-on-exec here. Needs ptrace rights over it (root, CAP_SYS_PTRACE).
     */
    public static int pidfdGetfd(int pidfd, int targetFd) {
        try {
            return check("pidfd_getfd(" + targetFd + ")", (int) (long) Syscalls.SYSCALL.invokeExact(Native.errnoSlot(),
                    Syscalls.PIDFD_GETFD, (long) pidfd, (long) targetFd, 0L));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int socket(int domain, int type, int protocol) {
        try {
            return check("socket", (int) SOCKET.invokeExact(Native.errnoSlot(), domain, type | O_CLOEXEC, protocol));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * Binds a Unix socket to a name in the abstract namespace (no file; scoped to the calling
     * thread's network namespace; released when the socket closes, also when its process dies).
     */
    public static void bindAbstract(int fd, String name) {
        byte[] bytes = name.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        if (bytes.length > 107) {
            throw new IllegalArgumentException("abstract socket name too long: " + name);
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment addr = arena.allocate(110);
            addr.set(java.lang.foreign.ValueLayout.JAVA_SHORT, 0, (short) AF_UNIX);
            // sun_path[0] stays 0: the abstract namespace
            MemorySegment.copy(bytes, 0, addr, java.lang.foreign.ValueLayout.JAVA_BYTE, 3, bytes.length);
            check("bind(@" + name + ")", (int) BIND.invokeExact(Native.errnoSlot(), fd, addr, 3 + bytes.length));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static void setsockoptInt(int fd, int level, int option, int value, String what) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocateFrom(JAVA_INT, value);
            check(what, (int) SETSOCKOPT.invokeExact(Native.errnoSlot(), fd, level, option, v, 4));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** A socket option that is a 64-bit number (SO_NETNS_COOKIE). */
    /** SO_GET_FILTER (getsockopt): asked with no room, the number of a classic filter's blocks. */
    public static final int SO_GET_FILTER = 26;

    /** What socket filter a socket carries: none, a classic one (cBPF), or an eBPF program. */
    public enum SocketFilter { NONE, CLASSIC, EBPF }

    /** The socket's filter as SO_GET_FILTER tells it: 0 blocks is none; EACCES is an eBPF program. */
    public static SocketFilter socketFilter(int fd) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment length = arena.allocateFrom(JAVA_INT, 0);
            int rc = (int) GETSOCKOPT.invokeExact(Native.errnoSlot(), fd, SOL_SOCKET, SO_GET_FILTER, MemorySegment.NULL,
                    length);
            if (rc < 0) {
                int errno = Native.lastErrno();
                if (errno == Errno.EACCES) {
                    return SocketFilter.EBPF;
                }
                throw new SystemCallException("getsockopt(SO_GET_FILTER)", errno);
            }
            return length.get(JAVA_INT, 0) > 0 ? SocketFilter.CLASSIC : SocketFilter.NONE;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static long getsockoptLong(int fd, int level, int option, String what) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(JAVA_LONG);
            MemorySegment length = arena.allocateFrom(JAVA_INT, 8);
            check(what, (int) GETSOCKOPT.invokeExact(Native.errnoSlot(), fd, level, option, v, length));
            return v.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static long send(int fd, MemorySegment data, long length) {
        try {
            long n = (long) SEND.invokeExact(Native.errnoSlot(), fd, data, length, 0);
            if (n < 0) {
                throw new SystemCallException("send", Native.lastErrno());
            }
            return n;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static long recv(int fd, MemorySegment buffer) {
        try {
            long n = (long) RECV.invokeExact(Native.errnoSlot(), fd, buffer, buffer.byteSize(), 0);
            if (n < 0) {
                throw new SystemCallException("recv", Native.lastErrno());
            }
            return n;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The interface's index in the calling thread's network namespace, or 0 when it has none. */
    public static int ifNameToIndex(String name) {
        try (Arena arena = Arena.ofConfined()) {
            return (int) IF_NAMETOINDEX.invokeExact(Native.errnoSlot(), arena.allocateFrom(name));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * The name of the interface with this index in the calling thread's network namespace (asked of
     * the kernel through a socket made there, not /sys, which shows the namespace it was mounted in),
     * or null when no interface has it.
     */
    public static String ifIndexToName(int ifindex) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment name = arena.allocate(16); // IF_NAMESIZE
            MemorySegment r = (MemorySegment) IF_INDEXTONAME.invokeExact(Native.errnoSlot(), ifindex, name);
            return r.address() == 0 ? null : name.getString(0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static void mount(String source, String target, String fsType) {
        try (Arena arena = Arena.ofConfined()) {
            check("mount(" + fsType + " on " + target + ")", (int) MOUNT.invokeExact(Native.errnoSlot(),
                    arena.allocateFrom(source), arena.allocateFrom(target), arena.allocateFrom(fsType), 0L,
                    MemorySegment.NULL));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The size of a memory page, as the kernel maps ring buffers and mmapable maps. */
    public static long pageSize() {
        try {
            return (long) SYSCONF.invokeExact(SC_PAGESIZE);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int geteuid() {
        try {
            return (int) GETEUID.invokeExact();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** "EPERM" for 1, and so on, from glibc itself. */
    public static String errnoName(int errno) {
        try {
            String name = Native.string((MemorySegment) STRERRORNAME_NP.invokeExact(errno));
            return name != null ? name : "errno " + errno;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static String strerror(int errno) {
        try {
            return Native.string((MemorySegment) STRERROR.invokeExact(errno));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            return r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException(t);
    }
}
