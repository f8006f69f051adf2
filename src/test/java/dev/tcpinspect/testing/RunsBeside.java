package dev.tcpinspect.testing;

import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
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
 * checks for leftovers only in those, and times nothing tighter than seconds.
 *
 * <p>It drives tcpinspect as processes of its own, which run at nice {@link #NICE} (when both lanes
 * want the CPUs, the serial one, whose tests time more tightly, gets most of them) and carry {@link
 * #MARK} on their command line ({@link TcpinspectProcess#javaCommand}), by which the serial tests'
 * host-wide checks for leftovers leave out what they hold ({@link Cmd#heldBeside}). Or, with {@link
 * #inProcess}, it loads probes in the test JVM itself: while it runs, those checks leave out whatever
 * the test JVM holds, and the few serial classes that look host-wide at what they load themselves
 * run alone. The test JVM's own threads are not reniced: the lanes share its pools.
 *
 * <p>Classes that time things tightly, fill the CPUs for long, count host-wide (bpftrace) or look
 * host-wide at their own in-process loads run alone at the end instead (JUnit's {@code @Isolated}).
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

    /** The nice value of the tcpinspect processes a class beside the suite starts (CFS weight 110 against 1024). */
    int NICE = 10;

    /** Marks the thread that runs a class beside the suite (its tests run on the class's thread). */
    final class Mark implements BeforeAllCallback, AfterAllCallback {
        private static final ThreadLocal<Boolean> BESIDE = ThreadLocal.withInitial(() -> false);
        /** How many classes that load probes in this JVM run beside the suite now (0 or 1). */
        private static final AtomicInteger IN_PROCESS = new AtomicInteger();

        /** Whether the calling thread runs a class beside the suite. */
        static boolean active() {
            return BESIDE.get();
        }

        /** Whether a class beside the suite holds kernel objects in this JVM now. */
        public static boolean inProcessBesideRunning() {
            return IN_PROCESS.get() > 0;
        }

        /** What goes before the java command of a tcpinspect process the calling thread starts. */
        static List<String> prefix() {
            return active() ? List.of("nice", "-n", Integer.toString(NICE)) : List.of();
        }

        /** The JVM options a tcpinspect process started by the calling thread needs: the mark when it runs beside the suite. */
        public static List<String> jvmOptions() {
            return active() ? List.of(MARK) : List.of();
        }

        @Override
        public void beforeAll(ExtensionContext context) {
            BESIDE.set(true);
            if (inProcess(context)) {
                IN_PROCESS.incrementAndGet();
            }
        }

        @Override
        public void afterAll(ExtensionContext context) {
            BESIDE.remove();
            if (inProcess(context)) {
                IN_PROCESS.decrementAndGet();
            }
        }

        private static boolean inProcess(ExtensionContext context) {
            RunsBeside beside = context.getRequiredTestClass().getAnnotation(RunsBeside.class);
            return beside != null && beside.inProcess();
        }
    }
}
