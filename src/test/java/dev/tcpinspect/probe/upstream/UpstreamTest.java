package dev.tcpinspect.probe.upstream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.snapshot.LogLinearHistogram;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Upstream specs as users write them, and the health rules, without a kernel. */
class UpstreamTest {
    @Test
    void targetsAsWritten() {
        assertEquals("[198.18.8.0/24:8443]", Upstream.parse("pool-a=198.18.8.0/24:8443").targets().toString());
        assertEquals("[198.18.8.1:443, [2001:db8::/48]:443, 10.0.0.1]",
                Upstream.parse("mix=198.18.8.1:443,[2001:db8::1/48]:443,10.0.0.1").targets().toString());
        assertEquals("[2001:db8::7]", Upstream.parse("six=2001:db8::7").targets().toString());
        assertEquals("[[::1]:8080]", Upstream.parse("lo6=[::1]:8080").targets().toString());
        Upstream local = Upstream.parse("local=localhost:80");
        assertTrue(local.targets().stream().allMatch(t -> t.port() == 80) && !local.targets().isEmpty(),
                local.toString());
        assertEquals(8, Upstream.parse("n=10.1.2.3/8").targets().getFirst().prefixLength());
        assertEquals("[10.0.0.0/8]", Upstream.parse("n=10.1.2.3/8").targets().toString(), "host bits cleared");
    }

