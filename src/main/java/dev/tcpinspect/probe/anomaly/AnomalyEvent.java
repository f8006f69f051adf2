package dev.tcpinspect.probe.anomaly;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.tcpinspect.probe.EventView;
import dev.tcpinspect.snapshot.Flow;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;

/** A view of one struct anomaly_event (bpf/probes/anomaly.h): at most one a second per source and kind. */
public final class AnomalyEvent extends EventView {
    static final StructLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_LONG.withName("ts_ns"),
            Flow.TUPLE_LAYOUT.withName("tuple"),
            JAVA_LONG.withName("packets"),
            JAVA_BYTE.withName("kind"),
            JAVA_BYTE.withName("flags"),
            JAVA_BYTE.withName("flags_hi"),
            JAVA_BYTE.withName("report"),
            JAVA_INT.withName("pad")).withName("anomaly_event");
    private static final int PACKETS = offset(LAYOUT, "packets");
    private static final int KIND = offset(LAYOUT, "kind");
    private static final int FLAGS = offset(LAYOUT, "flags");
    private static final int FLAGS_HI = offset(LAYOUT, "flags_hi");
    private static final int REPORT = offset(LAYOUT, "report");

    AnomalyEvent(long netns) {
        super(offset(LAYOUT, "tuple"), netns);
    }

    public AnomalyKind kind() {
        return AnomalyKind.of(u8(KIND));
    }

    /** Segments of this kind from this source so far (the ones between two events included). */
    public long packets() {
        return u64(PACKETS);
    }

    /** The segment's 12 flag bits: the reserved bits and AE above CWR ECE URG ACK PSH RST SYN FIN. */
    public int flags() {
        return (u8(FLAGS_HI) << 8) | u8(FLAGS);
    }

    /** Whether this is the first of its kind from its source (else a report a second or more after the last). */
    public boolean first() {
        return u8(REPORT) == 0;
    }
}
