package dev.tcpinspect.probe.conn;

import dev.tcpinspect.probe.EventView;
import dev.tcpinspect.probe.Flow;

/** A view of one struct conn_event (bpf/include/conn.h). */
public final class ConnEvent extends EventView {
    private static final int FLOW = 8;
    private static final int OLD = FLOW + Flow.SIZE;
    private static final int NEW = OLD + 1;
    private static final int OPEN = OLD + 2;
    private static final int END = OLD + 3;
    private static final int PID = OLD + 4;
    private static final int COMM = PID + 4;
    private static final int COMM_SIZE = 16;
    private static final int DURATION = COMM + 16 + 4; // after struct conn_event's explicit pad
    private static final int BYTES_IN = DURATION + 8;
    private static final int BYTES_OUT = BYTES_IN + 8;
    private static final Open[] OPENS = Open.values();
    private static final End[] ENDS = End.values();

    ConnEvent() {
        super(FLOW);
    }

    /** How an opened connection ended. */
    public enum End { NONE, FIN, RST_SENT, RST_RECEIVED, TIMEOUT }

    /** How a connection was opened. */
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
        return string(COMM, 16);
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
