package dev.tcpinspect.ebpf;

import static java.lang.foreign.ValueLayout.JAVA_INT;

import dev.tcpinspect.os.Errno;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A map of a loaded {@link BpfObject}, with raw byte access. Use {@link #typed} or {@link #perCpu}
 * for keys and values as Java values. A per-CPU map's value buffer holds one value per possible
 * CPU, each rounded up to 8 bytes, as the bpf(2) syscall returns them.
 */
public final class BpfMap {
    /** BPF_ANY: create or update. */
    public static final long ANY = 0;
    /** BPF_NOEXIST: create only. */
    public static final long NOEXIST = 1;
    /** BPF_EXIST: update only. */
    public static final long EXIST = 2;


    private final String name;
    private final MapType type;
    private final int fd;
    private final int keySize;
    private final int valueSize;
    private final int maxEntries;
    private volatile boolean batchUnsupported;

    BpfMap(String name, MapType type, int fd, int keySize, int valueSize, int maxEntries) {
        this.name = name;
        this.type = type;
        this.fd = fd;
        this.keySize = keySize;
        this.valueSize = valueSize;
        this.maxEntries = maxEntries;
    }

    public String name() { return name; }
    public MapType type() { return type; }
    public int fd() { return fd; }
    public int keySize() { return keySize; }
    public int valueSize() { return valueSize; }
    public int maxEntries() { return maxEntries; }

    /** The number of possible CPUs, which sizes per-CPU values. */
    public static int possibleCpus() {
        try {
            return Libbpf.check("libbpf_num_possible_cpus", (int) Libbpf.NUM_POSSIBLE_CPUS.invokeExact());
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    /** Bytes of one value as user space sees it: all CPUs' copies for a per-CPU map. */
    public int valueBufferSize() {
        return type.perCpu ? roundUp8(valueSize) * possibleCpus() : valueSize;
    }

    static int roundUp8(int n) {
        return (n + 7) & ~7;
    }

    /** Copies the value of key into value; false when there is no such key. */
    public boolean lookup(MemorySegment key, MemorySegment value) {
        try {
            int rc = (int) Libbpf.MAP_LOOKUP_ELEM.invokeExact(fd, key, value);
            if (rc == -Errno.ENOENT) {
                return false;
            }
            Libbpf.check("lookup in map " + name, rc);
            return true;
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    public void update(MemorySegment key, MemorySegment value, long flags) {
        try {
            Libbpf.check("update of map " + name,
                    (int) Libbpf.MAP_UPDATE_ELEM.invokeExact(fd, key, value, flags));
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    /**
     * Writes count entries, keys and values packed one after another as the map lays them out,
     * creating or replacing each (BPF_MAP_UPDATE_BATCH: one call for the lot, where writing a table
     * of 100,000 entries one call each takes a tenth of a second; key by key on a kernel or map type
     * without it). The batch command takes no NOEXIST or EXIST, so neither is offered.
     */
    public void updateBatch(MemorySegment keys, MemorySegment values, int count) {
        int valueBytes = valueBufferSize();
        if (!batchUnsupported) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment n = arena.allocateFrom(JAVA_INT, count);
                MemorySegment opts = arena.allocate(24, 8);
                opts.set(java.lang.foreign.ValueLayout.JAVA_LONG, 0, 24); // sz; elem_flags and flags 0
                int rc = (int) Libbpf.MAP_UPDATE_BATCH.invokeExact(fd, keys, values, n, opts);
                if (rc >= 0) {
                    return;
                }
                // A kernel without the command, or a map type without batches, refuses before writing
                // anything and leaves the count as it was given (or 0): only then go key by key.
                int written = n.get(JAVA_INT, 0);
                boolean unsupported = rc == -Errno.EINVAL || rc == -Errno.EOPNOTSUPP || rc == -Errno.ENOTSUPP;
                if (!unsupported || (written != 0 && written != count)) {
                    Libbpf.check("batch update of map " + name, rc);
                }
                batchUnsupported = true;
            } catch (Throwable t) {
                throw Libbpf.rethrow(t);
            }
        }
        for (int i = 0; i < count; i++) {
            update(keys.asSlice((long) i * keySize, keySize), values.asSlice((long) i * valueBytes, valueBytes), ANY);
        }
    }

    /** Deletes key; false when there was no such key. */
    public boolean delete(MemorySegment key) {
        try {
            int rc = (int) Libbpf.MAP_DELETE_ELEM.invokeExact(fd, key);
            if (rc == -Errno.ENOENT) {
                return false;
            }
            Libbpf.check("delete from map " + name, rc);
            return true;
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    /** Writes the key after {@code key} (the first key when key is NULL) into next; false at the end. */
    public boolean nextKey(MemorySegment key, MemorySegment next) {
        try {
            int rc = (int) Libbpf.MAP_GET_NEXT_KEY.invokeExact(fd, key, next);
            if (rc == -Errno.ENOENT) {
                return false;
            }
            Libbpf.check("iteration of map " + name, rc);
            return true;
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    /** Receives entries during iteration; the segments are only valid during the call. */
    @FunctionalInterface
    public interface EntryVisitor {
        void visit(MemorySegment key, MemorySegment value);
    }

    /**
     * Receives entries a chunk at a time: count keys back to back in keys (keySize() apart) and
     * their values in values ({@link #valueBufferSize()} apart). Valid only during the call; for
     * readers of big maps that would rather not make a slice per entry.
     */
    @FunctionalInterface
    public interface ChunkVisitor {
        void visit(MemorySegment keys, MemorySegment values, int count);
    }

    /**
     * Visits every entry: with BPF_MAP_LOOKUP_BATCH where the kernel supports it for this map
     * type, else key by key. Entries changing meanwhile may be seen or not, as with any BPF map.
     */
    public void forEach(EntryVisitor visitor) {
        int valueBytes = valueBufferSize();
        forEachChunk((keys, values, count) -> {
            for (int i = 0; i < count; i++) {
                visitor.visit(keys.asSlice((long) i * keySize, keySize), values.asSlice((long) i * valueBytes, valueBytes));
            }
        });
    }

    /** Visits every entry as {@link #forEach} does, in chunks (up to 4096 entries each with batch lookups). */
    public void forEachChunk(ChunkVisitor visitor) {
        if (!batched(visitor, false)) {
            forEachByKey(visitor);
        }
    }

    /**
     * Visits every entry as {@link #forEachChunk} does and removes it (BPF_MAP_LOOKUP_AND_DELETE_BATCH
     * where the kernel has it, else key by key). An entry the kernel changes between its read and
     * its removal loses that change: drain only a map nothing writes to meanwhile.
     */
    public void drain(ChunkVisitor visitor) {
        if (batched(visitor, true)) {
            return;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment key = arena.allocate(keySize, 8);
            MemorySegment value = arena.allocate(valueBufferSize(), 8);
            while (nextKey(MemorySegment.NULL, key)) {
                if (lookup(key, value)) {
                    visitor.visit(key, value, 1);
                }
                delete(key);
            }
        }
    }

    /** Visits (and with delete, removes) every entry with batch operations; false where the kernel has none for this map. */
    private boolean batched(ChunkVisitor visitor, boolean delete) {
        if (batchUnsupported || type == MapType.LPM_TRIE) {
            return false;
        }
        try {
            forEachBatched(visitor, delete);
            return true;
        } catch (BatchUnsupported e) {
            batchUnsupported = true;
            return false;
        }
    }

    private static final class BatchUnsupported extends RuntimeException {
        BatchUnsupported() {
            super(null, null, false, false);
        }
    }

    /** A chunk's values take at most this much memory (per-CPU values grow with the CPUs: 32 KiB x 256 = 8 MiB). */
    private static final int CHUNK_BYTES = 1 << 20;

    private void forEachBatched(ChunkVisitor visitor, boolean delete) {
        int valueBytes = valueBufferSize();
        int chunk = Math.max(1, Math.min(Math.min(maxEntries, 4096), CHUNK_BYTES / Math.max(1, valueBytes)));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment keys = arena.allocate((long) keySize * chunk, 8);
            MemorySegment values = arena.allocate((long) valueBytes * chunk, 8);
            MemorySegment token = arena.allocate(Math.max(keySize, 8), 8);
            MemorySegment count = arena.allocate(JAVA_INT);
            MemorySegment opts = arena.allocate(24, 8);
            opts.set(java.lang.foreign.ValueLayout.JAVA_LONG, 0, 24);
            boolean first = true;
            while (true) {
                count.set(JAVA_INT, 0, chunk);
                MemorySegment inBatch = first ? MemorySegment.NULL : token;
                int rc = delete
                        ? (int) Libbpf.MAP_LOOKUP_AND_DELETE_BATCH.invokeExact(fd, inBatch, token, keys, values, count, opts)
                        : (int) Libbpf.MAP_LOOKUP_BATCH.invokeExact(fd, inBatch, token, keys, values, count, opts);
                boolean done = rc == -Errno.ENOENT;
                if (rc < 0 && !done) {
                    if (first && (rc == -Errno.EINVAL || rc == -Errno.EOPNOTSUPP || rc == -Errno.ENOTSUPP)) {
                        throw new BatchUnsupported();
                    }
                    Libbpf.check((delete ? "batch lookup and delete in map " : "batch lookup in map ") + name, rc);
                }
                int n = count.get(JAVA_INT, 0);
                if (n > 0) {
                    visitor.visit(keys, values, n);
                }
                if (done) {
                    return;
                }
                first = false;
            }
        } catch (BatchUnsupported e) {
            throw e;
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    private void forEachByKey(ChunkVisitor visitor) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment key = arena.allocate(keySize, 8);
            MemorySegment next = arena.allocate(keySize, 8);
            MemorySegment value = arena.allocate(valueBufferSize(), 8);
            MemorySegment previous = MemorySegment.NULL;
            while (nextKey(previous, next)) {
                if (lookup(next, value)) {
                    visitor.visit(next, value, 1);
                }
                MemorySegment.copy(next, 0, key, 0, keySize);
                previous = key;
            }
        }
    }

    public <K, V> TypedMap<K, V> typed(Codec<K> keys, Codec<V> values) {
        if (type.perCpu) {
            throw new IllegalArgumentException("map " + name + " is per-CPU: use perCpu()");
        }
        return new TypedMap<>(this, keys, values);
    }

    public <K, V> PerCpuMap<K, V> perCpu(Codec<K> keys, Codec<V> values) {
        if (!type.perCpu) {
            throw new IllegalArgumentException("map " + name + " is not per-CPU: use typed()");
        }
        return new PerCpuMap<>(this, keys, values);
    }

    void checkSizes(Codec<?> keys, Codec<?> values) {
        if (keys.size() != keySize || values.size() != valueSize) {
            throw new IllegalArgumentException("map " + name + " has key/value sizes " + keySize + "/" + valueSize
                    + " but the codecs have " + keys.size() + "/" + values.size());
        }
    }

    @Override
    public String toString() {
        return "map " + name + " (" + type + ")";
    }
}
