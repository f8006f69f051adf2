package dev.tcpinspect.ebpf;

import dev.tcpinspect.os.Tracefs;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * What the running kernel supports, probed once and cached (like cilium/ebpf's features package).
 * Probes load tiny programs or maps through libbpf, or read sysfs/procfs; none attaches anything.
 */
public final class Features {
    private static final int BTF_KIND_TYPEDEF = 8;
    private static final Map<String, Boolean> CACHE = new ConcurrentHashMap<>();

    private Features() {}

    private static boolean cached(String key, Supplier<Boolean> probe) {
        return CACHE.computeIfAbsent(key, k -> probe.get());
    }

    /** Whether the kernel can load programs of this type (1 = yes per libbpf_probe_bpf_prog_type). */
    public static boolean programType(ProgramType type) {
        return cached("prog:" + type, () -> {
            try {
                return (int) Libbpf.PROBE_PROG_TYPE.invokeExact(type.id, MemorySegment.NULL) == 1;
            } catch (Throwable t) {
                throw Libbpf.rethrow(t);
            }
        });
    }

    public static boolean mapType(MapType type) {
        return cached("map:" + type, () -> {
            try {
                return (int) Libbpf.PROBE_MAP_TYPE.invokeExact(type.id, MemorySegment.NULL) == 1;
            } catch (Throwable t) {
                throw Libbpf.rethrow(t);
            }
        });
    }

    /** Whether programs of the type may call the helper (enum bpf_func_id number). */
    public static boolean helper(ProgramType type, int helperId) {
        return cached("helper:" + type + ":" + helperId, () -> {
            try {
                return (int) Libbpf.PROBE_HELPER.invokeExact(type.id, helperId, MemorySegment.NULL) == 1;
            } catch (Throwable t) {
                throw Libbpf.rethrow(t);
            }
        });
    }

    public static boolean kernelBtf() {
        return Files.isReadable(Path.of("/sys/kernel/btf/vmlinux"));
    }

    /**
     * Whether a tracepoint exists, e.g. ("tcp", "tcp_probe"). Read from tracefs when mounted, else
     * from the kernel BTF, which has a {@code btf_trace_NAME} type for every tracepoint.
     */
    public static boolean tracepoint(String category, String name) {
        return cached("tp:" + category + ":" + name, () -> {
            Path events = Tracefs.eventsDir();
            if (events != null) {
                return Files.isDirectory(events.resolve(category).resolve(name));
            }
            return vmlinuxHasType("btf_trace_" + name, BTF_KIND_TYPEDEF);
        });
    }

    private static boolean vmlinuxHasType(String typeName, int kind) {
        if (!kernelBtf()) {
            return false;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment btf = (MemorySegment) Libbpf.BTF_LOAD_VMLINUX.invokeExact(dev.tcpinspect.os.Native.errnoSlot());
            if (btf.equals(MemorySegment.NULL)) {
                return false;
            }
            try {
                return (int) Libbpf.BTF_FIND_BY_NAME_KIND.invokeExact(btf, arena.allocateFrom(typeName), kind) > 0;
            } finally {
                Libbpf.BTF_FREE.invokeExact(btf);
            }
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    /** kprobes need the kprobe PMU (CONFIG_KPROBE_EVENTS); its absence means no kprobes at all. */
    public static boolean kprobes() {
        return Files.isDirectory(Path.of("/sys/bus/event_source/devices/kprobe"));
    }

    /** uprobes need the uprobe PMU. */
    public static boolean uprobes() {
        return Files.isDirectory(Path.of("/sys/bus/event_source/devices/uprobe"));
    }

    /** BTF-typed tracepoints (tp_btf): probed by loading a tiny tp_btf program. */
    public static boolean tpBtf() {
        return cached("tp_btf", () -> kernelBtf() && loads("/bpf/features/tp_btf.bpf.o"));
    }

    /**
     * tcx links for TC programs (kernel 6.6+): the running kernel's BTF names the attach type. Nothing
     * is attached to find out.
     */
    public static boolean tcx() {
        return cached("tcx", () -> KernelEnums.values(ATTACH_TYPES, "BPF_").containsValue("TCX_INGRESS"));
    }

    /**
     * Whether a process without CAP_BPF may use the maps, rings and links it already holds by file
     * descriptor. Before Linux 6.5, bpf() refused every command to such a process while
     * kernel.unprivileged_bpf_disabled was set (the default of most distributions); since, the
     * checks are made per command and descriptors are enough. tcx (6.6) stands for "since".
     */
    public static boolean descriptorsSufficeWithoutCapabilities() {
        if (tcx()) {
            return true;
        }
        try {
            return java.nio.file.Files.readString(java.nio.file.Path.of("/proc/sys/kernel/unprivileged_bpf_disabled"))
                    .strip().equals("0");
        } catch (java.io.IOException e) {
            return false;
        }
    }

    private static final String ATTACH_TYPES = "bpf_attach_type";

    /** The kernel enums these feature probes read (to prefetch with a program's own: KernelEnums). */
    public static final List<String> KERNEL_ENUMS = List.of(ATTACH_TYPES);

    /** fentry/fexit: probed by loading a tiny fentry program (fails where ftrace has no functions). */
    public static boolean fentry() {
        return cached("fentry", () -> kernelBtf() && loads("/bpf/features/fentry.bpf.o"));
    }

    private static boolean loads(String resource) {
        try (BpfObject ignored = BpfObject.loadResource(resource)) {
            return true;
        } catch (BpfException e) {
            return false; // a refusal for privileges too: callers that load for real say which (refusedForPrivileges)
        }
    }

    /** Whether a failure is the kernel refusing this process (EPERM, EACCES) rather than a feature it lacks. */
    public static boolean refusedForPrivileges(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof BpfException b && (b.errno() == dev.tcpinspect.os.Errno.EPERM
                    || b.errno() == dev.tcpinspect.os.Errno.EACCES) && !(t instanceof VerifierException)) {
                return true;
            }
        }
        return false;
    }

    /** The kernel's BPF JIT setting: 0 off, 1 on, 2 on with debug. -1 when unreadable. */
    public static int jit() {
        try {
            return Integer.parseInt(Files.readString(Path.of("/proc/sys/net/core/bpf_jit_enable")).trim());
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
    }

    public static String kernelRelease() {
        try {
            return Files.readString(Path.of("/proc/sys/kernel/osrelease")).trim();
        } catch (IOException e) {
            return System.getProperty("os.version");
        }
    }

    public static String libbpfVersion() {
        return Libbpf.version();
    }
}
