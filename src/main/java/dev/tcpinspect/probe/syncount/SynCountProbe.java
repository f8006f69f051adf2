package dev.tcpinspect.probe.syncount;

import dev.tcpinspect.ebpf.BpfObject;
import dev.tcpinspect.ebpf.Codec;
import dev.tcpinspect.ebpf.Link;
import dev.tcpinspect.ebpf.PerCpuMap;
import dev.tcpinspect.ebpf.Program;
import dev.tcpinspect.ebpf.XdpMode;
import dev.tcpinspect.os.NetInterfaces;
import dev.tcpinspect.probe.TcSlots;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The incoming SYN counter (syncount.bpf.c): attaches its TC ingress or XDP program to interfaces
 * and reads the per-CPU counters. Owns its BPF object; closing detaches everything.
 */
public final class SynCountProbe implements AutoCloseable {
    static final String OBJECT = "/bpf/syncount.bpf.o";
    static final String TC_PROGRAM = "tcpi_syn_tc";
    static final String XDP_PROGRAM = "tcpi_syn_xdp";

    /** Where the probe hooks in. */
    public enum Hook { TC, XDP }

    private final BpfObject object;
    private final PerCpuMap<Integer, long[]> counters;
    private final PerCpuMap<Integer, Long> synByPort;

    private static final Codec<long[]> COUNTERS = new Codec<>() {
        public int size() {
            return PacketCounts.FIELDS * 8;
        }

        public long[] read(MemorySegment s, long o) {
            long[] v = new long[PacketCounts.FIELDS];
            for (int i = 0; i < v.length; i++) {
                v[i] = s.get(ValueLayout.JAVA_LONG_UNALIGNED, o + 8L * i);
            }
            return v;
        }

        public void write(MemorySegment s, long o, long[] v) {
            for (int i = 0; i < v.length; i++) {
                s.set(ValueLayout.JAVA_LONG_UNALIGNED, o + 8L * i, v[i]);
            }
        }
    };

    private SynCountProbe(BpfObject object) {
        this.object = object;
        this.counters = object.map("counters").perCpu(Codec.U32, COUNTERS);
        this.synByPort = object.map("syn_by_port").perCpu(Codec.U32, Codec.U64);
    }

    /** Loads the programs; nothing is attached yet. */
    public static SynCountProbe load() {
        return new SynCountProbe(BpfObject.loadResource(OBJECT));
    }

    public Program program(Hook hook) {
        return object.program(hook == Hook.TC ? TC_PROGRAM : XDP_PROGRAM);
    }

    /**
     * Attaches to each interface (names resolved in the calling thread's namespace). All names are
     * checked before anything is attached, and a failure part-way detaches what was attached.
     */
    public void attach(List<String> interfaces, Hook hook, XdpMode xdpMode) {
        Map<String, Integer> indexes = new HashMap<>();
        for (String name : interfaces) {
            indexes.put(name, NetInterfaces.indexOf(name));
        }
        List<Link> made = new ArrayList<>();
        try {
            for (String name : interfaces) {
                int ifindex = indexes.get(name);
                if (hook == Hook.XDP) {
                    made.add(program(hook).attachXdp(ifindex, xdpMode));
                } else {
                    made.add(TcSlots.attach(program(hook), name, ifindex, TcSlots.PACKETS));
                }
            }
        } catch (RuntimeException e) {
            for (Link link : made.reversed()) {
                try {
                    link.close();
                } catch (RuntimeException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
    }

    /** Current cumulative counts, summed over CPUs. */
    public PacketCounts read() {
        long[] sum = counters.getSummed(0, (a, b) -> {
            long[] r = new long[a.length];
            for (int i = 0; i < r.length; i++) {
                r[i] = a[i] + b[i];
            }
            return r;
        }).orElse(new long[PacketCounts.FIELDS]);
        // 65536 ports x CPUs, read every interval: summed in place, chunk by chunk, and only the ports
        // that saw a SYN are boxed (a slice per entry would make 130,000 objects a second).
        Map<Integer, Long> ports = new HashMap<>();
        int cpus = synByPort.cpus();
        int stride = synByPort.raw().valueBufferSize();
        synByPort.raw().forEachChunk((keys, values, count) -> {
            for (int i = 0; i < count; i++) {
                long n = 0;
                for (int cpu = 0; cpu < cpus; cpu++) {
                    n += values.get(ValueLayout.JAVA_LONG_UNALIGNED, (long) i * stride + 8L * cpu);
                }
                if (n != 0) {
                    ports.put(keys.get(ValueLayout.JAVA_INT_UNALIGNED, 4L * i), n);
                }
            }
        });
        return PacketCounts.of(sum, ports);
    }

    @Override
    public void close() {
        object.close();
    }
}
