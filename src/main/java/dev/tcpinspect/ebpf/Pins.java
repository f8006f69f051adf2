package dev.tcpinspect.ebpf;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import dev.tcpinspect.os.Errno;
import dev.tcpinspect.os.Libc;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Kernel objects pinned in a BPF filesystem, which keeps them alive without a process holding
 * them: maps another command opens by path, links that keep a program attached after the process
 * that attached it has gone (cilium/ebpf's Pin/LoadPinnedMap, libbpf's bpf_obj_pin/bpf_obj_get).
 */
public final class Pins {
    /** Where a BPF filesystem is mounted on every distribution that mounts one. */
    public static final Path BPFFS = Path.of("/sys/fs/bpf");

    /** struct bpf_map_info (uapi/linux/bpf.h): the fields read here. */
    private static final StructLayout MAP_INFO = MemoryLayout.structLayout(
            JAVA_INT.withName("type"), JAVA_INT.withName("id"), JAVA_INT.withName("key_size"),
            JAVA_INT.withName("value_size"), JAVA_INT.withName("max_entries"), JAVA_INT.withName("map_flags"),
            MemoryLayout.sequenceLayout(16, java.lang.foreign.ValueLayout.JAVA_BYTE).withName("name"),
            MemoryLayout.paddingLayout(56)).withName("bpf_map_info");

    private Pins() {}

    /** Pins the object behind fd at path (which must not exist) in a BPF filesystem. */
    public static void pin(int fd, Path path) {
        try (Arena arena = Arena.ofConfined()) {
            Libbpf.check("pinning at " + path, (int) Libbpf.OBJ_PIN.invokeExact(fd, arena.allocateFrom(path.toString())));
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    /** A new fd for the object pinned at path, or empty when nothing is pinned there. */
    public static Optional<Integer> open(Path path) {
        try (Arena arena = Arena.ofConfined()) {
            int rc = (int) Libbpf.OBJ_GET.invokeExact(arena.allocateFrom(path.toString()));
            if (rc == -Errno.ENOENT) {
                return Optional.empty();
            }
            return Optional.of(Libbpf.check("opening the pinned object " + path, rc));
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    /**
     * The map pinned at path, with a new fd of its own that {@link PinnedMap#close} closes, or empty
     * when nothing is pinned there.
     */
    public static Optional<PinnedMap> openMap(Path path) {
        Optional<Integer> fd = open(path);
        if (fd.isEmpty()) {
            return Optional.empty();
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment info = arena.allocate(MAP_INFO);
            MemorySegment length = arena.allocateFrom(JAVA_INT, (int) MAP_INFO.byteSize());
            Libbpf.check("reading what " + path + " is",
                    (int) Libbpf.OBJ_GET_INFO_BY_FD.invokeExact((int) fd.get(), info, length));
            BpfMap map = new BpfMap(path.getFileName().toString(),
                    MapType.of(info.get(JAVA_INT, MAP_INFO.byteOffset(groupElement("type")))), fd.get(),
                    info.get(JAVA_INT, MAP_INFO.byteOffset(groupElement("key_size"))),
                    info.get(JAVA_INT, MAP_INFO.byteOffset(groupElement("value_size"))),
                    info.get(JAVA_INT, MAP_INFO.byteOffset(groupElement("max_entries"))));
            return Optional.of(new PinnedMap(map, info.get(JAVA_INT, MAP_INFO.byteOffset(groupElement("id")))));
        } catch (Throwable t) {
            Libc.close(fd.get());
            throw Libbpf.rethrow(t);
        }
    }

    /** Removes a pin (the object lives on while anything else holds it); false when there was none. */
    public static boolean unpin(Path path) {
        try {
            return Files.deleteIfExists(path);
        } catch (IOException e) {
            throw new IllegalStateException("cannot remove the pin " + path + ": " + e.getMessage(), e);
        }
    }

    /** Whether a BPF filesystem is mounted at dir in this mount namespace. */
    public static boolean isBpffs(Path dir) {
        try {
            String target = " " + dir.toAbsolutePath().normalize() + " bpf ";
            return Files.readAllLines(Path.of("/proc/self/mounts")).stream().anyMatch(l -> l.contains(target));
        } catch (IOException e) {
            return false;
        }
    }

    /** Mounts a BPF filesystem at dir (as {@code mount -t bpf bpf DIR} does). */
    public static void mountBpffs(Path dir) {
        Libc.mount("bpf", dir.toString(), "bpf");
    }

    /** A map opened from its pin: its own fd, closed on close. */
    public static final class PinnedMap implements AutoCloseable {
        private final BpfMap map;
        private final int id;
        private boolean closed;

        PinnedMap(BpfMap map, int id) {
            this.map = map;
            this.id = id;
        }

        public BpfMap map() {
            return map;
        }

        /** The map's id: the same map whoever opens it, another one once it was unpinned and made again. */
        public int id() {
            return id;
        }

        @Override
        public synchronized void close() {
            if (!closed) {
                closed = true;
                Libc.close(map.fd());
            }
        }
    }
}
