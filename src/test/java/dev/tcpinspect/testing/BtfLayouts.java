package dev.tcpinspect.testing;

import dev.tcpinspect.ebpf.Btf;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.PaddingLayout;
import java.lang.foreign.StructLayout;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * A Java struct layout against the C struct of an object's BTF (SharedLayoutTest for the probes,
 * EnforceLayoutTest for the enforcer). The same size; every Java member that is not padding is a C
 * field of that name at the same byte offset and of the same size; every C field is a Java member
 * (none silently missing in Java). C bitfields and anonymous members cannot be named by a Java
 * layout and are refused. Signedness is not in the comparison: BTF members are compared by place
 * and size only, and a nested struct by its place and size (its own fields are for the caller to
 * check on their own, the BTF API gives a member's offset and size, not its type).
 */
public final class BtfLayouts {
    private BtfLayouts() {}

    /** What differs between the C struct and its Java layout, one line each; empty when they agree. */
    public static List<String> differences(Btf.Struct c, StructLayout layout) {
        List<String> problems = new ArrayList<>();
        if (c.size() != layout.byteSize()) {
            problems.add("size: C " + c.size() + " bytes, Java " + layout.byteSize() + " bytes");
        }
        Map<String, long[]> java = new LinkedHashMap<>(); // name -> {byte offset, byte size}
        long offset = 0;
        for (MemoryLayout m : layout.memberLayouts()) {
            long at = offset;
            offset += m.byteSize();
            if (m instanceof PaddingLayout) {
                continue;
            }
            Optional<String> field = m.name();
            if (field.isEmpty()) {
                problems.add("Java member at byte " + at + " (" + m + ") has no name: name it after its C field");
                continue;
            }
            java.put(field.get(), new long[] {at, m.byteSize()});
            Optional<Btf.Member> cm = c.member(field.get());
            if (cm.isEmpty()) {
                problems.add("field " + field.get() + ": Java has it at byte " + at + " (" + m.byteSize()
                        + " bytes), C has no field of that name (C fields: " + describe(c) + ")");
            } else if (cm.get().bitOffset() != 8 * at || cm.get().bitSize() != 8 * m.byteSize()) {
                problems.add("field " + field.get() + ": C at " + place(cm.get()) + ", Java at byte " + at + " ("
                        + m.byteSize() + " bytes)");
            }
        }
        for (Btf.Member cm : c.members()) {
            if (cm.name().isEmpty()) {
                problems.add("C has an anonymous member at " + place(cm) + ", which a Java layout cannot name");
            } else if (cm.bitOffset() % 8 != 0 || cm.bitSize() % 8 != 0) {
                problems.add("field " + cm.name() + ": C has a bitfield at " + place(cm) + ", which a Java layout"
                        + " cannot model; keep shared fields whole bytes");
            } else if (!java.containsKey(cm.name())) {
                problems.add("field " + cm.name() + ": C has it at " + place(cm) + ", Java has no member of that name"
                        + " (Java members: " + java.keySet() + ")");
            }
        }
        return problems;
    }

    /** A member's place: "byte 4 (2 bytes)", or in bits for a bitfield. */
    public static String place(Btf.Member m) {
        return m.bitOffset() % 8 == 0 && m.bitSize() % 8 == 0
                ? "byte " + m.bitOffset() / 8 + " (" + m.bitSize() / 8 + " bytes)"
                : "bit " + m.bitOffset() + " (" + m.bitSize() + " bits)";
    }

    /** The struct's members and their places, for messages. */
    public static String describe(Btf.Struct c) {
        return c.members().stream().map(m -> m.name() + "@" + place(m)).collect(Collectors.joining(", "));
    }
}
