package dev.tcpinspect.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The launcher's start archive (./tcpinspect, scripts/common.sh): when it is recorded, with what, and
 * when a start maps it. The real launcher runs from a copy of it under a path with a space, beside a
 * stand-in jar and a stand-in JDK whose java notes each command line it gets and writes (or fails to
 * write) the archive it is asked for, so that each rule is checked without a JVM's recording. That
 * the real JVM maps what the real recording makes, and prints nothing on standard output when it
 * cannot, was measured by hand (BENCHMARKS.md, "The start archive").
 */
class StartArchiveTest {
    private static final String SEPARATOR = "\u001f";

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
        root = Files.createTempDirectory("start archive");
        Files.createDirectories(root.resolve("scripts"));
        Files.copy(Path.of("tcpinspect"), root.resolve("tcpinspect"));
        Files.copy(Path.of("scripts/common.sh"), root.resolve("scripts/common.sh"));
        for (String options : List.of("jvm.options", "jit-c1.options", "jit-json.options")) {
            Files.copy(Path.of("scripts", options), root.resolve("scripts", options));
        }
        // what the launcher's staleness check looks at: nothing newer than the jar
        Files.createDirectories(root.resolve("src"));
        Files.createDirectories(root.resolve("bpf"));
        age(Files.writeString(root.resolve("pom.xml"), "<project/>"), 120);
        Files.createDirectories(root.resolve("target"));
        jar = Files.writeString(root.resolve("target/tcpinspect.jar"), "a jar");
        archive = root.resolve("target/tcpinspect.jsa");
        jdk = root.resolve("jdk");
        Files.createDirectories(jdk.resolve("bin"));
        Files.createDirectories(jdk.resolve("lib"));
        Files.writeString(jdk.resolve("release"), "JAVA_VERSION=\"25.0.3\"\n");
        Files.writeString(jdk.resolve("lib/modules"), "the JDK's modules");
        calls = root.resolve("calls");
        // The stand-in java: one line per call, its arguments separated by US; writes the archive it
        // is asked for unless STUB_RC says to fail with that status; sleeps STUB_SLEEP seconds first.
        executable(jdk.resolve("bin/java"), """
                #!/usr/bin/env bash
                (IFS=$'\\x1f'; echo "$*") >> "%s"
                for a in "$@"; do
                  case $a in -XX:ArchiveClassesAtExit=*) out=${a#-XX:ArchiveClassesAtExit=} ;; esac
                done
                sleep "${STUB_SLEEP:-0}"
                rc=${STUB_RC:-0}
                [ "$rc" -eq 0 ] && [ -n "${out:-}" ] && echo "classes" > "$out"
                exit "$rc"
                """.formatted(calls));
        executable(jdk.resolve("bin/javac"), "#!/bin/sh\n");
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
        assertTrue(first.stderr.contains("recording the classes a start loads"), first.stderr);
        List<List<String>> made = calls();
        assertEquals(2, made.size(), made.toString());
        List<String> recording = made.get(0);
        assertTrue(recording.stream().anyMatch(a -> a.startsWith("-XX:ArchiveClassesAtExit=" + archive + ".")), recording.toString());
        assertEquals(List.of("-jar", jar.toString(), "watch", "-i", "lo", "--duration", "1", "--keep-root", "--format", "json"),
                recording.subList(recording.size() - 10, recording.size()));
        assertEquals("classes\n", Files.readString(archive));
        assertEquals("rw-r--r--", PosixFilePermissions.toString(Files.getPosixFilePermissions(archive)), "every user's start maps it");
        try (var names = Files.list(archive.getParent())) {
            assertEquals(List.of("tcpinspect.jar", "tcpinspect.jsa"), names.map(p -> p.getFileName().toString()).sorted().toList(),
                    "no temporary file left");
        }

        List<String> start = made.get(1);
        assertEquals(List.of("-jar", jar.toString(), "watch", "-i", "eth0"), start.subList(start.size() - 5, start.size()));
        assertTrue(start.contains("-XX:SharedArchiveFile=" + archive), "one argument, though its path has a space: " + start);
        assertTrue(start.contains("-Xlog:all=warning:stderr"), "the JVM's warnings kept off standard output: " + start);
        for (List<String> call : made) {
            assertTrue(call.containsAll(List.of("-Xmx128m", "-XX:+UseSerialGC", "-XX:-UsePerfData", "-XX:TieredStopAtLevel=1")),
                    "scripts/jvm.options and C1 alone: " + call);
            assertFalse(call.stream().anyMatch(a -> a.startsWith("#") || a.isBlank()), "no comment or blank of jvm.options: " + call);
            assertFalse(call.contains("--enable-native-access=ALL-UNNAMED"), "the jar's manifest grants it: " + call);
        }

