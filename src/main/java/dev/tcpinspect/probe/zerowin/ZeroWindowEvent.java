package dev.tcpinspect.probe.zerowin;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import dev.tcpinspect.probe.EventView;
import dev.tcpinspect.snapshot.Flow;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;

/** A view of one struct zw_event (bpf/probes/zerowin.h). */
public final class ZeroWindowEvent extends EventView {
    static final StructLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_LONG.withName("ts_ns"),
            JAVA_LONG.withName("closed_ns"),
            Flow.TUPLE_LAYOUT.withName("tuple"),
            JAVA_BYTE.withName("direction"),
            JAVA_BYTE.withName("reopened"),
            JAVA_SHORT.withName("pad"),
            MemoryLayout.paddingLayout(4)).withName("zw_event");
    private static final int CLOSED = offset(LAYOUT, "closed_ns");
    private static final int DIRECTION = offset(LAYOUT, "direction");
    private static final int REOPENED = offset(LAYOUT, "reopened");

    ZeroWindowEvent(long netns) {
        super(offset(LAYOUT, "tuple"), netns);
    }

    /** True when this host advertised the zero window, false when a peer did. */
    public boolean sent() {
        return u8(DIRECTION) == ZeroWindowProbe.Direction.SENT.ordinal();
    }

    /** True when the window just opened again ({@link #closedNanos} says for how long it was closed). */
    public boolean reopened() {
        return u8(REOPENED) == 1;
    }

    public long closedNanos() {
        return u64(CLOSED);
    }
}
