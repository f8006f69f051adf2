package dev.tcpinspect.probe.dupack;

import dev.tcpinspect.os.NetInterfaces;
import dev.tcpinspect.os.Netns;
import dev.tcpinspect.probe.Flow;
import dev.tcpinspect.probe.TcSlots;
import dev.tcpinspect.probe.EventSource;
import dev.tcpinspect.probe.FlowCounting;
import dev.tcpinspect.probe.FlowTable;
import dev.tcpinspect.probe.ProbeObject;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.function.Consumer;

/** Duplicate ACKs received, per flow, at TC ingress of the watched interfaces (dupack.bpf.c). */
public final class DupAckProbe implements AutoCloseable, EventSource, FlowCounting {
    static final String OBJECT = "/bpf/dupack.bpf.o";
    private static final int STATS = 4;

    private final ProbeObject probe;
    private long netns;

    private final FlowTable flows;

    private DupAckProbe(ProbeObject probe) {
        this.probe = probe;
        this.flows = probe.flowTable(FlowTable.sumOfLongs(1), count -> count.get(ValueLayout.JAVA_LONG_UNALIGNED, 0));
    }

    /** Loads the probe; events: make event records. */
    public static DupAckProbe load(boolean events) {
        return new DupAckProbe(ProbeObject.loadPacketProbe(OBJECT, STATS, events));
    }

    /** Attaches to each interface's ingress in the calling thread's namespace. */
    public void attach(List<String> interfaces) {
        netns = Netns.currentInode();
        for (String name : interfaces) {
            TcSlots.attach(probe.program("tcpi_dupack_tc"), name, NetInterfaces.indexOf(name), TcSlots.DUPACK);
        }
    }

    @Override
    public void drainFlows() {
        flows.drain();
    }

    public DupAckCounts read() {
        flows.drain();
        long[] v = probe.stats();
        return new DupAckCounts(v[0], v[1] + flows.released(), v[2], v[3]);
    }

    /** Delivers dup ACKs on a reader thread; the event object is reused for every record. Call after attach. */
    public void onEvents(Consumer<DupAckEvent> consumer) {
        probe.onEvents(new DupAckEvent(netns), consumer);
    }

    public List<FlowDupAcks> topFlows(int limit) {
        return flows.top(limit, (key, value) -> new FlowDupAcks(Flow.readTuple(key, 0, netns),
                value.get(ValueLayout.JAVA_LONG_UNALIGNED, 0))).stream()
                .filter(f -> f.dupacks() > 0).toList();
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
