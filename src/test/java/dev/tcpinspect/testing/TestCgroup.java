package dev.tcpinspect.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A cgroup (v2) of a test's own, under the cgroup2 mount wherever it is (/sys/fs/cgroup on a
 * unified host, /sys/fs/cgroup/unified on a hybrid one), with a name unique to this process and
 * test: commands started through {@link #command} run in it. Closing kills what still runs in it
 * and removes it, also when the test failed.
 */
public final class TestCgroup implements AutoCloseable {
    private static final AtomicInteger NEXT = new AtomicInteger();
    private final Path path;

    private TestCgroup(Path path) {
        this.path = path;
    }

    public static TestCgroup create(String tag) {
        removeStale();
        Path dir = mount().resolve("tcpinspect-test-" + ProcessHandle.current().pid() + "-" + NEXT.incrementAndGet() + "-"
                + tag);
        try {
            Files.createDirectory(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot make cgroup " + dir, e);
        }
        return new TestCgroup(dir);
    }

    /** Cgroups of test runs whose process is gone (killed before closing them): emptied and removed. */
    private static void removeStale() {
        try (var dirs = Files.newDirectoryStream(mount(), "tcpinspect-test-*")) {
            for (Path dir : dirs) {
                long owner = Long.parseLong(dir.getFileName().toString().split("-")[2]);
                if (ProcessHandle.of(owner).isEmpty()) {
                    new TestCgroup(dir).close();
                }
            }
        } catch (IOException | RuntimeException e) {
            // a stale one left is only a name taken, never one this run uses
        }
    }

    /** The cgroup2 mount point, from /proc/self/mountinfo (its fifth field; the type follows " - "). */
    public static Path mount() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
                String[] halves = line.split(" - ", 2);
                if (halves.length == 2 && halves[1].startsWith("cgroup2 ")) {
                    return Path.of(halves[0].split(" ")[4]);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        throw new AssertionError("no cgroup2 file system is mounted (mount -t cgroup2 none /sys/fs/cgroup/unified)");
    }

    public Path path() {
        return path;
    }

    /** The command, run in this cgroup: a shell moves itself in, then becomes the command. */
    public List<String> command(List<String> command) {
        List<String> in = new ArrayList<>(List.of("sh", "-c", "echo $$ > '" + path.resolve("cgroup.procs") + "' && exec \"$@\"",
                "sh"));
        in.addAll(command);
        return in;
    }

    /** The processes in it now. */
    public List<Long> pids() {
        try {
            return Files.readAllLines(path.resolve("cgroup.procs")).stream().filter(s -> !s.isBlank()).map(Long::parseLong)
                    .toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    @Override
    public void close() {
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (!pids().isEmpty() && System.nanoTime() < deadline) {
            pids().forEach(pid -> ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly));
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        // rmdir (a cgroup's files go with it); EBUSY while a killed process is not yet reaped
        while (true) {
            try {
                Files.deleteIfExists(path);
                return;
            } catch (IOException e) {
                if (System.nanoTime() > deadline) {
                    throw new UncheckedIOException("cannot remove cgroup " + path + " (still holds " + pids() + ")", e);
                }
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }
}
