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
 * (allow wins over deny, however specific the deny), deny otherwise. A prefix named in both lists is
 * one allow. Cost: for each prefix, one map probe per shorter prefix length in use.
 */
public final class PrefixChains {
    private PrefixChains() {}

    public static List<PrefixRule> resolve(List<PrefixRule> named) {
        Map<Cidr, PrefixRule> byPrefix = new LinkedHashMap<>();
        for (PrefixRule r : named) {
            // Keyed by the network (host bits cleared), as the kernel's table and the lookups below see it.
            Cidr network = new Cidr(r.prefix().network(), r.prefix().prefixLength());
            byPrefix.merge(network, new PrefixRule(network, r.listed(), r.decides(), r.ownId(), r.expiresNs(), r.ownId()),
                    (a, b) -> a.listed() == RuleKind.ALLOW ? a : b);
        }
        Map<Boolean, TreeSet<Integer>> lengths = new HashMap<>();
        for (Cidr c : byPrefix.keySet()) {
            lengths.computeIfAbsent(c.ipv6(), k -> new TreeSet<>()).add(c.prefixLength());
        }
        List<PrefixRule> out = new ArrayList<>(byPrefix.size());
        for (PrefixRule r : byPrefix.values()) {
            if (r.listed() == RuleKind.ALLOW) {
                out.add(new PrefixRule(r.prefix(), RuleKind.ALLOW, RuleKind.ALLOW, r.ownId(), r.expiresNs(), r.ownId()));
                continue;
            }
            PrefixRule nearestAllow = null;
            for (int length : lengths.get(r.prefix().ipv6()).headSet(r.prefix().prefixLength(), false).descendingSet()) {
                PrefixRule enclosing = byPrefix.get(new Cidr(new Cidr(r.prefix().address(), length).network(), length));
                if (enclosing != null && enclosing.listed() == RuleKind.ALLOW) {
                    nearestAllow = enclosing;
                    break;
                }
            }
            out.add(nearestAllow == null ? r
                    : new PrefixRule(r.prefix(), RuleKind.DENY, RuleKind.ALLOW, nearestAllow.ownId(), r.expiresNs(),
                            r.ownId()));
        }
        return out;
    }
}
