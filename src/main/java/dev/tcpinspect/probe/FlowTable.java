package dev.tcpinspect.probe;

import dev.tcpinspect.ebpf.BpfMap;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;
import java.util.function.ToLongFunction;

/**
 * A probe's per-flow aggregates: the kernel's hash tables (bpf/lib/flowtable.h) or per-CPU
 * set-associative arrays (bpf/lib/slottable.h). The kernel counts into one of two tables (or
 * halves); each {@link #drain} empties the other into totals kept here and hands it back to the
 * kernel, so that the kernel's table has room for new flows again every second, however many a
 * gateway sees. The totals are bounded too: past their capacity the flows with the smallest counts
 * are let go, and their counts go to {@link #released()} (still in the probe's totals, no longer
 * under a flow), so the busiest flows stay.
 */
public final class FlowTable {
    /**
     * Adds a value of the kernel's layout (more) into another (total): one flow's counts from two
     * drains, or from two CPUs of a per-CPU table (where a CPU that saw nothing has a copy of zeros).
     */
    @FunctionalInterface
    public interface Merge {
        void into(MemorySegment total, MemorySegment more);
    }

    /** The flows kept here by default: four times the kernel's table (about 15 MB at most). */
    public static final int DEFAULT_CAPACITY = 65_536;

    /**
     * How long after a switch the table left may still be written by a run that picked it before
     * the switch. Runs take microseconds; a drain within this of the last switch waits it out.
     */
    static final long SETTLE_NANOS = 20_000_000;

    private static final int ACTIVE = 0;
    private static final int FULL = 1;

    /** Where the kernel counts: two hash tables, or one array of two halves. */
    private interface Kernel {
        int keySize();

        int valueSize();

        /** Hands every (key, value) of the idle table to the visitor (each CPU's copy of a per-CPU one) and empties it. */
        void drain(int idle, java.util.function.BiConsumer<MemorySegment, MemorySegment> visitor);
    }

    private final Kernel kernel;
    private final BpfMap control;
    private final Merge merge;
    private final ToLongFunction<MemorySegment> weight;
    private final int capacity;
    private final Map<Key, MemorySegment> totals = new HashMap<>();
    private int active;
    private long switchedAt = System.nanoTime();
    private long released;

    /**
     * Hash tables (flowtable.h): table0 and table1 are PREFIX_flows_0 and _1, control is
     * PREFIX_flow_tables; weight is a value's count, by which flows are kept (the biggest) and
     * released (the smallest) when the totals are full.
     */
    public FlowTable(BpfMap table0, BpfMap table1, BpfMap control, Merge merge, ToLongFunction<MemorySegment> weight,
                     int capacity) {
        if (table0.keySize() != table1.keySize() || table0.valueSize() != table1.valueSize()) {
            throw new IllegalArgumentException(table0.name() + " and " + table1.name() + " differ");
        }
        this.kernel = new HashTables(new BpfMap[] {table0, table1});
        this.control = control;
        this.merge = merge;
        this.weight = weight;
        this.capacity = capacity;
    }

    /**
     * Per-CPU set-associative arrays (slottable.h): slots is PREFIX_slots (two halves of sets of
     * SLOT_TABLE_WAYS ways: a tag, the key, the value), control PREFIX_slot_tables.
     */
    public static FlowTable ofSlots(BpfMap slots, BpfMap control, int keySize, int valueSize, Merge merge,
                                    ToLongFunction<MemorySegment> weight, int capacity) {
        return new FlowTable(new SlotArray(slots, keySize, valueSize), control, merge, weight, capacity);
    }

    private FlowTable(Kernel kernel, BpfMap control, Merge merge, ToLongFunction<MemorySegment> weight, int capacity) {
        this.kernel = kernel;
        this.control = control;
        this.merge = merge;
        this.weight = weight;
        this.capacity = capacity;
    }

    /** flowtable.h's two hash tables, emptied with lookup-and-delete. */
    private record HashTables(BpfMap[] tables) implements Kernel {
        public int keySize() {
            return tables[0].keySize();
        }

        public int valueSize() {
            return tables[0].valueSize();
        }

        public void drain(int idle, java.util.function.BiConsumer<MemorySegment, MemorySegment> visitor) {
            BpfMap table = tables[idle];
            int keySize = table.keySize();
            int valueSize = table.valueSize();
            // A per-CPU table gives each key's value once per CPU, each copy rounded up to 8 bytes.
            int stride = table.valueBufferSize();
            int cpus = table.type().perCpu ? BpfMap.possibleCpus() : 1;
            int copyStride = (valueSize + 7) & ~7;
            table.drain((keys, values, count) -> {
                for (int i = 0; i < count; i++) {
                    MemorySegment key = keys.asSlice((long) i * keySize, keySize);
                    for (int cpu = 0; cpu < cpus; cpu++) {
                        visitor.accept(key, values.asSlice((long) i * stride + (long) cpu * copyStride, valueSize));
                    }
                }
            });
        }
    }

