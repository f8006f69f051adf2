package dev.tcpinspect.probe.conn;

import dev.tcpinspect.probe.EventSource;
import dev.tcpinspect.probe.ProbeObject;
import java.util.function.Consumer;

/**
 * Connection lifecycle (conn.bpf.c): every TCP state change as an event, and totals of connections
 * opened (passive, active) and closed (by FIN, reset or timeout).
 */
public final class ConnProbe implements AutoCloseable, EventSource {
    static final String OBJECT = "/bpf/conn.bpf.o";
    private static final int STATS = 7;

    private final ProbeObject probe;

    private ConnProbe(ProbeObject probe) {
        this.probe = probe;
    }

    /** Loads the probe; allNetns: every namespace, not only the caller's; events: make event records. */
    public static ConnProbe load(boolean allNetns, boolean events) {
        return new ConnProbe(ProbeObject.load(OBJECT, STATS, allNetns, events));
    }

    public void attach() {
        probe.attachSectionDefined("tcpi_conn_rst_out")
                .attachSectionDefined("tcpi_conn_rst_in")
                .attachTwins("tcpi_conn_state", "tcpi_conn_twin");
    }

    /** Delivers state changes on a reader thread; the event object is reused for every record. */
    public void onEvents(Consumer<ConnEvent> consumer) {
        probe.onEvents(new ConnEvent(), consumer);
    }

    public ConnCounts read() {
        long[] v = probe.stats();
        return new ConnCounts(v[0], v[1], v[2], v[3], v[4], v[5], v[6]);
    }

    @Override
    public long eventsFailed() {
        return probe.eventsFailed();
    }

    /** The state-change handler's twin runs (bpf/include/twin.h), for checking that they add up. */
    public ProbeObject.TwinRuns twinRuns() {
        return probe.twinRuns();
    }

    @Override
    public long runsSkipped() {
        return probe.runsSkipped();
    }

    @Override
    public void close() {
        probe.close();
    }
}
