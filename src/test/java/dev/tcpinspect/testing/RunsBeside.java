package dev.tcpinspect.testing;

import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.api.parallel.ResourceLock;

/**
 * A test class that runs beside the serial suite, on a second thread, one such class at a time
 * (junit-platform.properties): the suite's two CPUs are mostly waiting on traffic and timers, so a
 * second lane takes minutes off it. A class qualifies when it works in lab namespaces of its own,
 * checks for leftovers only in those, and times nothing tighter than seconds. It drives tcpinspect
 * as processes of its own, or, with {@link #inProcess}, loads probes in the test JVM itself: then,
 * while it runs, the serial tests' host-wide checks leave out whatever the test JVM holds, and the
 * few serial classes that look host-wide at what they load themselves run alone (@Isolated). Its thread, and so every process it starts,
 * runs at nice {@link #NICE}: when both lanes want the CPUs, the serial one, whose tests time more
 * tightly, gets nine tenths of them. Its tcpinspect processes carry {@link #MARK}
 * on their command line ({@link TcpinspectProcess#javaCommand}), by which the serial tests' host-wide
 * checks for leftovers leave out what they hold ({@link Cmd#heldBeside}). Classes that time things
 * tightly, load the CPUs for long or count host-wide (bpftrace) run alone at the end instead
 * (JUnit's {@code @Isolated}).
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@Inherited
@Execution(ExecutionMode.CONCURRENT)
@ResourceLock(RunsBeside.LANE)
@ExtendWith(RunsBeside.Mark.class)
public @interface RunsBeside {
    /** Whether the class loads probes in the test JVM (Cmd.heldBeside then leaves out what the JVM holds). */
    boolean inProcess() default false;

    /** The lock that keeps the classes beside the suite to one at a time. */
    String LANE = "dev.tcpinspect.beside";

    /** What a tcpinspect process started by a class beside the suite has on its command line. */
    String MARK = "-Dtcpinspect.test.beside=true";

    /** The nice value of a class beside the suite and of the processes it starts (CFS weight 110 against 1024). */
    int NICE = 10;

    /**
     * Marks the thread that runs a class beside the suite (its tests run on the class's thread), and
     * sets its nice value: a thread's own (setpriority on its thread id), which the processes it
     * starts inherit.
     */
    final class Mark implements BeforeAllCallback, AfterAllCallback {
        private static final ThreadLocal<Boolean> BESIDE = ThreadLocal.withInitial(() -> false);
        private static final ThreadLocal<Integer> NICE_BEFORE = new ThreadLocal<>();
        /** How many classes that load probes in this JVM run beside the suite now (0 or 1). */
        private static final java.util.concurrent.atomic.AtomicInteger IN_PROCESS = new java.util.concurrent.atomic.AtomicInteger();

        /** Whether a class beside the suite holds kernel objects in this JVM now. */
        public static boolean inProcessBesideRunning() {
            return IN_PROCESS.get() > 0;
        }

        /** The JVM options a tcpinspect process started by the calling thread needs: the mark when it runs beside the suite. */
        public static java.util.List<String> jvmOptions() {
            return active() ? java.util.List.of(MARK) : java.util.List.of();
        }

        /** Whether the calling thread runs a class beside the suite. */
        static boolean active() {
            return BESIDE.get();
        }

        @Override
        public void beforeAll(ExtensionContext context) throws java.io.IOException {
            BESIDE.set(true);
            if (inProcess(context)) {
                IN_PROCESS.incrementAndGet();
            }
            NICE_BEFORE.set(niceOfThisThread());
            renice(NICE).ok();
        }

        @Override
        public void afterAll(ExtensionContext context) throws java.io.IOException {
            BESIDE.remove();
            if (inProcess(context)) {
                IN_PROCESS.decrementAndGet();
            }
            Integer before = NICE_BEFORE.get();
            NICE_BEFORE.remove();
            if (before != null) {
                renice(before); // back (root may lower it), for whatever this worker runs next
            }
        }

        private static boolean inProcess(ExtensionContext context) {
            RunsBeside beside = context.getRequiredTestClass().getAnnotation(RunsBeside.class);
            return beside != null && beside.inProcess();
        }

        /** The calling thread's nice value: field 19 of /proc/thread-self/stat. */
        private static int niceOfThisThread() throws java.io.IOException {
            String stat = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/thread-self/stat"));
            return Integer.parseInt(stat.substring(stat.lastIndexOf(')') + 2).split(" ")[16]);
        }

        private static Cmd.Result renice(int nice) throws java.io.IOException {
            // /proc/thread-self links to PID/task/TID: renice on a thread id sets that thread's alone
            String tid = java.nio.file.Files.readSymbolicLink(java.nio.file.Path.of("/proc/thread-self")).getFileName()
                    .toString();
            return Cmd.run(java.util.List.of("renice", "--priority", Integer.toString(nice), "-p", tid), 30);
        }
    }
}
