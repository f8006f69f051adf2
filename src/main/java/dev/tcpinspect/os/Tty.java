package dev.tcpinspect.os;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * Whether a file descriptor is a terminal, and how wide it is: two libc calls, so that a watch
 * decides between its live view and its line table, and sizes the table, without loading a
 * terminal library.
 */
public final class Tty {
    public static final int STDOUT = 1;
    /** TIOCGWINSZ on x86_64 and arm64 Linux. */
    private static final long TIOCGWINSZ = 0x5413;
    private static final MethodHandle ISATTY = Native.LINKER.downcallHandle(
            Native.LINKER.defaultLookup().find("isatty").orElseThrow(), FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle IOCTL = Native.LINKER.downcallHandle(
            Native.LINKER.defaultLookup().find("ioctl").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS), Linker.Option.firstVariadicArg(2));

    private Tty() {}

    public static boolean isTerminal(int fd) {
        try {
            return (int) ISATTY.invokeExact(fd) == 1;
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    /** The terminal's width in columns, or 0 when fd is no terminal or the terminal does not say. */
    public static int columns(int fd) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment size = arena.allocate(8, 2); // struct winsize: rows, columns, x and y pixels
            if ((int) IOCTL.invokeExact(fd, TIOCGWINSZ, size) != 0) {
                return 0;
            }
            return Short.toUnsignedInt(size.get(JAVA_SHORT, 2));
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }
}
