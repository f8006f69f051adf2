package dev.tcpinspect.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.RequiresBpf;
import dev.tcpinspect.testing.TcpinspectProcess;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Help, version, doctor and every kind of bad input: one clear line and a non-zero exit. */
class CommandLineTest {
    /** Runs tcpinspect as nobody, with no capabilities at all, from a copy of the class path nobody can read. */
    private static Cmd.Result unprivileged(String... args) {
        List<String> command = new ArrayList<>(TcpinspectProcess.asNobodyWith(""));
        command.addAll(TcpinspectProcess.javaCommand(TcpinspectProcess.worldReadableClassPath()));
        command.addAll(List.of(args));
        return Cmd.run(command, 60);
    }

    /** Runs tcpinspect as root whose capabilities were all dropped (a locked-down container, say). */
    private static Cmd.Result rootWithoutCapabilities(String... args) {
        List<String> command = new ArrayList<>(List.of("setpriv", "--inh-caps=-all", "--bounding-set=-all"));
        command.addAll(TcpinspectProcess.javaCommand());
        command.addAll(List.of(args));
        return Cmd.run(command, 60);
    }

    @Test
    void helpAndVersionWorkWithoutPrivileges() {
        Cmd.Result help = unprivileged("--help");
        assertEquals(0, help.exit(), help.err());
        for (String sub : List.of("watch", "agent", "doctor", "cleanup", "demo", "enforce", "policy")) {
            assertTrue(help.out().contains(sub), help.out());
        }
        Cmd.Result watchHelp = unprivileged("watch", "--help");
        assertEquals(0, watchHelp.exit());
        assertTrue(watchHelp.out().contains("--xdp") && watchHelp.out().contains("Examples"), watchHelp.out());
        assertTrue(watchHelp.out().contains("--no-tui") && watchHelp.out().contains("--width=COLUMNS"), watchHelp.out());
        Cmd.Result version = unprivileged("--version");
        assertEquals(0, version.exit());
        assertTrue(version.out().startsWith("tcpinspect "), version.out());
    }

    /**
     * Root of a user namespace of its own (a rootless container's): every capability there, none the
     * kernel counts for bpf(), so the programs' load is refused (EPERM). The line says what is
     * missing, not that the kernel lacks BTF-typed tracepoints, as it did.
     */
    @Test
    void refusedByTheKernelForPrivilegesTheLineNamesThemNotAMissingFeature() {
        List<String> command = new ArrayList<>(List.of("unshare", "--user", "--map-root-user"));
        command.addAll(TcpinspectProcess.javaCommand(TcpinspectProcess.worldReadableClassPath()));
        command.addAll(List.of("watch", "-i", "lo"));
        Cmd.Result r = Cmd.run(command, 60);
        assertEquals(1, r.exit(), r.err());
        assertEquals("tcpinspect: " + dev.tcpinspect.os.Privileges.MISSING + " (the kernel refused to load the probes'"
                + " programs: EPERM)", r.err().strip());
    }

    @Test
    void withoutPrivilegesEachCommandSaysSoInOneLine() {
        for (String[] args : new String[][] {{"watch"}, {"upstreams", "--upstream", "a=192.0.2.1:443"}, {"agent"},
                {"cleanup"}, {"demo"}}) {
            for (Cmd.Result r : List.of(unprivileged(args), rootWithoutCapabilities(args))) {
                assertEquals(1, r.exit(), args[0] + ": " + r.err());
                assertEquals(1, r.err().lines().count(), r.err());
                assertTrue(r.err().startsWith("tcpinspect: " + args[0] + ": this needs root"), r.err());
            }
        }
        // The enforcer's commands, which open pinned objects: the same line, naming the command.
        for (String[] args : new String[][] {{"enforce", "--policy", "/nonexistent.yaml", "-i", "lo"}, {"enforce", "stop"},
                {"policy", "show"}, {"policy", "stats"}, {"policy", "deny", "192.0.2.1"}, {"policy", "delete", "192.0.2.1"}}) {
            String command = args[0].equals("enforce") && args[1].equals("stop") ? "enforce stop"
                    : args[0].equals("policy") ? "policy " + args[1] : args[0];
            for (Cmd.Result r : List.of(unprivileged(args), rootWithoutCapabilities(args))) {
                assertEquals(1, r.exit(), command + ": " + r.err());
                assertEquals("tcpinspect: " + command + ": " + dev.tcpinspect.os.Privileges.MISSING_ROOT, r.err().strip());
            }
        }
        Cmd.Result doctor = unprivileged("doctor", "--format", "json");
        assertEquals(1, doctor.exit());
        JsonNode report = TcpinspectProcess.parse(doctor.out().strip());
        assertEquals(false, report.get("usable").asBoolean());
        assertTrue(report.get("problems").get(0).asText().contains("needs root"));
    }

