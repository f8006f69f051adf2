package dev.tcpinspect.enforce;

/**
 * What a source prefix's rule says (enum enf_rule_kind): the values the kernel's table holds. NONE:
 * a chain of prefixes that are only counted (or marked) decides nothing.
 */
public enum RuleKind {
    NONE(0), ALLOW(1), DENY(2), COUNT(3), MARK(4);

    final int value;

    RuleKind(int value) {
        this.value = value;
    }

    static RuleKind of(int value) {
        for (RuleKind k : values()) {
            if (k.value == value) {
                return k;
            }
        }
        return NONE;
    }

    public String word() {
        return name().toLowerCase();
    }
}
