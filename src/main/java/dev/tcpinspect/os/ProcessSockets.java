package dev.tcpinspect.os;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A process's TCP sockets as /proc shows them (its own network namespace's /proc/PID/net/tcp and
 * tcp6, and its descriptors in /proc/PID/fd): which of its descriptors hold the socket listening on
 * a port, and which hold the connections on that port.
 */
public final class ProcessSockets {
    private ProcessSockets() {}

    private static final String LISTEN = "0A";

    /** A socket of the process: its descriptor number there, its local port, whether it listens, its inode. */
    public record Socket(int fd, int localPort, boolean listening, long inode) {}

    /** The process's TCP sockets (IPv4 and IPv6) by descriptor; empty when it has none or is gone. */
    public static List<Socket> tcp(long pid) throws IOException {
        Map<Long, Socket> byInode = new HashMap<>();
        for (String table : List.of("tcp", "tcp6")) {
            Path file = Path.of("/proc", Long.toString(pid), "net", table);
            if (!Files.exists(file)) {
                continue;
            }
            List<String> lines = Files.readAllLines(file);
            for (String line : lines.subList(Math.min(1, lines.size()), lines.size())) {
                String[] f = line.trim().split("\\s+");
                if (f.length < 10) {
                    continue;
                }
                String local = f[1];
                int port = Integer.parseInt(local.substring(local.lastIndexOf(':') + 1), 16);
                long inode = Long.parseLong(f[9]);
                byInode.put(inode, new Socket(-1, port, f[3].equals(LISTEN), inode));
            }
        }
        List<Socket> sockets = new ArrayList<>();
        Path fds = Path.of("/proc", Long.toString(pid), "fd");
        try (var list = Files.list(fds)) {
            for (Path fd : (Iterable<Path>) list::iterator) {
                String target;
                try {
                    target = Files.readSymbolicLink(fd).toString();
                } catch (IOException gone) {
                    continue; // closed meanwhile
                }
                if (target.startsWith("socket:[")) {
                    Socket s = byInode.get(Long.parseLong(target.substring(8, target.length() - 1)));
                    if (s != null) {
                        sockets.add(new Socket(Integer.parseInt(fd.getFileName().toString()), s.localPort(), s.listening(),
                                s.inode()));
                    }
                }
            }
        }
        return sockets;
    }

    /**
     * The processes holding a descriptor of the socket with this inode (a pre-forked server's master
     * and workers share its listener), first first: a walk of every process's descriptors.
     */
    public static List<Long> holders(long inode, long first) {
        List<Long> pids = new ArrayList<>(List.of(first));
        String link = "socket:[" + inode + "]";
        try (var procs = Files.list(Path.of("/proc"))) {
            for (Path proc : (Iterable<Path>) procs::iterator) {
                String name = proc.getFileName().toString();
                if (!name.chars().allMatch(Character::isDigit) || Long.parseLong(name) == first) {
                    continue;
                }
                try (var fds = Files.list(proc.resolve("fd"))) {
                    for (Path fd : (Iterable<Path>) fds::iterator) {
                        try {
                            if (Files.readSymbolicLink(fd).toString().equals(link)) {
                                pids.add(Long.parseLong(name));
                                break;
                            }
                        } catch (IOException closed) {
                            // closed meanwhile
                        }
                    }
                } catch (IOException | java.io.UncheckedIOException gone) {
                    // ended meanwhile, or not ours to read
                }
            }
        } catch (IOException e) {
            // no /proc: the first process alone
        }
        return pids;
    }
}
