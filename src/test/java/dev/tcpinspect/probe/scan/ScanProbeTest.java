package dev.tcpinspect.probe.scan;

import org.junit.jupiter.api.parallel.Isolated;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.probe.ProbeSet;
import dev.tcpinspect.snapshot.Alert;
import dev.tcpinspect.snapshot.Metric;
import dev.tcpinspect.testing.Capture;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.RequiresBpf;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/**
 * nmap's six scan styles against the lab's server, over IPv4 and IPv6, with a few ports open: one
 * alert per scan, naming the client and the style, raised within a second of the moment a capture
 * shows the threshold crossed; and none for a client using ten services and many connections.
 */
@RequiresBpf
// Alone, after the rest (RunsBeside explains the two lanes): its alerts must come within a second of the threshold.
@Isolated
class ScanProbeTest {
    static final int[] OPEN = {9501, 9502, 9503};
    static final Duration QUIET = Duration.ofSeconds(1);

    record Style(String nmapFlag, String expected) {}

    static final List<Style> STYLES = List.of(new Style("-sS", "syn"), new Style("-sT", "connect"),
            new Style("-sF", "fin"), new Style("-sN", "null"), new Style("-sX", "xmas"), new Style("-sA", "ack"));

    @Test
    void eachNmapStyleOverEachFamilyRaisesOneAlertNamingTheClientAndTheStyleWithinASecond() throws Exception {
        List<AutoCloseable> listeners = new ArrayList<>();
        try (Lab lab = Lab.create()) {
            for (int port : OPEN) {
                listeners.add(Traffic.listen(lab.server(), Lab.SERVER_V4, port));
                listeners.add(Traffic.listen(lab.server(), Lab.SERVER_V6, port));
            }
            try (Capture in = Capture.incoming(lab.serverNs(), lab.serverIf());
                 ProbeSet set = lab.server().call(() -> ProbeSet.start(
                         List.of(new ScanProbe(ScanProbe.Settings.defaults().quiet(QUIET))),
                         ProbeSet.Options.defaults().interfaces(List.of(lab.serverIf()))))) {
                List<Alert> alerts = new CopyOnWriteArrayList<>();
                set.onAlerts(alerts::add);
                List<String> problems = new ArrayList<>();
                record Run(Style style, String client, Instant before, Alert start, Alert end, String what) {}
                List<Run> runs = new ArrayList<>();
                for (String[] family : new String[][] {{"-4", Lab.SERVER_V4, Lab.CLIENT_V4}, {"-6", Lab.SERVER_V6,
                        Lab.CLIENT_V6}}) {
                    for (Style style : STYLES) {
                        alerts.clear();
                        Instant before = Instant.now();
                        List<String> nmap = new ArrayList<>(List.of("ip", "netns", "exec", lab.clientNs(), "nmap",
                                style.nmapFlag(), "-n", "-Pn", "-p", "9400-9559", "--max-retries", "0"));
                        if (family[0].equals("-6")) {
                            nmap.add("-6");
                        }
                        nmap.add(family[1]);
                        Cmd.run(nmap, 120).ok();
                        // Wait for the episode's end (the source quiet for QUIET), draining as a watch does.
                        long deadline = System.nanoTime() + 10_000_000_000L;
                        while (alerts.stream().noneMatch(a -> a.state() == Alert.State.END) && System.nanoTime() < deadline) {
                            set.drain();
                            Thread.sleep(200);
                        }
                        List<Alert> starts = alerts.stream().filter(a -> a.state() == Alert.State.START).toList();
                        String what = style.nmapFlag() + " " + family[0] + ": " + alerts;
                        if (starts.size() != 1 || alerts.stream().noneMatch(a -> a.state() == Alert.State.END)) {
                            problems.add("one start and an end for " + what);
                            continue;
                        }
                        Alert start = starts.getFirst();
                        Alert end = alerts.stream().filter(a -> a.state() == Alert.State.END).findFirst().orElseThrow();
                        // A connect scan is a SYN scan until one of its handshakes completes: the start may
                        // come before nmap reaches an open port, and says so (no handshake yet).
                        boolean provisional = style.expected().equals("connect") && field(start, "style").equals("syn")
                                && count(start, "handshakes") == 0;
                        if (!start.source().equals(family[2]) || !end.source().equals(family[2])
                                || !(field(start, "style").equals(style.expected()) || provisional)
                                || !field(end, "style").equals(style.expected())) {
                            problems.add("source " + family[2] + " and style " + style.expected() + " for " + what);
                        }
                        runs.add(new Run(style, family[2], before, start, end, what));
                    }
                }
                // The oracle: the capture's time of the probe that made 15 distinct closed ports (every
                // port but the open ones is closed), the lower of the two thresholds.
                in.stop();
                for (Run run : runs) {
                    Instant crossed = crossing(in, run.client(), run.before());
                    // Within 1 s after, and not before (the capture's clock and ours are the same one,
                    // read a little apart: 100 ms of slack).
                    if (crossed == null || Duration.between(crossed, run.start().time()).compareTo(Duration.ofSeconds(1)) > 0
                            || run.start().time().isBefore(crossed.minusMillis(100))) {
                        problems.add("alert within 1 s after the capture's crossing " + crossed + " for " + run.what());
                    }
                    // The end's ports against the distinct ports the capture saw the client probe.
                    long probed = distinctPorts(in, run.client(), run.before());
                    long reported = count(run.end(), "ports");
                    if (Math.abs(reported - probed) > probed / 10) { // linear counting: sd ~5 at 160 in 512 bits
                        problems.add(reported + " ports reported, " + probed + " probed (capture) for " + run.what());
                    }
                }
                assertEquals(List.of(), problems);
                Metric scans = set.read(false).metric("alerts.port_scan");
                assertEquals(12, ((Metric.Counter) scans).value(), "twelve episodes started");
            }
        } finally {
            for (AutoCloseable l : listeners) {
                l.close();
            }
        }
    }

