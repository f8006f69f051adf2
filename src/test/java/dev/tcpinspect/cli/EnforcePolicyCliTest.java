package dev.tcpinspect.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.enforce.Enforcer;
import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.testing.Capture;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.RequiresBpf;
import dev.tcpinspect.testing.RunsBeside;
import dev.tcpinspect.testing.TcpinspectProcess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The enforcer's verdicts in the lab, judged by tools it did not write (curl's exit status, nmap's
 * port states, captures on both ends, the server's nstat, iptables' counters), and its policy
 * commands: what needs no host-wide look and no tight clock, so it runs beside the other tests
 * ({@link RunsBeside}; its enforcers' programs are held by their marked processes while they run,
 * and gone when they stop). The lab and helpers are {@link EnforcerLab}'s.
 */
@RequiresBpf
@RunsBeside
class EnforcePolicyCliTest extends EnforcerLab {

    @Test
    void allowedPrefixesGetThroughDeniedOnesDoNotAndAFailsafePortStaysOpenIpv4AndIpv6() throws Exception {
        httpServer(8080);
        httpServer(2222);
        Path p = policy(PREFIXES + "failsafe: [2222]\n");
        try (TcpinspectProcess enforcer = enforce(p)) {
            assertEquals(0, curl(Lab.CLIENT_V4, Lab.SERVER_V4, 8080), "allowed /24 inside a denied /15, IPv4");
            assertEquals(0, curl(Lab.CLIENT_V6, Lab.SERVER_V6, 8080), "allowed /64 inside a denied /32, IPv6");
            assertEquals(28, curl(DENIED_V4_CLIENT, DENIED_V4_SERVER, 8080), "denied IPv4 source: curl times out");
            assertEquals(28, curl(DENIED_V6_CLIENT, DENIED_V6_SERVER, 8080), "denied IPv6 source: curl times out");
            assertEquals(0, curl(DENIED_V4_CLIENT, DENIED_V4_SERVER, 2222), "a failsafe port stays open to a denied source");
            assertEquals(0, curl(DENIED_V6_CLIENT, DENIED_V6_SERVER, 2222), "a failsafe port stays open to a denied source");
            Map<String, Long> s = stats();
            assertTrue(s.get("denied") >= 2, "denied counted: " + s);
            assertTrue(s.get("failsafe") >= 2, "failsafe counted: " + s);
            assertEquals(s.get("packets"), s.get("passed") + s.get("dropped"), "every packet passed or dropped: " + s);
            String show = policyCommand("show").ok().out();
            assertTrue(show.contains("deny         198.18.0.0/15, fd00:7c1::/32"), show);
            assertTrue(show.contains("allow        198.18.0.0/24, fd00:7c1::/64"), show);
            assertTrue(show.contains("lookup       IPv4 direct, IPv6 direct\n"), show);
        }
    }

    @Test
    void portsNotServedAreFilteredAndTheServersStackNeverSeesTheirSyns() throws Exception {
        httpServer(8080);
        Path p = policy("services: [8080]\nfailsafe: [22]\n");
        try (TcpinspectProcess enforcer = enforce(p)) {
            long rstsBefore = serverCounter("TcpOutRsts");
            Capture sent = Capture.outgoing(lab.clientNs(), lab.clientIf());
            Capture arrived = Capture.incoming(lab.serverNs(), lab.serverIf());
            Cmd.Result nmap = Cmd.run(List.of("ip", "netns", "exec", lab.clientNs(), "nmap", "-n", "-Pn", "-sS",
                    "--max-retries", "1", "--host-timeout", "20s", "-p", "22,8080,9090,9091", Lab.SERVER_V4), 60).ok();
            sent.stop();
            arrived.stop();
            long rstsAfter = serverCounter("TcpOutRsts");
            assertTrue(nmap.out().matches("(?s).*8080/tcp\\s+open.*"), nmap.out());
            assertTrue(nmap.out().matches("(?s).*9090/tcp\\s+filtered.*"), nmap.out());
            assertTrue(nmap.out().matches("(?s).*9091/tcp\\s+filtered.*"), nmap.out());
            assertTrue(nmap.out().matches("(?s).*22/tcp\\s+closed.*"), "failsafe 22 is not filtered (nothing"
                    + " listens: the stack answers with a reset)\n" + nmap.out());
            String syn = Capture.SYN + " && (tcp.dstport == 9090 || tcp.dstport == 9091)";
            assertTrue(sent.count(syn) >= 2, "nmap sent SYNs to the ports not served: " + sent.count(syn));
            assertEquals(0, arrived.count(syn), "none reached the server's side of the veth");
            // The stack answered port 22's SYNs with resets, and nothing else: the filtered ports' SYNs never reached it.
            assertEquals(arrived.count(Capture.SYN + " && tcp.dstport == 22"), rstsAfter - rstsBefore,
                    "the server's stack sent one reset per SYN to the closed failsafe port and none for the filtered ports");
            assertTrue(stats().get("not_served") >= 2);
        }
    }

