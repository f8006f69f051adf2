package dev.tcpinspect.enforce;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.tcpinspect.ebpf.Btf;
import dev.tcpinspect.ebpf.OpenObject;
import dev.tcpinspect.testing.BtfLayouts;
import java.lang.foreign.StructLayout;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The enforcer's tables as Java writes and reads them ({@link Layouts}) against the BTF of the
 * object the jar carries ({@link Enforcer#OBJECT}, built from bpf/enforce.bpf.c by this very
 * build), as SharedLayoutTest checks the probes': a field moved, resized, added or dropped on one
 * side fails the build instead of writing rules the kernel misreads.
 *
 * <ul>
 *   <li>Structs: every layout of {@link Layouts#STRUCTS}, named after its C struct, compared by
 *       {@link BtfLayouts#differences} (size; every Java member a C field of that name at the same
 *       offset and of the same size; every C field a Java member).
 *   <li>Enums: enum enf_stat is {@link Layouts#STATS} in order (ENF_STAT_name = its place, then
 *       ENF_STAT_MAX = the count); enum enf_rule_kind is {@link RuleKind}'s values; enum
 *       enf_port_flag is Layouts.PORT_*; enum enf_protocol is NONE then Policy.Protocol's constants.
 * </ul>
 *
 * ENF_LIVE, ENF_PORTS and ENF_RULE_SLOTS are #defines, which leave no BTF: not checked here.
 * Opening the object does not load it: no privileges needed.
 */
class EnforceLayoutTest {
    private static OpenObject object;
    private static Btf btf;

    @BeforeAll
    static void open() {
        object = OpenObject.openResource(Enforcer.OBJECT);
        btf = object.btf();
    }

    @AfterAll
    static void close() {
        if (object != null) {
            object.close();
        }
    }

    static List<StructLayout> structs() {
        return Layouts.STRUCTS;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("structs")
    void structMatchesTheObjectsBtf(StructLayout layout) {
        String name = layout.name().orElseThrow(() -> new AssertionError("a layout of Layouts.STRUCTS without a name;"
                + " name it after its C struct (.withName(\"...\")): " + layout));
        Btf.Struct c = btf.struct(name).orElseGet(() -> fail("struct " + name + " is not in the BTF of "
                + Enforcer.OBJECT + ", so its layout cannot be checked against Java's. A struct only local variables"
                + " use leaves no BTF: name it where BTF is kept (a map's key or value, SHARED_WITH_JAVA)."));
        List<String> problems = BtfLayouts.differences(c, layout);
        assertTrue(problems.isEmpty(), "struct " + name + " differs between C (BTF of " + Enforcer.OBJECT
                + ") and Java (Layouts):\n  " + String.join("\n  ", problems));
    }

    /**
     * Layouts.STRUCTS is every struct enforce.h shares with Java: SHARED_WITH_JAVA(type, NAME) leaves
     * a variable shared_NAME in .rodata, and the shared structs are those whose NAME is a struct.
     */
    @Test
    void everySharedStructIsChecked() {
        List<String> shared = btf.variables(".rodata").stream().map(Btf.Variable::name)
                .filter(n -> n.startsWith("shared_")).map(n -> n.substring("shared_".length())).toList();
        assertTrue(shared.containsAll(List.of("enf_stat", "enf_rule_kind", "enf_port_flag")), "SHARED_WITH_JAVA"
                + " variables in .rodata of " + Enforcer.OBJECT + ": " + shared);
        List<String> c = shared.stream().filter(n -> btf.struct(n).isPresent()).sorted().toList();
        List<String> java = Layouts.STRUCTS.stream().map(l -> l.name().orElse("(unnamed)")).sorted().toList();
        assertEquals(c, java, "structs: expected those " + Enforcer.OBJECT
                + " shares (SHARED_WITH_JAVA), actual Layouts.STRUCTS");
    }

    @Test
    void statsAreEnfStatInOrder() {
        Map<String, Long> c = cEnum("enf_stat");
        Map<String, Long> expected = new LinkedHashMap<>();
        for (int i = 0; i < Layouts.STATS.size(); i++) {
            expected.put("ENF_STAT_" + Layouts.STATS.get(i), (long) i);
        }
        expected.put("ENF_STAT_MAX", (long) Layouts.STATS.size());
        // Compared as lists of entries: the order is the counters' index in enf_stats.
        assertEquals(List.copyOf(expected.entrySet()), List.copyOf(c.entrySet()), "enum enf_stat: expected"
                + " Java's (Layouts.STATS = EnforceStat in order, then the count), actual C's (BTF of "
                + Enforcer.OBJECT + ")");
    }

    @Test
    void ruleKindsAreEnfRuleKind() {
        Map<String, Long> java = new LinkedHashMap<>();
        for (RuleKind k : RuleKind.values()) {
            java.put("ENF_RULE_" + k.name(), (long) k.value);
            assertEquals(k, RuleKind.of(k.value), "RuleKind.of(" + k.value + ")");
        }
        assertEquals(List.copyOf(java.entrySet()), List.copyOf(cEnum("enf_rule_kind").entrySet()),
                "enum enf_rule_kind: expected Java's (RuleKind's values), actual C's (BTF of " + Enforcer.OBJECT + ")");
    }

    @Test
    void portFlagsAreEnfPortFlag() {
        Map<String, Long> java = new LinkedHashMap<>();
        java.put("ENF_PORT_SERVED", (long) Layouts.PORT_SERVED);
        java.put("ENF_PORT_SERVED_ON", (long) Layouts.PORT_SERVED_ON);
        java.put("ENF_PORT_FAILSAFE", (long) Layouts.PORT_FAILSAFE);
        java.put("ENF_PORT_DROP_MISFITS", (long) Layouts.PORT_DROP_MISFITS);
        java.put("ENF_PORT_EXPECT", (long) Layouts.PORT_EXPECT);
        java.put("ENF_PORT_RESET_MISFITS", (long) Layouts.PORT_RESET_MISFITS);
        assertEquals(List.copyOf(java.entrySet()), List.copyOf(cEnum("enf_port_flag").entrySet()),
                "enum enf_port_flag: expected Java's (Layouts.PORT_*), actual C's (BTF of " + Enforcer.OBJECT + ")");
    }

    /** enum enf_protocol: NONE, then Policy.Protocol's constants in order from 1 (the port flags hold ordinal + 1). */
    @Test
    void protocolsAreEnfProtocol() {
        Map<String, Long> java = new LinkedHashMap<>();
        java.put("ENF_PROTO_NONE", 0L);
        for (dev.tcpinspect.policy.Policy.Protocol p : dev.tcpinspect.policy.Policy.Protocol.values()) {
            java.put("ENF_PROTO_" + p.name(), (long) p.ordinal() + 1);
        }
        assertEquals(List.copyOf(java.entrySet()), List.copyOf(cEnum("enf_protocol").entrySet()),
                "enum enf_protocol: expected Java's (Policy.Protocol), actual C's (BTF of " + Enforcer.OBJECT + ")");
    }

    private static Map<String, Long> cEnum(String name) {
        Map<String, Long> c = btf.enumValues(name);
        if (c.isEmpty()) {
            fail("enum " + name + " is not in the BTF of " + Enforcer.OBJECT + ", so its values cannot be checked"
                    + " against Java's. An enum only code uses leaves no BTF: the C side must name it where BTF is"
                    + " kept (SHARED_WITH_JAVA).");
        }
        return c;
    }
}
