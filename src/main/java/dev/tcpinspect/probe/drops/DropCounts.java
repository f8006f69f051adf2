package dev.tcpinspect.probe.drops;

import java.util.Map;
import java.util.TreeMap;

/**
 * TCP drops, cumulative.
 *
 * @param total TCP packets the kernel dropped: freed with a reason that says they were not used
 * @param byReason those drops per reason, named as the running kernel names them
 * @param rcvqueueFull segments TCP dropped for a full receive buffer: the kernel's TcpExt TCPRcvQDrop
 *     of this namespace (TCP fires no sock:sock_rcvqueue_full) plus that tracepoint on TCP sockets
 * @param eventsLost events the ring buffer had no room for (still in the totals)
 * @param flowsFull drops not under any flow (still in the totals): the kernel's flow table had no room
 *     between two reads, or tcpinspect let the flow go past {@link dev.tcpinspect.probe.FlowTable}'s capacity
 * @param listenOverflows SYNs and handshake ACKs a full accept queue turned away, from the kernel's
 *     TcpExt ListenOverflows counter of this namespace: no tracepoint fires for them
 * @param teardownFrees TCP packets freed through kfree_skb when tearing connections down, per reason
 *     (QUEUE_PURGE, NOT_SPECIFIED): handled in full, so not drops (README, "drops")
 */
public record DropCounts(long total, Map<String, Long> byReason, long rcvqueueFull, long eventsLost, long flowsFull,
                         long listenOverflows, Map<String, Long> teardownFrees) {
    public DropCounts {
        byReason = Map.copyOf(byReason);
        teardownFrees = Map.copyOf(teardownFrees);
    }

    public DropCounts minus(DropCounts earlier) {
        return new DropCounts(total - earlier.total, minus(byReason, earlier.byReason), rcvqueueFull - earlier.rcvqueueFull,
                eventsLost - earlier.eventsLost, flowsFull - earlier.flowsFull, listenOverflows - earlier.listenOverflows,
                minus(teardownFrees, earlier.teardownFrees));
    }

    private static Map<String, Long> minus(Map<String, Long> now, Map<String, Long> before) {
        Map<String, Long> d = new TreeMap<>();
        now.forEach((reason, n) -> {
            long delta = n - before.getOrDefault(reason, 0L);
            if (delta != 0) {
                d.put(reason, delta);
            }
        });
        return d;
    }
}
