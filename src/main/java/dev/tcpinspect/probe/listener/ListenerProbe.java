package dev.tcpinspect.probe.listener;

import dev.tcpinspect.ebpf.OpenObject;
import dev.tcpinspect.os.ForeignSockets;
import dev.tcpinspect.os.ProcessSockets;
import dev.tcpinspect.probe.Hook;
import dev.tcpinspect.probe.Probe;
import dev.tcpinspect.probe.ProbeContext;
import dev.tcpinspect.probe.ProbeSet;
import dev.tcpinspect.snapshot.Desc;
import dev.tcpinspect.snapshot.Export;
import dev.tcpinspect.snapshot.Metric;
import dev.tcpinspect.snapshot.Metric.CounterMap;
import dev.tcpinspect.snapshot.Snapshot;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * listener (bpf/probes/listener.h): per listening socket of a service (--socket PID:PORT), the
 * segments that reach it and the connections it accepts, with payload bytes and flags. tcpinspect
 * takes a duplicate of the process's listening socket (pidfd_getfd) and attaches a socket filter to
 * it, which the connections accepted from then on inherit; on close it detaches from the listener
 * and from those connections, so the service is left as it was.
 */
public final class ListenerProbe implements Probe {
    /** LISTENER_MAX in bpf/probes/listener.h. */
    static final int MAX_LISTENERS = 16;

    /** enum listener_stat, in value order. */
    enum Stat { SEGMENTS, PAYLOAD_BYTES, SYN, FIN, RST, PURE_ACK, DATA }

    /** A service's listener: the process and the local port (its IPv4 and IPv6 sockets alike). */
    public record Target(long pid, int port) {
        String label() {
            return pid + ":" + port;
        }
    }

    private static final Export.Family SEGMENTS = new Export.Family("listener_segments",
            "Segments that reached each listening socket given with --socket (PID:PORT) and its accepted connections, by"
                    + " kind: all, syn, fin, rst, pure_ack, data");
    private static final Export.Family BYTES = new Export.Family("listener_payload_bytes",
            "Payload bytes that reached each listening socket's accepted connections (--socket PID:PORT)");
    private static final Map<Stat, Desc> DESCS = descs();

    private final List<Target> targets = new ArrayList<>();
    private ProbeContext context;
    private final List<ForeignSockets.Hold> holds = new ArrayList<>();
    private final List<ForeignSockets.Listener> attached = new ArrayList<>();

    private static Map<Stat, Desc> descs() {
        Map<Stat, Desc> m = new LinkedHashMap<>();
        m.put(Stat.SEGMENTS, Desc.of("listener_segments.all", "segments to listeners",
                "Segments that reached each listener and its accepted connections").metricByKey(SEGMENTS, "listener", "kind",
                "all"));
        m.put(Stat.PAYLOAD_BYTES, Desc.of("listener_payload_bytes", "payload bytes to listeners",
                "Payload bytes that reached each listener's connections").metricByKey(BYTES, "listener"));
        for (Stat s : List.of(Stat.SYN, Stat.FIN, Stat.RST, Stat.PURE_ACK, Stat.DATA)) {
            String kind = s.name().toLowerCase(Locale.ROOT);
            m.put(s, Desc.of("listener_segments." + kind, kind.replace('_', ' ') + " segments to listeners",
                    "Segments of this kind that reached each listener and its connections").role(Desc.Role.HIDDEN)
                    .metricByKey(SEGMENTS, "listener", "kind", kind));
        }
        return m;
    }

    @Override
    public String name() {
        return "listener";
    }

    @Override
    public String help() {
        return "per service listener given with --socket PID:PORT (a socket filter on it, which its accepted"
                + " connections inherit): segments, payload bytes, SYN, FIN, RST, pure ACKs; no interface needed";
    }

    @Override
    public Set<Hook> hooks() {
        return Set.of(Hook.SOCKET);
    }

    @Override
    public Map<String, List<String>> sharedEnums() {
        return Map.of("listener_stat", Arrays.stream(Stat.values()).map(s -> "LS_STAT_" + s.name()).toList());
    }

    /** "add": PID:PORT, a process with a TCP socket listening on the port; anything else is refused. */
    @Override
    public void set(String key, String value) {
        if (!key.equals("add")) {
            Probe.super.set(key, value);
            return;
        }
        Target t = parse(value);
        if (targets.stream().anyMatch(x -> x.port() == t.port())) {
            throw new IllegalArgumentException("port " + t.port() + " is given twice (a segment's port names its listener)");
        }
        if (targets.size() == MAX_LISTENERS) {
            throw new IllegalArgumentException("at most " + MAX_LISTENERS + " listeners");
        }
        targets.add(t);
    }

