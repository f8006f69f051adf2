package dev.tcpinspect.ebpf;

import static java.lang.foreign.ValueLayout.JAVA_INT;

import dev.tcpinspect.os.Native;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Type information (BTF) of an object or of the running kernel, read through libbpf: the layouts
 * of structs, the values of enums, where a global variable sits in its section. Lets user space
 * find what the C side declared instead of copying it, and lets a test check that the two sides
 * agree (cilium/ebpf's btf package plays this part).
 */
public final class Btf implements AutoCloseable {
    /** BTF kinds, from include/uapi/linux/btf.h. */
    private static final int KIND_STRUCT = 4;
    private static final int KIND_UNION = 5;
    private static final int KIND_ENUM = 6;
    private static final int KIND_DATASEC = 15;
    private static final int KIND_ENUM64 = 19;
    /** struct btf_type: name_off, info, size or type. */
    private static final int TYPE_SIZE = 12;

    private final MemorySegment btf;
    private final boolean owned;

    private Btf(MemorySegment btf, boolean owned) {
        this.btf = btf;
        this.owned = owned;
    }

    /** The BTF of an opened or loaded object (freed with the object). */
    static Btf ofObject(MemorySegment object, String objectName) {
        try {
            MemorySegment btf = (MemorySegment) Libbpf.OBJECT_BTF.invokeExact(object);
            if (btf.equals(MemorySegment.NULL)) {
                throw new IllegalStateException("object " + objectName + " has no BTF; compile it with -g");
            }
            return new Btf(btf, false);
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    /** The running kernel's BTF (/sys/kernel/btf/vmlinux); empty when the kernel has none. Close it. */
    public static Optional<Btf> kernel() {
        try {
            MemorySegment btf = (MemorySegment) Libbpf.BTF_LOAD_VMLINUX.invokeExact(Native.errnoSlot());
            return btf.equals(MemorySegment.NULL) ? Optional.empty() : Optional.of(new Btf(btf, true));
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    /** A member of a struct: its bit offset and size in bits (a bitfield's width, or 8 x its type's size). */
    public record Member(String name, long bitOffset, long bitSize) {}

    /** A struct's size in bytes and its members in order. */
    public record Struct(String name, long size, List<Member> members) {
        public Optional<Member> member(String memberName) {
            return members.stream().filter(m -> m.name().equals(memberName)).findFirst();
        }
    }

    /** A global variable's place in its section (.rodata, .bss, .data). */
    public record Variable(String name, long offset, long size) {}

    /** The struct (or union) of that name. */
    public Optional<Struct> struct(String name) {
        for (int kind : new int[] {KIND_STRUCT, KIND_UNION}) {
            int id = find(name, kind);
            if (id > 0) {
                return Optional.of(readStruct(id, name));
            }
        }
        return Optional.empty();
    }

    /** The values of the enum of that name, name to value, in declaration order; empty when none. */
    public Map<String, Long> enumValues(String name) {
        Map<String, Long> values = new LinkedHashMap<>();
        for (int kind : new int[] {KIND_ENUM, KIND_ENUM64}) {
            int id = find(name, kind);
            if (id <= 0) {
                continue;
            }
            MemorySegment type = type(id);
            int vlen = type.get(JAVA_INT, 4) & 0xFFFF;
            int entry = kind == KIND_ENUM ? 8 : 12;
            MemorySegment entries = type.reinterpret(TYPE_SIZE + (long) entry * vlen);
            for (int i = 0; i < vlen; i++) {
                long at = TYPE_SIZE + (long) entry * i;
                long value = kind == KIND_ENUM
                        ? entries.get(JAVA_INT, at + 4) // signed: enums may be negative
                        : (Integer.toUnsignedLong(entries.get(JAVA_INT, at + 8)) << 32)
                                | Integer.toUnsignedLong(entries.get(JAVA_INT, at + 4));
                values.put(nameAt(entries.get(JAVA_INT, at)), value);
            }
            break;
        }
        return values;
    }

    /**
     * The value of an enum constant wherever it is declared, anonymous enums included (the kernel's
     * TCP states are one: TCP_ESTABLISHED...); empty when no enum has it.
     */
    public Optional<Long> enumConstant(String constant) {
        int count;
        try {
            count = (int) Libbpf.BTF_TYPE_CNT.invokeExact(btf);
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
        for (int id = 1; id < count; id++) {
            MemorySegment type = type(id);
            int kind = (type.get(JAVA_INT, 4) >>> 24) & 0x1F;
            if (kind != KIND_ENUM && kind != KIND_ENUM64) {
                continue;
            }
            int vlen = type.get(JAVA_INT, 4) & 0xFFFF;
            int entry = kind == KIND_ENUM ? 8 : 12;
            MemorySegment entries = type.reinterpret(TYPE_SIZE + (long) entry * vlen);
            for (int i = 0; i < vlen; i++) {
                long at = TYPE_SIZE + (long) entry * i;
                if (constant.equals(nameAt(entries.get(JAVA_INT, at)))) {
                    return Optional.of(kind == KIND_ENUM ? (long) entries.get(JAVA_INT, at + 4)
                            : (Integer.toUnsignedLong(entries.get(JAVA_INT, at + 8)) << 32)
                                    | Integer.toUnsignedLong(entries.get(JAVA_INT, at + 4)));
                }
            }
        }
        return Optional.empty();
    }

    /** Every variable of a data section, in order. */
    public List<Variable> variables(String section) {
        List<Variable> list = new ArrayList<>();
        int id = find(section, KIND_DATASEC);
        if (id <= 0) {
            return list;
        }
        MemorySegment sec = type(id);
        int vlen = sec.get(JAVA_INT, 4) & 0xFFFF;
        MemorySegment vars = sec.reinterpret(TYPE_SIZE + 12L * vlen);
        for (int i = 0; i < vlen; i++) {
            long at = TYPE_SIZE + 12L * i;
            MemorySegment var = type(vars.get(JAVA_INT, at));
            list.add(new Variable(nameAt(var.get(JAVA_INT, 0)), Integer.toUnsignedLong(vars.get(JAVA_INT, at + 4)),
                    Integer.toUnsignedLong(vars.get(JAVA_INT, at + 8))));
        }
        return list;
    }

    /** A variable of a data section (".rodata", ".bss"), found through the section's BTF. */
    public Optional<Variable> variable(String section, String name) {
        return variables(section).stream().filter(v -> v.name().equals(name)).findFirst();
    }

    private Struct readStruct(int id, String name) {
        MemorySegment type = type(id);
        int info = type.get(JAVA_INT, 4);
        int vlen = info & 0xFFFF;
        boolean kflag = info < 0;
        long size = Integer.toUnsignedLong(type.get(JAVA_INT, 8));
        MemorySegment members = type.reinterpret(TYPE_SIZE + 12L * vlen);
        List<Member> list = new ArrayList<>(vlen);
        for (int i = 0; i < vlen; i++) {
            long at = TYPE_SIZE + 12L * i;
            int offset = members.get(JAVA_INT, at + 8);
            long bitOffset = kflag ? offset & 0xFFFFFF : Integer.toUnsignedLong(offset);
            long bitfield = kflag ? (offset >>> 24) & 0xFF : 0;
            long bits = bitfield != 0 ? bitfield : 8 * resolveSize(members.get(JAVA_INT, at + 4));
            list.add(new Member(nameAt(members.get(JAVA_INT, at)), bitOffset, bits));
        }
        return new Struct(name, size, List.copyOf(list));
    }

    private int find(String name, int kind) {
        try (Arena arena = Arena.ofConfined()) {
            return (int) Libbpf.BTF_FIND_BY_NAME_KIND.invokeExact(btf, arena.allocateFrom(name), kind);
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    private MemorySegment type(int id) {
        try {
            return ((MemorySegment) Libbpf.BTF_TYPE_BY_ID.invokeExact(btf, id)).reinterpret(TYPE_SIZE);
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    private long resolveSize(int id) {
        try {
            return Libbpf.check("btf__resolve_size", (int) (long) Libbpf.BTF_RESOLVE_SIZE.invokeExact(btf, id));
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    private String nameAt(int offset) {
        try {
            return Native.string((MemorySegment) Libbpf.BTF_NAME_BY_OFFSET.invokeExact(btf, offset));
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    @Override
    public void close() {
        if (owned) {
            try {
                Libbpf.BTF_FREE.invokeExact(btf);
            } catch (Throwable t) {
                throw Libbpf.rethrow(t);
            }
        }
    }
}
