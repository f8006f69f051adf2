package dev.tcpinspect.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.testing.Capture;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.Http;
import dev.tcpinspect.testing.RequiresBpf;
import dev.tcpinspect.testing.RunsBeside;
import dev.tcpinspect.testing.TcpinspectProcess;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The agent enforcing a policy (config key enforce:): what it drops never reaches the server (a
 * capture on the client's side counts the SYNs sent, the server's nstat the resets it did not
 * send), the policy's counters are in /metrics as tcpinspect_policy_*, SIGHUP applies a new policy
 * or audit mode and refuses a broken one, auto_block denies a scanner nmap made, and a stop or a
 * kill -9 leaves nothing attached.
 */
@RequiresBpf
@RunsBeside
class AgentEnforceTest {

    @Test
    void theAgentEnforcesReloadsAndAuditsAPolicyAndCountsWhatItDropped() throws Exception {
        Path dir = Files.createTempDirectory("agent-enforce");
        Path config = dir.resolve("agent.yaml");
        Path policy = dir.resolve("policy.yaml");
        Path pcap = dir.resolve("flagged.pcapng");
        Files.writeString(policy, "services: [8080]\nfailsafe: [22]\n");
        try (Lab lab = Lab.create();
             var echo = Traffic.listen(lab.server(), Lab.SERVER_V4, 8080);
             var echo6 = Traffic.listen(lab.server(), Lab.SERVER_V6, 8080)) {
            // a relative policy path is the config's neighbour; what the policy drops goes to the capture file too
            String base = "interval: 0.5\nprobes: [packets, conn]\nbpf_stats: true\npcap: {file: " + pcap + "}\n";
            Files.writeString(config, base + "enforce: {policy: policy.yaml, interfaces: [" + lab.serverIf() + "]}\n");
            long notServed;
            long audited;
            try (TcpinspectProcess agent = TcpinspectProcess.start(lab.serverNs(), "agent", "-i", lab.serverIf(),
                    "--config", config.toString())) {
                String ready = AgentCliTest.awaitLog(agent, " info ready ", 30);
                assertTrue(ready.contains("enforce=\"" + policy + " on " + lab.serverIf() + "\""), ready);
                assertTrue(xdp(lab).contains("name tcpi_enforce"), xdp(lab));

                // the port not served: its SYNs die at XDP, the server's stack answers none of them
                long rsts = Cmd.nstat(lab.serverNs(), "TcpOutRsts");
                Capture sent = Capture.outgoing(lab.clientNs(), lab.clientIf());
                assertEquals(5, Traffic.connect(lab.client(), Lab.SERVER_V4, 8080, 5));
                assertEquals(3, Traffic.unansweredConnects(lab.client(), Lab.SERVER_V4, 9090, 3, 300));
                assertEquals(2, Traffic.unansweredConnects(lab.client(), Lab.SERVER_V6, 9090, 2, 300));
                sent.stop();
                assertEquals(0, Cmd.nstat(lab.serverNs(), "TcpOutRsts") - rsts, "no SYN to 9090 reached the stack");
                notServed = sent.count(Capture.SYN + " && tcp.dstport == 9090");
                assertEquals(5, notServed, "one SYN each, IPv4 and IPv6");
                Map<String, Double> m = awaitSeries(lab, "tcpinspect_policy_drops_total{reason=\"not_served\"}", notServed);
                assertEquals(notServed, Http.value(m, "tcpinspect_policy_verdicts_total{verdict=\"dropped\"}"));
                assertEquals(0.0, Http.value(m, "tcpinspect_policy_audit"));
                // the agent's own cost counts the enforcer's program: it ran for every packet it judged, and more (ARP, ND)
                assertTrue(Http.value(m, "tcpinspect_bpf_program_runs_total{program=\"tcpi_enforce\"}")
                        >= Http.value(m, "tcpinspect_policy_packets_total"), m.toString());
                assertTrue(Http.value(m, "tcpinspect_policy_packets_total") >= sent.count("tcp.dstport == 8080 || tcp.dstport == 9090"),
                        "every packet the client sent was judged");
                var snapshot = TcpinspectProcess.parse(Http.get(lab.serverNs(), "http://127.0.0.1:9977/api/snapshot").body());
                assertEquals(notServed, snapshot.at("/total/policy_drops/not_served").asLong(), snapshot.toString());

                // a new policy on SIGHUP: the client denied by a named rule, IPv4 and IPv6
                Files.writeString(policy, "services: [8080]\ndeny: [{prefix: " + Lab.CLIENT_V4 + ", name: lab-client},"
                        + " {prefix: \"" + Lab.CLIENT_V6 + "/128\", name: lab-client6}]\n");
                Cmd.run("kill", "-HUP", String.valueOf(agent.pid())).ok();
                awaitLogs(agent, " info reloaded ", 1);
                sent = Capture.outgoing(lab.clientNs(), lab.clientIf());
                assertEquals(4, Traffic.unansweredConnects(lab.client(), Lab.SERVER_V4, 8080, 4, 300));
                assertEquals(2, Traffic.unansweredConnects(lab.client(), Lab.SERVER_V6, 8080, 2, 300));
                sent.stop();
                assertEquals(4, sent.count("ip && " + Capture.SYN + " && tcp.dstport == 8080"));
                m = awaitSeries(lab, "tcpinspect_policy_drops_total{reason=\"denied\"}", 6);
                assertEquals(4.0, Http.value(m, "tcpinspect_policy_rule_hits_total{rule=\"lab-client\"}"));
                assertEquals(2.0, Http.value(m, "tcpinspect_policy_rule_hits_total{rule=\"lab-client6\"}"));
                assertEquals(notServed, Http.value(m, "tcpinspect_policy_drops_total{reason=\"not_served\"}"),
                        "the counters go on across a new policy");

                // a broken policy is refused with its own file and line; the one in force stays
                Files.writeString(policy, "services: [8080]\ndeny: [10.0.0.0/33]\n");
                Cmd.run("kill", "-HUP", String.valueOf(agent.pid())).ok();
                String refused = AgentCliTest.awaitLog(agent, "reload refused", 10);
                assertTrue(refused.contains(policy + ":2:"), refused);
                assertEquals(2, Traffic.unansweredConnects(lab.client(), Lab.SERVER_V4, 8080, 2, 300), "still denied");

                // audit: judged and counted, nothing dropped
                Files.writeString(policy, "services: [8080]\ndeny: [{prefix: " + Lab.CLIENT_V4 + ", name: lab-client}]\n");
                Files.writeString(config, base + "enforce: {policy: policy.yaml, interfaces: [" + lab.serverIf()
                        + "], audit: true}\n");
                double dropped = Http.value(awaitSeries(lab, "tcpinspect_policy_drops_total{reason=\"denied\"}", 8),
                        "tcpinspect_policy_verdicts_total{verdict=\"dropped\"}");
                Cmd.run("kill", "-HUP", String.valueOf(agent.pid())).ok();
                String audit = awaitLogs(agent, " info reloaded ", 2);
                assertTrue(audit.contains(" (audit)\""), audit);
                sent = Capture.outgoing(lab.clientNs(), lab.clientIf());
                assertEquals(3, Traffic.connect(lab.client(), Lab.SERVER_V4, 8080, 3), "audit drops nothing");
                Thread.sleep(500); // the closing handshakes' last segments leave the client too
                sent.stop();
                // every IPv4 packet of the denied client is judged to drop, and passes
                audited = sent.count("ip.src == " + Lab.CLIENT_V4);
                m = awaitSeries(lab, "tcpinspect_policy_drops_total{reason=\"denied\"}", 8 + audited);
                assertEquals(dropped, Http.value(m, "tcpinspect_policy_verdicts_total{verdict=\"dropped\"}"));
                assertEquals(1.0, Http.value(m, "tcpinspect_policy_audit"));
                // the rule's hits go on from the earlier policy's (6: four and two denied SYNs), though the
                // new one's counters in the kernel started from zero
                assertEquals(6.0 + audited, Http.value(m, "tcpinspect_policy_rule_hits_total{rule=\"lab-client\"}"));

                Cmd.run("kill", "-TERM", String.valueOf(agent.pid())).ok();
                assertEquals(0, agent.waitFor(30), agent.stderr());
            }
            assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()), "left attached");
            assertEquals(3, Traffic.connect(lab.client(), Lab.SERVER_V4, 8080, 3), "nothing enforces after the stop");

