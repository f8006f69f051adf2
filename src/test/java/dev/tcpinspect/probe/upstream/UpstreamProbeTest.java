package dev.tcpinspect.probe.upstream;

import org.junit.jupiter.api.parallel.Isolated;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.probe.ProbeSet;
import dev.tcpinspect.snapshot.LogLinearHistogram;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.Loss;
import dev.tcpinspect.testing.RequiresBpf;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/**
 * Four upstreams in the lab, as the issue describes them: a healthy one, one losing 5% of the
 * packets sent to it, one whose port is closed, one that silently drops SYNs. A client in the
 * client namespace (the gateway) calls each (Python, src/test/resources/upstream_client.py); the
 * probe watches from there. Oracles: the client's own results and errno values, its own connect
 * times, and the states the issue expects, within 10 s.
 */
@RequiresBpf
// Alone, after the rest (RunsBeside explains the two lanes): it times stalls and their end to the stall timeout.
@Isolated
class UpstreamProbeTest {
    static final int HEALTHY = 9401;
    static final int LOSSY = 9402;
    static final int CLOSED = 9403;
    static final int SILENT = 9404;
    static final int SLOW = 9405;
    static final int BULK = 9406;
    static final int SINK = 9407;
    static final int STOPPING = 9411;
    static final int STEADY = 9412;
    static final int IDLE = 9413;
    static final int UNANSWERED = 9414;

    /**
     * Zero windows both ways, against the kernel's own count of the closures each side advertised
     * (nstat's TCPToZeroWindowAdv), as the issue describes it: a gateway that stops reading a download
     * from one upstream for a while (its receive buffer fills: our zero window), and one uploading to
     * an upstream that stops reading for a while (the upstream's), seen on the gateway's interface.
     * IPv4 for one, IPv6 for the other.
     */
    @Test
    void zeroWindowsEitherWayAreCountedOnTheirUpstreamAsNstatCountsThem() throws Exception {
        try (Lab lab = Lab.create();
             var bulk = Traffic.listenSending(lab.server(), Lab.SERVER_V4, BULK, 1_000_000);
             var sink = Traffic.listenSlowReader(lab.server(), Lab.SERVER_V6, SINK, 1500)) {
            UpstreamProbe probe = new UpstreamProbe();
            probe.set("add", "bulk=" + Lab.SERVER_V4 + ":" + BULK);
            probe.set("add", "sink=[" + Lab.SERVER_V6 + "]:" + SINK);
            try (ProbeSet set = lab.client().call(() -> ProbeSet.start(List.of(probe),
                    ProbeSet.Options.defaults().interfaces(List.of(lab.clientIf()))))) {
                long oursBefore = Cmd.nstat(lab.clientNs(), "TcpExtTCPToZeroWindowAdv");
                long theirsBefore = Cmd.nstat(lab.serverNs(), "TcpExtTCPToZeroWindowAdv");
                long read = lab.client().call(() -> {
                    try (java.net.Socket s = new java.net.Socket()) {
                        s.connect(new java.net.InetSocketAddress(Lab.SERVER_V4, BULK), 5000);
                        Thread.sleep(1500); // the gateway stops reading
                        return s.getInputStream().transferTo(java.io.OutputStream.nullOutputStream());
                    }
                });
                assertEquals(1_000_000, read);
                Traffic.upload(lab.client(), Lab.SERVER_V6, SINK, 1_000_000);
                Thread.sleep(1000); // the sink reads the rest
                long ours = Cmd.nstat(lab.clientNs(), "TcpExtTCPToZeroWindowAdv") - oursBefore;
                long theirs = Cmd.nstat(lab.serverNs(), "TcpExtTCPToZeroWindowAdv") - theirsBefore;
                Map<String, Map<String, Long>> counted = probe.counts();
                System.out.println("upstream zero windows: nstat ours " + ours + ", the upstream's " + theirs + "; probe "
                        + counted.get("bulk").get("zero_windows_sent") + ", " + counted.get("sink").get("zero_windows_received"));
                assertTrue(ours > 0 && theirs > 0, "both windows closed: ours " + ours + ", theirs " + theirs);
                assertEquals(ours, counted.get("bulk").get("zero_windows_sent"), "ours, as TCPToZeroWindowAdv: " + counted);
                assertEquals(0, counted.get("bulk").get("zero_windows_received"), counted.toString());
                assertEquals(theirs, counted.get("sink").get("zero_windows_received"),
                        "the upstream's, as its TCPToZeroWindowAdv: " + counted);
                assertEquals(0, counted.get("sink").get("zero_windows_sent"), counted.toString());
            }
        }
    }