    static Target parse(String value) {
        String[] parts = value.strip().split(":");
        long pid;
        int port;
        try {
            if (parts.length != 2) {
                throw new NumberFormatException();
            }
            pid = Long.parseLong(parts[0]);
            port = Integer.parseInt(parts[1]);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + value + "' is not PID:PORT (e.g. 1234:8080)");
        }
        if (pid < 1 || port < 1 || port > 65535) {
            throw new IllegalArgumentException("'" + value + "': the pid must be positive and the port 1 to 65535");
        }
        if (ProcessHandle.of(pid).isEmpty()) {
            throw new IllegalArgumentException("no process " + pid);
        }
        try {
            if (ProcessSockets.tcp(pid).stream().noneMatch(s -> s.listening() && s.localPort() == port)) {
                throw new IllegalArgumentException("process " + pid + " has no TCP socket listening on port " + port
                        + " (ss -ltnp shows which ports it listens on)");
            }
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read process " + pid + "'s sockets: " + e.getMessage());
        }
        return new Target(pid, port);
    }

    @Override
    public void configure(OpenObject object, ProbeSet.Options options) {
        ByteBuffer ports = ByteBuffer.allocate(2 * MAX_LISTENERS).order(ByteOrder.nativeOrder());
        targets.forEach(t -> ports.putShort((short) t.port()));
        object.setConstant("listener_ports", ports.array());
        object.setConstant("listener_count", targets.size());
    }

    /**
     * Takes each listener's sockets from its process and attaches the filter to them, recorded (a
     * watch killed with -9 leaves them to cleanup, or to the next watch of that listener). The
     * duplicates are closed at once: only the service keeps its sockets open.
     */
    @Override
    public void bind(ProbeContext context) {
        this.context = context;
        if (targets.isEmpty()) {
            return;
        }
        int program = context.object().program(Hook.SOCKET.programs().getFirst()).fd();
        for (Target t : targets) {
            List<ForeignSockets.Listener> listeners = ForeignSockets.listeners(t.pid(), t.port());
            if (listeners.isEmpty()) {
                throw new IllegalStateException("process " + t.pid() + " no longer listens on port " + t.port());
            }
            for (ForeignSockets.Listener l : listeners) {
                holds.add(ForeignSockets.hold(l));
                ForeignSockets.attach(l, program);
                attached.add(l); // only once attached: a listener refused (a filter of its own) is left as it was
            }
        }
    }

    /**
     * Detaches from the listeners this probe attached to and from the connections they accepted
     * meanwhile (ForeignSockets.detach), then lets the records go. A listener it never attached to
     * (another watch's) is left alone.
     */
    @Override
    public void close() {
        for (ForeignSockets.Listener l : attached) {
            try {
                ForeignSockets.detach(l);
            } catch (RuntimeException e) {
                // the process is gone: its sockets, and the filters on them, with it
            }
        }
        attached.clear();
        holds.forEach(ForeignSockets.Hold::close);
        holds.clear();
    }

    /** Detaching takes the service's sockets again, which takes the privileges a start had. */
    @Override
    public boolean detachesWithoutPrivileges() {
        return targets.isEmpty();
    }

    @Override
    public Snapshot snapshot(boolean withTables) {
        List<Metric> metrics = new ArrayList<>();
        if (targets.isEmpty()) {
            return new Snapshot(name(), metrics);
        }
        long[] v = context.counters("listener_stats", MAX_LISTENERS * Stat.values().length);
        for (var e : DESCS.entrySet()) {
            Map<String, Long> byListener = new LinkedHashMap<>();
            for (int i = 0; i < targets.size(); i++) {
                byListener.put(targets.get(i).label(), v[i * Stat.values().length + e.getKey().ordinal()]);
            }
            metrics.add(new CounterMap(e.getValue(), byListener));
        }
        return new Snapshot(name(), metrics);
    }

    /** For tests: each listener's counts by kind (segments, payload_bytes, syn, fin, rst, pure_ack, data). */
    public Map<String, Map<String, Long>> counts() {
        long[] v = context.counters("listener_stats", MAX_LISTENERS * Stat.values().length);
        Map<String, Map<String, Long>> m = new LinkedHashMap<>();
        for (int i = 0; i < targets.size(); i++) {
            Map<String, Long> one = new LinkedHashMap<>();
            for (Stat s : Stat.values()) {
                one.put(s.name().toLowerCase(Locale.ROOT), v[i * Stat.values().length + s.ordinal()]);
            }
            m.put(targets.get(i).label(), one);
        }
        return m;
    }
}
