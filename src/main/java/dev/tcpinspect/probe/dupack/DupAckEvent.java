package dev.tcpinspect.probe.dupack;

import dev.tcpinspect.probe.EventView;
import dev.tcpinspect.probe.Flow;

/** A view of one struct dupack_event (bpf/include/dupack.h). */
public final class DupAckEvent extends EventView {
    private static final int TUPLE = 8;
    private static final int ACK = TUPLE + Flow.TUPLE_SIZE;
    private static final int WINDOW = ACK + 4;

    DupAckEvent(long netns) {
        super(TUPLE, netns);
    }

    public long ack() {
        return u32(ACK);
    }

    public int window() {
        return u16(WINDOW);
    }
}