    @Test
    void badUsageExitsTwoWithAHint() {
        Cmd.Result r = TcpinspectProcess.run(null, "watch", "--format", "yaml");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--format") && r.err().contains("--help"), r.err());
        Cmd.Result unknown = TcpinspectProcess.run(null, "frobnicate");
        assertEquals(2, unknown.exit());
        Cmd.Result noSuchProbe = TcpinspectProcess.run(null, "watch", "--probe", "nosuch");
        assertEquals(2, noSuchProbe.exit(), noSuchProbe.err());
        assertTrue(noSuchProbe.err().contains("no probe named 'nosuch'") && noSuchProbe.err().contains("dupack"),
                noSuchProbe.err());
        Cmd.Result badInterval = TcpinspectProcess.run(null, "watch", "--interval", "0");
        assertEquals(2, badInterval.exit(), badInterval.err());
        Cmd.Result badWidth = TcpinspectProcess.run(null, "watch", "--width", "20");
        assertEquals(2, badWidth.exit(), badWidth.err());
        assertTrue(badWidth.err().contains("--width must be a number of columns from 40 to 10000, not 20"), badWidth.err());
        for (String[] bad : new String[][] {{"scan.portz=3", "scan has no setting 'portz'; its settings are ports,"},
                {"scan.ports=0", "scan.ports must be a whole number from 1 to 256, not '0'"},
                {"scan.ports=600", "from 1 to 256"}, {"scan.window=99999999999", "from 1 to 3600"},
                {"foo=1", "name a probe's setting as PROBE.KEY"},
                {"flood.syn_rate=fast", "flood.syn_rate must be a whole number from 1 to 1000000000, not 'fast'"}}) {
            Cmd.Result badSetting = TcpinspectProcess.run(null, "watch", "--set", bad[0]);
            assertEquals(2, badSetting.exit(), badSetting.err());
            assertTrue(badSetting.err().lines().findFirst().orElse("").contains(bad[1]), badSetting.err());
        }
        Cmd.Result notRunning = TcpinspectProcess.run(null, "watch", "--probe", "packets", "--set", "scan.ports=3");
        assertEquals(2, notRunning.exit(), notRunning.err());
        assertTrue(notRunning.err().contains("no running probe named 'scan'"), notRunning.err());
        Cmd.Result badInList = TcpinspectProcess.run(null, "watch", "--probe", "packets,nosuch");
        assertEquals(2, badInList.exit(), badInList.err());
        assertTrue(badInList.err().contains("no probe named 'nosuch'"), badInList.err());
    }

