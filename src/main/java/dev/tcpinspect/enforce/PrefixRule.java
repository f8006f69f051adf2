package dev.tcpinspect.enforce;

import dev.tcpinspect.policy.Cidr;

/**
 * A source prefix as the enforcer's table holds it: the list it was named in, what its chain of
 * enclosing prefixes decides (an allow anywhere in the chain wins), the hit counter of the rule
 * that decides (id) and its own (ownId: the same unless an allow encloses a deny), the counter of
 * the nearest rule in its chain that is only counted or marked (countId, or NO_COUNT), when it
 * expires (CLOCK_MONOTONIC nanoseconds, as System.nanoTime and the kernel's bpf_ktime_get_ns read
 * it; 0: never), and the mark of the nearest marked rule in its chain (an unsigned 32-bit value;
 * 0: none), which its sources' passing packets get.
 */
public record PrefixRule(Cidr prefix, RuleKind listed, RuleKind decides, int id, long expiresNs, int ownId,
                         int countId, int mark) {
    /** No count rule in the chain. */
    public static final int NO_COUNT = -1;

    /** A rule that decides for itself (its own counter is the deciding one), in no count rule's chain. */
    public PrefixRule(Cidr prefix, RuleKind listed, RuleKind decides, int id, long expiresNs) {
        this(prefix, listed, decides, id, expiresNs, id, NO_COUNT);
    }

    public PrefixRule(Cidr prefix, RuleKind listed, RuleKind decides, int id, long expiresNs, int ownId) {
        this(prefix, listed, decides, id, expiresNs, ownId, NO_COUNT);
    }

    /** Resolved, without a mark. */
    public PrefixRule(Cidr prefix, RuleKind listed, RuleKind decides, int id, long expiresNs, int ownId, int countId) {
        this(prefix, listed, decides, id, expiresNs, ownId, countId, 0);
    }

    /** A rule as named, before its chain is resolved ({@link PrefixChains}). */
    public static PrefixRule named(Cidr prefix, RuleKind listed, int id, long expiresNs) {
        return new PrefixRule(prefix, listed, listed, id, expiresNs, id, NO_COUNT);
    }

    /** A mark rule as named: its sources' passing packets get the mark (nonzero). */
    public static PrefixRule marking(Cidr prefix, int id, int mark) {
        return new PrefixRule(prefix, RuleKind.MARK, RuleKind.MARK, id, 0, id, NO_COUNT, mark);
    }

    public boolean expired(long nowNs) {
        return expiresNs != 0 && expiresNs - nowNs <= 0;
    }
}
