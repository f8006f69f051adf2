package dev.tcpinspect.enforce;

/** What a source prefix's rule says (enum enf_rule_kind): the values the kernel's table holds. */
public enum RuleKind {
    ALLOW(1), DENY(2);

    final int value;

    RuleKind(int value) {
        this.value = value;
    }

    static RuleKind of(int value) {
        return value == ALLOW.value ? ALLOW : DENY;
    }

    public String word() {
        return name().toLowerCase();
    }
}