    @Test
    void badSpecsSayWhatIsWrong() {
        for (var bad : List.of(
                List.of("noequals", "is not NAME=TARGET"),
                List.of("=1.2.3.4:80", "must be 1 to 32 letters"),
                List.of("a b=1.2.3.4:80", "must be 1 to 32 letters"),
                List.of("x=", "has no target"),
                List.of("x=1.2.3.4:0", "port '0' must be 1 to 65535"),
                List.of("x=1.2.3.4:http", "port 'http' must be 1 to 65535"),
                List.of("x=10.0.0.0/33:80", "prefix length in '10.0.0.0/33' must be 0 to 32"),
                List.of("x=[2001:db8::1:443", "no closing ']'"),
                List.of("x=no-such-host.invalid:443", "cannot resolve 'no-such-host.invalid'"))) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Upstream.parse(bad.get(0)));
            assertTrue(e.getMessage().contains(bad.get(1)), bad.get(0) + ": " + e.getMessage());
        }
        UpstreamProbe probe = new UpstreamProbe();
        probe.set("add", "a=1.2.3.4:80");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> probe.set("add", "a=1.2.3.5:80")).getMessage()
                .contains("named twice"));
        for (int i = 1; i < UpstreamProbe.MAX_UPSTREAMS; i++) {
            probe.set("add", "u" + i + "=1.2.3." + i + ":80");
        }
        assertTrue(assertThrows(IllegalArgumentException.class, () -> probe.set("add", "one-more=1.2.3.4:81"))
                .getMessage().contains("at most 16 upstreams"));
    }

    private static UpstreamHealth.Sample sample(long seconds, long refused, long inARow, long sent, long again) {
        return new UpstreamHealth.Sample(seconds * 1_000_000_000L, refused, 0, 0, 0, 0, inARow, sent, again,
                new LogLinearHistogram(), 0, 0);
    }

    private static UpstreamHealth.Sample handshakes(long seconds, LogLinearHistogram h) {
        LogLinearHistogram copy = new LogLinearHistogram();
        copy.add(h);
        return new UpstreamHealth.Sample(seconds * 1_000_000_000L, 0, 0, 0, 0, 0, 0, 0, 0, copy, 0, 0);
    }

    @Test
    void handshakesMuchSlowerThanTheUpstreamsOwnBeforeDegradeIt() {
        UpstreamHealth.Rules rules = UpstreamHealth.Rules.defaults();
        UpstreamHealth h = new UpstreamHealth();
        LogLinearHistogram all = new LogLinearHistogram();
        for (int i = 0; i < 60; i++) {
            all.record(20_000); // 20 ms: the upstream's usual
        }
        assertEquals(UpstreamHealth.State.HEALTHY, h.judge(handshakes(0, all), rules).state());
        for (int i = 0; i < 19; i++) {
            all.record(90_000);
        }
        assertEquals(UpstreamHealth.State.HEALTHY, h.judge(handshakes(1, all), rules).state(), "19: too few to judge");
        all.record(90_000);
        UpstreamHealth.Verdict slow = h.judge(handshakes(2, all), rules);
        assertEquals(UpstreamHealth.State.DEGRADED, slow.state());
        // percentiles are read as the middle of their bucket (within 3.2%): 90 ms reads 88.1
        assertEquals(List.of("handshake p99 88.1 ms (last 10 s), 4x its p99 of 20.0 ms before"), slow.reasons());
        // twice as slow is not three times; 1 ms against 0.1 ms is three times but within a LAN's 5 ms
        UpstreamHealth g = new UpstreamHealth();
        LogLinearHistogram twice = new LogLinearHistogram();
        LogLinearHistogram lan = new LogLinearHistogram();
        for (int i = 0; i < 60; i++) {
            twice.record(20_000);
            lan.record(100);
        }
        g.judge(handshakes(0, twice), rules);
        UpstreamHealth l = new UpstreamHealth();
        l.judge(handshakes(0, lan), rules);
        for (int i = 0; i < 30; i++) {
            twice.record(40_000);
            lan.record(1_000);
        }
        assertEquals(UpstreamHealth.State.HEALTHY, g.judge(handshakes(1, twice), rules).state());
        assertEquals(UpstreamHealth.State.HEALTHY, l.judge(handshakes(1, lan), rules).state());
    }

    @Test
    void healthRules() {
        UpstreamHealth.Rules rules = UpstreamHealth.Rules.defaults();
        UpstreamHealth h = new UpstreamHealth();
        assertEquals(UpstreamHealth.State.HEALTHY, h.judge(sample(0, 0, 0, 0, 0), rules).state());
        assertEquals(UpstreamHealth.State.HEALTHY, h.judge(sample(1, 4, 4, 0, 0), rules).state(), "4 in a row: not yet");
        UpstreamHealth.Verdict five = h.judge(sample(2, 5, 5, 0, 0), rules);
        assertEquals(UpstreamHealth.State.UNHEALTHY, five.state());
        assertEquals(List.of("5 connects in a row failed (last 2 s: refused 5)"), five.reasons());
        assertEquals(UpstreamHealth.State.HEALTHY, h.judge(sample(3, 5, 0, 0, 0), rules).state(), "a success clears it");
        // 1% of the segments of the window retransmitted degrade it; fewer than 100 segments are not judged
        assertEquals(UpstreamHealth.State.HEALTHY, h.judge(sample(4, 5, 0, 99, 1), rules).state());
        UpstreamHealth.Verdict lossy = h.judge(sample(5, 5, 0, 1000, 10), rules);
        assertEquals(UpstreamHealth.State.DEGRADED, lossy.state());
        assertEquals(List.of("1.0% of segments retransmitted (10 of 1000, last 10 s)"), lossy.reasons());
        // the window moves on: 10 s later, with nothing retransmitted since, it is healthy again
        assertEquals(UpstreamHealth.State.DEGRADED, h.judge(sample(14, 5, 0, 1100, 20), rules).state());
        assertEquals(UpstreamHealth.State.HEALTHY, h.judge(sample(16, 5, 0, 1300, 20), rules).state());
    }

    /**
     * When data is expected, from the figures the packet hooks keep (struct upstream_stream): an
     * unanswered request (our data last), or a stream (3 arrivals after pauses, small on average);
     * never after the upstream's FIN.
     */
    @Test
    void dataIsExpectedAfterARequestAndDuringAStreamButNotAfterAFin() {
        assertEquals(0, StreamStalls.expectedSince(0, 0, 0, 0, false), "a connection nothing moved on yet");
        assertEquals(500, StreamStalls.expectedSince(0, 500, 0, 0, false), "a request, no answer yet");
        assertEquals(900, StreamStalls.expectedSince(800, 900, 0, 0, false), "a second request after the first's answer");
        assertEquals(800, StreamStalls.expectedSince(800, 800, 0, 0, false),
                "a request sent in the clock tick its predecessor's answer arrived in");
        assertEquals(0, StreamStalls.expectedSince(900, 800, 1, 300, false), "one answer, in one go: nothing more expected");
        assertEquals(0, StreamStalls.expectedSince(900, 800, 2, 600, false), "an answer in two parts is no stream yet");
        assertEquals(900, StreamStalls.expectedSince(900, 800, 3, 900, false), "a stream's third event: more expected");
        assertEquals(0, StreamStalls.expectedSince(900, 800, 3, 45_000, false),
                "a 45 KB answer in three flights of a congestion window is no stream");
        assertEquals(900, StreamStalls.expectedSince(900, 800, 30, 45_000, false), "thirty events of 1.5 KB are");
        assertEquals(0, StreamStalls.expectedSince(900, 800, 30, 900, true), "the upstream's FIN ends every expectation");
        assertEquals(0, StreamStalls.expectedSince(0, 500, 0, 0, true));
        assertEquals(-5, StreamStalls.expectedSince(-7, -5, 0, 0, false), "the clock in ms wraps at 2^32");
    }

    @Test
    void aWaitingConnectionStallsAtTheStallTimeAndCountsOncePerStall() {
        StreamStalls s = new StreamStalls(2);
        long stall = 10_000;
        s.start();
        s.connection(0, 1L, 0, 1_000, 0, 0, false, 5_000, stall); // a request 4 s old
        s.connection(1, 2L, 1_000, 0, 5, 500, false, 5_000, stall); // a stream quiet for 4 s
        s.connection(1, 3L, 1_000, 0, 1, 100, false, 5_000, stall); // an answer, then idle: not waiting
        assertEquals(0, s.stalled(0));
        assertEquals(0, s.stalled(1));
        s.start();
        s.connection(0, 1L, 0, 1_000, 0, 0, false, 11_000, stall);
        s.connection(1, 2L, 1_000, 0, 5, 500, false, 11_000, stall);
        s.connection(1, 3L, 1_000, 0, 1, 100, false, 11_000, stall);
        assertEquals(1, s.stalled(0));
        assertEquals(10_000, s.longestMs(0));
        assertEquals(1, s.stalled(1));
        s.start();
        s.connection(0, 1L, 0, 1_000, 0, 0, false, 12_000, stall);
        s.connection(1, 2L, 11_500, 0, 6, 600, false, 12_000, stall); // its stream resumed
        assertEquals(1, s.stalled(0));
        assertEquals(11_000, s.longestMs(0));
        assertEquals(0, s.stalled(1));
        assertEquals(1, s.begun(0), "one stall, read twice");
        s.start();
        s.connection(1, 2L, 11_500, 0, 6, 600, false, 21_500, stall); // and stopped again
        assertEquals(1, s.stalled(1));
        assertEquals(2, s.begun(1), "a second stall of the same connection");
        assertEquals(0, s.stalled(0), "a connection gone (ended) is stalled no more");
        // a quiet time of the clock's wrap: a request sent just before it, read just after
        s.start();
        s.connection(0, 4L, 0, -3_000, 0, 0, false, 8_000, stall);
        assertEquals(1, s.stalled(0));
        assertEquals(11_000, s.longestMs(0));
    }

    @Test
    void aStalledStreamDegradesItsUpstreamWithTheReason() {
        UpstreamHealth.Rules rules = UpstreamHealth.Rules.defaults();
        UpstreamHealth h = new UpstreamHealth();
        LogLinearHistogram none = new LogLinearHistogram();
        assertEquals(UpstreamHealth.State.HEALTHY, h.judge(new UpstreamHealth.Sample(0, 0, 0, 0, 0, 0, 0, 0, 0, none, 0,
                0), rules).state());
        UpstreamHealth.Verdict stalled = h.judge(new UpstreamHealth.Sample(1_000_000_000L, 0, 0, 0, 0, 0, 0, 0, 0, none,
                2, 12_400), rules);
        assertEquals(UpstreamHealth.State.DEGRADED, stalled.state());
        assertEquals(List.of("2 streams stalled: they received nothing for 10 s or more while data was expected"
                + " (longest 12 s)"), stalled.reasons());
        assertEquals(UpstreamHealth.State.HEALTHY, h.judge(new UpstreamHealth.Sample(2_000_000_000L, 0, 0, 0, 0, 0, 0, 0, 0,
                none, 0, 0), rules).state(), "data moved again");
    }
}
