package dev.tcpinspect.probe;

import static dev.tcpinspect.testing.BtfLayouts.describe;
import static dev.tcpinspect.testing.BtfLayouts.place;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.tcpinspect.ebpf.BpfMap;
import dev.tcpinspect.ebpf.Btf;
import dev.tcpinspect.ebpf.OpenObject;
import dev.tcpinspect.probe.drops.DropsProbe;
import dev.tcpinspect.probe.upstream.UpstreamProbe;
import dev.tcpinspect.probe.registry.ProbeRegistry;
import dev.tcpinspect.snapshot.Flow;
import dev.tcpinspect.snapshot.LogLinearHistogram;
import dev.tcpinspect.testing.BtfLayouts;
import dev.tcpinspect.testing.RequiresBpf;
import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;
import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every layout shared between the C side and the Java side, checked against the BTF of the object
 * the jar carries ({@link ProbeSet#OBJECT}, built from bpf/ by this very build), so that a field
 * moved, resized, added or dropped on one side fails the build instead of decoding garbage.
 *
 * <ul>
 *   <li>Structs: every probe's {@link Probe#sharedStructs()}, struct twin_claims ({@link ProbeSet}),
 *       struct flow and struct pkt_tuple ({@link Flow}). The C struct must be in the BTF, of the same
 *       size; every Java member that is not padding must be a C field of that name at the same byte
 *       offset and of the same size; every C field must be a Java member (none silently missing in
 *       Java). A Java member that is itself a struct must be one of the structs checked here (the
 *       BTF API gives a member's offset and size, not its type, so the nested type is checked on its
 *       own). C bitfields and anonymous members cannot be named by a Java layout and are refused.
 *       Signedness is not in the comparison: BTF members are compared by place and size only.
 *       (The comparison is {@link BtfLayouts#differences}, which EnforceLayoutTest shares.)
 *   <li>Enums: every probe's {@link Probe#sharedEnums()}: the C constants in declaration order are
 *       the Java list, with values 0..n-1; a trailing count (a name ending _MAX, or the enum's name
 *       in capitals plus S, as HS_KINDS) must equal n. enum flow_table_slot against
 *       {@link FlowTable}'s slots.
 *   <li>Tables read by layout rather than by struct: the slot tables' way and set structs
 *       (slottable.h) against what {@link FlowTable} assumes (a tag, the key, the value, no holes;
 *       SLOT_TABLE_WAYS ways), and struct hist_summary against the fixed offsets
 *       {@link ProbeContext#histograms} reads.
 *   <li>The running kernel: {@link TcpStates}' names by value, and the drop reasons the Java side
 *       names, against the kernel's BTF.
 *   <li>With BPF (root): the loaded maps' key and value sizes and entry counts against the Java
 *       layouts and constants that read them (which map holds which struct is not in the BTF API).
 * </ul>
 *
 * Opening the object does not load it: everything but the last check runs without privileges.
 */
class SharedLayoutTest {
    private static OpenObject object;
    private static Btf btf;

    @BeforeAll
    static void open() {
        object = OpenObject.openResource(ProbeSet.OBJECT);
        btf = object.btf();
    }

    @AfterAll
    static void close() {
        if (object != null) {
            object.close();
        }
    }

    // ---- structs ----

    /** A shared struct: who keeps its Java layout (a probe, or a class) and the layout, named after the C struct. */
    record SharedStruct(String owner, StructLayout layout) {
        String cName() {
            return layout.name().orElseThrow(() -> new AssertionError(owner + ": a shared layout without a name; name"
                    + " it after its C struct (.withName(\"...\")): " + layout));
        }

        @Override
        public String toString() {
            return owner + ": struct " + layout.name().orElse("(unnamed)");
        }
    }

    /** The registry's probes and the capture, which a watch adds for --pcap. */
    private static List<Probe> probes() {
        List<Probe> all = new ArrayList<>(ProbeRegistry.all());
        all.add(new dev.tcpinspect.probe.capture.CaptureProbe(false, (t, i, l, o, d, off, c, why) -> { }));
        return all;
    }

    static List<SharedStruct> sharedStructs() {
        List<SharedStruct> all = new ArrayList<>();
        for (Probe p : probes()) {
            for (StructLayout layout : p.sharedStructs()) {
                all.add(new SharedStruct(p.name(), layout));
            }
        }
        all.add(new SharedStruct("ProbeSet", ProbeSet.TWIN_CLAIMS));
        all.add(new SharedStruct("Flow", Flow.LAYOUT));
        all.add(new SharedStruct("Flow", Flow.TUPLE_LAYOUT));
        return all;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("sharedStructs")
    void structMatchesTheObjectsBtf(SharedStruct shared) {
        String name = shared.cName();
        Btf.Struct c = cStruct(shared.owner(), name);
        List<String> problems = new ArrayList<>(BtfLayouts.differences(c, shared.layout()));
        for (MemoryLayout m : shared.layout().memberLayouts()) {
            if (m instanceof GroupLayout nested && m.name().isPresent() && !isCheckedStruct(nested)) {
                problems.add("field " + m.name().get() + ": Java's nested layout " + nested + " is none of the shared"
                        + " structs this test checks; list it (a probe's sharedStructs) so its own fields are checked");
            }
        }
        assertTrue(problems.isEmpty(), shared + " differs between C (BTF of " + ProbeSet.OBJECT + ") and Java:\n  "
                + String.join("\n  ", problems));
    }

    /** Whether a nested Java struct (a member named after its field) is one of the structs checked on their own. */
    private static boolean isCheckedStruct(GroupLayout nested) {
        return sharedStructs().stream().anyMatch(s -> s.layout().withoutName().equals(nested.withoutName()));
    }

    private static Btf.Struct cStruct(String owner, String name) {
        return btf.struct(name).orElseGet(() -> fail(owner + ": struct " + name + " is not in the BTF of "
                + ProbeSet.OBJECT + ", so its layout cannot be checked against Java's. A struct that only local"
                + " variables or ring-buffer records use leaves no BTF: the C side must name it where BTF is kept"
                + " (a global, a map's key or value)."));
    }

    // ---- enums ----

    /** A shared enum: the probe, the C enum's name, and the Java side's constant names in value order from 0. */
    record SharedEnum(String owner, String name, List<String> constants) {
        @Override
        public String toString() {
            return owner + ": enum " + name;
        }
    }

    static List<SharedEnum> sharedEnums() {
        List<SharedEnum> all = new ArrayList<>();
        for (Probe p : probes()) {
            new java.util.TreeMap<>(p.sharedEnums()).forEach((name, constants) ->
                    all.add(new SharedEnum(p.name(), name, constants)));
        }
        return all;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("sharedEnums")
    void enumMatchesTheObjectsBtf(SharedEnum shared) {
        Map<String, Long> c = btf.enumValues(shared.name());
        if (c.isEmpty()) {
            fail(shared + " is not in the BTF of " + ProbeSet.OBJECT + ", so its values cannot be checked against"
                    + " Java's " + shared.constants() + ". An enum only code uses leaves no BTF: the C side must name"
                    + " it where BTF is kept (a global, a map's key or value).");
        }
        List<Map.Entry<String, Long>> constants = new ArrayList<>(c.entrySet());
        List<String> problems = new ArrayList<>();
        int n = shared.constants().size();
        if (constants.size() == n + 1 && isCount(shared.name(), constants.get(n).getKey())) {
            Map.Entry<String, Long> count = constants.remove(n);
            if (count.getValue() != n) {
                problems.add("count " + count.getKey() + ": C " + count.getValue() + ", Java has " + n + " constants");
            }
        }
        List<String> cNames = constants.stream().map(Map.Entry::getKey).toList();
        if (!cNames.equals(shared.constants())) {
            problems.add("constants in order: C " + cNames + ", Java " + shared.constants());
        }
        for (int i = 0; i < constants.size(); i++) {
            if (constants.get(i).getValue() != i) {
                problems.add(constants.get(i).getKey() + ": C value " + constants.get(i).getValue() + ", Java value "
                        + i + " (its place in the list)");
            }
        }
        assertTrue(problems.isEmpty(), shared + " differs between C (BTF of " + ProbeSet.OBJECT + ", " + c
                + ") and Java:\n  " + String.join("\n  ", problems));
    }

    /** A trailing constant that counts the others (CONN_STAT_MAX, HS_KINDS), not a value Java decodes. */
    private static boolean isCount(String enumName, String constant) {
        return constant.endsWith("_MAX") || constant.equals(enumName.toUpperCase() + "S");
    }

    /** enum flow_table_slot (flowtable.h): the control array's slots, as FlowTable writes them. */
    @Test
    void flowTableSlotsMatchFlowTable() {
        Map<String, Long> c = btf.enumValues("flow_table_slot");
        if (c.isEmpty()) {
            fail("FlowTable: enum flow_table_slot is not in the BTF of " + ProbeSet.OBJECT + ", so the control array's"
                    + " slots cannot be checked against FlowTable's. An enum only code uses leaves no BTF: the C side"
                    + " must name it where BTF is kept (a global, a map's key or value).");
        }
        int active = constant(FlowTable.class, "ACTIVE");
        int full = constant(FlowTable.class, "FULL");
        assertEquals(Map.of("FLOW_TABLE_ACTIVE", (long) active, "FLOW_TABLE_FULL", (long) full,
                        "FLOW_TABLE_SLOTS", (long) full + 2), c,
                "enum flow_table_slot: C (BTF of " + ProbeSet.OBJECT + ") " + c + "; Java FlowTable: ACTIVE = " + active
                        + ", FULL = " + full + " (+ the table: two slots), so " + (full + 2) + " slots");
    }

    // ---- layouts Java reads by offset ----

    /** A slot table (slottable.h): its prefix, and its key and value as Java reads them. */
    record SlotTable(String probe, String prefix, MemoryLayout key, MemoryLayout value) {
        @Override
        public String toString() {
            return probe + ": " + prefix + " (struct " + prefix + "_way)";
        }
    }

    static List<SlotTable> slotTables() {
        return List.of(
                // HandshakeProbe.bind: slotTable("handshake_ports", PORT_KEY.byteSize(), 8, sumOfLongs(1), ...)
                new SlotTable("handshake", "handshake_ports", shared("handshake", "hs_port_key"), u64()),
                // RttProbe.bind: slotTable("rtt_remotes", KEY.byteSize(), REMOTE.byteSize(), ...)
                new SlotTable("rtt", "rtt_remotes", shared("rtt", "rtt_key"), shared("rtt", "rtt_remote")),
                // FloodProbe.bind: slotTable("flood_ports", PORT_KEY.byteSize(), PORT_COUNTS.byteSize(), ...)
                new SlotTable("flood", "flood_ports", shared("flood", "flood_port_key"), shared("flood", "flood_port_counts")),
                // FloodProbe.bind: slotTable("flood_sources", SOURCE_KEY.byteSize(), 8, ...)
                new SlotTable("flood", "flood_sources", shared("flood", "source_key"), u64()),
                // CyclingProbe.bind: slotTable("cycling_remotes", REMOTE_KEY.byteSize(), COUNTS.byteSize(), ...)
                new SlotTable("cycling", "cycling_remotes", shared("cycling", "source_key"),
                        shared("cycling", "cycling_counts")));
    }

    /**
     * FlowTable.SlotArray reads each way of a set as a tag of TAG bytes, then the key, then the
     * value, with no hole, WAYS ways in a set.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("slotTables")
    void slotTableWayIsWhatFlowTableReads(SlotTable table) throws Exception {
        Class<?> slotArray = Class.forName(FlowTable.class.getName() + "$SlotArray");
        long ways = constant(slotArray, "WAYS");
        long tag = constant(slotArray, "TAG");
        long keySize = table.key().byteSize();
        long valueSize = table.value().byteSize();
        Btf.Struct way = cStruct(table.probe(), table.prefix() + "_way");
        List<String> problems = new ArrayList<>();
        expectMember(problems, way, "tag", 0, tag);
        expectMember(problems, way, "key", tag, keySize);
        expectMember(problems, way, "value", tag + keySize, valueSize);
        if (way.members().size() != 3 || way.size() != tag + keySize + valueSize) {
            problems.add("struct " + way.name() + ": C " + describe(way) + ", " + way.size() + " bytes; Java reads a "
                    + tag + "-byte tag, a " + keySize + "-byte key and a " + valueSize + "-byte value, "
                    + (tag + keySize + valueSize) + " bytes");
        }
        Btf.Struct set = cStruct(table.probe(), table.prefix() + "_set");
        if (set.size() != ways * way.size() || set.members().size() != 1) {
            problems.add("struct " + set.name() + ": C " + describe(set) + ", " + set.size() + " bytes; Java reads "
                    + ways + " ways of " + way.size() + " bytes, " + ways * way.size() + " bytes");
        }
        assertTrue(problems.isEmpty(), table + " is not what FlowTable reads:\n  " + String.join("\n  ", problems));
    }

    /** The object's slot tables are all in slotTables(): a new one must say what Java reads from it. */
    @Test
    void everySlotTableIsChecked() {
        Set<String> inObject = object.mapNames().stream().filter(m -> m.endsWith("_slot_tables"))
                .map(m -> m.substring(0, m.length() - "_slot_tables".length())).collect(Collectors.toCollection(TreeSet::new));
        Set<String> checked = slotTables().stream().map(SlotTable::prefix).collect(Collectors.toCollection(TreeSet::new));
        assertEquals(inObject, checked, "slot tables: C (maps PREFIX_slot_tables of " + ProbeSet.OBJECT
                + ") vs those this test checks");
    }

    /** ProbeContext.histograms reads struct hist_summary by fixed offsets: count, sum, min, max, HIST_SUMMARY_SIZE bytes. */
    @Test
    void histSummaryIsWhatProbeContextReads() {
        Btf.Struct c = cStruct("ProbeContext", "hist_summary");
        List<String> problems = new ArrayList<>();
        List<String> order = List.of("count", "sum", "min", "max");
        for (int i = 0; i < order.size(); i++) {
            expectMember(problems, c, order.get(i), 8L * i, 8);
        }
        if (c.size() != ProbeContext.HIST_SUMMARY_SIZE || c.members().size() != order.size()) {
            problems.add("struct hist_summary: C " + describe(c) + ", " + c.size() + " bytes; Java HIST_SUMMARY_SIZE "
                    + ProbeContext.HIST_SUMMARY_SIZE + " bytes of " + order);
        }
        assertTrue(problems.isEmpty(), "struct hist_summary is not what ProbeContext.histograms reads:\n  "
                + String.join("\n  ", problems));
    }

    private static void expectMember(List<String> problems, Btf.Struct c, String name, long byteOffset, long byteSize) {
        Optional<Btf.Member> m = c.member(name);
        if (m.isEmpty()) {
            problems.add("field " + name + ": Java reads it at byte " + byteOffset + " (" + byteSize
                    + " bytes), struct " + c.name() + " has no such field (" + describe(c) + ")");
        } else if (m.get().bitOffset() != 8 * byteOffset || m.get().bitSize() != 8 * byteSize) {
            problems.add("field " + name + ": C at " + place(m.get()) + ", Java reads byte " + byteOffset + " ("
                    + byteSize + " bytes)");
        }
    }

    // ---- the running kernel ----

    /** TcpStates names the kernel's TCP states by value (include/net/tcp_states.h): each must be the kernel's. */
    @Test
    void tcpStatesAreTheKernels() {
        try (Btf kernel = Btf.kernel().orElseThrow(() -> new AssertionError("the running kernel has no BTF"))) {
            List<String> problems = new ArrayList<>();
            int state = 1; // 0 is no state ("UNKNOWN")
            for (; !TcpStates.name(state).startsWith("STATE_"); state++) {
                String constant = "TCP_" + TcpStates.name(state);
                Optional<Long> value = kernel.enumConstant(constant);
                if (value.isEmpty() && TcpStates.name(state + 1).startsWith("STATE_")) {
                    continue; // the newest state Java names may be newer than this kernel (BOUND_INACTIVE, 6.6)
                }
                if (value.isEmpty() || value.get() != state) {
                    problems.add(constant + ": kernel " + value.map(String::valueOf).orElse("has none")
                            + ", Java " + state);
                }
            }
            assertTrue(state > 12, "TcpStates names " + (state - 1) + " states");
            assertTrue(problems.isEmpty(), "TcpStates differs from the running kernel's BTF:\n  "
                    + String.join("\n  ", problems));
        }
    }

    /**
     * Drop reasons: neither side uses one by number (drops.h relocates SKB_DROP_REASON_NOT_SPECIFIED
     * and _QUEUE_PURGE by name with CO-RE; Java names values through KernelEnums). What is checked:
     * the names the handler relocates unconditionally exist, and each reason Java's drops probe
     * singles out by name (its teardown frees) is the kernel's, and reads back under that name.
     */
    @Test
    void dropReasonsNamedBySidesAreTheKernels() throws Exception {
        Map<String, Long> kernel;
        try (Btf k = Btf.kernel().orElseThrow(() -> new AssertionError("the running kernel has no BTF"))) {
            kernel = k.enumValues("skb_drop_reason");
        }
        assertTrue(kernel.containsKey("SKB_DROP_REASON_NOT_SPECIFIED"), "drops.h relocates"
                + " SKB_DROP_REASON_NOT_SPECIFIED without checking it exists; the kernel's enum skb_drop_reason has "
                + kernel.keySet());
        @SuppressWarnings("unchecked")
        Set<String> teardown = (Set<String>) hidden(DropsProbe.class, "TEARDOWN");
        for (String name : teardown) {
            Long value = kernel.get("SKB_DROP_REASON_" + name);
            if (value == null) {
                // drops.h checks bpf_core_enum_value_exists for QUEUE_PURGE (6.6+); Java then never sees it.
                assertEquals("QUEUE_PURGE", name, "DropsProbe names drop reason " + name
                        + ", which the running kernel does not have");
                continue;
            }
            assertEquals(name, DropsProbe.reasonName(value), "drop reason SKB_DROP_REASON_" + name + " = " + value
                    + " in the kernel's BTF, as DropsProbe names that value");
        }
    }

    // ---- with BPF: what each map holds ----

    /** A map and the Java layouts (or sizes) that read its keys and values. */
    private record MapShape(String map, long keySize, long valueSize, String java) {}

    /**
     * Loads every probe (no attaching) and checks that each map Java decodes holds keys and values of
     * the sizes of the Java layouts that decode them, and that arrays Java indexes have the entries
     * Java assumes. The BTF API does not say which struct a map holds, the loaded map does by size.
     */
    @Test
    @RequiresBpf
    void mapsHoldWhatJavaReads() throws Exception {
        List<String> problems = new ArrayList<>();
        try (ProbeSet set = ProbeSet.load(ProbeRegistry.all(), ProbeSet.Options.defaults())) {
            var obj = set.object();
            List<MapShape> shapes = new ArrayList<>();
            // flowtable.h tables: FlowTable slices keys and values by the map's sizes, the probes decode them.
            Map<String, MapShape> flowTables = new LinkedHashMap<>();
            flowTables.put("drops", new MapShape("drops_flows", size("drops", "drop_key"), 8, "drop_key -> __u64"));
            flowTables.put("dupack", new MapShape("dupack_flows", Flow.TUPLE_LAYOUT.byteSize(), 8, "pkt_tuple -> __u64"));
            flowTables.put("reset", new MapShape("reset_flows", Flow.LAYOUT.byteSize(), size("reset", "reset_counts"),
                    "flow -> reset_counts"));
            flowTables.put("retrans", new MapShape("retrans_flows", Flow.LAYOUT.byteSize(),
                    size("retrans", "retrans_counts"), "flow -> retrans_counts"));
            flowTables.put("zerowin", new MapShape("zerowin_flows", size("zerowin", "zw_key"),
                    size("zerowin", "zw_counts"), "zw_key -> zw_counts"));
            Set<String> inObject = obj.maps().keySet().stream().filter(m -> m.endsWith("_flows_0"))
                    .map(m -> m.substring(0, m.length() - "_flows_0".length())).collect(Collectors.toCollection(TreeSet::new));
            assertEquals(inObject, new TreeSet<>(flowTables.keySet()), "flow tables: C (maps PREFIX_flows_0) vs"
                    + " those this test checks");
            for (MapShape t : flowTables.values()) {
                shapes.add(new MapShape(t.map() + "_0", t.keySize(), t.valueSize(), t.java()));
                shapes.add(new MapShape(t.map() + "_1", t.keySize(), t.valueSize(), t.java()));
            }
            shapes.add(new MapShape("zerowin_closed", size("zerowin", "zw_key"), size("zerowin", "zw_closed"),
                    "zw_key -> zw_closed"));
            long ways = constant(Class.forName(FlowTable.class.getName() + "$SlotArray"), "WAYS");
            long tag = constant(Class.forName(FlowTable.class.getName() + "$SlotArray"), "TAG");
            for (SlotTable t : slotTables()) {
                shapes.add(new MapShape(t.prefix() + "_slots", 4, ways * (tag + t.key().byteSize() + t.value().byteSize()),
                        "__u32 -> " + ways + " x (tag, " + t.key().name().orElse("key") + ", "
                                + t.value().name().orElse("value") + ")"));
            }
            shapes.add(new MapShape("packets_counters", 4, size("packets", "packet_counters"), "__u32 -> packet_counters"));
            shapes.add(new MapShape("state_twin_claims", 4, ProbeSet.TWIN_CLAIMS.byteSize(), "__u32 -> twin_claims"));
            shapes.add(new MapShape("handshake_summary", 4, ProbeContext.HIST_SUMMARY_SIZE, "__u32 -> hist_summary"));
            shapes.add(new MapShape("rtt_summary", 4, ProbeContext.HIST_SUMMARY_SIZE, "__u32 -> hist_summary"));
            shapes.add(new MapShape("anomaly_sources", size("anomaly", "anomaly_source"),
                    size("anomaly", "anomaly_source_stats"), "anomaly_source -> anomaly_source_stats"));
            shapes.add(new MapShape("scan_sources", 4, size("scan", "scan_source"), "__u32 -> scan_source"));
            shapes.add(new MapShape("flood_sketches", 4, size("flood", "flood_hll"), "__u32 -> flood_hll"));
            BpfMap kinds = obj.map("anomaly_counts");
            int kindCount = probe("anomaly").sharedEnums().get("anomaly_kind").size();
            if (kinds.maxEntries() != kindCount || kinds.valueSize() != 8) {
                problems.add("anomaly_counts: C " + kinds.maxEntries() + " counters; Java reads " + kindCount
                        + " (enum anomaly_kind)");
            }
            for (MapShape s : shapes) {
                BpfMap m = obj.map(s.map());
                if (m.keySize() != s.keySize() || m.valueSize() != s.valueSize()) {
                    problems.add(s.map() + ": C key " + m.keySize() + " bytes, value " + m.valueSize() + " bytes; Java"
                            + " reads " + s.java() + ": key " + s.keySize() + " bytes, value " + s.valueSize() + " bytes");
                }
            }

            // Per-CPU counter arrays (maps.h PERCPU_COUNTERS) of a probe's enum NAME_stat, one set per twin copy for conn.
            Map<String, String> stats = Map.ofEntries(Map.entry("flood_stats", "flood:flood_stat"),
                    Map.entry("cycling_stats", "cycling:cycling_stat"),
                    Map.entry("conn_stats", "conn:conn_stat"), Map.entry("drops_stats", "drops:drop_stat"),
                    Map.entry("dupack_stats", "dupack:dupack_stat"), Map.entry("handshake_stats", "handshake:hs_stat"),
                    Map.entry("reset_stats", "reset:reset_stat"), Map.entry("retrans_stats", "retrans:retrans_stat"),
                    Map.entry("rtt_stats", "rtt:rtt_stat"), Map.entry("zerowin_stats", "zerowin:zw_stat"),
                    Map.entry("anomaly_stats", "anomaly:anomaly_stat"), Map.entry("scan_stats", "scan:scan_stat"),
                    Map.entry("upstream_stats", "upstream:upstream_stat"),
                    Map.entry("listener_stats", "listener:listener_stat"));
            Set<String> statMaps = obj.maps().keySet().stream().filter(m -> m.endsWith("_stats"))
                    .collect(Collectors.toCollection(TreeSet::new));
            assertEquals(statMaps, new TreeSet<>(stats.keySet()), "counter arrays: C (maps PROBE_stats) vs those this"
                    + " test checks");
            for (var e : new java.util.TreeMap<>(stats).entrySet()) {
                String[] probeAndEnum = e.getValue().split(":");
                int slots = probe(probeAndEnum[0]).sharedEnums().get(probeAndEnum[1]).size();
                // conn.h: PERCPU_COUNTERS(conn_stats, 2 * CONN_STAT_MAX); upstream.h: a set per upstream
                long copies = switch (e.getKey()) {
                    case "conn_stats" -> 2;
                    case "upstream_stats" -> constant(UpstreamProbe.class, "MAX_UPSTREAMS");
                    case "listener_stats" -> constant(dev.tcpinspect.probe.listener.ListenerProbe.class, "MAX_LISTENERS");
                    default -> 1;
                };
                BpfMap m = obj.map(e.getKey());
                if (m.maxEntries() != copies * slots || m.valueSize() != 8) {
                    problems.add(e.getKey() + ": C " + m.maxEntries() + " counters of " + m.valueSize() + " bytes; Java"
                            + " reads " + copies + " x " + slots + " (enum " + probeAndEnum[1] + ") counters of 8 bytes");
                }
            }

            // Histograms (hist.h): HIST_BUCKETS counters per kind, LogLinearHistogram.BUCKETS in Java.
            int hsKinds = probe("handshake").sharedEnums().get("hs_kind").size();
            expectEntries(problems, obj.map("rtt_hist"), LogLinearHistogram.BUCKETS, "HIST_BUCKETS (LogLinearHistogram.BUCKETS)");
            expectEntries(problems, obj.map("handshake_hist"), 2L * hsKinds * LogLinearHistogram.BUCKETS,
                    "2 twin copies x " + hsKinds + " kinds x LogLinearHistogram.BUCKETS");
            expectEntries(problems, obj.map("handshake_summary"), 2L * hsKinds, "2 twin copies x " + hsKinds + " kinds");
            expectEntries(problems, obj.map("upstream_hist"), constant(UpstreamProbe.class, "MAX_UPSTREAMS")
                    * probe("upstream").sharedEnums().get("upstream_hist").size() * LogLinearHistogram.BUCKETS,
                    "UpstreamProbe.MAX_UPSTREAMS x enum upstream_hist x LogLinearHistogram.BUCKETS");
            // upstream.h: 1 << UP_SOCK_SET_BITS sets of SLOT_WAYS ways, and a struct upstream_stream per way
            int upSets = constant(UpstreamProbe.class, "SOCK_SETS");
            int upWays = constant(UpstreamProbe.class, "SOCK_WAYS");
            expectEntries(problems, obj.map("upstream_socks"), upSets, "UpstreamProbe.SOCK_SETS");
            if (obj.map("upstream_socks").valueSize() != 16 * upWays) {
                problems.add("upstream_socks: C sets of " + obj.map("upstream_socks").valueSize() + " bytes; Java reads "
                        + upWays + " ways of 16 (tag, stamp)");
            }
            expectEntries(problems, obj.map("upstream_streams"), (long) upSets * upWays,
                    "UpstreamProbe.SOCK_SETS x SOCK_WAYS");
            // Drop reasons: DROP_REASON_SLOTS, the last shared by every reason past it (Java: "OTHER").
            expectEntries(problems, obj.map("drops_by_reason"), constant(DropsProbe.class, "REASON_SLOTS"),
                    "DropsProbe.REASON_SLOTS");
            // Flow table control arrays: FLOW_TABLE_SLOTS.
            for (String prefix : flowTables.keySet()) {
                expectEntries(problems, obj.map(prefix + "_flow_tables"), constant(FlowTable.class, "FULL") + 2L,
                        "FlowTable: ACTIVE, and FULL + each table");
            }
        }
        assertTrue(problems.isEmpty(), "maps of " + ProbeSet.OBJECT + " differ from what Java reads:\n  "
                + String.join("\n  ", problems));
    }

    private static void expectEntries(List<String> problems, BpfMap map, long entries, String java) {
        if (map.maxEntries() != entries) {
            problems.add(map.name() + ": C " + map.maxEntries() + " entries, Java " + entries + " (" + java + ")");
        }
    }

    // ---- helpers ----

    private static Probe probe(String name) {
        return ProbeRegistry.all().stream().filter(p -> p.name().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no probe " + name));
    }

    /** The probe's shared layout of that C struct. */
    private static StructLayout shared(String probe, String cStruct) {
        return probe(probe).sharedStructs().stream().filter(l -> l.name().equals(Optional.of(cStruct))).findFirst()
                .orElseThrow(() -> new AssertionError(probe + " shares no struct " + cStruct));
    }

    private static long size(String probe, String cStruct) {
        return shared(probe, cStruct).byteSize();
    }

    private static MemoryLayout u64() {
        return JAVA_LONG.withName("__u64");
    }

    /** A private static constant of the Java side (the test reads the value the code uses, not a copy). */
    private static Object hidden(Class<?> owner, String field) throws ReflectiveOperationException {
        Field f = owner.getDeclaredField(field);
        f.setAccessible(true);
        return f.get(null);
    }

    private static int constant(Class<?> owner, String field) {
        try {
            return (int) hidden(owner, field);
        } catch (ReflectiveOperationException e) {
            throw new AssertionError(owner.getName() + "." + field + ": " + e, e);
        }
    }
}
