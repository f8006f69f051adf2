package dev.tcpinspect.probe.packets;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.tcpinspect.ebpf.BpfMap;
import dev.tcpinspect.ebpf.Codec;
import dev.tcpinspect.ebpf.PerCpuMap;
import dev.tcpinspect.probe.Hook;
import dev.tcpinspect.probe.Probe;
import dev.tcpinspect.probe.ProbeContext;
import dev.tcpinspect.snapshot.Desc;
import dev.tcpinspect.snapshot.Export;
import dev.tcpinspect.snapshot.Metric;
import dev.tcpinspect.snapshot.Snapshot;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * packets (bpf/probes/packets.h): incoming TCP packets by kind, SYNs per destination port, and
 * malformed headers, at the ingress hook of the watched interfaces (TC, or XDP with --xdp).
 */
public final class PacketsProbe implements Probe {
    /** struct packet_counters: one __u64 per kind, in this order. */
    static final StructLayout COUNTERS = MemoryLayout.structLayout(
            JAVA_LONG.withName("tcp"), JAVA_LONG.withName("syn"), JAVA_LONG.withName("synack"),
            JAVA_LONG.withName("fin"), JAVA_LONG.withName("rst"), JAVA_LONG.withName("ack"),
            JAVA_LONG.withName("malformed")).withName("packet_counters");
    /** SYNs of 1024 consecutive ports: an entry of packets_syn_by_port (port / 1024). */
    static final int PORTS_PER_ENTRY = 1024;
    static final StructLayout SYN_PORTS = MemoryLayout.structLayout(
            MemoryLayout.sequenceLayout(PORTS_PER_ENTRY, JAVA_LONG).withName("syns")).withName("syn_port_counts");

    private static final Export.Family PACKETS = new Export.Family("packets",
            "Incoming TCP segments with well-formed headers, on the watched interfaces");
    private static final Export.Family BY_KIND = new Export.Family("packets_by_kind",
            "Incoming TCP segments by kind: syn (SYN without ACK), synack, fin, rst, ack (pure ACKs); a segment may be of several");
    private static final Export.Family MALFORMED_FAMILY = new Export.Family("packets_malformed",
            "Incoming IPv4/IPv6/TCP headers that are impossible or cut short");
    private static final Export.Family SYN_PORT_FAMILY = new Export.Family("syn_packets_by_port",
            "Incoming SYNs by destination port (the configured ports; the rest under port=\"other\")");
    private static final Desc TCP = Desc.of("packets.tcp", "TCP packets", "Incoming TCP segments with well-formed headers")
            .column("TCP", 10)
            .metric(PACKETS);
    private static final Desc SYN = Desc.of("packets.syn", "SYN", "Incoming segments with SYN set and ACK clear: connection attempts")
            .column("SYN", 8)
            .metric(BY_KIND, "kind", "syn");
    private static final Desc SYNACK = Desc.of("packets.synack", "SYN-ACK", "Incoming segments with SYN and ACK set")
            .column("SYN-ACK", 8)
            .metric(BY_KIND, "kind", "synack");
    private static final Desc FIN = Desc.of("packets.fin", "FIN", "Incoming segments with FIN set").column("FIN", 8)
            .metric(BY_KIND, "kind", "fin");
    private static final Desc RST = Desc.of("packets.rst", "RST", "Incoming segments with RST set").column("RST", 8)
            .metric(BY_KIND, "kind", "rst");
    private static final Desc ACK = Desc.of("packets.ack", "pure ACK",
            "Incoming pure ACKs: ACK (PSH allowed) without SYN, FIN or RST, and no payload").column("PURE-ACK", 10)
            .metric(BY_KIND, "kind", "ack");
    private static final Desc MALFORMED = Desc.of("packets.malformed", "malformed",
            "Incoming IPv4/IPv6/TCP headers that are impossible or cut short").column("MALFORMED", 9)
            .metric(MALFORMED_FAMILY);
    private static final Desc SYN_BY_PORT = Desc.of("syn_by_port", "SYNs by destination port",
            "Incoming SYNs per destination port").column("TOP SYN PORTS", 0, Desc.Column.Cell.TOP_LABELS)
            .metricByKey(SYN_PORT_FAMILY, "port");

