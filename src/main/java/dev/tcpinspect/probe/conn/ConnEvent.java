package dev.tcpinspect.probe.conn;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.tcpinspect.probe.EventView;
import dev.tcpinspect.snapshot.Flow;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;

/** A view of one struct conn_event (bpf/probes/conn.h). */
public final class ConnEvent extends EventView {
    static final StructLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_LONG.withName("ts_ns"),
            Flow.LAYOUT.withName("flow"),
            JAVA_BYTE.withName("old_state"),
            JAVA_BYTE.withName("new_state"),
            JAVA_BYTE.withName("open"),
            JAVA_BYTE.withName("end"),
            JAVA_INT.withName("pid"),
            MemoryLayout.sequenceLayout(16, JAVA_BYTE).withName("comm"),
            JAVA_INT.withName("pad"),
            JAVA_LONG.withName("duration_ns"),
            JAVA_LONG.withName("bytes_in"),
            JAVA_LONG.withName("bytes_out")).withName("conn_event");

    private static final int OLD = offset(LAYOUT, "old_state");
    private static final int NEW = offset(LAYOUT, "new_state");
    private static final int OPEN = offset(LAYOUT, "open");
    private static final int END = offset(LAYOUT, "end");
    private static final int PID = offset(LAYOUT, "pid");
    private static final int COMM = offset(LAYOUT, "comm");
    private static final int COMM_SIZE = 16;
    private static final int DURATION = offset(LAYOUT, "duration_ns");
    private static final int BYTES_IN = offset(LAYOUT, "bytes_in");
    private static final int BYTES_OUT = offset(LAYOUT, "bytes_out");
    private static final Open[] OPENS = Open.values();
    private static final End[] ENDS = End.values();

    ConnEvent() {
        super(offset(LAYOUT, "flow"));
    }

    /** How an opened connection ended (enum conn_end, in value order). */
    public enum End { NONE, FIN, RST_SENT, RST_RECEIVED, TIMEOUT }

    /** How a connection was opened (enum conn_open, in value order). */
    public enum Open { NONE, PASSIVE, ACTIVE }

    public int oldState() {
        return u8(OLD);
    }

    public int newState() {
        return u8(NEW);
    }

    public Open open() {
        return OPENS[u8(OPEN)];
    }

    public End end() {
        return ENDS[u8(END)];
    }

    /** The process that made the change, 0 when it happened outside any process's own context. */
    public int pid() {
        return s32(PID);
    }

    /** Copies the command name's bytes (at most 16, without the NUL) into into; returns how many. */
    public int comm(byte[] into) {
        int n = 0;
        while (n < COMM_SIZE && (into[n] = (byte) u8(COMM + n)) != 0) {
            n++;
        }
        return n;
    }

    public String comm() {
        return string(COMM, COMM_SIZE);
    }

    public long durationNanos() {
        return u64(DURATION);
    }

    public long bytesIn() {
        return u64(BYTES_IN);
    }

    public long bytesOut() {
        return u64(BYTES_OUT);
    }
}