    /** slottable.h's per-CPU array of two halves of sets; a half is emptied by writing zeros over it. */
    private record SlotArray(BpfMap slots, int keySize, int valueSize) implements Kernel {
        static final int WAYS = 4;
        static final int TAG = 8;

        SlotArray {
            if (slots.valueSize() != WAYS * (TAG + keySize + valueSize)) {
                throw new IllegalArgumentException(slots.name() + " has sets of " + slots.valueSize()
                        + " bytes, not " + WAYS + " ways of a tag, a " + keySize + "-byte key and a " + valueSize
                        + "-byte value");
            }
        }

        public void drain(int idle, java.util.function.BiConsumer<MemorySegment, MemorySegment> visitor) {
            int sets = slots.maxEntries() / 2;
            int setSize = slots.valueSize();
            int stride = slots.valueBufferSize();
            int cpus = BpfMap.possibleCpus();
            int copyStride = (setSize + 7) & ~7;
            int way = TAG + keySize + valueSize;
            List<Integer> used = new ArrayList<>();
            slots.forEachChunk((keys, values, count) -> {
                for (int i = 0; i < count; i++) {
                    int index = keys.get(ValueLayout.JAVA_INT_UNALIGNED, 4L * i);
                    if (index / sets != idle) {
                        continue;
                    }
                    boolean any = false;
                    for (int cpu = 0; cpu < cpus; cpu++) {
                        for (int w = 0; w < WAYS; w++) {
                            long at = (long) i * stride + (long) cpu * copyStride + (long) w * way;
                            if (values.get(ValueLayout.JAVA_LONG_UNALIGNED, at) != 0) {
                                visitor.accept(values.asSlice(at + TAG, keySize), values.asSlice(at + TAG + keySize, valueSize));
                                any = true;
                            }
                        }
                    }
                    if (any) {
                        used.add(index);
                    }
                }
            });
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment key = arena.allocate(ValueLayout.JAVA_INT);
                MemorySegment zeros = arena.allocate(stride, 8); // zeroed
                for (int index : used) {
                    key.set(ValueLayout.JAVA_INT, 0, index);
                    slots.update(key, zeros, BpfMap.ANY);
                }
            }
        }
    }

    private java.util.function.BiConsumer<MemorySegment, MemorySegment> drainListener;

    /**
     * Also hands each count drained from the kernel to listener, as (key, value) in the kernel's
     * layout (a per-CPU table's copies one by one): what changed since the last drain, for a probe
     * that needs rates, without walking every flow kept.
     */
    public synchronized void onDrain(java.util.function.BiConsumer<MemorySegment, MemorySegment> listener) {
        this.drainListener = listener;
    }

    /**
     * Empties the table the kernel is not counting into into the totals, then makes the kernel
     * count into it. Called about once a second (a watch's tick, or a read); nothing counted is lost.
     */
    public synchronized void drain() {
        long since = System.nanoTime() - switchedAt;
        if (since < SETTLE_NANOS) {
            try {
                Thread.sleep((SETTLE_NANOS - since) / 1_000_000 + 1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return; // the table stays as it is and is drained next time
            }
        }
        int idle = 1 - active;
        int keySize = kernel.keySize();
        int valueSize = kernel.valueSize();
        Key probe = new Key(keySize); // reused for lookups: most drained flows are already in the totals
        kernel.drain(idle, (key, value) -> {
            MemorySegment total = totals.get(probe.read(key, 0));
            if (total == null) {
                total = MemorySegment.ofArray(new long[(valueSize + 7) / 8]).asSlice(0, valueSize);
                totals.put(probe.copy(), total);
            }
            merge.into(total, value);
            if (drainListener != null) {
                drainListener.accept(key, value);
            }
        });
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment slot = arena.allocate(ValueLayout.JAVA_INT);
            MemorySegment value = arena.allocate(ValueLayout.JAVA_INT);
            slot.set(ValueLayout.JAVA_INT, 0, FULL + idle);
            value.set(ValueLayout.JAVA_INT, 0, 0);
            control.update(slot, value, BpfMap.ANY); // it has room again
            slot.set(ValueLayout.JAVA_INT, 0, ACTIVE);
            value.set(ValueLayout.JAVA_INT, 0, idle);
            control.update(slot, value, BpfMap.ANY);
        }
        active = idle;
        switchedAt = System.nanoTime();
        if (totals.size() > capacity) {
            release(capacity - capacity / 4);
        }
    }

    /**
     * Lets the smallest flows go until keep remain; their counts go to released. The weights are
     * read once and sorted as primitives: a comparator over 65,536 values costs far more.
     */
    private void release(int keep) {
        long[] weights = new long[totals.size()];
        int n = 0;
        for (MemorySegment value : totals.values()) {
            weights[n++] = weight.applyAsLong(value);
        }
        Arrays.sort(weights);
        long threshold = weights[n - keep]; // the smallest weight kept
        int keepAtThreshold = 0; // how many of the flows with exactly that weight stay
        for (int i = n - keep; i < n && weights[i] == threshold; i++) {
            keepAtThreshold++;
        }
        for (var it = totals.values().iterator(); it.hasNext(); ) {
            long w = weight.applyAsLong(it.next());
            if (w < threshold || (w == threshold && keepAtThreshold-- <= 0)) {
                released += w;
                it.remove();
            }
        }
    }

    /**
     * The flows with the biggest counts so far (both kernel tables drained first), most first, at
     * most limit, decoded from (key, value). Only those are decoded: a watch asks for ten of up to
     * 65,536.
     */
    public synchronized <T> List<T> top(int limit, BiFunction<MemorySegment, MemorySegment, T> decode) {
        drain();
        drain(); // the table the first drain switched away from
        return drained(limit, decode);
    }

    /**
     * The biggest totals as of the last drain, without draining: a baseline to compare a later top with.
     * Chosen with a heap of limit entries, not a sort of every flow: an agent asks every second, with
     * up to 65,536 flows kept (BENCHMARKS.md, scraping the agent).
     */
    public synchronized <T> List<T> drained(int limit, BiFunction<MemorySegment, MemorySegment, T> decode) {
        if (limit <= 0) {
            return List.of();
        }
        java.util.PriorityQueue<Ranked> smallestFirst = new java.util.PriorityQueue<>(
                Math.min(limit, totals.size()) + 1, Comparator.comparingLong(Ranked::weight));
        for (Map.Entry<Key, MemorySegment> e : totals.entrySet()) {
            long w = weight.applyAsLong(e.getValue());
            if (smallestFirst.size() < limit) {
                smallestFirst.add(new Ranked(w, e));
            } else if (w > smallestFirst.peek().weight()) {
                smallestFirst.poll();
                smallestFirst.add(new Ranked(w, e));
            }
        }
        List<Ranked> ranked = new ArrayList<>(smallestFirst);
        ranked.sort(Comparator.comparingLong(Ranked::weight).reversed());
        List<T> top = new ArrayList<>(ranked.size());
        for (Ranked r : ranked) {
            top.add(decode.apply(r.entry().getKey().segment(), r.entry().getValue()));
        }
        return top;
    }

    private record Ranked(long weight, Map.Entry<Key, MemorySegment> entry) {}

    /** Counts of the flows let go when the totals were full (see the class comment). */
    public synchronized long released() {
        return released;
    }

    /** A flow's key bytes held as longs: quick to hash and compare, and one object can be reused for lookups. */
    private static final class Key {
        private final int size;
        private final long[] words;
        private int hash;

        Key(int size) {
            this.size = size;
            this.words = new long[(size + 7) / 8];
        }

        /** Reads the key at offset (size bytes, native order, as the kernel wrote it). */
        Key read(MemorySegment keys, long offset) {
            int full = size / 8;
            for (int i = 0; i < full; i++) {
                words[i] = keys.get(ValueLayout.JAVA_LONG_UNALIGNED, offset + 8L * i);
            }
            if (full < words.length) {
                long tail = 0;
                for (int b = 0; b < size - 8 * full; b++) {
                    tail |= (keys.get(ValueLayout.JAVA_BYTE, offset + 8L * full + b) & 0xFFL) << (8 * b);
                }
                words[full] = tail;
            }
            hash = Arrays.hashCode(words);
            return this;
        }

        Key copy() {
            Key copy = new Key(size);
            System.arraycopy(words, 0, copy.words, 0, words.length);
            copy.hash = hash;
            return copy;
        }

        /** The key's bytes, as the kernel's key layout (for decoding). */
        MemorySegment segment() {
            return MemorySegment.ofArray(words).asSlice(0, size);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Key k && k.hash == hash && Arrays.equals(k.words, words);
        }

        @Override
        public int hashCode() {
            return hash;
        }
    }

    /** Adds each of a value's unsigned 64-bit counters, the merge of tables that only count. */
    public static Merge sumOfLongs(int counters) {
        return (total, more) -> {
            for (int i = 0; i < counters; i++) {
                long offset = 8L * i;
                total.set(ValueLayout.JAVA_LONG_UNALIGNED, offset, total.get(ValueLayout.JAVA_LONG_UNALIGNED, offset)
                        + more.get(ValueLayout.JAVA_LONG_UNALIGNED, offset));
            }
        };
    }
}
