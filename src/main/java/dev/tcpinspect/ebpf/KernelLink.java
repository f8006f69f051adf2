package dev.tcpinspect.ebpf;

import dev.tcpinspect.os.Libc;

/**
 * A program attached through a BPF link that this process holds by its fd (XDP, tcx): the kernel
 * detaches the program when the last reference goes, so an unpinned link never outlives the
 * process, even after {@code kill -9}. A pinned one ({@link #pin}) stays attached until its pin is
 * removed; {@link #openPinned} takes it up again, and {@link #update} swaps its program in one step.
 */
public final class KernelLink implements Link {
    private final String description;
    private int fd;

    KernelLink(int fd, String description) {
        this.fd = fd;
        this.description = description;
    }

    /** The link pinned at path, held by a new fd; empty when nothing is pinned there. */
    public static java.util.Optional<KernelLink> openPinned(java.nio.file.Path path, String description) {
        return Pins.open(path).map(fd -> new KernelLink(fd, description));
    }

    /** Pins the link at path: it stays attached after this fd (and this process) is gone. */
    public synchronized void pin(java.nio.file.Path path) {
        Pins.pin(fd(), path);
    }

    /** Replaces the link's program in one step: every run after the call is the new program's. */
    public synchronized void update(Program program) {
        try {
            Libbpf.check("replacing the program of " + description,
                    (int) Libbpf.LINK_UPDATE.invokeExact(fd(), program.fd(), java.lang.foreign.MemorySegment.NULL));
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    /** struct bpf_link_info (uapi/linux/bpf.h): type, id, prog_id, then a union 8-aligned; xdp.ifindex is its first word. */
    private static final long LINK_INFO_SIZE = 64;
    private static final long XDP_IFINDEX_OFFSET = 16;

    /**
     * The interface an XDP link is attached to; 0 once the interface is gone (the kernel detaches its
     * program then, and the link stays, defunct, as long as it is held or pinned).
     */
    public synchronized int xdpInterfaceIndex() {
        try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
            var info = a.allocate(LINK_INFO_SIZE, 8);
            var length = a.allocateFrom(java.lang.foreign.ValueLayout.JAVA_INT, (int) LINK_INFO_SIZE);
            Libbpf.check("reading " + description, (int) Libbpf.OBJ_GET_INFO_BY_FD.invokeExact(fd(), info, length));
            return info.get(java.lang.foreign.ValueLayout.JAVA_INT, XDP_IFINDEX_OFFSET);
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    private int fd() {
        if (fd < 0) {
            throw new IllegalStateException(description + " is closed");
        }
        return fd;
    }

    @Override
    public String describe() {
        return description;
    }

    @Override
    public synchronized void close() {
        if (fd >= 0) {
            Libc.close(fd);
            fd = -1;
        }
    }
}
