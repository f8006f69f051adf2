package dev.tcpinspect.probe.handshake;

import dev.tcpinspect.ebpf.Codec;
import dev.tcpinspect.ebpf.PerCpuMap;
import dev.tcpinspect.os.NetInterfaces;
import dev.tcpinspect.probe.TcSlots;
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
public final class HandshakeProbe implements AutoCloseable {
    static final String OBJECT = "/bpf/handshake.bpf.o";
    private static final int STATS = 3;
    private static final int SUMMARY_SIZE = 32;

    private final ProbeObject probe;
    private final PerCpuMap<Integer, Long> hist;

    private HandshakeProbe(ProbeObject probe) {
        this.probe = probe;
        this.hist = probe.map("hist").perCpu(Codec.U32, Codec.U64);
    }

    public static HandshakeProbe load(boolean allNetns) {
        return new HandshakeProbe(ProbeObject.load(OBJECT, STATS, allNetns));
    }

    /** Attaches the SYN timestamp program to each interface (calling thread's namespace) and the tracepoint. */
    public void attach(List<String> interfaces) {
        for (String name : interfaces) {
            TcSlots.attach(probe.program("tcpi_hs_tc"), name, NetInterfaces.indexOf(name), TcSlots.HANDSHAKE);
        }
        probe.attach("tcpi_hs_state", "sock:inet_sock_set_state");
    }

    public void onEvents(Consumer<HandshakeEvent> consumer) {
        probe.onEvents(new HandshakeEvent(), consumer);
    }

    public HandshakeStats read() {
        LogLinearHistogram[] kinds = {new LogLinearHistogram(), new LogLinearHistogram()};
        hist.raw().forEach((key, values) -> {
            int slot = key.get(ValueLayout.JAVA_INT_UNALIGNED, 0);
            long n = sumPerCpu(values, 8, hist.cpus(), 0);
            if (n != 0) {
                kinds[slot / LogLinearHistogram.BUCKETS].addBucket(slot % LogLinearHistogram.BUCKETS, n);
            }
        });
        var summary = probe.map("summary");
        int cpus = hist.cpus();
        summary.forEach((key, values) -> {
            int kind = key.get(ValueLayout.JAVA_INT_UNALIGNED, 0);
            for (int cpu = 0; cpu < cpus; cpu++) {
                long base = (long) cpu * SUMMARY_SIZE;
                kinds[kind].addSummary(values.get(ValueLayout.JAVA_LONG_UNALIGNED, base),
                        values.get(ValueLayout.JAVA_LONG_UNALIGNED, base + 8),
                        values.get(ValueLayout.JAVA_LONG_UNALIGNED, base + 16),
                        values.get(ValueLayout.JAVA_LONG_UNALIGNED, base + 24));
            }
        });
        long[] s = probe.stats();
        return new HandshakeStats(kinds[0], kinds[1], s[0], s[1], s[2]);
    }

    /** Per local port histograms of one kind (passive when true), ports ascending. */
    public Map<Integer, LogLinearHistogram> byPort(boolean passive) {
        Map<Integer, LogLinearHistogram> ports = new TreeMap<>();
        int cpus = hist.cpus();
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
    public void close() {
        probe.close();
    }
}
