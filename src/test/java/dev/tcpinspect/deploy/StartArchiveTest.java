package dev.tcpinspect.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.tcpinspect.os.Libc;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The launcher's start archive (scripts/common.sh): when it is recorded, with what, and when a start
 * maps it. The functions run in bash from a copy of scripts/ beside a stand-in jar and a stand-in
 * JDK, whose java notes its arguments and writes (or fails to write) the archive it is asked for, so
 * that each rule is checked without a JVM's minute of recording. That the real JVM maps what the
 * real recording makes was measured (BENCHMARKS.md, "The start archive").
 */
class StartArchiveTest {
    private Path root;
    private Path jdk;
    private Path calls;
    private Path jar;
    private Path archive;

    @BeforeEach
    void layout() throws IOException {
        // ensure_start_archive records only as root (a watch needs it); the stand-in needs nothing
        boolean rootUser = Libc.geteuid() == 0;
        if (!rootUser && "true".equals(System.getenv("CI"))) {
            throw new AssertionError("the start archive is recorded by root only, and CI=true runs as root");
        }
        assumeTrue(rootUser, "not root");
        root = Files.createTempDirectory("start-archive");
        Files.createDirectories(root.resolve("scripts"));
        Files.copy(Path.of("scripts/common.sh"), root.resolve("scripts/common.sh"));
        Files.copy(Path.of("scripts/jvm.options"), root.resolve("scripts/jvm.options"));
        Files.createDirectories(root.resolve("target"));
        jar = Files.writeString(root.resolve("target/tcpinspect.jar"), "a jar");
        archive = root.resolve("target/tcpinspect.jsa");
        jdk = root.resolve("jdk");
        Files.createDirectories(jdk.resolve("bin"));
        Files.createDirectories(jdk.resolve("lib"));
        Files.writeString(jdk.resolve("lib/modules"), "the JDK's modules");
        calls = root.resolve("calls");
        // The stand-in java: one line of arguments per call; writes the archive it is asked for unless
        // STUB_RC says to fail with that status.
        Path java = Files.writeString(jdk.resolve("bin/java"), """
                #!/usr/bin/env bash
                echo "$*" >> "%s"
                for a in "$@"; do
                  case $a in -XX:ArchiveClassesAtExit=*) out=${a#-XX:ArchiveClassesAtExit=} ;; esac
                done
                rc=${STUB_RC:-0}
                [ "$rc" -eq 0 ] && [ -n "${out:-}" ] && echo "classes" > "$out"
                exit "$rc"
                """.formatted(calls));
        Files.setPosixFilePermissions(java, PosixFilePermissions.fromString("rwxr-xr-x"));
        age(jdk.resolve("lib/modules"), 3600);
        age(jar, 60);
    }

    @AfterEach
    void remove() throws Exception {
        if (root != null) {
            new ProcessBuilder("rm", "-rf", root.toString()).start().waitFor();
        }
    }

    @Test
    void aWatchByRootRecordsItOnceAndEveryStartThenMapsIt() throws Exception {
        Result first = launch(Map.of(), "watch", "-i", "eth0");
        assertEquals(0, first.status, first.stderr);
        List<String> recorded = calls();
        assertEquals(1, recorded.size(), recorded.toString());
        String call = recorded.getFirst();
        assertTrue(call.contains("-XX:ArchiveClassesAtExit=" + archive + "."), call);
        assertTrue(call.endsWith("-jar " + jar + " watch -i lo --duration 1 --keep-root"), call);
        assertTrue(call.contains("-Xmx128m") && call.contains("-XX:TieredStopAtLevel=1"), "the launcher's JVM options: " + call);
        assertEquals("classes\n", Files.readString(archive));
        assertTrue(first.stderr.contains("recording the classes a start loads"), first.stderr);
        assertEquals("-XX:SharedArchiveFile=" + archive + " -Xlog:cds=off -Xlog:cds+dynamic=off", first.stdout.strip());
        try (var names = Files.list(archive.getParent())) {
            assertEquals(List.of("tcpinspect.jar", "tcpinspect.jsa"), names.map(p -> p.getFileName().toString()).sorted().toList(),
                    "no temporary file left");
        }

        Result again = launch(Map.of(), "watch");
        assertEquals(1, calls().size(), "a current archive is not recorded again");
        assertEquals("", again.stderr);
        assertEquals(first.stdout, again.stdout);
    }

