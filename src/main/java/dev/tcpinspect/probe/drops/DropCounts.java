package dev.tcpinspect.probe.drops;

import java.util.Map;
import java.util.TreeMap;

/**
 * TCP drops, cumulative.
 *
 * @param total TCP packets freed with a drop reason
 * @param byReason per reason, named as the running kernel names them
 * @param rcvqueueFull TCP sockets' receive queue full events
 * @param eventsLost events the ring buffer had no room for (still in the totals)
 * @param flowsFull drops not under any flow (still in the totals): the kernel's flow table had no room
 *     between two reads, or tcpinspect let the flow go past {@link dev.tcpinspect.probe.FlowTable}'s capacity
 * @param listenOverflows SYNs and handshake ACKs a full accept queue turned away, from the kernel's
 *     TcpExt ListenOverflows counter of this namespace: no tracepoint fires for them
 */
public record DropCounts(long total, Map<String, Long> byReason, long rcvqueueFull, long eventsLost, long flowsFull,
                         long listenOverflows) {
    public DropCounts {
        byReason = Map.copyOf(byReason);
    }

    public DropCounts minus(DropCounts earlier) {
        Map<String, Long> reasons = new TreeMap<>();
        byReason.forEach((reason, n) -> {
            long d = n - earlier.byReason.getOrDefault(reason, 0L);
            if (d != 0) {
                reasons.put(reason, d);
            }
        });
        return new DropCounts(total - earlier.total, reasons, rcvqueueFull - earlier.rcvqueueFull,
                eventsLost - earlier.eventsLost, flowsFull - earlier.flowsFull, listenOverflows - earlier.listenOverflows);
    }
}