    /**
     * Least privilege: every probe loads, attaches and counts as an unprivileged user given only
     * CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN (the process's own /proc status says so), IPv4 and IPv6.
     */
    @Test
    void everyProbeRunsAsAUserWithOnlyBpfPerfmonAndNetAdmin() throws Exception {
        try (Lab lab = Lab.create();
             var v4 = dev.tcpinspect.lab.Traffic.listen(lab.server(), Lab.SERVER_V4, 8081);
             var v6 = dev.tcpinspect.lab.Traffic.listen(lab.server(), Lab.SERVER_V6, 8081)) {
            List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", lab.serverNs()));
            command.addAll(TcpinspectProcess.asNobodyWith("bpf,perfmon,net_admin"));
            command.addAll(TcpinspectProcess.javaCommand(TcpinspectProcess.worldReadableClassPath()));
            // an upstream, so that the upstream probe's handlers load too (with none they are compiled out)
            command.addAll(List.of("watch", "-i", lab.serverIf(), "--format", "json", "--upstream",
                    "client=" + Lab.CLIENT_V4 + ":443"));
            TcpinspectProcess.asLauncherStarts(command);
            try (TcpinspectProcess watch = TcpinspectProcess.startCommand(command)) {
                JsonNode ready = watch.awaitJson("ready", 60);
                assertEquals(dev.tcpinspect.probe.registry.ProbeRegistry.names().size(), ready.get("probes").size(),
                        ready.toString());
                List<String> status = Files.readAllLines(Path.of("/proc", Long.toString(watch.pid()), "status"));
                assertTrue(status.contains("CapEff:	000000c000001000"), "CAP_NET_ADMIN, CAP_PERFMON, CAP_BPF only: "
                        + status.stream().filter(l -> l.startsWith("Cap") || l.startsWith("Uid")).toList());
                assertTrue(status.stream().anyMatch(l -> l.matches("Uid:\\s+65534\\s+65534.*")), status.toString());
                int connected = dev.tcpinspect.lab.Traffic.connect(lab.client(), Lab.SERVER_V4, 8081, 10)
                        + dev.tcpinspect.lab.Traffic.connect(lab.client(), Lab.SERVER_V6, 8081, 10);
                Thread.sleep(300);
                watch.terminate();
                JsonNode summary = watch.awaitJson("summary", 30);
                assertEquals(0, watch.waitFor(30), watch.stderr());
                assertEquals(20, connected);
                assertEquals(connected, summary.at("/packets/syn").asLong(), summary.toString());
                assertEquals(connected, summary.at("/connections/opened_passive").asLong(), summary.toString());
            }
        }
    }

    /**
     * doctor names what each command needs, and what it says holds: as nobody with only CAP_BPF,
     * CAP_PERFMON and CAP_NET_ADMIN it says watch can run and cleanup, demo and enforce cannot, and so
     * it is: cleanup, demo and policy stats refuse in one line (watch: the least-privilege test).
     */
    @Test
    @RequiresBpf
    void doctorNamesEachCommandsPrivilegesAndTheyHold() {
        List<String> asNobody = new ArrayList<>(TcpinspectProcess.asNobodyWith("bpf,perfmon,net_admin"));
        asNobody.addAll(TcpinspectProcess.javaCommand(TcpinspectProcess.worldReadableClassPath()));
        List<String> doctorCommand = new ArrayList<>(asNobody);
        doctorCommand.addAll(List.of("doctor", "--format", "json"));
        JsonNode commands = TcpinspectProcess.parse(Cmd.run(doctorCommand, 60).out().strip()).get("commands");
        assertEquals(true, commands.at("/watch/can_run").asBoolean(), commands.toString());
        assertEquals(true, commands.at("/upstreams/can_run").asBoolean(), commands.toString());
        assertEquals(false, commands.at("/cleanup/can_run").asBoolean());
        assertEquals(false, commands.at("/demo/can_run").asBoolean());
        assertEquals(false, commands.at("/enforce/can_run").asBoolean());
        assertEquals(true, commands.at("/policy check/can_run").asBoolean());
        assertTrue(commands.at("/watch/needs").asText().contains("CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN"));
        // the agent, as its unit runs it with those three alone (DeployCapabilitiesTest: and refused without each)
        assertEquals(true, commands.at("/agent/can_run").asBoolean(), commands.toString());
        assertEquals(commands.at("/watch/needs"), commands.at("/agent/needs"));
        assertEquals(commands.at("/watch/needs"), commands.at("/upstreams/needs"));
        for (String rootOnly : List.of("enforce", "policy apply", "policy show", "policy stats", "policy deny",
                "policy allow", "policy delete", "cleanup", "demo")) {
            assertTrue(commands.at("/" + rootOnly + "/needs").asText().startsWith("root"), rootOnly + ": " + commands);
        }
        assertEquals("nothing", commands.at("/doctor/needs").asText());
        for (String[] args : new String[][] {{"cleanup"}, {"demo", "--rounds", "1"}, {"policy", "stats"}}) {
            List<String> command = new ArrayList<>(asNobody);
            command.addAll(List.of(args));
            Cmd.Result r = Cmd.run(command, 60);
            boolean canRun = commands.at("/" + (args[0].equals("policy") ? "policy stats" : args[0]) + "/can_run")
                    .asBoolean();
            assertEquals(canRun ? 0 : 1, r.exit(), String.join(" ", args) + ": " + r.err());
            assertEquals(canRun ? 0 : 1, r.err().lines().count(), String.join(" ", args) + ": " + r.err());
        }
        JsonNode root = TcpinspectProcess.parse(TcpinspectProcess.run(null, "doctor", "--format", "json").out()
                .strip()).get("commands");
        root.forEach(c -> assertEquals(true, c.get("can_run").asBoolean(), root.toString()));
    }

