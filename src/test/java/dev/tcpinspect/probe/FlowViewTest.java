package dev.tcpinspect.probe;

import dev.tcpinspect.snapshot.Flow;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The in-place view against the Flow record, whose addresses the JDK decodes (InetAddress.getByAddress). */
class FlowViewTest {
    private static final Random RANDOM = new Random(3);

    @Test
    void readsStructFlowAsFlowDoes() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment record = arena.allocate(64);
            for (int i = 0; i < 3_000; i++) {
                int family = i % 3 == 0 ? 2 : 10;
                byte[] l = address(family, i % 3 == 2);
                byte[] r = address(family, i % 3 == 2);
                record.set(ValueLayout.JAVA_INT_UNALIGNED, 4, RANDOM.nextInt());
                record.set(ValueLayout.JAVA_SHORT_UNALIGNED, 8, (short) family);
                record.set(ValueLayout.JAVA_SHORT_UNALIGNED, 10, (short) RANDOM.nextInt(65536));
                record.set(ValueLayout.JAVA_SHORT_UNALIGNED, 12, (short) RANDOM.nextInt(65536));
                MemorySegment.copy(l, 0, record, ValueLayout.JAVA_BYTE, 16, 16);
                MemorySegment.copy(r, 0, record, ValueLayout.JAVA_BYTE, 32, 16);
                FlowView view = new FlowView();
                view.pointAt(record, 4, false, 0);
                assertSame(Flow.read(record, 4), view);
            }
        }
    }

    @Test
    void readsPacketTuplesAsFlowDoes() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment record = arena.allocate(64);
            for (int i = 0; i < 2_000; i++) {
                int family = i % 2 == 0 ? 2 : 10;
                MemorySegment.copy(address(family, false), 0, record, ValueLayout.JAVA_BYTE, 8, 16);
                MemorySegment.copy(address(family, false), 0, record, ValueLayout.JAVA_BYTE, 24, 16);
                record.set(ValueLayout.JAVA_SHORT_UNALIGNED, 40, (short) RANDOM.nextInt(65536));
                record.set(ValueLayout.JAVA_SHORT_UNALIGNED, 42, (short) RANDOM.nextInt(65536));
                record.set(ValueLayout.JAVA_SHORT_UNALIGNED, 44, (short) family);
                FlowView view = new FlowView();
                view.pointAt(record, 8, true, 4026531840L);
                assertSame(Flow.readTuple(record, 8, 4026531840L), view);
            }
        }
    }

    /** 4 bytes (then zeros) for IPv4, 16 for IPv6; v4-mapped ones (::ffff:a.b.c.d) when asked. */
    private static byte[] address(int family, boolean v4Mapped) {
        byte[] a = new byte[16];
        RANDOM.nextBytes(a);
        if (family == 2) {
            Arrays.fill(a, 4, 16, (byte) 0);
        } else if (v4Mapped) {
            Arrays.fill(a, 0, 10, (byte) 0);
            a[10] = (byte) 0xFF;
            a[11] = (byte) 0xFF;
        }
        return a;
    }

    private static void assertSame(Flow expected, FlowView view) throws Exception {
        assertEquals(expected.netns(), view.netns());
        assertEquals(expected.ipv6(), view.ipv6());
        assertEquals(expected.lport(), view.lport());
        assertEquals(expected.rport(), view.rport());
        byte[] buffer = new byte[16];
        assertArrayEquals(expected.laddr().getAddress(), Arrays.copyOf(buffer, view.localAddress(buffer)));
        assertArrayEquals(expected.raddr().getAddress(), Arrays.copyOf(buffer, view.remoteAddress(buffer)));
        assertEquals(expected, view.toFlow());
        assertEquals(expected.laddr(), InetAddress.getByAddress(Arrays.copyOf(buffer, view.localAddress(buffer))));
    }
}
