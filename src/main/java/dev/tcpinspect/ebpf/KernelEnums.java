package dev.tcpinspect.ebpf;

import java.util.Collections;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Enumerations of the running kernel read from its BTF (/sys/kernel/btf/vmlinux), so that names
 * like drop reasons come from the kernel that produced the values, never from a table of ours.
 */
public final class KernelEnums {
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
        Btf.kernel().ifPresent(btf -> {
            try (btf) {
                btf.enumValues(enumName).forEach((name, value) ->
                        values.put(value, name.startsWith(prefix) ? name.substring(prefix.length()) : name));
            }
        });
        return values;
    }
}
