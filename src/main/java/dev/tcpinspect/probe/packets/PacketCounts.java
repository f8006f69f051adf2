package dev.tcpinspect.probe.packets;

import java.util.Map;
import java.util.TreeMap;

/**
 * Incoming TCP packet counts, as the packets probe keeps them (struct packet_counters) summed over CPUs,
 * plus SYNs per destination port. Snapshots are cumulative; {@link #minus} gives a window.
 */
public record PacketCounts(long tcp, long syn, long synack, long fin, long rst, long ack, long malformed,
                           Map<Integer, Long> synByPort) {
    /** Number of u64 fields in struct packet_counters. */
    static final int FIELDS = (int) (PacketsProbe.COUNTERS.byteSize() / 8);

    public static final PacketCounts ZERO = new PacketCounts(0, 0, 0, 0, 0, 0, 0, Map.of());

    public PacketCounts {
        synByPort = Map.copyOf(synByPort);
    }

    static PacketCounts of(long[] fields, Map<Integer, Long> synByPort) {
        return new PacketCounts(fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], fields[6], synByPort);
    }

    /** Counts in this snapshot that were not yet in {@code earlier}. */
    public PacketCounts minus(PacketCounts earlier) {
        Map<Integer, Long> ports = new TreeMap<>();
        synByPort.forEach((port, n) -> {
            long d = n - earlier.synByPort.getOrDefault(port, 0L);
            if (d != 0) {
                ports.put(port, d);
            }
        });
        return new PacketCounts(tcp - earlier.tcp, syn - earlier.syn, synack - earlier.synack, fin - earlier.fin,
                rst - earlier.rst, ack - earlier.ack, malformed - earlier.malformed, ports);
    }

    /** SYNs per port, sorted by port. */
    public Map<Integer, Long> synByPortSorted() {
        return new TreeMap<>(synByPort);
    }
}
