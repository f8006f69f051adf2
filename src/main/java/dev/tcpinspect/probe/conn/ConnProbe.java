package dev.tcpinspect.probe.conn;

import dev.tcpinspect.probe.EventType;
import dev.tcpinspect.probe.Hook;
import dev.tcpinspect.probe.Probe;
import dev.tcpinspect.probe.ProbeContext;
import dev.tcpinspect.probe.TcpStates;
import dev.tcpinspect.snapshot.Desc;
import dev.tcpinspect.snapshot.Export;
import dev.tcpinspect.snapshot.Desc.Role;
import dev.tcpinspect.snapshot.EventFields;
import dev.tcpinspect.snapshot.Metric.Counter;
import dev.tcpinspect.snapshot.Snapshot;
import java.io.IOException;
import java.lang.foreign.StructLayout;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;

/**
 * conn (bpf/probes/conn.h): every TCP state change as an event, and totals of connections opened
 * (passive, active) and closed (by FIN, reset or timeout), with duration and bytes in events.
 */
public final class ConnProbe implements Probe {
    /** enum conn_stat, in value order. */
    enum Stat { OPENED_PASSIVE, OPENED_ACTIVE, CLOSED, CLOSED_RESET, CLOSED_TIMEOUT, EVENTS_LOST, SOCKS_FULL }

    private static final Export.Family OPENED = new Export.Family("connections_opened",
            "Connections established, by direction: passive (accepted here, as node_exporter's Tcp_PassiveOpens) or active (made from here)");
    private static final Export.Family CLOSED_FAMILY = new Export.Family("connections_closed",
            "Established connections that reached CLOSE");
    private static final Export.Family ENDED = new Export.Family("connections_closed_by",
            "Of the closed connections, those a reset or a timeout ended, by how");
    private static final Desc PASSIVE = Desc.of("connections.opened_passive", "accepted connections",
            "Connections accepted here (SYN_RECV to ESTABLISHED)").column("ACCEPTED", 8)
            .metric(OPENED, "direction", "passive");
    private static final Desc ACTIVE = Desc.of("connections.opened_active", "connections made from here",
            "Connections made from here (SYN_SENT to ESTABLISHED)").column("OPENED", 8)
            .metric(OPENED, "direction", "active");
    private static final Desc CLOSED = Desc.of("connections.closed", "connections closed",
            "Opened connections that reached CLOSE").column("CLOSED", 8)
            .metric(CLOSED_FAMILY);
    private static final Desc RESET = Desc.of("connections.reset", "by reset",
            "Of the closed connections, those a reset sent or received ended").role(Role.PART)
            .metric(ENDED, "how", "reset");
    private static final Desc TIMEOUT = Desc.of("connections.timeout", "by timeout",
            "Of the closed connections, those a timeout ended").role(Role.PART)
            .metric(ENDED, "how", "timeout");
    private static final Desc EVENTS_LOST = Desc.of("connections.events_lost", "events lost (ring buffer full)",
            "State changes the ring buffer had no room for (still in the counts)").role(Role.NOT_SHOWN)
            .metric(Export.Family.EVENTS_LOST, "probe", "conn");
    private static final Desc SOCKETS_UNTRACKED = Desc.of("connections.sockets_untracked",
            "open connections the socket table had no room for (their close is not counted)",
            "Open connections pushed out of the kernel's socket table, more being open at once than it holds")
            .role(Role.NOT_SHOWN)
            .metric(Export.Family.UNTRACKED, "probe", "conn", "table", "sockets");
    private static final String[] END_NAMES = java.util.Arrays.stream(ConnEvent.End.values())
            .map(e -> e.name().toLowerCase()).toArray(String[]::new);

    private final EventType<ConnEvent> events = new EventType<>("conn", "conn_events", ConnEvent::new, this::write);
    private final byte[] comm = new byte[16]; // the event reader's thread only
    private ProbeContext context;

    @Override
    public String name() {
        return "conn";
    }

    @Override
    public String help() {
        return "every TCP state change (sock:inet_sock_set_state); connections accepted, opened and closed, with"
                + " duration, bytes and how they ended (FIN, RST sent/received, timeout)";
    }

    @Override
    public Set<Hook> hooks() {
        return Set.of(Hook.STATE_CHANGE, Hook.SEND_RESET, Hook.RECEIVE_RESET);
    }

    @Override
    public List<StructLayout> sharedStructs() {
        return List.of(ConnEvent.LAYOUT);
    }

    @Override
    public Map<String, List<String>> sharedEnums() {
        return Map.of("conn_open", names("CONN_OPEN_", ConnEvent.Open.values()),
                "conn_end", names("CONN_END_", ConnEvent.End.values()),
                "conn_stat", names("CONN_STAT_", Stat.values()));
    }

    static List<String> names(String prefix, Enum<?>[] values) {
        return java.util.Arrays.stream(values).map(v -> prefix + v.name()).toList();
    }

    @Override
    public void bind(ProbeContext context) {
        this.context = context;
    }

    public ConnCounts read() {
        long[] v = context.counters("conn_stats", Stat.values().length);
        return new ConnCounts(v[Stat.OPENED_PASSIVE.ordinal()], v[Stat.OPENED_ACTIVE.ordinal()],
                v[Stat.CLOSED.ordinal()], v[Stat.CLOSED_RESET.ordinal()], v[Stat.CLOSED_TIMEOUT.ordinal()],
                v[Stat.EVENTS_LOST.ordinal()], v[Stat.SOCKS_FULL.ordinal()]);
    }

    @Override
    public Snapshot snapshot(boolean withTables) {
        ConnCounts c = read();
        return new Snapshot(name(), List.of(new Counter(PASSIVE, c.openedPassive()), new Counter(ACTIVE, c.openedActive()),
                new Counter(CLOSED, c.closed()), new Counter(RESET, c.reset()), new Counter(TIMEOUT, c.timeout()),
                new Counter(EVENTS_LOST, c.eventsLost()), new Counter(SOCKETS_UNTRACKED, c.socksUntracked())));
    }

    @Override
    public Optional<EventType<?>> events() {
        return Optional.of(events);
    }

    /** Delivers state changes on the set's reader thread; the event object is reused for every record. */
    public void onEvents(Consumer<ConnEvent> consumer) {
        context.subscribe(events, consumer);
    }

    /** The state-change handler's twin runs (bpf/lib/twin.h), for checking that they add up. */
    public dev.tcpinspect.probe.ProbeSet.TwinRuns twinRuns() {
        return context.twinRuns(Hook.STATE_CHANGE);
    }

    private void write(ConnEvent e, EventFields out) throws IOException {
        out.text("old_state", TcpStates.name(e.oldState()));
        out.text("new_state", TcpStates.name(e.newState()));
        if (e.open() != ConnEvent.Open.NONE) {
            out.text("open", e.open() == ConnEvent.Open.PASSIVE ? "passive" : "active");
        }
        if (e.end() != ConnEvent.End.NONE) {
            out.text("end", END_NAMES[e.end().ordinal()]);
            out.scaled("duration_ms", e.durationNanos(), 6);
            out.number("bytes_in", e.bytesIn());
            out.number("bytes_out", e.bytesOut());
        }
        if (e.pid() != 0) {
            out.number("pid", e.pid());
            out.utf8("comm", comm, e.comm(comm));
        }
    }
}
