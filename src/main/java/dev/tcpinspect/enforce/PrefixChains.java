package dev.tcpinspect.enforce;

import dev.tcpinspect.policy.Cidr;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * Works out what each prefix of a rule set decides, so that the kernel pays one longest-prefix
 * lookup per packet: the prefixes that contain an address form a chain (each contains the next),
 * the longest is what the lookup finds, and it must say allow if any prefix of its chain is allowed
 * (allow wins over deny, however specific the deny), deny if any is denied, nothing if its chain is
 * only counted or marked; which counted or marked prefix, if any, its chain holds (the nearest:
 * its hits are counted there); and the mark of the nearest marked prefix. A prefix named in both
 * allow and deny is one allow; one named in count and mark is counted under count and marked.
 * Cost: for each prefix, one map probe per prefix length in use up to its own.
 */
public final class PrefixChains {
    private PrefixChains() {}

    public static List<PrefixRule> resolve(List<PrefixRule> named) {
        // One entry per prefix: allow over deny (allow wins), either over count (kept apart: a prefix
        // both denied and counted is dropped and counted).
        Map<Cidr, PrefixRule> byPrefix = new LinkedHashMap<>();
        Map<Cidr, PrefixRule> counted = new HashMap<>();
        Map<Cidr, PrefixRule> marked = new HashMap<>();
        for (PrefixRule r : named) {
            // Keyed by the network (host bits cleared), as the kernel's table and the lookups below see it.
            Cidr network = new Cidr(r.prefix().network(), r.prefix().prefixLength());
            PrefixRule n = new PrefixRule(network, r.listed(), r.listed(), r.ownId(), r.expiresNs(), r.ownId(),
                    PrefixRule.NO_COUNT, r.mark());
            if (r.listed() == RuleKind.COUNT || r.listed() == RuleKind.MARK) {
                counted.merge(network, n, (a, b) -> b.listed() == RuleKind.COUNT && a.listed() != RuleKind.COUNT ? b : a);
                if (r.listed() == RuleKind.MARK) {
                    marked.putIfAbsent(network, n);
                }
                byPrefix.merge(network, n, (a, b) -> a.listed() == RuleKind.MARK && b.listed() == RuleKind.COUNT ? b : a);
            } else {
                byPrefix.merge(network, n, (a, b) -> a.listed() == RuleKind.ALLOW ? a
                        : b.listed() == RuleKind.ALLOW || a.listed() == RuleKind.COUNT || a.listed() == RuleKind.MARK ? b : a);
            }
        }
        Map<Boolean, TreeSet<Integer>> lengths = new HashMap<>();
        for (Cidr c : byPrefix.keySet()) {
            lengths.computeIfAbsent(c.ipv6(), k -> new TreeSet<>()).add(c.prefixLength());
        }
        List<PrefixRule> out = new ArrayList<>(byPrefix.size());
        for (PrefixRule r : byPrefix.values()) {
            PrefixRule allow = nearest(r, RuleKind.ALLOW, byPrefix, lengths);
            PrefixRule deny = allow != null ? null : nearest(r, RuleKind.DENY, byPrefix, lengths);
            PrefixRule count = nearest(r, null, counted, lengths);
            PrefixRule mark = nearest(r, RuleKind.MARK, marked, lengths);
            RuleKind decides = allow != null ? RuleKind.ALLOW : deny != null ? RuleKind.DENY : RuleKind.NONE;
            int id = allow != null ? allow.ownId() : deny != null ? deny.ownId() : r.ownId();
            out.add(new PrefixRule(r.prefix(), r.listed(), decides, id, r.expiresNs(), r.ownId(),
                    count == null ? PrefixRule.NO_COUNT : count.ownId(), mark == null ? 0 : mark.mark()));
        }
        return out;
    }

    /** The longest rule of that kind (null: any in rules) among the prefix itself and those that contain it. */
    private static PrefixRule nearest(PrefixRule r, RuleKind kind, Map<Cidr, PrefixRule> rules,
                                      Map<Boolean, TreeSet<Integer>> lengths) {
        for (int length : lengths.get(r.prefix().ipv6()).headSet(r.prefix().prefixLength(), true).descendingSet()) {
            PrefixRule enclosing = rules.get(new Cidr(new Cidr(r.prefix().address(), length).network(), length));
            if (enclosing != null && (kind == null || enclosing.listed() == kind)) {
                return enclosing;
            }
        }
        return null;
    }
}
