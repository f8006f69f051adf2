package dev.tcpinspect.probe.flood;

import org.junit.jupiter.api.parallel.Isolated;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.probe.ProbeSet;
import dev.tcpinspect.snapshot.Alert;
import dev.tcpinspect.snapshot.Metric;
import dev.tcpinspect.testing.RequiresBpf;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/**
 * hping3 floods a listening port of the lab's server, from random spoofed sources and then from the
 * client's own address: one alert each, within 2 s of the flood's start, classified as the tool was
 * told to send, ended once it stops.
 */
@RequiresBpf
// Alone, after the rest (RunsBeside explains the two lanes): its alerts must come within two seconds of the flood.
@Isolated
class FloodProbeTest {
    static final int SPOOFED_PORT = 9800;
    static final int REAL_PORT = 9801;

    @Test
    void aSpoofedFloodAndAFloodFromOneAddressAreToldApart() throws Exception {
        try (Lab lab = Lab.create();
             var spoofedTarget = Traffic.listen(lab.server(), Lab.SERVER_V4, SPOOFED_PORT);
             var realTarget = Traffic.listen(lab.server(), Lab.SERVER_V4, REAL_PORT);
             ProbeSet set = lab.server().call(() -> ProbeSet.start(List.of(new FloodProbe()),
                     ProbeSet.Options.defaults().interfaces(List.of(lab.serverIf()))))) {
            List<Alert> alerts = new CopyOnWriteArrayList<>();
            set.onAlerts(alerts::add);
            List<String> problems = new ArrayList<>();

            Instant spoofedStart = flood(lab, set, SPOOFED_PORT, true);
            check(problems, alerts, SPOOFED_PORT, spoofedStart, "spoofed", null);
            alerts.clear();
            Instant realStart = flood(lab, set, REAL_PORT, false);
            check(problems, alerts, REAL_PORT, realStart, "real", Lab.CLIENT_V4);
            assertEquals(List.of(), problems);
            assertEquals(2, ((Metric.Counter) set.read(false).metric("alerts.syn_flood")).value());
        }
    }

    // A minute of SYNs from random sources through every detection probe (maps within their bounds,
    // overflow counted, one flood alert and no scan) is FloodSoakCliTest's minute, with every other
    // probe on too.

    /** Floods the port for 4 s, draining every second as a watch does, then drains until the alert ends. */
    private static Instant flood(Lab lab, ProbeSet set, int port, boolean spoofed) throws Exception {
        List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", lab.clientNs(), "timeout", "4", "hping3",
                "-I", lab.clientIf(), "--flood", "-q", "-S", "-p", Integer.toString(port)));
        if (spoofed) {
            command.add("--rand-source");
        }
        command.add(Lab.SERVER_V4);
        set.drain(); // the baseline: what came before the flood is not its
        Instant start = Instant.now();
        Process hping = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .start();
        // The flood starts with its first packets, not with the launch: hping3 in a namespace can take most
        // of a second to start sending on two busy CPUs. The kernel's own count of what the client's interface
        // sent says when (the launched process is in the client's namespace from its setns on).
        long sentBefore = -1;
        for (int i = 0; i < 2500 && hping.isAlive(); i++) {
            long sent = sentPackets(hping.pid(), lab.clientIf());
            if (sentBefore < 0) {
                sentBefore = sent;
            } else if (sent - sentBefore > 100) {
                System.out.println("FloodProbeTest: port " + port + ": the first packets "
                        + Duration.between(start, Instant.now()).toMillis() + " ms after the launch");
                start = Instant.now();
                break;
            }
            Thread.sleep(2);
        }
        while (hping.isAlive()) {
            Thread.sleep(1000);
            set.drain();
        }
        for (int i = 0; i < 6; i++) {
            Thread.sleep(1000);
            set.drain();
        }
        return start;
    }

    /** Packets the interface sent, from /proc/PID/net/dev of a process in its namespace; -1 while it is not there. */
    private static long sentPackets(long pid, String iface) {
        try {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/" + pid + "/net/dev"))) {
                String[] nameAndCounts = line.trim().split(":", 2);
                if (nameAndCounts.length == 2 && nameAndCounts[0].trim().equals(iface)) {
                    return Long.parseLong(nameAndCounts[1].trim().split("\\s+")[9]); // 8 receive fields, bytes, packets
                }
            }
        } catch (java.io.IOException | RuntimeException e) {
            // not there yet, or gone
        }
        return -1;
    }

    private static void check(List<String> problems, List<Alert> alerts, int port, Instant floodStart, String kind,
                              String source) {
        List<Alert> forPort = alerts.stream().filter(a -> count(a, "port") == port).toList();
        forPort.forEach(a -> System.out.println("FloodProbeTest: " + a.state() + " " + a.time() + " " + a.headline()));
        List<Alert> starts = forPort.stream().filter(a -> a.state() == Alert.State.START).toList();
        List<Alert> ends = forPort.stream().filter(a -> a.state() == Alert.State.END).toList();
        if (starts.size() != 1 || ends.size() != 1) {
            problems.add("one start and one end on port " + port + ": " + alerts);
            return;
        }
        Duration toAlert = Duration.between(floodStart, starts.getFirst().time());
        if (toAlert.compareTo(Duration.ofSeconds(2)) > 0) {
            problems.add("alert " + toAlert + " after the flood started on port " + port);
        }
        // Classified within 5 s: the start or a change after it, and the end agrees.
        boolean classified = forPort.stream().anyMatch(a -> text(a, "kind").equals(kind)
                && Duration.between(floodStart, a.time()).compareTo(Duration.ofSeconds(5)) <= 0);
        if (!classified || !text(ends.getFirst(), "kind").equals(kind)) {
            problems.add(kind + " within 5 s on port " + port + ": " + forPort);
        }
        if (source != null && !text(ends.getFirst(), "sources").contains(source)) {
            problems.add("the end names " + source + " on port " + port + ": " + ends);
        }
        assertTrue(count(ends.getFirst(), "syns") > 1000, () -> "a flood is thousands of SYNs: " + ends);
    }

    private static long count(Alert a, String name) {
        return a.fields().stream().filter(c -> c instanceof Metric.Cell.Count n && n.name().equals(name))
                .mapToLong(c -> ((Metric.Cell.Count) c).value()).findFirst().orElse(-1);
    }

    private static String text(Alert a, String name) {
        return a.fields().stream().filter(c -> c instanceof Metric.Cell.Text t && t.name().equals(name))
                .map(c -> ((Metric.Cell.Text) c).value()).findFirst().orElse("");
    }
}