    @Test
    void fourUpstreamsGetTheStatesAndResultsTheirClientSaw() throws Exception {
        for (String server : List.of(Lab.SERVER_V4, Lab.SERVER_V6)) {
            fourUpstreams(server);
        }
    }

    private void fourUpstreams(String server) throws Exception {
        String host = server.contains(":") ? "[" + server + "]" : server;
        try (Lab lab = Lab.create();
             var healthy = Traffic.listen(lab.server(), server, HEALTHY);
             var lossy = Traffic.listen(lab.server(), server, LOSSY);
             var silent = Traffic.listen(lab.server(), server, SILENT);
             var slow = Traffic.listen(lab.server(), server, SLOW)) {
            UpstreamProbe probe = new UpstreamProbe();
            probe.set("add", "healthy=" + host + ":" + HEALTHY);
            probe.set("add", "lossy=" + host + ":" + LOSSY);
            probe.set("add", "closed=" + host + ":" + CLOSED);
            probe.set("add", "silent=" + host + ":" + SILENT);
            probe.set("add", "slow=" + host + ":" + SLOW);
            // Every 19th packet the client sends to the lossy upstream (5.3%), and every SYN to the silent
            // one, never arrive. Not a random 5%: its 40 connections send a few hundred packets, most of
            // them whole 20 KB requests (veth passes GSO packets whole), and one CI run's draw spared the
            // data enough to stay under the 1% threshold; a period prime to a connection's packet count
            // hits each of its packets in turn.
            Loss.input(lab.serverNs(), "-A", "-p", "tcp", "--dport", Integer.toString(LOSSY), "-m", "statistic",
                    "--mode", "nth", "--every", "19", "--packet", "0");
            Loss.input(lab.serverNs(), "-A", "-p", "tcp", "--dport", Integer.toString(SILENT), "--tcp-flags", "SYN,ACK",
                    "SYN");
            // and the first SYN of each connection to the slow one: its handshakes take a second, long
            // enough for the client's own clock to tell the probe's latency apart from a system call's cost
            Loss.input(lab.serverNs(), "-A", Loss.everyOtherSynToPort(SLOW));
            try (ProbeSet set = lab.client().call(() -> ProbeSet.start(List.of(probe),
                    ProbeSet.Options.defaults().interfaces(List.of(lab.clientIf()))))) {
                String plan = """
                        [{"port": %d, "n": 40, "bytes": 2000},
                         {"port": %d, "n": 40, "bytes": 20000},
                         {"port": %d, "n": 8, "pause": 0.05},
                         {"port": %d, "n": 6, "parallel": true, "syncnt": 1},
                         {"port": %d, "n": 3}]"""
                        .formatted(HEALTHY, LOSSY, CLOSED, SILENT, SLOW);
                long start = System.nanoTime();
                CompletableFuture<Cmd.Result> client = CompletableFuture.supplyAsync(() -> Cmd.run(List.of("ip", "netns",
                        "exec", lab.clientNs(), "python3", Path.of("src/test/resources/upstream_client.py").toAbsolutePath()
                        .toString(), server, plan.replace('\n', ' ')), 60));
                // The states the issue expects, each within 10 s of the start of the calls
                Map<String, String> want = Map.of("healthy", "healthy", "lossy", "degraded", "closed", "unhealthy",
                        "silent", "unhealthy", "slow", "healthy");
                List<String> history = Collections.synchronizedList(new ArrayList<>());
                Map<String, String> reached = new java.util.concurrent.ConcurrentHashMap<>();
                while (System.nanoTime() - start < 10_000_000_000L && reached.size() < 3) {
                    Thread.sleep(250);
                    set.drain();
                    probe.health().forEach((name, h) -> {
                        if (!want.get(name).equals("healthy") && h.startsWith(want.get(name)) && reached.putIfAbsent(name, h) == null) {
                            history.add(name + " " + h + " after " + (System.nanoTime() - start) / 1_000_000 + " ms");
                        }
                    });
                }
                Cmd.Result ran = client.get();
                set.drain();
                System.out.println("upstream states (" + server + "): " + history);
                assertEquals(0, ran.exit(), ran.err());
                assertEquals(3, reached.size(), () -> "states within 10 s: " + history + " now " + probe.health());
                assertTrue(reached.get("lossy").contains("of segments retransmitted"), reached.get("lossy"));
                assertTrue(reached.get("closed").contains("refused"), reached.get("closed"));
                assertTrue(reached.get("silent").contains("timed out"), reached.get("silent"));
                assertTrue(probe.health().get("healthy").startsWith("healthy"), probe.health().toString());
                assertTrue(probe.health().get("slow").startsWith("healthy"), probe.health().toString());

                // Connect results equal what the client saw itself, by its own errno
                JsonNode saw = new ObjectMapper().readTree(ran.out());
                Map<String, Map<String, Long>> counted = probe.counts();
                for (var e : Map.of("healthy", HEALTHY, "lossy", LOSSY, "closed", CLOSED, "silent", SILENT, "slow", SLOW)
                        .entrySet()) {
                    JsonNode c = saw.get(Integer.toString(e.getValue()));
                    Map<String, Long> p = counted.get(e.getKey());
                    String both = e.getKey() + ": client " + c + ", probe " + p;
                    assertEquals(c.get("attempts").asLong(), p.get("connects"), both);
                    assertEquals(c.get("established").asLong(), p.get("established"), both);
                    assertEquals(c.path("refused").asLong(), p.get("refused"), both);
                    assertEquals(c.path("timed_out").asLong(), p.get("timed_out"), both);
                    assertEquals(c.get("attempts").asLong(), c.get("established").asLong() + c.path("refused").asLong()
                            + c.path("timed_out").asLong(), "the client saw no other result: " + both);
                }
                JsonNode h = saw.get(Integer.toString(HEALTHY));
                assertEquals(40, h.get("established").asLong());
                assertEquals(8, saw.get(Integer.toString(CLOSED)).get("refused").asLong());
                assertEquals(6, saw.get(Integer.toString(SILENT)).get("timed_out").asLong());

                // Handshake latency against the client's own clock: each connect to the slow upstream lost
                // its first SYN and took a second; the probe's median within its bucket width (3.2%) of the
                // client's, which adds a system call's and Python's cost (well under a millisecond)
                LogLinearHistogram hs = probe.handshakes().get("slow");
                List<Long> own = new ArrayList<>();
                saw.get(Integer.toString(SLOW)).get("connect_us").forEach(n -> own.add(n.asLong()));
                Collections.sort(own);
                long clientMedian = own.get(own.size() / 2);
                assertEquals(3, hs.count());
                assertTrue(clientMedian > 900_000, "the first SYNs were lost: " + own);
                assertEquals(clientMedian, hs.percentile(0.5), clientMedian * 0.035,
                        "probe median " + hs.percentile(0.5) + " us, client's " + own);
                assertEquals(40, probe.handshakes().get("healthy").count());

                // and against curl's own time_connect, one more connect to the slow upstream (its first SYN
                // lost too); the server never answers, and curl reports its timings when its 3 s are up (exit 28)
                Cmd.Result curl = Cmd.run(List.of("ip", "netns", "exec", lab.clientNs(), "curl", "-g", "-s", "-o",
                        "/dev/null", "--max-time", "3", "-w", "%{time_connect}", "http://" + host + ":" + SLOW + "/"), 30);
                long curlMicros = Math.round(Double.parseDouble(curl.out().trim()) * 1e6);
                LogLinearHistogram one = probe.handshakes().get("slow").minus(hs);
                System.out.println("upstream handshake (" + server + "): curl time_connect " + curlMicros + " us, probe "
                        + one.percentile(0.5) + " us");
                assertEquals(1, one.count(), "curl's one connect");
                assertTrue(curlMicros > 900_000, "its first SYN was lost: " + curlMicros);
                assertEquals(curlMicros, one.percentile(0.5), curlMicros * 0.035, "the probe's against curl's");
            }
        }
    }

