package dev.tcpinspect.probe;

import dev.tcpinspect.ebpf.BpfMap;
import dev.tcpinspect.ebpf.BpfObject;
import dev.tcpinspect.ebpf.Codec;
import dev.tcpinspect.ebpf.OpenObject;
import dev.tcpinspect.ebpf.PerCpuMap;
import dev.tcpinspect.ebpf.RingBufReader;
import dev.tcpinspect.os.Netns;
import dev.tcpinspect.probe.hist.LogLinearHistogram;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.function.ToLongFunction;

/**
 * What the probes built on one BPF object have in common: a per-CPU "stats" array, usually
 * per-flow tables (flowtable.h, read through a {@link FlowTable}) and an "events" ring buffer, and
 * for tracepoint probes a {@code target_netns} constant (0 = every namespace). Each probe class owns
 * one and adds its own decoding.
 */
public final class ProbeObject implements AutoCloseable {
    private final BpfObject object;
    private final PerCpuMap<Integer, Long> stats;
    private final int statSlots;
    private RingBufReader reader;
    private long failedBeforeClose;

    /** Whether the kernel makes event records (bpf/include/events.h: emit_events). */
    private final boolean events;

    private ProbeObject(BpfObject object, int statSlots, boolean events) {
        this.object = object;
        this.statSlots = statSlots;
        this.events = events;
        this.stats = object.map("stats").perCpu(Codec.U32, Codec.U64);
    }

    /**
     * Loads an embedded object, filtering in the kernel to the caller's namespace unless allNetns.
     * Without events (nobody reads them) the kernel makes none and the ring shrinks to one page.
     */
    public static ProbeObject load(String resource, int statSlots, boolean allNetns, boolean events) {
        return load(OpenObject.openResource(resource), resource, statSlots, allNetns, events);
    }

    private static ProbeObject load(OpenObject open, String resource, int statSlots, boolean allNetns, boolean events) {
        boolean btfTyped = false;
        try {
            btfTyped = open.hasProgramSection("tp_btf/");
            open.setConstant("target_netns", allNetns ? 0 : (int) Netns.currentInode());
            return new ProbeObject(configureEvents(open, events).load(), statSlots, events);
        } catch (RuntimeException e) {
            open.close();
            if (btfTyped && !dev.tcpinspect.ebpf.Features.tpBtf()) {
                // The tracepoint probes attach BTF-typed tracepoints; say so rather than show a verifier errno.
                throw new IllegalStateException("the " + resource.replaceAll(".*/|\\.bpf\\.o", "") + " probe needs BTF-typed"
                        + " tracepoints (tp_btf, kernel 5.5 or later with BTF), which this kernel does not run;"
                        + " see tcpinspect doctor, or leave the probe out with --probe", e);
            }
            throw e;
        }
    }

    /**
     * As {@link #load(String, int, boolean, boolean)}, with room for flowEntries flows in each of the
     * kernel's per-flow tables (flowtable.h) instead of the object's own size.
     */
    public static ProbeObject load(String resource, int statSlots, boolean allNetns, boolean events, int flowEntries) {
        OpenObject open = OpenObject.openResource(resource);
        try {
            open.setMaxEntries("flows_0", flowEntries).setMaxEntries("flows_1", flowEntries);
        } catch (RuntimeException e) {
            open.close();
            throw e;
        }
        return load(open, resource, statSlots, allNetns, events);
    }

    /** Loads an embedded packet-hook object (no namespace filter: it sees the interfaces it is attached to). */
    public static ProbeObject loadPacketProbe(String resource, int statSlots, boolean events) {
        OpenObject open = OpenObject.openResource(resource);
        try {
            return new ProbeObject(configureEvents(open, events).load(), statSlots, events);
        } catch (RuntimeException e) {
            open.close();
            throw e;
        }
    }

    private static OpenObject configureEvents(OpenObject open, boolean events) {
        if (!events) {
            open.setConstant("emit_events", 0).setMaxEntries("events", PAGE_SIZE);
        }
        return open;
    }

    /** The smallest ring buffer the kernel takes. */
    private static final int PAGE_SIZE = 4096;

    /** Attaches a program to a classic tracepoint "category:name". */
    public ProbeObject attach(String program, String tracepoint) {
        String[] parts = tracepoint.split(":", 2);
        object.program(program).attachTracepoint(parts[0], parts[1]);
        return this;
    }

    /** Attaches a program where its section says (tp_btf/..., for instance). */
    public ProbeObject attachSectionDefined(String program) {
        object.program(program).attach();
        return this;
    }

    /** The twin pairs attached (bpf/include/twin.h): a second copy's skipped runs are runs the first made. */
    private final List<String[]> twins = new ArrayList<>();

    /**
     * Attaches a tracepoint handler and its twin (bpf/include/twin.h), first then second: the order
     * in which the kernel runs them, which the twins rely on.
     */
    public ProbeObject attachTwins(String first, String second) {
        object.program(first).attach();
        object.program(second).attach();
        twins.add(new String[] {first, second});
        return this;
    }

    /**
     * Runs the kernel skipped (recursion_misses) of every program of the object, less those a twin
     * made up for (a second copy's skips are firings the first copy handled, and each firing the
     * second copy rescued is one the first skipped).
     */
    public long runsSkipped() {
        long rescued = twinRescued(); // first: every rescue follows the miss it makes up for
        long skipped = 0;
        for (var program : object.programs().entrySet()) {
            if (twins.stream().noneMatch(pair -> pair[1].equals(program.getKey()))) {
                skipped += program.getValue().info().recursionMisses();
            }
        }
        return Math.max(0, skipped - rescued);
    }

