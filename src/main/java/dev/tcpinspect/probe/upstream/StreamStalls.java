package dev.tcpinspect.probe.upstream;

import java.util.HashSet;
import java.util.Set;

/**
 * Stalled streams: connections to an upstream that wait for data that does not come. TCP does not
 * say when a response is complete, so "data is expected" is read from the data's timing, as the
 * packet hooks keep it per connection (struct upstream_stream in bpf/probes/upstream.h):
 * <ul>
 *   <li>a request waits for its answer: our data left after the last the upstream sent (or it has
 *       sent none yet); or</li>
 *   <li>a stream is under way: since our last data, the upstream's arrived as {@value #STREAM_ARRIVALS}
 *       events or more, each after a pause (an SSE or token stream), where one response's segments
 *       arrive back to back;</li>
 * </ul>
 * and not once the upstream sent its FIN. Such a connection that received nothing for the stall
 * time is stalled until data moves again. A long response that came in bursts and then idles in a
 * pool reads as stalled too, until its next request or its close: the price of judging below HTTP.
 * Pure logic: the probe feeds it each connection's figures every second.
 */
final class StreamStalls {
    /** Arrivals after pauses that make the upstream's data a stream. */
    static final int STREAM_ARRIVALS = 3;

    /** Stalled streams per upstream now, the longest stall's length, and how many stalls began since the start. */
    private final int[] stalled;
    private final long[] longestMs;
    private final long[] begun;
    private Set<Long> stalledBefore = new HashSet<>();
    private Set<Long> stalledNow = new HashSet<>();
    private long nextDueMs;

    StreamStalls(int upstreams) {
        stalled = new int[upstreams];
        longestMs = new long[upstreams];
        begun = new long[upstreams];
    }

    /** Starts a reading at nowMs (the monotonic clock in ms, as the kernel's coarse clock reads it). */
    void start() {
        java.util.Arrays.fill(stalled, 0);
        java.util.Arrays.fill(longestMs, 0);
        nextDueMs = Long.MAX_VALUE;
        Set<Long> swap = stalledBefore;
        stalledBefore = stalledNow;
        stalledNow = swap;
        stalledNow.clear();
    }

    /**
     * One connection of upstream up, by its tag: its clock readings (ms mod 2^32, 0 for never), its
     * arrivals and FIN, judged at nowMs against stallMs.
     */
    void connection(int up, long tag, int receivedMs, int sentMs, int arrivals, boolean fin, long nowMs, long stallMs) {
        int since = expectedSince(receivedMs, sentMs, arrivals, fin);
        if (since == 0) {
            return;
        }
        long quiet = Math.max(0, (int) nowMs - since); // both mod 2^32: the difference is right across a wrap
        if (quiet < stallMs) {
            nextDueMs = Math.min(nextDueMs, stallMs - quiet);
            return;
        }
        stalled[up]++;
        longestMs[up] = Math.max(longestMs[up], quiet);
        stalledNow.add(tag);
        if (!stalledBefore.contains(tag)) {
            begun[up]++;
        }
    }

    /** Since when (clock ms, never 0) the connection waits for data; 0 when it waits for none. */
    static int expectedSince(int receivedMs, int sentMs, int arrivals, boolean fin) {
        if (fin) {
            return 0;
        }
        if (sentMs != 0 && (receivedMs == 0 || sentMs - receivedMs > 0)) {
            return sentMs; // a request waits for its answer
        }
        if (arrivals >= STREAM_ARRIVALS) {
            return receivedMs; // a stream under way
        }
        return 0;
    }

    int stalled(int up) {
        return stalled[up];
    }

    long longestMs(int up) {
        return longestMs[up];
    }

    long begun(int up) {
        return begun[up];
    }

    /** In how many ms, at the earliest, a connection judged in this reading stalls (Long.MAX_VALUE: none waits). */
    long nextDueMs() {
        return nextDueMs;
    }
}
