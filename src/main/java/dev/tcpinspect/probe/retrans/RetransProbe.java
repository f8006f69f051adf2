package dev.tcpinspect.probe.retrans;

import dev.tcpinspect.ebpf.BpfObject;
import dev.tcpinspect.ebpf.Codec;
import dev.tcpinspect.ebpf.OpenObject;
import dev.tcpinspect.ebpf.PerCpuMap;
import dev.tcpinspect.ebpf.RingBufReader;
import dev.tcpinspect.os.Netns;
import dev.tcpinspect.probe.Flow;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.function.Consumer;

/**
 * Retransmissions from tcp:tcp_retransmit_skb and tcp:tcp_retransmit_synack (retrans.bpf.c):
 * totals, per-flow counts and an event per retransmit. Reports the caller's network namespace
 * only, unless loaded for all namespaces.
 */
public final class RetransProbe implements AutoCloseable {
    static final String OBJECT = "/bpf/retrans.bpf.o";
    private static final int STATS = 4;

    private final BpfObject object;
    private final PerCpuMap<Integer, Long> stats;
    private RingBufReader reader;

    private RetransProbe(BpfObject object) {
        this.object = object;
        this.stats = object.map("stats").perCpu(Codec.U32, Codec.U64);
    }

    /** Loads the programs, filtering in the kernel to the current namespace unless allNetns. */
    public static RetransProbe load(boolean allNetns) {
        OpenObject open = OpenObject.openResource(OBJECT);
        try {
            open.setConstant("target_netns", allNetns ? 0 : (int) Netns.currentInode());
        } catch (RuntimeException e) {
            open.close();
            throw e;
        }
        return new RetransProbe(open.load());
    }

    /** Attaches both tracepoints (mounting tracefs if needed). */
    public void attach() {
        object.program("tcpi_retrans_skb").attachTracepoint("tcp", "tcp_retransmit_skb");
        object.program("tcpi_retrans_synack").attachTracepoint("tcp", "tcp_retransmit_synack");
    }

    /**
     * Starts delivering events to the consumer on a reader thread. The event object is reused for
     * every record: read what you need during the call.
     */
    public synchronized void onEvents(Consumer<RetransmitEvent> consumer) {
        RetransmitEvent view = new RetransmitEvent();
        reader = new RingBufReader(object.map("events"), (segment, offset, length) -> {
            view.wrap(segment, offset);
            consumer.accept(view);
        }).start();
    }

    /** Events the Java side read but its consumer failed on. */
    public long eventsFailed() {
        return reader == null ? 0 : reader.failed();
    }

    public RetransCounts read() {
        long[] v = new long[STATS];
        for (int i = 0; i < STATS; i++) {
            v[i] = stats.getSummed(i, Long::sum).orElse(0L);
        }
        return new RetransCounts(v[0], v[1], v[2], v[3]);
    }

    /** The flows with the most retransmits, most first. */
    public List<FlowRetransmits> topFlows(int limit) {
        List<FlowRetransmits> all = new ArrayList<>();
        object.map("flows").forEach((key, value) -> all.add(new FlowRetransmits(Flow.read(key, 0),
                value.get(ValueLayout.JAVA_LONG_UNALIGNED, 0), value.get(ValueLayout.JAVA_LONG_UNALIGNED, 8))));
        all.sort(Comparator.comparingLong(FlowRetransmits::total).reversed());
        return all.size() > limit ? List.copyOf(all.subList(0, limit)) : all;
    }

    @Override
    public synchronized void close() {
        if (reader != null) {
            reader.close();
            reader = null;
        }
        object.close();
    }
}
