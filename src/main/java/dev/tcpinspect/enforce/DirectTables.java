package dev.tcpinspect.enforce;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A generation's prefix rules of one family as the enforcer's direct tables (bpf/enforce/enforce.h,
 * enf_dir_v4_* and enf_dir_v6_*), a multibit trie read with array lookups: an entry per /16 (top),
 * then a chunk of 256 entries for each 8 bits further into a region that holds two or more longer
 * prefixes. A region that holds exactly one longer prefix ends in a {@link Check}: that prefix's rule
 * for an address inside it, the region's own otherwise. So a blocklist of hosts spread over the
 * address space costs a check each, not a chunk each. An entry is 0 (no prefix covers it),
 * {@link #CHUNK} | chunk, {@link #CHECK} | check, or the index + 1 of its longest prefix in
 * {@link #rules}. Before the top, a bit per /16 ({@link #any}) says whether its entry is other than
 * 0: 8 KB that stay in the CPU's cache, where a random flood's sources would each read another line
 * of the top's 256 KB (BENCHMARKS.md).
 *
 * @param top 65,536 entries
 * @param any a bit per /16, set where its top entry is not 0: 8 chunks of 256 words, bit t % 32 of word t / 32
 * @param chunks chunkCount x 256 entries
 * @param checks the checks, by index
 * @param rules the rules the entries name, shortest prefixes first
 */
record DirectTables(int[] top, int[] any, int[] chunks, int chunkCount, List<Check> checks, List<PrefixRule> rules) {
    static final int CHUNK = 0x4000_0000;
    static final int CHECK = 0x8000_0000;
    static final int INDEX = 0x3FFF_FFFF;

    /**
     * The one longer prefix of a region: match if the address is in it, else other (entries: rule
     * index + 1, or 0). Its mask and net are 16 bytes for either family: an IPv4 address is compared as
     * the kernel holds it, its 4 bytes followed by 12 of 0, which the mask leaves out.
     */
    record Check(byte[] network, int prefixLength, int match, int other) {
        /** The prefix's mask, byte by byte: what the kernel's check ands the address with. */
        byte[] mask() {
            byte[] mask = new byte[16];
            for (int bit = 0; bit < prefixLength; bit++) {
                mask[bit / 8] |= (byte) (0x80 >>> (bit % 8));
            }
            return mask;
        }

        /** The network under the mask: what the kernel's check compares the masked address with. */
        byte[] net() {
            byte[] mask = mask();
            byte[] net = new byte[16];
            for (int b = 0; b < network.length; b++) {
                net[b] = (byte) (network[b] & mask[b]);
            }
            return net;
        }

        /** The kernel's check: the address under the mask equals the net (there as two 64-bit words of these bytes). */
        boolean contains(byte[] address) {
            byte[] mask = mask();
            byte[] net = net();
            for (int b = 0; b < address.length; b++) {
                if ((byte) (address[b] & mask[b]) != net[b]) {
                    return false;
                }
            }
            return true;
        }
    }

    /**
     * The tables of these rules, all of one family (resolved: each holds what its chain decides, as
     * the trie does); empty when they need more chunks, checks or rules than the kernel's tables hold,
     * and the trie must judge alone.
     */
    static Optional<DirectTables> build(List<PrefixRule> family, int maxChunks, int maxChecks, int maxRules) {
        if (family.size() > maxRules) {
            return Optional.empty();
        }
        boolean ipv6 = !family.isEmpty() && family.getFirst().prefix().ipv6();
        List<PrefixRule> sorted = new ArrayList<>(family);
        sorted.sort(Comparator.comparingInt(r -> r.prefix().prefixLength()));
        Builder b = new Builder(sorted, maxChunks, maxChecks);
        int[] top = new int[65536];
        Map<Integer, List<Integer>> inside = new LinkedHashMap<>();
        for (int r = 0; r < sorted.size(); r++) {
            var prefix = sorted.get(r).prefix();
            if (prefix.ipv6() != ipv6) {
                throw new IllegalArgumentException("IPv4 and IPv6 prefixes in one table: " + prefix);
            }
            byte[] n = prefix.network();
            int t = (n[0] & 0xFF) << 8 | (n[1] & 0xFF);
            if (prefix.prefixLength() <= 16) {
                Arrays.fill(top, t, t + (1 << (16 - prefix.prefixLength())), r + 1);
            } else {
                inside.computeIfAbsent(t, k -> new ArrayList<>()).add(r);
            }
        }
        for (var e : inside.entrySet()) {
            int entry = b.region(top[e.getKey()], e.getValue(), 16);
            if (entry == -1) {
                return Optional.empty();
            }
            top[e.getKey()] = entry;
        }
        int[] any = new int[65536 / 32];
        for (int t = 0; t < top.length; t++) {
            if (top[t] != 0) {
                any[t >>> 5] |= 1 << (t & 31);
            }
        }
        return Optional.of(new DirectTables(top, any, Arrays.copyOf(b.chunks, b.chunkCount * 256), b.chunkCount,
                List.copyOf(b.checks), List.copyOf(sorted)));
    }

    private static final class Builder {
        final List<PrefixRule> rules;
        final int maxChunks;
        final int maxChecks;
        int[] chunks = new int[256 * 16];
        int chunkCount;
        final List<Check> checks = new ArrayList<>();

        Builder(List<PrefixRule> rules, int maxChunks, int maxChecks) {
            this.rules = rules;
            this.maxChunks = maxChunks;
            this.maxChecks = maxChecks;
        }

        /**
         * The entry for a region bits long whose own rule is cover and that holds the given rules
         * (indexes into rules, shortest first, every one longer than bits); -1 when out of room.
         */
        int region(int cover, List<Integer> held, int bits) {
            if (held.size() == 1) {
                if (checks.size() == maxChecks) {
                    return -1;
                }
                int r = held.getFirst();
                var p = rules.get(r).prefix();
                checks.add(new Check(p.network(), p.prefixLength(), r + 1, cover));
                return CHECK | (checks.size() - 1);
            }
            if (chunkCount == maxChunks) {
                return -1;
            }
            int chunk = chunkCount++;
            if (chunks.length < chunkCount * 256) {
                chunks = Arrays.copyOf(chunks, chunks.length * 2);
            }
            int base = chunk * 256;
            Arrays.fill(chunks, base, base + 256, cover);
            Map<Integer, List<Integer>> deeper = new LinkedHashMap<>();
            for (int r : held) { // shortest first: a longer prefix paints over the shorter ones around it
                var p = rules.get(r).prefix();
                int slot = p.network()[bits / 8] & 0xFF;
                if (p.prefixLength() <= bits + 8) {
                    Arrays.fill(chunks, base + slot, base + slot + (1 << (bits + 8 - p.prefixLength())), r + 1);
                } else {
                    deeper.computeIfAbsent(slot, k -> new ArrayList<>()).add(r);
                }
            }
            for (var e : deeper.entrySet()) {
                int entry = region(chunks[base + e.getKey()], e.getValue(), bits + 8);
                if (entry == -1) {
                    return -1;
                }
                chunks[base + e.getKey()] = entry;
            }
            return CHUNK | chunk;
        }
    }

    /** The rule the kernel's reading of these tables finds for an address (bpf/enforce.bpf.c, enf_rule_direct). */
    Optional<PrefixRule> lookup(byte[] address) {
        int t = (address[0] & 0xFF) << 8 | (address[1] & 0xFF);
        if ((any[t >>> 5] & 1 << (t & 31)) == 0) {
            return Optional.empty();
        }
        int v = top[t];
        for (int k = 2; k < address.length && (v & CHUNK) != 0; k++) {
            v = chunks[(v & INDEX) * 256 + (address[k] & 0xFF)];
        }
        if ((v & CHECK) != 0) {
            Check c = checks.get(v & INDEX);
            v = c.contains(address) ? c.match() : c.other();
        }
        return v == 0 ? Optional.empty() : Optional.of(rules.get(v - 1));
    }
}
