package dev.tcpinspect.probe.retrans;

import dev.tcpinspect.probe.Flow;
import dev.tcpinspect.probe.EventSource;
import dev.tcpinspect.probe.FlowCounting;
import dev.tcpinspect.probe.FlowTable;
import dev.tcpinspect.probe.ProbeObject;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.function.Consumer;

/**
 * Retransmissions from tcp:tcp_retransmit_skb and tcp:tcp_retransmit_synack (retrans.bpf.c):
 * totals, per-flow counts and an event per retransmit. Reports the caller's network namespace
 * only, unless loaded for all namespaces.
 */
public final class RetransProbe implements AutoCloseable, EventSource, FlowCounting {
    static final String OBJECT = "/bpf/retrans.bpf.o";
    private static final int STATS = 4;

    private final ProbeObject probe;

    private final FlowTable flows;

    private RetransProbe(ProbeObject probe) {
        this.probe = probe;
        this.flows = probe.flowTable(FlowTable.sumOfLongs(2), RetransProbe::retransmits);
    }

    /** A flow's retransmits (struct retrans_counts: data, synack). */
    private static long retransmits(MemorySegment counts) {
        return counts.get(ValueLayout.JAVA_LONG_UNALIGNED, 0) + counts.get(ValueLayout.JAVA_LONG_UNALIGNED, 8);
    }

    /** Loads the probe; allNetns: every namespace, not only the caller's; events: make event records. */
    public static RetransProbe load(boolean allNetns, boolean events) {
        return new RetransProbe(ProbeObject.load(OBJECT, STATS, allNetns, events));
    }

    /** Attaches both tracepoints (mounting tracefs if needed). */
    public void attach() {
        probe.attach("tcpi_retrans_skb", "tcp:tcp_retransmit_skb")
                .attach("tcpi_retrans_synack", "tcp:tcp_retransmit_synack");
    }

    /**
     * Starts delivering events to the consumer on a reader thread. The event object is reused for
     * every record: read what you need during the call.
     */
    public void onEvents(Consumer<RetransmitEvent> consumer) {
        probe.onEvents(new RetransmitEvent(), consumer);
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
    public void drainFlows() {
        flows.drain();
    }

    public RetransCounts read() {
        flows.drain();
        long[] v = probe.stats();
        return new RetransCounts(v[0], v[1], v[2], v[3] + flows.released());
    }

    /** The flows with the most retransmits, most first. */
    public List<FlowRetransmits> topFlows(int limit) {
        return flows.top(limit, (key, value) -> new FlowRetransmits(Flow.read(key, 0),
                value.get(ValueLayout.JAVA_LONG_UNALIGNED, 0), value.get(ValueLayout.JAVA_LONG_UNALIGNED, 8)));
    }

    @Override
    public void close() {
        probe.close();
    }
}
