package dev.tcpinspect.ebpf;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BOOLEAN;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.tcpinspect.os.Native;
import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.VarHandle;
import java.util.ArrayList;
import java.util.List;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A BPF object opened from ELF bytes but not yet loaded: the place to set read-only constants and
 * map sizes. {@link #load()} turns it into a {@link BpfObject}; closing it unloaded frees it.
 */
public final class OpenObject implements AutoCloseable {
    /** struct bpf_object_open_opts of libbpf 1.1 (x86_64); bytes past the fields libbpf knows stay zero. */
    private static final StructLayout OPEN_OPTS = MemoryLayout.structLayout(
            JAVA_LONG.withName("sz"),
            ADDRESS.withName("object_name"),
            JAVA_BOOLEAN.withName("relaxed_maps"),
            MemoryLayout.paddingLayout(7),
            ADDRESS.withName("pin_root_path"),
            MemoryLayout.paddingLayout(8), /* a deprecated field */
            ADDRESS.withName("kconfig"),
            ADDRESS.withName("btf_custom_path"),
            ADDRESS.withName("kernel_log_buf"),
            JAVA_LONG.withName("kernel_log_size"),
            JAVA_INT.withName("kernel_log_level"),
            MemoryLayout.paddingLayout(4)).withName("bpf_object_open_opts");
    private static final VarHandle OPTS_SZ = OPEN_OPTS.varHandle(groupElement("sz"));
    private static final VarHandle OPTS_NAME = OPEN_OPTS.varHandle(groupElement("object_name"));
    private static final VarHandle OPTS_PIN_ROOT = OPEN_OPTS.varHandle(groupElement("pin_root_path"));
    private static final VarHandle OPTS_BTF_PATH = OPEN_OPTS.varHandle(groupElement("btf_custom_path"));
    private static final String KERNEL_BTF = "/sys/kernel/btf/vmlinux";
    private static final VarHandle OPTS_LOG_BUF = OPEN_OPTS.varHandle(groupElement("kernel_log_buf"));
    private static final VarHandle OPTS_LOG_SIZE = OPEN_OPTS.varHandle(groupElement("kernel_log_size"));
    private static final VarHandle OPTS_LOG_LEVEL = OPEN_OPTS.varHandle(groupElement("kernel_log_level"));
    private static final int LOG_SIZE = 1 << 20;

    private final String name;
    private final Arena arena;
    private final MemorySegment log;
    private MemorySegment object;

    private OpenObject(String name, Arena arena, MemorySegment object, MemorySegment log) {
        this.name = name;
        this.arena = arena;
        this.object = object;
        this.log = log;
    }

    /** Opens an object from ELF bytes; libbpf keeps using the bytes until close, so they are copied here. */
    public static OpenObject open(String name, byte[] elf) {
        return open(name, elf, null);
    }

    /**
     * Opens an object whose maps marked for pinning by name ({@code LIBBPF_PIN_BY_NAME}) live in the
     * folder pinRoot of a BPF filesystem: loading takes up a compatible map already pinned there,
     * else creates and pins it; a map pinned there that does not match fails the load.
     */
    public static OpenObject open(String name, byte[] elf, java.nio.file.Path pinRoot) {
        Arena arena = Arena.ofShared();
        try {
            MemorySegment buffer = arena.allocate(elf.length, 8);
            MemorySegment.copy(elf, 0, buffer, JAVA_BYTE, 0, elf.length);
            MemorySegment log = arena.allocate(LOG_SIZE);
            MemorySegment opts = arena.allocate(OPEN_OPTS); // zeroed
            OPTS_SZ.set(opts, 0L, OPEN_OPTS.byteSize());
            OPTS_NAME.set(opts, 0L, arena.allocateFrom(name));
            // The kernel log buffer gives the verifier's log of a failed load (level 0 = only on failure).
            OPTS_LOG_BUF.set(opts, 0L, log);
            OPTS_LOG_SIZE.set(opts, 0L, (long) LOG_SIZE);
            OPTS_LOG_LEVEL.set(opts, 0L, 0);
            if (relocateAgainstKernelBtfOnly()) {
                OPTS_BTF_PATH.set(opts, 0L, arena.allocateFrom(KERNEL_BTF));
            }
            if (pinRoot != null) {
                OPTS_PIN_ROOT.set(opts, 0L, arena.allocateFrom(pinRoot.toString()));
            }
            MemorySegment object = Libbpf.checkPointer("bpf_object__open_mem(" + name + ")",
                    (MemorySegment) Libbpf.OBJECT_OPEN_MEM.invokeExact(Native.errnoSlot(), buffer,
                            (long) elf.length, opts));
            return new OpenObject(name, arena, object, log);
        } catch (Throwable t) {
            arena.close();
            throw Libbpf.rethrow(t);
        }
    }

    /**
     * Whether to name the kernel's own BTF as the one CO-RE relocates against. A libbpf older than 1.3
     * looks for any type the kernel lacks (an older kernel's layout, kept for those kernels) in the
     * kernel modules' BTF, which takes CAP_SYS_ADMIN, and fails the load without it; with a BTF named,
     * it looks nowhere else. tcpinspect relocates against no module type. The cost: libbpf parses that
     * BTF once more (~60 ms of a CPU), so only a process that needs it pays.
     */
    private static boolean relocateAgainstKernelBtfOnly() {
        return !dev.tcpinspect.os.Privileges.current().capSysAdmin() && !Libbpf.atLeast(1, 3)
                && java.nio.file.Files.isReadable(java.nio.file.Path.of(KERNEL_BTF));
    }

    /** Opens an object embedded as a class-path resource, e.g. "/bpf/tcpinspect.bpf.o". */
    public static OpenObject openResource(String resource) {
        return openResource(resource, null);
    }

    /** Opens an embedded object whose pinned maps live in pinRoot (see {@link #open(String, byte[], java.nio.file.Path)}). */
    public static OpenObject openResource(String resource, java.nio.file.Path pinRoot) {
        try (var in = OpenObject.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("BPF object " + resource + " is not in the jar; rebuild with mvn package");
            }
            String simple = resource.substring(resource.lastIndexOf('/') + 1).replace(".bpf.o", "");
            return open(simple, in.readAllBytes(), pinRoot);
        } catch (java.io.IOException e) {
            throw new IllegalStateException("cannot read " + resource + ": " + e.getMessage(), e);
        }
    }

    private MemorySegment object() {
        if (object == null) {
            throw new IllegalStateException("object " + name + " is already loaded or closed");
        }
        return object;
    }

    private MemorySegment findMap(String mapName) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment map = (MemorySegment) Libbpf.OBJECT_FIND_MAP.invokeExact(object(), a.allocateFrom(mapName));
            if (map.equals(MemorySegment.NULL)) {
                throw new IllegalArgumentException("object " + name + " has no map " + mapName);
            }
            return map;
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    /** Sets a map's capacity before it is created. */
    public OpenObject setMaxEntries(String mapName, int maxEntries) {
        try {
            Libbpf.check("bpf_map__set_max_entries(" + mapName + ")",
                    (int) Libbpf.MAP_SET_MAX_ENTRIES.invokeExact(findMap(mapName), maxEntries));
            return this;
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    /** A map's capacity as it stands (declared, or as set). */
    public int maxEntries(String mapName) {
        try {
            return (int) Libbpf.MAP_MAX_ENTRIES.invokeExact(findMap(mapName));
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    /** Sets a {@code const volatile} global to raw bytes (its exact size). */
    public OpenObject setConstant(String variable, byte[] value) {
        MemorySegment rodata = findMap(".rodata");
        long[] offsetAndSize = rodataVariable(variable);
        if (offsetAndSize[1] != value.length) {
            throw new IllegalArgumentException("constant " + variable + " is " + offsetAndSize[1] + " bytes, not "
                    + value.length);
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment size = a.allocate(JAVA_LONG);
            MemorySegment data = (MemorySegment) Libbpf.MAP_INITIAL_VALUE.invokeExact(rodata, size);
            data = Libbpf.checkPointer("bpf_map__initial_value(.rodata)", data).reinterpret(size.get(JAVA_LONG, 0));
            MemorySegment.copy(value, 0, data, JAVA_BYTE, offsetAndSize[0], value.length);
            return this;
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    public OpenObject setConstant(String variable, int value) {
        return setConstant(variable, ByteBuffer.allocate(4).order(ByteOrder.nativeOrder()).putInt(value).array());
    }

    public OpenObject setConstant(String variable, long value) {
        return setConstant(variable, ByteBuffer.allocate(8).order(ByteOrder.nativeOrder()).putLong(value).array());
    }

    /** Finds a variable in the object's .rodata section through its BTF: {offset, size}. */
    private long[] rodataVariable(String variable) {
        Btf.Variable v = Btf.ofObject(object(), name).variable(".rodata", variable)
                .orElseThrow(() -> new IllegalArgumentException("object " + name + " has no constant " + variable));
        return new long[] {v.offset(), v.size()};
    }

    public OpenObject setConstant(String variable, boolean value) {
        return setConstant(variable, new byte[] {(byte) (value ? 1 : 0)});
    }

    /** A map's type, as declared. */
    public MapType mapType(String mapName) {
        try {
            return MapType.of((int) Libbpf.MAP_TYPE.invokeExact(findMap(mapName)));
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    /** The names of the object's maps, in the order of its ELF file. */
    public List<String> mapNames() {
        List<String> names = new ArrayList<>();
        try {
            MemorySegment map = MemorySegment.NULL;
            while (!(map = (MemorySegment) Libbpf.OBJECT_NEXT_MAP.invokeExact(object(), map)).equals(MemorySegment.NULL)) {
                names.add(Native.string((MemorySegment) Libbpf.MAP_NAME.invokeExact(map)));
            }
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
        return names;
    }

    /**
     * Whether the map is created at load. A map that is not created takes no memory; a program may
     * refer to it only in code the verifier finds unreachable (libbpf poisons such references).
     */
    public OpenObject setAutocreate(String mapName, boolean create) {
        try {
            Libbpf.check("bpf_map__set_autocreate(" + mapName + ")",
                    (int) Libbpf.MAP_SET_AUTOCREATE.invokeExact(findMap(mapName), create));
            return this;
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    /**
     * Makes the map the one behind fd (another object's, opened from its pin) instead of creating
     * it: both objects' programs then share it. Its type, key, value and size must match the declaration.
     */
    public OpenObject reuseMap(String mapName, int fd) {
        try {
            Libbpf.check("bpf_map__reuse_fd(" + mapName + ")", (int) Libbpf.MAP_REUSE_FD.invokeExact(findMap(mapName), fd));
            return this;
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    /** Whether the program is loaded: one that will not be attached need not be verified. */
    public OpenObject setAutoload(String programName, boolean load) {
        try {
            MemorySegment prog = MemorySegment.NULL;
            while (!(prog = (MemorySegment) Libbpf.OBJECT_NEXT_PROGRAM.invokeExact(object(), prog))
                    .equals(MemorySegment.NULL)) {
                if (programName.equals(Native.string((MemorySegment) Libbpf.PROGRAM_NAME.invokeExact(prog)))) {
                    Libbpf.check("bpf_program__set_autoload(" + programName + ")",
                            (int) Libbpf.PROGRAM_SET_AUTOLOAD.invokeExact(prog, load));
                    return this;
                }
            }
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
        throw new IllegalArgumentException("object " + name + " has no program " + programName);
    }

    /** The names of the object's programs, in the order of its ELF file. */
    public List<String> programNames() {
        List<String> names = new ArrayList<>();
        try {
            MemorySegment prog = MemorySegment.NULL;
            while (!(prog = (MemorySegment) Libbpf.OBJECT_NEXT_PROGRAM.invokeExact(object(), prog))
                    .equals(MemorySegment.NULL)) {
                names.add(Native.string((MemorySegment) Libbpf.PROGRAM_NAME.invokeExact(prog)));
            }
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
        return names;
    }

    /** The object's type information, valid while it is open. */
    public Btf btf() {
        return Btf.ofObject(object(), name);
    }

    /**
     * Creates the maps and loads the programs (CO-RE relocated against the running kernel's BTF).
     * On a verifier rejection throws {@link VerifierException} naming the program.
     */
    public BpfObject load() {
        MemorySegment obj = object();
        int rc;
        try {
            rc = (int) Libbpf.OBJECT_LOAD.invokeExact(obj);
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
        if (rc < 0) {
            String verifierLog = log.getString(0);
            String failed = firstUnloadedProgram(obj);
            BpfException error = failed != null && !verifierLog.isBlank()
                    ? new VerifierException(failed, -rc, verifierLog)
                    : new BpfException("loading BPF object " + name, -rc);
            close();
            throw error;
        }
        object = null;
        return new BpfObject(name, obj, arena);
    }

    /** Whether any program's section starts with prefix ("tp_btf/", say): what hooks loading it needs. */
    public boolean hasProgramSection(String prefix) {
        try {
            MemorySegment prog = MemorySegment.NULL;
            while (!(prog = (MemorySegment) Libbpf.OBJECT_NEXT_PROGRAM.invokeExact(object(), prog))
                    .equals(MemorySegment.NULL)) {
                if (Native.string((MemorySegment) Libbpf.PROGRAM_SECTION.invokeExact(prog)).startsWith(prefix)) {
                    return true;
                }
            }
            return false;
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    private static String firstUnloadedProgram(MemorySegment obj) {
        try {
            MemorySegment prog = MemorySegment.NULL;
            while (true) {
                prog = (MemorySegment) Libbpf.OBJECT_NEXT_PROGRAM.invokeExact(obj, prog);
                if (prog.equals(MemorySegment.NULL)) {
                    return null;
                }
                boolean autoload = (boolean) Libbpf.PROGRAM_AUTOLOAD.invokeExact(prog);
                int fd = (int) Libbpf.PROGRAM_FD.invokeExact(prog);
                if (autoload && fd < 0) {
                    return Native.string((MemorySegment) Libbpf.PROGRAM_NAME.invokeExact(prog));
                }
            }
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    @Override
    public void close() {
        if (object != null) {
            try {
                Libbpf.OBJECT_CLOSE.invokeExact(object);
            } catch (Throwable t) {
                throw Libbpf.rethrow(t);
            } finally {
                object = null;
                arena.close();
            }
        }
    }
}