        Result again = launch(Map.of(), "watch");
        assertEquals("", again.stderr);
        assertEquals(3, calls().size(), "a current archive is not recorded again");
        assertTrue(calls().get(2).contains("-XX:SharedArchiveFile=" + archive));
    }

    @Test
    void aNewJarOrJdkMakesItStaleAndTheNextWatchRecordsItAgain() throws Exception {
        assertEquals(0, launch(Map.of(), "watch").status);
        age(archive, 30); // then the jar is built again
        Files.setLastModifiedTime(jar, FileTime.from(Instant.now().minusSeconds(1)));
        assertFalse(lastCall(launch(Map.of(), "--version")).stream().anyMatch(a -> a.startsWith("-XX:SharedArchiveFile")),
                "an archive older than the jar is not mapped");
        assertEquals(1, recordings(), "only a watch records it");
        launch(Map.of(), "watch");
        assertEquals(2, recordings());
        assertTrue(lastCall(launch(Map.of(), "--version")).contains("-XX:SharedArchiveFile=" + archive));
        assertFalse(lastCall(launch(Map.of("TCPINSPECT_START_ARCHIVE", "0"), "--version")).stream()
                .anyMatch(a -> a.startsWith("-XX:SharedArchiveFile")), "TCPINSPECT_START_ARCHIVE=0 maps nothing");

        Files.setLastModifiedTime(jdk.resolve("lib/modules"), FileTime.from(Instant.now().plusSeconds(10)));
        assertFalse(lastCall(launch(Map.of(), "--version")).stream().anyMatch(a -> a.startsWith("-XX:SharedArchiveFile")),
                "an archive older than the JDK is not mapped");
    }

    @Test
    void aJarDatedAheadOfTheClockIsRecordedForOnceNotAtEveryStart() throws Exception {
        Files.setLastModifiedTime(jar, FileTime.from(Instant.now().plusSeconds(600)));
        launch(Map.of(), "watch");
        launch(Map.of(), "watch");
        assertEquals(1, recordings());
        assertTrue(lastCall(launch(Map.of(), "--version")).contains("-XX:SharedArchiveFile=" + archive));
    }

    @Test
    void aFailedRecordingLeavesAMarkerAndIsNotTriedAtEveryStart() throws Exception {
        Result failed = launch(Map.of("STUB_RC", "1"), "watch");
        assertTrue(failed.stderr.contains("could not record them (the watch on lo exited with 1)"), failed.stderr);
        assertEquals(2, calls().size(), "the user's watch starts anyway");
        assertEquals(0, Files.size(archive), "the empty marker");
        assertFalse(calls().getLast().stream().anyMatch(a -> a.startsWith("-XX:SharedArchiveFile")), "an empty archive is not mapped");
        launch(Map.of(), "watch");
        assertEquals(1, recordings(), "not tried again until the next build");
    }

    @Test
    void noRecordingForHelpVersionOtherCommandsOrWhenTurnedOff() throws Exception {
        launch(Map.of(), "watch", "--help");
        launch(Map.of(), "watch", "-i", "lo", "-h");
        launch(Map.of(), "--version");
        launch(Map.of(), "demo");
        launch(Map.of("TCPINSPECT_START_ARCHIVE", "0"), "watch");
        assertEquals(5, calls().size(), "each started");
        assertEquals(0, recordings());
        assertTrue(Files.notExists(archive));
    }

    @Test
    void jsonOutputKeepsC2ForWhatIsCalledMostAndEverythingElseGetsC1Alone() throws Exception {
        List<String> c2Late = List.of("-XX:Tier4InvocationThreshold=50000", "-XX:Tier4MinInvocationThreshold=20000",
                "-XX:Tier4CompileThreshold=60000", "-XX:Tier4BackEdgeThreshold=400000");
        for (String[] json : List.of(new String[] {"watch", "--format", "json"}, new String[] {"watch", "--format=JSON"},
                new String[] {"upstreams", "--format", "json"})) {
            List<String> call = lastCall(launch(Map.of("TCPINSPECT_START_ARCHIVE", "0"), json));
            assertTrue(call.containsAll(c2Late), "C2 for the event path: " + call);
            assertFalse(call.contains("-XX:TieredStopAtLevel=1"), call.toString());
        }
        for (String[] text : List.of(new String[] {"watch"}, new String[] {"watch", "--format", "text"},
                new String[] {"agent", "--config", "json"})) {
            List<String> call = lastCall(launch(Map.of("TCPINSPECT_START_ARCHIVE", "0"), text));
            assertTrue(call.contains("-XX:TieredStopAtLevel=1"), call.toString());
            assertFalse(call.stream().anyMatch(a -> a.startsWith("-XX:Tier4")), call.toString());
        }
    }

    @Test
    void ctrlCDuringTheRecordingStopsTheLauncherAndLeavesNothing() throws Exception {
        // The watch that records stops cleanly on SIGINT (status 0); the launcher, which got it
        // too, must not start the user's command then. Here only the launcher is signalled.
        Process launcher = start(Map.of("STUB_SLEEP", "2"), "watch");
        // (start runs it with SIGINT's default action, as a shell runs a command in the foreground: a
        // suite started in the background inherits it ignored, and an ignored signal cannot be trapped)
        for (int i = 0; i < 100 && calls().isEmpty(); i++) {
            Thread.sleep(50);
        }
        assertEquals(1, calls().size(), "the recording started");
        new ProcessBuilder("kill", "-INT", Long.toString(launcher.pid())).start().waitFor();
        assertTrue(launcher.waitFor(30, TimeUnit.SECONDS));
        assertEquals(130, launcher.exitValue());
        assertEquals(1, calls().size(), "the user's command did not start");
        try (var names = Files.list(archive.getParent())) {
            assertEquals(List.of("tcpinspect.jar"), names.map(p -> p.getFileName().toString()).toList(), "no archive, no temporary file");
        }
    }

    @Test
    void aWatchStartedDuringAnothersRecordingWaitsForItsArchive() throws Exception {
        // Two watches started together after a build: one records, the other waits and maps its archive.
        Process first = start(Map.of("STUB_SLEEP", "2"), "watch");
        for (int i = 0; i < 100 && calls().isEmpty(); i++) {
            Thread.sleep(50);
        }
        assertEquals(1, recordings(), "the first start is recording");
        Result second = launch(Map.of(), "watch", "-i", "eth0");
        assertTrue(first.waitFor(30, TimeUnit.SECONDS));
        assertEquals(0, first.exitValue());
        assertEquals(0, second.status, second.stderr);
        assertTrue(second.stderr.contains("waiting for the start archive another start is recording"), second.stderr);
        assertFalse(second.stderr.contains("recording the classes"), second.stderr);
        assertEquals(1, recordings(), "recorded once: " + calls());
        // both users' watches (in whichever order they came) map the one archive
        List<List<String>> watches = calls().stream()
                .filter(c -> c.stream().noneMatch(a -> a.startsWith("-XX:ArchiveClassesAtExit="))).toList();
        assertEquals(2, watches.size(), calls().toString());
        for (List<String> watch : watches) {
            assertTrue(watch.contains("-XX:SharedArchiveFile=" + archive), watch.toString());
        }
        try (var names = Files.list(archive.getParent())) {
            assertEquals(List.of("tcpinspect.jar", "tcpinspect.jsa"), names.map(p -> p.getFileName().toString()).sorted().toList());
        }
    }

    private record Result(int status, String stdout, String stderr) {}

    private Process start(Map<String, String> env, String... args) throws IOException {
        List<String> command = new ArrayList<>(List.of("env", "--default-signal=INT", root.resolve("tcpinspect").toString()));
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command);
        pb.environment().remove("TCPINSPECT_START_ARCHIVE");
        pb.environment().put("JAVA_HOME", jdk.toString());
        pb.environment().putAll(env);
        return pb.start();
    }

    /** Runs the launcher copy to its end. */
    private Result launch(Map<String, String> env, String... args) throws Exception {
        Process p = start(env, args);
        var out = p.getInputStream().readAllBytes();
        var err = p.getErrorStream().readAllBytes();
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        return new Result(p.exitValue(), new String(out), new String(err));
    }

    /** Each command line the stand-in java got, in order. */
    private List<List<String>> calls() throws IOException {
        if (!Files.exists(calls)) {
            return List.of();
        }
        return Files.readAllLines(calls).stream().map(l -> Arrays.asList(l.split(SEPARATOR, -1))).toList();
    }

    private List<String> lastCall(Result launched) throws IOException {
        assertEquals(0, launched.status, launched.stderr);
        return calls().getLast();
    }

    private long recordings() throws IOException {
        return calls().stream().filter(c -> c.stream().anyMatch(a -> a.startsWith("-XX:ArchiveClassesAtExit="))).count();
    }

    private static void executable(Path file, String text) throws IOException {
        Files.writeString(file, text);
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    private static void age(Path file, long seconds) throws IOException {
        Files.setLastModifiedTime(file, FileTime.from(Instant.now().minusSeconds(seconds)));
    }
}
