package dev.tcpinspect.ebpf;

import dev.tcpinspect.os.Libc;
import dev.tcpinspect.os.SystemCallException;

/**
 * A socket filter attached with SO_ATTACH_BPF to a socket; detaches on close, and closes the socket
 * descriptor too when the link owns it (a duplicate taken from another process).
 */
public final class SocketFilterLink implements Link {
    private static final int EBADF = 9;
    private static final int ENOENT = 2;
    private final int socketFd;
    private final String program;
    private final boolean ownsSocket;
    private boolean closed;

    SocketFilterLink(int socketFd, String program, boolean ownsSocket) {
        this.socketFd = socketFd;
        this.program = program;
        this.ownsSocket = ownsSocket;
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
            if (e.errno() != EBADF && e.errno() != ENOENT) { // the owner closed it, or nothing is attached now
                throw e;
            }
        } finally {
            if (ownsSocket) {
                Libc.close(socketFd);
            }
        }
    }
}
