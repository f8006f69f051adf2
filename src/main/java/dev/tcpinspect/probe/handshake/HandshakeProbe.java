package dev.tcpinspect.probe.handshake;

import dev.tcpinspect.ebpf.BpfMap;
import dev.tcpinspect.os.NetInterfaces;
import dev.tcpinspect.probe.TcSlots;
import dev.tcpinspect.probe.EventSource;
import dev.tcpinspect.probe.ProbeObject;
import dev.tcpinspect.probe.hist.LogLinearHistogram;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * Handshake latency (handshake.bpf.c): passive from the first SYN seen at TC ingress of the watched
 * interfaces to ESTABLISHED, active from SYN_SENT to ESTABLISHED; log-linear histograms overall and
 * per local port.
 */
public final class HandshakeProbe implements AutoCloseable, EventSource {
    static final String OBJECT = "/bpf/handshake.bpf.o";
    private static final int STATS = 3;

    private final ProbeObject probe;

    private HandshakeProbe(ProbeObject probe) {
        this.probe = probe;
    }

    /** Loads the probe; allNetns: every namespace, not only the caller's; events: make event records. */
    public static HandshakeProbe load(boolean allNetns, boolean events) {
        return new HandshakeProbe(ProbeObject.load(OBJECT, STATS, allNetns, events));
    }

    /** Attaches the SYN timestamp program to each interface (calling thread's namespace) and the tracepoint. */
    public void attach(List<String> interfaces) {
        for (String name : interfaces) {
            TcSlots.attach(probe.program("tcpi_hs_tc"), name, NetInterfaces.indexOf(name), TcSlots.HANDSHAKE);
        }
        probe.attachTwins("tcpi_hs_state", "tcpi_hs_twin");
    }

    public void onEvents(Consumer<HandshakeEvent> consumer) {
        probe.onEvents(new HandshakeEvent(), consumer);
    }

    public HandshakeStats read() {
        LogLinearHistogram[] kinds = probe.histograms(2);
        long[] s = probe.stats();
        return new HandshakeStats(kinds[0], kinds[1], s[0], s[1], s[2]);
    }

    /** Per port histograms, ports ascending: accepted connections by local port (passive), outgoing ones by remote port. */
    public Map<Integer, LogLinearHistogram> byPort(boolean passive) {
        Map<Integer, LogLinearHistogram> ports = new TreeMap<>();
        int cpus = BpfMap.possibleCpus();
        probe.map("port_hist").forEach((key, values) -> {
            int port = Short.toUnsignedInt(key.get(ValueLayout.JAVA_SHORT_UNALIGNED, 0));
            int kind = key.get(ValueLayout.JAVA_BYTE, 2);
            int bucket = key.get(ValueLayout.JAVA_INT_UNALIGNED, 4);
            if ((kind == 0) == passive) {
                ports.computeIfAbsent(port, p -> new LogLinearHistogram()).addBucket(bucket, sumPerCpu(values, 8, cpus, 0));
            }
        });
        ports.values().forEach(LogLinearHistogram::summarizeFromBuckets);
        return ports;
    }

    private static long sumPerCpu(MemorySegment values, int stride, int cpus, long at) {
        long n = 0;
        for (int cpu = 0; cpu < cpus; cpu++) {
            n += values.get(ValueLayout.JAVA_LONG_UNALIGNED, at + (long) cpu * stride);
        }
        return n;
    }

    @Override
    public long eventsFailed() {
        return probe.eventsFailed();
    }

    /** The state-change handler's twin runs (bpf/include/twin.h), for checking that they add up. */
    public ProbeObject.TwinRuns twinRuns() {
        return probe.twinRuns();
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
