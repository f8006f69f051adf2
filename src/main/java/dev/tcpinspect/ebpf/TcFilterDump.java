package dev.tcpinspect.ebpf;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import dev.tcpinspect.os.Libc;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Counts the filters on a clsact hook with one rtnetlink dump (RTM_GETTFILTER), which libbpf has no
 * call for. Used to remove a clsact qdisc only when tcpinspect made it and nobody else uses it.
 */
final class TcFilterDump {
    private static final int NETLINK_ROUTE = 0;
    private static final short RTM_NEWTFILTER = 44;
    private static final short RTM_GETTFILTER = 46;
    private static final short NLMSG_ERROR = 2;
    private static final short NLMSG_DONE = 3;
    private static final short NLM_F_REQUEST_DUMP = 0x301;
    private static final int NLMSG_HEADER = 16;
    private static final int TCMSG_SIZE = 20;

    private TcFilterDump() {}

    private static int parent(TcDirection direction) {
        return direction == TcDirection.INGRESS ? 0xFFFFFFF2 : 0xFFFFFFF3; // TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_*)
    }

    /** Filters on the hook, in the calling thread's namespace; 0 when there is no clsact. */
    static int count(int ifindex, TcDirection direction) {
        int fd = Libc.socket(Libc.AF_NETLINK, Libc.SOCK_RAW, NETLINK_ROUTE);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment request = arena.allocate(NLMSG_HEADER + TCMSG_SIZE, 4);
            request.set(JAVA_INT, 0, NLMSG_HEADER + TCMSG_SIZE);
            request.set(JAVA_SHORT, 4, RTM_GETTFILTER);
            request.set(JAVA_SHORT, 6, NLM_F_REQUEST_DUMP);
            request.set(JAVA_INT, 8, 1);
            request.set(JAVA_BYTE, NLMSG_HEADER, (byte) 0); // AF_UNSPEC
            request.set(JAVA_INT, NLMSG_HEADER + 4, ifindex);
            request.set(JAVA_INT, NLMSG_HEADER + 12, parent(direction));
            Libc.send(fd, request, request.byteSize());
            MemorySegment buffer = arena.allocate(64 * 1024, 4);
            int filters = 0;
            while (true) {
                long n = Libc.recv(fd, buffer);
                long at = 0;
                while (at + NLMSG_HEADER <= n) {
                    int length = buffer.get(JAVA_INT, at);
                    short type = buffer.get(JAVA_SHORT, at + 4);
                    if (type == NLMSG_DONE) {
                        return filters;
                    }
                    if (type == NLMSG_ERROR) {
                        int error = buffer.get(JAVA_INT, at + NLMSG_HEADER);
                        if (error == 0) {
                            return filters;
                        }
                        if (error == -22 || error == -2 || error == -19) { // no clsact / no such device
                            return 0;
                        }
                        throw new BpfException("dumping tc filters of ifindex " + ifindex, -error);
                    }
                    // One message per filter; the per-priority head comes with handle 0.
                    if (type == RTM_NEWTFILTER && buffer.get(JAVA_INT, at + NLMSG_HEADER + 8) != 0) {
                        filters++;
                    }
                    if (length < NLMSG_HEADER) {
                        return filters;
                    }
                    at += (length + 3) & ~3;
                }
            }
        } finally {
            Libc.close(fd);
        }
    }
}
