package dev.tcpinspect.ebpf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.RequiresBpf;
import dev.tcpinspect.testing.TcpinspectProcess;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Feature probes against bpftool's own probe of the same kernel. */
@RequiresBpf
class FeaturesTest {
    private static JsonNode bpftool;

    @BeforeAll
    static void probeWithBpftool() {
        bpftool = TcpinspectProcess.parse(Cmd.run(List.of("bpftool", "-j", "feature", "probe", "kernel"), 120).ok().out());
    }

    @Test
    void programAndMapTypesAgreeWithBpftool() {
        for (ProgramType t : List.of(ProgramType.XDP, ProgramType.SCHED_CLS, ProgramType.SOCKET_FILTER,
                ProgramType.TRACEPOINT, ProgramType.RAW_TRACEPOINT, ProgramType.CGROUP_SKB, ProgramType.SK_MSG)) {
            String key = "have_" + t.name().toLowerCase() + "_prog_type";
            assertEquals(bpftool.get("program_types").get(key).asBoolean(), Features.programType(t), key);
        }
        for (MapType t : List.of(MapType.HASH, MapType.ARRAY, MapType.PERCPU_HASH, MapType.PERCPU_ARRAY,
                MapType.LRU_HASH, MapType.LRU_PERCPU_HASH, MapType.LPM_TRIE, MapType.RINGBUF)) {
            String key = "have_" + t.name().toLowerCase() + "_map_type";
            assertEquals(bpftool.get("map_types").get(key).asBoolean(), Features.mapType(t), key);
        }
    }

    @Test
    void helpersAgreeWithBpftool() {
        Map<String, Integer> helpers = Map.of("bpf_map_lookup_elem", 1, "bpf_get_current_pid_tgid", 14,
                "bpf_skb_pull_data", 39, "bpf_ringbuf_reserve", 131);
        for (ProgramType type : List.of(ProgramType.XDP, ProgramType.SCHED_CLS, ProgramType.TRACEPOINT)) {
            JsonNode available = bpftool.get("helpers").get(type.name().toLowerCase() + "_available_helpers");
            helpers.forEach((name, id) -> {
                boolean listed = false;
                for (JsonNode h : available) {
                    listed |= h.asText().equals(name);
                }
                assertEquals(listed, Features.helper(type, id), type + " " + name);
            });
        }
    }

    @Test
    void hooksThisKernelHasAndHasNot() {
        assertTrue(Features.kernelBtf());
        assertTrue(Features.tpBtf(), "tp_btf loads (AttachTest attaches one)");
        assertTrue(Features.tracepoint("tcp", "tcp_probe"));
        assertFalse(Features.tracepoint("tcp", "no_such_tracepoint"));
        assertEquals(java.nio.file.Files.isDirectory(java.nio.file.Path.of("/sys/bus/event_source/devices/kprobe")),
                Features.kprobes());
    }
}
