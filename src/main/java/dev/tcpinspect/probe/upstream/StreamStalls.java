package dev.tcpinspect.probe.upstream;

import java.util.HashSet;
import java.util.Set;

/**
 * Stalled streams: connections to an upstream that wait for data that does not come. TCP does not
 * say when a response is complete, so "data is expected" is read from the new data's timing, as
 * the packet hooks keep it per connection (struct upstream_stream in bpf/probes/upstream.h):
 * <ul>
 *   <li>a request waits for its answer: our new data was the last to move (none of the
 *       upstream's has arrived since); or</li>
 *   <li>a stream is under way: since our last data, the upstream's arrived as {@value #STREAM_ARRIVALS}
 *       events or more, each after a pause, of {@value #STREAM_EVENT_BYTES} bytes or fewer on average
 *       (an SSE or token stream), where one response arrives back to back, or in a few flights of
 *       a congestion window each;</li>
 * </ul>
 * and not once the upstream sent its FIN. Such a connection that received nothing new for the
 * stall time is stalled until data moves again. What this cannot tell (README): data of ours that
 * asks nothing (a pong, a heartbeat) makes a connection wait; data of the upstream's that answers
 * nothing (a TLS 1.3 session ticket after our request) ends a wait; a response in many small bursts
 * that then idles in a pool reads as a stalled stream. Pure logic: the probe feeds it each
 * connection's figures every second.
 */
final class StreamStalls {
    /** Arrivals after pauses that make the upstream's data a stream. */
    static final int STREAM_ARRIVALS = 3;
    /** The most bytes a stream's arrivals bring on average: an event, a few tokens; a flight of a
     * congestion window (10 segments and up, 14 KB) is a response's. */
    static final long STREAM_EVENT_BYTES = 8192;

    /** Stalled streams per upstream now, the longest stall's length, and how many stalls began since the start. */
    private final int[] stalled;
    private final long[] longestMs;
    private final long[] begun;
    private Set<Long> stalledBefore = new HashSet<>();
    private Set<Long> stalledNow = new HashSet<>();

    StreamStalls(int upstreams) {
        stalled = new int[upstreams];
        longestMs = new long[upstreams];
        begun = new long[upstreams];
    }

    /** Starts a reading: the last one's stalled connections are kept to tell which stalls are new. */
    void start() {
        java.util.Arrays.fill(stalled, 0);
        java.util.Arrays.fill(longestMs, 0);
        Set<Long> swap = stalledBefore;
        stalledBefore = stalledNow;
        stalledNow = swap;
        stalledNow.clear();
    }

    /**
     * One connection of upstream up, by its tag: its clock readings (ms mod 2^32, 0 for never), its
     * arrivals and their bytes, its FIN, judged at nowMs against stallMs.
     */
    void connection(int up, long tag, int receivedMs, int sentMs, int arrivals, long receivedBytes, boolean fin,
                    long nowMs, long stallMs) {
        int since = expectedSince(receivedMs, sentMs, arrivals, receivedBytes, fin);
        long quiet = Math.max(0, (int) nowMs - since); // both mod 2^32: the difference is right across a wrap
        if (since == 0 || quiet < stallMs) {
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
    static int expectedSince(int receivedMs, int sentMs, int arrivals, long receivedBytes, boolean fin) {
        if (fin) {
            return 0;
        }
        if (sentMs != 0 && arrivals == 0) {
            return sentMs; // a request waits for its answer (told by the arrivals, not the clocks: both may read one tick)
        }
        if (arrivals >= STREAM_ARRIVALS && receivedBytes <= STREAM_EVENT_BYTES * arrivals) {
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

}
