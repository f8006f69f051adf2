package dev.tcpinspect.ebpf;

import dev.tcpinspect.os.Libc;

/**
 * A TC program attached through a tcx link (kernel 6.6 and later): the kernel runs it from the
 * device's own list of programs, without a clsact qdisc or cls_bpf's per-filter dispatch, and detaches
 * it when the link's fd closes, so it never outlives the process, even after {@code kill -9}.
 */
public final class TcxLink implements Link {
    private final int ifindex;
    private final TcDirection direction;
    private final String program;
    private int fd;

    TcxLink(int fd, int ifindex, TcDirection direction, String program) {
        this.fd = fd;
        this.ifindex = ifindex;
        this.direction = direction;
        this.program = program;
    }

    public int ifindex() {
        return ifindex;
    }

    public TcDirection direction() {
        return direction;
    }

    @Override
    public String describe() {
        return "tcx " + direction.name().toLowerCase() + " ifindex " + ifindex + " program " + program;
    }

    @Override
    public synchronized void close() {
        if (fd >= 0) {
            Libc.close(fd);
            fd = -1;
        }
    }
}
