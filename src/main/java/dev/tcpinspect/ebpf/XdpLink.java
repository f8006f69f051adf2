package dev.tcpinspect.ebpf;

import dev.tcpinspect.os.Libc;

/**
 * An XDP program attached through a BPF link: the kernel detaches it when the link's fd closes,
 * so it never outlives the process, even after {@code kill -9}.
 */
public final class XdpLink implements Link {
    private final int ifindex;
    private final XdpMode mode;
    private final String program;
    private int fd;

    XdpLink(int fd, int ifindex, XdpMode mode, String program) {
        this.fd = fd;
        this.ifindex = ifindex;
        this.mode = mode;
        this.program = program;
    }

    public int ifindex() {
        return ifindex;
    }

    public XdpMode mode() {
        return mode;
    }

    @Override
    public String describe() {
        return "xdp(" + mode.name().toLowerCase() + ") ifindex " + ifindex + " program " + program;
    }

    @Override
    public synchronized void close() {
        if (fd >= 0) {
            Libc.close(fd);
            fd = -1;
        }
    }
}
