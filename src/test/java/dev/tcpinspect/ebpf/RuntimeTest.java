package dev.tcpinspect.ebpf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.testing.RequiresBpf;
import org.junit.jupiter.api.Test;

@RequiresBpf
class RuntimeTest {
    static OpenObject openTestObject() {
        return OpenObject.openResource("/bpf/test/runtime_test.bpf.o");
    }

    @Test
    void constantSetBeforeLoadReachesTheKernelAndTestRunReportsVerdictOutputAndTime() {
        try (BpfObject obj = openTestObject().setConstant("xdp_verdict", 1 /* XDP_DROP */)
                .setConstant("mark_packet", 1).load()) {
            byte[] packet = new byte[64];
            TestRunResult result = obj.program("rt_xdp").testRun(packet, 1000);
            assertEquals(1, result.verdict());
            assertEquals(64, result.output().length);
            assertEquals((byte) 0xAB, result.output()[0], "the program marks byte 0 of its output packet");
            assertTrue(result.nsPerRun() > 0 && result.nsPerRun() < 1_000_000, "ns per run " + result.nsPerRun());
        }
    }

    /** Section names as the compiled objects carry them (the SEC() lines of their sources). */
    @Test
    void programSectionsAreReadFromTheOpenObject() {
        try (OpenObject probes = OpenObject.openResource("/bpf/tcpinspect.bpf.o");
             OpenObject empty = OpenObject.openResource("/bpf/bench/empty.bpf.o")) {
            assertTrue(probes.hasProgramSection("tp_btf/"));
            assertTrue(!probes.hasProgramSection("tracepoint/"), "every tracepoint is BTF-typed: no tracefs is needed");
            assertTrue(probes.hasProgramSection("xdp"));
            assertTrue(empty.hasProgramSection("tp_btf/"));
            assertTrue(!empty.hasProgramSection("tracepoint/"), "the baselines attach no classic tracepoint");
        }
    }

    @Test
    void defaultConstantIsKept() {
        try (BpfObject obj = openTestObject().load()) {
            TestRunResult result = obj.program("rt_xdp").testRun(new byte[20], 1);
            assertEquals(2 /* XDP_PASS */, result.verdict());
            assertEquals(0, result.output()[0], "unmarked by default");
        }
    }

    @Test
    void unknownConstantAndWrongSizeAreClearErrors() {
        try (OpenObject open = openTestObject()) {
            var e = assertThrows(IllegalArgumentException.class, () -> open.setConstant("nope", 1));
            assertTrue(e.getMessage().contains("no constant nope"), e.getMessage());
            var e2 = assertThrows(IllegalArgumentException.class, () -> open.setConstant("xdp_verdict", 1L));
            assertTrue(e2.getMessage().contains("4 bytes"), e2.getMessage());
        }
    }

    @Test
    void maxEntriesCanBeSetBeforeLoad() {
        try (BpfObject obj = openTestObject().setMaxEntries("plain_hash", 4096).load()) {
            assertEquals(4096, obj.map("plain_hash").maxEntries());
        }
    }

    @Test
    void verifierRejectionNamesTheProgramAndCarriesTheLog() {
        VerifierException e = assertThrows(VerifierException.class,
                () -> OpenObject.openResource("/bpf/test/verifier_reject.bpf.o").load());
        assertEquals("rt_reject", e.program());
        assertTrue(e.verifierLog().contains("invalid access to packet"), e.verifierLog());
        assertTrue(e.getMessage().contains("rt_reject"), e.getMessage());
        assertEquals("EACCES", e.errnoName());
        // The one-line reason is the verifier's own complaint, not its closing statistics.
        assertTrue(e.reason().contains("packet") && e.verifierLog().contains(e.reason())
                && !e.reason().startsWith("processed"), e.reason());
    }

    @Test
    void programsAndMapsAreListedWithTheirTypes() {
        try (BpfObject obj = openTestObject().load()) {
            assertEquals(ProgramType.XDP, obj.program("rt_xdp").type());
            assertEquals(ProgramType.SCHED_CLS, obj.program("rt_tc").type());
            assertEquals(ProgramType.SOCKET_FILTER, obj.program("rt_socket").type());
            assertEquals(MapType.LPM_TRIE, obj.map("lpm").type());
            assertEquals(MapType.RINGBUF, obj.map("events").type());
            var e = assertThrows(IllegalArgumentException.class, () -> obj.map("missing"));
            assertTrue(e.getMessage().contains("has no map missing"));
        }
    }

    @Test
    void closingTwiceIsHarmless() {
        BpfObject obj = openTestObject().load();
        obj.close();
        obj.close();
    }
}
