package dev.tcpinspect.os;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A handle on a network namespace (an open fd), and a way to run code inside it. Linux keeps the
 * network namespace per thread, so {@link #call} runs the task on a fresh platform thread that
 * joins the namespace and then ends; sockets and netlink requests made there belong to it.
 */
public final class Netns implements AutoCloseable {
    private final int fd;
    private final long inode;
    private final String description;
    private boolean closed;

    private Netns(int fd, long inode, String description) {
        this.fd = fd;
        this.inode = inode;
        this.description = description;
    }

    /** The namespace of the calling thread. */
    public static Netns current() {
        return open(Path.of("/proc/thread-self/ns/net"), "current");
    }

    /** A namespace named by {@code ip netns add NAME}. */
    public static Netns named(String name) {
        return open(Path.of("/run/netns", name), name);
    }

    /** The namespace a file names: /proc/PID/ns/net, or an ip netns bind mount. */
    public static Netns of(Path nsFile) {
        return open(nsFile, nsFile.toString());
    }

    private static Netns open(Path path, String description) {
        int fd = Libc.open(path.toString(), Libc.O_RDONLY | Libc.O_CLOEXEC);
        return new Netns(fd, inodeOf(path), description);
    }

    /** The inode number that identifies a namespace (what {@code ls -L -i} and lsns show). */
    public static long inodeOf(Path nsPath) {
        try {
            return (Long) Files.getAttribute(nsPath, "unix:ino");
        } catch (Exception e) {
            throw new IllegalStateException("cannot stat " + nsPath + ": " + e.getMessage(), e);
        }
    }

    public static long currentInode() {
        return inodeOf(Path.of("/proc/thread-self/ns/net"));
    }

    public long inode() {
        return inode;
    }

    /**
     * The namespace's cookie (SO_NETNS_COOKIE, kernel 5.14+): an inode number can be a new
     * namespace's once the old one is gone, a cookie is never reused while the system runs. 0 where
     * the kernel has none.
     */
    public long cookie() {
        return call(() -> {
            int fd = Libc.socket(Libc.AF_UNIX, Libc.SOCK_DGRAM, 0);
            try {
                return Libc.getsockoptLong(fd, Libc.SOL_SOCKET, Libc.SO_NETNS_COOKIE, "getsockopt(SO_NETNS_COOKIE)");
            } catch (SystemCallException e) {
                if (e.errno() == Errno.ENOPROTOOPT) {
                    return 0L;
                }
                throw e;
            } finally {
                Libc.close(fd);
            }
        });
    }

    /** Runs the task inside this namespace: inline when the caller is already there, else on a new thread. */
    public <T> T call(Callable<T> task) {
        if (currentInode() == inode) {
            try {
                return task.call();
            } catch (RuntimeException e) {
                throw e;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }
        AtomicReference<T> result = new AtomicReference<>();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread thread = Thread.ofPlatform().name("netns-" + description).unstarted(() -> {
            try {
                Libc.setns(fd, Libc.CLONE_NEWNET);
                result.set(task.call());
            } catch (Throwable t) {
                failure.set(t);
            }
        });
        thread.start();
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while working in netns " + description, e);
        }
        Throwable t = failure.get();
        if (t instanceof RuntimeException r) {
            throw r;
        }
        if (t instanceof Error err) {
            throw err;
        }
        if (t != null) {
            throw new IllegalStateException(new ExecutionException(t));
        }
        return result.get();
    }

    public void run(Runnable task) {
        call(() -> {
            task.run();
            return null;
        });
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            Libc.close(fd);
        }
    }

    @Override
    public String toString() {
        return "netns " + description + " (inode " + inode + ")";
    }
}
