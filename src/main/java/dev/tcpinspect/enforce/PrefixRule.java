package dev.tcpinspect.enforce;

import dev.tcpinspect.policy.Cidr;

/**
 * A source prefix as the enforcer's table holds it: the list it was named in, what its chain of
 * enclosing prefixes decides (an allow anywhere in the chain wins), the hit counter of the rule
 * that decides (id) and its own (ownId: the same unless an allow encloses a deny), and when it
 * expires (CLOCK_MONOTONIC nanoseconds, as System.nanoTime and the kernel's bpf_ktime_get_ns read
 * it; 0: never).
 */
public record PrefixRule(Cidr prefix, RuleKind listed, RuleKind decides, int id, long expiresNs, int ownId) {
    /** A rule that decides for itself (its own counter is the deciding one). */
    public PrefixRule(Cidr prefix, RuleKind listed, RuleKind decides, int id, long expiresNs) {
        this(prefix, listed, decides, id, expiresNs, id);
    }

    /** A rule as named, before its chain is resolved ({@link PrefixChains}). */
    public static PrefixRule named(Cidr prefix, RuleKind listed, int id, long expiresNs) {
        return new PrefixRule(prefix, listed, listed, id, expiresNs, id);
    }

    public boolean expired(long nowNs) {
        return expiresNs != 0 && expiresNs - nowNs <= 0;
    }
}
