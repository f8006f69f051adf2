package dev.tcpinspect.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
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

    private TcpinspectProcess(List<String> command) throws IOException {
        process = new ProcessBuilder(command).start();
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
        String java = ProcessHandle.current().info().command().orElse("java");
        return List.of(java, "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                "dev.tcpinspect.cli.Main");
    }

    public static TcpinspectProcess start(String netns, String... args) {
        List<String> command = new ArrayList<>();
        if (netns != null) {
            command.addAll(List.of("ip", "netns", "exec", netns));
        }
        command.addAll(javaCommand());
        command.addAll(List.of(args));
        return startCommand(command);
    }

    public static TcpinspectProcess startCommand(List<String> command) {
        try {
            return new TcpinspectProcess(command);
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

    public void terminate() {
        // SIGTERM through the handle: Process.destroy() would also close our end of its stdout.
        process.toHandle().destroy();
    }

    public void kill9() {
        process.toHandle().destroyForcibly(); // SIGKILL
        waitFor(10);
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
        if (process.isAlive()) {
            process.destroyForcibly();
        }
    }
}
