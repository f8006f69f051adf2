package dev.tcpinspect.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A real systemd service manager to run tcpinspect as a service under, started and stopped by a test.
 *
 * <p>PID 1 of the test machines is not systemd, so this is systemd's user instance ({@code systemd
 * --user}), run as root. It starts, signals and stops services with the same code as the system
 * instance: the service in a cgroup of its own, SIGTERM (then SIGKILL after {@code TimeoutStopSec=}) to
 * every process of it on stop, the result judged from how the main process ended. It is kept to itself:
 * <ul>
 *   <li>a mount namespace of its own, in which {@code /run/systemd/system} exists (how systemd tells it
 *       was booted with systemd; a tmpfs over {@code /run/systemd} there, so the host's stays as it was);
 *       a slave of the host's, so that what the host mounts later (a lab namespace's {@code /run/netns}
 *       entry) is seen in it too;
 *   <li>a cgroup of its own in each hierarchy it manages (named {@code tcpi-lab-sd-PID-*}), so its slices and
 *       scopes go below it and not below the host's root (where it would move every process into an
 *       {@code init.scope});
 *   <li>its runtime and config folders in a temporary folder: units are files there, and systemctl
 *       reaches it through {@code $XDG_RUNTIME_DIR/systemd/private}.
 * </ul>
 * Closing it stops every unit, ends the manager and removes its cgroups and folders; the next start
 * removes those of a test JVM that was killed (their names hold its pid).
 */
public final class SystemdManager implements AutoCloseable {
    private static final Path SYSTEMD = Path.of("/lib/systemd/systemd");
    private static final Path RUN_SYSTEMD = Path.of("/run/systemd");
    /** Its cgroups and folders: {@code tcpi-lab-sd-PID-xxxxxx}, PID the test JVM's. */
    private static final String PREFIX = "tcpi-lab-sd-";

    private final String name;
    private final Path home;
    private final Process manager;
    private final List<Path> cgroups;
    private final boolean madeRunSystemd;

    private SystemdManager(String name, Path home, Process manager, List<Path> cgroups, boolean madeRunSystemd) {
        this.name = name;
        this.home = home;
        this.manager = manager;
        this.cgroups = cgroups;
        this.madeRunSystemd = madeRunSystemd;
    }

    /** Whether systemd and systemctl are installed. */
    private static boolean installed() {
        return Files.isExecutable(SYSTEMD) && Files.isExecutable(Path.of("/usr/bin/systemctl"));
    }

