package dev.tcpinspect.ebpf;

import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Enumerations of the running kernel read from its BTF (/sys/kernel/btf/vmlinux), so that names
 * like drop reasons come from the kernel that produced the values, never from a table of ours.
 *
 * <p>Parsing the kernel's BTF takes about 60 ms of a CPU (more during a busy start) and 11 MB
 * while it lasts, so the enums a run will want are read together, once, and ahead of time on
 * another thread ({@link #prefetch}) while the object loads; the BTF is freed right after.
 */
public final class KernelEnums {
    /** Value to full constant name, by enum name; an empty map for an enum the kernel lacks. */
    private static final Map<String, Map<Long, String>> READ = new ConcurrentHashMap<>();
    private static final Map<String, Map<Long, String>> STRIPPED = new ConcurrentHashMap<>();
    private static final Object PARSING = new Object();

    private KernelEnums() {}

    /**
     * Value to name for the kernel enum, with the common prefix removed (e.g. "SKB_DROP_REASON_").
     * Empty when the kernel has no such enum.
     */
    public static Map<Long, String> values(String enumName, String prefix) {
        return STRIPPED.computeIfAbsent(enumName + "/" + prefix, k -> {
            Map<Long, String> values = new TreeMap<>();
            read(enumName).forEach((value, name) ->
                    values.put(value, name.startsWith(prefix) ? name.substring(prefix.length()) : name));
            return Collections.unmodifiableMap(values);
        });
    }

    /**
     * Reads these enums with one parse of the kernel's BTF, unless they were read already. A lookup
     * made meanwhile waits for this parse instead of starting its own.
     */
    public static void prefetch(Collection<String> enumNames) {
        synchronized (PARSING) {
            List<String> missing = enumNames.stream().distinct().filter(n -> !READ.containsKey(n)).toList();
            if (missing.isEmpty()) {
                return;
            }
            var btf = Btf.kernel();
            try {
                for (String name : missing) {
                    Map<Long, String> values = new TreeMap<>();
                    btf.ifPresent(b -> b.enumValues(name).forEach((constant, value) -> values.put(value, constant)));
                    READ.put(name, Collections.unmodifiableMap(values));
                }
            } finally {
                btf.ifPresent(Btf::close);
            }
        }
    }

    private static Map<Long, String> read(String enumName) {
        Map<Long, String> values = READ.get(enumName);
        if (values == null) {
            prefetch(List.of(enumName));
            values = READ.get(enumName);
        }
        return values;
    }
}