    @Test
    void aRefusedPolicyChangesNothing() throws Exception {
        Path p = policy(PREFIXES);
        try (TcpinspectProcess enforcer = enforce(p)) {
            String before = policyCommand("show").ok().out();
            Path bad = policy("services: [443, 70000]\n");
            Cmd.Result r = policyCommand("apply", bad.toString());
            assertEquals(2, r.exit());
            assertEquals("tcpinspect: " + bad + ":1: services: port 70000 is out of range (1 to 65535)", r.err().strip());
            assertEquals(before, policyCommand("show").ok().out());
            Cmd.Result badPrefix = policyCommand("deny", "10.0.0.1/8");
            assertEquals(2, badPrefix.exit());
            assertEquals(1, badPrefix.err().strip().lines().count(), badPrefix.err());
            assertEquals(before, policyCommand("show").ok().out());
        }
    }

    @Test
    void auditJudgesAndCountsButDropsNothing() throws Exception {
        httpServer(8080);
        try (TcpinspectProcess enforcer = enforce(policy(PREFIXES), "--audit")) {
            assertTrue(enforcer.lines().getFirst().startsWith("auditing"));
            assertEquals(0, curl(DENIED_V4_CLIENT, DENIED_V4_SERVER, 8080), "audit drops nothing");
            Map<String, Long> s = stats();
            assertTrue(s.get("denied") > 0, s.toString());
            assertEquals(0, s.get("dropped"), s.toString());
        }
    }

    @Test
    void perSourceConnectionLimitRefusesTheExtraConnectionWhileAnotherSourceIsServed() throws Exception {
        Path p = policy("limits:\n  per_source: {connections: 3}\n");
        try (TcpinspectProcess enforcer = enforce(p);
             var server = dev.tcpinspect.lab.Traffic.listen(lab.server(), "0.0.0.0", 7070)) {
            List<java.net.Socket> held = new ArrayList<>();
            try {
                for (int i = 0; i < 3; i++) {
                    held.add(lab.client().call(() -> connect(Lab.CLIENT_V4, Lab.SERVER_V4, 7070)));
                }
                Thread.sleep(200); // the server's side reaches ESTABLISHED
                assertThrows(java.net.SocketTimeoutException.class,
                        () -> lab.client().call(() -> connect(Lab.CLIENT_V4, Lab.SERVER_V4, 7070)));
                lab.client().call(() -> connect(DENIED_V4_CLIENT, DENIED_V4_SERVER, 7070)).close();
                held.removeFirst().close();
                // the server's side closes (it counts no more at TCP_CLOSE): the next connection gets in
                long deadline = System.nanoTime() + 5_000_000_000L;
                while (true) {
                    try {
                        lab.client().call(() -> connect(Lab.CLIENT_V4, Lab.SERVER_V4, 7070)).close();
                        break;
                    } catch (Exception refusedYet) {
                        if (System.nanoTime() > deadline) {
                            throw refusedYet;
                        }
                    }
                }
            } finally {
                for (java.net.Socket s : held) {
                    s.close();
                }
            }
            assertTrue(stats().get("conn_limited") >= 1);
        }
    }

