package dev.tcpinspect.probe.conn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.probe.ProbeSet;
import dev.tcpinspect.probe.TcpStates;
import dev.tcpinspect.testing.Capture;
import dev.tcpinspect.testing.RequiresBpf;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/**
 * Lifecycle of connections the test makes itself, so the expected opens, closes, ends and byte
 * counts are known; the reset ends are also checked against tcpdump.
 */
@RequiresBpf
class ConnProbeTest {
    record Close(String family, ConnEvent.Open open, ConnEvent.End end, long in, long out, long durationNanos) {}

    record Change(int oldState, int newState, int pid) {}

    @Test
    void opensClosesEndsAndBytesOfKnownConnections() throws Exception {
        try (Lab lab = Lab.create();
             var echo4 = Traffic.listen(lab.server(), Lab.SERVER_V4, 8080);
             var echo6 = Traffic.listen(lab.server(), Lab.SERVER_V6, 8080);
             var resetting4 = Traffic.listenResetting(lab.server(), Lab.SERVER_V4, 8082);
             var resetting6 = Traffic.listenResetting(lab.server(), Lab.SERVER_V6, 8082);
             var peer4 = Traffic.listen(lab.client(), Lab.CLIENT_V4, 8080);
             var peer6 = Traffic.listen(lab.client(), Lab.CLIENT_V6, 8080);
             Capture out = Capture.outgoing(lab.serverNs(), lab.serverIf());
             Capture in = Capture.incoming(lab.serverNs(), lab.serverIf());
             ProbeSet set = lab.server().call(() -> ProbeSet.start(List.of(new ConnProbe()),
                     ProbeSet.Options.defaults().events(true)))) {
            ConnProbe probe = set.probe(ConnProbe.class);
            List<Close> closes = new CopyOnWriteArrayList<>();
            List<Change> changes = new CopyOnWriteArrayList<>();
            probe.onEvents(e -> {
                changes.add(new Change(e.oldState(), e.newState(), e.pid()));
                if (e.end() != ConnEvent.End.NONE) {
                    closes.add(new Close(e.flow().family(), null, e.end(), e.bytesIn(), e.bytesOut(), e.durationNanos()));
                }
            });
            ConnCounts before = probe.read();
            long start = System.nanoTime();
            for (String[] pair : new String[][] {{Lab.SERVER_V4, Lab.CLIENT_V4}, {Lab.SERVER_V6, Lab.CLIENT_V6}}) {
                assertEquals(5, Traffic.connect(lab.client(), pair[0], 8080, 5));        // passive, FIN
                assertEquals(3, Traffic.connect(lab.server(), pair[1], 8080, 3));        // active, FIN
                assertEquals(2, Traffic.connectAndReset(lab.client(), pair[0], 8080, 2)); // passive, RST received
                for (int i = 0; i < 2; i++) {                                            // passive, RST sent
                    try {
                        Traffic.connect(lab.client(), pair[0], 8082, 1);
                    } catch (IllegalStateException resetByServer) {
                        // expected: the server aborts
                    }
                }
            }
            long elapsed = System.nanoTime() - start;
            Thread.sleep(500);
            ConnCounts counted = probe.read().minus(before);
            assertEquals(2 * (5 + 2 + 2), counted.openedPassive(), counted.toString());
            assertEquals(2 * 3, counted.openedActive(), counted.toString());
            assertEquals(2 * 12, counted.closed(), counted.toString());
            assertEquals(2 * 4, counted.reset(), counted.toString());
            assertEquals(0, counted.timeout());

            assertEquals(24, closes.size());
            for (String family : List.of("ipv4", "ipv6")) {
                List<Close> f = closes.stream().filter(c -> c.family().equals(family)).toList();
                // Bytes are the kernel's sequence-space counters (bytes_received, bytes_acked), as tcplife
                // reports them: the payload, plus one for a FIN, plus one for the SYN of an active open.
                // Echo in: the client sent "hello\n" (6 bytes) and a FIN, and got "bye\n" (4) and our FIN.
                assertEquals(5, f.stream().filter(c -> c.end() == ConnEvent.End.FIN && c.in() == 6 + 1 && c.out() == 4 + 1)
                        .count(), f.toString());
                // Echo out: we sent SYN, "hello\n", FIN; got "bye\n" and a FIN.
                assertEquals(3, f.stream().filter(c -> c.end() == ConnEvent.End.FIN && c.in() == 4 + 1
                        && c.out() == 1 + 6 + 1).count(), f.toString());
                assertEquals(2, f.stream().filter(c -> c.end() == ConnEvent.End.RST_RECEIVED && c.in() == 6).count(),
                        f.toString());
                assertEquals(2, f.stream().filter(c -> c.end() == ConnEvent.End.RST_SENT).count(), f.toString());
            }
            assertTrue(closes.stream().allMatch(c -> c.durationNanos() > 0 && c.durationNanos() < elapsed + 500_000_000L));
            // Connections a reset ended, seen on the wire: distinct TCP streams with a RST each way (a
            // stray second RST on a connection already reset belongs to the same stream).
            assertEquals(out.streams(Capture.RST), closes.stream().filter(c -> c.end() == ConnEvent.End.RST_SENT).count());
            assertEquals(in.streams(Capture.RST), closes.stream().filter(c -> c.end() == ConnEvent.End.RST_RECEIVED).count());

            // connect() runs in this JVM: its SYN_SENT change carries our pid; softirq changes carry none.
            long me = ProcessHandle.current().pid();
            List<Change> synSent = changes.stream().filter(c -> c.newState() == 2).toList();
            assertEquals(6, synSent.size());
            assertTrue(synSent.stream().allMatch(c -> c.pid() == me), synSent.toString());
            assertTrue(changes.stream().filter(c -> c.oldState() == 3 && c.newState() == 1).allMatch(c -> c.pid() == 0),
                    "passive opens complete in softirq: no pid");
            assertEquals("SYN_SENT", TcpStates.name(synSent.getFirst().newState()));
        }
    }

    /** The table view loads probes without events: the same counts, and not one record made. */
    @Test
    void withoutEventsCountsTheSameAndMakesNoRecords() throws Exception {
        try (Lab lab = Lab.create();
             var echo4 = Traffic.listen(lab.server(), Lab.SERVER_V4, 8080);
             var echo6 = Traffic.listen(lab.server(), Lab.SERVER_V6, 8080);
             Capture in = Capture.incoming(lab.serverNs(), lab.serverIf());
             ProbeSet set = lab.server().call(() -> ProbeSet.start(List.of(new ConnProbe()), ProbeSet.Options.defaults()))) {
            ConnProbe probe = set.probe(ConnProbe.class);
            java.util.concurrent.atomic.AtomicLong records = new java.util.concurrent.atomic.AtomicLong();
            probe.onEvents(e -> records.incrementAndGet());
            ConnCounts before = probe.read();
            assertEquals(6, Traffic.connect(lab.client(), Lab.SERVER_V4, 8080, 6));
            assertEquals(4, Traffic.connect(lab.client(), Lab.SERVER_V6, 8080, 4));
            Thread.sleep(500);
            ConnCounts counted = probe.read().minus(before);
            assertEquals(in.streams(Capture.SYN), counted.openedPassive(), counted.toString());
            assertEquals(10, counted.closed(), counted.toString());
            assertEquals(0, counted.eventsLost(), "no record was even tried");
            assertEquals(0, records.get());
        }
    }
}
