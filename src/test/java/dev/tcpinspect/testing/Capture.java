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
    private final StringBuilder report = new StringBuilder();
    private Thread reportReader;
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
            // close() removes it; a capture a test never closes goes when the test JVM exits
            // (TCPINSPECT_KEEP_PCAP keeps them all, to read after a failure)
            if (System.getenv("TCPINSPECT_KEEP_PCAP") == null) file.toFile().deleteOnExit();
            // Headers only (-s 200) and a large buffer (-B, KiB): a bulk transfer's 64 KB GSO packets
            // would otherwise fill the capture ring, and the kernel would drop from the capture.
            Process p = new ProcessBuilder("ip", "netns", "exec", netns, "tcpdump", "-Z", "root", "-i", device, "-Q",
                    direction, "--immediate-mode", "-s", "200", "-B", "65536", "-n", "-U", "-w", file.toString())
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            var err = new java.io.BufferedReader(new java.io.InputStreamReader(p.getErrorStream()));
            String line;
            StringBuilder seen = new StringBuilder();
            while ((line = err.readLine()) != null) {
                seen.append(line).append('\n');
                if (line.contains("listening on")) {
                    Capture capture = new Capture(p, file);
                    capture.reportReader = Thread.ofPlatform().daemon(true).start(() -> {
                        try {
                            String rest;
                            while ((rest = err.readLine()) != null) {
                                synchronized (capture.report) {
                                    capture.report.append(rest).append('\n');
                                }
                            }
                        } catch (IOException ignored) {
                            // tcpdump ended
                        }
                    });
                    return capture;
                }
            }
            throw new AssertionError("tcpdump did not start: " + seen);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Stops tcpdump, letting it flush its file. An oracle must be complete: if the kernel dropped
     * packets from the capture, the test fails here rather than compare against a partial record.
     * tcpdump stops at SIGTERM without reading what is still in its socket's ring, so a packet a test
     * has just seen arrive (a reset its client got) may be there yet: it is given 200 ms first.
     */
    public Capture stop() {
        if (!stopped) {
            stopped = true;
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            tcpdump.toHandle().destroy(); // SIGTERM: tcpdump flushes, prints its statistics and exits
            try {
                tcpdump.waitFor(10, TimeUnit.SECONDS);
                reportReader.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            String text;
            synchronized (report) {
                text = report.toString();
            }
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("(\\d+) packets? dropped by kernel").matcher(text);
            if (!m.find()) {
                throw new AssertionError("tcpdump did not report its statistics: " + text);
            }
            if (Long.parseLong(m.group(1)) != 0) {
                throw new AssertionError("the capture is incomplete, tcpdump says: " + text.strip());
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

    /** The given tshark fields of each packet matching a display filter, one line per packet, tab-separated. */
    public List<String> fields(String displayFilter, String... fields) {
        stop();
        List<String> command = new java.util.ArrayList<>(List.of("tshark", "-r", file.toString(), "-Y", displayFilter,
                "-T", "fields"));
        for (String field : fields) {
            command.add("-e");
            command.add(field);
        }
        return Cmd.run(command, 60).ok().out().lines().filter(l -> !l.isBlank()).toList();
    }

    /** tshark's one-line summaries of the packets matching a display filter, for assertion messages. */
    public String describe(String displayFilter) {
        stop();
        return Cmd.run(List.of("tshark", "-r", file.toString(), "-Y", displayFilter), 60).ok().out();
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
        try {
            stop();
        } finally {
            try {
                if (System.getenv("TCPINSPECT_KEEP_PCAP") == null) Files.deleteIfExists(file);
            } catch (IOException e) {
                // removed when the JVM exits (deleteOnExit)
            }
        }
    }
}