    private PerCpuMap<Integer, long[]> counters;
    private BpfMap synByPort;
    /** Reused by each reading (read() is synchronized): 512 KiB, not to be made again every second. */
    private final long[] synsByPort = new long[65536];
    private final long[] synsOfOneCpu = new long[PORTS_PER_ENTRY];

    /** The probe's name, as --probe takes it. */
    public static final String NAME = "packets";

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public String help() {
        return "incoming TCP packets by kind (SYN, SYN-ACK, FIN, RST, pure ACK, malformed) and SYNs per port,"
                + " at the ingress hook (TC, or XDP with --xdp)";
    }

    @Override
    public Set<Hook> hooks() {
        return Set.of(Hook.INGRESS);
    }

    @Override
    public List<StructLayout> sharedStructs() {
        return List.of(COUNTERS, SYN_PORTS);
    }

    @Override
    public void bind(ProbeContext context) {
        counters = context.map("packets_counters").perCpu(Codec.U32, Codec.longs(PacketCounts.FIELDS));
        synByPort = context.map("packets_syn_by_port");
    }

    /** Current cumulative counts, summed over CPUs. */
    public synchronized PacketCounts read() {
        long[] sum = counters.getSummed(0, (a, b) -> {
            long[] r = new long[a.length];
            for (int i = 0; i < r.length; i++) {
                r[i] = a[i] + b[i];
            }
            return r;
        }).orElse(new long[PacketCounts.FIELDS]);
        // 65536 ports x CPUs, read every interval: summed into one array, copied out an entry and a
        // CPU at a time (a segment read per value costs ~40 ms the first time, before the JIT has
        // compiled it, and the first reading is on the way to "ready"); only the ports that saw a
        // SYN are boxed.
        long[] syns = synsByPort;
        long[] perCpu = synsOfOneCpu;
        java.util.Arrays.fill(syns, 0);
        int cpus = BpfMap.possibleCpus();
        long cpuStride = SYN_PORTS.byteSize();
        int entryStride = synByPort.valueBufferSize();
        synByPort.forEachChunk((keys, values, count) -> {
            for (int i = 0; i < count; i++) {
                int first = keys.get(ValueLayout.JAVA_INT_UNALIGNED, 4L * i) * PORTS_PER_ENTRY;
                for (int cpu = 0; cpu < cpus; cpu++) {
                    MemorySegment.copy(values, ValueLayout.JAVA_LONG_UNALIGNED, (long) i * entryStride + cpu * cpuStride,
                            perCpu, 0, PORTS_PER_ENTRY);
                    for (int j = 0; j < PORTS_PER_ENTRY; j++) {
                        syns[first + j] += perCpu[j];
                    }
                }
            }
        });
        Map<Integer, Long> ports = new HashMap<>();
        for (int port = 0; port < syns.length; port++) {
            if (syns[port] != 0) {
                ports.put(port, syns[port]);
            }
        }
        return PacketCounts.of(sum, ports);
    }

    @Override
    public Snapshot snapshot(boolean withTables) {
        return snapshotOf(read());
    }

    /** Counts as a snapshot (what outputs render). */
    public static Snapshot snapshotOf(PacketCounts c) {
        Map<String, Long> ports = new LinkedHashMap<>();
        c.synByPort().forEach((port, n) -> ports.put(Integer.toString(port), n));
        List<Metric> metrics = new ArrayList<>(List.of(new Metric.Counter(TCP, c.tcp()), new Metric.Counter(SYN, c.syn()),
                new Metric.Counter(SYNACK, c.synack()), new Metric.Counter(FIN, c.fin()), new Metric.Counter(RST, c.rst()),
                new Metric.Counter(ACK, c.ack()), new Metric.Counter(MALFORMED, c.malformed()),
                new Metric.CounterMap(SYN_BY_PORT, ports)));
        return new Snapshot(NAME, metrics);
    }
}
