package dev.tcpinspect.probe.reset;

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
 * Resets sent (tcp:tcp_send_reset) and received (tcp:tcp_receive_reset), per flow and as events
 * (reset.bpf.c). Reports the caller's network namespace only, unless loaded for all.
 */
public final class ResetProbe implements AutoCloseable, EventSource, FlowCounting {
    static final String OBJECT = "/bpf/reset.bpf.o";
    private static final int STATS = 4;

    private final ProbeObject probe;

    private final FlowTable flows;

    private ResetProbe(ProbeObject probe) {
        this.probe = probe;
        this.flows = probe.flowTable(FlowTable.sumOfLongs(2), ResetProbe::resets);
    }

    /** A flow's resets (struct reset_counts: sent, received). */
    private static long resets(MemorySegment counts) {
        return counts.get(ValueLayout.JAVA_LONG_UNALIGNED, 0) + counts.get(ValueLayout.JAVA_LONG_UNALIGNED, 8);
    }

    /** Loads the probe; allNetns: every namespace, not only the caller's; events: make event records. */
    public static ResetProbe load(boolean allNetns, boolean events) {
        return new ResetProbe(ProbeObject.load(OBJECT, STATS, allNetns, events));
    }

    public void attach() {
        probe.attach("tcpi_reset_send", "tcp:tcp_send_reset").attach("tcpi_reset_recv", "tcp:tcp_receive_reset");
    }

    /** Delivers events on a reader thread; the event object is reused for every record. */
    public void onEvents(Consumer<ResetEvent> consumer) {
        probe.onEvents(new ResetEvent(), consumer);
    }

    @Override
    public void drainFlows() {
        flows.drain();
    }

    public ResetCounts read() {
        flows.drain();
        long[] v = probe.stats();
        return new ResetCounts(v[0], v[1], v[2], v[3] + flows.released());
    }

    public List<FlowResets> topFlows(int limit) {
        return flows.top(limit, (key, value) -> new FlowResets(Flow.read(key, 0),
                value.get(ValueLayout.JAVA_LONG_UNALIGNED, 0), value.get(ValueLayout.JAVA_LONG_UNALIGNED, 8)));
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
