package dev.tcpinspect.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A tcpdump capture of the packets arriving on an interface inside a namespace, then counted with
 * tshark display filters: the independent oracle for tcpinspect's counts.
 */
public final class Capture implements AutoCloseable {
    private final Process tcpdump;
    private final Path file;
    private boolean stopped;

    private Capture(Process tcpdump, Path file) {
        this.tcpdump = tcpdump;
        this.file = file;
    }

    /** Starts capturing incoming packets (-Q in) and returns once tcpdump is listening. */
    public static Capture incoming(String netns, String device) {
        return start(netns, device, "in");
    }

    /** Starts capturing outgoing packets (-Q out) and returns once tcpdump is listening. */
    public static Capture outgoing(String netns, String device) {
        return start(netns, device, "out");
    }

    private static Capture start(String netns, String device, String direction) {
        try {
            Path file = Files.createTempFile("tcpinspect-", ".pcap");
            file.toFile().setWritable(true, false);
            Process p = new ProcessBuilder("ip", "netns", "exec", netns, "tcpdump", "-Z", "root", "-i", device, "-Q", direction, "--immediate-mode", "-n",
                    "-U", "-w", file.toString()).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            var err = new java.io.BufferedReader(new java.io.InputStreamReader(p.getErrorStream()));
            String line;
            StringBuilder seen = new StringBuilder();
            while ((line = err.readLine()) != null) {
                seen.append(line).append('\n');
                if (line.contains("listening on")) {
                    Thread.ofPlatform().daemon(true).start(() -> {
                        try {
                            String rest;
                            while ((rest = err.readLine()) != null) {
                                System.err.println("tcpdump: " + rest);
                            }
                        } catch (IOException ignored) {
                            // tcpdump ended
                        }
                    });
                    return new Capture(p, file);
                }
            }
            throw new AssertionError("tcpdump did not start: " + seen);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Stops tcpdump, letting it flush its file. */
    public Capture stop() {
        if (!stopped) {
            stopped = true;
            tcpdump.toHandle().destroy(); // SIGTERM: tcpdump flushes and exits
            try {
                tcpdump.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        return this;
    }

    /** Number of captured packets matching a tshark display filter. */
    public long count(String displayFilter) {
        stop();
        Cmd.Result r = Cmd.run(List.of("tshark", "-r", file.toString(), "-Y", displayFilter, "-T", "fields",
                "-e", "frame.number"), 60).ok();
        return r.out().lines().filter(l -> !l.isBlank()).count();
    }

    /** Number of distinct TCP connections (tshark's tcp.stream) with a packet matching the filter. */
    public long streams(String displayFilter) {
        stop();
        Cmd.Result r = Cmd.run(List.of("tshark", "-r", file.toString(), "-Y", displayFilter, "-T", "fields",
                "-e", "tcp.stream"), 60).ok();
        return r.out().lines().filter(l -> !l.isBlank()).distinct().count();
    }

    public static final String TCP = "tcp";
    public static final String SYN = "tcp.flags.syn==1 && tcp.flags.ack==0";
    public static final String SYNACK = "tcp.flags.syn==1 && tcp.flags.ack==1";
    public static final String FIN = "tcp.flags.fin==1";
    public static final String RST = "tcp.flags.reset==1";
    public static final String PURE_ACK =
            "tcp.flags.ack==1 && tcp.flags.syn==0 && tcp.flags.fin==0 && tcp.flags.reset==0 && tcp.len==0";

    @Override
    public void close() {
        stop();
        try {
            if (System.getenv("TCPINSPECT_KEEP_PCAP") == null) Files.deleteIfExists(file);
        } catch (IOException e) {
            // temp file; the OS will clear it
        }
    }
}
