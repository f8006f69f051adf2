package dev.tcpinspect.probe.conn;

/**
 * Connection totals (enum conn_stat slots, summed over CPUs), cumulative.
 *
 * @param openedPassive accepted connections (SYN_RECV to ESTABLISHED)
 * @param openedActive connections made from here (SYN_SENT to ESTABLISHED)
 * @param closed opened connections that reached CLOSE
 * @param reset of those, closed by a reset sent or received
 * @param timeout of those, closed by a timeout
 * @param eventsLost state changes the ring buffer had no room for (still in the totals)
 * @param socksUntracked open connections pushed out of the kernel's socket table, more being open at once than it
 *     holds (their close is not counted)
 */
public record ConnCounts(long openedPassive, long openedActive, long closed, long reset, long timeout, long eventsLost,
                         long socksUntracked) {
    public ConnCounts minus(ConnCounts e) {
        return new ConnCounts(openedPassive - e.openedPassive, openedActive - e.openedActive, closed - e.closed,
                reset - e.reset, timeout - e.timeout, eventsLost - e.eventsLost, socksUntracked - e.socksUntracked);
    }
}