    /**
     * A watch started as root gives up root, and every capability, once attached: with tcx links
     * or XDP (and zerowin's egress on tcx) the /proc status of each of its threads shows the user nobody and an empty effective set while it still counts what
     * a capture counts, stops on SIGTERM with its summary and leaves nothing attached (and no JVM
     * file in /tmp). With clsact filters, which only netlink removes, it stays root and removes them.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"tcx", "xdp", "clsact"})
    @RequiresBpf
    void aWatchStartedAsRootGivesUpRootOnceAttached(String tcMode) throws Exception {
        try (Lab lab = Lab.create(); var server = dev.tcpinspect.lab.Traffic.listen(lab.server(), Lab.SERVER_V4, 8081);
             dev.tcpinspect.testing.Capture capture = dev.tcpinspect.testing.Capture.incoming(lab.serverNs(),
                     lab.serverIf());
             TcpinspectProcess watch = TcpinspectProcess.start(lab.serverNs(), "watch", "-i", lab.serverIf(),
                     "--format", "json", tcMode.equals("xdp") ? "--xdp" : "--tc-mode=" + tcMode)) {
            watch.awaitJson("ready", 60);
            boolean tcx = !tcMode.equals("clsact");
            List<String> status = new ArrayList<>();
            try (var tasks = Files.list(Path.of("/proc", Long.toString(watch.pid()), "task"))) {
                for (Path task : tasks.toList()) { // every thread: capabilities and ids are per thread
                    status.addAll(Files.readAllLines(task.resolve("status")).stream()
                            .filter(l -> l.startsWith("Uid:") || l.startsWith("CapEff:") || l.startsWith("CapPrm:"))
                            .toList());
                }
            }
            assertTrue(status.size() > 30, "a JVM has threads: " + status.size() / 3);
            String uid = tcx ? "Uid:\\s+65534\\s+65534\\s+65534\\s+65534" : "Uid:\\s+0\\s+0\\s+0\\s+0";
            assertTrue(status.stream().filter(l -> l.startsWith("Uid:")).allMatch(l -> l.matches(uid)), status.toString());
            if (tcx) {
                assertTrue(status.stream().filter(l -> l.startsWith("Cap")).allMatch(l -> l.endsWith("0000000000000000")),
                        status.toString());
            }
            assertEquals(10, dev.tcpinspect.lab.Traffic.connect(lab.client(), Lab.SERVER_V4, 8081, 10));
            Thread.sleep(300);
            watch.terminate();
            JsonNode summary = watch.awaitJson("summary", 30);
            assertEquals(0, watch.waitFor(30), watch.stderr());
            assertEquals("", watch.stderr());
            capture.stop();
            assertEquals(capture.count(dev.tcpinspect.testing.Capture.SYN), summary.at("/packets/syn").asLong());
            assertEquals(10, summary.at("/connections/opened_passive").asLong(), summary.toString());
            assertFalse(Files.exists(Path.of("/tmp/hsperfdata_root", Long.toString(watch.pid()))));
            assertFalse(Files.exists(Path.of("/tmp/hsperfdata_nobody", Long.toString(watch.pid()))));
            assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()), "everything detached at exit");
        }
        // the lab is gone with its interface; what matters is that nothing is loaded or linked
        assertEquals(List.of(), Cmd.tcxProgramNames(), "no tcx link is left");
    }

    /** policy check: the issue's example accepted as written; a bad file refused in one line, exit 2. */
    @Test
    void policyCheck() throws Exception {
        Path dir = Files.createTempDirectory("tcpinspect-policy");
        try {
            Path good = dir.resolve("good.yaml");
            Files.writeString(good, dev.tcpinspect.policy.PolicyFileTest.ISSUE_EXAMPLE);
            Cmd.Result ok = TcpinspectProcess.run(null, "policy", "check", good.toString());
            assertEquals(0, ok.exit(), ok.err());
            assertTrue(ok.out().contains("a valid policy") && ok.out().contains("2001:db8:bad::/48")
                    && ok.out().contains("100 connections at once, 50 new a second"), ok.out());
            Path bad = dir.resolve("bad.yaml");
            Files.writeString(bad, "default: allow\nservices: [443, 70000]\n");
            Cmd.Result refused = TcpinspectProcess.run(null, "policy", "check", bad.toString());
            assertEquals(2, refused.exit(), refused.err());
            assertEquals("tcpinspect: " + bad + ":2: services: port 70000 is out of range (1 to 65535)",
                    refused.err().strip());
            Cmd.Result missing = TcpinspectProcess.run(null, "policy", "check", dir.resolve("none.yaml").toString());
            assertEquals(2, missing.exit(), missing.err());
            assertEquals(1, missing.err().strip().lines().count(), missing.err());
        } finally {
            try (var files = Files.list(dir)) {
                for (Path f : files.toList()) {
                    Files.delete(f);
                }
            }
            Files.delete(dir);
        }
    }

