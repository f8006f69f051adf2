package dev.tcpinspect.probe.registry;

import dev.tcpinspect.probe.Probe;
import dev.tcpinspect.probe.anomaly.AnomalyProbe;
import dev.tcpinspect.probe.flood.FloodProbe;
import dev.tcpinspect.probe.scan.ScanProbe;
import dev.tcpinspect.probe.conn.ConnProbe;
import dev.tcpinspect.probe.cycling.CyclingProbe;
import dev.tcpinspect.probe.drops.DropsProbe;
import dev.tcpinspect.probe.dupack.DupAckProbe;
import dev.tcpinspect.probe.handshake.HandshakeProbe;
import dev.tcpinspect.probe.packets.PacketsProbe;
import dev.tcpinspect.probe.reset.ResetProbe;
import dev.tcpinspect.probe.retrans.RetransProbe;
import dev.tcpinspect.probe.rtt.RttProbe;
import dev.tcpinspect.probe.listener.ListenerProbe;
import dev.tcpinspect.probe.upstream.UpstreamProbe;
import dev.tcpinspect.probe.zerowin.ZeroWindowProbe;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.function.Supplier;

/**
 * Every probe tcpinspect has, in the order outputs show them. Adding a probe is its header in
 * bpf/probes/, its package under probe/, and one line here; the command line, doctor, the watch
 * session and every output find it through this list.
 */
public final class ProbeRegistry {
    private static final List<Supplier<Probe>> PROBES = List.of(
            PacketsProbe::new,
            ConnProbe::new,
            HandshakeProbe::new,
            RetransProbe::new,
            ResetProbe::new,
            DropsProbe::new,
            ZeroWindowProbe::new,
            RttProbe::new,
            DupAckProbe::new,
            AnomalyProbe::new,
            ScanProbe::new,
            FloodProbe::new,
            CyclingProbe::new,
            UpstreamProbe::new,
            ListenerProbe::new);

    private ProbeRegistry() {}

    /** Fresh instances of every probe (a probe instance belongs to one set). */
    public static List<Probe> all() {
        return PROBES.stream().map(Supplier::get).toList();
    }

    /** Every probe's name, in order. */
    public static List<String> names() {
        return all().stream().map(Probe::name).toList();
    }

    /** Fresh instances of the named probes, in the registry's order; an unknown name is refused. */
    public static List<Probe> create(Collection<String> names) {
        for (String name : names) {
            if (!names().contains(name)) {
                throw new IllegalArgumentException("no probe named '" + name + "'; the probes are " + names());
            }
        }
        List<Probe> chosen = new ArrayList<>();
        for (Probe p : all()) {
            if (names.contains(p.name())) {
                chosen.add(p);
            }
        }
        return chosen;
    }
}