    /**
     * Stalled streams, as the issue describes them: an SSE server (Python) that stops sending
     * mid-stream for 4 s and resumes is stalled within N+1 s of its last event, and clear again once
     * it resumes; one whose request is never answered stalls N s after the request. Controls: a
     * stream that never stops, and a connection idle in a pool after a complete answer, stay healthy.
     * N is 2 s here (upstream.stall) to keep the test short. Oracle: the client's own clock (Python's
     * time.monotonic, the CLOCK_MONOTONIC System.nanoTime reads) for when its last event arrived,
     * when its stream resumed, when it sent its request.
     */
    @Test
    void aStreamThatStopsIsStalledWithinTheStallTimeAndClearsWhenItResumes() throws Exception {
        long stallSeconds = 2;
        try (Lab lab = Lab.create()) {
            String v6 = "[" + Lab.SERVER_V6 + "]";
            Map<String, String> address = Map.of("stopping", Lab.SERVER_V4 + ":" + STOPPING, "steady", v6 + ":" + STEADY,
                    "idle", Lab.SERVER_V4 + ":" + IDLE, "unanswered", v6 + ":" + UNANSWERED);
            List<String> serverCommand = new ArrayList<>(List.of("ip", "netns", "exec", lab.serverNs(), "python3",
                    Path.of("src/test/resources/stream_server.py").toAbsolutePath().toString(), "4", "7"));
            List<String> clientCommand = new ArrayList<>(List.of("ip", "netns", "exec", lab.clientNs(), "python3",
                    Path.of("src/test/resources/stream_client.py").toAbsolutePath().toString(), "7.5"));
            address.forEach((mode, a) -> {
                serverCommand.add(mode + "=" + a);
                clientCommand.add(mode + "=" + a);
            });
            Process server = new ProcessBuilder(serverCommand).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            try {
                assertEquals("ready", new java.io.BufferedReader(new java.io.InputStreamReader(server.getInputStream()))
                        .readLine(), "the stream server did not start");
                UpstreamProbe probe = new UpstreamProbe();
                address.forEach((mode, a) -> probe.set("add", mode + "=" + a));
                probe.set("stall", Long.toString(stallSeconds));
                try (ProbeSet set = lab.client().call(() -> ProbeSet.start(List.of(probe),
                        ProbeSet.Options.defaults().interfaces(List.of(lab.clientIf()))))) {
                    CompletableFuture<Cmd.Result> client = CompletableFuture.supplyAsync(() -> Cmd.run(clientCommand, 30));
                    // every change of each upstream's health, when this process saw it (System.nanoTime)
                    Map<String, List<Map.Entry<Long, String>>> changes = new java.util.TreeMap<>();
                    Map<String, String> last = new java.util.HashMap<>();
                    while (!client.isDone()) {
                        Thread.sleep(50);
                        set.drain();
                        long at = System.nanoTime();
                        probe.health().forEach((name, h) -> {
                            String state = h.split(":")[0]; // a change of state, with its reasons then
                            if (!state.equals(last.put(name, state))) {
                                changes.computeIfAbsent(name, k -> new ArrayList<>()).add(Map.entry(at, h));
                            }
                        });
                    }
                    Cmd.Result ran = client.get();
                    assertEquals(0, ran.exit(), ran.err());
                    JsonNode saw = new ObjectMapper().readTree(ran.out());
                    System.out.println("upstream stalls: " + changes);

                    // the stream that stopped: its last event before the pause, and its first after
                    List<Double> events = new ArrayList<>();
                    saw.get("stopping").get("received").forEach(t -> events.add(t.asDouble()));
                    int gap = 1;
                    while (gap < events.size() && events.get(gap) - events.get(gap - 1) < 1.0) {
                        gap++;
                    }
                    assertTrue(gap < events.size(), "the stream paused: " + events);
                    long lastEvent = nanos(events.get(gap - 1));
                    long resumed = nanos(events.get(gap));
                    List<Map.Entry<Long, String>> stopping = changes.get("stopping");
                    assertEquals(3, stopping.size(), "healthy, stalled, healthy again: " + stopping);
                    assertTrue(stopping.get(1).getValue().startsWith("degraded: 1 stream stalled"), stopping.toString());
                    // within N + 1 s of the last event, and not before N (the client reads its events after the
                    // kernel got them, and the kernel's coarse clock lags by up to a tick: 0.2 s allowed for both)
                    double stalledAfter = (stopping.get(1).getKey() - lastEvent) / 1e9;
                    double clearedAfter = (stopping.get(2).getKey() - resumed) / 1e9;
                    double unansweredAfter = (changes.get("unanswered").get(1).getKey()
                            - nanos(saw.get("unanswered").get("sent").asDouble())) / 1e9;
                    System.out.printf("upstream stalls: stalled %.3f s after the last event, cleared %.3f s after the"
                            + " stream resumed; the unanswered request stalled %.3f s after it left (stall %d s)%n",
                            stalledAfter, clearedAfter, unansweredAfter, stallSeconds);
                    assertTrue(stalledAfter >= stallSeconds - 0.2 && stalledAfter <= stallSeconds + 1,
                            "stalled " + stalledAfter + " s after the last event");
                    // judged every 0.9 s at the next drain (every 50 ms here), and the client reads after the kernel
                    assertTrue(clearedAfter >= -0.2 && clearedAfter <= 1.1, "cleared " + clearedAfter
                            + " s after the stream resumed (judged every second)");

                    // the request never answered: stalled N s after it left, until the client closed it
                    List<Map.Entry<Long, String>> unanswered = changes.get("unanswered");
                    assertTrue(unanswered.size() >= 2, unanswered.toString());
                    assertTrue(unanswered.get(1).getValue().startsWith("degraded: 1 stream stalled"), unanswered.toString());
                    assertTrue(unansweredAfter >= stallSeconds - 0.2 && unansweredAfter <= stallSeconds + 1,
                            "stalled " + unansweredAfter + " s after the request");
                    assertEquals(0, saw.get("unanswered").get("bytes").asLong());

                    // the controls: a stream that never paused, and an answer followed by 7 s idle
                    assertEquals(1, changes.get("steady").size(), "healthy throughout: " + changes.get("steady"));
                    assertEquals(1, changes.get("idle").size(), "healthy throughout: " + changes.get("idle"));
                    assertTrue(saw.get("steady").get("received").size() >= 50, saw.get("steady").toString());
                    assertEquals(40, saw.get("idle").get("bytes").asLong(), "the idle one's whole answer");

                    Map<String, Long> begun = stalls(probe);
                    assertEquals(Map.of("stopping", 1L, "unanswered", 1L, "steady", 0L, "idle", 0L), begun);
                }
            } finally {
                server.destroyForcibly().waitFor();
            }
        }
    }

    /** A time of the client's (seconds of CLOCK_MONOTONIC) in System.nanoTime's terms. */
    private static long nanos(double seconds) {
        return Math.round(seconds * 1e9);
    }

    private static Map<String, Long> stalls(UpstreamProbe probe) {
        return probe.snapshot(false).metrics().stream()
                .filter(m -> m instanceof dev.tcpinspect.snapshot.Metric.CounterMap c && c.desc().path().equals("upstream_stalls"))
                .map(m -> ((dev.tcpinspect.snapshot.Metric.CounterMap) m).counts()).findFirst().orElseThrow();
    }
}
