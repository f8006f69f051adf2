package dev.tcpinspect.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tcpinspect.ebpf.BpfObject;
import dev.tcpinspect.ebpf.OpenObject;
import dev.tcpinspect.ebpf.TcDirection;
import dev.tcpinspect.ebpf.TcFilterId;
import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.os.NetInterfaces;
import dev.tcpinspect.testing.Capture;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.RequiresBpf;
import dev.tcpinspect.testing.TcpinspectProcess;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Attach, detach, kill -9 and cleanup, checked with bpftool and tc, which tcpinspect did not write. */
@RequiresBpf
class LifecycleCliTest {
    private static String tcFilters(Lab lab) {
        return Cmd.run("ip", "netns", "exec", lab.serverNs(), "tc", "filter", "show", "dev", lab.serverIf(), "ingress")
                .ok().out();
    }

    private static long count(String text, String needle) {
        return text.lines().filter(l -> l.contains(needle)).count();
    }

    /**
     * A script that starts watch in the background (`tcpinspect watch ... &`): the shell starts the
     * job with SIGINT ignored, as a control started the same way shows, and kill -INT must still stop
     * it as it stops tcpdump or bpftrace there, and kill -TERM too: summary printed, exit 0, nothing
     * left attached.
     */
    @ParameterizedTest
    @ValueSource(strings = {"INT", "TERM"})
    void eitherStopSignalStopsAWatchStartedAsAScriptsBackgroundJob(String signal) throws Exception {
        java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("tcpinspect-bg");
        try (Lab lab = Lab.create()) {
            List<String> watch = new java.util.ArrayList<>(TcpinspectProcess.javaCommand());
            watch.addAll(List.of("watch", "-i", lab.serverIf(), "--format", "json"));
            TcpinspectProcess.asLauncherStarts(watch);
            String quoted = TcpinspectProcess.shellLine(watch);
            String script = "sleep 60 & echo $! > " + dir + "/control; " + quoted + " & echo $! > " + dir + "/watch; "
                    + "wait $!; code=$?; kill $(cat " + dir + "/control); exit $code";
            try (TcpinspectProcess job = TcpinspectProcess.startCommand(
                    List.of("ip", "netns", "exec", lab.serverNs(), "bash", "-c", script))) {
                job.awaitJson("ready", 30);
                long control = Long.parseLong(java.nio.file.Files.readString(dir.resolve("control")).strip());
                assertTrue(Cmd.signalIgnored(control, 2), "the shell started its background job with SIGINT ignored");
                String pid = java.nio.file.Files.readString(dir.resolve("watch")).strip();
                Cmd.run("kill", "-" + signal, pid).ok();
                job.awaitJson("summary", 15);
                assertEquals(0, job.waitFor(15), job.stderr());
            }
            assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()));
            assertEquals(List.of(), Cmd.tcxProgramNames(), "no tcx link is left");
        } finally {
            try (var files = java.nio.file.Files.list(dir)) {
                for (java.nio.file.Path f : files.toList()) {
                    java.nio.file.Files.delete(f);
                }
            }
            java.nio.file.Files.delete(dir);
        }
    }

    /**
     * watch as a container's PID 1 (a PID namespace of its own, as unshare or a container runtime
     * starts it): the kernel delivers PID 1 only the signals it handles, and SIGTERM, the one a
     * runtime sends to stop a container, and SIGINT (`docker run -it`'s Ctrl-C) must still stop it
     * cleanly: summary, exit 0, nothing attached.
     */
    @ParameterizedTest
    @ValueSource(strings = {"INT", "TERM"})
    void eitherStopSignalStopsAWatchRunningAsPidOneOfItsNamespace(String signal) throws Exception {
        try (Lab lab = Lab.create()) {
            List<String> command = new java.util.ArrayList<>(List.of("ip", "netns", "exec", lab.serverNs(), "unshare",
                    "--pid", "--fork", "--kill-child", "--mount-proc"));
            command.addAll(TcpinspectProcess.javaCommand());
            command.addAll(List.of("watch", "-i", lab.serverIf(), "--format", "json"));
            TcpinspectProcess.asLauncherStarts(command);
            try (TcpinspectProcess container = TcpinspectProcess.startCommand(command)) {
                container.awaitJson("ready", 30);
                ProcessHandle pidOne = ProcessHandle.of(container.pid()).orElseThrow().children().findFirst()
                        .orElseThrow();
                assertTrue(Cmd.pidOneOfItsNamespace(pidOne.pid()), "PID 1 in its namespace: NSpid "
                        + Cmd.procStatus(pidOne.pid(), "NSpid"));
                Cmd.run("kill", "-" + signal, Long.toString(pidOne.pid())).ok();
                container.awaitJson("summary", 15);
                assertEquals(0, container.waitFor(15), container.stderr());
            }
            assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()));
            assertEquals(List.of(), Cmd.tcxProgramNames(), "no tcx link is left");
        }
    }

    /**
     * A second SIGINT during shutdown exits at once (130), as a shell's second Ctrl-C does, and still
     * leaves nothing attached. The shutdown is made to hang for real: watch's reader stops reading
     * after the first line, a burst of connections fills the pipe with event lines, and watch's
     * writer blocks, so the first SIGINT cannot finish (the process is still there 2 s later).
     */
    @Test
    void aSecondSigintDuringAStuckShutdownExitsAtOnceLeavingNothingAttached() throws Exception {
        try (Lab lab = Lab.create(); var server = Traffic.listen(lab.server(), "0.0.0.0", 8080)) {
            List<String> command = new java.util.ArrayList<>(List.of("ip", "netns", "exec", lab.serverNs()));
            command.addAll(TcpinspectProcess.javaCommand());
            command.addAll(List.of("watch", "-i", lab.serverIf(), "--format", "json", "--duration", "120"));
            TcpinspectProcess.asLauncherStarts(command);
            java.nio.file.Path err = java.nio.file.Files.createTempFile("tcpinspect-stuck", ".err");
            Process watch = new ProcessBuilder(command).redirectError(err.toFile()).start();
            try {
                var out = new java.io.BufferedReader(new java.io.InputStreamReader(watch.getInputStream()), 256);
                assertTrue(out.readLine().contains("\"ready\""));
                // Never read again: 2,000 connections' event lines are far more than a pipe holds.
                Traffic.connect(lab.client(), Lab.SERVER_V4, 8080, 2000);
                Thread.sleep(1000);
                Cmd.run("kill", "-INT", Long.toString(watch.pid())).ok();
                Thread.sleep(2000);
                assertTrue(watch.isAlive(), "the first SIGINT's shutdown is stuck on the full pipe");
                long start = System.nanoTime();
                Cmd.run("kill", "-INT", Long.toString(watch.pid())).ok();
                assertTrue(watch.waitFor(5, java.util.concurrent.TimeUnit.SECONDS), "exited after the second SIGINT");
                double seconds = (System.nanoTime() - start) / 1e9;
                assertEquals(130, watch.exitValue());
                assertTrue(seconds < 1.5, "exited within " + seconds + " s");
                assertTrue(java.nio.file.Files.readString(err).contains("second interrupt: exiting now"),
                        java.nio.file.Files.readString(err));
            } finally {
                watch.destroyForcibly().waitFor();
                java.nio.file.Files.delete(err);
            }
            assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()));
            assertEquals(List.of(), Cmd.tcxProgramNames(), "no tcx link is left");
        }
    }

    /**
     * An interface deleted under a running watch: one line on stderr names it and the interfaces
     * still watched, and the others keep being counted (checked against a capture of the traffic
     * that follows), and watch still ends cleanly with nothing left attached: with tcx links and with
     * clsact filters (whose detach finds the interface gone).
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"tcx", "clsact"})
    void anInterfaceDeletedWhileWatchedIsNamedAndTheOthersKeepBeingCounted(String tcMode) throws Exception {
        try (Lab lab = Lab.create(); var server = Traffic.listen(lab.server(), "0.0.0.0", 8080)) {
            Cmd.run("ip", "-n", lab.serverNs(), "link", "add", "gone0a", "type", "veth", "peer", "name", "gone0b").ok();
            Cmd.run("ip", "-n", lab.serverNs(), "link", "set", "gone0a", "up").ok();
            try (Capture capture = Capture.incoming(lab.serverNs(), lab.serverIf());
                 TcpinspectProcess watch = TcpinspectProcess.start(lab.serverNs(), "watch", "-i", lab.serverIf(), "-i",
                         "gone0a", "--tc-mode", tcMode, "--format", "json", "--interval", "0.5")) {
                watch.awaitJson("ready", 30);
                Cmd.run("ip", "-n", lab.serverNs(), "link", "del", "gone0a").ok();
                String expected = "tcpinspect: interface gone0a is gone (deleted or moved); still watching " + lab.serverIf();
                long deadline = System.nanoTime() + 5_000_000_000L;
                while (!watch.stderr().contains(expected) && System.nanoTime() < deadline) {
                    Thread.sleep(100);
                }
                assertEquals(expected, watch.stderr().strip(), "one line, within the second's check");
                assertEquals(20, Traffic.connect(lab.client(), Lab.SERVER_V4, 8080, 20));
                watch.awaitJson("interval", 10);
                watch.terminate();
                JsonNode summary = watch.awaitJson("summary", 30);
                assertEquals(0, watch.waitFor(30), watch.stderr());
                capture.stop();
                assertEquals(capture.count(Capture.SYN), summary.get("packets").get("syn").asLong());
                assertEquals(20, summary.get("packets").get("syn").asLong());
                assertEquals(expected, watch.stderr().strip(), "said once");
            }
            assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()));
            assertEquals(List.of(), Cmd.tcxProgramNames(), "no tcx link is left");
        }
    }

    /**
     * Two watches on one interface at once. With tcx links both work, each counting what a capture
     * sees. With clsact filters the second is refused in one line, and neither it nor `cleanup`
     * touches the first one's filter, which goes on counting.
     */
    @Test
    void twoWatchesOnOneInterfaceBothWorkOrTheSecondSaysWhy() throws Exception {
        try (Lab lab = Lab.create(); var server = Traffic.listen(lab.server(), "0.0.0.0", 8080)) {
            try (Capture capture = Capture.incoming(lab.serverNs(), lab.serverIf());
                 TcpinspectProcess first = TcpinspectProcess.start(lab.serverNs(), "watch", "-i", lab.serverIf(),
                         "--format", "json");
                 TcpinspectProcess second = TcpinspectProcess.start(lab.serverNs(), "watch", "-i", lab.serverIf(),
                         "--format", "json")) {
                first.awaitJson("ready", 30);
                second.awaitJson("ready", 30);
                assertEquals(20, Traffic.connect(lab.client(), Lab.SERVER_V4, 8080, 20));
                first.terminate();
                second.terminate();
                long syn = first.awaitJson("summary", 30).get("packets").get("syn").asLong();
                assertEquals(syn, second.awaitJson("summary", 30).get("packets").get("syn").asLong());
                capture.stop();
                assertEquals(capture.count(Capture.SYN), syn);
                assertEquals(20, syn);
            }
            try (Capture capture = Capture.incoming(lab.serverNs(), lab.serverIf());
                 TcpinspectProcess first = TcpinspectProcess.start(lab.serverNs(), "watch", "-i", lab.serverIf(),
                         "--tc-mode", "clsact", "--format", "json")) {
                first.awaitJson("ready", 30);
                var refused = TcpinspectProcess.run(lab.serverNs(), "watch", "-i", lab.serverIf(), "--tc-mode", "clsact",
                        "--format", "json");
                assertEquals(1, refused.exit(), refused.err());
                assertEquals(1, refused.err().strip().lines().count(), refused.err());
                assertTrue(refused.err().contains("is in use by another running tcpinspect"), refused.err());
                var cleanup = TcpinspectProcess.run(lab.serverNs(), "cleanup");
                assertTrue(cleanup.out().contains("left alone: tc ingress filter of " + lab.serverIf()), cleanup.out());
                assertEquals(1, count(tcFilters(lab), "tcpi_tc_ingress"), "the first watch's filter is still there");
                assertEquals(20, Traffic.connect(lab.client(), Lab.SERVER_V4, 8080, 20));
                first.terminate();
                long syn = first.awaitJson("summary", 30).get("packets").get("syn").asLong();
                capture.stop();
                assertEquals(capture.count(Capture.SYN), syn);
                assertEquals(20, syn);
            }
            assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()));
        }
    }

    /** `watch | head`: once head has its lines and goes, watch ends within an interval, quietly, detached. */
    @Test
    void aClosedPipeEndsWatchQuietly() {
        try (Lab lab = Lab.create()) {
            for (String format : List.of("text", "json")) {
                List<String> watch = new java.util.ArrayList<>(TcpinspectProcess.javaCommand());
                // --duration: should the test fail, its watch still ends (Cmd.run's timeout stops only bash)
                watch.addAll(List.of("watch", "-i", lab.serverIf(), "--format", format, "--duration", "25"));
                TcpinspectProcess.asLauncherStarts(watch);
                String quoted = TcpinspectProcess.shellLine(watch);
                long start = System.nanoTime();
                // pipefail: the pipeline's status is watch's own, and bash waits for watch to end
                Cmd.Result r = Cmd.run(List.of("ip", "netns", "exec", lab.serverNs(), "bash", "-c",
                        "set -o pipefail; " + quoted + " | head -1"), 30);
                double seconds = (System.nanoTime() - start) / 1e9;
                assertEquals(0, r.exit(), format + ": " + r.err());
                assertEquals("", r.err(), format + ": nothing on stderr");
                assertEquals(1, r.out().lines().count(), r.out());
                assertTrue(seconds < 15, format + ": watch went on for " + seconds + " s after head left");
                assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()), format);
                // A write that fails for another reason (here /dev/full: ENOSPC) is a failure, said in one line.
                Cmd.Result full = Cmd.run(List.of("ip", "netns", "exec", lab.serverNs(), "bash", "-c",
                        quoted + " > /dev/full"), 30);
                assertEquals(1, full.exit(), format + ": " + full.err());
                assertEquals(1, full.err().strip().lines().count(), full.err());
                assertTrue(full.err().contains("writing the output failed"), full.err());
                assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()), format);
            }
            assertEquals(List.of(), Cmd.tcxProgramNames(), "no tcx link is left");
        }
    }

    @Test
    void durationEndsWatchByItselfAndDetaches() {
        try (Lab lab = Lab.create()) {
            var run = TcpinspectProcess.run(lab.serverNs(), "watch", "-i", lab.serverIf(), "--duration", "1.5",
                    "--format", "json");
            assertEquals(0, run.exit(), run.err());
            List<String> lines = run.out().lines().toList();
            assertEquals("ready", TcpinspectProcess.parse(lines.getFirst()).get("type").asText());
            JsonNode summary = TcpinspectProcess.parse(lines.getLast());
            assertEquals("summary", summary.get("type").asText());
            double seconds = summary.get("seconds").asDouble();
            assertTrue(seconds >= 1.4 && seconds < 3, "ran for " + seconds);
            assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()));
            assertEquals(List.of(), Cmd.tcxProgramNames(), "no tcx link is left");
            String qdiscs = Cmd.run("ip", "netns", "exec", lab.serverNs(), "tc", "qdisc", "show", "dev", lab.serverIf())
                    .ok().out();
            assertTrue(!qdiscs.contains("clsact"), "the clsact qdisc watch created is gone too: " + qdiscs);
        }
    }

    @Test
    void afterKill9WatchReplacesItsLeftoverAndCleanupRemovesOnlyTcpinspectsFilters() throws Exception {
        try (Lab lab = Lab.create(); BpfObject foreign = OpenObject.openResource("/bpf/test/runtime_test.bpf.o").load()) {
            // Another tool's filter on the same hook must survive everything below.
            lab.server().run(() -> foreign.program("rt_tc").attachTc(NetInterfaces.indexOf(lab.serverIf()),
                    TcDirection.INGRESS, new TcFilterId(0x55, 2), false));

            TcpinspectProcess first = TcpinspectProcess.start(lab.serverNs(), "watch", "-i", lab.serverIf(),
                    "--tc-mode", "clsact", "--format", "json");
            first.awaitJson("ready", 30);
            first.kill9();
            String afterKill = tcFilters(lab);
            assertEquals(1, count(afterKill, "tcpi_tc_ingress"), "a killed watch leaves its tc filter:\n" + afterKill);
            assertEquals(1, count(afterKill, "rt_tc"));

            try (TcpinspectProcess second = TcpinspectProcess.start(lab.serverNs(), "watch", "-i", lab.serverIf(),
                    "--tc-mode", "clsact", "--format", "json")) {
                second.awaitJson("ready", 30);
                assertEquals(1, count(tcFilters(lab), "tcpi_tc_ingress"), "no second copy is stacked");
                try (var server = Traffic.listen(lab.server(), Lab.SERVER_V4, 8080)) {
                    Traffic.connect(lab.client(), Lab.SERVER_V4, 8080, 3);
                }
                second.kill9();
            }

            var cleanup = TcpinspectProcess.run(lab.serverNs(), "cleanup");
            assertEquals(0, cleanup.exit(), cleanup.err());
            assertTrue(cleanup.out().contains("removed tc ingress filter of " + lab.serverIf()), cleanup.out());
            String afterCleanup = tcFilters(lab);
            assertEquals(0, count(afterCleanup, "tcpi_"), afterCleanup);
            assertEquals(1, count(afterCleanup, "rt_tc"), "the foreign filter is untouched:\n" + afterCleanup);

            var again = TcpinspectProcess.run(lab.serverNs(), "cleanup");
            assertEquals(0, again.exit());
            assertTrue(again.out().contains("nothing of tcpinspect's was attached"), again.out());
        }
    }

    @Test
    void tcxLinksDieWithTheProcessAndANewStartRemovesAClsactLeftover() {
        try (Lab lab = Lab.create()) {
            TcpinspectProcess old = TcpinspectProcess.start(lab.serverNs(), "watch", "-i", lab.serverIf(),
                    "--tc-mode", "clsact", "--format", "json");
            old.awaitJson("ready", 30);
            old.kill9();
            assertEquals(1, count(tcFilters(lab), "tcpi_"), "the clsact leftover:\n" + tcFilters(lab));

            TcpinspectProcess watch = TcpinspectProcess.start(lab.serverNs(), "watch", "-i", lab.serverIf(),
                    "--format", "json");
            watch.awaitJson("ready", 30);
            assertEquals(List.of("tcpi_tc_egress", "tcpi_tc_ingress"),
                    Cmd.tcxProgramNames().stream().sorted().toList(), "one program per packet hook, as tcx links");
            assertEquals(0, count(tcFilters(lab), "tcpi_"), "the leftover went:\n" + tcFilters(lab));
            watch.kill9();
            assertEquals(List.of(), Cmd.tcxProgramNames(), "the tcx links went with the process");
            var cleanup = TcpinspectProcess.run(lab.serverNs(), "cleanup");
            assertEquals(0, cleanup.exit(), cleanup.err());
            assertTrue(cleanup.out().contains("nothing of tcpinspect's was attached"), cleanup.out());
        }
    }

    /**
     * Before one program per hook, each packet probe had its own filter at ingress (handles 0x7C2 to
     * 0x7C4): what a killed older tcpinspect left there goes with the next start and with cleanup.
     */
    @Test
    void leftoversInTheSlotsOfEarlierVersionsAreRemoved() {
        try (Lab lab = Lab.create(); BpfObject old = OpenObject.openResource("/bpf/bench/empty.bpf.o").load()) {
            int ifindex = lab.server().call(() -> NetInterfaces.indexOf(lab.serverIf()));
            for (int handle : new int[] {0x7C2, 0x7C3}) {
                lab.server().run(() -> old.program("tcpi_empty_tc").attachTc(ifindex, TcDirection.INGRESS,
                        new TcFilterId(handle, 1), false));
            }
            assertEquals(2, count(tcFilters(lab), "tcpi_empty_tc"), tcFilters(lab));
            var run = TcpinspectProcess.run(lab.serverNs(), "watch", "-i", lab.serverIf(), "--tc-mode", "clsact",
                    "--probe", "packets", "--duration", "0.5");
            assertEquals(0, run.exit(), run.err());
            assertEquals(0, count(tcFilters(lab), "tcpi_"), "a new start removes them:\n" + tcFilters(lab));

            lab.server().run(() -> old.program("tcpi_empty_tc").attachTc(ifindex, TcDirection.INGRESS,
                    new TcFilterId(0x7C4, 1), false));
            var cleanup = TcpinspectProcess.run(lab.serverNs(), "cleanup");
            assertEquals(0, cleanup.exit(), cleanup.err());
            assertEquals(0, count(tcFilters(lab), "tcpi_"), "so does cleanup:\n" + tcFilters(lab));
        }
    }

    @Test
    void xdpDiesWithTheProcess() {
        try (Lab lab = Lab.create()) {
            TcpinspectProcess watch = TcpinspectProcess.start(lab.serverNs(), "watch", "--xdp", "--probe", "packets",
                    "-i", lab.serverIf(), "--format", "json");
            watch.awaitJson("ready", 30);
            assertTrue(Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()).contains("\"xdp\""));
            watch.kill9();
            assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()), "the XDP link went with the process");
        }
    }

    @Test
    void aForeignFilterInTcpinspectsSlotIsNotReplaced() {
        try (Lab lab = Lab.create(); BpfObject foreign = OpenObject.openResource("/bpf/test/runtime_test.bpf.o").load()) {
            lab.server().run(() -> foreign.program("rt_tc").attachTc(NetInterfaces.indexOf(lab.serverIf()),
                    TcDirection.INGRESS, new TcFilterId(0x7C1, 1), false));
            var run = TcpinspectProcess.run(lab.serverNs(), "watch", "-i", lab.serverIf(), "--tc-mode", "clsact",
                    "--duration", "1");
            assertEquals(1, run.exit());
            assertEquals(1, run.err().lines().count(), run.err());
            assertTrue(run.err().contains("tcpinspect did not put there"), run.err());
            assertEquals(1, count(tcFilters(lab), "rt_tc"));
        }
    }
}
