package dev.tcpinspect.ebpf;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Converts a map key or value between its kernel bytes and a Java value (usually a record). Values
 * are read and written in native byte order, as the BPF program sees them.
 */
public interface Codec<T> {
    /** Size in bytes; must equal the map's key or value size. */
    int size();

    T read(MemorySegment segment, long offset);

    void write(MemorySegment segment, long offset, T value);

    Codec<Integer> U32 = new Codec<>() {
        public int size() { return 4; }
        public Integer read(MemorySegment s, long o) { return s.get(ValueLayout.JAVA_INT_UNALIGNED, o); }
        public void write(MemorySegment s, long o, Integer v) { s.set(ValueLayout.JAVA_INT_UNALIGNED, o, v); }
    };

    Codec<Long> U64 = new Codec<>() {
        public int size() { return 8; }
        public Long read(MemorySegment s, long o) { return s.get(ValueLayout.JAVA_LONG_UNALIGNED, o); }
        public void write(MemorySegment s, long o, Long v) { s.set(ValueLayout.JAVA_LONG_UNALIGNED, o, v); }
    };

    /** A struct of count __u64 fields, as a long[] (counters). */
    static Codec<long[]> longs(int count) {
        return new Codec<>() {
            public int size() { return 8 * count; }
            public long[] read(MemorySegment s, long o) {
                long[] v = new long[count];
                for (int i = 0; i < count; i++) {
                    v[i] = s.get(ValueLayout.JAVA_LONG_UNALIGNED, o + 8L * i);
                }
                return v;
            }
            public void write(MemorySegment s, long o, long[] v) {
                for (int i = 0; i < count; i++) {
                    s.set(ValueLayout.JAVA_LONG_UNALIGNED, o + 8L * i, v[i]);
                }
            }
        };
    }

    /** A fixed number of raw bytes. */
    static Codec<byte[]> bytes(int size) {
        return new Codec<>() {
            public int size() { return size; }
            public byte[] read(MemorySegment s, long o) { return s.asSlice(o, size).toArray(ValueLayout.JAVA_BYTE); }
            public void write(MemorySegment s, long o, byte[] v) {
                if (v.length != size) {
                    throw new IllegalArgumentException("expected " + size + " bytes, got " + v.length);
                }
                MemorySegment.copy(v, 0, s, ValueLayout.JAVA_BYTE, o, size);
            }
        };
    }
}
