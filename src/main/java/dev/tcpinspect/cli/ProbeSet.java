package dev.tcpinspect.cli;

import dev.tcpinspect.ebpf.XdpMode;
import dev.tcpinspect.probe.EventSource;
import dev.tcpinspect.probe.FlowCounting;
import dev.tcpinspect.probe.Reading;
import dev.tcpinspect.probe.conn.ConnProbe;
import dev.tcpinspect.probe.drops.DropsProbe;
import dev.tcpinspect.probe.dupack.DupAckProbe;
import dev.tcpinspect.probe.rtt.RttProbe;
import dev.tcpinspect.probe.zerowin.ZeroWindowProbe;
import dev.tcpinspect.probe.handshake.HandshakeProbe;
import dev.tcpinspect.probe.reset.ResetProbe;
import dev.tcpinspect.probe.retrans.RetransProbe;
import dev.tcpinspect.probe.syncount.SynCountProbe;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** The probes one watch runs, loaded and attached together, read together, closed together. */
final class ProbeSet implements AutoCloseable {
    /** Names accepted by --probe. */
    enum Name { packets, conn, handshake, retrans, reset, drops, zerowin, rtt, dupack }

    static final int TOP_FLOWS = 10;

    // Each field is null when its probe is not running.
    SynCountProbe packets;
    ConnProbe conn;
    HandshakeProbe handshake;
    RetransProbe retrans;
    ResetProbe reset;
    DropsProbe drops;
    ZeroWindowProbe zerowin;
    RttProbe rtt;
    DupAckProbe dupack;
    private final List<AutoCloseable> started = new ArrayList<>();
    private final List<String> names = new ArrayList<>();

    private ProbeSet() {}

    /** Records a loaded probe, so that it is closed (and named) even if a later one fails. */
    private <P extends AutoCloseable> P track(Name name, P probe) {
        started.add(probe);
        names.add(name.name());
        return probe;
    }

    /**
     * Loads and attaches the named probes (in the calling thread's namespace); on any failure closes
     * what was made and rethrows, so a failed start leaves nothing attached. Without events the
     * probes keep their counters and tables but make no event records.
     */
    static ProbeSet start(List<Name> chosen, List<String> interfaces, SynCountProbe.Hook hook, XdpMode xdpMode,
                          boolean allNetns, boolean events) {
        ProbeSet set = new ProbeSet();
        try {
            for (Name name : Name.values()) {
                if (!chosen.contains(name)) {
                    continue;
                }
                switch (name) {
                    case packets -> set.track(name, set.packets = SynCountProbe.load()).attach(interfaces, hook, xdpMode);
                    case conn -> set.track(name, set.conn = ConnProbe.load(allNetns, events)).attach();
                    case handshake -> set.track(name, set.handshake = HandshakeProbe.load(allNetns, events)).attach(interfaces);
                    case retrans -> set.track(name, set.retrans = RetransProbe.load(allNetns, events)).attach();
                    case reset -> set.track(name, set.reset = ResetProbe.load(allNetns, events)).attach();
                    case drops -> set.track(name, set.drops = DropsProbe.load(allNetns, events)).attach();
                    case zerowin -> set.track(name, set.zerowin = ZeroWindowProbe.load(events)).attach(interfaces);
                    case rtt -> set.track(name, set.rtt = RttProbe.load(allNetns, events)).attach();
                    case dupack -> set.track(name, set.dupack = DupAckProbe.load(events)).attach(interfaces);
                }
            }
            return set;
        } catch (RuntimeException e) {
            try {
                set.close();
            } catch (RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    /** Events the running probes read but could not hand to the presenter (it threw). */
    long eventsFailed() {
        return started.stream().filter(p -> p instanceof EventSource).mapToLong(p -> ((EventSource) p).eventsFailed()).sum();
    }

    /** The running probes' names, in the order of {@link Name}. */
    List<String> names() {
        return List.copyOf(names);
    }

    /** Current cumulative counts; the top flows only when asked (they cost a walk of the flow map). */
    Reading read(boolean withFlows) {
        return new Reading(packets == null ? null : packets.read(), retrans == null ? null : retrans.read(),
                retrans == null || !withFlows ? List.of() : retrans.topFlows(TOP_FLOWS),
                reset == null ? null : reset.read(), reset == null || !withFlows ? List.of() : reset.topFlows(TOP_FLOWS),
                drops == null ? null : drops.read(), drops == null || !withFlows ? List.of() : drops.topFlows(TOP_FLOWS),
                conn == null ? null : conn.read(), handshake == null ? null : handshake.read(),
                handshake == null || !withFlows ? Map.of() : handshake.byPort(true),
                dupack == null ? null : dupack.read(), dupack == null || !withFlows ? List.of() : dupack.topFlows(TOP_FLOWS),
                zerowin == null ? null : zerowin.read(),
                zerowin == null || !withFlows ? List.of() : zerowin.topFlows(TOP_FLOWS),
                rtt == null ? null : rtt.read(), rtt == null || !withFlows ? List.of() : rtt.remotes(TOP_FLOWS),
                runsSkipped());
    }

    /** Drains the kernel's per-flow tables of every running probe that counts per flow. */
    void drainFlows() {
        for (AutoCloseable probe : started) {
            if (probe instanceof FlowCounting counting) {
                counting.drainFlows();
            }
        }
    }

    /** Per running tracepoint probe, the runs the kernel skipped that no twin made up for. */
    private Map<String, Long> runsSkipped() {
        Map<String, Long> skipped = new java.util.TreeMap<>();
        for (int i = 0; i < started.size(); i++) {
            if (started.get(i) instanceof EventSource source) {
                skipped.put(names.get(i), source.runsSkipped());
            }
        }
        return skipped;
    }

    /** Closes every running probe, newest first; detaching continues past a failure, which is rethrown. */
    @Override
    public void close() {
        RuntimeException first = null;
        for (AutoCloseable probe : started.reversed()) {
            try {
                probe.close();
            } catch (Exception e) {
                if (first == null) {
                    first = e instanceof RuntimeException r ? r : new IllegalStateException(e);
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        started.clear();
        if (first != null) {
            throw first;
        }
    }
}
