package dev.tcpinspect.probe.rtt;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.tcpinspect.probe.EventView;
import dev.tcpinspect.snapshot.Flow;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;

/** A view of one struct rtt_event (bpf/probes/rtt.h). */
public final class RttEvent extends EventView {
    static final StructLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_LONG.withName("ts_ns"),
            Flow.LAYOUT.withName("flow"),
            JAVA_INT.withName("srtt_us"),
            JAVA_INT.withName("cwnd"),
            JAVA_INT.withName("snd_wnd"),
            JAVA_INT.withName("rcv_wnd"),
            MemoryLayout.paddingLayout(4)).withName("rtt_event");
    private static final int SRTT = offset(LAYOUT, "srtt_us");
    private static final int CWND = offset(LAYOUT, "cwnd");
    private static final int SND_WND = offset(LAYOUT, "snd_wnd");
    private static final int RCV_WND = offset(LAYOUT, "rcv_wnd");

    RttEvent() {
        super(offset(LAYOUT, "flow"));
    }

    public long srttMicros() {
        return u32(SRTT);
    }

    public long cwnd() {
        return u32(CWND);
    }

    public long sendWindow() {
        return u32(SND_WND);
    }

    public long receiveWindow() {
        return u32(RCV_WND);
    }
}
