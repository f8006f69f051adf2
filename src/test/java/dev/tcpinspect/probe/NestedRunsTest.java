package dev.tcpinspect.probe;

import org.junit.jupiter.api.parallel.Isolated;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.probe.conn.ConnCounts;
import dev.tcpinspect.probe.conn.ConnProbe;
import dev.tcpinspect.probe.handshake.HandshakeProbe;
import dev.tcpinspect.probe.handshake.HandshakeStats;
import dev.tcpinspect.testing.RequiresBpf;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * Under connection churn the kernel skips state-change runs that interrupt the same program's run
 * on a CPU (bpf/lib/twin.h). With twins nothing is lost and nothing is counted twice unasked: the
 * connections the probes count equal those the test's clients made (their own count of completed
 * connect() calls), and every run the kernel skipped of the first copy was made by the second;
 * a firing handled by both copies is one twin.h leaves to chance and counts (a stale or pushed-out
 * claim), and a count may exceed what was made by those alone.
 */
@RequiresBpf
// Alone, after the rest (RunsBeside explains the two lanes): it needs the kernel to skip a run on a CPU, which a busy machine makes less likely.
@Isolated
class NestedRunsTest {
    /**
     * Connection churn as a health checker or a busy local proxy makes it: connect and close at
     * once, accept and close at once, from two processes (python3, as real clients would be, not the
     * JVM). Prints how many connections were made. Under it the kernel skips state-change runs
     * (~1 in 2,000 here); the JVM's own clients, slower, rarely trigger one.
     */
    private static final String CHURN = """
            import os, socket, sys, threading, time
            srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1024)
            def serve():
                while True:
                    c, _ = srv.accept(); c.close()
            threading.Thread(target=serve, daemon=True).start()
            end = time.time() + float(sys.argv[1])
            made = 0
            while time.time() < end:
                s = socket.socket(); s.connect(srv.getsockname()); s.close(); made += 1
            print(made)
            """;

