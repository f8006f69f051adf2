package dev.tcpinspect.ebpf;

import dev.tcpinspect.os.Libc;
import dev.tcpinspect.os.SystemCallException;

/** A socket filter attached with SO_ATTACH_BPF to a socket the caller owns; detaches on close. */
public final class SocketFilterLink implements Link {
    private static final int EBADF = 9;
    private final int socketFd;
    private final String program;
    private boolean closed;

    SocketFilterLink(int socketFd, String program) {
        this.socketFd = socketFd;
        this.program = program;
    }

    @Override
    public String describe() {
        return "socket filter on fd " + socketFd + " program " + program;
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            Libc.setsockoptInt(socketFd, Libc.SOL_SOCKET, Libc.SO_DETACH_BPF, 0, "setsockopt(SO_DETACH_BPF)");
        } catch (SystemCallException e) {
            if (e.errno() != EBADF) { // the owner already closed the socket: nothing left to detach
                throw e;
            }
        }
    }
}
