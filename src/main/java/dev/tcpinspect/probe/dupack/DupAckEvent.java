package dev.tcpinspect.probe.dupack;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import dev.tcpinspect.probe.EventView;
import dev.tcpinspect.snapshot.Flow;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;

/** A view of one struct dupack_event (bpf/probes/dupack.h). */
public final class DupAckEvent extends EventView {
    static final StructLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_LONG.withName("ts_ns"),
            Flow.TUPLE_LAYOUT.withName("tuple"),
            JAVA_INT.withName("ack"),
            JAVA_SHORT.withName("window"),
            JAVA_SHORT.withName("pad")).withName("dupack_event");
    private static final int ACK = offset(LAYOUT, "ack");
    private static final int WINDOW = offset(LAYOUT, "window");

    DupAckEvent(long netns) {
        super(offset(LAYOUT, "tuple"), netns);
    }

    public long ack() {
        return u32(ACK);
    }

    public int window() {
        return u16(WINDOW);
    }
}