    /** The same detection at XDP (--xdp): one SYN scan, one alert naming the client. */
    @Test
    void atXdpASynScanRaisesOneAlertAsAtTc() throws Exception {
        try (Lab lab = Lab.create();
             var open = Traffic.listen(lab.server(), Lab.SERVER_V4, OPEN[0]);
             ProbeSet set = lab.server().call(() -> ProbeSet.start(
                     List.of(new ScanProbe(ScanProbe.Settings.defaults().quiet(QUIET))),
                     ProbeSet.Options.defaults().interfaces(List.of(lab.serverIf()))
                             .xdp(true, dev.tcpinspect.ebpf.XdpMode.AUTO)))) {
            List<Alert> alerts = new CopyOnWriteArrayList<>();
            set.onAlerts(alerts::add);
            Cmd.run(List.of("ip", "netns", "exec", lab.clientNs(), "nmap", "-sS", "-n", "-Pn", "-p", "9400-9559",
                    "--max-retries", "0", Lab.SERVER_V4), 120).ok();
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (alerts.stream().noneMatch(a -> a.state() == Alert.State.END) && System.nanoTime() < deadline) {
                set.drain();
                Thread.sleep(200);
            }
            List<Alert> starts = alerts.stream().filter(a -> a.state() == Alert.State.START).toList();
            assertEquals(1, starts.size(), alerts.toString());
            assertEquals(Lab.CLIENT_V4, starts.getFirst().source());
            assertEquals("syn", field(starts.getFirst(), "style"));
            assertTrue(alerts.stream().anyMatch(a -> a.state() == Alert.State.END), alerts.toString());
        }
    }

    private static long count(Alert a, String name) {
        return a.fields().stream().filter(c -> c instanceof Metric.Cell.Count n && n.name().equals(name))
                .mapToLong(c -> ((Metric.Cell.Count) c).value()).findFirst().orElse(-1);
    }

    private static String field(Alert a, String name) {
        return a.fields().stream().filter(c -> c instanceof Metric.Cell.Text t && t.name().equals(name))
                .map(c -> ((Metric.Cell.Text) c).value()).findFirst().orElse("");
    }

    /** Distinct destination ports of the scanned range the capture saw the client probe after start. */
    private static long distinctPorts(Capture in, String client, Instant start) {
        String src = (client.contains(":") ? "ipv6.src == " : "ip.src == ") + client;
        TreeSet<Integer> ports = new TreeSet<>();
        for (String row : in.fields(src + " && tcp.dstport >= 9400 && tcp.dstport <= 9559", "frame.time_epoch",
                "tcp.dstport")) {
            String[] f = row.split("\t");
            double epoch = Double.parseDouble(f[0]);
            if (!Instant.ofEpochSecond((long) epoch, (long) ((epoch - Math.floor(epoch)) * 1e9)).isBefore(start)) {
                ports.add(Integer.parseInt(f[1]));
            }
        }
        return ports.size();
    }

    /** When the capture shows the client's probes reaching 15 distinct closed ports after start. */
    private static Instant crossing(Capture in, String client, Instant start) {
        String src = (client.contains(":") ? "ipv6.src == " : "ip.src == ") + client;
        List<String> rows = in.fields(src + " && tcp.dstport >= 9400 && tcp.dstport <= 9559", "frame.time_epoch",
                "tcp.dstport");
        TreeSet<Integer> closed = new TreeSet<>();
        for (String row : rows) {
            String[] f = row.split("\t");
            double epoch = Double.parseDouble(f[0]);
            Instant t = Instant.ofEpochSecond((long) epoch, (long) ((epoch - Math.floor(epoch)) * 1e9));
            int port = Integer.parseInt(f[1]);
            if (t.isBefore(start) || port == OPEN[0] || port == OPEN[1] || port == OPEN[2]) {
                continue;
            }
            closed.add(port);
            if (closed.size() == 15) {
                return t;
            }
        }
        return null;
    }

    @Test
    void aClientUsingTenServicesAndManyConnectionsRaisesNoAlert() throws Exception {
        List<AutoCloseable> listeners = new ArrayList<>();
        try (Lab lab = Lab.create()) {
            for (int port = 9600; port < 9610; port++) {
                listeners.add(Traffic.listen(lab.server(), Lab.SERVER_V4, port));
            }
            try (ProbeSet set = lab.server().call(() -> ProbeSet.start(List.of(new ScanProbe()),
                    ProbeSet.Options.defaults().interfaces(List.of(lab.serverIf()))))) {
                List<Alert> alerts = new CopyOnWriteArrayList<>();
                set.onAlerts(alerts::add);
                for (int round = 0; round < 5; round++) {
                    for (int port = 9600; port < 9610; port++) {
                        Traffic.connect(lab.client(), Lab.SERVER_V4, port, 20);
                    }
                    // A few closed ports, as a misconfigured client would try.
                    Traffic.synToClosedPorts(lab.client(), Lab.SERVER_V4, 9700, 5);
                    set.drain();
                }
                Thread.sleep(300);
                set.drain();
                assertEquals(List.of(), alerts, "ten services, a thousand connections and five closed ports are no scan");
                assertTrue(((Metric.Counter) set.read(false).metric("alerts.port_scan")).value() == 0);
            }
        } finally {
            for (AutoCloseable l : listeners) {
                l.close();
            }
        }
    }
}
