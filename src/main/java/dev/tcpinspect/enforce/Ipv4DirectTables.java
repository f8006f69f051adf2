package dev.tcpinspect.enforce;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * A generation's IPv4 prefix rules as the enforcer's direct tables (DIR-16-8-8, bpf/enforce/enforce.h):
 * one entry per /16 (top), a chunk of 256 per /16 that holds longer prefixes (mid), and a chunk of
 * 256 per /24 that does (low). An entry is 0 (no prefix covers it), {@link #CHUNK} | the next table's
 * chunk, or the index + 1 of its longest prefix in {@link #rules}. The kernel reads at most three of
 * them and the rule, where the longest-prefix trie walks down to a deep match.
 *
 * @param top 65,536 entries
 * @param mid midChunks x 256 entries (the array may be longer)
 * @param low lowChunks x 256 entries (the array may be longer)
 * @param rules the rules the entries name, shortest prefixes first
 */
record Ipv4DirectTables(int[] top, int[] mid, int midChunks, int[] low, int lowChunks, List<PrefixRule> rules) {
    static final int CHUNK = 0x8000_0000;

    /**
     * The tables of these IPv4 rules (resolved: each holds what its chain decides, as the trie
     * does); empty when they need more chunks or rules than the kernel's tables hold, and the trie
     * must judge alone.
     */
    static Optional<Ipv4DirectTables> build(List<PrefixRule> v4, int maxMidChunks, int maxLowChunks, int maxRules) {
        if (v4.size() > maxRules) {
            return Optional.empty();
        }
        // Shortest first: a longer prefix paints over the shorter ones around it, and no chunk is
        // made before every prefix that fills a whole entry of its table has been painted.
        List<PrefixRule> sorted = new ArrayList<>(v4);
        sorted.sort(Comparator.comparingInt(r -> r.prefix().prefixLength()));
        int[] top = new int[65536];
        int[] mid = new int[256 * Math.min(maxMidChunks, 1 + v4.size())];
        int[] low = new int[256 * Math.min(maxLowChunks, 1 + v4.size())];
        int mids = 0;
        int lows = 0;
        for (int r = 0; r < sorted.size(); r++) {
            var prefix = sorted.get(r).prefix();
            if (prefix.ipv6()) {
                throw new IllegalArgumentException("not an IPv4 prefix: " + prefix);
            }
            int ref = r + 1;
            int length = prefix.prefixLength();
            int a = java.nio.ByteBuffer.wrap(prefix.network()).getInt();
            int t = a >>> 16;
            if (length <= 16) {
                java.util.Arrays.fill(top, t, t + (1 << (16 - length)), ref);
                continue;
            }
            if ((top[t] & CHUNK) == 0) {
                if (mids * 256 >= mid.length) {
                    return Optional.empty();
                }
                java.util.Arrays.fill(mid, mids * 256, mids * 256 + 256, top[t]);
                top[t] = CHUNK | mids++;
            }
            int m = (top[t] & ~CHUNK) * 256 + ((a >>> 8) & 0xFF);
            if (length <= 24) {
                java.util.Arrays.fill(mid, m, m + (1 << (24 - length)), ref);
                continue;
            }
            if ((mid[m] & CHUNK) == 0) {
                if (lows * 256 >= low.length) {
                    return Optional.empty();
                }
                java.util.Arrays.fill(low, lows * 256, lows * 256 + 256, mid[m]);
                mid[m] = CHUNK | lows++;
            }
            int l = (mid[m] & ~CHUNK) * 256 + (a & 0xFF);
            java.util.Arrays.fill(low, l, l + (1 << (32 - length)), ref);
        }
        return Optional.of(new Ipv4DirectTables(top, mid, mids, low, lows, List.copyOf(sorted)));
    }

    /** The rule the kernel's reading of these tables finds for an address (bpf/enforce.bpf.c, enf_rule_v4_direct). */
    Optional<PrefixRule> lookup(int address) {
        int v = top[address >>> 16];
        if ((v & CHUNK) != 0) {
            v = mid[(v & ~CHUNK) * 256 + ((address >>> 8) & 0xFF)];
            if ((v & CHUNK) != 0) {
                v = low[(v & ~CHUNK) * 256 + (address & 0xFF)];
            }
        }
        return v == 0 ? Optional.empty() : Optional.of(rules.get(v - 1));
    }
}
