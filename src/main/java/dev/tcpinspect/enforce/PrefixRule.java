package dev.tcpinspect.enforce;

import dev.tcpinspect.policy.Cidr;

/**
 * A source prefix as the enforcer's table holds it: the list it was named in, what its chain of
 * enclosing prefixes decides (an allow anywhere in the chain wins), the hit counter of the rule
 * that decides (id) and its own (ownId: the same unless an allow encloses a deny), the counter of
 * the nearest rule in its chain that is only counted (countId, or NO_COUNT), and when it
 * expires (CLOCK_MONOTONIC nanoseconds, as System.nanoTime and the kernel's bpf_ktime_get_ns read
 * it; 0: never).
 */
public record PrefixRule(Cidr prefix, RuleKind listed, RuleKind decides, int id, long expiresNs, int ownId,
                         int countId) {
    /** No count rule in the chain. */
    public static final int NO_COUNT = -1;

    /** A rule that decides for itself (its own counter is the deciding one), in no count rule's chain. */
    public PrefixRule(Cidr prefix, RuleKind listed, RuleKind decides, int id, long expiresNs) {
        this(prefix, listed, decides, id, expiresNs, id, NO_COUNT);
    }

    public PrefixRule(Cidr prefix, RuleKind listed, RuleKind decides, int id, long expiresNs, int ownId) {
        this(prefix, listed, decides, id, expiresNs, ownId, NO_COUNT);
    }

    /** A rule as named, before its chain is resolved ({@link PrefixChains}). */
    public static PrefixRule named(Cidr prefix, RuleKind listed, int id, long expiresNs) {
        return new PrefixRule(prefix, listed, listed, id, expiresNs, id, NO_COUNT);
    }

    public boolean expired(long nowNs) {
        return expiresNs != 0 && expiresNs - nowNs <= 0;
    }
}