    /**
     * Policy files mutated from the issue's example, applied to a running enforcer through the command
     * (in this JVM, 120 of them): each is applied (exit 0) or refused in one line (exit 2), never
     * another failure, and a refused one leaves the enforcer's tables exactly as they were.
     */
    @Test
    void mutatedPoliciesAreAppliedOrRefusedAndARefusalChangesNothing() throws Exception {
        Path p = policy(PREFIXES);
        try (TcpinspectProcess enforcer = enforce(p)) {
            byte[] example = (dev.tcpinspect.policy.PolicyFileTest.ISSUE_EXAMPLE + "syn_flood: {syn_per_second: 500}\n")
                    .getBytes(java.nio.charset.StandardCharsets.UTF_8);
            Path file = dir.resolve("fuzz.yaml");
            int applied = 0;
            int refused = 0;
            String before = tables();
            for (int seed = 0; seed < 120; seed++) {
                java.util.Random r = new java.util.Random(seed);
                Files.write(file, dev.tcpinspect.policy.PolicyFuzzTest.mutate(example, r, 1 + r.nextInt(6)));
                // its own stderr, not System.err: the tests beside this one write there too
                String[] args = {"policy", "apply", file.toString(), "--netns", lab.serverNs()};
                java.io.StringWriter errors = new java.io.StringWriter();
                picocli.CommandLine cli = Main.commandLine(args);
                cli.setErr(new java.io.PrintWriter(errors, true));
                int exit = cli.execute(args);
                String said = errors.toString().strip();
                if (exit == 0) {
                    applied++;
                    before = tables();
                } else {
                    refused++;
                    assertEquals(2, exit, "seed " + seed + ": " + said);
                    assertEquals(1, said.lines().count(), "seed " + seed + ": " + said);
                    assertTrue(said.startsWith("tcpinspect: " + file + ":"), "seed " + seed + ": " + said);
                    assertEquals(before, tables(), "seed " + seed + ": a refused policy changed the tables");
                }
            }
            assertTrue(applied > 0 && refused > 0, applied + " applied, " + refused + " refused");
        }
    }

    /**
     * Protocol identification: four service ports expecting tls, http (dropping misfits), http2 and ssh;
     * from the client, one connection that fits and one that does not per port (plain text to tls, a
     * TLS ClientHello to http, an HTTP request to ssh; http2's preface fits), each connection's first
     * payload in one write. Misfits are counted per source, and on the port that drops them the misfit
     * connection's data never reaches the server (a capture on its side).
     */
    @Test
    void firstPayloadsAreCheckedAgainstTheProtocolTheirPortExpects() throws Exception {
        String yaml = """
                services:
                  - {port: 8443, expect: tls}
                  - {port: 8080, expect: http, on_misfit: drop}
                  - {port: 8081, expect: http2}
                  - {port: 2200, expect: ssh}
                """;
        byte[] clientHello = {0x16, 3, 1, 0, 0x2e, 1, 0, 0, 0x2a, 3, 3};
        byte[] get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n".getBytes();
        try (TcpinspectProcess enforcer = enforce(policy(yaml));
             var tls = dev.tcpinspect.lab.Traffic.listen(lab.server(), "0.0.0.0", 8443);
             var http = dev.tcpinspect.lab.Traffic.listen(lab.server(), "0.0.0.0", 8080);
             var h2 = dev.tcpinspect.lab.Traffic.listen(lab.server(), "0.0.0.0", 8081);
             var ssh = dev.tcpinspect.lab.Traffic.listen(lab.server(), "0.0.0.0", 2200)) {
            Capture arrived = Capture.incoming(lab.serverNs(), lab.serverIf());
            send(8443, clientHello);                                   // fits
            send(8443, "hello\n".getBytes());                         // misfit, counted
            send(8080, get);                                           // fits
            send(8080, clientHello);                                   // misfit, dropped
            send(8081, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes()); // fits
            send(2200, "SSH-2.0-tcpinspect_test\r\n".getBytes());     // fits
            send(2200, get);                                           // misfit, counted
            Thread.sleep(300);
            arrived.stop();
            Map<String, Long> s = stats();
            assertEquals(3, s.get("misfit_connections"), s.toString());
            assertTrue(s.get("misfit") >= 1, "the misfit's segments to the dropping port were dropped: " + s);
            String out = policyCommand("stats").ok().out();
            assertTrue(out.contains("misfit connections by source\n3  " + Lab.CLIENT_V4), out);
            assertEquals(1, arrived.count("tcp.dstport == 8080 && tcp.len > 0"),
                    "only the fitting request's payload reached the server's side of port 8080");
            assertEquals(2, arrived.count("tcp.dstport == 8443 && tcp.len > 0"), "counted, not dropped");
            assertTrue(policyCommand("show").ok().out().contains(
                    "services     2200 (expects ssh), 8080 (expects http, drops misfits), 8081 (expects http2), 8443 (expects tls)"));
        }
    }

