package dev.tcpinspect.probe.cycling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.probe.ProbeSet;
import dev.tcpinspect.snapshot.Alert;
import dev.tcpinspect.snapshot.Metric;
import dev.tcpinspect.testing.RequiresBpf;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * A client that resets each connection it opens (IPv4) and one that opens and closes connections
 * that carry nothing (IPv6), each over 20 a second: one alert each naming it, with counts that
 * match what the client did; a client that uses each connection it opens, HTTP/1.0 style, at full
 * speed: none.
 */
@RequiresBpf
class CyclingProbeTest {
    static final int PORT = 9900;
    static final int SILENT_PORT = 9901;

    @Test
    void resettingAndEmptyConnectionsRaiseOneAlertEachButUsedOnesNone() throws Exception {
        try (Lab lab = Lab.create();
             var served4 = Traffic.listen(lab.server(), Lab.SERVER_V4, PORT);
             var served6 = Traffic.listen(lab.server(), Lab.SERVER_V6, PORT);
             ServerSocket silent = lab.server().call(() -> acceptAndClose(Lab.SERVER_V6, SILENT_PORT));
             ProbeSet set = lab.server().call(() -> ProbeSet.start(List.of(new CyclingProbe()),
                     ProbeSet.Options.defaults()))) {
            List<Alert> alerts = new CopyOnWriteArrayList<>();
            set.onAlerts(alerts::add);

            // Used connections, as fast as the client goes: no alert.
            AtomicLong used = new AtomicLong();
            runDraining(set, () -> used.set(Traffic.connect(lab.client(), Lab.SERVER_V4, PORT, 1500)));
            assertEquals(1500, used.get());
            assertEquals(List.of(), alerts, "a client using each connection is not cycling");

            // Connections reset right after their first bytes.
            AtomicLong reset = new AtomicLong();
            runDraining(set, () -> reset.set(Traffic.connectAndReset(lab.client(), Lab.SERVER_V4, PORT, 300)));
            // Connections that carry nothing either way.
            AtomicLong empty = new AtomicLong();
            runDraining(set, () -> empty.set(connectAndClose(lab, Lab.SERVER_V6, SILENT_PORT, 400)));

            List<Alert> v4 = alerts.stream().filter(a -> a.source().equals(Lab.CLIENT_V4)).toList();
            List<Alert> v6 = alerts.stream().filter(a -> a.source().equals(Lab.CLIENT_V6)).toList();
            assertEquals(List.of(Alert.State.START, Alert.State.END), v4.stream().map(Alert::state).toList(), alerts.toString());
            assertEquals(List.of(Alert.State.START, Alert.State.END), v6.stream().map(Alert::state).toList(), alerts.toString());
            assertEquals(4, alerts.size(), "a start and an end each, nothing else: " + alerts);
            // The ends' totals: each reset connection ended aborted with one reset; each empty one empty.
            Alert end4 = v4.getLast();
            assertEquals(reset.get(), count(end4, "aborted"), end4.toString());
            assertEquals(reset.get(), count(end4, "resets"), end4.toString());
            assertEquals(0, count(end4, "empty"), end4.toString());
            Alert end6 = v6.getLast();
            assertEquals(empty.get(), count(end6, "empty"), end6.toString());
            assertEquals(0, count(end6, "aborted") + count(end6, "resets"), end6.toString());
            assertEquals(2, ((Metric.Counter) set.read(false).metric("alerts.cycling")).value());
            silent.close();
        }
    }

    /** Runs the traffic on another thread while draining every second, as a watch does, then 5 s more. */
    private static void runDraining(ProbeSet set, Runnable traffic) throws Exception {
        Thread t = Thread.ofPlatform().start(traffic);
        while (t.isAlive()) {
            t.join(1000);
            set.drain();
        }
        for (int i = 0; i < 5; i++) {
            Thread.sleep(1000);
            set.drain();
        }
    }

    /** A server that closes every connection it accepts without a byte either way. */
    private static ServerSocket acceptAndClose(String address, int port) throws Exception {
        ServerSocket server = new ServerSocket();
        server.bind(new InetSocketAddress(InetAddress.getByName(address), port), 512);
        Thread.ofPlatform().daemon(true).start(() -> {
            while (!server.isClosed()) {
                try (Socket s = server.accept()) {
                    s.getInputStream().read(); // the client's FIN, then close: no data either way
                } catch (java.io.IOException e) {
                    // closed: the test is over
                }
            }
        });
        return server;
    }

    /** Opens and closes connections that carry nothing; how many. */
    private static long connectAndClose(Lab lab, String address, int port, int count) {
        return lab.client().call(() -> {
            long done = 0;
            for (int i = 0; i < count; i++) {
                try (Socket s = new Socket()) {
                    s.connect(new InetSocketAddress(InetAddress.getByName(address), port), 2000);
                    s.shutdownOutput();
                    s.getInputStream().read(); // the server's FIN
                    done++;
                }
            }
            return done;
        });
    }

    private static long count(Alert a, String name) {
        return a.fields().stream().filter(c -> c instanceof Metric.Cell.Count n && n.name().equals(name))
                .mapToLong(c -> ((Metric.Cell.Count) c).value()).findFirst().orElse(-1);
    }
}
