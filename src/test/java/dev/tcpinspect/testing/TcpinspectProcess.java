package dev.tcpinspect.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * The tcpinspect CLI as a separate process (optionally inside a namespace via ip netns exec, and
 * optionally without privileges via setpriv), with its stdout lines readable as they come.
 */
public final class TcpinspectProcess implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Process process;
    private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
    private final List<String> allLines = new ArrayList<>();
    private final StringBuilder stderr = new StringBuilder();
    private final Thread errReader;
    private final Thread outReader;

    private TcpinspectProcess(List<String> command, java.io.File directory) throws IOException {
        process = new ProcessBuilder(command).directory(directory).start();
        process.getOutputStream().close();
        outReader = Thread.ofPlatform().daemon(true).start(() -> pump(new BufferedReader(
                new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8)), true));
        errReader = Thread.ofPlatform().daemon(true).start(() -> pump(new BufferedReader(
                new InputStreamReader(process.getErrorStream(), StandardCharsets.UTF_8)), false));
    }

    private void pump(BufferedReader reader, boolean out) {
        try (reader) {
            String line;
            while ((line = reader.readLine()) != null) {
                if (out) {
                    synchronized (allLines) {
                        allLines.add(line);
                    }
                    lines.add(line);
                } else {
                    synchronized (stderr) {
                        stderr.append(line).append('\n');
                    }
                }
            }
        } catch (IOException e) {
            // process ended
        }
    }

    /** The command prefix that runs Main with this JVM and class path. */
    public static List<String> javaCommand() {
        return javaCommand(System.getProperty("java.class.path"));
    }

    public static List<String> javaCommand(String classPath) {
        return javaCommand(classPath, "dev.tcpinspect.cli.Main");
    }

    /** The command prefix that runs mainClass with this JVM and the class path. */
    public static List<String> javaCommand(String classPath, String mainClass) {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> command = new ArrayList<>(RunsBeside.Mark.prefix()); // nice, beside the serial tests
        command.addAll(List.of(java, "--enable-native-access=ALL-UNNAMED"));
        command.addAll(JVM_OPTIONS);
        command.addAll(RunsBeside.Mark.jvmOptions()); // the serial tests' checks for leftovers leave its kernel objects out
        command.addAll(List.of("-cp", classPath, mainClass));
        return command;
    }

    /**
     * Adds the JIT options the launcher picks for the tcpinspect arguments that follow the main class
     * (scripts/common.sh, read_jit_options) before the command's -cp, and returns the command: C1 alone
     * (scripts/jit-c1.options), but for JSON output late C2 (scripts/jit-json.options).
     */
    public static List<String> asLauncherStarts(List<String> command) {
        int main = command.indexOf("dev.tcpinspect.cli.Main");
        if (main < 0) {
            throw new IllegalArgumentException("no tcpinspect main class in " + command);
        }
        String[] args = command.subList(main + 1, command.size()).toArray(String[]::new);
        command.addAll(command.indexOf("-cp"), jsonOutput(args) ? JIT_JSON : JIT_C1);
        return command;
    }

    /** The launcher's JVM options (scripts/jvm.options), so that tests run tcpinspect as users do. */
    private static final List<String> JVM_OPTIONS = launcherOptions("jvm.options");
    /** The launcher's JIT options: for JSON output, and for everything else. */
    private static final List<String> JIT_JSON = launcherOptions("jit-json.options");
    private static final List<String> JIT_C1 = launcherOptions("jit-c1.options");

    /** One of the launcher's options files under scripts/, comments and blank lines left out. */
    public static List<String> launcherOptions(String file) {
        try {
            List<String> options = Files.readAllLines(Path.of("scripts", file)).stream()
                    .filter(l -> !l.isEmpty() && !l.startsWith("#")).toList();
            for (String o : options) {
                if (!o.equals(o.strip())) { // the launcher reads lines as they are (scripts/common.sh, read_options)
                    throw new AssertionError("scripts/" + file + ": an option with white space around it: '" + o + "'");
                }
            }
            return options;
        } catch (IOException e) {
            throw new AssertionError("cannot read the launcher's options in scripts/" + file, e);
        }
    }

    /**
     * The setpriv prefix that runs a command as the user nobody with only these capabilities (e.g.
     * "bpf,perfmon"; "" for none): effective, inheritable, ambient and bounding sets alike.
     */
    public static List<String> asNobodyWith(String capabilities) {
        String caps = "-all" + (capabilities.isEmpty() ? "" : ",+" + capabilities.replace(",", ",+"));
        return List.of("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=" + caps,
                "--ambient-caps=" + caps, "--bounding-set=" + caps);
    }

    /** A command as one line of shell, every word single-quoted. */
    public static String shellLine(List<String> command) {
        return String.join(" ", command.stream().map(a -> "'" + a.replace("'", "'\\''") + "'").toList());
    }

    private static String worldReadable;

    /** A copy of this JVM's class path that any user can read (the build may sit under /root). */
    public static synchronized String worldReadableClassPath() {
        if (worldReadable == null) {
            try {
                Path dir = Files.createTempDirectory("tcpinspect-cp-");
                List<String> entries = new ArrayList<>();
                int i = 0;
                for (String entry : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
                    Path source = Path.of(entry);
                    if (!Files.exists(source)) {
                        continue;
                    }
                    Path target = dir.resolve(i++ + "-" + source.getFileName());
                    try (var walk = Files.walk(source)) {
                        for (Path p : (Iterable<Path>) walk::iterator) {
                            Path t = target.resolve(source.relativize(p).toString());
                            if (Files.isDirectory(p)) {
                                Files.createDirectories(t);
                            } else {
                                Files.createDirectories(t.getParent());
                                Files.copy(p, t);
                            }
                        }
                    }
                    entries.add(target.toString());
                }
                try (var walk = Files.walk(dir)) {
                    for (Path p : (Iterable<Path>) walk::iterator) {
                        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString(
                                Files.isDirectory(p) ? "rwxr-xr-x" : "rw-r--r--"));
                    }
                }
                Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                    try (var walk = Files.walk(dir)) {
                        walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
                    } catch (IOException ignored) {
                        // a temp dir; nothing else to do
                    }
                }));
                worldReadable = String.join(java.io.File.pathSeparator, entries);
            } catch (IOException e) {
                throw new AssertionError("cannot copy the class path", e);
            }
        }
        return worldReadable;
    }

    public static TcpinspectProcess start(String netns, String... args) {
        return startIn(null, netns, args);
    }

    /** Started with directory as its working directory (null: this one's), where relative paths it is given lead. */
    public static TcpinspectProcess startIn(Path directory, String netns, String... args) {
        List<String> command = new ArrayList<>();
        if (netns != null) {
            command.addAll(List.of("ip", "netns", "exec", netns));
        }
        command.addAll(javaCommand());
        command.addAll(List.of(args));
        asLauncherStarts(command);
        try {
            return new TcpinspectProcess(command, directory == null ? null : directory.toFile());
        } catch (IOException e) {
            throw new AssertionError("cannot start " + command, e);
        }
    }

    private static boolean jsonOutput(String... args) {
        for (int i = 0; i < args.length; i++) {
            if (args[i].equalsIgnoreCase("--format=json")
                    || (args[i].equals("--format") && i + 1 < args.length && args[i + 1].equalsIgnoreCase("json"))) {
                return true;
            }
        }
        return false;
    }

    public static TcpinspectProcess startCommand(List<String> command) {
        try {
            return new TcpinspectProcess(command, null);
        } catch (IOException e) {
            throw new AssertionError("cannot start " + command, e);
        }
    }

    /** Runs to completion: exit code, stdout lines and stderr. */
    public static Cmd.Result run(String netns, String... args) {
        try (TcpinspectProcess p = start(netns, args)) {
            int exit = p.waitFor(60);
            return new Cmd.Result(exit, String.join("\n", p.lines()), p.stderr());
        }
    }

    /** The next stdout line that is JSON of the given type; fails after the timeout. */
    public JsonNode awaitJson(String type, int timeoutSeconds) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutSeconds);
        try {
            while (true) {
                long left = deadline - System.nanoTime();
                String line = lines.poll(Math.max(0, left), TimeUnit.NANOSECONDS);
                if (line == null) {
                    throw new AssertionError("no '" + type + "' line within " + timeoutSeconds + " s; stdout: "
                            + lines() + " stderr: " + stderr() + (process.isAlive() ? " (running)" : " exit " + process.exitValue()));
                }
                JsonNode node = JSON.readTree(line);
                if (type.equals(node.path("type").asText())) {
                    return node;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        } catch (IOException e) {
            throw new AssertionError("stdout line is not JSON: " + e.getMessage() + " in " + lines(), e);
        }
    }

    public long pid() {
        return process.pid();
    }

    public void terminate() {
        // SIGTERM through the handle: Process.destroy() would also close our end of its stdout.
        process.toHandle().destroy();
    }

    public void kill9() {
        process.toHandle().destroyForcibly(); // SIGKILL
        waitFor(10);
    }

    /** Whether it exited within the time (then waitFor returns its status at once); left running if not. */
    public boolean exitsWithin(int seconds) {
        try {
            return process.waitFor(seconds, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    public int waitFor(int seconds) {
        try {
            if (!process.waitFor(seconds, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new AssertionError("tcpinspect did not exit within " + seconds + " s; stdout: " + lines());
            }
            outReader.join(5000);
            errReader.join(5000);
            return process.exitValue();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    public List<String> lines() {
        synchronized (allLines) {
            return List.copyOf(allLines);
        }
    }

    public String stderr() {
        synchronized (stderr) {
            return stderr.toString();
        }
    }

    public static JsonNode parse(String line) {
        try {
            return JSON.readTree(line);
        } catch (IOException e) {
            throw new AssertionError("not JSON: " + line, e);
        }
    }

    @Override
    public void close() {
        if (stopsOnClose && process.isAlive()) {
            terminate();
            exitsWithin(30);
        }
        process.descendants().forEach(ProcessHandle::destroyForcibly); // a script's jobs go with it
        if (process.isAlive()) {
            process.destroyForcibly();
        }
    }

    private volatile boolean stopsOnClose;

    /**
     * Makes close() stop it with SIGTERM, waited for, rather than SIGKILL: for a process whose kill
     * leaves something behind on purpose (an enforcer's pinned policy), which would otherwise stay
     * until a later clean-up, in sight of the other tests' checks for leftovers.
     */
    public TcpinspectProcess stoppedOnClose() {
        stopsOnClose = true;
        return this;
    }
}
