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
                    output.notifyAll();
                }
                if (line.equals(ATTACHED)) {
                    sawAttached = true;
                    attached.countDown();
                }
            }
        } catch (IOException e) {
            // ended
        } finally {
            synchronized (output) {
                output.notifyAll(); // a wait for a print of the maps ends too
            }
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
        if (script.contains("BEGIN")) {
            throw new IllegalArgumentException("the script has a BEGIN block, and bpftrace takes one: " + script);
        }
        ProcessBuilder builder = new ProcessBuilder("bpftrace", "-e", "BEGIN { @" + LAST_MAP + " = 1; } " + script)
                .redirectErrorStream(true);
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
     * bpftrace's own maps are printed in the order of their names, on SIGUSR1 as at exit; every script
     * gets this one, set in a BEGIN block, so its line ends each print of the maps.
     */
    private static final String LAST_MAP = "zzzz_tcpi_printed";

    /**
     * Each @name (or @name[key]) and its count now: bpftrace prints its maps on SIGUSR1 and goes on
     * counting. Taken this way rather than from its print at exit, because an exit must first detach
     * the probes, which on a busy two-CPU VM has taken bpftrace over a minute (a CI run's bpftrace did
     * not exit within 60 s of SIGTERM; two earlier runs' oracles that read zero, after a 30 s wait for
     * the exit, fit the same cause).
     */
    public Map<String, Long> counts() {
        String end = "@" + LAST_MAP + ": 1";
        int from;
        synchronized (output) {
            from = output.length();
        }
        try {
            new ProcessBuilder("kill", "-USR1", Long.toString(process.pid())).start().waitFor();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            synchronized (output) {
                int at;
                while ((at = output.indexOf(end, from)) < 0) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0 || !process.isAlive() && !reader.isAlive()) {
                        throw new AssertionError("bpftrace printed no maps within 60 s of SIGUSR1"
                                + (process.isAlive() ? "" : " (it exited)") + "; it printed: " + output);
                    }
                    output.wait(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
                }
                Map<String, Long> counts = new HashMap<>();
                for (String line : output.substring(from, at).split("\n")) {
                    Matcher m = COUNT.matcher(line.trim());
                    if (m.matches()) {
                        counts.put(m.group(1), Long.parseLong(m.group(2)));
                    }
                }
                return counts;
            }
        } catch (IOException e) {
            throw new AssertionError("cannot signal bpftrace", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted while bpftrace printed its maps", e);
        }
    }

    /**
     * The counts now ({@link #counts}), then bpftrace ended: asked to exit, killed if it has not within
     * 10 s (its detaching is no part of what it counted).
     */
    public Map<String, Long> stop() {
        Map<String, Long> counts = counts();
        process.toHandle().destroy();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
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