    /**
     * Starts a manager and waits until systemctl reaches it. What a test JVM that was killed left
     * (its managers, their services, cgroups and folders: named after its pid) goes first.
     */
    public static SystemdManager start() throws IOException, InterruptedException {
        if (!installed()) {
            throw new AssertionError("systemd is not installed (" + SYSTEMD + ", systemctl): run-tests installs"
                    + " the package");
        }
        removeStale();
        netnsMountShared();
        String name = PREFIX + ProcessHandle.current().pid() + "-"
                + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt()).substring(0, 6);
        Path home = Files.createTempDirectory(name);
        boolean madeRunSystemd = !Files.isDirectory(RUN_SYSTEMD);
        List<Path> cgroups = new ArrayList<>();
        Process manager = null;
        try {
            Path runtime = Files.createDirectories(home.resolve("run"));
            Files.setPosixFilePermissions(runtime, java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
            Files.createDirectories(home.resolve("config/systemd/user"));
            if (madeRunSystemd) {
                Files.createDirectories(RUN_SYSTEMD);
            }
            for (Path hierarchy : managedHierarchies()) {
                cgroups.add(Files.createDirectory(hierarchy.resolve(name)));
            }
            StringBuilder script = new StringBuilder("set -e; mount -t tmpfs " + name + " "
                    + RUN_SYSTEMD + "; mkdir " + RUN_SYSTEMD + "/system; ");
            for (Path cgroup : cgroups) {
                script.append("echo $$ > ").append(cgroup.resolve("cgroup.procs")).append("; ");
            }
            script.append("exec ").append(SYSTEMD).append(" --user --log-target=console");
            ProcessBuilder pb = new ProcessBuilder("unshare", "--mount", "--propagation", "slave", "bash", "-c",
                    script.toString()).redirectOutput(home.resolve("manager.log").toFile()).redirectErrorStream(true);
            pb.environment().put("XDG_RUNTIME_DIR", runtime.toString());
            pb.environment().put("XDG_CONFIG_HOME", home.resolve("config").toString());
            manager = pb.start();
            SystemdManager m = new SystemdManager(name, home, manager, cgroups, madeRunSystemd);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (true) {
                if (!manager.isAlive()) {
                    throw new AssertionError("systemd --user ended at its start: "
                            + Files.readString(home.resolve("manager.log")));
                }
                if (Files.exists(runtime.resolve("systemd/private")) && m.systemctl("show", "-p", "SystemState").out()
                        .strip().matches("SystemState=(running|degraded)")) {
                    return m;
                }
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("systemd --user did not come up in 20 s: "
                            + Files.readString(home.resolve("manager.log")));
                }
                Thread.sleep(100);
            }
        } catch (IOException | InterruptedException | RuntimeException | Error e) {
            remove(manager, cgroups, home, madeRunSystemd);
            throw e;
        }
    }

    /** The managers (and their services) a test JVM that is gone left, with their cgroups and folders. */
    private static void removeStale() throws IOException, InterruptedException {
        java.util.function.Predicate<Path> stale = p -> {
            java.util.regex.Matcher m = java.util.regex.Pattern.compile(java.util.regex.Pattern.quote(PREFIX) + "(\\d+)-.*")
                    .matcher(p.getFileName().toString());
            return m.matches() && ProcessHandle.of(Long.parseLong(m.group(1))).isEmpty();
        };
        for (Path hierarchy : managedHierarchies()) {
            try (Stream<Path> list = Files.list(hierarchy)) {
                for (Path cgroup : list.filter(stale).toList()) {
                    removeCgroup(cgroup);
                }
            }
        }
        try (Stream<Path> list = Files.list(Path.of(System.getProperty("java.io.tmpdir")))) {
            for (Path home : list.filter(stale).toList()) {
                removeTree(home);
            }
        }
    }

    /**
     * Lab namespaces made after the manager started must show in its mount namespace (a slave of the
     * host's): /run/netns must be a shared mount then, which iproute2 makes it at its first namespace.
     */
    private static void netnsMountShared() {
        String probe = PREFIX + "netns-" + ProcessHandle.current().pid();
        Cmd.run("ip", "netns", "add", probe).ok();
        Cmd.run("ip", "netns", "del", probe).ok();
    }

    /** Ends the manager (and so its services), then removes its cgroups and folders, each step whatever the last did. */
    private static void remove(Process manager, List<Path> cgroups, Path home, boolean madeRunSystemd)
            throws IOException, InterruptedException {
        try {
            if (manager != null && manager.isAlive()) {
                Cmd.run(List.of("env", "XDG_RUNTIME_DIR=" + home.resolve("run"), "systemctl", "--user", "exit"), 60);
                if (!manager.waitFor(30, TimeUnit.SECONDS)) {
                    manager.destroyForcibly().waitFor();
                }
            }
        } finally {
            try {
                for (Path cgroup : cgroups) {
                    removeCgroup(cgroup);
                }
            } finally {
                try {
                    removeTree(home);
                } finally {
                    if (madeRunSystemd) {
                        Files.deleteIfExists(RUN_SYSTEMD);
                    }
                }
            }
        }
    }

    /** A cgroup and the ones below it: what still runs there killed, then each removed, deepest first. */
    private static void removeCgroup(Path cgroup) throws IOException, InterruptedException {
        for (int attempt = 0; Files.exists(cgroup); attempt++) {
            try (Stream<Path> tree = Files.walk(cgroup)) {
                for (Path dir : tree.filter(Files::isDirectory).sorted(Comparator.reverseOrder()).toList()) {
                    for (String pid : Files.readAllLines(dir.resolve("cgroup.procs"))) {
                        ProcessHandle.of(Long.parseLong(pid.strip())).ifPresent(ProcessHandle::destroyForcibly);
                    }
                    try {
                        Files.deleteIfExists(dir);
                    } catch (IOException busy) {
                        if (attempt >= 50) { // 5 s: a process that does not die
                            throw busy;
                        }
                    }
                }
            } catch (java.nio.file.NoSuchFileException gone) {
                // removed meanwhile
            }
            Thread.sleep(Files.exists(cgroup) ? 100 : 0);
        }
    }

    private static void removeTree(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> tree = Files.walk(root)) {
            for (Path p : tree.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    /** The hierarchies systemd manages services in: the name=systemd one of a hybrid layout and the cgroup2 one. */
    private static List<Path> managedHierarchies() throws IOException {
        List<Path> hierarchies = new ArrayList<>();
        for (String line : Files.readAllLines(Path.of("/proc/self/mounts"))) {
            String[] f = line.split(" ");
            if (f[2].equals("cgroup2") || (f[2].equals("cgroup") && f[3].contains("name=systemd"))) {
                hierarchies.add(Path.of(f[1]));
            }
        }
        return hierarchies;
    }

    /** A unit name unique to this manager: {@code tcpi-lab-sd-PID-xxxxxx-what.service}. */
    public String unit(String what) {
        return name + "-" + what + ".service";
    }

    /** Writes a unit file (its text as systemd reads it) and makes the manager read it. */
    public void install(String unit, String text) throws IOException {
        Files.writeString(home.resolve("config/systemd/user").resolve(unit), text);
        systemctl("daemon-reload").ok();
    }

    /** Runs {@code systemctl --user ARGS} against this manager. */
    public Cmd.Result systemctl(String... args) {
        List<String> command = new ArrayList<>(List.of("env", "XDG_RUNTIME_DIR=" + home.resolve("run"),
                "systemctl", "--user"));
        command.addAll(List.of(args));
        return Cmd.run(command, 90);
    }

    /**
     * An {@code ExecStopPost=} line that appends how the service's main process ended, as systemd
     * tells it, to file: "RESULT CODE STATUS", e.g. "success exited 0" or "success killed TERM" (systemd
     * counts a death by SIGTERM as a clean stop, so its Result alone cannot tell the two apart, and an
     * inactive unit is unloaded, so systemctl show no longer has its exit status once it stopped).
     */
    public static String recordExit(Path file) {
        return "ExecStopPost=/bin/sh -c \"echo $$SERVICE_RESULT $$EXIT_CODE $$EXIT_STATUS >> " + file + "\"";
    }

    /** The unit's properties as {@code systemctl show} gives them (ActiveState, MainPID, ...). */
    public Map<String, String> show(String unit, String... properties) {
        List<String> args = new ArrayList<>(List.of("show", unit));
        for (String p : properties) {
            args.add("-p");
            args.add(p);
        }
        Map<String, String> values = new LinkedHashMap<>();
        for (String line : systemctl(args.toArray(String[]::new)).ok().out().lines().toList()) {
            int eq = line.indexOf('=');
            if (eq > 0) {
                values.put(line.substring(0, eq), line.substring(eq + 1));
            }
        }
        return values;
    }

    /** A command line as an {@code ExecStart=} value: each word quoted, systemd's specifiers and variables escaped. */
    public static String execLine(List<String> command) {
        StringBuilder line = new StringBuilder();
        for (String word : command) {
            if (!line.isEmpty()) {
                line.append(' ');
            }
            line.append('"').append(word.replace("\\", "\\\\").replace("\"", "\\\"").replace("%", "%%")
                    .replace("$", "$$")).append('"');
        }
        return line.toString();
    }

    /** Waits for a line matching regex in a service's output file (StandardOutput=append:FILE) and returns it. */
    public static String awaitLine(Path output, String regex, int seconds) throws IOException, InterruptedException {
        java.util.regex.Pattern pattern = java.util.regex.Pattern.compile(regex);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (true) {
            if (Files.exists(output)) {
                for (String line : Files.readAllLines(output)) {
                    if (pattern.matcher(line).find()) {
                        return line;
                    }
                }
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("no line matching " + regex + " in " + seconds + " s: "
                        + (Files.exists(output) ? Files.readString(output) : "(no output)"));
            }
            Thread.sleep(100);
        }
    }

    @Override
    public void close() throws IOException, InterruptedException {
        remove(manager, cgroups, home, madeRunSystemd);
    }
}
