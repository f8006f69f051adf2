package dev.tcpinspect.enforce;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;
import java.util.List;

/**
 * The enforcer's tables as bpf/enforce/enforce.h lays them out (EnforceLayoutTest checks each
 * against the object's BTF), and its enums in declaration order.
 */
final class Layouts {
    private Layouts() {}

    static final int LIVE = 2;
    static final int PORTS = 65536;
    /** Bytes of a rule's name in enf_names (NUL-padded). */
    static final int NAME_BYTES = 48;
    static final int RULE_SLOTS = 16384;
    /** Bytes of a packet an enf_capture_record holds at most, and where they start in it. */
    static final int CAPTURE_BYTES = 256;
    /** Entries of each prefix table (enf_prefix_v4, enf_prefix_v6): both generations together. */
    static final int PREFIX_ENTRIES = 262144;

    static final int PORT_SERVED = 1;
    static final int PORT_SERVED_ON = 2;
    static final int PORT_FAILSAFE = 4;
    static final int PORT_DROP_MISFITS = 8;
    /** The expected protocol (enum enf_protocol: Policy.Protocol's ordinal + 1) times this. */
    static final int PORT_EXPECT = 16;
    static final int PORT_RESET_MISFITS = 128;

    /** FLOW_AF_INET and FLOW_AF_INET6 (lib/flow.h). */
    static final int AF_INET = 2;
    static final int AF_INET6 = 10;

    static final StructLayout KEY_V4 = MemoryLayout.structLayout(
            JAVA_INT.withName("prefixlen"), JAVA_BYTE.withName("gen"),
            MemoryLayout.sequenceLayout(4, JAVA_BYTE).withName("addr"),
            MemoryLayout.sequenceLayout(3, JAVA_BYTE).withName("pad")).withName("enf_key_v4");
    static final StructLayout KEY_V6 = MemoryLayout.structLayout(
            JAVA_INT.withName("prefixlen"), JAVA_BYTE.withName("gen"),
            MemoryLayout.sequenceLayout(16, JAVA_BYTE).withName("addr"),
            MemoryLayout.sequenceLayout(3, JAVA_BYTE).withName("pad")).withName("enf_key_v6");
    static final StructLayout RULE = MemoryLayout.structLayout(
            JAVA_INT.withName("id"), JAVA_SHORT.withName("kind"), JAVA_SHORT.withName("listed"),
            JAVA_LONG.withName("expires_ns"), JAVA_INT.withName("own_id"), JAVA_INT.withName("prefixlen"), JAVA_INT.withName("count_id"),
            JAVA_INT.withName("mark")).withName("enf_rule");
    static final StructLayout DIR_CHUNK = MemoryLayout.structLayout(
            MemoryLayout.sequenceLayout(256, JAVA_INT).withName("e")).withName("enf_dir_chunk");
    static final StructLayout DIR_CHECK = MemoryLayout.structLayout(
            MemoryLayout.sequenceLayout(2, JAVA_LONG).withName("net"), MemoryLayout.sequenceLayout(2, JAVA_LONG).withName("mask"),
            JAVA_INT.withName("match"), JAVA_INT.withName("other")).withName("enf_dir_check");
    static final StructLayout SETTINGS = MemoryLayout.structLayout(
            JAVA_INT.withName("default_deny"), JAVA_INT.withName("service_filter"), JAVA_INT.withName("conn_limit"),
            JAVA_INT.withName("pad"), JAVA_LONG.withName("new_interval_ns"), JAVA_LONG.withName("new_burst_ns"),
            JAVA_LONG.withName("syn_interval_ns"), JAVA_LONG.withName("syn_burst_ns"), JAVA_LONG.withName("known_ns"))
            .withName("enf_settings");
    static final StructLayout CONFIG = MemoryLayout.structLayout(
            JAVA_INT.withName("active_gen"), JAVA_INT.withName("live_entries"), JAVA_INT.withName("netns_inum"),
            JAVA_INT.withName("audit"), JAVA_INT.withName("pid"), JAVA_INT.withName("epoch")).withName("enf_config");
    static final StructLayout SERVICE_KEY = MemoryLayout.structLayout(
            JAVA_BYTE.withName("gen"), JAVA_BYTE.withName("family"), JAVA_SHORT.withName("port"),
            MemoryLayout.sequenceLayout(16, JAVA_BYTE).withName("addr")).withName("enf_service_key");
    static final StructLayout SOURCE_KEY = MemoryLayout.structLayout(
            JAVA_INT.withName("family"), MemoryLayout.sequenceLayout(16, JAVA_BYTE).withName("addr"))
            .withName("enf_source_key");
    static final StructLayout FLOW_KEY = MemoryLayout.structLayout(
            JAVA_INT.withName("family"), JAVA_SHORT.withName("sport"), JAVA_SHORT.withName("dport"),
            MemoryLayout.sequenceLayout(16, JAVA_BYTE).withName("saddr"),
            MemoryLayout.sequenceLayout(16, JAVA_BYTE).withName("daddr")).withName("enf_flow_key");
    static final StructLayout SOURCE = MemoryLayout.structLayout(JAVA_LONG.withName("tat_ns")).withName("enf_source");
    static final StructLayout FIRST = MemoryLayout.structLayout(JAVA_INT.withName("state"), JAVA_INT.withName("seq"))
            .withName("enf_first");

    /** XDP metadata in front of a packet to mark (read by the TC program only; here for the layout check). */
    static final StructLayout META = MemoryLayout.structLayout(JAVA_INT.withName("magic"), JAVA_INT.withName("mark"))
            .withName("enf_meta");

    /** A copy of a packet judged to drop (enforce.h), as the capture probe's record lays it out. */
    static final StructLayout CAPTURE_RECORD = MemoryLayout.structLayout(JAVA_LONG.withName("ts_ns"),
            JAVA_INT.withName("ifindex"), JAVA_SHORT.withName("kind"), JAVA_SHORT.withName("code"),
            JAVA_INT.withName("orig_len"), JAVA_SHORT.withName("cap_len"), JAVA_BYTE.withName("link"),
            JAVA_BYTE.withName("pad"), MemoryLayout.sequenceLayout(CAPTURE_BYTES, JAVA_BYTE).withName("data"))
            .withName("enf_capture_record");

    static long offset(StructLayout layout, String field) {
        return layout.byteOffset(MemoryLayout.PathElement.groupElement(field));
    }

    static final List<StructLayout> STRUCTS = List.of(KEY_V4, KEY_V6, RULE, SETTINGS, CONFIG, SERVICE_KEY, SOURCE_KEY,
            SOURCE, FLOW_KEY, FIRST, META, CAPTURE_RECORD, DIR_CHUNK, DIR_CHECK);

    /** enum enf_stat, in order. */
    static final List<String> STATS = java.util.Arrays.stream(EnforceStat.values()).map(Enum::name).toList();
}
