package dev.tcpinspect.enforce;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.policy.Cidr;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * {@link Ipv4DirectTables} against the plain longest-prefix match the trie gives (a scan of every
 * rule): for random nested rule sets, every prefix's first and last
 * address, the addresses just outside them, and random ones.
 */
class Ipv4DirectTablesTest {

    private static byte[] bytes(int address) {
        return ByteBuffer.allocate(4).putInt(address).array();
    }

    /** Distinct prefixes of random lengths 0-32, most inside a few /8s and /16s, so that they nest and share chunks. */
    private static List<PrefixRule> randomRules(Random random, int count) {
        Map<Cidr, PrefixRule> rules = new LinkedHashMap<>();
        int[] homes = {0x0A000000, 0x0A010000, 0xC0A80000, random.nextInt()};
        while (rules.size() < count) {
            int length = random.nextInt(10) == 0 ? random.nextInt(17) : 17 + random.nextInt(16);
            int home = homes[random.nextInt(homes.length)];
            int address = random.nextInt(4) == 0 ? random.nextInt() : home ^ (random.nextInt() >>> (8 + random.nextInt(24)));
            Cidr prefix = new Cidr(new Cidr(bytes(address), length).network(), length);
            RuleKind kind = random.nextInt(4) == 0 ? RuleKind.ALLOW : RuleKind.DENY;
            rules.putIfAbsent(prefix, new PrefixRule(prefix, kind, kind, rules.size(), 0));
        }
        return new ArrayList<>(rules.values());
    }

    private static int first(Cidr p) {
        return ByteBuffer.wrap(p.network()).getInt();
    }

    private static int last(Cidr p) {
        return first(p) | (int) ((1L << (32 - p.prefixLength())) - 1);
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 4, 5})
    void findsTheLongestPrefixAsAScanOfEveryRuleDoes(long seed) {
        Random random = new Random(seed);
        List<PrefixRule> rules = randomRules(random, 3000);
        Ipv4DirectTables tables = Ipv4DirectTables.build(rules, 4096, 4096, 16384).orElseThrow();
        List<Integer> addresses = new ArrayList<>();
        for (PrefixRule r : rules) {
            int f = first(r.prefix());
            int l = last(r.prefix());
            addresses.addAll(List.of(f, l, f - 1, l + 1, f | (random.nextInt() & (l ^ f))));
        }
        for (int i = 0; i < 20_000; i++) {
            addresses.add(random.nextInt());
        }
        int[] networks = rules.stream().mapToInt(r -> first(r.prefix())).toArray();
        int[] masks = rules.stream().mapToInt(r -> r.prefix().prefixLength() == 0 ? 0 : -1 << (32 - r.prefix().prefixLength()))
                .toArray();
        for (int a : addresses) {
            PrefixRule expected = null; // the longest rule containing a, by a scan of them all
            for (int r = 0; r < networks.length; r++) {
                if ((a & masks[r]) == networks[r]
                        && (expected == null || rules.get(r).prefix().prefixLength() > expected.prefix().prefixLength())) {
                    expected = rules.get(r);
                }
            }
            assertEquals(Optional.ofNullable(expected), tables.lookup(a), "address " + Integer.toUnsignedString(a, 16));
        }
    }

    @Test
    void noRulesFindNothing() {
        Ipv4DirectTables tables = Ipv4DirectTables.build(List.of(), 1, 1, 1).orElseThrow();
        assertEquals(Optional.empty(), tables.lookup(0x0A000001));
        assertEquals(0, tables.midChunks());
    }

    @Test
    void aDefaultRouteCoversEveryAddress() {
        Cidr all = Cidr.parse("0.0.0.0/0");
        PrefixRule deny = new PrefixRule(all, RuleKind.DENY, RuleKind.DENY, 0, 0);
        Ipv4DirectTables tables = Ipv4DirectTables.build(List.of(deny), 1, 1, 1).orElseThrow();
        assertEquals(Optional.of(deny), tables.lookup(0));
        assertEquals(Optional.of(deny), tables.lookup(-1));
    }

    /** Rules that need more chunks or rules than the kernel's tables hold leave the judging to the trie. */
    @Test
    void rulesThatDoNotFitAreRefused() {
        List<PrefixRule> hosts = new ArrayList<>();
        for (int i = 0; i < 3; i++) { // three /32s in three /16s: three mid and three low chunks
            Cidr p = Cidr.parse("10." + i + ".0.1/32");
            hosts.add(new PrefixRule(p, RuleKind.DENY, RuleKind.DENY, i, 0));
        }
        assertTrue(Ipv4DirectTables.build(hosts, 3, 3, 3).isPresent());
        assertTrue(Ipv4DirectTables.build(hosts, 2, 3, 3).isEmpty(), "mid chunks");
        assertTrue(Ipv4DirectTables.build(hosts, 3, 2, 3).isEmpty(), "low chunks");
        assertTrue(Ipv4DirectTables.build(hosts, 3, 3, 2).isEmpty(), "rules");
    }
}
