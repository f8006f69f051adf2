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

    /** Pins the link at path: it stays attached after this process is gone, until the pin is removed. */
    public synchronized void pin(java.nio.file.Path path) {
        if (link == null) {
            throw new IllegalStateException(description + " is closed");
        }
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            Libbpf.check("pinning " + description + " at " + path,
                    (int) Libbpf.LINK_PIN.invokeExact(link, arena.allocateFrom(path.toString())));
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
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