    /** A twin pair's runs: each copy's skipped runs and the firings the second rescued. */
    public record TwinRuns(long firstSkipped, long secondSkipped, long rescued) {}

    /** The runs of the twin pair attached with {@link #attachTwins} (an object has at most one). */
    public TwinRuns twinRuns() {
        if (twins.size() != 1) {
            throw new IllegalStateException(twins.size() + " twin pairs attached, not one");
        }
        long rescued = twinRescued();
        return new TwinRuns(object.program(twins.getFirst()[0]).info().recursionMisses(),
                object.program(twins.getFirst()[1]).info().recursionMisses(), rescued);
    }

    /** Firings the second copy of a twin handled because the kernel skipped the first (0 without twins). */
    public long twinRescued() {
        if (twins.isEmpty()) {
            return 0;
        }
        int cpus = BpfMap.possibleCpus();
        long[] rescued = {0};
        object.map("twin_claims").forEach((key, values) -> {
            for (int cpu = 0; cpu < cpus; cpu++) {
                rescued[0] += values.get(ValueLayout.JAVA_LONG_UNALIGNED, (long) cpu * TWIN_CLAIMS_SIZE + RESCUED_OFFSET);
            }
        });
        return rescued[0];
    }

    /** sizeof(struct twin_claims) and where its rescued count is (eight claims of three words, depth, second_running, rescued). */
    private static final int TWIN_CLAIMS_SIZE = 208;
    private static final int RESCUED_OFFSET = 200;

    /** One of the object's programs, for probes that also attach to packet hooks. */
    public dev.tcpinspect.ebpf.Program program(String name) {
        return object.program(name);
    }

    /** One of the object's maps, for probe-specific aggregates. */
    public dev.tcpinspect.ebpf.BpfMap map(String name) {
        return object.map(name);
    }

    /**
     * Reads kernel histograms (bpf/include/hist.h): a per-CPU array "hist" of kinds x HIST_BUCKETS
     * counters and a per-CPU array "summary" of struct hist_summary, one per kind.
     */
    public LogLinearHistogram[] histograms(int kinds) {
        LogLinearHistogram[] result = new LogLinearHistogram[kinds];
        for (int k = 0; k < kinds; k++) {
            result[k] = new LogLinearHistogram();
        }
        int cpus = BpfMap.possibleCpus();
        object.map("hist").forEach((key, values) -> {
            int slot = key.get(ValueLayout.JAVA_INT_UNALIGNED, 0);
            long n = 0;
            for (int cpu = 0; cpu < cpus; cpu++) {
                n += values.get(ValueLayout.JAVA_LONG_UNALIGNED, 8L * cpu);
            }
            if (n != 0) {
                result[slot / LogLinearHistogram.BUCKETS].addBucket(slot % LogLinearHistogram.BUCKETS, n);
            }
        });
        object.map("summary").forEach((key, values) -> {
            // A probe may keep more than one summary per kind (handshake: one per twin copy, at kind + kinds * copy).
            LogLinearHistogram h = result[key.get(ValueLayout.JAVA_INT_UNALIGNED, 0) % kinds];
            for (int cpu = 0; cpu < cpus; cpu++) {
                long base = (long) cpu * HIST_SUMMARY_SIZE;
                h.addSummary(values.get(ValueLayout.JAVA_LONG_UNALIGNED, base),
                        values.get(ValueLayout.JAVA_LONG_UNALIGNED, base + 8),
                        values.get(ValueLayout.JAVA_LONG_UNALIGNED, base + 16),
                        values.get(ValueLayout.JAVA_LONG_UNALIGNED, base + 24));
            }
        });
        return result;
    }

    /** sizeof(struct hist_summary): count, sum, min, max. */
    private static final int HIST_SUMMARY_SIZE = 32;

    /** Every stats slot, summed over CPUs. */
    public long[] stats() {
        long[] v = new long[statSlots];
        for (int i = 0; i < statSlots; i++) {
            v[i] = stats.getSummed(i, Long::sum).orElse(0L);
        }
        return v;
    }

    /**
     * Starts the ring-buffer reader thread; the handler sees each record in place. Nothing to read
     * (and no thread) when the probe was loaded without events.
     */
    public synchronized void onEvents(RingBufReader.Handler handler) {
        if (!events) {
            return;
        }
        if (reader != null) {
            throw new IllegalStateException("events are already being read");
        }
        reader = new RingBufReader(object.map("events"), handler).start();
    }

    /**
     * Starts the reader thread delivering each record through one reused view (no allocation per
     * record): the consumer reads what it needs during the call.
     */
    public <V extends EventView> void onEvents(V view, java.util.function.Consumer<V> consumer) {
        onEvents((segment, offset, length) -> {
            view.wrap(segment, offset);
            consumer.accept(view);
        });
    }

    /** Records read but not delivered because the consumer threw. */
    public synchronized long eventsFailed() {
        return reader == null ? failedBeforeClose : reader.failed();
    }

    /**
     * The object's per-flow tables (flowtable.h: flows_0, flows_1 and flow_tables), drained into
     * totals kept in Java; merge adds a drained value into a total, weight is a value's count.
     */
    public FlowTable flowTable(FlowTable.Merge merge, ToLongFunction<MemorySegment> weight) {
        return new FlowTable(object.map("flows_0"), object.map("flows_1"), object.map("flow_tables"), merge, weight,
                FlowTable.DEFAULT_CAPACITY);
    }

    @Override
    public synchronized void close() {
        if (reader != null) {
            reader.close(); // delivers what is still in the ring
            failedBeforeClose = reader.failed();
            reader = null;
        }
        object.close();
    }
}
