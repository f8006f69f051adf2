package dev.tcpinspect.probe.zerowin;

import dev.tcpinspect.os.NetInterfaces;
import dev.tcpinspect.os.Netns;
import dev.tcpinspect.probe.Flow;
import dev.tcpinspect.probe.EventSource;
import dev.tcpinspect.probe.FlowCounting;
import dev.tcpinspect.probe.FlowTable;
import dev.tcpinspect.probe.ProbeObject;
import dev.tcpinspect.probe.TcSlots;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.function.Consumer;

/**
 * Zero windows advertised by peers (TC ingress) and by this host (TC egress) on the watched
 * interfaces, per flow, with how long each stayed closed (zerowin.bpf.c).
 */
public final class ZeroWindowProbe implements AutoCloseable, EventSource, FlowCounting {
    static final String OBJECT = "/bpf/zerowin.bpf.o";
    private static final int STATS = 6;

    private final ProbeObject probe;
    private long netns;

    private final FlowTable flows;

    private ZeroWindowProbe(ProbeObject probe) {
        this.probe = probe;
        this.flows = probe.flowTable(FlowTable.sumOfLongs(2), counts -> counts.get(ValueLayout.JAVA_LONG_UNALIGNED, 0));
    }

    /** Loads the probe; events: make event records. */
    public static ZeroWindowProbe load(boolean events) {
        return new ZeroWindowProbe(ProbeObject.loadPacketProbe(OBJECT, STATS, events));
    }

    /** Attaches to each interface's ingress and egress in the calling thread's namespace. */
    public void attach(List<String> interfaces) {
        netns = Netns.currentInode();
        for (String name : interfaces) {
            int ifindex = NetInterfaces.indexOf(name);
            TcSlots.attach(probe.program("tcpi_zw_in"), name, ifindex, TcSlots.ZEROWIN_IN);
            TcSlots.attach(probe.program("tcpi_zw_out"), name, ifindex, TcSlots.ZEROWIN_OUT);
        }
    }

    /** Delivers closings and reopenings on a reader thread; the event object is reused. Call after attach. */
    public void onEvents(Consumer<ZeroWindowEvent> consumer) {
        probe.onEvents(new ZeroWindowEvent(netns), consumer);
    }

    @Override
    public void drainFlows() {
        flows.drain();
    }

    public ZeroWindowCounts read() {
        flows.drain();
        long[] v = probe.stats();
        return new ZeroWindowCounts(v[0], v[1], v[2], v[3], v[4], v[5] + flows.released());
    }

    /** Windows closed right now: the kernel keeps a window's state only while it is closed. */
    public long closedNow() {
        long[] n = {0};
        probe.map("closed").forEach((key, value) -> n[0]++);
        return n[0];
    }

    public List<FlowZeroWindows> topFlows(int limit) {
        return flows.top(limit, (key, value) -> new FlowZeroWindows(Flow.readTuple(key, 0, netns),
                key.get(ValueLayout.JAVA_INT_UNALIGNED, Flow.TUPLE_SIZE) == 1,
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
