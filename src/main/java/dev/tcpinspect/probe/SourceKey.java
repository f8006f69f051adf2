package dev.tcpinspect.probe;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.tcpinspect.snapshot.Addresses;
import dev.tcpinspect.snapshot.Flow;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.UnknownHostException;

/** struct source_key (bpf/lib/flowslots.h): an address as per-source tables key it, 16 bytes and the family. */
public final class SourceKey {
    public static final StructLayout LAYOUT = MemoryLayout.structLayout(
            MemoryLayout.sequenceLayout(16, JAVA_BYTE).withName("addr"), JAVA_LONG.withName("family"))
            .withName("source_key");
    private static final long FAMILY = LAYOUT.byteOffset(MemoryLayout.PathElement.groupElement("family"));

    private SourceKey() {}

    /** Whether the key at the start of segment is an IPv6 address. */
    public static boolean ipv6(MemorySegment key) {
        return key.get(ValueLayout.JAVA_LONG_UNALIGNED, FAMILY) == Flow.AF_INET6;
    }

    /** The key's address as text ("198.18.0.2", "fd00:7c1::2"). */
    public static String format(MemorySegment key) {
        byte[] bytes = new byte[ipv6(key) ? 16 : 4];
        MemorySegment.copy(key, JAVA_BYTE, 0, bytes, 0, bytes.length);
        try {
            return Addresses.format(InetAddress.getByAddress(bytes));
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e);
        }
    }
}
