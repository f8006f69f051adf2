package dev.tcpinspect.ebpf;

import static java.lang.foreign.ValueLayout.JAVA_INT;

import dev.tcpinspect.os.Native;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Collections;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Enumerations of the running kernel read from its BTF (/sys/kernel/btf/vmlinux), so that names
 * like drop reasons come from the kernel that produced the values, never from a table of ours.
 */
public final class KernelEnums {
    private static final int BTF_KIND_ENUM = 6;
    private static final int BTF_KIND_ENUM64 = 19;
    private static final Map<String, Map<Long, String>> CACHE = new ConcurrentHashMap<>();

    private KernelEnums() {}

    /**
     * Value to name for the kernel enum, with the common prefix removed (e.g. "SKB_DROP_REASON_").
     * Empty when the kernel has no such enum.
     */
    public static Map<Long, String> values(String enumName, String prefix) {
        return CACHE.computeIfAbsent(enumName + "/" + prefix, k -> Collections.unmodifiableMap(read(enumName, prefix)));
    }

    private static Map<Long, String> read(String enumName, String prefix) {
        Map<Long, String> values = new TreeMap<>();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment btf = (MemorySegment) Libbpf.BTF_LOAD_VMLINUX.invokeExact(Native.errnoSlot());
            if (btf.equals(MemorySegment.NULL)) {
                return values;
            }
            try {
                for (int kind : new int[] {BTF_KIND_ENUM, BTF_KIND_ENUM64}) {
                    int id = (int) Libbpf.BTF_FIND_BY_NAME_KIND.invokeExact(btf, arena.allocateFrom(enumName), kind);
                    if (id <= 0) {
                        continue;
                    }
                    MemorySegment type = ((MemorySegment) Libbpf.BTF_TYPE_BY_ID.invokeExact(btf, id)).reinterpret(12);
                    int vlen = type.get(JAVA_INT, 4) & 0xFFFF;
                    int entry = kind == BTF_KIND_ENUM ? 8 : 12;
                    MemorySegment entries = type.reinterpret(12 + (long) entry * vlen);
                    for (int i = 0; i < vlen; i++) {
                        long at = 12 + (long) entry * i;
                        String name = Native.string((MemorySegment) Libbpf.BTF_NAME_BY_OFFSET.invokeExact(btf,
                                entries.get(JAVA_INT, at)));
                        long value = kind == BTF_KIND_ENUM
                                ? Integer.toUnsignedLong(entries.get(JAVA_INT, at + 4))
                                : (Integer.toUnsignedLong(entries.get(JAVA_INT, at + 8)) << 32)
                                        | Integer.toUnsignedLong(entries.get(JAVA_INT, at + 4));
                        values.put(value, name.startsWith(prefix) ? name.substring(prefix.length()) : name);
                    }
                    break;
                }
            } finally {
                Libbpf.BTF_FREE.invokeExact(btf);
            }
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
        return values;
    }
}
