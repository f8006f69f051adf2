package dev.tcpinspect.probe.drops;

import dev.tcpinspect.ebpf.Codec;
import dev.tcpinspect.ebpf.KernelEnums;
import dev.tcpinspect.ebpf.PerCpuMap;
import dev.tcpinspect.os.Netns;
import dev.tcpinspect.os.SnmpCounters;
import dev.tcpinspect.probe.Flow;
import dev.tcpinspect.probe.EventSource;
import dev.tcpinspect.probe.FlowCounting;
import dev.tcpinspect.probe.FlowTable;
import dev.tcpinspect.probe.ProbeObject;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * TCP packets the kernel dropped, with the kernel's reason (skb:kfree_skb), per reason and per flow,
 * and receive-queue-full events (drops.bpf.c). Reason names come from the running kernel's BTF.
 * A full accept queue turns SYNs away without a kfree_skb, so listen overflows are read from the
 * kernel's counter instead.
 */
public final class DropsProbe implements AutoCloseable, EventSource, FlowCounting {
    static final String OBJECT = "/bpf/drops.bpf.o";
    private static final int STATS = 4;
    private static final int REASON_SLOTS = 256;

    private final ProbeObject probe;
    private final PerCpuMap<Integer, Long> byReason;
    private final Netns netns;

    private final FlowTable flows;

    private DropsProbe(ProbeObject probe, Netns netns) {
        this.probe = probe;
        this.netns = netns;
        this.flows = probe.flowTable(FlowTable.sumOfLongs(1), count -> count.get(ValueLayout.JAVA_LONG_UNALIGNED, 0));
        this.byReason = probe.map("by_reason").perCpu(Codec.U32, Codec.U64);
    }

    /**
     * Loads the probe; allNetns: every namespace, not only the caller's; events: make event records.
     * Listen overflows are read from the caller's namespace's counters.
     */
    public static DropsProbe load(boolean allNetns, boolean events) {
        return load(ProbeObject.load(OBJECT, STATS, allNetns, events));
    }

    /** As {@link #load(boolean, boolean)}, with room for flowEntries flows in the kernel's table between drains. */
    public static DropsProbe load(boolean allNetns, boolean events, int flowEntries) {
        return load(ProbeObject.load(OBJECT, STATS, allNetns, events, flowEntries));
    }

    private static DropsProbe load(ProbeObject probe) {
        try {
            return new DropsProbe(probe, Netns.current());
        } catch (RuntimeException e) {
            probe.close();
            throw e;
        }
    }

    public void attach() {
        probe.attachSectionDefined("tcpi_drops_kfree").attachSectionDefined("tcpi_drops_rcvq");
    }

    /** The kernel's name of a drop reason ("NO_SOCKET"), or its number when the kernel has no name for it. */
    public static String reasonName(long reason) {
        String name = KernelEnums.values("skb_drop_reason", "SKB_DROP_REASON_").get(reason);
        return name != null ? name : Long.toString(reason);
    }

    /** Delivers events on a reader thread; the event object is reused for every record. */
    public void onEvents(Consumer<DropEvent> consumer) {
        probe.onEvents(new DropEvent(), consumer);
    }

    @Override
    public void drainFlows() {
        flows.drain();
    }

    public DropCounts read() {
        flows.drain();
        long[] v = probe.stats();
        Map<String, Long> reasons = new TreeMap<>();
        byReason.entriesSummed(Long::sum).forEach((reason, n) -> {
            if (n != 0) {
                reasons.put(reason == REASON_SLOTS - 1 ? "OTHER" : reasonName(reason), n);
            }
        });
        long overflows = netns.call(() -> SnmpCounters.read().getOrDefault("TcpExt:ListenOverflows", 0L));
        return new DropCounts(v[0], reasons, v[1], v[2], v[3] + flows.released(), overflows);
    }

    /** Flow and reason pairs with the most drops, most first. */
    public List<FlowDrops> topFlows(int limit) {
        return flows.top(limit, (key, value) -> new FlowDrops(Flow.read(key, 0),
                reasonName(Integer.toUnsignedLong(key.get(ValueLayout.JAVA_INT_UNALIGNED, Flow.SIZE))),
                value.get(ValueLayout.JAVA_LONG_UNALIGNED, 0)));
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
        try {
            probe.close();
        } finally {
            netns.close();
        }
    }
}
