package dev.tcpinspect.os;

import java.util.Optional;

/**
 * A name this process holds in its network namespace while it runs, so that other processes can
 * tell a resource in use by a live process from one a killed process left behind. It is a Unix
 * socket bound in the abstract namespace: nothing on disk to clean up, and the kernel lets go of it
 * when the process exits, kill -9 included.
 */
public final class Claim implements AutoCloseable {
    private final String name;
    private int fd;

    private Claim(String name, int fd) {
        this.name = name;
        this.fd = fd;
    }

    /** Takes the name in the calling thread's network namespace; empty when a live process holds it. */
    public static Optional<Claim> tryTake(String name) {
        int fd = Libc.socket(Libc.AF_UNIX, Libc.SOCK_STREAM, 0);
        try {
            Libc.bindAbstract(fd, name);
            return Optional.of(new Claim(name, fd));
        } catch (SystemCallException e) {
            Libc.close(fd);
            if (e.errno() == Errno.EADDRINUSE) {
                return Optional.empty();
            }
            throw e;
        }
    }

    public String name() {
        return name;
    }

    @Override
    public synchronized void close() {
        if (fd >= 0) {
            Libc.close(fd);
            fd = -1;
        }
    }
}
