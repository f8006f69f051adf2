package dev.tcpinspect.probe;

import dev.tcpinspect.ebpf.BpfMap;
import dev.tcpinspect.ebpf.BpfObject;
import dev.tcpinspect.ebpf.Codec;
import dev.tcpinspect.os.Netns;
import dev.tcpinspect.snapshot.LogLinearHistogram;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.Callable;
import java.util.function.Consumer;
import java.util.function.ToLongFunction;

/**
 * What a running probe gets from its {@link ProbeSet}: its maps in the loaded object, where its
 * packet hooks run, and readers for the shapes probes share (per-CPU counter arrays, log-linear
 * histograms, drained per-flow tables), so that each probe decodes its own data in a few lines.
 */
public final class ProbeContext {
    private final BpfObject object;
    private final ProbeSet set;
    private final String probe;

    ProbeContext(BpfObject object, ProbeSet set, String probe) {
        this.object = object;
        this.set = set;
        this.probe = probe;
    }

    /** One of the object's maps (a probe's own are named after it: PROBE_...). */
    public BpfMap map(String name) {
        return object.map(name);
    }

    /** The object, for probes with a need of their own (tests of a probe's kernel tables). */
    public BpfObject object() {
        return object;
    }

    /** Inode of the network namespace the set was started in: where its packet hooks run. */
    public long netns() {
        return set.netnsInode();
    }

    /** Runs a task in that namespace (reading its counters from /proc, say). */
    public <T> T inNamespace(Callable<T> task) {
        return set.namespace().call(task);
    }

    /** Whether the kernel makes event records (JSON output): without, its rings are a page each and stay empty. */
    public boolean events() {
        return set.options().events();
    }

    /**
     * A per-CPU array of __u64 counters (maps.h PERCPU_COUNTERS), each slot summed over CPUs and over
     * the copies a twin pair keeps (entry i + c * slots: maps.h PERCPU_ADD_COPY).
     */
    public long[] counters(String map, int slots) {
        long[] v = new long[slots];
        int cpus = BpfMap.possibleCpus();
        object.map(map).forEachChunk((keys, values, count) -> {
            for (int i = 0; i < count; i++) {
                int slot = keys.get(ValueLayout.JAVA_INT_UNALIGNED, 4L * i) % slots;
                for (int cpu = 0; cpu < cpus; cpu++) {
                    v[slot] += values.get(ValueLayout.JAVA_LONG_UNALIGNED, 8L * (i * (long) cpus + cpu));
                }
            }
        });
        return v;
    }

    /**
     * Kernel histograms (bpf/lib/hist.h): a per-CPU array of kinds x HIST_BUCKETS counters (or more
     * sets of them: handshake keeps one per twin copy, added up here), and a per-CPU array of struct
     * hist_summary (count, sum, min, max), one per kind or more (index modulo kinds).
     */
    public LogLinearHistogram[] histograms(String histMap, String summaryMap, int kinds) {
        LogLinearHistogram[] result = new LogLinearHistogram[kinds];
        for (int k = 0; k < kinds; k++) {
            result[k] = new LogLinearHistogram();
        }
        int cpus = BpfMap.possibleCpus();
        object.map(histMap).forEachChunk((keys, values, count) -> {
            int stride = 8 * cpus;
            for (int i = 0; i < count; i++) {
                long n = 0;
                for (int cpu = 0; cpu < cpus; cpu++) {
                    n += values.get(ValueLayout.JAVA_LONG_UNALIGNED, (long) i * stride + 8L * cpu);
                }
                if (n != 0) {
                    int slot = keys.get(ValueLayout.JAVA_INT_UNALIGNED, 4L * i);
                    result[(slot / LogLinearHistogram.BUCKETS) % kinds].addBucket(slot % LogLinearHistogram.BUCKETS, n);
                }
            }
        });
        object.map(summaryMap).forEach((key, values) -> {
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

    /** sizeof(struct hist_summary): count, sum, min, max (checked against BTF with the probes' layouts). */
    static final int HIST_SUMMARY_SIZE = 32;

    /**
     * A probe's per-flow tables (flowtable.h: PREFIX_flows_0, PREFIX_flows_1, PREFIX_flow_tables),
     * drained into totals kept in Java; merge adds a drained value into a total, weight is a value's count.
     */
    public FlowTable flowTable(String prefix, FlowTable.Merge merge, ToLongFunction<MemorySegment> weight) {
        return new FlowTable(object.map(prefix + "_flows_0"), object.map(prefix + "_flows_1"),
                object.map(prefix + "_flow_tables"), merge, weight, FlowTable.DEFAULT_CAPACITY);
    }

    /**
     * A probe's per-CPU set-associative aggregates (slottable.h: PREFIX_slots, PREFIX_slot_tables),
     * drained into totals kept in Java like {@link #flowTable}; keys and values of these sizes.
     */
    public FlowTable slotTable(String prefix, long keySize, long valueSize, FlowTable.Merge merge,
                               ToLongFunction<MemorySegment> weight) {
        return FlowTable.ofSlots(object.map(prefix + "_slots"), object.map(prefix + "_slot_tables"), (int) keySize,
                (int) valueSize, merge, weight, FlowTable.DEFAULT_CAPACITY);
    }

    /**
     * Delivers the probe's events to consumer, on the set's one reader thread, through one reused
     * view: the consumer reads what it needs during the call. Nothing is delivered when the set was
     * started without events (the kernel makes none).
     */
    public <V extends EventView> void subscribe(EventType<V> type, Consumer<? super V> consumer) {
        set.subscribe(type, consumer);
    }

    /**
     * Reads the probe's ring of alerts (PROBE_alerts) on the set's reader thread, whether or not
     * the set makes events: alerts are rare and every output shows them.
     */
    public void subscribeAlerts(String ring, dev.tcpinspect.ebpf.RingBufReader.Handler handler) {
        set.subscribeAlerts(ring, handler);
    }

    /** Reads one of the probe's rings on the set's reader thread whatever the output (a probe that reads its rings always). */
    public void subscribeAlways(String ring, dev.tcpinspect.ebpf.RingBufReader.Handler handler) {
        set.subscribeRing(ring, handler);
    }

    /** Raises, updates or ends an alert: the watch's output shows it at once. */
    public void alert(dev.tcpinspect.snapshot.Alert alert) {
        set.alert(alert);
    }

    /** Runs of this probe's programs the kernel skipped that no twin made up for. */
    public long runsSkipped() {
        return set.runsSkipped(probe);
    }

    /** The runs of a twin hook (bpf/lib/twin.h), to check that they add up. */
    public ProbeSet.TwinRuns twinRuns(Hook hook) {
        return set.twinRuns(hook);
    }

    /** The probe's name, for messages. */
    public String probe() {
        return probe;
    }

    /** Closed with its set: the namespace handle the set holds. */
    Netns namespace() {
        return set.namespace();
    }
}
