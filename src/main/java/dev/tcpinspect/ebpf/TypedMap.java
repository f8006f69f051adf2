package dev.tcpinspect.ebpf;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/** A map whose keys and values are Java values, converted by codecs. */
public final class TypedMap<K, V> {
    private final BpfMap map;
    private final Codec<K> keys;
    private final Codec<V> values;

    TypedMap(BpfMap map, Codec<K> keys, Codec<V> values) {
        map.checkSizes(keys, values);
        this.map = map;
        this.keys = keys;
        this.values = values;
    }

    public BpfMap raw() {
        return map;
    }

    public Optional<V> get(K key) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment k = arena.allocate(keys.size(), 8);
            MemorySegment v = arena.allocate(values.size(), 8);
            keys.write(k, 0, key);
            return map.lookup(k, v) ? Optional.of(values.read(v, 0)) : Optional.empty();
        }
    }

    public void put(K key, V value) {
        put(key, value, BpfMap.ANY);
    }

    public void put(K key, V value, long flags) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment k = arena.allocate(keys.size(), 8);
            MemorySegment v = arena.allocate(values.size(), 8);
            keys.write(k, 0, key);
            values.write(v, 0, value);
            map.update(k, v, flags);
        }
    }

    public boolean remove(K key) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment k = arena.allocate(keys.size(), 8);
            keys.write(k, 0, key);
            return map.delete(k);
        }
    }

    /** A snapshot of all entries, in the kernel's iteration order. */
    public Map<K, V> entries() {
        Map<K, V> result = new LinkedHashMap<>();
        map.forEach((k, v) -> result.put(keys.read(k, 0), values.read(v, 0)));
        return result;
    }
}
