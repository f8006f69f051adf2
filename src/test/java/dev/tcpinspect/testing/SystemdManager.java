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
 *   <li>a cgroup of its own in each hierarchy it manages (named {@code tcpi-lab-sd-*}), so its slices and
 *       scopes go below it and not below the host's root (where it would move every process into an
 *       {@code init.scope});
 *   <li>its runtime and config folders in a temporary folder: units are files there, and systemctl
 *       reaches it through {@code $XDG_RUNTIME_DIR/systemd/private}.
 * </ul>
 * Closing it stops every unit, ends the manager and removes its cgroups and folders.
 */
public final class SystemdManager implements AutoCloseable {
    private static final Path SYSTEMD = Path.of("/lib/systemd/systemd");
    private static final Path RUN_SYSTEMD = Path.of("/run/systemd");

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

    /** Whether systemd, systemctl and systemd-run are installed. */
    public static boolean installed() {
        return Files.isExecutable(SYSTEMD) && Files.isExecutable(Path.of("/usr/bin/systemctl"))
                && Files.isExecutable(Path.of("/usr/bin/systemd-run"));
    }

    /** Starts a manager and waits until systemctl reaches it. */
    public static SystemdManager start() throws IOException, InterruptedException {
        String name = "tcpi-lab-sd-" + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt()).substring(0, 6);
        Path home = Files.createTempDirectory(name);
        Files.createDirectories(home.resolve("run"));
        Files.createDirectories(home.resolve("config/systemd/user"));
        Path runtime = home.resolve("run");
        Files.setPosixFilePermissions(runtime, java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
        boolean madeRunSystemd = !Files.isDirectory(RUN_SYSTEMD);
        if (madeRunSystemd) {
            Files.createDirectories(RUN_SYSTEMD);
        }
        List<Path> cgroups = new ArrayList<>();
        for (Path hierarchy : managedHierarchies()) {
            cgroups.add(Files.createDirectory(hierarchy.resolve(name)));
        }
        StringBuilder script = new StringBuilder("set -e; mount -t tmpfs " + name + " "
                + RUN_SYSTEMD + "; mkdir " + RUN_SYSTEMD + "/system; ");
        for (Path cgroup : cgroups) {
            script.append("echo $$ > ").append(cgroup.resolve("cgroup.procs")).append("; ");
        }
        script.append("exec ").append(SYSTEMD).append(" --user --log-target=console");
        ProcessBuilder pb = new ProcessBuilder("unshare", "--mount", "--propagation", "slave", "bash", "-c", script.toString())
                .redirectOutput(home.resolve("manager.log").toFile()).redirectErrorStream(true);
        pb.environment().put("XDG_RUNTIME_DIR", runtime.toString());
        pb.environment().put("XDG_CONFIG_HOME", home.resolve("config").toString());
        Process manager = pb.start();
        SystemdManager m = new SystemdManager(name, home, manager, cgroups, madeRunSystemd);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (true) {
            if (!manager.isAlive()) {
                String log = Files.readString(home.resolve("manager.log"));
                m.close();
                throw new AssertionError("systemd --user ended at its start: " + log);
            }
            if (Files.exists(runtime.resolve("systemd/private"))
                    && m.systemctl("show", "-p", "SystemState").out().strip().matches("SystemState=(running|degraded)")) {
                return m;
            }
            if (System.nanoTime() > deadline) {
                String log = Files.readString(home.resolve("manager.log"));
                m.close();
                throw new AssertionError("systemd --user did not come up in 20 s: " + log);
            }
            Thread.sleep(100);
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

    /** A unit name unique to this manager: {@code tcpi-lab-sd-xxxxxx-what.service}. */
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
        if (manager.isAlive()) {
            Cmd.run(List.of("env", "XDG_RUNTIME_DIR=" + home.resolve("run"), "systemctl", "--user", "exit"), 60);
            if (!manager.waitFor(30, TimeUnit.SECONDS)) {
                manager.destroyForcibly().waitFor();
            }
        }
        for (Path cgroup : cgroups) {
            // what it made below its own cgroup (empty once every unit stopped), deepest first
            try (Stream<Path> tree = Files.walk(cgroup)) {
                for (Path dir : tree.filter(Files::isDirectory).sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(dir);
                }
            }
        }
        try (Stream<Path> tree = Files.walk(home)) {
            for (Path p : tree.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
        if (madeRunSystemd) {
            Files.deleteIfExists(RUN_SYSTEMD);
        }
    }
}
