package dev.tcpinspect.probe.rtt;

import dev.tcpinspect.probe.EventView;
import dev.tcpinspect.probe.Flow;

/** A view of one struct rtt_event (bpf/include/rtt.h). */
public final class RttEvent extends EventView {
    private static final int FLOW = 8;
    private static final int SRTT = FLOW + Flow.SIZE;

    RttEvent() {
        super(FLOW);
    }

    public long srttMicros() {
        return u32(SRTT);
    }

    public long cwnd() {
        return u32(SRTT + 4);
    }

    public long sendWindow() {
        return u32(SRTT + 8);
    }

    public long receiveWindow() {
        return u32(SRTT + 12);
    }
}