            // the capture: each packet the policy judged, its comment the reason, tshark's dissection agreeing
            Map<String, Long> byComment = new java.util.TreeMap<>();
            for (String line : PcapCliTest.tshark(pcap, "frame.comment", "tcp.flags.str", "tcp.dstport", "frame.cap_len",
                    "frame.len")) {
                String[] f = line.split("\t", -1);
                if (!f[0].startsWith("policy ")) {
                    continue; // the probes' own flagged packets (resets) are there too
                }
                byComment.merge(f[0], 1L, Long::sum);
                if (!f[0].contains("audit")) {
                    assertTrue(f[1].contains("S") && !f[1].contains("A"), "a dropped SYN: " + line);
                    assertEquals(f[0].equals("policy not_served") ? "9090" : "8080", f[2], line);
                    assertEquals(f[3], f[4], "a SYN is all headers: " + line);
                }
            }
            assertEquals(Map.of("policy not_served", notServed, "policy denied", 8L, "policy denied (audit: passed)", audited),
                    byComment);

            // kill -9: the agent's pins were in its own mount namespace's BPF filesystem, which goes with it
            Files.writeString(policy, "deny: [" + Lab.CLIENT_V4 + "]\n");
            Files.writeString(config, "probes: [packets]\nenforce: {policy: policy.yaml, interfaces: [" + lab.serverIf() + "]}\n");
            try (TcpinspectProcess agent = TcpinspectProcess.start(lab.serverNs(), "agent", "-i", lab.serverIf(),
                    "--config", config.toString())) {
                AgentCliTest.awaitLog(agent, " info ready ", 30);
                assertEquals(1, Traffic.unansweredConnects(lab.client(), Lab.SERVER_V4, 8080, 1, 300));
                agent.kill9();
            }
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (!Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()).isEmpty() && System.nanoTime() < deadline) {
                Thread.sleep(100);
            }
            assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()), "left attached after kill -9");
            assertEquals(2, Traffic.connect(lab.client(), Lab.SERVER_V4, 8080, 2));
            Path lock = Path.of("/run/tcpinspect/enforce", "net-"
                    + dev.tcpinspect.os.Netns.inodeOf(Path.of("/run/netns", lab.serverNs())) + ".lock");
            assertTrue(!Files.exists(lock), "private pins need no lock file in /run, which kill -9 would leave: " + lock);
        } finally {
            Cmd.run("rm", "-rf", dir.toString());
        }
    }

    @Test
    void autoBlockDeniesTheSourceOfAScanTheAgentsProbesSaw() throws Exception {
        Path dir = Files.createTempDirectory("agent-enforce");
        Path config = dir.resolve("agent.yaml");
        Path policy = dir.resolve("policy.yaml");
        Files.writeString(policy, "auto_block: {ttl: 2m}\n");
        Path[] pins = {null};
        try (Lab lab = Lab.create(); var echo = Traffic.listen(lab.server(), Lab.SERVER_V4, 8080)) {
            Files.writeString(config, "probes: [scan]\nset: {scan.closed_ports: 10}\nenforce: {policy: " + policy
                    + ", interfaces: [" + lab.serverIf() + "]}\n");
            pins[0] = dev.tcpinspect.enforce.Enforcer.folder(
                    dev.tcpinspect.os.Netns.inodeOf(Path.of("/run/netns", lab.serverNs())));
            // in the lab's network namespace but the host's mount namespace, where the pins are everyone's
            List<String> command = new java.util.ArrayList<>(List.of("nsenter", "--net=/run/netns/" + lab.serverNs()));
            command.addAll(TcpinspectProcess.javaCommand());
            command.addAll(List.of("agent", "-i", lab.serverIf(), "--config", config.toString()));
            try (TcpinspectProcess agent = TcpinspectProcess.startCommand(command)) {
                AgentCliTest.awaitLog(agent, " info ready ", 30);
                assertTrue(!agent.stderr().contains(" warn "), agent.stderr());
                Thread.sleep(500); // the veth's XDP attach restarts its queues
                assertEquals(2, Traffic.connect(lab.client(), Lab.SERVER_V4, 8080, 2), "allowed before the scan");
                Cmd.run(List.of("ip", "netns", "exec", lab.clientNs(), "nmap", "-n", "-Pn", "-sS", "--max-retries", "0",
                        "-p", "9000-9039", Lab.SERVER_V4), 60).ok();
                String blocked = AgentCliTest.awaitLog(agent, "auto_block: denied", 15);
                assertTrue(blocked.contains("source=" + Lab.CLIENT_V4) && blocked.contains("ttl=2m"), blocked);
                Capture sent = Capture.outgoing(lab.clientNs(), lab.clientIf());
                assertEquals(3, Traffic.unansweredConnects(lab.client(), Lab.SERVER_V4, 8080, 3, 300), "denied now");
                sent.stop();
                assertEquals(3, sent.count(Capture.SYN + " && tcp.dstport == 8080"));
                // the three SYNs, and any of nmap's that came after the alert (it usually ends first)
                Map<String, Double> m = awaitSeriesAtLeast(lab, "tcpinspect_policy_drops_total{reason=\"denied\"}", 3);
                assertTrue(Http.value(m, "tcpinspect_alerts_total{type=\"scan\"}") >= 1);
                // the policy commands reach the agent's enforcer; enforce stop leaves it to the agent
                String stats = TcpinspectProcess.run(null, "policy", "stats", "--netns", lab.serverNs()).ok().out();
                assertTrue(stats.contains("deny " + Lab.CLIENT_V4 + "/32 (live)"), stats);
                Cmd.Result stop = TcpinspectProcess.run(null, "enforce", "stop", "--netns", lab.serverNs());
                assertEquals(1, stop.exit(), stop.err());
                assertTrue(stop.err().contains("runs inside the agent (pid " + agent.pid() + ")"), stop.err());
                assertTrue(xdp(lab).contains("name tcpi_enforce"), "still enforcing: " + xdp(lab));
                Cmd.run("kill", "-TERM", String.valueOf(agent.pid())).ok();
                assertEquals(0, agent.waitFor(30), agent.stderr());
            }
            assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()), "left attached");
            String show = TcpinspectProcess.run(null, "policy", "show", "--netns", lab.serverNs()).err();
            assertTrue(show.contains("no enforcer"), "pins removed: " + show);
        } finally {
            // a failure above kills the agent as kill -9 does, which leaves the policy pinned: removed here
            if (pins[0] != null && Files.exists(pins[0])) {
                dev.tcpinspect.enforce.Enforcer.removePins(pins[0]);
            }
            Cmd.run("rm", "-rf", dir.toString());
        }
    }

    /**
     * xdp: true on the enforced interface: one XDP program there, the enforcer's, and the probes
     * behind it (bpf/lib/handoff.h) counting exactly what it passed, as a capture on the server's
     * side of the veth (after XDP) sees it; a reload that would move the probes off it is refused.
     */
    @Test
    void theAgentsXdpProbesRunBehindItsEnforcerAndCountWhatItPasses() throws Exception {
        Path dir = Files.createTempDirectory("agent-enforce");
        Path config = dir.resolve("agent.yaml");
        Files.writeString(dir.resolve("policy.yaml"), "services: [8080]\n");
        try (Lab lab = Lab.create();
             var echo = Traffic.listen(lab.server(), Lab.SERVER_V4, 8080)) {
            Files.writeString(config, "interval: 0.5\nprobes: [packets]\nxdp: true\nports: [8080, 9090]\n"
                    + "enforce: {policy: policy.yaml, interfaces: [" + lab.serverIf() + "]}\n");
            try (TcpinspectProcess agent = TcpinspectProcess.start(lab.serverNs(), "agent", "-i", lab.serverIf(),
                    "--config", config.toString())) {
                String ready = AgentCliTest.awaitLog(agent, " info ready ", 30);
                assertTrue(ready.contains("xdp-behind-enforcer"), ready);
                assertTrue(xdp(lab).contains("name tcpi_enforce"), "one XDP program, the enforcer's: " + xdp(lab));
                Capture arrived = Capture.incoming(lab.serverNs(), lab.serverIf());
                Capture sent = Capture.outgoing(lab.clientNs(), lab.clientIf());
                assertEquals(5, Traffic.connect(lab.client(), Lab.SERVER_V4, 8080, 5));
                assertEquals(3, Traffic.unansweredConnects(lab.client(), Lab.SERVER_V4, 9090, 3, 300));
                Map<String, Double> m = awaitSeries(lab, "tcpinspect_syn_packets_by_port_total{port=\"8080\"}", 5);
                sent.stop();
                arrived.stop();
                assertEquals(5, arrived.count(Capture.SYN + " && tcp.dstport == 8080"));
                assertEquals(3, sent.count(Capture.SYN + " && tcp.dstport == 9090"), "the client sent them");
                assertEquals(0, arrived.count(Capture.SYN + " && tcp.dstport == 9090"), "the enforcer dropped them");
                assertEquals(0.0, Http.value(m, "tcpinspect_syn_packets_by_port_total{port=\"9090\"}"), "not seen behind it");
                assertEquals(3.0, Http.value(m, "tcpinspect_policy_drops_total{reason=\"not_served\"}"));
                assertEquals(arrived.count(Capture.TCP), Http.value(m, "tcpinspect_packets_total"), "every TCP packet passed");

                // a reload that fails after its new probes took the slot (their address is taken): the old ones
                // get the slot back and count on
                try (var taken = Traffic.listen(lab.server(), "127.0.0.1", 9988)) {
                    Files.writeString(config, "interval: 0.5\nprobes: [packets, handshake]\nxdp: true\nports: [8080, 9090]\n"
                            + "listen: 127.0.0.1:9988\nenforce: {policy: policy.yaml, interfaces: [" + lab.serverIf() + "]}\n");
                    Cmd.run("kill", "-HUP", String.valueOf(agent.pid())).ok();
                    awaitLogs(agent, "reload failed", 1);
                }
                assertEquals(1, Traffic.connect(lab.client(), Lab.SERVER_V4, 8080, 1));
                awaitSeries(lab, "tcpinspect_syn_packets_by_port_total{port=\"8080\"}", 6);

                // new probes on SIGHUP, still behind: this process's new set takes the slot over from its old one
                Files.writeString(config, "interval: 0.5\nprobes: [packets, handshake]\nxdp: true\nports: [8080, 9090]\n"
                        + "enforce: {policy: policy.yaml, interfaces: [" + lab.serverIf() + "]}\n");
                Cmd.run("kill", "-HUP", String.valueOf(agent.pid())).ok();
                awaitLogs(agent, " info reloaded ", 1);
                assertEquals(2, Traffic.connect(lab.client(), Lab.SERVER_V4, 8080, 2));
                assertEquals(1, Traffic.unansweredConnects(lab.client(), Lab.SERVER_V4, 9090, 1, 300));
                m = awaitSeries(lab, "tcpinspect_syn_packets_by_port_total{port=\"8080\"}", 2); // the new probes count from zero
                assertEquals(0.0, Http.value(m, "tcpinspect_syn_packets_by_port_total{port=\"9090\"}"));
                assertTrue(xdp(lab).contains("name tcpi_enforce"), xdp(lab));

                Files.writeString(config, "interval: 0.5\nprobes: [packets]\nports: [8080, 9090]\n"
                        + "enforce: {policy: policy.yaml, interfaces: [" + lab.serverIf() + "]}\n");
                Cmd.run("kill", "-HUP", String.valueOf(agent.pid())).ok();
                String refused = awaitLogs(agent, "reload refused", 1);
                assertTrue(refused.contains("restart the agent to change them (now " + lab.serverIf() + ")"), refused);
                assertEquals(1, Traffic.connect(lab.client(), Lab.SERVER_V4, 8080, 1));
                awaitSeries(lab, "tcpinspect_syn_packets_by_port_total{port=\"8080\"}", 3); // still counting behind it
                Cmd.run("kill", "-TERM", String.valueOf(agent.pid())).ok();
                assertEquals(0, agent.waitFor(30), agent.stderr());
            }
            assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()), "left attached");
        } finally {
            Cmd.run("rm", "-rf", dir.toString());
        }
    }

    @Test
    void aConfigWhoseEnforcerCannotWorkIsRefusedInOneLine() throws Exception {
        Path dir = Files.createTempDirectory("agent-enforce");
        Path config = dir.resolve("agent.yaml");
        Path policy = dir.resolve("policy.yaml");
        try (Lab lab = Lab.create()) {
            Files.writeString(policy, "deny: [10.0.0.0/33]\n");
            Files.writeString(config, "enforce: {policy: policy.yaml, interfaces: [" + lab.serverIf() + "]}\n");
            Cmd.Result bad = TcpinspectProcess.run(lab.serverNs(), "agent", "--config", config.toString());
            assertEquals(2, bad.exit(), bad.err());
            assertTrue(bad.err().strip().startsWith("tcpinspect: " + config + ":1: enforce.policy: " + policy + ":1:"),
                    bad.err());
            assertEquals(1, bad.err().strip().lines().count(), bad.err());

            Files.writeString(policy, "auto_block: {}\n");
            Files.writeString(config, "probes: [conn]\nenforce: {policy: policy.yaml, interfaces: [" + lab.serverIf() + "]}\n");
            bad = TcpinspectProcess.run(lab.serverNs(), "agent", "--config", config.toString());
            assertEquals(2, bad.exit(), bad.err());
            assertEquals("tcpinspect: " + config + ":1: probes: the policy's auto_block denies the sources that scan,"
                    + " flood, cycling name: run at least one of them", bad.err().strip());

            Files.writeString(config, "enforce: {policy: policy.yaml, interfaces: [nosuch0]}\n");
            bad = TcpinspectProcess.run(lab.serverNs(), "agent", "-i", lab.serverIf(), "--config", config.toString());
            assertEquals(2, bad.exit(), bad.err());
            assertTrue(bad.err().contains("nosuch0"), bad.err());
            assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()), "nothing attached");
        } finally {
            Cmd.run("rm", "-rf", dir.toString());
        }
    }

    /**
     * A second SIGINT while the first one's clean-up is stuck exits at once (130) and still leaves
     * nothing: the enforcer the agent runs goes with it, as {@code enforce}'s does. The agent runs with
     * the host's BPF filesystem (nsenter into the lab's network namespace only; under ip netns exec its
     * pins would go with its own mount namespace anyway). Its stderr is a pipe of one page that a
     * wrapper stops reading at "ready"; refused reloads fill it, so the main loop blocks on a log line
     * and the first SIGINT cannot finish (the process is still there 2 s later).
     */
    @Test
    void aSecondSigintDuringAStuckShutdownExitsAtOnceAndTheEnforcerGoesWithIt() throws Exception {
        Path dir = Files.createTempDirectory("agent-enforce");
        Path config = dir.resolve("agent.yaml");
        Path policy = dir.resolve("policy.yaml");
        String wrapper = """
                import fcntl, os, subprocess, sys
                r, w = os.pipe()
                fcntl.fcntl(w, 1031, 4096)  # F_SETPIPE_SZ: one page
                p = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=w)
                os.close(w)
                print(p.pid, flush=True)
                log = os.fdopen(r)  # held: closed, it would make the agent's writes fail instead of block
                for line in log:
                    print(line, end="", flush=True)
                    if " info ready " in line:
                        break
                print("not reading any more", flush=True)
                sys.exit(p.wait() & 255)
                """;
        try (Lab lab = Lab.create(); var echo = Traffic.listen(lab.server(), Lab.SERVER_V4, 8080)) {
            Path folder = dev.tcpinspect.enforce.Enforcer.folder(lab.server().inode());
            try {
                Files.writeString(policy, "deny: [" + Lab.CLIENT_V4 + "]\n");
                Files.writeString(config, "probes: [packets]\nenforce: {policy: policy.yaml, interfaces: [" + lab.serverIf()
                        + "]}\n");
                List<String> command = new java.util.ArrayList<>(List.of("nsenter", "--net=/run/netns/" + lab.serverNs(),
                        "python3", "-c", wrapper));
                command.addAll(TcpinspectProcess.javaCommand());
                command.addAll(List.of("agent", "-i", lab.serverIf(), "--config", config.toString()));
                try (TcpinspectProcess wrapped = TcpinspectProcess.startCommand(command)) {
                    EnforcerLab.awaitLine(wrapped, "not reading any more");
                    long agent = Long.parseLong(wrapped.lines().getFirst().strip());
                    assertTrue(xdp(lab).contains("name tcpi_enforce"), xdp(lab));
                    assertTrue(Files.exists(folder), "pinned in the host's BPF filesystem: " + folder);

                    // each refused reload logs a line of about 300 bytes: the page is full after about 14
                    Files.writeString(config, "probes: [packets]\n" + "k".repeat(200) + ": 1\n");
                    for (int i = 0; i < 30; i++) {
                        Cmd.run("kill", "-HUP", Long.toString(agent)).ok();
                        Thread.sleep(250);
                    }
                    Cmd.run("kill", "-INT", Long.toString(agent)).ok();
                    Thread.sleep(2000);
                    assertTrue(ProcessHandle.of(agent).map(ProcessHandle::isAlive).orElse(false),
                            "the first SIGINT's shutdown is stuck on the full stderr");
                    // exits without waiting for the stuck clean-up (which never ends); how soon is timed for watch and
                    // enforce in the serial lane, not here beside it at nice 10
                    Cmd.run("kill", "-INT", Long.toString(agent)).ok();
                    assertEquals(130, wrapped.waitFor(10), "exit status");
                }
                assertTrue(!xdp(lab).contains("xdp"), "nothing attached: " + xdp(lab));
                assertTrue(!Files.exists(folder), "nothing pinned: " + folder);
                Path lock = Path.of("/run/tcpinspect/enforce", folder.getFileName() + ".lock");
                assertTrue(!Files.exists(lock), "no lock file: " + lock);
                assertEquals(2, Traffic.connect(lab.client(), Lab.SERVER_V4, 8080, 2), "the client is served again");
            } finally {
                if (Files.exists(folder)) {
                    TcpinspectProcess.run(null, "enforce", "stop", "--netns", lab.serverNs());
                }
            }
        } finally {
            Cmd.run("rm", "-rf", dir.toString());
        }
    }

    /** The n-th log line with the text, once there is one. */
    private static String awaitLogs(TcpinspectProcess p, String text, int n) throws InterruptedException {
        long deadline = System.nanoTime() + 30_000_000_000L;
        do {
            List<String> lines = p.stderr().lines().filter(l -> l.contains(text)).toList();
            if (lines.size() >= n) {
                return lines.get(n - 1);
            }
            Thread.sleep(100);
        } while (System.nanoTime() < deadline);
        throw new AssertionError("no " + n + " log lines with '" + text + "'; stderr: " + p.stderr());
    }

    /** The server interface's line in ip link: its XDP program's name when one is attached. */
    private static String xdp(Lab lab) {
        return Cmd.run("ip", "-n", lab.serverNs(), "link", "show", "dev", lab.serverIf()).ok().out();
    }

    /** The agent's series once the named one has reached at least the value (readings come every interval). */
    private static Map<String, Double> awaitSeriesAtLeast(Lab lab, String name, double atLeast) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        Map<String, Double> m;
        do {
            Thread.sleep(300);
            m = Http.series(Http.get(lab.serverNs(), "http://127.0.0.1:9977/metrics").body());
        } while (m.getOrDefault(name, 0.0) < atLeast && System.nanoTime() < deadline);
        assertTrue(m.getOrDefault(name, 0.0) >= atLeast, name + " in " + m);
        return m;
    }

    /** The agent's series once the named one has reached the value, which it must then be exactly. */
    private static Map<String, Double> awaitSeries(Lab lab, String name, double exactly) throws InterruptedException {
        Map<String, Double> m = awaitSeriesAtLeast(lab, name, exactly);
        assertEquals(exactly, Http.value(m, name), name + " in " + m);
        return m;
    }
}
