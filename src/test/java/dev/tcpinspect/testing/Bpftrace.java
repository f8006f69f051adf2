package dev.tcpinspect.testing;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** bpftrace running a counting script: the independent oracle for tracepoint counts. */
public final class Bpftrace implements AutoCloseable {
    /** "@name: N", or "@name[key]: N" for a keyed map (reported as "name[key]"). */
    private static final Pattern COUNT = Pattern.compile("^@(\\w+(?:\\[[^]]*\\])?): (\\d+)$");
    private final Process process;
    private final StringBuilder output = new StringBuilder();
    private final Thread reader;

    private Bpftrace(Process process) {
        this.process = process;
        this.reader = Thread.ofPlatform().daemon(true).start(this::pump);
    }

    private final java.util.concurrent.CountDownLatch attached = new java.util.concurrent.CountDownLatch(1);
    /**
     * Set only by bpftrace's own line: the latch also opens when its output ends, and a bpftrace that
     * failed can still look alive for a moment after that, so "alive" alone would pass a dead oracle
     * on to a test that then reads its empty maps as zero counts.
     */
    private volatile boolean sawAttached;

    private void pump() {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream()))) {
            String line;
            while ((line = r.readLine()) != null) {
                synchronized (output) {
                    output.append(line).append('\n');
                }
                if (line.equals(ATTACHED)) {
                    sawAttached = true;
                    attached.countDown();
                }
            }
        } catch (IOException e) {
            // ended
        } finally {
            attached.countDown(); // ended without attaching (a script error): start() need not wait on
        }
    }

    /**
     * What bpftrace prints (to stderr) once every probe is attached when its environment has this
     * variable, as its own runtime tests ask it to. "Attaching N probes..." comes before the attach
     * itself, which on a loaded machine can finish after a test's traffic (a CI run's bpftrace saw
     * none of a download's RTT samples).
     */
    private static final String ATTACHED = "__BPFTRACE_NOTIFY_PROBES_ATTACHED";

    /**
     * Starts bpftrace and returns once its probes are attached. bpftrace finds tracepoints through
     * tracefs, which a fresh machine has not mounted: mounted first, as tcpinspect itself does. A
     * bpftrace that ends before attaching is tried once more (its output goes to stderr, for the log):
     * it is the oracle's start that failed, before any traffic it would have counted.
     */
    public static Bpftrace start(String script) {
        dev.tcpinspect.os.Tracefs.ensureMounted();
        Bpftrace first = launch(script);
        if (first.attachedInTime()) {
            return first;
        }
        System.err.println("bpftrace did not attach, trying once more; it printed: " + first.output());
        Bpftrace second = launch(script);
        if (second.attachedInTime()) {
            return second;
        }
        throw new AssertionError("bpftrace did not attach, twice; it printed: " + first.output()
                + "\nand then: " + second.output());
    }

    private static Bpftrace launch(String script) {
        ProcessBuilder builder = new ProcessBuilder("bpftrace", "-e", script).redirectErrorStream(true);
        builder.environment().put(ATTACHED, "1");
        try {
            return new Bpftrace(builder.start());
        } catch (IOException e) {
            throw new AssertionError("cannot run bpftrace", e);
        }
    }

    /** Waits for bpftrace's attached line; a bpftrace without one within a minute is killed. */
    private boolean attachedInTime() {
        try {
            if (attached.await(60, TimeUnit.SECONDS) && sawAttached && process.isAlive()) {
                return true;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        process.destroyForcibly();
        return false;
    }

    /** All bpftrace printed so far, for a failure's message. */
    public String output() {
        synchronized (output) {
            return output.toString();
        }
    }

    /**
     * Stops bpftrace (it prints its maps as it exits) and returns each @name (or @name[key]) and its
     * count. A bpftrace that does not exit cleanly has not printed all of its maps, and a count
     * missing from them would read as zero: that fails here, with what bpftrace printed.
     */
    public Map<String, Long> stop() {
        process.toHandle().destroy(); // SIGTERM also makes bpftrace print its maps
        try {
            if (!process.waitFor(60, TimeUnit.SECONDS)) {
                throw new AssertionError("bpftrace did not exit within 60 s of SIGTERM; it printed: " + output());
            }
            reader.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted while stopping bpftrace", e);
        }
        if (process.exitValue() != 0 || reader.isAlive()) {
            throw new AssertionError("bpftrace exited with " + process.exitValue()
                    + (reader.isAlive() ? " and its output did not end" : "") + "; it printed: " + output());
        }
        Map<String, Long> counts = new HashMap<>();
        synchronized (output) {
            for (String line : output.toString().split("\n")) {
                Matcher m = COUNT.matcher(line.trim());
                if (m.matches()) {
                    counts.put(m.group(1), Long.parseLong(m.group(2)));
                }
            }
        }
        return counts;
    }

    @Override
    public void close() {
        if (process.isAlive()) {
            process.destroyForcibly();
        }
    }
}