    /** Runs `processes` churners in the namespace for `seconds`; the connections they made. */
    private static long churn(String netns, int processes, int seconds) throws Exception {
        List<Process> running = new ArrayList<>();
        for (int i = 0; i < processes; i++) {
            running.add(new ProcessBuilder("ip", "netns", "exec", netns, "python3", "-c", CHURN, Integer.toString(seconds))
                    .redirectError(ProcessBuilder.Redirect.INHERIT).start());
        }
        long made = 0;
        for (Process p : running) {
            String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.US_ASCII).trim();
            assertEquals(0, p.waitFor(), "python3 churn failed: " + out);
            made += Long.parseLong(out);
        }
        return made;
    }

    /** A count equal to what was made, or above it by at most the firings the twins handled twice. */
    private static void assertWithin(long made, long counted, long twice, String context) {
        assertTrue(counted >= made && counted <= made + twice, "counted " + counted + " of " + made + " made"
                + (twice > 0 ? " (" + twice + " handled twice)" : "") + ": " + context);
    }

    @Test
    void churnLosesNoConnectionAndCountsNoneTwice() throws Exception {
        try (Lab lab = Lab.create();
             var served4 = Traffic.listen(lab.server(), Lab.SERVER_V4, 8080);
             var served6 = Traffic.listen(lab.server(), Lab.SERVER_V6, 8080);
             ProbeSet set = lab.server().call(() -> ProbeSet.start(List.of(new ConnProbe(), new HandshakeProbe()),
                     ProbeSet.Options.defaults().interfaces(List.of(lab.serverIf(), "lo"))))) {
            ConnProbe conn = set.probe(ConnProbe.class);
            HandshakeProbe handshake = set.probe(HandshakeProbe.class);
            ProbeSet.TwinRuns twins = conn.twinRuns();
            String context = "";
            // Rounds until the kernel has skipped a run of the first copy at least once (a nesting that
            // depends on what else the CPUs do), each round's counts checked in full: at most three.
            for (int round = 1; round <= 3 && twins.firstSkipped() == 0; round++) {
                ConnCounts connBefore = conn.read();
                HandshakeStats hsBefore = handshake.read();
                ProbeSet.TwinRuns twinsBefore = conn.twinRuns();

                // Churn on the server's loopback (made and accepted there) beside connections over the veth.
                AtomicLong fromClient = new AtomicLong();
                Thread remote = Thread.ofPlatform().start(() -> {
                    fromClient.addAndGet(Traffic.connect(lab.client(), Lab.SERVER_V4, 8080, 400));
                    fromClient.addAndGet(Traffic.connect(lab.client(), Lab.SERVER_V6, 8080, 400));
                });
                long local4 = churn(lab.serverNs(), 3, 3);
                remote.join();
                Thread.sleep(300);

                ConnCounts c = conn.read().minus(connBefore);
                HandshakeStats h = handshake.read().minus(hsBefore);
                // conn and handshake share one state-change handler and its twin (tcpinspect.bpf.c).
                twins = conn.twinRuns();
                context = "round " + round + ": made " + local4 + " on loopback, " + fromClient.get()
                        + " from the client; " + c + "; " + h + "; " + twins;
                System.out.println("NestedRunsTest: " + context);

                // Every run of the first copy the kernel skipped is made up for by the second (nothing
                // lost). A firing the second copy handles although the first did (twin.h's "left to
                // chance": a claim found stale, a vCPU stolen between the copies for longer than a
                // claim is good for, or one pushed out of a full stack) is a rescue the kernel's count
                // of skipped runs does not explain, and twin.h counts each such claim: these extra
                // rescues, and no more, may count a connection twice. One CI run had one (stale=1).
                long skipped = twins.firstSkipped() - twinsBefore.firstSkipped();
                long rescued = twins.rescued() - twinsBefore.rescued();
                long twice = rescued - skipped;
                long explained = (twins.stale() - twinsBefore.stale()) + (twins.pushedOut() - twinsBefore.pushedOut());
                assertTrue(twice >= 0, "runs skipped and not made up for: " + context);
                assertTrue(twice <= explained, "firings handled twice that no stale or pushed-out claim explains: " + context);
                // And users are shown them: each connection counted twice is in runs_twice.
                assertTrue(c.openedActive() - local4 <= set.runsTwice("conn"), "over-counted but not shown: " + context);

                assertEquals(800, fromClient.get(), context);
                assertWithin(local4 + fromClient.get(), c.openedPassive(), twice, context);
                assertWithin(local4, c.openedActive(), twice, context);
                // A passive handshake's end handled twice finds its SYN's record gone the second time
                // (the first forgot it) and counts as unmatched instead of twice; one lost to chance
                // (twin.h) is missing from both. So timed and unmatched ones together are what conn
                // counts (one CI run: a loss and a firing handled twice, 109,585 timed and 1 unmatched
                // of 109,586, conn exact), and only the handled-twice rescues may be unmatched, and
                // the SYNs whose record another CPU's new flow took at the same instant, which the
                // ingress table counts (syns_raced: it claims a way with a compare-and-swap; before it
                // did, one CI run had 1 unmatched of 113,279, nothing handled twice, conn exact).
                long made = local4 + fromClient.get();
                assertWithin(made, h.passive().count() + h.passiveUnmatched(), twice, context);
                assertTrue(h.passiveUnmatched() <= explained + h.synsRaced(), "unmatched handshakes that"
                        + " no stale or pushed-out claim and no counted race explains: " + context);
                assertWithin(local4, h.active().count(), twice, context);
            }

            assertTrue(twins.firstSkipped() > 0, "no run was skipped, so the twins were not exercised: " + context);
            assertEquals(0, set.runsSkipped("conn"), context);
            assertEquals(0, set.runsSkipped("handshake"), context);
        }
    }
}
