package dev.tcpinspect.ebpf;

/** Kernel map types (enum bpf_map_type) that the runtime supports. */
public enum MapType {
    HASH(1, false), ARRAY(2, false), PROG_ARRAY(3, false), PERCPU_HASH(5, true), PERCPU_ARRAY(6, true), LRU_HASH(9, false),
    LRU_PERCPU_HASH(10, true), LPM_TRIE(11, false), RINGBUF(27, false), UNKNOWN(-1, false);

    public final int id;
    /** Whether user space sees one value per possible CPU. */
    public final boolean perCpu;

    MapType(int id, boolean perCpu) {
        this.id = id;
        this.perCpu = perCpu;
    }

    public static MapType of(int id) {
        for (MapType t : values()) {
            if (t.id == id) {
                return t;
            }
        }
        return UNKNOWN;
    }
}
