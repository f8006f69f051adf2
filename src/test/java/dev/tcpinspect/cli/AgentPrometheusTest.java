package dev.tcpinspect.cli;

import dev.tcpinspect.testing.RunsBeside;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.testing.Capture;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.Loss;
import dev.tcpinspect.testing.RequiresBpf;
import dev.tcpinspect.testing.TcpinspectProcess;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/**
 * The fleet in miniature: a real Prometheus server (Debian's) scrapes two agents, each in its own
 * lab as its own host, over a management link of its own; known traffic goes to both, and PromQL
 * over both (sums by instance of SYNs, connections and drops by reason, a histogram quantile) agrees
 * with what tshark and nstat saw on each host.
 */
@RequiresBpf
@RunsBeside
class AgentPrometheusTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int PORT = 8080;

    /** One lab as a host: its agent reachable from this namespace at ADDRESS:9977 over a veth of its own. */
    private record Host(Lab lab, String link, String address) implements AutoCloseable {
        static Host create(int subnet) {
            Lab lab = Lab.create();
            String link = "tpm" + Long.toString(ProcessHandle.current().pid(), 36) + "x" + subnet;
            try {
                String base = "198.19." + subnet + ".";
                Cmd.run("ip", "link", "add", link, "type", "veth", "peer", "name", "mgmt0", "netns", lab.serverNs()).ok();
                Cmd.run("ip", "addr", "add", base + "1/30", "dev", link).ok();
                Cmd.run("ip", "link", "set", link, "up").ok();
                Cmd.run("ip", "-n", lab.serverNs(), "addr", "add", base + "2/30", "dev", "mgmt0").ok();
                Cmd.run("ip", "-n", lab.serverNs(), "link", "set", "mgmt0", "up").ok();
                return new Host(lab, link, base + "2");
            } catch (RuntimeException | AssertionError e) {
                lab.close(); // the link's other end goes with the namespace
                throw e;
            }
        }

        @Override
        public void close() {
            Cmd.run("ip", "link", "del", link); // gone already when the namespace went first
            lab.close();
        }
    }

    @Test
    void prometheusOverTwoAgentsAgreesWithEachHostsCaptureAndCounters() throws Exception {
        int subnet = 1 + (int) (ProcessHandle.current().pid() % 120) * 2;
        Path dir = Files.createTempDirectory("prometheus");
        Path config = dir.resolve("agent.yaml");
        Files.writeString(config, "ports: [" + PORT + "]\ninterval: 0.5\n");
        int webPort;
        try (var probe = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            webPort = probe.getLocalPort();
        }
        try (Host a = Host.create(subnet); Host b = Host.create(subnet + 1);
             var echoA = Traffic.listen(a.lab().server(), Lab.SERVER_V4, PORT);
             var echoB = Traffic.listen(b.lab().server(), Lab.SERVER_V4, PORT);
             Capture inA = Capture.incoming(a.lab().serverNs(), a.lab().serverIf());
             Capture inB = Capture.incoming(b.lab().serverNs(), b.lab().serverIf());
             TcpinspectProcess agentA = agent(a, config);
             TcpinspectProcess agentB = agent(b, config)) {
            AgentCliTest.awaitLog(agentA, " info ready ", 30);
            AgentCliTest.awaitLog(agentB, " info ready ", 30);
            Files.writeString(dir.resolve("prometheus.yml"), """
                    global: {scrape_interval: 1s, scrape_timeout: 1s}
                    scrape_configs:
                      - job_name: tcpinspect
                        static_configs: [{targets: ["%s:9977", "%s:9977"]}]
                    """.formatted(a.address(), b.address()));
            Process prometheus = new ProcessBuilder("prometheus", "--config.file=" + dir.resolve("prometheus.yml"),
                    "--storage.tsdb.path=" + dir.resolve("data"), "--web.listen-address=127.0.0.1:" + webPort,
                    "--log.level=warn").redirectErrorStream(true).redirectOutput(dir.resolve("prometheus.log").toFile())
                    .start();
            try {
                String api = "http://127.0.0.1:" + webPort;
                awaitReady(api);
                // The first SYN-ACK of each handshake is lost on the way to the client, so that every
                // handshake takes a retransmission (about a second): a latency far from the
                // histogram's bucket bounds, so that a quantile can be told from its oracle's.
                Loss.input(a.lab().clientNs(), "-A", Loss.everyOtherSynAckFromPort(PORT));
                Loss.input(b.lab().clientNs(), "-A", Loss.everyOtherSynAckFromPort(PORT));
                long rstsB = Cmd.nstat(b.lab().serverNs(), "TcpOutRsts");
                CompletableFuture<Integer> toA = CompletableFuture.supplyAsync(
                        () -> Traffic.connect(a.lab().client(), Lab.SERVER_V4, PORT, 5));
                CompletableFuture<Integer> toB = CompletableFuture.supplyAsync(
                        () -> Traffic.connect(b.lab().client(), Lab.SERVER_V4, PORT, 3));
                int closedB = Traffic.synToClosedPorts(b.lab().client(), Lab.SERVER_V4, 9000, 40);
                assertEquals(5, toA.get());
                assertEquals(3, toB.get());
                Thread.sleep(1000);
                inA.stop();
                inB.stop();
                long rsts = Cmd.nstat(b.lab().serverNs(), "TcpOutRsts") - rstsB;

                Map<String, Host> byInstance = Map.of(a.address() + ":9977", a, b.address() + ":9977", b);
                Map<Host, Capture> captures = Map.of(a, inA, b, inB);
                Map<String, Double> syns = awaitQuery(api, "sum by (instance) (tcpinspect_packets_by_kind_total{kind=\"syn\"})",
                        Map.of(a.address() + ":9977", (double) inA.count(Capture.SYN),
                                b.address() + ":9977", (double) inB.count(Capture.SYN)));
                assertEquals(2, syns.size(), syns.toString());
                assertEquals(40, closedB);

                // connections by the port-labelled histogram: Prometheus' own scrapes are connections each
                // host accepts too, on another port. Awaited like the SYNs: the per-port table is drained
                // each second, a step behind the packet counters the SYN query waited for.
                Map<String, Double> connections = awaitQuery(api,
                        "sum by (instance) (tcpinspect_handshake_duration_by_port_seconds_count{port=\"" + PORT + "\"})",
                        Map.of(a.address() + ":9977", (double) inA.streams(Capture.SYN + " && tcp.dstport==" + PORT),
                                b.address() + ":9977", (double) inB.streams(Capture.SYN + " && tcp.dstport==" + PORT)));
                Map<String, Double> drops = query(api,
                        "sum by (instance) (tcpinspect_drops_by_reason_total{reason=\"NO_SOCKET\"})");
                for (var e : byInstance.entrySet()) {
                    Capture in = captures.get(e.getValue());
                    assertEquals((double) in.streams(Capture.SYN + " && tcp.dstport==" + PORT), connections.get(e.getKey()),
                            e.getKey());
                }
                assertEquals(5.0, connections.get(a.address() + ":9977"));
                assertEquals(3.0, connections.get(b.address() + ":9977"));
                // every SYN to a closed port is dropped for want of a socket and answered by a reset
                assertEquals((double) inB.count(Capture.SYN + " && tcp.dstport>=9000 && tcp.dstport<9040"),
                        drops.get(b.address() + ":9977"));
                assertEquals(rsts, drops.get(b.address() + ":9977").longValue(), "TcpOutRsts");
                assertEquals(40, rsts);
                assertEquals(0.0, drops.getOrDefault(a.address() + ":9977", 0.0));

                // the median handshake, from the histogram, against the capture's: both in one bucket
                Map<String, Double> p50 = query(api, "histogram_quantile(0.5, sum by (instance, le) "
                        + "(tcpinspect_handshake_duration_by_port_seconds_bucket{port=\"" + PORT + "\"}))");
                for (var e : byInstance.entrySet()) {
                    double oracle = medianHandshake(captures.get(e.getValue()));
                    double estimate = p50.get(e.getKey());
                    double[] bucket = bucketOf(oracle);
                    assertTrue(estimate > bucket[0] && estimate <= bucket[1], e.getKey() + ": histogram_quantile "
                            + estimate + " s, capture's median " + oracle + " s in (" + bucket[0] + ", " + bucket[1] + "]");
                    assertTrue(oracle > 0.9 && oracle < 1.1, "a retransmitted SYN-ACK's handshake: " + oracle);
                }

                // Every query of the Grafana dashboard returns data from this Prometheus: with a port
                // scan under way on one host, so that the alerts' gauge has a series too
                assertEquals(40, Traffic.synToClosedPorts(a.lab().client(), Lab.SERVER_V4, 9100, 40));
                List<String> empty = new ArrayList<>();
                for (String promql : dev.tcpinspect.deploy.DeployFiles.dashboardQueries()) {
                    Map<String, Double> result = Map.of();
                    for (int i = 0; i < 20 && result.isEmpty(); i++) {
                        result = queryAny(api, promql);
                        if (result.isEmpty()) {
                            Thread.sleep(500);
                        }
                    }
                    if (result.isEmpty()) {
                        empty.add(promql);
                    }
                }
                assertEquals(List.of(), empty, "dashboard queries without data");
            } finally {
                prometheus.destroy();
                if (!prometheus.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)) {
                    prometheus.destroyForcibly();
                }
            }
            agentA.terminate();
            agentB.terminate();
            assertEquals(0, agentA.waitFor(30), agentA.stderr());
            assertEquals(0, agentB.waitFor(30), agentB.stderr());
        } finally {
            Cmd.run("rm", "-rf", dir.toString());
        }
    }

    private static TcpinspectProcess agent(Host h, Path config) {
        return TcpinspectProcess.start(h.lab().serverNs(), "agent", "-i", h.lab().serverIf(), "--config", config.toString(),
                "--listen", h.address() + ":9977");
    }

    /** The bucket of the agent's histograms (PrometheusMetrics' bounds: 2 per octave) holding a value in seconds. */
    private static double[] bucketOf(double seconds) {
        double lo = 0;
        for (int k = 4; k <= 24; k++) {
            for (long us : k < 24 ? new long[] {1L << k, 3L << (k - 1)} : new long[] {1L << k}) {
                if (seconds <= us / 1e6) {
                    return new double[] {lo, us / 1e6};
                }
                lo = us / 1e6;
            }
        }
        return new double[] {lo, Double.POSITIVE_INFINITY};
    }

    /**
     * Each connection's handshake on the server's side of the link as the capture saw it: its first
     * SYN to the client's ACK that completed it (its first segment after the SYNs); the median.
     */
    private static double medianHandshake(Capture in) {
        Map<String, double[]> streams = new HashMap<>();
        for (String line : in.fields("tcp.dstport==" + PORT, "tcp.stream", "frame.time_epoch", "tcp.flags.syn")) {
            String[] f = line.split("\t");
            double[] s = streams.computeIfAbsent(f[0], k -> new double[] {-1, -1});
            double t = Double.parseDouble(f[1]);
            if (f[2].equals("1") || f[2].equals("True")) {
                if (s[0] < 0) {
                    s[0] = t;
                }
            } else if (s[1] < 0) {
                s[1] = t;
            }
        }
        List<Double> durations = new ArrayList<>();
        streams.values().forEach(s -> durations.add(s[1] - s[0]));
        durations.sort(null);
        return durations.get((durations.size() - 1) / 2);
    }

    private static void awaitReady(String api) throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        for (int i = 0; i < 100; i++) {
            try {
                if (http.send(HttpRequest.newBuilder(URI.create(api + "/-/ready")).build(),
                        HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                    return;
                }
            } catch (java.io.IOException notYet) {
                // starting
            }
            Thread.sleep(200);
        }
        throw new AssertionError("Prometheus not ready within 20 s");
    }

    /** An instant query's result: instance to value. */
    static Map<String, Double> query(String api, String promql) throws Exception {
        Map<String, Double> values = new HashMap<>();
        for (JsonNode r : result(api, promql)) {
            values.put(r.at("/metric/instance").asText(), Double.parseDouble(r.get("value").get(1).asText()));
        }
        return values;
    }

    /** An instant query's result, each series by its labels (a query need not keep instance). */
    static Map<String, Double> queryAny(String api, String promql) throws Exception {
        Map<String, Double> values = new HashMap<>();
        for (JsonNode r : result(api, promql)) {
            values.put(r.get("metric").toString(), Double.parseDouble(r.get("value").get(1).asText()));
        }
        return values;
    }

    /** The series of an instant query, failing when Prometheus does not answer with success. */
    private static JsonNode result(String api, String promql) throws Exception {
        String body = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(api + "/api/v1/query?query="
                + URLEncoder.encode(promql, StandardCharsets.UTF_8))).timeout(Duration.ofSeconds(10)).build(),
                HttpResponse.BodyHandlers.ofString()).body();
        JsonNode json = JSON.readTree(body);
        if (!json.path("status").asText().equals("success")) {
            throw new AssertionError(promql + ": " + body);
        }
        return json.at("/data/result");
    }

    /** The query's result once it equals what is expected (scrapes come every second), or a failure with the last. */
    private static Map<String, Double> awaitQuery(String api, String promql, Map<String, Double> expected) throws Exception {
        Map<String, Double> last = Map.of();
        for (int i = 0; i < 30; i++) {
            last = query(api, promql);
            if (last.equals(expected)) {
                return last;
            }
            Thread.sleep(500);
        }
        // what else the agents said of handshakes and of runs the kernel skipped: where a missing one went
        assertEquals(expected, last, promql + "; the agents' other handshake series above zero: "
                + queryAny(api, "{__name__=~\"tcpinspect_(handshake|runs)_.*\", __name__!~\".*_(bucket|sum)\"} > 0"));
        return last;
    }
}
