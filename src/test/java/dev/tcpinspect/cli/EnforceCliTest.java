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
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The XDP enforcer in the lab, judged by tools it did not write: curl's exit status, nmap's port
 * states, captures on both ends (what the client sent, what reached the server's stack), the
 * server's own TCP counters (nstat), hping3, bpftool and ip link for what stays attached.
 * What outlives or outruns a process, what the host sees and what is timed: kill -9 and takeover,
 * cleanup, deleted namespaces and interfaces, live updates, rates, floods and signals. The policy's
 * verdicts alone, beside the other tests, are in {@link EnforcePolicyCliTest}; the lab in {@link
 * EnforcerLab}.
 */
@RequiresBpf
class EnforceCliTest extends EnforcerLab {

    /**
     * An interface deleted under the enforcer: a line says so, the other interface stays protected,
     * the deleted one's pins go, and a stop leaves nothing.
     */
    @Test
    void anInterfaceDeletedUnderTheEnforcerIsReportedAndTheOthersStayProtected() throws Exception {
        // a second veth pair inside the server's namespace (this kernel has no dummy devices)
        String dummy = "td" + java.util.UUID.randomUUID().toString().substring(0, 6);
        Cmd.run("ip", "-n", lab.serverNs(), "link", "add", dummy, "type", "veth", "peer", "name", dummy + "p").ok();
        Cmd.run("ip", "-n", lab.serverNs(), "link", "set", dummy, "up").ok();
        Path p = policy("services: [8080]\n");
        List<String> args = new ArrayList<>(List.of("enforce", "--policy", p.toString(), "-i", lab.serverIf() + "," + dummy,
                "--netns", lab.serverNs(), "--interval", "0"));
        try (TcpinspectProcess enforcer = TcpinspectProcess.start(null, args.toArray(String[]::new))) {
            awaitLine(enforcer, "enforcing");
            assertTrue(Files.exists(folder().resolve("link-xdp-" + dummy)), "pinned on both");
            Cmd.run("ip", "-n", lab.serverNs(), "link", "del", dummy).ok();
            String line = awaitLine(enforcer, "interface " + dummy + " gone");
            assertTrue(line.endsWith("gone (deleted or moved): still enforcing on " + lab.serverIf()), line);
            assertFalse(Files.exists(folder().resolve("link-xdp-" + dummy)), "its pin removed");
            assertEquals(2, Traffic.unansweredConnects(lab.client(), Lab.SERVER_V4, 9090, 2, 300), "still protected");
            assertEquals(2, stats().get("not_served"));
            enforcer.terminate();
            assertEquals(0, enforcer.waitFor(30), enforcer.stderr());
        }
        assertFalse(Files.exists(folder()), "nothing pinned");
        assertFalse(xdpOnServer().contains("xdp"), "nothing attached: " + xdpOnServer());
    }

    /**
     * --events and --pcap: each SYN the service filter drops is a line (reason, endpoints and flags as
     * the client's capture has them) and a packet in the file with its reason, headers only (a
     * segment with payload too: not one payload byte leaves the kernel unasked); past
     * --events-rate a second on each CPU the copies are counted as skipped, and every drop is either.
     */
    @Test
    void droppedPacketsAreSampledAsEventsAndIntoAPcap() throws Exception {
        Path p = policy("services: [8080]\n");
        Path file = dir.resolve("dropped.pcapng");
        Capture sent = Capture.outgoing(lab.clientNs(), lab.clientIf());
        try (TcpinspectProcess enforcer = enforce(p, "--events", "--events-rate", "4", "--pcap", file.toString())) {
            assertEquals(3, Traffic.unansweredConnects(lab.client(), Lab.SERVER_V4, 9090, 3, 300));
            assertEquals(1, Traffic.unansweredConnects(lab.client(), Lab.SERVER_V6, 9091, 1, 300));
            sent.stop();
            for (String line : sent.fields(Capture.SYN, "ip.src", "ipv6.src", "tcp.srcport", "tcp.dstport")) {
                String[] f = line.split("\t", -1);
                String source = f[0].isEmpty() ? "[" + f[1] + "]:" + f[2] : f[0] + ":" + f[2];
                awaitLine(enforcer, "drop not_served " + Pattern.quote(source) + " > .*:" + f[3] + " tcp \\[S\\] on "
                        + Pattern.quote(lab.serverIf()) + "$");
            }
            // a SYN carrying 200 bytes (the filter judges opening segments) to a port not served, once
            // the second's samples are spent: its copy must be headers only (below)
            Thread.sleep(1100);
            Cmd.run(List.of("ip", "netns", "exec", lab.clientNs(), "hping3", "-I", lab.clientIf(), "-q", "-S",
                    "-d", "200", "-p", "9093", "-c", "1", Lab.SERVER_V4), 30);
            awaitLine(enforcer, "drop not_served .* > .*:9093 tcp \\[S\\] on " + Pattern.quote(lab.serverIf()) + "$");
            // a burst past the rate: sampled, the rest counted
            Cmd.run(List.of("ip", "netns", "exec", lab.clientNs(), "hping3", "-I", lab.clientIf(),
                    "-q", "-S", "-p", "9092", "-c", "40", "-i",
                    "u2000", Lab.SERVER_V4), 30);
            Thread.sleep(300);
            Map<String, Long> stats = stats();
            long lines = enforcer.lines().stream().filter(l -> l.contains(" drop not_served ")).count();
            assertEquals(stats.get("not_served"), lines + stats.get("capture_skipped") + stats.get("capture_lost"),
                    stats + " " + lines);
            assertTrue(stats.get("capture_skipped") > 0 && lines < 4 + 40, stats.toString());
            enforcer.terminate();
            assertEquals(0, enforcer.waitFor(30), enforcer.stderr());
            assertTrue(enforcer.stderr().contains(lines + " dropped packets written to " + file), enforcer.stderr());
            List<String> packets = PcapCliTest.tshark(file, "frame.comment", "tcp.flags.str", "frame.cap_len", "frame.len",
                    "tcp.dstport");
            assertEquals(lines, packets.size(), packets.toString());
            int withPayload = 0;
            for (String packet : packets) {
                String[] f = packet.split("\t", -1);
                assertEquals("policy not_served", f[0], packet);
                assertTrue(f[1].contains("S"), packet);
                if (f[4].equals("9093")) {
                    withPayload++;
                    assertEquals("254", f[3], "the segment as sent: 14 + 20 + 20 + 200 bytes: " + packet);
                    assertEquals("54", f[2], "its copy: headers only, not one payload byte: " + packet);
                } else {
                    assertEquals(f[2], f[3], "a SYN without data is all headers: " + packet);
                }
            }
            assertEquals(1, withPayload, packets.toString());
        }
    }

    /**
     * hping3's fragmented SYNs (-f: 16 bytes of TCP a fragment, so the flags ride in the second):
     * without the enforcer the server's stack reassembles them and answers port 9090's SYNs with
     * resets (its IpReasmOKs and TcpOutRsts, read with nstat, rise by one each); with a policy that
     * serves only 8080 the first fragments are dropped as unjudgeable and the stack reassembles and
     * answers nothing.
     */
    @Test
    void fragmentedSynsCannotSlipPastTheServiceFilter() throws Exception {
        List<String> hping = List.of("ip", "netns", "exec", lab.clientNs(), "hping3", "-I", lab.clientIf(),
                "-q", "-S", "-p", "9090", "-f",
                "-c", "3", "-i", "u200000", Lab.SERVER_V4);
        long reassembledBefore = serverCounter("IpReasmOKs");
        long rstsBefore = serverCounter("TcpOutRsts");
        Cmd.run(hping, 30);
        Thread.sleep(300);
        assertEquals(3, serverCounter("IpReasmOKs") - reassembledBefore, "the control: the stack reassembles them");
        assertEquals(3, serverCounter("TcpOutRsts") - rstsBefore, "the control: and answers each SYN with a reset");
        Path p = policy("services: [8080]\n");
        try (TcpinspectProcess enforcer = enforce(p)) {
            long reassembled = serverCounter("IpReasmOKs");
            long rsts = serverCounter("TcpOutRsts");
            Capture sent = Capture.outgoing(lab.clientNs(), lab.clientIf());
            Cmd.run(hping, 30);
            Thread.sleep(300);
            sent.stop();
            assertTrue(sent.count("ip.flags.mf == 1 && ip.frag_offset == 0") >= 3, "hping3 sent its first fragments");
            assertEquals(0, serverCounter("IpReasmOKs") - reassembled, "nothing reassembled");
            assertEquals(0, serverCounter("TcpOutRsts") - rsts, "nothing answered");
            assertEquals(3, stats().get("unjudgeable"), stats().toString());
        }
    }

    @Test
    void killNineLeavesThePolicyInForceARestartTakesItOverAndStopRemovesEverything() throws Exception {
        httpServer(8080);
        Path p = policy(PREFIXES);
        TcpinspectProcess first = enforce(p);
        first.kill9();
        first.close();
        assertTrue(xdpOnServer().contains("name tcpi_enforce"), "XDP stays attached after kill -9: " + xdpOnServer());
        assertEquals(28, curl(DENIED_V4_CLIENT, DENIED_V4_SERVER, 8080), "denied stays denied without the process");
        assertEquals(0, curl(Lab.CLIENT_V4, Lab.SERVER_V4, 8080));

        try (TcpinspectProcess second = enforce(p)) {
            assertTrue(awaitLine(second, "enforcing").contains("taking over"), second.lines().toString());
            assertEquals(28, curl(DENIED_V4_CLIENT, DENIED_V4_SERVER, 8080));
            Cmd.Result stop = TcpinspectProcess.run(null, "enforce", "stop", "--netns", lab.serverNs());
            assertEquals(0, stop.exit(), stop.err());
            assertTrue(stop.out().contains("pid " + second.pid()), stop.out());
            assertEquals(0, second.waitFor(20), "the running enforcer stops on enforce stop: " + second.stderr());
            assertTrue(second.lines().getLast().startsWith("stopped:"), second.lines().toString());
        }
        assertFalse(xdpOnServer().contains("xdp"), "nothing attached: " + xdpOnServer());
        assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()), "nothing attached");
        assertFalse(Files.exists(folder()), "nothing pinned");
        assertFalse(Files.exists(Path.of("/run/tcpinspect/enforce", folder().getFileName() + ".lock")), "no lock file");
        // (but those of the enforcers running beside this test: Cmd.heldBeside)
        assertEquals("", Cmd.programsNamedLike(n -> n.startsWith("tcpi_enforce")), "no program left");
        assertEquals(0, curl(DENIED_V4_CLIENT, DENIED_V4_SERVER, 8080), "traffic flows again");
        assertEquals("no enforcer in this network namespace: nothing to stop",
                TcpinspectProcess.run(null, "enforce", "stop", "--netns", lab.serverNs()).ok().out().strip());
    }

    /**
     * kill -9 at random moments of the enforcer's start (from the JVM's start to pinned and attached)
     * and of its stop (after SIGTERM: detaching, unpinning), 20 times: no start ever fails on what the
     * last one left, nothing ever stacks (its mark program, a pinned tcx link, at most once on the
     * host; its tracepoint twins at most once), and afterwards a start enforces the policy (curl) and `enforce
     * stop` leaves nothing. As the watch's 50 kills in FaultInjectionCliTest, for what outlives its process.
     */
    @Test
    void killNineAtRandomMomentsOfStartAndStopLeavesNothingThatStacks() throws Exception {
        httpServer(8080);
        Path p = policy(PREFIXES);
        java.util.Random random = new java.util.Random(Long.getLong("fuzz.seed", 20261202L));
        int killedStarting = 0;
        int killedStopping = 0;
        int markSeen = 0;
        for (int i = 0; i < 20; i++) {
            TcpinspectProcess enforcer = TcpinspectProcess.start(null, "enforce", "--policy", p.toString(), "-i",
                    lab.serverIf(), "--netns", lab.serverNs(), "--interval", "0");
            if (random.nextInt(3) == 0) {
                awaitLine(enforcer, "enforcing");
                enforcer.terminate();
                Thread.sleep(random.nextInt(300)); // somewhere in the stop: detaching, unpinning
                killedStopping++;
            } else {
                Thread.sleep(random.nextInt(2000)); // somewhere from the JVM's start to enforcing
                killedStarting++;
            }
            if (enforcer.exitsWithin(0)) { // the stop was done before the kill: cleanly
                assertEquals(0, enforcer.waitFor(5), "round " + i + ": it ended by itself: " + enforcer.stderr());
            }
            enforcer.kill9();
            enforcer.close();
            // (bpftool 7.1's net show lists no tcx link: the host's link list does, less what the
            // enforcers running beside this test hold)
            List<String> marks = Cmd.tcxProgramNames().stream().filter(n -> n.equals("tcpi_enforce_mark")).toList();
            assertTrue(marks.size() <= 1, "round " + i + ": nothing stacks: " + marks);
            markSeen += marks.size(); // the check sees the link when there is one (a kill -9 leaves it pinned)
            String programs = Cmd.programsNamedLike(n -> n.startsWith("tcpi_enforce_state")); // and its _twin
            assertTrue(programs.lines().count() <= 2, "round " + i + ": one twin pair counts connections: " + programs);
        }
        try (TcpinspectProcess last = enforce(p)) {
            assertEquals(List.of("tcpi_enforce_mark"), Cmd.tcxProgramNames().stream()
                    .filter(n -> n.startsWith("tcpi_enforce")).toList(), "the check above sees a running enforcer's mark link");
            assertEquals(28, curl(DENIED_V4_CLIENT, DENIED_V4_SERVER, 8080), "the policy holds after the kills");
            assertEquals(0, curl(Lab.CLIENT_V4, Lab.SERVER_V4, 8080));
            Cmd.Result stop = TcpinspectProcess.run(null, "enforce", "stop", "--netns", lab.serverNs());
            assertEquals(0, stop.exit(), stop.err());
            assertEquals(0, last.waitFor(20), last.stderr());
        }
        assertNothingLeft();
        assertEquals(0, curl(DENIED_V4_CLIENT, DENIED_V4_SERVER, 8080), "traffic flows again");
        System.out.printf("enforce kill -9: %d while starting, %d while stopping, its mark link left pinned after %d;"
                + " nothing stacked, stop left nothing%n", killedStarting, killedStopping, markSeen);
        assertTrue(killedStarting > 6 && killedStopping > 3, killedStarting + " / " + killedStopping);
    }

    /**
     * The folder is named by the namespace's inode, which a new namespace gets once the old one is
     * gone: what a killed enforcer of a deleted namespace left there is not taken over, nor shown by
     * the policy commands; while that enforcer's process runs, a start is refused; enforce stop removes
     * such pins without signalling the pid they name. Made here by writing another namespace's cookie
     * into the pinned one (a test cannot make the kernel reuse an inode).
     */
    @Test
    void aDeletedNamespacesEnforcerThatHadTheSameInodeIsNotTakenOver() throws Exception {
        httpServer(8080);
        Path p = policy(PREFIXES);
        TcpinspectProcess first = enforce(p);
        markAnotherNamespaces();
        Cmd.Result show = policyCommand("show");
        assertEquals(1, show.exit(), show.err());
        assertTrue(show.err().contains("holds a deleted namespace's, which had the same inode"), show.err());
        // while its process runs, its pins are not taken (it would remove them, whoever's they were, at its end)
        Cmd.Result refused = TcpinspectProcess.run(null, "enforce", "--policy", p.toString(), "-i", lab.serverIf(),
                "--netns", lab.serverNs(), "--interval", "0");
        assertEquals(1, refused.exit(), refused.err());
        assertTrue(refused.err().contains("still runs (pid " + first.pid() + ")"), refused.err());
        first.kill9();
        first.close();

        try (TcpinspectProcess second = enforce(policy("services: [8080]\n"))) {
            String line = awaitLine(second, "enforcing");
            assertTrue(line.contains("after removing a deleted network namespace's enforcer that had this one's inode"), line);
            assertFalse(line.contains("taking over"), line);
            assertEquals(0, curl(DENIED_V4_CLIENT, DENIED_V4_SERVER, 8080), "the old policy's denials are gone with it");
            assertEquals(28, curl(Lab.CLIENT_V4, Lab.SERVER_V4, 9090), "the new policy is in force");
            assertTrue(policyCommand("show").ok().out().contains("8080"), "and the policy commands see it");

            // enforce stop on a deleted namespace's pins removes them and signals nobody (its pid may be another's)
            markAnotherNamespaces();
            Cmd.Result stop = TcpinspectProcess.run(null, "enforce", "stop", "--netns", lab.serverNs()).ok();
            assertTrue(stop.out().contains("(no process signalled)"), stop.out());
            assertFalse(second.exitsWithin(2), "not signalled");
            assertFalse(Files.exists(folder()), "its pins removed");
            second.terminate(); // it ends as it would have: what it holds goes, and no lock file is left in /run
            assertEquals(0, second.waitFor(20), second.stderr());
        }
        assertFalse(Files.exists(Path.of("/run/tcpinspect/enforce", folder().getFileName() + ".lock")), "no lock file");
    }

    /**
     * A namespace deleted under a killed enforcer: its XDP links lose their interfaces, but its
     * connection counting stays on the tracepoints, pinned, with nobody able to name the namespace to
     * stop it; cleanup removes it, and leaves a live namespace's killed enforcer alone.
     */
    @Test
    void cleanupRemovesTheEnforcerOfADeletedNamespaceAndOnlyThat() throws Exception {
        Path p = policy("services: [8080]\n");
        TcpinspectProcess live = enforce(p);
        live.kill9();
        live.close();
        Path gone;
        try (Lab other = Lab.create()) {
            gone = Enforcer.folder(other.server().inode());
            TcpinspectProcess first = TcpinspectProcess.start(null, "enforce", "--policy", p.toString(), "-i",
                    other.serverIf(), "--netns", other.serverNs(), "--interval", "0");
            awaitLine(first, "enforcing");
            first.kill9();
            first.close();
        }
        assertTrue(Files.exists(gone), "kill -9 left its pins");
        String counting = Cmd.programsNamedLike(n -> n.startsWith("tcpi_enforce_state"));
        assertEquals(4, counting.lines().count(), "both killed enforcers' twin pairs still count: " + counting);
        Cmd.Result cleanup = TcpinspectProcess.run(null, "cleanup").ok();
        assertTrue(cleanup.out().contains("removed the enforcer a deleted network namespace left in " + gone), cleanup.out());
        assertFalse(cleanup.out().contains(folder().toString()), "the live namespace's is left alone: " + cleanup.out());
        assertFalse(Files.exists(gone), "its pins are gone");
        assertTrue(Files.exists(folder()), "the live namespace's enforcer is still pinned");
        assertTrue(xdpOnServer().contains("name tcpi_enforce"), "and still enforcing: " + xdpOnServer());
        assertEquals(28, curl(Lab.CLIENT_V4, Lab.SERVER_V4, 9090));
        // tcpi_enforce_state and its _twin (the enforcers beside this test left out)
        String programs = Cmd.programsNamedLike(n -> n.startsWith("tcpi_enforce_state"));
        assertEquals(2, programs.lines().count(), "only the live enforcer's twin pair counts connections: " + programs);
    }

    @Test
    void liveDenyCutsASourceAtOnceWhileAnotherKeepsBeingServedAndApplySwapsThePolicy() throws Exception {
        httpServer(8080);
        Path p = policy("default: allow\n");
        try (TcpinspectProcess enforcer = enforce(p)) {
            assertEquals(0, curl(DENIED_V4_CLIENT, DENIED_V4_SERVER, 8080));
            // wrk from the allowed client for the whole change: it must see no error.
            Process wrk = new ProcessBuilder("ip", "netns", "exec", lab.clientNs(), "wrk", "-t1", "-c4", "-d6s",
                    "http://" + Lab.SERVER_V4 + ":8080/").redirectErrorStream(true).start();
            Thread.sleep(1000);
            Cmd.Result deny = policyCommand("deny", DENIED_V4_CLIENT + "/32");
            long deniedAt = System.nanoTime();
            assertEquals(0, deny.exit(), deny.err());
            // The denied source's next connection, started right after the command returned, fails.
            assertEquals(28, curl(DENIED_V4_CLIENT, DENIED_V4_SERVER, 8080));
            assertTrue(System.nanoTime() - deniedAt < 3_000_000_000L);
            Cmd.Result apply = policyCommand("apply", policy("services: [8080]\n").toString());
            assertEquals(0, apply.exit(), apply.err());
            assertEquals(28, curl(DENIED_V4_CLIENT, DENIED_V4_SERVER, 8080), "live entries survive an apply");
            assertTrue(policyCommand("show").ok().out().contains("services     8080"));
            assertEquals(0, policyCommand("delete", DENIED_V4_CLIENT).exit());
            assertEquals(0, curl(DENIED_V4_CLIENT, DENIED_V4_SERVER, 8080), "deleted: served again");
            String wrkOut = new String(wrk.getInputStream().readAllBytes());
            assertEquals(0, wrk.waitFor());
            assertFalse(wrkOut.contains("Socket errors") || wrkOut.contains("Non-2xx"), wrkOut);
            assertTrue(wrkOut.matches("(?s).*\\d+ requests in.*"), wrkOut);
        }
    }

    @Test
    void newConnectionsPerSecondPassAtTheConfiguredRate() throws Exception {
        Path p = policy("limits:\n  per_source: {new_per_second: 100}\n");
        try (TcpinspectProcess enforcer = enforce(p)) {
            Capture leaving = Capture.outgoing(lab.clientNs(), lab.clientIf());
            Capture arrived = Capture.incoming(lab.serverNs(), lab.serverIf());
            // 1,000 SYNs a second for 3 s from one source, to a port nothing listens on.
            Cmd.run(List.of("ip", "netns", "exec", lab.clientNs(), "hping3", "-I", lab.clientIf(),
                    "-q", "-S", "-p", "7071", "-i", "u1000",
                    "-c", "3000", Lab.SERVER_V4), 60);
            leaving.stop();
            arrived.stop();
            String syn = Capture.SYN + " && tcp.dstport == 7071";
            List<String> times = leaving.fields(syn, "frame.time_epoch");
            long sent = times.size();
            // How long the SYNs took to send, from the client's capture (hping3's own run has a second of waiting at its end).
            double seconds = Double.parseDouble(times.getLast()) - Double.parseDouble(times.getFirst());
            long passed = arrived.count(syn);
            // A bucket of one second's worth (100) full at the start, then 100 a second.
            double expected = 100 + 100 * seconds;
            assertTrue(Math.abs(passed - expected) <= 0.1 * expected, "passed " + passed + " of " + sent
                    + " SYNs in " + seconds + " s; expected " + expected + " within 10%");
            assertTrue(stats().get("rate_limited") >= sent - passed - sent / 100);
        }
    }

    /**
     * auto_block: nmap's SYN scan of 100 closed ports from the client makes the scan probe raise an
     * alert naming it (its default threshold: 15 closed ports within 5 s); the enforcer denies it live
     * for the policy's TTL, so its next request to a served port fails, while a failsafe port stays
     * open to it and another source is still served. A reload (SIGHUP) of the file without auto_block
     * stops it: a second scanner is not denied, and the first one's live deny stays.
     */
    @Test
    void autoBlockDeniesTheSourceAScanAlertNamesForTheTtl() throws Exception {
        httpServer(8080);
        httpServer(2222);
        Path file = policy("failsafe: [2222]\nauto_block: {ttl: 2m}\n");
        try (TcpinspectProcess enforcer = enforce(file)) {
            assertEquals(0, curl(Lab.CLIENT_V4, Lab.SERVER_V4, 8080));
            Cmd.run(List.of("ip", "netns", "exec", lab.clientNs(), "nmap", "-n", "-Pn", "-sS", "--max-retries", "0",
                    "-p", "3000-3099", "-S", Lab.CLIENT_V4, "-e", lab.clientIf(), Lab.SERVER_V4), 60).ok();
            String line = awaitLine(enforcer, "auto_block: denied " + Pattern.quote(Lab.CLIENT_V4) + " for 2m");
            assertTrue(line.contains("port scan"), line);
            assertEquals(28, curl(Lab.CLIENT_V4, Lab.SERVER_V4, 8080), "the scanner is denied");
            assertEquals(0, curl(Lab.CLIENT_V4, Lab.SERVER_V4, 2222), "a failsafe port stays open to it");
            assertEquals(0, curl(DENIED_V4_CLIENT, DENIED_V4_SERVER, 8080), "another source is served");
            String show = policyCommand("show").ok().out();
            assertTrue(show.matches("(?s).*live         deny " + Pattern.quote(Lab.CLIENT_V4) + "/32 \\(1[01]\\ds left\\).*"),
                    show);

            // SIGHUP with auto_block taken out of the file: the same scan from the other source is no
            // longer answered by a deny (it would be within a second), and the live deny stays
            Files.writeString(file, "failsafe: [2222]\n");
            Cmd.run("kill", "-HUP", Long.toString(enforcer.pid())).ok();
            awaitLine(enforcer, "reloaded " + Pattern.quote(file.toString()));
            Cmd.run(List.of("ip", "netns", "exec", lab.clientNs(), "nmap", "-n", "-Pn", "-sS", "--max-retries", "0",
                    "-p", "3000-3099", "-S", DENIED_V4_CLIENT, "-e", lab.clientIf(), DENIED_V4_SERVER), 60).ok();
            Thread.sleep(2000);
            assertEquals(0, curl(DENIED_V4_CLIENT, DENIED_V4_SERVER, 8080), "auto_block is off: the second scanner is served");
            assertFalse(enforcer.lines().stream().anyMatch(l -> l.contains("auto_block: denied " + DENIED_V4_CLIENT)),
                    enforcer.lines().toString());
            assertEquals(28, curl(Lab.CLIENT_V4, Lab.SERVER_V4, 8080), "the first scanner's live deny outlives the reload");
        }
    }

    /**
     * syn_flood: hping3 floods port 8080 with SYNs from random (spoofed) sources as fast as it can;
     * the port takes 10 SYNs a second from anyone, and beyond that only from sources that completed
     * a handshake before: the client that did is served during the flood, one that never connected
     * is not, and what reaches the server's side of the veth stays near the rate (a capture there).
     * The rate is low so that the flood leaves few tokens to a client who never connected: at 100 a
     * second a flood stalled for 10 ms on two busy CPUs left one, and a CI run's unknown client took
     * it; at 10 a second that takes a stall of 100 ms at the moment its SYN arrives, which still
     * happened once in about 15 CI runs. So the unknown client tries five times and must wait out
     * at least three: a limiter that let it through would serve it every time.
     */
    @Test
    void aSpoofedSynFloodIsHeldToThePortsRateWhileKnownClientsGetThrough() throws Exception {
        httpServer(8080);
        int rate = 10;
        try (TcpinspectProcess enforcer = enforce(policy("syn_flood: {syn_per_second: " + rate + "}\n"))) {
            assertEquals(0, curl(Lab.CLIENT_V4, Lab.SERVER_V4, 8080), "a handshake makes the client known");
            Thread.sleep(1100); // the port's bucket fills again
            Capture arrived = Capture.incoming(lab.serverNs(), lab.serverIf());
            Process flood = new ProcessBuilder("ip", "netns", "exec", lab.clientNs(), "hping3", "-I", lab.clientIf(),
                    "-q", "-S", "-p", "8080",
                    "--flood", "--rand-source", Lab.SERVER_V4).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            long start = System.nanoTime();
            int tries = 0;
            int unknownServed = 0;
            try {
                Thread.sleep(1500);
                // Served as known when the port's bucket is empty: a flood that stalled for 100 ms (two
                // busy CPUs) leaves a token, and the client's SYN may take it. Each try is served.
                while (tries < 5 && (tries == 0 || stats().get("flood_known") == 0)) {
                    tries++;
                    assertEquals(0, curl(Lab.CLIENT_V4, Lab.SERVER_V4, 8080), "the known client is served during the flood");
                }
                List<Integer> unknown = new ArrayList<>();
                for (int i = 0; i < 5; i++) {
                    unknown.add(curl(DENIED_V4_CLIENT, DENIED_V4_SERVER, 8080));
                }
                unknownServed = (int) unknown.stream().filter(c -> c == 0).count();
                assertTrue(unknown.stream().allMatch(c -> c == 0 || c == 28) && unknownServed <= 2,
                        "a client that never connected waits out the flood with the spoofed sources (curl's exit"
                        + " statuses, 28 its timeout, at most two served by a token the stalled flood left): " + unknown);
            } finally {
                flood.destroy();
                flood.waitFor();
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            arrived.stop();
            Map<String, Long> s = stats();
            assertTrue(s.get("syn_flood") > 100 * rate * seconds, "the flood outran the rate many times over: " + s);
            assertTrue(s.get("flood_known") >= 1, s.toString());
            long synsArrived = arrived.count(Capture.SYN + " && tcp.dstport == 8080");
            // A second's bucket, the rate for the flood's length, the known client's SYNs (one a try), the
            // unknown client's served tries (the one SYN of each that took a token), and 4 to spare.
            double most = rate + rate * seconds + tries + unknownServed + 4;
            assertTrue(synsArrived <= most, synsArrived + " SYNs reached the server's stack in " + seconds + " s; at most "
                    + most);
            assertTrue(synsArrived >= 0.8 * rate * seconds, "the port still takes its rate: " + synsArrived);
        }
    }

    /**
     * on_misfit: reset closes a misfit connection at both ends, each end seeing a reset (its own
     * error), while a fitting connection on the same port is served; the server's stack counts the
     * reset it accepted (TcpEstabResets) and the one it sent (TcpOutRsts), which a capture on the
     * client's side sees arrive.
     */
    @Test
    void aMisfitOnAPortThatResetsIsResetAtBothEnds() throws Exception {
        // The server: each accepted connection's first read, as "data N", "reset" or "eof", one line each.
        String server = """
                import socket, sys
                s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("0.0.0.0", 8444)); s.listen(8); print("listening", flush=True)
                while True:
                    c, _ = s.accept(); c.settimeout(10)
                    try:
                        d = c.recv(100); print("data %d" % len(d) if d else "eof", flush=True)
                    except ConnectionResetError:
                        print("reset", flush=True)
                    except socket.timeout:
                        print("timeout", flush=True)
                    c.close()
                """;
        Process p = new ProcessBuilder("ip", "netns", "exec", lab.serverNs(), "python3", "-u", "-c", server)
                .redirectErrorStream(true).start();
        servers.add(p);
        var lines = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream()));
        assertEquals("listening", lines.readLine());
        byte[] clientHello = {0x16, 3, 1, 0, 0x2e, 1, 0, 0, 0x2a, 3, 3};
        try (TcpinspectProcess enforcer = enforce(policy("services:\n  - {port: 8444, expect: tls, on_misfit: reset}\n"))) {
            long estabResets = serverCounter("TcpEstabResets");
            long outRsts = serverCounter("TcpOutRsts");
            Capture toClient = Capture.incoming(lab.clientNs(), lab.clientIf());
            String fitting = firstReply(8444, clientHello);
            long start = System.nanoTime();
            String misfit = firstReply(8444, "hello\n".getBytes());
            long ms = (System.nanoTime() - start) / 1_000_000;
            toClient.stop();
            assertEquals("eof", fitting, "the fitting connection is served: the server read it and closed");
            assertEquals("reset", misfit, "the misfit's client is reset (its own error)");
            assertTrue(ms < 3000, "reset within 3 s (its retransmission's timeout): " + ms + " ms");
            assertEquals("data 11", lines.readLine(), "the server read the fitting ClientHello");
            assertEquals("reset", lines.readLine(), "the server's socket of the misfit was reset");
            assertEquals(1, serverCounter("TcpEstabResets") - estabResets, "the server's stack accepted one reset");
            assertTrue(serverCounter("TcpOutRsts") - outRsts >= 1, "the server's stack answered the retransmission");
            assertTrue(toClient.count("tcp.srcport == 8444 && tcp.flags.reset == 1") >= 1,
                    "a reset from the server reached the client: " + toClient.describe("tcp"));
            Map<String, Long> s = stats();
            assertEquals(1, s.get("misfit_connections"), s.toString());
            assertEquals(1, s.get("misfit_resets"), s.toString());
            assertTrue(policyCommand("show").ok().out().contains("8444 (expects tls, resets misfits)"));
        }
    }

    /** A second enforcer in the same namespace is refused in one line, and the first keeps enforcing. */
    @Test
    void aSecondEnforcerIsRefusedAndTheFirstKeepsItsPolicy() throws Exception {
        httpServer(8080);
        Path p = policy(PREFIXES);
        try (TcpinspectProcess first = enforce(p)) {
            Cmd.Result second = TcpinspectProcess.run(null, "enforce", "--policy", policy("default: allow\n").toString(),
                    "-i", lab.serverIf(), "--netns", lab.serverNs());
            assertEquals(1, second.exit(), second.err());
            assertEquals("tcpinspect: an enforcer runs in this network namespace already (pid " + first.pid() + "): change"
                    + " its policy with tcpinspect policy apply FILE, or stop it with tcpinspect enforce stop",
                    second.err().strip());
            assertEquals(28, curl(DENIED_V4_CLIENT, DENIED_V4_SERVER, 8080), "the first's policy still holds");
            assertTrue(policyCommand("show").ok().out().startsWith("enforcer     pid " + first.pid()));
        }
    }

    /**
     * SIGHUP reads the policy file again, as a daemon reads its config: a denied source is let in
     * once the file no longer denies it, with no moment unprotected (the program stays; curl and
     * policy show judge). A file that cannot be used is refused in one line naming its file and line,
     * and the running policy is kept. Started under nohup, which leaves SIGHUP ignored: a hangup must
     * not end the enforcer, a reload still works.
     */
    @Test
    void sighupReadsThePolicyAgainAndOneThatCannotBeUsedIsRefusedKeepingTheRunningOne() throws Exception {
        httpServer(8080);
        Path p = policy(PREFIXES);
        List<String> command = new ArrayList<>(List.of("nohup"));
        command.addAll(enforceCommand(p, "--interval", "0"));
        try (TcpinspectProcess enforcer = TcpinspectProcess.startCommand(command)) {
            awaitLine(enforcer, "enforcing");
            assertEquals(28, curl(DENIED_V4_CLIENT, DENIED_V4_SERVER, 8080), "denied before the reload");
            long xdpBefore = xdpProgramId();

            Files.writeString(p, "deny: [\"fd00:7c1::/32\"]\n");
            Cmd.run("kill", "-HUP", Long.toString(enforcer.pid())).ok();
            assertTrue(awaitLine(enforcer, "reloaded").endsWith(" reloaded " + p), enforcer.lines().toString());
            assertEquals(0, curl(DENIED_V4_CLIENT, DENIED_V4_SERVER, 8080), "let in once the file no longer denies it");
            assertEquals(28, curl(DENIED_V6_CLIENT, DENIED_V6_SERVER, 8080), "what the new file denies is denied");
            String show = policyCommand("show").ok().out();
            assertTrue(show.contains("deny         fd00:7c1::/32") && !show.contains("198.18.0.0/15"), show);
            assertEquals(xdpBefore, xdpProgramId(), "the same program judged throughout");

            Files.writeString(p, "deny: [\"fd00:7c1::/32\"]\nservices: [70000]\n");
            Cmd.run("kill", "-HUP", Long.toString(enforcer.pid())).ok();
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (!enforcer.stderr().contains("reload refused") && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            assertEquals("tcpinspect: reload refused, the running policy is kept: " + p + ":2:",
                    enforcer.stderr().strip().substring(0, enforcer.stderr().strip().indexOf(":2:") + 3),
                    "one line naming the file and line: " + enforcer.stderr());
            assertEquals(1, enforcer.stderr().strip().lines().count(), enforcer.stderr());
            assertEquals(0, curl(DENIED_V4_CLIENT, DENIED_V4_SERVER, 8080), "the running policy is kept");
            assertEquals(28, curl(DENIED_V6_CLIENT, DENIED_V6_SERVER, 8080), "the running policy is kept");

            enforcer.terminate();
            assertEquals(0, enforcer.waitFor(20), enforcer.stderr());
            assertTrue(enforcer.lines().getLast().startsWith("stopped:"), enforcer.lines().toString());
        }
        assertNothingLeft();
    }

    /**
     * SIGINT and SIGTERM each stop an enforcer started as a script's background job (the shell starts
     * the job with SIGINT ignored) and one running as PID 1 of its own PID namespace (as a container
     * runtime starts it): each prints its "stopped:" line, exits 0 and leaves nothing.
     */
    @ParameterizedTest
    @ValueSource(strings = {"INT", "TERM"})
    void eitherStopSignalStopsAnEnforcerStartedInTheBackgroundAndOneRunningAsPidOne(String signal) throws Exception {
        Path p = policy(PREFIXES);
        Path pidFile = dir.resolve("enforcer.pid");
        Path control = dir.resolve("control.pid");
        String script = "sleep 60 & echo $! > " + control + "; " + TcpinspectProcess.shellLine(enforceCommand(p,
                "--interval", "0")) + " & echo $! > " + pidFile + "; wait $!; code=$?; kill $(cat " + control
                + "); exit $code";
        try (TcpinspectProcess job = TcpinspectProcess.startCommand(List.of("bash", "-c", script))) {
            awaitLine(job, "enforcing");
            assertTrue(Cmd.signalIgnored(Long.parseLong(Files.readString(control).strip()), 2),
                    "the shell started its background job with SIGINT ignored");
            assertTrue(xdpOnServer().contains("name tcpi_enforce"), xdpOnServer());
            Cmd.run("kill", "-" + signal, Files.readString(pidFile).strip()).ok();
            assertEquals(0, job.waitFor(20), job.stderr());
            assertTrue(job.lines().getLast().startsWith("stopped:"), job.lines().toString());
        }
        assertNothingLeft();

        List<String> command = new ArrayList<>(List.of("unshare", "--pid", "--fork", "--kill-child"));
        command.addAll(enforceCommand(p, "--interval", "0"));
        try (TcpinspectProcess container = TcpinspectProcess.startCommand(command)) {
            awaitLine(container, "enforcing");
            ProcessHandle pidOne = ProcessHandle.of(container.pid()).orElseThrow().children().findFirst().orElseThrow();
            assertTrue(Cmd.pidOneOfItsNamespace(pidOne.pid()), "PID 1 in its namespace: NSpid "
                    + Cmd.procStatus(pidOne.pid(), "NSpid"));
            Cmd.run("kill", "-" + signal, Long.toString(pidOne.pid())).ok();
            assertEquals(0, container.waitFor(20), container.stderr());
            assertTrue(container.lines().getLast().startsWith("stopped:"), container.lines().toString());
        }
        assertNothingLeft();
    }

    /**
     * A second SIGINT while the first one's clean-up is stuck exits at once (130) and still leaves
     * nothing: the enforcer prints a line per dropped packet (--events) and a counters line a second,
     * its reader stops reading after the first line, a burst of denied SYNs fills the pipe, and its
     * writers block, so the first SIGINT cannot finish (the process is still there 2 s later).
     */
    @Test
    void aSecondSigintDuringAStuckShutdownExitsAtOnceLeavingNothing() throws Exception {
        Path p = policy(PREFIXES);
        Path err = dir.resolve("enforcer.err");
        Process enforcer = new ProcessBuilder(enforceCommand(p, "--interval", "1", "--events", "--events-rate", "1000000"))
                .redirectError(err.toFile()).start();
        try {
            var out = new java.io.BufferedReader(new java.io.InputStreamReader(enforcer.getInputStream()), 256);
            assertTrue(out.readLine().startsWith("enforcing"));
            // Never read again: a second of denied SYNs at hping3's full speed makes far more event lines than a
            // pipe holds.
            Cmd.run(List.of("ip", "netns", "exec", lab.clientNs(), "timeout", "1", "hping3", "-I", lab.clientIf(),
                    "-q", "-S", "-p", "8080",
                    "-I", lab.clientIf(), "-a", DENIED_V4_CLIENT, "--flood", DENIED_V4_SERVER), 30);
            Cmd.run("kill", "-INT", Long.toString(enforcer.pid())).ok();
            Thread.sleep(2000);
            assertTrue(enforcer.isAlive(), "the first SIGINT's clean-up is stuck on the full pipe; exit "
                    + (enforcer.isAlive() ? "" : enforcer.exitValue()) + " " + Files.readString(err));
            // stuck before its clean-up removed anything (on the counters line): the second SIGINT must
            assertTrue(Files.exists(folder()), "still pinned");
            long start = System.nanoTime();
            Cmd.run("kill", "-INT", Long.toString(enforcer.pid())).ok();
            assertTrue(enforcer.waitFor(5, java.util.concurrent.TimeUnit.SECONDS), "exited after the second SIGINT");
            double seconds = (System.nanoTime() - start) / 1e9;
            assertEquals(130, enforcer.exitValue());
            assertTrue(seconds < 1.5, "exited within " + seconds + " s");
            assertTrue(Files.readString(err).contains("second interrupt: exiting now"), Files.readString(err));
        } finally {
            enforcer.destroyForcibly().waitFor();
        }
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (xdpOnServer().contains("xdp") && System.nanoTime() < deadline) {
            Thread.sleep(100); // the links go as the kernel closes the dead process's descriptors
        }
        assertNothingLeft();
    }}
