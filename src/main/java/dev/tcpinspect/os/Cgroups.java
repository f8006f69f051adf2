package dev.tcpinspect.os;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/** What a cgroup v2 directory says about itself: its id, and the network namespaces its processes are in. */
public final class Cgroups {
    private Cgroups() {}

    /** The cgroup's id: its directory's inode (cgroup2 numbers its directories so); a cgroup made again under the same path has another. */
    public static long id(Path cgroup) {
        try {
            return ((Number) Files.getAttribute(cgroup, "unix:ino")).longValue();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * The network namespaces of the processes in the cgroup and its children, one /proc/PID/ns/net
     * path for each, in the order first met; processes that end meanwhile are left out.
     */
    public static List<Path> networkNamespaces(Path cgroup) {
        Map<Long, Path> byInode = new LinkedHashMap<>();
        try (Stream<Path> dirs = Files.walk(cgroup)) {
            for (Path dir : dirs.filter(Files::isDirectory).toList()) {
                for (String pid : lines(dir.resolve("cgroup.procs"))) {
                    Path ns = Path.of("/proc", pid.trim(), "ns", "net");
                    try {
                        byInode.putIfAbsent(Netns.inodeOf(ns), ns);
                    } catch (RuntimeException gone) {
                        // the process ended
                    }
                }
            }
        } catch (IOException | UncheckedIOException e) {
            // a child removed while walking: what was read stands
        }
        return new ArrayList<>(byInode.values());
    }

    private static List<String> lines(Path file) {
        try {
            return Files.readAllLines(file).stream().filter(s -> !s.isBlank()).toList();
        } catch (IOException e) {
            return List.of();
        }
    }
}
