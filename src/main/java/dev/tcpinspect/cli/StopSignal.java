package dev.tcpinspect.cli;

import dev.tcpinspect.os.Libc;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import sun.misc.Signal;

/**
 * Turns SIGINT and SIGTERM into a request to stop, so a command can detach, print its summary and
 * exit 0 as tcpdump does. A second stop signal while that clean-up runs (stuck on a stalled
 * output, say) ends the process at once with status 130, as a shell's second Ctrl-C does: what the
 * command attached goes with it, since its links live in file descriptors the kernel closes at exit
 * (an enforcer removes its pins first, in {@link #beforeHalt}, so that its links go too). Any other way the JVM
 * shuts down (SIGHUP where the command does not reload on it, System.exit) still runs the shutdown hook, which asks the command to stop and
 * waits for it to finish its clean-up.
 */
final class StopSignal implements AutoCloseable {
    private final CountDownLatch stop = new CountDownLatch(1);
    private final CountDownLatch finished = new CountDownLatch(1);
    private final Thread hook;
    private volatile Runnable beforeHalt = () -> {};

    StopSignal() {
        // Started as a script's background job, this process finds SIGINT ignored, and the JVM would
        // leave it so: Ctrl-C and kill -INT must stop a watch however it was started (tcpdump's and
        // bpftrace's behaviour), so both stop signals get their default back before they are handled.
        Libc.restoreIfIgnored(Libc.SIGINT);
        Libc.restoreIfIgnored(Libc.SIGTERM);
        Signal.handle(new Signal("INT"), s -> onSignal());
        Signal.handle(new Signal("TERM"), s -> onSignal());
        hook = new Thread(() -> {
            stop.countDown();
            try {
                finished.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "tcpinspect-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
    }

    private void onSignal() {
        if (stop.getCount() == 0) {
            // The line from another thread, waited for briefly: stderr may be the stalled pipe itself.
            Thread say = Thread.ofPlatform().daemon().start(() -> {
                try {
                    beforeHalt.run();
                } finally {
                    System.err.println("tcpinspect: second interrupt: exiting now");
                }
            });
            try {
                say.join(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            Runtime.getRuntime().halt(130);
        }
        stop.countDown();
    }

    /**
     * What to do, briefly, before a second stop signal ends the process at once (the live view gives
     * the terminal back): it shares the 200 ms that the line on stderr has.
     */
    void beforeHalt(Runnable action) {
        beforeHalt = action;
    }

    /** Waits up to the timeout; true when a stop was requested. */
    boolean await(Duration timeout) throws InterruptedException {
        return stop.await(Math.max(0, timeout.toNanos()), TimeUnit.NANOSECONDS);
    }

    boolean requested() {
        return stop.getCount() == 0;
    }

    void request() {
        stop.countDown();
    }

    @Override
    public void close() {
        finished.countDown();
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            // the hook is running and has just been released
        }
    }
}
