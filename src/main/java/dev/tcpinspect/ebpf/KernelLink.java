package dev.tcpinspect.ebpf;

import dev.tcpinspect.os.Libc;

/**
 * A program attached through a BPF link that this process holds by its fd (XDP, tcx): the kernel
 * detaches the program when the fd closes, so it never outlives the process, even after
 * {@code kill -9}.
 */
public final class KernelLink implements Link {
    private final String description;
    private int fd;

    KernelLink(int fd, String description) {
        this.fd = fd;
        this.description = description;
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
