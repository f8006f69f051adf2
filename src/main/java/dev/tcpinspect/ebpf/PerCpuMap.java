package dev.tcpinspect.ebpf;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.BinaryOperator;

/** A per-CPU map: each key has one value per possible CPU, read all at once or summed. */
public final class PerCpuMap<K, V> {
    private final BpfMap map;
    private final Codec<K> keys;
    private final Codec<V> values;
    private final int cpus;
    private final int stride;

    PerCpuMap(BpfMap map, Codec<K> keys, Codec<V> values) {
        map.checkSizes(keys, values);
        this.map = map;
        this.keys = keys;
        this.values = values;
        this.cpus = BpfMap.possibleCpus();
        this.stride = BpfMap.roundUp8(values.size());
    }

    public BpfMap raw() {
        return map;
    }

    public int cpus() {
        return cpus;
    }

    /** The value on each possible CPU, index = CPU number. */
    public Optional<List<V>> getPerCpu(K key) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment k = arena.allocate(keys.size(), 8);
            MemorySegment v = arena.allocate(map.valueBufferSize(), 8);
            keys.write(k, 0, key);
            return map.lookup(k, v) ? Optional.of(split(v)) : Optional.empty();
        }
    }

    public Optional<V> getSummed(K key, BinaryOperator<V> sum) {
        return getPerCpu(key).map(list -> list.stream().reduce(sum).orElseThrow());
    }

    /** Sets the same value on every CPU. */
    public void putAll(K key, V value) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment k = arena.allocate(keys.size(), 8);
            MemorySegment v = arena.allocate(map.valueBufferSize(), 8);
            keys.write(k, 0, key);
            for (int cpu = 0; cpu < cpus; cpu++) {
                values.write(v, (long) cpu * stride, value);
            }
            map.update(k, v, BpfMap.ANY);
        }
    }

    public Map<K, List<V>> entriesPerCpu() {
        Map<K, List<V>> result = new LinkedHashMap<>();
        map.forEach((k, v) -> result.put(keys.read(k, 0), split(v)));
        return result;
    }

    public Map<K, V> entriesSummed(BinaryOperator<V> sum) {
        Map<K, V> result = new LinkedHashMap<>();
        map.forEach((k, v) -> result.put(keys.read(k, 0), split(v).stream().reduce(sum).orElseThrow()));
        return result;
    }

    private List<V> split(MemorySegment buffer) {
        List<V> perCpu = new ArrayList<>(cpus);
        for (int cpu = 0; cpu < cpus; cpu++) {
            perCpu.add(values.read(buffer, (long) cpu * stride));
        }
        return perCpu;
    }
}
