package dev.tcpinspect.ebpf;

import java.lang.foreign.MemorySegment;

/** A libbpf {@code struct bpf_link} (tracepoints, raw tracepoints, tp_btf): destroyed on close. */
public final class LibbpfLink implements Link {
    private final String description;
    private MemorySegment link;

    LibbpfLink(MemorySegment link, String description) {
        this.link = link;
        this.description = description;
    }

    @Override
    public String describe() {
        return description;
    }

    @Override
    public synchronized void close() {
        if (link != null) {
            try {
                int rc = (int) Libbpf.LINK_DESTROY.invokeExact(link);
            } catch (Throwable t) {
                throw Libbpf.rethrow(t);
            } finally {
                link = null;
            }
        }
    }
}