    /**
     * A mark rule's sources reach the server's stack with the mark, where netfilter matches it: an
     * iptables counter on mark 0x2a counts every packet of the marked source that a capture on the
     * server's side saw arrive, and one on mark 0 every packet of a source no mark covers.
     */
    @Test
    void aMarkRuleMarksItsSourcesPacketsForNetfilterAndIpRule() throws Exception {
        httpServer(8080);
        Cmd.run("ip", "netns", "exec", lab.serverNs(), "iptables", "-w", "-t", "mangle", "-A", "PREROUTING", "-p", "tcp",
                "--dport", "8080", "-m", "mark", "--mark", "0x2a").ok();
        Cmd.run("ip", "netns", "exec", lab.serverNs(), "iptables", "-w", "-t", "mangle", "-A", "PREROUTING", "-p", "tcp",
                "--dport", "8080", "-s", DENIED_V4_CLIENT, "-m", "mark", "--mark", "0").ok();
        try (TcpinspectProcess enforcer = enforce(policy("mark: [{prefix: 198.18.0.0/24, mark: 0x2a, name: lab}]\n"))) {
            Capture arrived = Capture.incoming(lab.serverNs(), lab.serverIf());
            assertEquals(0, curl(Lab.CLIENT_V4, Lab.SERVER_V4, 8080));
            assertEquals(0, curl(DENIED_V4_CLIENT, DENIED_V4_SERVER, 8080));
            Thread.sleep(300); // the connections' last ACKs, which can come after curl exits, reach both counts
            arrived.stop();
            long marked = arrived.count("ip.src == " + Lab.CLIENT_V4 + " && tcp.dstport == 8080");
            long unmarked = arrived.count("ip.src == " + DENIED_V4_CLIENT + " && tcp.dstport == 8080");
            assertTrue(marked >= 5 && unmarked >= 5, marked + " and " + unmarked + " packets: two whole requests");
            String counters = Cmd.run("ip", "netns", "exec", lab.serverNs(), "iptables", "-w", "-t", "mangle", "-L",
                    "PREROUTING", "-v", "-n", "-x").ok().out();
            Matcher m = Pattern.compile("(?m)^\\s*(\\d+)\\s+\\d+\\s.*mark match 0x(2a|0)\\b").matcher(counters);
            Map<String, Long> byMark = new TreeMap<>();
            while (m.find()) {
                byMark.put(m.group(2), Long.parseLong(m.group(1)));
            }
            assertEquals(Map.of("2a", marked, "0", unmarked), byMark, counters);
            assertEquals(marked, stats().get("marked"));
            assertTrue(policyCommand("show").ok().out().contains("mark         198.18.0.0/24 mark 0x2a (lab)"),
                    policyCommand("show").out());
        }
    }

