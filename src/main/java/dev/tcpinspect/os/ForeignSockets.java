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
 * taking those sockets (pidfd_getfd), detaching from them, and a record of each while it is
 * attached (a file in /run/tcpinspect/sockets and a claim the watch holds), so that after a kill -9
 * `tcpinspect cleanup`, or the next watch of the same listener, finds and removes what is left.
 */
public final class ForeignSockets {
    private ForeignSockets() {}

    static final Path ROOT = Path.of("/run/tcpinspect/sockets");

    /** What to do with a duplicate of one of the process's sockets; the caller owns it then. */
    public interface Taken {
        void with(int fd);
    }

    /**
     * Duplicates of the process's TCP sockets on the local port, its listeners or its connections,
     * each handed to the action. Sockets closed meanwhile are skipped.
     */
    public static void take(long pid, int port, boolean listening, Taken action) {
        List<ProcessSockets.Socket> sockets;
        try {
            sockets = ProcessSockets.tcp(pid).stream()
                    .filter(s -> s.localPort() == port && s.listening() == listening).toList();
        } catch (IOException e) {
            throw new UncheckedIOException("reading process " + pid + "'s sockets", e);
        }
        if (sockets.isEmpty()) {
            return;
        }
        int pidfd = Libc.pidfdOpen(pid);
        try {
            for (ProcessSockets.Socket s : sockets) {
                int fd;
                try {
                    fd = Libc.pidfdGetfd(pidfd, s.fd());
                } catch (SystemCallException closed) {
                    continue;
                }
                action.with(fd);
            }
        } finally {
            Libc.close(pidfd);
        }
    }

    /** Detaches whatever socket filter the process's sockets on the port carry (listeners and connections). */
    public static int detachAll(long pid, int port) {
        int[] detached = {0};
        for (boolean listening : new boolean[] {true, false}) {
            take(pid, port, listening, fd -> {
                try {
                    Libc.setsockoptInt(fd, Libc.SOL_SOCKET, Libc.SO_DETACH_BPF, 0, "setsockopt(SO_DETACH_BPF)");
                    detached[0]++;
                } catch (SystemCallException none) {
                    // no filter on that one (a connection accepted before, or after, the watch)
                } finally {
                    Libc.close(fd);
                }
            });
        }
        return detached[0];
    }

    private static String name(long pid, int port) {
        return pid + "-" + port;
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
            } catch (IOException e) {
                // a record left: cleanup finds its claim free and removes it with what it names
            } finally {
                claim.close();
            }
        }
    }

    /**
     * Records that this process attaches to the listener; refused when another live tcpinspect
     * holds it. What a killed holder left on those sockets is removed first.
     */
    public static Hold hold(long pid, int port) {
        Optional<Claim> claim = Claim.tryTake("tcpinspect-socket-" + name(pid, port));
        if (claim.isEmpty()) {
            throw new IllegalStateException("another tcpinspect watches the listener on port " + port + " of process "
                    + pid + "; one at a time (its filter would replace the other's)");
        }
        Path file = ROOT.resolve(name(pid, port));
        try {
            if (Files.exists(file)) {
                detachAll(pid, port); // a killed watch's filter, still on the connections it saw accepted
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
            long pid;
            int port;
            try {
                pid = Long.parseLong(parts[0]);
                port = Integer.parseInt(parts[1]);
            } catch (RuntimeException notOurs) {
                continue;
            }
            Optional<Claim> free = Claim.tryTake("tcpinspect-socket-" + name(pid, port));
            if (free.isEmpty()) {
                continue; // a running watch holds it
            }
            try (Claim c = free.get()) {
                int detached = ProcessHandle.of(pid).isPresent() ? detachAll(pid, port) : 0;
                Files.deleteIfExists(record);
                removed.add("removed the socket filter a killed watch left on port " + port + " of process " + pid + " ("
                        + detached + " socket(s))");
            } catch (IOException | RuntimeException e) {
                removed.add("could not remove the socket filter left on port " + port + " of process " + pid + ": "
                        + e.getMessage());
            }
        }
        return removed;
    }
}