    @Test
    void aNewJarOrJdkMakesItStaleAndTheNextWatchRecordsItAgain() throws Exception {
        assertEquals(0, launch(Map.of(), "watch").status);
        age(archive, 30); // then the jar is built again
        Files.setLastModifiedTime(jar, FileTime.from(Instant.now().minusSeconds(1)));
        assertEquals("", launch(Map.of(), "--version").stdout.strip(), "an archive older than the jar is not mapped");
        assertEquals(1, calls().size(), "only a watch records it");
        assertEquals(0, launch(Map.of(), "watch").status);
        assertEquals(2, calls().size());

        assertTrue(launch(Map.of(), "--version").stdout.contains("-XX:SharedArchiveFile="));
        assertEquals("", launch(Map.of("TCPINSPECT_START_ARCHIVE", "0"), "--version").stdout.strip(),
                "TCPINSPECT_START_ARCHIVE=0 maps nothing");
        Files.setLastModifiedTime(jdk.resolve("lib/modules"), FileTime.from(Instant.now().plusSeconds(10)));
        assertEquals("", launch(Map.of(), "--version").stdout.strip(), "an archive older than the JDK is not mapped");
        assertEquals(2, calls().size());
    }

    @Test
    void aFailedRecordingLeavesAMarkerAndIsNotTriedAtEveryStart() throws Exception {
        Result failed = launch(Map.of("STUB_RC", "1"), "watch");
        assertEquals(0, failed.status, "the user's watch starts anyway");
        assertTrue(failed.stderr.contains("could not record them (the watch on lo exited with 1)"), failed.stderr);
        assertEquals(0, Files.size(archive), "the empty marker");
        assertEquals("", failed.stdout.strip(), "an empty archive is not mapped");
        assertEquals(0, launch(Map.of(), "watch").status);
        assertEquals(1, calls().size(), "not tried again until the next build");
    }

    @Test
    void noRecordingForHelpVersionOtherCommandsOrWhenTurnedOff() throws Exception {
        launch(Map.of(), "watch", "--help");
        launch(Map.of(), "watch", "-i", "lo", "-h");
        launch(Map.of(), "--version");
        launch(Map.of(), "demo");
        launch(Map.of("TCPINSPECT_START_ARCHIVE", "0"), "watch");
        assertEquals(List.of(), calls());
        assertTrue(Files.notExists(archive));
    }

    @Test
    void anInterruptedRecordingStopsTheLauncher() throws Exception {
        Result interrupted = launch(Map.of("STUB_RC", "130"), "watch");
        assertEquals(130, interrupted.status);
        assertEquals("", interrupted.stdout, "the user's command did not start");
        assertTrue(Files.notExists(archive));
    }

    private record Result(int status, String stdout, String stderr) {}

    /**
     * The launcher's two steps for a command line: ensure_start_archive, then the options a start
     * would map the archive with (printed), as ./tcpinspect runs them.
     */
    private Result launch(Map<String, String> env, String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of("bash", "-c", "set -euo pipefail; source \"$0\"; "
                + "ensure_start_archive \"$JDK\" \"$@\"; start_archive_options \"$JDK\"", root.resolve("scripts/common.sh").toString()));
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command);
        pb.environment().remove("TCPINSPECT_START_ARCHIVE");
        pb.environment().put("JDK", jdk.toString());
        pb.environment().putAll(env);
        Process p = pb.start();
        var out = p.getInputStream().readAllBytes();
        var err = p.getErrorStream().readAllBytes();
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        return new Result(p.exitValue(), new String(out), new String(err));
    }

    private List<String> calls() throws IOException {
        return Files.exists(calls) ? Files.readAllLines(calls) : List.of();
    }

    private static void age(Path file, long seconds) throws IOException {
        Files.setLastModifiedTime(file, FileTime.from(Instant.now().minusSeconds(seconds)));
    }
}
