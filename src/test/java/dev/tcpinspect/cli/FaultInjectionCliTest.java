package dev.tcpinspect.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.testing.Capture;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.RequiresBpf;
import dev.tcpinspect.testing.TcpinspectProcess;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Faults injected under a running or starting tcpinspect: namespaces deleted, the kernel's
 * filesystems not mounted, kill -9 at random moments. What remains is read with bpftool, tc and
 * /proc, which tcpinspect did not write; counts are held to captures.
 */
@RequiresBpf
class FaultInjectionCliTest {
    private static String tcFilters(Lab lab) {
        return Cmd.run("ip", "netns", "exec", lab.serverNs(), "tc", "filter", "show", "dev", lab.serverIf(), "ingress")
                .ok().out() + Cmd.run("ip", "netns", "exec", lab.serverNs(), "tc", "filter", "show", "dev",
                lab.serverIf(), "egress").ok().out();
    }

    private static long count(String text, String needle) {
        return text.lines().filter(l -> l.contains(needle)).count();
    }

    /**
     * The watcher's programs still loaded anywhere on the host (bpftool lists every program; the
     * enforcer's and the benchmarks' are named apart), but those the tests beside this one hold
     * (Cmd.heldBeside). The kernel frees a dead process's
     * programs after an RCU grace period, so a few seconds are given.
     */
    private static long tcpinspectProgramsLoaded() throws InterruptedException {
        long loaded = 0;
        for (int i = 0; i < 30; i++) {
            Cmd.Held before = Cmd.heldBeside(); // and after the listing: whoever ended or started meanwhile
            List<String> listed = Cmd.run(List.of("bpftool", "prog", "show"), 30).ok().out().lines().toList();
            java.util.Set<Long> held = Cmd.union(before, Cmd.heldBeside()).programs();
            loaded = listed.stream()
                    .filter(l -> l.contains(" name tcpi_") && !l.contains(" name tcpi_enf")
                            && !l.contains(" name tcpi_empty") && !l.contains(" name tcpi_drop"))
                    .filter(l -> !held.contains(Long.parseLong(l.substring(0, l.indexOf(':')).strip()))).count();
            if (loaded == 0) {
                break;
            }
            Thread.sleep(100);
        }
        return loaded;
    }

