package dev.tcpinspect.cli;

import dev.tcpinspect.testing.RunsBeside;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.testing.Capture;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.Http;
import dev.tcpinspect.testing.RequiresBpf;
import dev.tcpinspect.testing.TcpinspectProcess;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The agent as an operator runs it, in the lab's server namespace: what /metrics and /api/snapshot
 * serve against a capture of the same packets (tshark) and the kernel's own counters (nstat),
 * promtool's check of a live scrape, the endpoints' answers, its default address, SIGHUP with a good
 * and a bad config, SIGTERM, and nothing left attached.
 */
@RequiresBpf
@RunsBeside
class AgentCliTest {
    private static final String URL = "http://127.0.0.1:9977";

    @Test
    void metricsAgreeWithACaptureAndTheKernelsCounters() throws Exception {
        Path config = Files.createTempFile("agent", ".yaml");
        Path pcap = Files.createTempFile("agent", ".pcapng");
        Files.writeString(config, "ports: [8080]\ninterval: 0.5\n");
        try (Lab lab = Lab.create();
             var echo4 = Traffic.listen(lab.server(), Lab.SERVER_V4, 8080);
             var echo6 = Traffic.listen(lab.server(), Lab.SERVER_V6, 8080);
             var other = Traffic.listen(lab.server(), Lab.SERVER_V4, 9090);
             Capture in = Capture.incoming(lab.serverNs(), lab.serverIf());
             TcpinspectProcess agent = TcpinspectProcess.start(lab.serverNs(), "agent", "-i", lab.serverIf(),
                     "--config", config.toString(), "--pcap", pcap.toString())) {
            String text;
            JsonNode snapshot;
            Map<String, Double> metrics;
            awaitLog(agent, " info ready ", 30);
            // The agent counts the connections its namespace accepts, its own scrapes' included: every
            // request goes over one connection opened before the baseline, so that they add none.
            try (Http.KeepAlive http = new Http.KeepAlive(lab.server(), "127.0.0.1", 9977)) {
                Thread.sleep(1200); // readings after that connection's handshake
                Map<String, Double> base = Http.series(http.get("/metrics").body());
                long passiveBefore = Cmd.nstat(lab.serverNs(), "TcpPassiveOpens");
                assertEquals(20, Traffic.connect(lab.client(), Lab.SERVER_V4, 8080, 20));
                assertEquals(10, Traffic.connect(lab.client(), Lab.SERVER_V6, 8080, 10));
                assertEquals(5, Traffic.connect(lab.client(), Lab.SERVER_V4, 9090, 5));
                assertEquals(3, Traffic.connectAndReset(lab.client(), Lab.SERVER_V4, 8080, 3));
                Thread.sleep(1500); // three readings
                in.stop();
                long passive = Cmd.nstat(lab.serverNs(), "TcpPassiveOpens") - passiveBefore;
                text = http.get("/metrics").body();
                Map<String, Double> m = Http.series(text);
                assertEquals(38, passive, "the kernel's count of accepted connections");
                String opened = "tcpinspect_connections_opened_total{direction=\"passive\"}";
                assertEquals(passive, Http.value(m, opened) - Http.value(base, opened));
                assertEquals(passive, handshakes(m) - handshakes(base));
                snapshot = TcpinspectProcess.parse(http.get("/api/snapshot").body());
                assertEquals(Http.value(m, opened), snapshot.at("/total/connections/opened_passive").asLong());
                metrics = m;
            }
            Map<String, Double> m = metrics;
            assertEquals(in.count(Capture.TCP), Http.value(m, "tcpinspect_packets_total"), in.describe(Capture.TCP));
            assertEquals(in.count(Capture.SYN), Http.value(m, "tcpinspect_packets_by_kind_total{kind=\"syn\"}"));
            assertEquals(in.count(Capture.FIN), Http.value(m, "tcpinspect_packets_by_kind_total{kind=\"fin\"}"));
            assertEquals(in.count(Capture.RST), Http.value(m, "tcpinspect_packets_by_kind_total{kind=\"rst\"}"));
            assertEquals(in.count(Capture.PURE_ACK), Http.value(m, "tcpinspect_packets_by_kind_total{kind=\"ack\"}"));
            // ports: [8080] makes 8080 a label value; 9090 is counted under "other", never as itself
            assertEquals(in.count(Capture.SYN + " && tcp.dstport==8080"),
                    Http.value(m, "tcpinspect_syn_packets_by_port_total{port=\"8080\"}"));
            assertEquals(in.count(Capture.SYN + " && tcp.dstport==9090"),
                    Http.value(m, "tcpinspect_syn_packets_by_port_total{port=\"other\"}"));
            assertEquals(5, in.count(Capture.SYN + " && tcp.dstport==9090"));
            assertTrue(m.keySet().stream().noneMatch(k -> k.contains("port=\"9090\"")), "9090 is not a configured port");
            // the passive handshake histogram: its buckets grow to +Inf, which is its count
            List<Double> buckets = m.entrySet().stream()
                    .filter(e -> e.getKey().startsWith("tcpinspect_handshake_duration_seconds_bucket{direction=\"passive\""))
                    .map(Map.Entry::getValue).toList();
            assertEquals(42, buckets.size(), "41 bounds and +Inf");
            for (int i = 1; i < buckets.size(); i++) {
                assertTrue(buckets.get(i) >= buckets.get(i - 1), "cumulative: " + buckets);
            }
            assertEquals(handshakes(m), buckets.getLast());
            assertEquals(33, Http.value(m, "tcpinspect_handshake_duration_by_port_seconds_count{port=\"8080\"}"),
                    "the connections to 8080");

            // promtool, Prometheus' own checker, on the live scrape: no error and no lint complaint
            Path scrape = Files.createTempFile("scrape", ".txt");
            Files.writeString(scrape, text);
            Cmd.Result lint = Cmd.run(List.of("sh", "-c", "promtool check metrics < " + scrape), 30);
            Files.delete(scrape);
            assertEquals(0, lint.exit(), lint.out() + lint.err());
            assertEquals("", (lint.out() + lint.err()).strip(), "promtool's complaints");
            // no label holds an address or a port other than the configured one, though the traffic had
            // two client addresses and dozens of ephemeral ports
            java.util.regex.Matcher label = java.util.regex.Pattern.compile("(\\w+)=\"([^\"]*)\"").matcher(text);
            java.util.Set<String> ports = new java.util.TreeSet<>();
            int labels = 0;
            while (label.find()) {
                labels++;
                String value = label.group(2);
                assertTrue(!value.matches(".*\\d+\\.\\d+\\.\\d+\\.\\d+.*") && !value.matches(".*[0-9a-f]*:[0-9a-f]*:.*"),
                        "an address as a label value: " + label.group());
                if (label.group(1).equals("port")) {
                    ports.add(value);
                }
            }
            assertTrue(labels > 100, "labels read: " + labels);
            assertEquals(java.util.Set.of("8080", "other"), ports, "port label values");

            assertEquals("snapshot", snapshot.get("type").asText());
            assertEquals(in.count(Capture.SYN), snapshot.at("/total/packets/syn").asLong());
            assertEquals(List.of(lab.serverIf()), List.of(snapshot.get("interfaces").get(0).asText()));

            assertEquals(new Http.Response(200, "ok\n"), Http.get(lab.serverNs(), URL + "/healthz"));
            assertEquals(405, Http.request(lab.serverNs(), "POST", URL + "/metrics").status());
            assertEquals(404, Http.get(lab.serverNs(), URL + "/nothing-here").status());
            JsonNode alerts = TcpinspectProcess.parse(Http.get(lab.serverNs(), URL + "/api/alerts").body());
            assertTrue(alerts.get("active").isArray(), alerts.toString());

            // bound to this host only by default
            String listening = Cmd.run(List.of("ip", "netns", "exec", lab.serverNs(), "ss", "-ltnH", "sport = :9977"), 30)
                    .ok().out();
            assertEquals(1, listening.lines().count(), listening);
            // the JDK binds an IPv6 socket to the IPv4-mapped loopback: still this host only
            assertTrue(listening.matches("(?s).*\\s(127\\.0\\.0\\.1|\\[::ffff:127\\.0\\.0\\.1\\]):9977\\s.*"), listening);

            agent.terminate();
            assertEquals(0, agent.waitFor(30), agent.stderr());
            assertTrue(agent.stderr().contains(" info stopped"), agent.stderr());
            assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()), "left attached");
            // its capture file holds each reset the interface received, as tshark reads it
            Cmd.Result resets = Cmd.run(List.of("tshark", "-r", pcap.toString(), "-Y", "frame.comment == \"reset received\"",
                    "-T", "fields", "-e", "tcp.flags.reset"), 60);
            assertEquals(0, resets.exit(), resets.err());
            assertEquals(in.count(Capture.RST), resets.out().lines().filter(l -> l.equals("1")).count(), resets.out());
            assertEquals(3, in.count(Capture.RST));
        } finally {
            Files.deleteIfExists(config);
            Files.deleteIfExists(pcap);
        }
    }

    /**
     * With no config and no option: every probe of the registry, on every interface up in its
     * namespace (the lab's: lo and the veth), as ip link lists them.
     */
    @Test
    void withoutAConfigEveryProbeRunsOnEveryInterfaceThatIsUp() throws Exception {
        try (Lab lab = Lab.create();
             TcpinspectProcess agent = TcpinspectProcess.start(lab.serverNs(), "agent")) {
            awaitLog(agent, " info ready ", 30);
            Thread.sleep(1200); // a reading
            JsonNode snapshot = TcpinspectProcess.parse(Http.get(lab.serverNs(), URL + "/api/snapshot").body());
            List<String> probes = new java.util.ArrayList<>();
            snapshot.get("probes").forEach(p -> probes.add(p.asText()));
            assertEquals(dev.tcpinspect.probe.registry.ProbeRegistry.names(), probes);
            List<String> interfaces = new java.util.ArrayList<>();
            snapshot.get("interfaces").forEach(i -> interfaces.add(i.asText()));
            List<String> up = Cmd.run(List.of("ip", "-n", lab.serverNs(), "-o", "link", "show", "up"), 30).ok().out().lines()
                    .map(l -> l.split(":\\s+")[1].split("@")[0]).sorted().toList();
            assertEquals(up, interfaces.stream().sorted().toList(), "ip link's interfaces that are up");
            assertTrue(up.contains("lo") && up.contains(lab.serverIf()), up.toString());
            agent.terminate();
            assertEquals(0, agent.waitFor(30), agent.stderr());
        }
    }

    @Test
    void sighupAppliesAGoodConfigAndRefusesABadOneKeepingTheRunningOne() throws Exception {
        Path config = Files.createTempFile("agent", ".yaml");
        Files.writeString(config, "probes: [packets]\nlog_format: json\n");
        Http.KeepAlive http = null;
        // started as nohup starts it, SIGHUP ignored: the agent takes it back for its reload
        List<String> agentCommand = new java.util.ArrayList<>(TcpinspectProcess.javaCommand());
        try (Lab lab = Lab.create();
             var echo = Traffic.listen(lab.server(), Lab.SERVER_V4, 8080);
             TcpinspectProcess agent = TcpinspectProcess.startCommand(List.of("ip", "netns", "exec", lab.serverNs(),
                     "bash", "-c", "trap '' HUP; exec " + TcpinspectProcess.shellLine(withArgs(agentCommand, "agent", "-i",
                             lab.serverIf(), "--config", config.toString()))))) {
            awaitLog(agent, "\"msg\":\"ready\"", 30);
            assertTrue(!Cmd.signalIgnored(agent.pid(), 1), "the agent handles SIGHUP (the JVM ignores only what it"
                    + " does not handle): SigIgn " + Cmd.procStatus(agent.pid(), "SigIgn"));
            // every request on one connection, opened before the reload: the reloaded conn probe counts
            // the connections accepted after its load, and these requests add none
            http = new Http.KeepAlive(lab.server(), "127.0.0.1", 9977);
            assertEquals(List.of("packets"), probes(http));

            Files.writeString(config, "probes: [packets, conn]\nlisten_on: 127.0.0.1:1\n");
            Cmd.run("kill", "-HUP", String.valueOf(agent.pid())).ok();
            String refused = awaitLog(agent, "reload refused", 10);
            assertTrue(refused.contains(config + ":2: unknown key 'listen_on'"), refused);
            assertEquals(List.of("packets"), probes(http), "the running config is kept");
            Map<String, Double> m = Http.series(http.get("/metrics").body());
            assertEquals(1.0, Http.value(m, "tcpinspect_agent_reloads_total{result=\"refused\"}"));
            assertEquals(0.0, Http.value(m, "tcpinspect_agent_reloads_total{result=\"applied\"}"));

            Files.writeString(config, "probes: [packets, conn]\nlog_format: json\n");
            Cmd.run("kill", "-HUP", String.valueOf(agent.pid())).ok();
            awaitLog(agent, "\"msg\":\"reloaded\"", 30);
            assertEquals(List.of("packets", "conn"), probes(http));
            long before = Cmd.nstat(lab.serverNs(), "TcpPassiveOpens");
            assertEquals(7, Traffic.connect(lab.client(), Lab.SERVER_V4, 8080, 7));
            Thread.sleep(2500);
            long passive = Cmd.nstat(lab.serverNs(), "TcpPassiveOpens") - before;
            m = Http.series(http.get("/metrics").body());
            assertEquals(7, passive);
            assertEquals(passive, Http.value(m, "tcpinspect_connections_opened_total{direction=\"passive\"}"),
                    "the reloaded probes count from their load");
            assertEquals(1.0, Http.value(m, "tcpinspect_agent_reloads_total{result=\"applied\"}"));
            for (String line : agent.stderr().lines().toList()) {
                TcpinspectProcess.parse(line); // --log-format json: every line one JSON object
            }

            http.close();
            Cmd.run("kill", "-INT", String.valueOf(agent.pid())).ok();
            assertEquals(0, agent.waitFor(30), agent.stderr());
            assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()), "left attached");
        } finally {
            if (http != null) {
                http.close();
            }
            Files.deleteIfExists(config);
        }
    }

    /**
     * SIGHUP with fuzzed configs (seeded: a small config mutated byte by byte, and good configs that
     * choose other probes, ports, intervals and log formats): each reload is one log line, applied
     * (then the file's probes run) or refused; a refused one leaves the running probes as they were; the agent lives through them all, its reload counters equal the lines, and it still
     * applies a good config and stops cleanly afterwards. Configs that would move the endpoint the
     * test talks to are skipped.
     */
    @Test
    void fuzzedConfigsOnSighupAreAppliedOrRefusedAndARefusalKeepsTheRunningState() throws Exception {
        String base = "probes: [packets]\nports: [8080]\ninterval: 1\nlog_format: json\n";
        Path config = Files.createTempFile("agent", ".yaml");
        Files.writeString(config, base);
        Http.KeepAlive http = null;
        try (Lab lab = Lab.create();
             TcpinspectProcess agent = TcpinspectProcess.start(lab.serverNs(), "agent", "-i", lab.serverIf(),
                     "--config", config.toString())) {
            awaitLog(agent, "\"msg\":\"ready\"", 30);
            http = new Http.KeepAlive(lab.server(), "127.0.0.1", 9977);
            List<String> running = probes(http);
            assertEquals(List.of("packets"), running);
            int applied = 0;
            int refused = 0;
            for (int seed = 0; seed < 20; seed++) {
                java.util.Random r = new java.util.Random(seed);
                // Even seeds: the base mutated byte by byte (mostly refused); odd ones: good configs, each
                // another choice of probes, ports, interval and log format (applied, and the probes are those).
                List<String> chosen = List.of(List.of("packets"), List.of("packets", "conn"), List.of("conn"),
                        List.of("reset", "packets")).get(r.nextInt(4));
                byte[] bytes = seed % 2 == 0
                        ? dev.tcpinspect.policy.PolicyFuzzTest.mutate(base.getBytes(), r, 1 + r.nextInt(6))
                        : ("probes: [" + String.join(", ", chosen) + "]\nports: [" + (8000 + r.nextInt(100))
                                + "]\ninterval: " + (1 + r.nextInt(3)) + "\nlog_format: " + (r.nextBoolean() ? "json"
                                : "text") + "\n").getBytes();
                boolean unreadable = false; // as the agent's own reader finds it
                try {
                    var parsed = dev.tcpinspect.agent.AgentConfig.parse("fuzz", new String(bytes));
                    if (!parsed.listen().equals(dev.tcpinspect.agent.AgentConfig.defaults().listen())
                            || parsed.pcap() != null || parsed.enforce() != null) {
                        continue;
                    }
                } catch (dev.tcpinspect.agent.AgentConfig.ConfigException e) {
                    unreadable = true;
                }
                Files.write(config, bytes);
                String what = "seed " + seed + ":\n" + new String(bytes);
                String line = reload(agent, what);
                assertTrue(!agent.exitsWithin(0), "alive: " + what);
                if (line.contains("reloaded")) {
                    applied++;
                    running = probes(http);
                    assertTrue(!running.isEmpty(), what);
                    if (seed % 2 == 1) {
                        assertEquals(chosen, running, "the file's probes run: " + what);
                    }
                } else {
                    refused++;
                    assertTrue(line.contains("the running configuration is kept"), what);
                    assertTrue(!unreadable || line.contains(config + ":"), "names the file: " + what);
                    assertEquals(running, probes(http), "the running probes are kept: " + what);
                }
            }
            System.out.printf("agent SIGHUP fuzz: %d configs applied, %d refused, the agent alive throughout%n", applied,
                    refused);
            assertTrue(applied >= 10 && refused >= 5, applied + " applied, " + refused + " refused");
            Map<String, Double> m = Http.series(http.get("/metrics").body());
            assertEquals(applied, Http.value(m, "tcpinspect_agent_reloads_total{result=\"applied\"}"));
            assertEquals(refused, Http.value(m, "tcpinspect_agent_reloads_total{result=\"refused\"}"));

            Files.writeString(config, base);
            assertTrue(reload(agent, "the base config again").contains("reloaded"), agent.stderr());
            assertEquals(List.of("packets"), probes(http));
            http.close();
            http = null;
            Cmd.run("kill", "-INT", String.valueOf(agent.pid())).ok();
            assertEquals(0, agent.waitFor(30), agent.stderr());
            assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()), "left attached");
        } finally {
            if (http != null) {
                http.close();
            }
            Files.deleteIfExists(config);
        }
    }

    /**
     * Sends SIGHUP and returns the one log line the reload wrote (applied, refused or failed), failing
     * unless exactly one came within 30 s.
     */
    private static String reload(TcpinspectProcess agent, String what) throws InterruptedException {
        int before = reloadLines(agent).size();
        Cmd.run("kill", "-HUP", String.valueOf(agent.pid())).ok();
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (reloadLines(agent).size() == before && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        List<String> lines = reloadLines(agent);
        assertEquals(before + 1, lines.size(), "one line per reload: " + what + "\nlog: " + agent.stderr());
        return lines.getLast();
    }

    /** The agent's log lines about reloads (applied, refused or failed), in order. */
    private static List<String> reloadLines(TcpinspectProcess agent) {
        return agent.stderr().lines().filter(l -> l.contains("reload")).toList();
    }

    /** The SYNs an agent in the lab's server namespace has counted, as its /metrics at url says. */
    private static double synsCounted(Lab lab, String url) {
        return Http.value(Http.series(Http.get(lab.serverNs(), url + "/metrics").body()),
                "tcpinspect_packets_by_kind_total{kind=\"syn\"}");
    }

    /**
     * Two agents on one interface at once: with their own addresses both work, each counting the SYNs
     * a capture sees; a third on the first one's address says why in one line (exit 1) and leaves the
     * first one counting.
     */
    @Test
    void twoAgentsOnOneInterfaceBothCountOrTheSecondSaysWhy() throws Exception {
        try (Lab lab = Lab.create(); var server = Traffic.listen(lab.server(), "0.0.0.0", 8080);
             TcpinspectProcess first = TcpinspectProcess.start(lab.serverNs(), "agent", "-i", lab.serverIf());
             TcpinspectProcess second = TcpinspectProcess.start(lab.serverNs(), "agent", "-i", lab.serverIf(), "--listen",
                     "127.0.0.1:9978")) {
            awaitLog(first, " info ready ", 30);
            awaitLog(second, " info ready ", 30);
            Cmd.Result third = TcpinspectProcess.run(lab.serverNs(), "agent", "-i", lab.serverIf());
            assertEquals(1, third.exit(), third.err());
            assertEquals(1, third.err().strip().lines().count(), third.err());
            assertTrue(third.err().contains("cannot listen on 127.0.0.1:9977"), third.err());

            List<String> urls = List.of(URL, "http://127.0.0.1:9978");
            List<Double> before = new java.util.ArrayList<>();
            for (String url : urls) {
                before.add(synsCounted(lab, url));
            }
            long syns;
            try (Capture in = Capture.incoming(lab.serverNs(), lab.serverIf())) {
                assertEquals(20, Traffic.connect(lab.client(), Lab.SERVER_V4, 8080, 20));
                Thread.sleep(1500); // a reading of each
                in.stop();
                syns = in.count(Capture.SYN);
            }
            assertEquals(20, syns);
            for (int i = 0; i < urls.size(); i++) {
                double after = synsCounted(lab, urls.get(i));
                assertEquals(syns, after - before.get(i), urls.get(i) + ": the SYNs the capture saw");
            }
            first.terminate();
            second.terminate();
            assertEquals(0, first.waitFor(30), first.stderr());
            assertEquals(0, second.waitFor(30), second.stderr());
            assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()), "left attached");
        }
    }

    /**
     * Fuzzed config files the agent cannot use, given at its start as processes: binary, random
     * text, huge, deeply nested, a folder, a missing file. Each is refused in one line naming the file,
     * exit status 2, with nothing attached. (Mutated ones on SIGHUP: fuzzedConfigsOnSighup...;
     * thousands in-process: AgentConfigFuzzTest.)
     */
    @Test
    void fuzzedConfigFilesAtTheStartAreRefusedInOneLineWithNothingAttached() throws Exception {
        java.util.Random random = new java.util.Random(Long.getLong("fuzz.seed", 20261202L));
        Path dir = Files.createTempDirectory("agent-fuzz");
        try (Lab lab = Lab.create()) {
            List<Path> files = dev.tcpinspect.policy.PolicyFuzzTest.unusableFiles(dir, random, "ports", "443");
            for (Path file : files) {
                Cmd.Result r = TcpinspectProcess.run(lab.serverNs(), "agent", "-i", lab.serverIf(), "--config", file.toString());
                String err = r.err().strip();
                assertEquals(2, r.exit(), file + ": " + err);
                assertEquals(1, err.lines().count(), file + ": " + err);
                assertTrue(err.startsWith("tcpinspect: ") && err.contains(file.toString()), file + ": " + err);
                assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()), file + ": left attached");
            }
        } finally {
            Cmd.run("rm", "-rf", dir.toString());
        }
    }

    @Test
    void aConfigThatCannotBeUsedIsOneLineAndNothingIsAttached() throws Exception {
        Path config = Files.createTempFile("agent", ".yaml");
        try (Lab lab = Lab.create()) {
            Files.writeString(config, "interval: 0.5\nports: [8080, 70000]\n");
            Cmd.Result bad = TcpinspectProcess.run(lab.serverNs(), "agent", "-i", lab.serverIf(), "--config", config.toString());
            assertEquals(2, bad.exit(), bad.err());
            assertEquals("tcpinspect: " + config + ":2: ports: 70000 is not a port (1 to 65535)", bad.err().strip());

            Cmd.Result listen = TcpinspectProcess.run(lab.serverNs(), "agent", "-i", lab.serverIf(), "--listen", "9977");
            assertEquals(2, listen.exit(), listen.err());
            assertEquals(1, listen.err().strip().lines().count(), listen.err());
            assertTrue(listen.err().contains("--listen '9977' is not ADDRESS:PORT"), listen.err());

            // the address is taken: one line naming it, and the probes it had attached are gone again
            try (var holder = Traffic.listen(lab.server(), "127.0.0.1", 9977)) {
                Cmd.Result busy = TcpinspectProcess.run(lab.serverNs(), "agent", "-i", lab.serverIf());
                assertEquals(1, busy.exit(), busy.err());
                assertEquals(1, busy.err().strip().lines().count(), busy.err());
                assertTrue(busy.err().contains("cannot listen on 127.0.0.1:9977"), busy.err());
            }
            assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()), "left attached");
        } finally {
            Files.deleteIfExists(config);
        }
    }

    /**
     * An interface deleted under a running agent: one log line names it and the interfaces still
     * watched, and the agent goes on serving and counting the others (against a capture of the
     * traffic that follows); its stop then leaves nothing attached.
     */
    @Test
    void anInterfaceDeletedUnderTheAgentIsLoggedAndTheOthersKeepBeingCounted() throws Exception {
        try (Lab lab = Lab.create(); var server = Traffic.listen(lab.server(), "0.0.0.0", 8080)) {
            Cmd.run("ip", "-n", lab.serverNs(), "link", "add", "gone0a", "type", "veth", "peer", "name", "gone0b").ok();
            Cmd.run("ip", "-n", lab.serverNs(), "link", "set", "gone0a", "up").ok();
            try (TcpinspectProcess agent = TcpinspectProcess.start(lab.serverNs(), "agent", "-i", lab.serverIf(), "-i",
                    "gone0a")) {
                awaitLog(agent, " info ready ", 30);
                Cmd.run("ip", "-n", lab.serverNs(), "link", "del", "gone0a").ok();
                String gone = awaitLog(agent, "interface gone", 10);
                assertTrue(gone.contains(" warn interface gone (deleted or moved) interface=gone0a still_watching="
                        + lab.serverIf()), gone);
                double before = synsCounted(lab, URL);
                long syns;
                try (Capture in = Capture.incoming(lab.serverNs(), lab.serverIf())) {
                    assertEquals(20, Traffic.connect(lab.client(), Lab.SERVER_V4, 8080, 20));
                    Thread.sleep(1500); // a reading
                    in.stop();
                    syns = in.count(Capture.SYN);
                }
                double after = synsCounted(lab, URL);
                assertEquals(20, syns);
                assertEquals(syns, after - before, "the SYNs the capture saw, counted after the deletion");
                assertEquals(1, agent.stderr().lines().filter(l -> l.contains("interface gone")).count(), "said once");
                agent.terminate();
                assertEquals(0, agent.waitFor(30), agent.stderr());
            }
            assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()), "left attached");
        }
    }

    /**
     * However an agent is started, SIGINT and SIGTERM stop it cleanly: as a script's background job
     * (its shell leaves SIGINT ignored, as a control job started the same way shows) and as PID 1 of
     * its own PID namespace (a container's), where the kernel delivers only the signals it handles.
     * Exit 0, its last line "stopped", nothing attached. (Under systemd: AgentUnitUnderSystemdTest.)
     */
    @ParameterizedTest
    @ValueSource(strings = {"INT", "TERM"})
    void eitherStopSignalStopsItAsABackgroundJobAndAsPidOne(String signal) throws Exception {
        try (Lab lab = Lab.create()) {
            List<String> agent = new java.util.ArrayList<>(TcpinspectProcess.javaCommand());
            agent.addAll(List.of("agent", "-i", lab.serverIf()));
            Path pidFile = Files.createTempFile("agent", ".pid");
            Path control = Files.createTempFile("agent", ".control");
            String script = "sleep 60 & echo $! > " + control + "; " + TcpinspectProcess.shellLine(agent) + " & echo $! > "
                    + pidFile + "; wait $!; code=$?; kill $(cat " + control + "); exit $code";
            try (TcpinspectProcess job = TcpinspectProcess.startCommand(
                    List.of("ip", "netns", "exec", lab.serverNs(), "bash", "-c", script))) {
                awaitLog(job, " info ready ", 30);
                assertTrue(Cmd.signalIgnored(Long.parseLong(Files.readString(control).strip()), 2),
                        "the shell started its background jobs with SIGINT ignored");
                Cmd.run("kill", "-" + signal, Files.readString(pidFile).strip()).ok();
                assertEquals(0, job.waitFor(30), job.stderr());
                assertTrue(job.stderr().strip().endsWith(" info stopped"), job.stderr());
            } finally {
                Files.deleteIfExists(pidFile);
                Files.deleteIfExists(control);
            }
            assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()));

            List<String> command = new java.util.ArrayList<>(List.of("ip", "netns", "exec", lab.serverNs(), "unshare",
                    "--pid", "--fork", "--kill-child", "--mount-proc"));
            command.addAll(agent);
            try (TcpinspectProcess container = TcpinspectProcess.startCommand(command)) {
                awaitLog(container, " info ready ", 30);
                ProcessHandle pidOne = ProcessHandle.of(container.pid()).orElseThrow().children().findFirst().orElseThrow();
                assertTrue(Cmd.pidOneOfItsNamespace(pidOne.pid()), "PID 1 in its namespace: NSpid "
                        + Cmd.procStatus(pidOne.pid(), "NSpid"));
                Cmd.run("kill", "-" + signal, Long.toString(pidOne.pid())).ok();
                assertEquals(0, container.waitFor(30), container.stderr());
                assertTrue(container.stderr().strip().endsWith(" info stopped"), container.stderr());
            }
            assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()));
        }
    }

    /**
     * bpf_stats: true keeps the kernel's run-time accounting on while the agent runs, and the runs it
     * reports of the ingress program are the frames a capture of the same interface saw arrive.
     */
    @Test
    void bpfStatsCountsEachRunWhileTheAgentRuns() throws Exception {
        Path config = Files.createTempFile("agent", ".yaml");
        Path enabled = Path.of("/proc/sys/kernel/bpf_stats_enabled");
        String before = Files.readString(enabled).strip();
        Files.writeString(config, "bpf_stats: true\ninterval: 0.5\nprobes: [packets]\n");
        try (Lab lab = Lab.create();
             var echo = Traffic.listen(lab.server(), Lab.SERVER_V4, 8080);
             Capture in = quietIpv6(lab) ? Capture.incoming(lab.serverNs(), lab.serverIf()) : null;
             TcpinspectProcess agent = TcpinspectProcess.start(lab.serverNs(), "agent", "-i", lab.serverIf(),
                     "--config", config.toString())) {
            awaitLog(agent, " info ready ", 30);
            assertEquals(10, Traffic.connect(lab.client(), Lab.SERVER_V4, 8080, 10));
            Thread.sleep(1500);
            in.stop();
            Map<String, Double> m = Http.series(Http.get(lab.serverNs(), URL + "/metrics").body());
            assertEquals(in.count("frame"), Http.value(m, "tcpinspect_bpf_program_runs_total{program=\"tcpi_tc_ingress\"}"),
                    in.describe("frame"));
            assertTrue(Http.value(m, "tcpinspect_bpf_program_run_seconds_total{program=\"tcpi_tc_ingress\"}") > 0);
            assertEquals(1.0, Http.value(m, "tcpinspect_bpf_stats_enabled"));
            agent.terminate();
            assertEquals(0, agent.waitFor(30), agent.stderr());
            // the sysctl shows what was written to it, not the kernel's switch, which the agent's fd holds
            assertEquals(before, Files.readString(enabled).strip(), "the sysctl untouched");
        } finally {
            Files.deleteIfExists(config);
        }
    }

    /**
     * No IPv6 on the client's side: its router solicitations and neighbour discovery would arrive at
     * times of their own, between the capture's start and the agent's, and every frame counts here.
     */
    private static boolean quietIpv6(Lab lab) {
        Cmd.run("ip", "netns", "exec", lab.clientNs(), "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1").ok();
        Cmd.run("ip", "netns", "exec", lab.clientNs(), "sysctl", "-qw", "net.ipv6.conf." + lab.clientIf()
                + ".disable_ipv6=1").ok();
        return true;
    }

    private static List<String> withArgs(List<String> command, String... args) {
        List<String> all = new java.util.ArrayList<>(command);
        all.addAll(List.of(args));
        return all;
    }

    private static double handshakes(Map<String, Double> m) {
        return Http.value(m, "tcpinspect_handshake_duration_seconds_count{direction=\"passive\"}");
    }

    private static List<String> probes(Http.KeepAlive http) {
        JsonNode snapshot = TcpinspectProcess.parse(http.get("/api/snapshot").body());
        List<String> names = new java.util.ArrayList<>();
        snapshot.get("probes").forEach(n -> names.add(n.asText()));
        return names;
    }

    /** The first stderr line holding the text, waiting up to the timeout. */
    static String awaitLog(TcpinspectProcess p, String text, int seconds) throws InterruptedException {
        long deadline = System.nanoTime() + seconds * 1_000_000_000L;
        while (System.nanoTime() < deadline) {
            for (String line : p.stderr().lines().toList()) {
                if (line.contains(text)) {
                    return line;
                }
            }
            Thread.sleep(100);
        }
        throw new AssertionError("no log line with '" + text + "' within " + seconds + " s; stderr: " + p.stderr());
    }
}
