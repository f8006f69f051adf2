package dev.tcpinspect.probe.capture;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import dev.tcpinspect.ebpf.OpenObject;
import dev.tcpinspect.probe.Hook;
import dev.tcpinspect.probe.Probe;
import dev.tcpinspect.probe.ProbeContext;
import dev.tcpinspect.probe.ProbeSet;
import dev.tcpinspect.snapshot.Desc;
import dev.tcpinspect.snapshot.Desc.Role;
import dev.tcpinspect.snapshot.Export;
import dev.tcpinspect.snapshot.Metric.Counter;
import dev.tcpinspect.snapshot.Snapshot;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * capture (bpf/probes/capture.h): copies of flagged packets (anomalous segments, resets in and out,
 * TCP packets the kernel dropped with a reason) handed to a sink with why each was flagged, for a
 * pcapng file. Not in the registry: a watch adds it when asked for a file, beside its probes.
 */
public final class CaptureProbe implements Probe {
    /** enum capture_kind. */
    public static final int ANOMALY = 1;
    public static final int RESET_IN = 2;
    public static final int RESET_OUT = 3;
    public static final int DROP = 4;
    /** The most bytes copied of one packet (CAPTURE_BYTES). */
    public static final int BYTES = 256;

    /** struct capture_record. */
    static final StructLayout RECORD = MemoryLayout.structLayout(JAVA_LONG.withName("ts_ns"), JAVA_INT.withName("ifindex"),
            JAVA_SHORT.withName("kind"), JAVA_SHORT.withName("code"), JAVA_INT.withName("orig_len"),
            JAVA_SHORT.withName("cap_len"), JAVA_BYTE.withName("link"), JAVA_BYTE.withName("pad"),
            MemoryLayout.sequenceLayout(BYTES, JAVA_BYTE).withName("data")).withName("capture_record");
    private static final long TS = RECORD.byteOffset(MemoryLayout.PathElement.groupElement("ts_ns"));
    private static final long IFINDEX = RECORD.byteOffset(MemoryLayout.PathElement.groupElement("ifindex"));
    private static final long KIND = RECORD.byteOffset(MemoryLayout.PathElement.groupElement("kind"));
    private static final long CODE = RECORD.byteOffset(MemoryLayout.PathElement.groupElement("code"));
    private static final long ORIG_LEN = RECORD.byteOffset(MemoryLayout.PathElement.groupElement("orig_len"));
    private static final long CAP_LEN = RECORD.byteOffset(MemoryLayout.PathElement.groupElement("cap_len"));
    private static final long LINK = RECORD.byteOffset(MemoryLayout.PathElement.groupElement("link"));
    private static final long DATA = RECORD.byteOffset(MemoryLayout.PathElement.groupElement("data"));

    /** enum capture_stat. */
    private enum Stat { COPIED, LOST }

    private static final Desc COPIED = Desc.of("capture.packets", "packets written to the capture file",
            "Flagged packets copied for the capture file (anomalies, resets, drops with a reason)").role(Role.NOTE);
    private static final Desc LOST = Desc.of("capture.lost", "flagged packets the capture's ring had no room for",
            "Flagged packets not copied: the capture's ring buffer was full").role(Role.NOT_SHOWN)
            .metric(Export.Family.EVENTS_LOST, "probe", "capture");

    /** Where the copies go, on the set's reader thread; the data is valid only during the call. */
    @FunctionalInterface
    public interface Sink {
        void packet(long monotonicNanos, int ifindex, int link, int origLen, MemorySegment data, long offset, int capLen,
                    String comment);
    }

    private final boolean payload;
    private final Sink sink;
    private ProbeContext context;
    /** Comments by kind and code: a few dozen strings made once, none per packet. */
    private final Map<Integer, String> comments = new ConcurrentHashMap<>();

    /** @param payload whole frames up to 256 bytes instead of headers only */
    public CaptureProbe(boolean payload, Sink sink) {
        this.payload = payload;
        this.sink = sink;
    }

    @Override
    public String name() {
        return "capture";
    }

    @Override
    public String help() {
        return "Copies of flagged packets (anomalies, resets, drops with a reason) for a pcapng file (--pcap).";
    }

    @Override
    public Set<Hook> hooks() {
        return Set.of(Hook.INGRESS, Hook.EGRESS, Hook.KFREE_SKB);
    }

    @Override
    public boolean readsRingsAlways() {
        return true;
    }

    @Override
    public void configure(OpenObject object, ProbeSet.Options options) {
        object.setConstant("capture_payload", payload);
    }

    /** enum anomaly_kind's names from the object's BTF (anomaly.h): value to "xmas", "syn_fin", ... */
    private Map<Long, String> anomalyKinds = Map.of();

    @Override
    public void bind(ProbeContext context) {
        this.context = context;
        Map<Long, String> kinds = new java.util.HashMap<>();
        context.object().btf().enumValues("anomaly_kind").forEach((name, value) ->
                kinds.put(value, name.replaceFirst("^ANOMALY_", "").toLowerCase(java.util.Locale.ROOT)));
        anomalyKinds = Map.copyOf(kinds);
        context.subscribeAlways("capture_packets", (data, offset, length) -> {
            int kind = data.get(ValueLayout.JAVA_SHORT_UNALIGNED, offset + KIND) & 0xffff;
            int code = data.get(ValueLayout.JAVA_SHORT_UNALIGNED, offset + CODE) & 0xffff;
            int capLen = Math.min(BYTES, data.get(ValueLayout.JAVA_SHORT_UNALIGNED, offset + CAP_LEN) & 0xffff);
            sink.packet(data.get(ValueLayout.JAVA_LONG_UNALIGNED, offset + TS),
                    data.get(ValueLayout.JAVA_INT_UNALIGNED, offset + IFINDEX), data.get(JAVA_BYTE, offset + LINK) & 0xff,
                    data.get(ValueLayout.JAVA_INT_UNALIGNED, offset + ORIG_LEN), data, offset + DATA, capLen,
                    comment(kind, code));
        });
    }

    /** Why a packet was copied, as its comment in the file: "anomaly xmas", "reset received", "drop NO_SOCKET". */
    public String comment(int kind, int code) {
        return comments.computeIfAbsent(kind << 16 | code, k -> switch (kind) {
            case ANOMALY -> "anomaly " + anomalyKinds.getOrDefault((long) code, Integer.toString(code));
            case RESET_IN -> "reset received";
            case RESET_OUT -> "reset sent";
            case DROP -> "drop " + dev.tcpinspect.ebpf.KernelEnums.values("skb_drop_reason", "SKB_DROP_REASON_")
                    .getOrDefault((long) code, Integer.toString(code));
            default -> "flagged (kind " + kind + ")";
        });
    }

    @Override
    public Snapshot snapshot(boolean withTables) {
        long[] s = context.counters("capture_stats", Stat.values().length);
        return new Snapshot(name(), List.of(new Counter(COPIED, s[Stat.COPIED.ordinal()]),
                new Counter(LOST, s[Stat.LOST.ordinal()])));
    }

    @Override
    public List<StructLayout> sharedStructs() {
        return List.of(RECORD);
    }

    @Override
    public Map<String, List<String>> sharedEnums() {
        return Map.of("capture_stat", List.of("CAPTURE_STAT_COPIED", "CAPTURE_STAT_LOST", "CAPTURE_STAT_SLOTS"));
    }

    @Override
    public List<String> kernelEnums() {
        return List.of("skb_drop_reason");
    }
}
