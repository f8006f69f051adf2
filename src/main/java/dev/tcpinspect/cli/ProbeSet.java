package dev.tcpinspect.cli;

import dev.tcpinspect.ebpf.XdpMode;
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

    final SynCountProbe packets;
    final RetransProbe retrans;
    final ResetProbe reset;
    final DropsProbe drops;
    final ConnProbe conn;
    final HandshakeProbe handshake;
    final DupAckProbe dupack;
    final ZeroWindowProbe zerowin;
    final RttProbe rtt;

    private ProbeSet(SynCountProbe packets, RetransProbe retrans, ResetProbe reset, DropsProbe drops, ConnProbe conn,
                     HandshakeProbe handshake, DupAckProbe dupack, ZeroWindowProbe zerowin, RttProbe rtt) {
        this.rtt = rtt;
        this.zerowin = zerowin;
        this.dupack = dupack;
        this.conn = conn;
        this.handshake = handshake;
        this.packets = packets;
        this.retrans = retrans;
        this.reset = reset;
        this.drops = drops;
    }

    /**
     * Loads and attaches the named probes; on any failure closes what was made and rethrows, so a
     * failed start leaves nothing attached.
     */
    static ProbeSet start(List<Name> names, List<String> interfaces, SynCountProbe.Hook hook, XdpMode xdpMode,
                          boolean allNetns) {
        SynCountProbe packets = null;
        RetransProbe retrans = null;
        ResetProbe reset = null;
        DropsProbe drops = null;
        ConnProbe conn = null;
        HandshakeProbe handshake = null;
        DupAckProbe dupack = null;
        ZeroWindowProbe zerowin = null;
        RttProbe rtt = null;
        try {
            if (names.contains(Name.packets)) {
                packets = SynCountProbe.load();
                packets.attach(interfaces, hook, xdpMode);
            }
            if (names.contains(Name.retrans)) {
                retrans = RetransProbe.load(allNetns);
                retrans.attach();
            }
            if (names.contains(Name.reset)) {
                reset = ResetProbe.load(allNetns);
                reset.attach();
            }
            if (names.contains(Name.drops)) {
                drops = DropsProbe.load(allNetns);
                drops.attach();
            }
            if (names.contains(Name.conn)) {
                conn = ConnProbe.load(allNetns);
                conn.attach();
            }
            if (names.contains(Name.handshake)) {
                handshake = HandshakeProbe.load(allNetns);
                handshake.attach(interfaces);
            }
            if (names.contains(Name.dupack)) {
                dupack = DupAckProbe.load();
                dupack.attach(interfaces);
            }
            if (names.contains(Name.zerowin)) {
                zerowin = ZeroWindowProbe.load();
                zerowin.attach(interfaces);
            }
            if (names.contains(Name.rtt)) {
                rtt = RttProbe.load(allNetns);
                rtt.attach();
            }
            return new ProbeSet(packets, retrans, reset, drops, conn, handshake, dupack, zerowin, rtt);
        } catch (RuntimeException e) {
            new ProbeSet(packets, retrans, reset, drops, conn, handshake, dupack, zerowin, rtt).close();
            throw e;
        }
    }

    List<String> names() {
        List<String> names = new ArrayList<>();
        if (packets != null) {
            names.add(Name.packets.name());
        }
        if (conn != null) {
            names.add(Name.conn.name());
        }
        if (handshake != null) {
            names.add(Name.handshake.name());
        }
        if (retrans != null) {
            names.add(Name.retrans.name());
        }
        if (reset != null) {
            names.add(Name.reset.name());
        }
        if (drops != null) {
            names.add(Name.drops.name());
        }
        if (zerowin != null) {
            names.add(Name.zerowin.name());
        }
        if (rtt != null) {
            names.add(Name.rtt.name());
        }
        if (dupack != null) {
            names.add(Name.dupack.name());
        }
        return names;
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
                rtt == null ? null : rtt.read(), rtt == null || !withFlows ? List.of() : rtt.remotes(TOP_FLOWS));
    }

    @Override
    public void close() {
        RuntimeException first = null;
        for (AutoCloseable probe : new AutoCloseable[] {rtt, zerowin, dupack, handshake, conn, drops, reset, retrans, packets}) {
            if (probe == null) {
                continue;
            }
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
        if (first != null) {
            throw first;
        }
    }
}
