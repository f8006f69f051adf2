package dev.tcpinspect.probe.packets;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import dev.tcpinspect.ebpf.BpfException;
import dev.tcpinspect.ebpf.BpfMap;
import dev.tcpinspect.ebpf.BpfObject;
import dev.tcpinspect.ebpf.Program;
import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.util.Arrays;

/**
 * What the kernel's packet parser made of a frame, field by field: bpf/test/parse_test.bpf.c runs
 * the parse the product's ingress programs run (pkt_parse_skb at TC, pkt_parse_xdp at XDP) and the
 * tuple the probes make, and leaves them in its parse_seen map, read here after each
 * BPF_PROG_TEST_RUN. The fuzzer holds every field against its reference parser.
 */
record KernelParse(int result, int sport, int dport, int flags, int ipVersion, int l3Offset, int l4Offset, int flagsHi,
                   int doff, long payloadLength, boolean tupleOk, int family, int lport, int rport, byte[] laddr,
                   byte[] raddr) {

    /** struct parse_seen (checked against the object's BTF by PacketFuzzTest). */
    static final StructLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_INT.withName("result"), JAVA_INT.withName("runs"),
            JAVA_SHORT.withName("sport"), JAVA_SHORT.withName("dport"),
            JAVA_BYTE.withName("flags"), JAVA_BYTE.withName("ip_version"),
            JAVA_SHORT.withName("l3_offset"), JAVA_SHORT.withName("l4_offset"),
            JAVA_BYTE.withName("flags_hi"), JAVA_BYTE.withName("doff"),
            JAVA_INT.withName("payload_len"),
            JAVA_BYTE.withName("tuple_ok"), JAVA_BYTE.withName("pad"),
            JAVA_SHORT.withName("family"), JAVA_SHORT.withName("lport"), JAVA_SHORT.withName("rport"),
            MemoryLayout.sequenceLayout(16, JAVA_BYTE).withName("laddr"),
            MemoryLayout.sequenceLayout(16, JAVA_BYTE).withName("raddr"));

    static final String OBJECT = "/bpf/test/parse_test.bpf.o";

    /** The parser's programs, loaded once for a run of many frames. */
    static final class Runner implements AutoCloseable {
        private final BpfObject object = BpfObject.loadResource(OBJECT);
        private final BpfMap seen = object.map("parse_seen");
        private final Arena arena = Arena.ofConfined();
        private final MemorySegment key = arena.allocate(JAVA_INT);
        private final MemorySegment value = arena.allocate(LAYOUT);

        BpfObject object() {
            return object;
        }

        /**
         * The parse of one frame at the hook (TC or XDP), or null when BPF_PROG_TEST_RUN refused the
         * frame (EINVAL: too short to make an skb of). Fails when the program changed the frame or
         * did not run.
         */
        KernelParse run(PacketFuzzTest.Hook hook, byte[] frame) {
            Program program = object.program(hook == PacketFuzzTest.Hook.TC ? "rt_parse_tc" : "rt_parse_xdp");
            int runsBefore = runs();
            try {
                var result = program.testRun(frame, 1);
                if (!Arrays.equals(frame, result.output())) {
                    throw new AssertionError(hook + ": the parse changed the packet");
                }
            } catch (BpfException e) {
                if (!"EINVAL".equals(e.errnoName())) {
                    throw e;
                }
                return null;
            }
            if (!seen.lookup(key, value) || value.get(JAVA_INT, 4) != runsBefore + 1) {
                throw new AssertionError(hook + ": the parse program did not run once");
            }
            return new KernelParse(value.get(JAVA_INT, 0), u16(8), u16(10), u8(12), u8(13), u16(14), u16(16), u8(18),
                    u8(19), Integer.toUnsignedLong(value.get(JAVA_INT, 20)), u8(24) != 0, u16(26), u16(28), u16(30),
                    value.asSlice(32, 16).toArray(JAVA_BYTE), value.asSlice(48, 16).toArray(JAVA_BYTE));
        }

        private int runs() {
            return seen.lookup(key, value) ? value.get(JAVA_INT, 4) : 0;
        }

        private int u8(long at) {
            return value.get(JAVA_BYTE, at) & 0xFF;
        }

        private int u16(long at) {
            return value.get(JAVA_SHORT, at) & 0xFFFF;
        }

        @Override
        public void close() {
            arena.close();
            object.close();
        }
    }
}
