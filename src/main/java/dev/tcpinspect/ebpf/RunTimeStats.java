package dev.tcpinspect.ebpf;

import dev.tcpinspect.os.Libc;

/**
 * The kernel's accounting of BPF run time and runs (run_time_ns, run_cnt in bpf_prog_info), on
 * while this is open (BPF_ENABLE_STATS: a file descriptor the kernel counts as one more reason to
 * keep kernel.bpf_stats_enabled on) and off again when it is closed, or when the process dies. It
 * costs every BPF program on the host two clock reads a run while on.
 */
public final class RunTimeStats implements AutoCloseable {
    /** enum bpf_stats_type's BPF_STATS_RUN_TIME. */
    private static final int RUN_TIME = 0;
    private int fd;

    private RunTimeStats(int fd) {
        this.fd = fd;
    }

    /** Turns the accounting on; needs CAP_SYS_ADMIN. */
    public static RunTimeStats enable() {
        try {
            return new RunTimeStats(Libbpf.check("bpf_enable_stats", (int) Libbpf.ENABLE_STATS.invokeExact(RUN_TIME)));
        } catch (BpfException e) {
            throw e;
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    @Override
    public synchronized void close() {
        if (fd >= 0) {
            Libc.close(fd);
            fd = -1;
        }
    }
}
