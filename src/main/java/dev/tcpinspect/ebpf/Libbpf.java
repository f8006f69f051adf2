package dev.tcpinspect.ebpf;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.tcpinspect.os.Native;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

/**
 * FFM bindings to the system libbpf (1.1 API; no newer symbol is used). Int-returning calls give
 * -errno; pointer-returning calls give NULL and set errno, which the handles capture.
 */
final class Libbpf {
    private static final SymbolLookup LIB = load();

    static final MethodHandle SET_PRINT = fn("libbpf_set_print", FunctionDescriptor.of(ADDRESS, ADDRESS), false);
    static final MethodHandle MAJOR_VERSION = fn("libbpf_major_version", FunctionDescriptor.of(JAVA_INT), false);
    static final MethodHandle MINOR_VERSION = fn("libbpf_minor_version", FunctionDescriptor.of(JAVA_INT), false);
    static final MethodHandle VERSION_STRING = fn("libbpf_version_string", FunctionDescriptor.of(ADDRESS), false);

    static final MethodHandle OBJECT_OPEN_MEM = fn("bpf_object__open_mem",
            FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, ADDRESS), true);
    static final MethodHandle OBJECT_LOAD = fn("bpf_object__load", FunctionDescriptor.of(JAVA_INT, ADDRESS), false);
    static final MethodHandle OBJECT_CLOSE = fn("bpf_object__close", FunctionDescriptor.ofVoid(ADDRESS), false);
    static final MethodHandle OBJECT_NEXT_PROGRAM = fn("bpf_object__next_program",
            FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS), false);
    static final MethodHandle OBJECT_NEXT_MAP = fn("bpf_object__next_map",
            FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS), false);
    static final MethodHandle OBJECT_FIND_MAP = fn("bpf_object__find_map_by_name",
            FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS), false);
    static final MethodHandle NUM_POSSIBLE_CPUS = fn("libbpf_num_possible_cpus", FunctionDescriptor.of(JAVA_INT), false);
    static final MethodHandle OBJECT_BTF = fn("bpf_object__btf", FunctionDescriptor.of(ADDRESS, ADDRESS), false);

    static final MethodHandle PROGRAM_NAME = fn("bpf_program__name", FunctionDescriptor.of(ADDRESS, ADDRESS), false);
    static final MethodHandle PROGRAM_FD = fn("bpf_program__fd", FunctionDescriptor.of(JAVA_INT, ADDRESS), false);
    static final MethodHandle PROGRAM_TYPE = fn("bpf_program__type", FunctionDescriptor.of(JAVA_INT, ADDRESS), false);
    static final MethodHandle PROGRAM_SECTION = fn("bpf_program__section_name",
            FunctionDescriptor.of(ADDRESS, ADDRESS), false);
    static final MethodHandle PROGRAM_AUTOLOAD = fn("bpf_program__autoload",
            FunctionDescriptor.of(java.lang.foreign.ValueLayout.JAVA_BOOLEAN, ADDRESS), false);
    static final MethodHandle PROGRAM_SET_AUTOLOAD = fn("bpf_program__set_autoload",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, java.lang.foreign.ValueLayout.JAVA_BOOLEAN), false);
    static final MethodHandle PROGRAM_ATTACH = fn("bpf_program__attach", FunctionDescriptor.of(ADDRESS, ADDRESS), true);
    static final MethodHandle PROGRAM_ATTACH_TRACEPOINT = fn("bpf_program__attach_tracepoint",
            FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS, ADDRESS), true);
    static final MethodHandle PROGRAM_ATTACH_RAW_TRACEPOINT = fn("bpf_program__attach_raw_tracepoint",
            FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS), true);
    static final MethodHandle LINK_DESTROY = fn("bpf_link__destroy", FunctionDescriptor.of(JAVA_INT, ADDRESS), false);
    static final MethodHandle LINK_CREATE = fn("bpf_link_create",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS), false);

    static final MethodHandle ENABLE_STATS = fn("bpf_enable_stats", FunctionDescriptor.of(JAVA_INT, JAVA_INT), false);

    static final MethodHandle OBJ_PIN = fn("bpf_obj_pin", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS), false);
    static final MethodHandle OBJ_GET = fn("bpf_obj_get", FunctionDescriptor.of(JAVA_INT, ADDRESS), false);
    static final MethodHandle LINK_UPDATE = fn("bpf_link_update",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS), false);
    static final MethodHandle LINK_PIN = fn("bpf_link__pin", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), false);

    static final MethodHandle MAP_NAME = fn("bpf_map__name", FunctionDescriptor.of(ADDRESS, ADDRESS), false);
    static final MethodHandle MAP_FD = fn("bpf_map__fd", FunctionDescriptor.of(JAVA_INT, ADDRESS), false);
    static final MethodHandle MAP_TYPE = fn("bpf_map__type", FunctionDescriptor.of(JAVA_INT, ADDRESS), false);
    static final MethodHandle MAP_KEY_SIZE = fn("bpf_map__key_size", FunctionDescriptor.of(JAVA_INT, ADDRESS), false);
    static final MethodHandle MAP_VALUE_SIZE = fn("bpf_map__value_size", FunctionDescriptor.of(JAVA_INT, ADDRESS), false);
    static final MethodHandle MAP_MAX_ENTRIES = fn("bpf_map__max_entries", FunctionDescriptor.of(JAVA_INT, ADDRESS), false);
    static final MethodHandle MAP_SET_MAX_ENTRIES = fn("bpf_map__set_max_entries",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), false);
    static final MethodHandle MAP_SET_AUTOCREATE = fn("bpf_map__set_autocreate",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, java.lang.foreign.ValueLayout.JAVA_BOOLEAN), false);
    static final MethodHandle MAP_REUSE_FD = fn("bpf_map__reuse_fd", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), false);
    static final MethodHandle MAP_INITIAL_VALUE = fn("bpf_map__initial_value",
            FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS), false);

    static final MethodHandle MAP_LOOKUP_ELEM = fn("bpf_map_lookup_elem",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS), false);
    static final MethodHandle MAP_UPDATE_ELEM = fn("bpf_map_update_elem",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG), false);
    static final MethodHandle MAP_DELETE_ELEM = fn("bpf_map_delete_elem",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS), false);
    static final MethodHandle MAP_GET_NEXT_KEY = fn("bpf_map_get_next_key",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS), false);
    static final MethodHandle MAP_LOOKUP_BATCH = fn("bpf_map_lookup_batch",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS), false);
    static final MethodHandle MAP_UPDATE_BATCH = fn("bpf_map_update_batch",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS), false);
    static final MethodHandle MAP_LOOKUP_AND_DELETE_BATCH = fn("bpf_map_lookup_and_delete_batch",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS), false);

    static final MethodHandle TC_HOOK_CREATE = fn("bpf_tc_hook_create", FunctionDescriptor.of(JAVA_INT, ADDRESS), false);
    static final MethodHandle TC_HOOK_DESTROY = fn("bpf_tc_hook_destroy", FunctionDescriptor.of(JAVA_INT, ADDRESS), false);
    static final MethodHandle TC_ATTACH = fn("bpf_tc_attach", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), false);
    static final MethodHandle TC_DETACH = fn("bpf_tc_detach", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), false);
    static final MethodHandle TC_QUERY = fn("bpf_tc_query", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), false);

    static final MethodHandle PROG_TEST_RUN = fn("bpf_prog_test_run_opts",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS), false);
    static final MethodHandle PROG_GET_FD_BY_ID = fn("bpf_prog_get_fd_by_id",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT), false);
    static final MethodHandle OBJ_GET_INFO_BY_FD = fn("bpf_obj_get_info_by_fd",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS), false);

    static final MethodHandle PROBE_PROG_TYPE = fn("libbpf_probe_bpf_prog_type",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS), false);
    static final MethodHandle PROBE_MAP_TYPE = fn("libbpf_probe_bpf_map_type",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS), false);
    static final MethodHandle PROBE_HELPER = fn("libbpf_probe_bpf_helper",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS), false);

    static final MethodHandle BTF_LOAD_VMLINUX = fn("btf__load_vmlinux_btf", FunctionDescriptor.of(ADDRESS), true);
    static final MethodHandle BTF_FREE = fn("btf__free", FunctionDescriptor.ofVoid(ADDRESS), false);
    static final MethodHandle BTF_FIND_BY_NAME_KIND = fn("btf__find_by_name_kind",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT), false);
    static final MethodHandle BTF_TYPE_BY_ID = fn("btf__type_by_id",
            FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT), false);
    static final MethodHandle BTF_NAME_BY_OFFSET = fn("btf__name_by_offset",
            FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT), false);
    static final MethodHandle BTF_RESOLVE_SIZE = fn("btf__resolve_size",
            FunctionDescriptor.of(JAVA_LONG, ADDRESS, JAVA_INT), false);
    static final MethodHandle BTF_TYPE_CNT = fn("btf__type_cnt", FunctionDescriptor.of(JAVA_INT, ADDRESS), false);

    static {
        // libbpf prints warnings to stderr by default; tcpinspect reports failures itself. Set
        // TCPINSPECT_LIBBPF_DEBUG=1 to keep libbpf's own messages.
        if (System.getenv("TCPINSPECT_LIBBPF_DEBUG") == null) {
            try {
                MemorySegment previous = (MemorySegment) SET_PRINT.invokeExact(MemorySegment.NULL);
            } catch (Throwable t) {
                throw new ExceptionInInitializerError(t);
            }
        }
    }

    private Libbpf() {}

    private static SymbolLookup load() {
        for (String name : new String[] {"libbpf.so.1", "libbpf.so"}) {
            try {
                return SymbolLookup.libraryLookup(name, Arena.global());
            } catch (IllegalArgumentException notFound) {
                // try the next name
            }
        }
        throw new UnsatisfiedLinkError("libbpf is not installed: install the libbpf1 package "
                + "(apt-get install libbpf1), version 1.1 or newer");
    }

    private static MethodHandle fn(String name, FunctionDescriptor descriptor, boolean captureErrno) {
        return Native.downcall(LIB, "libbpf", name, descriptor, captureErrno);
    }

    /** Throws for a negative libbpf return code (which is -errno), else returns it. */
    static int check(String call, int rc) {
        if (rc < 0) {
            throw new BpfException(call, -rc);
        }
        return rc;
    }

    /** Throws with the captured errno when a pointer-returning call gave NULL. */
    static MemorySegment checkPointer(String call, MemorySegment pointer) {
        if (pointer.equals(MemorySegment.NULL)) {
            throw new BpfException(call, Native.lastErrno());
        }
        return pointer;
    }

    static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            return r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException(t);
    }

    /** Whether the loaded libbpf is at least major.minor. */
    static boolean atLeast(int major, int minor) {
        try {
            int have = (int) MAJOR_VERSION.invokeExact();
            return have > major || (have == major && (int) MINOR_VERSION.invokeExact() >= minor);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static String version() {
        try {
            return Native.string((MemorySegment) VERSION_STRING.invokeExact());
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}
