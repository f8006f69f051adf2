package dev.tcpinspect.os;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Socket filters tcpinspect attaches to another process's TCP sockets (watch --socket PID:PORT):
 * taking those sockets (pidfd_getfd), checking the duplicate is the socket /proc named, attaching
 * and detaching, and a record of each listener while a watch is attached to it (a file in
 * /run/tcpinspect/sockets and a claim named after the listener's inode), so that after a kill -9
 * `tcpinspect cleanup`, or the next watch of the same listener, removes what is left. Nothing here
 * keeps another process's socket open: each duplicate is closed as soon as it served.
 */
public final class ForeignSockets {
    private ForeignSockets() {}

    static final Path ROOT = Path.of("/run/tcpinspect/sockets");

    /** A process's listening socket: its descriptor there and the socket's inode. */
    public record Listener(long pid, int port, int fd, long inode) {}

    /** What to do with a duplicate of a socket; it is closed after. */
    public interface WithSocket {
        void with(int fd);
    }

    /** The process's TCP sockets listening on the port (IPv4 and IPv6). */
    public static List<Listener> listeners(long pid, int port) {
        try {
            return ProcessSockets.tcp(pid).stream().filter(s -> s.listening() && s.localPort() == port)
                    .map(s -> new Listener(pid, port, s.fd(), s.inode())).toList();
        } catch (IOException e) {
            throw new UncheckedIOException("reading process " + pid + "'s sockets", e);
        }
    }

    /**
     * Each socket of the process that is inode's (listening or not, on the port), duplicated, handed
     * to the action and closed again. A descriptor whose number now names another socket (the
     * process closed it and reused the number since /proc was read) is left alone.
     */
    private static void each(long pid, List<ProcessSockets.Socket> sockets, WithSocket action) {
        if (sockets.isEmpty()) {
            return;
        }
        int pidfd;
        try {
            pidfd = Libc.pidfdOpen(pid);
        } catch (SystemCallException gone) {
            return; // the process ended: its sockets, and any filter on them, with it
        }
        try {
            for (ProcessSockets.Socket s : sockets) {
                int fd;
                try {
                    fd = Libc.pidfdGetfd(pidfd, s.fd());
                } catch (SystemCallException e) {
                    if (e.errno() == Errno.EPERM) {
                        throw new IllegalStateException("tcpinspect may not take process " + pid + "'s sockets: that"
                                + " takes root or CAP_SYS_PTRACE over it (and kernel.yama.ptrace_scope below 3)");
                    }
                    continue; // closed meanwhile
                }
                try {
                    if (isSocket(fd, s.inode())) {
                        action.with(fd);
                    }
                } finally {
                    Libc.close(fd);
                }
            }
        } finally {
            Libc.close(pidfd);
        }
    }

    private static boolean isSocket(int fd, long inode) {
        try {
            return Files.readSymbolicLink(Path.of("/proc/self/fd/" + fd)).toString().equals("socket:[" + inode + "]");
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Attaches the program to the listener (the duplicate is closed right after: the filter stays on
     * the socket, which the service alone keeps open). Refused when it carries a filter of its own.
     */
    public static void attach(Listener l, int programFd) {
        boolean[] done = {false};
        each(l.pid(), List.of(new ProcessSockets.Socket(l.fd(), l.port(), true, l.inode())), fd -> {
            Libc.SocketFilter present = Libc.socketFilter(fd);
            if (present != Libc.SocketFilter.NONE) {
                throw new InputRefusedException("process " + l.pid() + "'s socket listening on port " + l.port()
                        + " has a socket filter of its own (" + present.name().toLowerCase() + "); tcpinspect would"
                        + " replace it: watch that service by its interfaces instead");
            }
            Libc.setsockoptInt(fd, Libc.SOL_SOCKET, Libc.SO_ATTACH_BPF, programFd, "setsockopt(SO_ATTACH_BPF)");
            done[0] = true;
        });
        if (!done[0]) {
            throw new IllegalStateException("process " + l.pid() + " no longer listens on port " + l.port());
        }
    }

    /**
     * Detaches whatever filter these sockets carry: the listener first, so that no connection it
     * accepts from then on inherits it, then the connections on the port of every process that
     * holds the listener (a pre-forked server accepts in its workers), twice, for those accepted
     * while the first pass ran. Connections still in the accept queue, and those the service closed
     * that the kernel has not freed yet, keep it until they go (no descriptor reaches them).
     */
    public static int detach(Listener l) {
        int[] detached = {0};
        WithSocket off = fd -> {
            try {
                Libc.setsockoptInt(fd, Libc.SOL_SOCKET, Libc.SO_DETACH_BPF, 0, "setsockopt(SO_DETACH_BPF)");
                detached[0]++;
            } catch (SystemCallException none) {
                // no filter on that one (a connection accepted before or after the watch)
            }
        };
        each(l.pid(), List.of(new ProcessSockets.Socket(l.fd(), l.port(), true, l.inode())), off);
        for (int pass = 0; pass < 2; pass++) {
            for (long pid : ProcessSockets.holders(l.inode(), l.pid())) {
                try {
                    each(pid, ProcessSockets.tcp(pid).stream().filter(s -> !s.listening() && s.localPort() == l.port())
                            .toList(), off);
                } catch (IOException gone) {
                    // that process ended
                }
            }
        }
        return detached[0];
    }

    private static String claimName(long inode) {
        return "tcpinspect-socket-" + inode;
    }

    /** The record of a listener a watch attached to, held while it runs. */
    public static final class Hold implements AutoCloseable {
        private final Claim claim;
        private final Path file;

        private Hold(Claim claim, Path file) {
            this.claim = claim;
            this.file = file;
        }

        @Override
        public void close() {
            try {
                Files.deleteIfExists(file);
                removeEmptyFolders();
            } catch (IOException e) {
                // a record left: cleanup finds its claim free and removes it with what it names
            } finally {
                claim.close();
            }
        }
    }

    /** The records' folder, and /run/tcpinspect, when nothing is left in them: nothing stays behind. */
    private static void removeEmptyFolders() {
        for (Path folder : List.of(ROOT, ROOT.getParent())) {
            try {
                Files.deleteIfExists(folder);
            } catch (IOException notEmpty) {
                return; // another watch's record, or the enforcer's lock
            }
        }
    }

    /**
     * Records that this process attaches to the listener; refused when another live tcpinspect
     * holds it. What a killed holder left on its sockets is removed first.
     */
    public static Hold hold(Listener l) {
        Optional<Claim> claim = Claim.tryTake(claimName(l.inode()));
        if (claim.isEmpty()) {
            throw new InputRefusedException("another tcpinspect watches the listener on port " + l.port() + " of process "
                    + l.pid() + "; one at a time (its filter would replace the other's)");
        }
        Path file = ROOT.resolve(l.pid() + "-" + l.port() + "-" + l.inode());
        try {
            if (Files.exists(file)) {
                detach(l); // a killed watch's filter, on the listener and the connections it saw accepted
            }
            Files.createDirectories(ROOT);
            Files.writeString(file, ProcessHandle.current().pid() + "\n");
        } catch (IOException | RuntimeException e) {
            claim.get().close();
            throw new IllegalStateException("cannot record the listener in " + ROOT + ": " + e.getMessage(), e);
        }
        return new Hold(claim.get(), file);
    }

    /**
     * Removes what killed watches left (their records, whose claims are free): the filters on the
     * sockets they name, when the process still runs. Returns what it removed, a line each.
     */
    public static List<String> removeLeftovers() {
        List<String> removed = new ArrayList<>();
        List<Path> records;
        try (var list = Files.list(ROOT)) {
            records = list.toList();
        } catch (IOException none) {
            return removed;
        }
        for (Path record : records) {
            String[] parts = record.getFileName().toString().split("-");
            Listener l;
            try {
                l = new Listener(Long.parseLong(parts[0]), Integer.parseInt(parts[1]), -1, Long.parseLong(parts[2]));
            } catch (RuntimeException notOurs) {
                continue;
            }
            Optional<Claim> free = Claim.tryTake(claimName(l.inode()));
            if (free.isEmpty()) {
                continue; // a running watch holds it
            }
            try (Claim c = free.get()) {
                int detached = 0;
                if (ProcessHandle.of(l.pid()).isPresent()) {
                    for (Listener now : listeners(l.pid(), l.port())) {
                        if (now.inode() == l.inode()) {
                            detached += detach(now);
                        }
                    }
                }
                Files.deleteIfExists(record);
                removeEmptyFolders();
                removed.add("removed the socket filter a killed watch left on port " + l.port() + " of process " + l.pid()
                        + " (" + detached + " socket(s))");
            } catch (IOException | RuntimeException e) {
                removed.add("could not remove the socket filter left on port " + l.port() + " of process " + l.pid()
                        + ": " + e.getMessage());
            }
        }
        return removed;
    }
}
