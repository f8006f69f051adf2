package dev.tcpinspect.os;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

/**
 * Shared plumbing for FFM downcalls: one linker, errno capture, and symbol lookup that fails with
 * a message naming the missing symbol (a library older than we need) instead of a bare NPE.
 */
public final class Native {
    public static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO =
            CALL_STATE.varHandle(java.lang.foreign.MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");

    /** Per-thread buffer the linker writes errno into; downcalls with capture take it as first argument. */
    private static final ThreadLocal<MemorySegment> ERRNO_SLOT =
            ThreadLocal.withInitial(() -> Arena.global().allocate(CALL_STATE));

    private Native() {}

    public static MethodHandle downcall(SymbolLookup lookup, String library, String name,
                                        FunctionDescriptor descriptor, boolean captureErrno) {
        MemorySegment symbol = lookup.find(name).orElseThrow(() -> new UnsatisfiedLinkError(
                library + " has no symbol " + name + " (the installed " + library + " is too old)"));
        return captureErrno
                ? LINKER.downcallHandle(symbol, descriptor, CAPTURE_ERRNO)
                : LINKER.downcallHandle(symbol, descriptor);
    }

    /** An errno-capturing downcall of a variadic function, its fixed arguments the first {@code fixed}. */
    public static MethodHandle downcallVariadic(SymbolLookup lookup, String library, String name,
                                                FunctionDescriptor descriptor, int fixed) {
        MemorySegment symbol = lookup.find(name).orElseThrow(() -> new UnsatisfiedLinkError(
                library + " has no symbol " + name));
        return LINKER.downcallHandle(symbol, descriptor, CAPTURE_ERRNO, Linker.Option.firstVariadicArg(fixed));
    }

    /** The segment to pass as the hidden first argument of an errno-capturing downcall. */
    public static MemorySegment errnoSlot() {
        return ERRNO_SLOT.get();
    }

    /** errno as captured by the last errno-capturing downcall on this thread. */
    public static int lastErrno() {
        return (int) ERRNO.get(ERRNO_SLOT.get(), 0L);
    }

    /** Reads a NUL-terminated C string, or null for a NULL pointer. */
    public static String string(MemorySegment pointer) {
        if (pointer.equals(MemorySegment.NULL)) {
            return null;
        }
        return pointer.reinterpret(Long.MAX_VALUE).getString(0);
    }
}
