package dev.tcpinspect.ebpf;

import dev.tcpinspect.os.Native;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.Collections;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A loaded BPF object: its programs and maps, and every attachment made from its programs.
 * Closing it detaches everything (newest first), then frees the programs and maps.
 */
public final class BpfObject implements AutoCloseable {
    private final String name;
    private final Arena arena;
    private final Map<String, Program> programs = new LinkedHashMap<>();
    private final Map<String, BpfMap> maps = new LinkedHashMap<>();
    private final Deque<Link> links = new ArrayDeque<>();
    private MemorySegment object;

    BpfObject(String name, MemorySegment object, Arena arena) {
        this.name = name;
        this.object = object;
        this.arena = arena;
        try {
            // Programs left out of the load and maps left uncreated (OpenObject.setAutoload,
            // setAutocreate) have no fd: they are not part of the loaded object.
            MemorySegment prog = MemorySegment.NULL;
            while (!(prog = (MemorySegment) Libbpf.OBJECT_NEXT_PROGRAM.invokeExact(object, prog)).equals(MemorySegment.NULL)) {
                String progName = Native.string((MemorySegment) Libbpf.PROGRAM_NAME.invokeExact(prog));
                if ((int) Libbpf.PROGRAM_FD.invokeExact(prog) >= 0) {
                    programs.put(progName, new Program(this, prog, progName));
                }
            }
            MemorySegment map = MemorySegment.NULL;
            while (!(map = (MemorySegment) Libbpf.OBJECT_NEXT_MAP.invokeExact(object, map)).equals(MemorySegment.NULL)) {
                String mapName = Native.string((MemorySegment) Libbpf.MAP_NAME.invokeExact(map));
                int fd = (int) Libbpf.MAP_FD.invokeExact(map);
                if (fd >= 0) {
                    maps.put(mapName, new BpfMap(mapName, MapType.of((int) Libbpf.MAP_TYPE.invokeExact(map)), fd,
                            (int) Libbpf.MAP_KEY_SIZE.invokeExact(map), (int) Libbpf.MAP_VALUE_SIZE.invokeExact(map),
                            (int) Libbpf.MAP_MAX_ENTRIES.invokeExact(map)));
                }
            }
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    /** Opens and loads an embedded object with no configuration. */
    public static BpfObject loadResource(String resource) {
        return OpenObject.openResource(resource).load();
    }

    public String name() {
        return name;
    }

    public Program program(String programName) {
        Program p = programs.get(programName);
        if (p == null) {
            throw new IllegalArgumentException("object " + name + " has no program " + programName
                    + " (it has " + programs.keySet() + ")");
        }
        return p;
    }

    public BpfMap map(String mapName) {
        BpfMap m = maps.get(mapName);
        if (m == null) {
            throw new IllegalArgumentException("object " + name + " has no map " + mapName
                    + " (it has " + maps.keySet() + ")");
        }
        return m;
    }

    /** Whether the object has a map of that name (created at load). */
    public boolean hasMap(String mapName) {
        return maps.containsKey(mapName);
    }

    /** The map holding a data section's global variables (".bss", ".data", ".rodata"). */
    public BpfMap dataSection(String section) {
        return maps.values().stream().filter(m -> m.name().endsWith(section)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("object " + name + " has no " + section + " section"));
    }

    /** Where a global variable sits in its data section, from the object's BTF. */
    public Btf.Variable variable(String section, String variable) {
        return Btf.ofObject(object, name).variable(section, variable)
                .orElseThrow(() -> new IllegalArgumentException("object " + name + " has no variable " + variable
                        + " in " + section));
    }

    /** The object's type information, valid while it is loaded. */
    public Btf btf() {
        return Btf.ofObject(object, name);
    }

    public Map<String, Program> programs() {
        return Collections.unmodifiableMap(programs);
    }

    public Map<String, BpfMap> maps() {
        return Collections.unmodifiableMap(maps);
    }

    synchronized <L extends Link> L own(L link) {
        if (object == null) {
            link.close();
            throw new IllegalStateException("object " + name + " is closed");
        }
        links.push(link);
        return link;
    }

    @Override
    public synchronized void close() {
        if (object == null) {
            return;
        }
        RuntimeException first = null;
        while (!links.isEmpty()) {
            try {
                links.pop().close();
            } catch (RuntimeException e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        try {
            Libbpf.OBJECT_CLOSE.invokeExact(object);
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        } finally {
            object = null;
            arena.close();
        }
        if (first != null) {
            throw first;
        }
    }
}
