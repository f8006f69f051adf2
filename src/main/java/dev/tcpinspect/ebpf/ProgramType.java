package dev.tcpinspect.ebpf;

/** Kernel program types (enum bpf_prog_type) that tcpinspect uses or probes for. */
public enum ProgramType {
    SOCKET_FILTER(1), KPROBE(2), SCHED_CLS(3), TRACEPOINT(5), XDP(6), CGROUP_SKB(8), RAW_TRACEPOINT(17),
    SK_MSG(16), TRACING(26), UNKNOWN(-1);

    public final int id;

    ProgramType(int id) {
        this.id = id;
    }

    public static ProgramType of(int id) {
        for (ProgramType t : values()) {
            if (t.id == id) {
                return t;
            }
        }
        return UNKNOWN;
    }
}
