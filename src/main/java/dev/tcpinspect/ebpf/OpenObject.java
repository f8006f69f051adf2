package dev.tcpinspect.ebpf;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.tcpinspect.os.Native;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A BPF object opened from ELF bytes but not yet loaded: the place to set read-only constants and
 * map sizes. {@link #load()} turns it into a {@link BpfObject}; closing it unloaded frees it.
 */
public final class OpenObject implements AutoCloseable {
    private static final int OPEN_OPTS_SIZE = 80;
    private static final int LOG_SIZE = 1 << 20;
    private static final int BTF_KIND_DATASEC = 15;

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
        Arena arena = Arena.ofShared();
        try {
            MemorySegment buffer = arena.allocate(elf.length, 8);
            MemorySegment.copy(elf, 0, buffer, JAVA_BYTE, 0, elf.length);
            MemorySegment log = arena.allocate(LOG_SIZE);
            MemorySegment opts = arena.allocate(OPEN_OPTS_SIZE, 8);
            opts.set(JAVA_LONG, 0, OPEN_OPTS_SIZE);
            opts.set(ADDRESS, 8, arena.allocateFrom(name));
            // The kernel log buffer gives the verifier's log of a failed load (level 0 = only on failure).
            opts.set(ADDRESS, 56, log);
            opts.set(JAVA_LONG, 64, LOG_SIZE);
            opts.set(JAVA_INT, 72, 0);
            MemorySegment object = Libbpf.checkPointer("bpf_object__open_mem(" + name + ")",
                    (MemorySegment) Libbpf.OBJECT_OPEN_MEM.invokeExact(Native.errnoSlot(), buffer,
                            (long) elf.length, opts));
            return new OpenObject(name, arena, object, log);
        } catch (Throwable t) {
            arena.close();
            throw Libbpf.rethrow(t);
        }
    }

    /** Opens an object embedded as a class-path resource, e.g. "/bpf/syncount.bpf.o". */
    public static OpenObject openResource(String resource) {
        try (var in = OpenObject.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("BPF object " + resource + " is not in the jar; rebuild with mvn package");
            }
            String simple = resource.substring(resource.lastIndexOf('/') + 1).replace(".bpf.o", "");
            return open(simple, in.readAllBytes());
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
        try (Arena a = Arena.ofConfined()) {
            MemorySegment btf = (MemorySegment) Libbpf.OBJECT_BTF.invokeExact(object());
            if (btf.equals(MemorySegment.NULL)) {
                throw new IllegalStateException("object " + name + " has no BTF; compile it with -g");
            }
            int secId = (int) Libbpf.BTF_FIND_BY_NAME_KIND.invokeExact(btf, a.allocateFrom(".rodata"), BTF_KIND_DATASEC);
            if (secId < 0) {
                throw new IllegalArgumentException("object " + name + " has no constants (.rodata)");
            }
            MemorySegment sec = ((MemorySegment) Libbpf.BTF_TYPE_BY_ID.invokeExact(btf, secId)).reinterpret(12);
            int vlen = sec.get(JAVA_INT, 4) & 0xFFFF;
            MemorySegment vars = sec.reinterpret(12 + 12L * vlen);
            for (int i = 0; i < vlen; i++) {
                long at = 12 + 12L * i;
                int typeId = vars.get(JAVA_INT, at);
                MemorySegment varType = ((MemorySegment) Libbpf.BTF_TYPE_BY_ID.invokeExact(btf, typeId)).reinterpret(12);
                String varName = Native.string((MemorySegment) Libbpf.BTF_NAME_BY_OFFSET.invokeExact(btf,
                        varType.get(JAVA_INT, 0)));
                if (variable.equals(varName)) {
                    return new long[] {Integer.toUnsignedLong(vars.get(JAVA_INT, at + 4)),
                            Integer.toUnsignedLong(vars.get(JAVA_INT, at + 8))};
                }
            }
            throw new IllegalArgumentException("object " + name + " has no constant " + variable);
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
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