    /** --probe takes a comma-separated list as bpftrace and bcc users write it, as well as repeats. */
    @Test
    void probesAsAListOrRepeated() {
        for (String[] chosen : new String[][] {{"--probe", "packets,conn", "--probe", "rtt"},
                {"--probe", "packets", "--probe", "conn,rtt"}}) {
            List<String> args = new java.util.ArrayList<>(List.of("watch", "-i", "lo", "--duration", "1", "--format",
                    "json"));
            args.addAll(List.of(chosen));
            Cmd.Result r = TcpinspectProcess.run(null, args.toArray(String[]::new));
            assertEquals(0, r.exit(), r.err());
            JsonNode ready = TcpinspectProcess.parse(r.out().lines().findFirst().orElseThrow());
            assertEquals("ready", ready.get("type").asText());
            assertEquals(List.of("packets", "conn", "rtt"),
                    java.util.stream.StreamSupport.stream(ready.get("probes").spliterator(), false)
                            .map(JsonNode::asText).toList(), r.out());
        }
    }

    /** Another program on the interface's XDP hook: one line that says so and what to do, and the rest left as it was. */
    @Test
    @RequiresBpf
    void aBusyXdpHookIsOneLineWithWhatToDo() {
        try (Lab lab = Lab.create();
             dev.tcpinspect.ebpf.BpfObject foreign = dev.tcpinspect.ebpf.OpenObject.openResource("/bpf/test/runtime_test.bpf.o")
                     .load()) {
            lab.server().run(() -> foreign.program("rt_xdp").attachXdp(dev.tcpinspect.os.NetInterfaces.indexOf(lab.serverIf()),
                    dev.tcpinspect.ebpf.XdpMode.AUTO));
            Cmd.Result r = TcpinspectProcess.run(lab.serverNs(), "watch", "-i", lab.serverIf(), "--xdp", "--duration", "1");
            assertEquals(1, r.exit(), r.err());
            assertEquals(1, r.err().lines().count(), r.err());
            assertTrue(r.err().contains("already has an XDP program") && r.err().contains("without --xdp"), r.err());
            String attached = Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf());
            assertTrue(attached.contains("\"id\":" + foreign.program("rt_xdp").info().id()) && !attached.contains("tcpi_"),
                    "only the other program: " + attached);
            assertEquals(List.of(), Cmd.tcxProgramNames(), "no tcx link of tcpinspect's either");
        }
    }

    @Test
    @RequiresBpf
    void unknownInterfaceIsOneLineAndAttachesNothing() {
        try (Lab lab = Lab.create()) {
            Cmd.Result r = TcpinspectProcess.run(lab.serverNs(), "watch", "-i", lab.serverIf(), "-i", "nosuch0",
                    "--duration", "1");
            assertEquals(2, r.exit(), "input refused, as bad usage");
            assertEquals(List.of("tcpinspect: no network interface named 'nosuch0' in this network namespace"
                    + " (see `ip link` for the names)"), r.err().lines().toList());
            assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()), "the valid interface was left alone");
        }
    }

    @Test
    @RequiresBpf
    void doctorReportsWhatTheSystemSays() throws Exception {
        dev.tcpinspect.os.Tracefs.ensureMounted(); // so the tracepoints can be checked in tracefs below
        Cmd.Result r = TcpinspectProcess.run(null, "doctor", "--format", "json");
        assertEquals(0, r.exit(), r.err());
        JsonNode d = TcpinspectProcess.parse(r.out().strip());
        assertEquals("doctor", d.get("type").asText());
        assertEquals(Cmd.run("uname", "-r").ok().out().strip(), d.get("kernel").asText());
        assertEquals(Files.exists(Path.of("/sys/kernel/btf/vmlinux")), d.get("btf").asBoolean());
        assertEquals(Files.readString(Path.of("/proc/sys/net/core/bpf_jit_enable")).strip(), d.get("jit").asText());
        // dpkg's libbpf1 version 1:1.1.2-... must match the library's own v1.1.
        String dpkg = Cmd.run("dpkg-query", "-W", "-f", "${Version}", "libbpf1").ok().out();
        String[] mm = dpkg.replaceFirst("^\\d+:", "").split("[.-]");
        assertEquals("v" + mm[0] + "." + mm[1], d.get("libbpf").asText());
        assertEquals(Files.isDirectory(Path.of("/sys/bus/event_source/devices/kprobe")),
                d.get("hooks").get("kprobe").asBoolean());
        assertTrue(d.get("hooks").get("xdp").asBoolean() && d.get("hooks").get("tc").asBoolean());
        // tcx came with 6.6: the kernel's release says whether it is there.
        String[] release = Cmd.run("uname", "-r").ok().out().strip().split("[.-]");
        int major = Integer.parseInt(release[0]), minor = Integer.parseInt(release[1]);
        assertEquals(major > 6 || (major == 6 && minor >= 6), d.get("hooks").get("tcx").asBoolean());
        assertTrue(d.get("usable").asBoolean());
        assertEquals(0, d.get("problems").size());
        // Every tracepoint doctor lists as present has a format file in tracefs.
        d.get("tracepoints").fields().forEachRemaining(e -> {
            String[] parts = e.getKey().split(":");
            assertEquals(Files.exists(Path.of("/sys/kernel/tracing/events", parts[0], parts[1], "format")),
                    e.getValue().asBoolean(), e.getKey());
        });
    }
}
