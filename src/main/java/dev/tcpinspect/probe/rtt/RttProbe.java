package dev.tcpinspect.probe.rtt;

import dev.tcpinspect.probe.EventSource;
import dev.tcpinspect.probe.FlowCounting;
import dev.tcpinspect.probe.FlowTable;
import dev.tcpinspect.probe.ProbeObject;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.List;
import java.util.function.Consumer;

/** Smoothed RTT per remote address from tcp:tcp_probe, with a log-linear histogram (rtt.bpf.c). */
public final class RttProbe implements AutoCloseable, EventSource, FlowCounting {
    static final String OBJECT = "/bpf/rtt.bpf.o";
    private static final int STATS = 3;

    private final ProbeObject probe;

    private final FlowTable remotes;

    private RttProbe(ProbeObject probe) {
        this.probe = probe;
        this.remotes = probe.flowTable(RttProbe::merge, remote -> remote.get(ValueLayout.JAVA_LONG_UNALIGNED, 0));
    }

    /**
     * Adds a drained struct rtt_remote into a total: samples add up, min and max are kept, the
     * drained (newer) value's last sample and event time replace the total's.
     */
    private static void merge(MemorySegment total, MemorySegment more) {
        total.set(ValueLayout.JAVA_LONG_UNALIGNED, 0, total.get(ValueLayout.JAVA_LONG_UNALIGNED, 0)
                + more.get(ValueLayout.JAVA_LONG_UNALIGNED, 0));
        total.set(ValueLayout.JAVA_LONG_UNALIGNED, 8, more.get(ValueLayout.JAVA_LONG_UNALIGNED, 8));
        total.set(ValueLayout.JAVA_INT_UNALIGNED, 16, more.get(ValueLayout.JAVA_INT_UNALIGNED, 16));
        total.set(ValueLayout.JAVA_INT_UNALIGNED, 20, Integer.min(total.get(ValueLayout.JAVA_INT_UNALIGNED, 20),
                more.get(ValueLayout.JAVA_INT_UNALIGNED, 20)));
        total.set(ValueLayout.JAVA_INT_UNALIGNED, 24, Integer.max(total.get(ValueLayout.JAVA_INT_UNALIGNED, 24),
                more.get(ValueLayout.JAVA_INT_UNALIGNED, 24)));
        total.set(ValueLayout.JAVA_INT_UNALIGNED, 28, more.get(ValueLayout.JAVA_INT_UNALIGNED, 28));
    }

    /** Loads the probe; allNetns: every namespace, not only the caller's; events: make event records. */
    public static RttProbe load(boolean allNetns, boolean events) {
        return new RttProbe(ProbeObject.load(OBJECT, STATS, allNetns, events));
    }

    public void attach() {
        probe.attachSectionDefined("tcpi_rtt_probe");
    }

    /** Delivers sampled RTT events (one per remote address per second) on a reader thread. */
    public void onEvents(Consumer<RttEvent> consumer) {
        probe.onEvents(new RttEvent(), consumer);
    }

    @Override
    public void drainFlows() {
        remotes.drain();
    }

    public RttStats read() {
        remotes.drain();
        long[] s = probe.stats();
        return new RttStats(probe.histograms(1)[0], s[1], s[2] + remotes.released());
    }

    /** Remote addresses with the most samples first. */
    public List<RemoteRtt> remotes(int limit) {
        return remotes.top(limit, RttProbe::remote);
    }

    private static RemoteRtt remote(MemorySegment key, MemorySegment value) {
        boolean v6 = Short.toUnsignedInt(key.get(ValueLayout.JAVA_SHORT_UNALIGNED, 4)) == 10;
        InetAddress address;
        try {
            address = InetAddress.getByAddress(key.asSlice(8, v6 ? 16 : 4).toArray(ValueLayout.JAVA_BYTE));
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e);
        }
        return new RemoteRtt(Integer.toUnsignedLong(key.get(ValueLayout.JAVA_INT_UNALIGNED, 0)), address,
                value.get(ValueLayout.JAVA_LONG_UNALIGNED, 0),
                Integer.toUnsignedLong(value.get(ValueLayout.JAVA_INT_UNALIGNED, 16)),
                Integer.toUnsignedLong(value.get(ValueLayout.JAVA_INT_UNALIGNED, 20)),
                Integer.toUnsignedLong(value.get(ValueLayout.JAVA_INT_UNALIGNED, 24)),
                Integer.toUnsignedLong(value.get(ValueLayout.JAVA_INT_UNALIGNED, 28)));
    }

    @Override
    public long eventsFailed() {
        return probe.eventsFailed();
    }

    @Override
    public long runsSkipped() {
        return probe.runsSkipped();
    }

    @Override
    public void close() {
        probe.close();
    }
}