    private static void awaitStderr(TcpinspectProcess p, String expected, int seconds) throws InterruptedException {
        long deadline = System.nanoTime() + seconds * 1_000_000_000L;
        while (!p.stderr().contains(expected) && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
    }

    /**
     * The namespaces under a running watch deleted: the whole namespace at the other end of a watched
     * veth (its death takes both ends of the veth), then the name of the watch's own namespace (ip
     * netns del; the kernel keeps a namespace while a process is inside). The watch names the
     * interface that went once, goes on counting the other against a capture, and ends cleanly, with
     * nothing of tcpinspect's left loaded.
     */
    @Test
    void namespacesDeletedUnderARunningWatch() throws Exception {
        try (Lab lab = Lab.create(); var server = Traffic.listen(lab.server(), "0.0.0.0", 8080)) {
            String peer = lab.serverNs() + "-peer";
            Cmd.run("ip", "netns", "add", peer).ok();
            try {
                Cmd.run("ip", "-n", lab.serverNs(), "link", "add", "nsgone0", "type", "veth", "peer", "name", "nsgone1",
                        "netns", peer).ok();
                Cmd.run("ip", "-n", lab.serverNs(), "link", "set", "nsgone0", "up").ok();
                try (Capture capture = Capture.incoming(lab.serverNs(), lab.serverIf());
                     TcpinspectProcess watch = TcpinspectProcess.start(lab.serverNs(), "watch", "-i", lab.serverIf(),
                             "-i", "nsgone0", "--format", "json", "--interval", "0.5")) {
                    watch.awaitJson("ready", 30);
                    Cmd.run("ip", "netns", "del", peer).ok(); // nothing inside: it dies, and the veth with it
                    String expected = "tcpinspect: interface nsgone0 is gone (deleted or moved); still watching "
                            + lab.serverIf();
                    awaitStderr(watch, expected, 10);
                    assertEquals(expected, watch.stderr().strip(), "one line, once the namespace is gone");
                    Cmd.run("ip", "netns", "del", lab.serverNs()).ok(); // the name only: the watch keeps it alive
                    assertFalse(Files.exists(Path.of("/run/netns", lab.serverNs())));
                    assertEquals(20, Traffic.connect(lab.client(), Lab.SERVER_V4, 8080, 20));
                    watch.awaitJson("interval", 10);
                    watch.terminate();
                    JsonNode summary = watch.awaitJson("summary", 30);
                    assertEquals(0, watch.waitFor(30), watch.stderr());
                    capture.stop();
                    assertEquals(20, summary.at("/packets/syn").asLong(), summary.toString());
                    assertEquals(capture.count(Capture.SYN), summary.at("/packets/syn").asLong());
                    assertEquals(expected, watch.stderr().strip(), "said once");
                }
            } finally {
                Cmd.run("ip", "netns", "del", peer); // gone already unless the test failed early
            }
            assertEquals(List.of(), Cmd.tcxProgramNames(), "no tcx link is left");
            assertEquals(0, tcpinspectProgramsLoaded(), "no program of tcpinspect's is left loaded");
        }
    }

    /**
     * Neither bpffs nor tracefs mounted (a private mount namespace that unmounts both, as a container
     * or `ip netns exec` may give): watch needs neither (tcx links die with it, nothing is pinned) and
     * counts as a capture does; enforce, whose tables are pinned for other commands to find, refuses
     * in one line saying what to do, and attaches nothing.
     */
    @Test
    void withoutBpffsOrTracefsWatchWorksAndEnforceSaysWhatToDo() throws Exception {
        String unmountAll = "for m in /sys/fs/bpf /sys/kernel/tracing /sys/kernel/debug/tracing /sys/kernel/debug; do"
                + " umount -l $m 2>/dev/null; done; exec \"$@\"";
        try (Lab lab = Lab.create(); var server = Traffic.listen(lab.server(), "0.0.0.0", 8080)) {
            List<String> watchCommand = new ArrayList<>(List.of("ip", "netns", "exec", lab.serverNs(), "unshare", "-m",
                    "--propagation", "private", "sh", "-c", unmountAll, "sh"));
            watchCommand.addAll(TcpinspectProcess.javaCommand());
            watchCommand.addAll(List.of("watch", "-i", lab.serverIf(), "--format", "json"));
            TcpinspectProcess.asLauncherStarts(watchCommand);
            try (Capture capture = Capture.incoming(lab.serverNs(), lab.serverIf());
                 TcpinspectProcess watch = TcpinspectProcess.startCommand(watchCommand)) {
                watch.awaitJson("ready", 30);
                String mounts = Files.readString(Path.of("/proc", Long.toString(watch.pid()), "mounts"));
                assertFalse(mounts.contains(" bpf ") || mounts.contains("tracefs"), "neither is mounted:\n" + mounts);
                assertEquals(10, Traffic.connect(lab.client(), Lab.SERVER_V4, 8080, 10));
                Thread.sleep(300);
                watch.terminate();
                JsonNode summary = watch.awaitJson("summary", 30);
                assertEquals(0, watch.waitFor(30), watch.stderr());
                capture.stop();
                assertEquals(capture.count(Capture.SYN), summary.at("/packets/syn").asLong());
                assertEquals(10, summary.at("/connections/opened_passive").asLong(), summary.toString());
            }
            Path policy = Files.createTempFile("tcpinspect-fault", ".yaml");
            try {
                Files.writeString(policy, "services: [8080]\n");
                List<String> enforceCommand = new ArrayList<>(List.of("unshare", "-m", "--propagation", "private", "sh",
                        "-c", unmountAll, "sh"));
                enforceCommand.addAll(TcpinspectProcess.javaCommand());
                enforceCommand.addAll(List.of("enforce", "--policy", policy.toString(), "-i", lab.serverIf(), "--netns",
                        lab.serverNs()));
                try (TcpinspectProcess enforce = TcpinspectProcess.startCommand(enforceCommand)) {
                    assertEquals(1, enforce.waitFor(30));
                    assertEquals(List.of("tcpinspect: no BPF filesystem at /sys/fs/bpf in this mount namespace (ip netns"
                            + " exec gives each command a private /sys): run tcpinspect from the host with --netns NAME"),
                            enforce.stderr().strip().lines().toList());
                }
            } finally {
                Files.delete(policy);
            }
            assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()));
            assertEquals(List.of(), Cmd.tcxProgramNames(), "no tcx link is left");
        }
    }

    /**
     * kill -9 at random moments of startup (before, while and after attaching) and of shutdown
     * (after SIGTERM), 50 times, with tcx links and with clsact filters: nothing ever stacks (at
     * most one of tcpinspect's filters a hook), the next start leaves exactly its own, and after the
     * last kill `cleanup` leaves exactly nothing: no filter, no tcx link, no program loaded. A watch
     * started afterwards still counts what a capture counts.
     */
    @Test
    void killNineAtRandomMomentsFiftyTimesLeavesNothingThatStacks() throws Exception {
        Random random = new Random(Long.getLong("fuzz.seed", 20261201L));
        int killedStarting = 0;
        int killedStopping = 0;
        try (Lab lab = Lab.create(); var server = Traffic.listen(lab.server(), "0.0.0.0", 8080)) {
            for (int i = 0; i < 50; i++) {
                String mode = random.nextBoolean() ? "tcx" : "clsact";
                TcpinspectProcess watch = TcpinspectProcess.start(lab.serverNs(), "watch", "-i", lab.serverIf(),
                        "--tc-mode", mode, "--format", "json");
                if (random.nextInt(3) == 0) {
                    watch.awaitJson("ready", 30);
                    watch.terminate();
                    Thread.sleep(random.nextInt(400)); // somewhere in the shutdown: detaching, summary
                    killedStopping++;
                } else {
                    Thread.sleep(random.nextInt(1800)); // somewhere from JVM start to attached
                    killedStarting++;
                }
                watch.kill9();
                watch.close();
                String filters = tcFilters(lab);
                assertTrue(count(filters, "tcpi_tc_ingress") <= 1 && count(filters, "tcpi_tc_egress") <= 1,
                        "round " + i + " (" + mode + "): nothing stacks:\n" + filters);
                assertEquals(List.of(), Cmd.tcxProgramNames(), "round " + i + ": tcx links die with the process");
            }
            Cmd.Result cleanup = TcpinspectProcess.run(lab.serverNs(), "cleanup");
            assertEquals(0, cleanup.exit(), cleanup.err());
            assertEquals(0, count(tcFilters(lab), "tcpi_"), tcFilters(lab));
            assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()));
            assertEquals(0, tcpinspectProgramsLoaded(), "no program of tcpinspect's is left loaded");

            try (Capture capture = Capture.incoming(lab.serverNs(), lab.serverIf());
                 TcpinspectProcess watch = TcpinspectProcess.start(lab.serverNs(), "watch", "-i", lab.serverIf(),
                         "--format", "json")) {
                watch.awaitJson("ready", 30);
                assertEquals(5, Traffic.connect(lab.client(), Lab.SERVER_V4, 8080, 5));
                Thread.sleep(300);
                watch.terminate();
                JsonNode summary = watch.awaitJson("summary", 30);
                assertEquals(0, watch.waitFor(30), watch.stderr());
                capture.stop();
                assertEquals(capture.count(Capture.SYN), summary.at("/packets/syn").asLong());
            }
            assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()));
            assertEquals(0, tcpinspectProgramsLoaded(), "no program of tcpinspect's is left loaded");
        }
        System.out.printf("kill -9: %d while starting, %d while stopping; nothing stacked, cleanup left nothing%n",
                killedStarting, killedStopping);
        assertTrue(killedStarting > 10 && killedStopping > 5, killedStarting + " / " + killedStopping);
    }
}