    /**
     * `enforce ... | head -n 1`: once the output's reader is gone the enforcer stops as on Ctrl-C,
     * quietly (nothing on stderr), exit 0, everything removed, within the next counters line.
     */
    @Test
    void aClosedPipeEndsEnforceQuietly() throws Exception {
        Path p = policy(PREFIXES);
        Path err = dir.resolve("enforcer.err");
        String script = TcpinspectProcess.shellLine(enforceCommand(p, "--interval", "1")) + " 2> " + err
                + " | head -n 1; echo \"status ${PIPESTATUS[0]}\"";
        try (TcpinspectProcess pipeline = TcpinspectProcess.startCommand(List.of("bash", "-c", script))) {
            assertEquals(0, pipeline.waitFor(30), pipeline.stderr());
            assertEquals(2, pipeline.lines().size(), pipeline.lines().toString());
            assertTrue(pipeline.lines().get(0).startsWith("enforcing"), pipeline.lines().toString());
            assertEquals("status 0", pipeline.lines().get(1));
        }
        assertEquals("", Files.readString(err));
        assertNothingLeft();
    }

    /**
     * The commands that act on a running enforcer, writing into a pipe whose reader has already gone
     * (`| true`, which ends long before a JVM starts, so every write fails with EPIPE): each still
     * does its work, ends with its usual status, and says nothing on stderr, as `ls | true` does.
     * `policy deny` through that pipe still denies (show, read after, names the source).
     */
    @Test
    void policyCommandsIntoAClosedPipeEndQuietlyAndStillAct() throws Exception {
        try (TcpinspectProcess enforcer = enforce(policy(PREFIXES))) {
            for (List<String> args : List.of(List.of("show"), List.of("stats"), List.of("deny", "203.0.113.9/32"),
                    List.of("check", policy(PREFIXES).toString()))) {
                List<String> command = new ArrayList<>(TcpinspectProcess.javaCommand());
                command.add("policy");
                command.addAll(args);
                if (!args.getFirst().equals("check")) {
                    command.addAll(List.of("--netns", lab.serverNs()));
                }
                Cmd.Result r = Cmd.run(List.of("bash", "-c", TcpinspectProcess.shellLine(command)
                        + " | true; echo \"status ${PIPESTATUS[0]}\""), 60);
                assertEquals("status 0", r.out().strip(), args + ": " + r.err());
                assertEquals("", r.err(), args + ": nothing on stderr");
            }
            assertTrue(policyCommand("show").ok().out().contains("203.0.113.9"), "the deny through a closed pipe was applied");
            enforcer.terminate();
            assertEquals(0, enforcer.waitFor(30), enforcer.stderr());
        }
        assertNothingLeft();
    }
    /**
     * Fuzzed policy files given to the enforcer as a process, at its start (--policy) and on SIGHUP:
     * empty, binary, random text, huge, deeply nested, mutated from a good one, a folder, a missing
     * file. A start either enforces (then stops cleanly) or is refused in one line naming the file,
     * exit status 2, with nothing attached or pinned; a reload either applies or is refused in one
     * line, and the policy in force stays (curl from the denied source still times out).
     */
    @Test
    void fuzzedPolicyFilesAreRefusedInOneLineAtTheStartAndOnSighupChangingNothing() throws Exception {
        java.util.Random random = new java.util.Random(Long.getLong("fuzz.seed", 20261202L));
        byte[] good = PREFIXES.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        // what no reading can take for a policy: refused at the start and on SIGHUP alike
        List<Path> unusable = dev.tcpinspect.policy.PolicyFuzzTest.unusableFiles(dir, random, "deny", "10.0.0.0/8");
        List<Path> files = new ArrayList<>(unusable);
        files.add(Files.write(dir.resolve("fuzz-empty.yaml"), new byte[0]));
        for (int i = 0; i < 3; i++) {
            files.add(Files.write(dir.resolve("fuzz-mutated" + i + ".yaml"),
                    dev.tcpinspect.policy.PolicyFuzzTest.mutate(good, random, 1 + random.nextInt(4))));
        }
        Map<String, Integer> outcomes = new TreeMap<>();
        for (Path file : files) {
            try (TcpinspectProcess p = TcpinspectProcess.start(null, "enforce", "--policy", file.toString(), "-i",
                    lab.serverIf(), "--netns", lab.serverNs(), "--interval", "0").stoppedOnClose()) {
                long deadline = System.nanoTime() + 30_000_000_000L; // a huge file takes its time to be read
                while (p.lines().stream().noneMatch(l -> l.startsWith("enforcing")) && !p.exitsWithin(0)) {
                    assertTrue(System.nanoTime() < deadline, file + ": neither enforcing nor refused: " + p.stderr());
                    Thread.sleep(50);
                }
                if (p.lines().stream().noneMatch(l -> l.startsWith("enforcing"))) {
                    int exit = p.waitFor(10);
                    String err = p.stderr().strip();
                    assertEquals(2, exit, file + ": " + err);
                    assertEquals(1, err.lines().count(), file + ": " + err);
                    assertTrue(err.startsWith("tcpinspect: ") && err.contains(file.toString()), file + ": " + err);
                    outcomes.merge("refused", 1, Integer::sum);
                } else {
                    assertFalse(unusable.contains(file), file + " enforced: " + p.lines());
                    p.terminate();
                    assertEquals(0, p.waitFor(20), file + ": " + p.stderr());
                    outcomes.merge("enforced", 1, Integer::sum);
                }
            }
            assertNothingLeft();
        }

        httpServer(8080);
        Path policy = policy(PREFIXES);
        List<Path> refusedOnReload = new ArrayList<>();
        try (TcpinspectProcess enforcer = enforce(policy)) {
            long program = xdpProgramId();
            for (Path file : files) {
                Files.deleteIfExists(policy);
                if (Files.isDirectory(file)) {
                    Files.createDirectory(policy);
                } else if (Files.exists(file)) {
                    Files.copy(file, policy);
                }
                String before = enforcer.stderr();
                int reloaded = (int) enforcer.lines().stream().filter(l -> l.contains(" reloaded ")).count();
                Cmd.run("kill", "-HUP", Long.toString(enforcer.pid())).ok();
                long deadline = System.nanoTime() + 20_000_000_000L;
                while (enforcer.stderr().equals(before)
                        && enforcer.lines().stream().filter(l -> l.contains(" reloaded ")).count() == reloaded) {
                    assertTrue(System.nanoTime() < deadline, "no reload line for " + file + ": " + enforcer.stderr());
                    Thread.sleep(50);
                }
                String said = enforcer.stderr().substring(before.length()).strip();
                if (!said.isEmpty()) {
                    assertEquals(1, said.lines().count(), file + ": " + said);
                    assertTrue(said.startsWith("tcpinspect: reload refused, the running policy is kept: " + policy), said);
                    refusedOnReload.add(file);
                } else {
                    // applied (a mutation that is still a policy): the next file is judged against it; put the
                    // denying one back, as the last reload standing
                    Files.writeString(policy, PREFIXES);
                    Cmd.run("kill", "-HUP", Long.toString(enforcer.pid())).ok();
                    awaitReloads(enforcer, reloaded + 2);
                }
                if (Files.isDirectory(policy)) {
                    Files.delete(policy);
                }
            }
            assertTrue(refusedOnReload.containsAll(unusable), "refused on SIGHUP: " + refusedOnReload);
            assertTrue(ProcessHandle.of(enforcer.pid()).map(ProcessHandle::isAlive).orElse(false),
                    "still enforcing: " + enforcer.stderr());
            assertEquals(program, xdpProgramId(), "the same XDP program throughout");
            assertEquals(28, curl(DENIED_V4_CLIENT, DENIED_V4_SERVER, 8080), "the denying policy still in force");
            assertEquals(0, curl(null, Lab.SERVER_V4, 8080), "and the lab's client served");
        }
        System.out.println("policy fuzz through enforce: starts " + outcomes + "; on SIGHUP " + refusedOnReload.size()
                + " of " + files.size() + " refused, the policy in force kept");
        Files.delete(dir.resolve("unusable-folder.yaml"));
    }

    private static void awaitReloads(TcpinspectProcess enforcer, int n) throws InterruptedException {
        long deadline = System.nanoTime() + 20_000_000_000L;
        while (enforcer.lines().stream().filter(l -> l.contains(" reloaded ")).count() < n) {
            assertTrue(System.nanoTime() < deadline, "reloaded " + n + " times: " + enforcer.lines());
            Thread.sleep(50);
        }
    }
}
