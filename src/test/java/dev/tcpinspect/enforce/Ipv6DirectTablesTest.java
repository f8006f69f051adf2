package dev.tcpinspect.enforce;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.policy.Cidr;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link Ipv6DirectTables} against the plain longest-prefix match the trie gives (a scan of every
 * rule, with addresses as 128-bit integers): for random nested rule sets, every prefix's first and
 * last address, the addresses just outside them, and random ones.
 */
class Ipv6DirectTablesTest {
    private static final BigInteger ALL = BigInteger.ONE.shiftLeft(128).subtract(BigInteger.ONE);

    private static byte[] bytes(BigInteger address) {
        byte[] raw = address.and(ALL).toByteArray();
        byte[] out = new byte[16];
        int copy = Math.min(16, raw.length);
        System.arraycopy(raw, raw.length - copy, out, 16 - copy, copy);
        return out;
    }

    private static BigInteger value(byte[] address) {
        return new BigInteger(1, address);
    }

    private static BigInteger mask(int length) {
        return ALL.xor(BigInteger.ONE.shiftLeft(128 - length).subtract(BigInteger.ONE));
    }

    /** Distinct prefixes, most inside a few /32s and /48s and of every length, so that they nest, branch and stand alone. */
    static List<PrefixRule> randomRules(Random random, int count) {
        Map<Cidr, PrefixRule> rules = new LinkedHashMap<>();
        BigInteger[] homes = {new BigInteger("20010db8", 16).shiftLeft(96), new BigInteger("20010db80001", 16).shiftLeft(80),
                new BigInteger("fd00", 16).shiftLeft(112), new BigInteger(128, random)};
        while (rules.size() < count) {
            int length = random.nextInt(20) == 0 ? random.nextInt(33) : 16 + random.nextInt(113);
            BigInteger home = homes[random.nextInt(homes.length)];
            BigInteger address = random.nextInt(6) == 0 ? new BigInteger(128, random)
                    : home.xor(new BigInteger(128, random).shiftRight(16 + random.nextInt(112)));
            Cidr prefix = new Cidr(new Cidr(bytes(address), length).network(), length);
            RuleKind kind = random.nextInt(4) == 0 ? RuleKind.ALLOW : RuleKind.DENY;
            rules.putIfAbsent(prefix, new PrefixRule(prefix, kind, kind, rules.size(), 0));
        }
        return new ArrayList<>(rules.values());
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3})
    void findsTheLongestPrefixAsAScanOfEveryRuleDoes(long seed) {
        Random random = new Random(seed);
        List<PrefixRule> rules = randomRules(random, 2000);
        Ipv6DirectTables tables = Ipv6DirectTables.build(rules, 1 << 16, 1 << 16, 1 << 16).orElseThrow();
        BigInteger[] networks = new BigInteger[rules.size()];
        BigInteger[] masks = new BigInteger[rules.size()];
        List<BigInteger> addresses = new ArrayList<>();
        for (int r = 0; r < rules.size(); r++) {
            Cidr p = rules.get(r).prefix();
            masks[r] = mask(p.prefixLength());
            networks[r] = value(p.network());
            BigInteger last = networks[r].or(ALL.xor(masks[r]));
            addresses.addAll(List.of(networks[r], last, networks[r].subtract(BigInteger.ONE), last.add(BigInteger.ONE),
                    networks[r].or(new BigInteger(128, random).and(ALL.xor(masks[r])))));
        }
        for (int i = 0; i < 5000; i++) {
            addresses.add(new BigInteger(128, random));
        }
        for (BigInteger a : addresses) {
            BigInteger address = a.and(ALL);
            PrefixRule expected = null; // the longest rule containing the address, by a scan of them all
            for (int r = 0; r < networks.length; r++) {
                if (address.and(masks[r]).equals(networks[r])
                        && (expected == null || rules.get(r).prefix().prefixLength() > expected.prefix().prefixLength())) {
                    expected = rules.get(r);
                }
            }
            assertEquals(Optional.ofNullable(expected), tables.lookup(bytes(address)), address.toString(16));
        }
        assertTrue(tables.checks().size() > 100 && tables.chunkCount() > 10, "the rules made checks ("
                + tables.checks().size() + ") and chunks (" + tables.chunkCount() + ")");
    }

    @Test
    void noRulesFindNothingAndADefaultRouteCoversEverything() {
        assertEquals(Optional.empty(), Ipv6DirectTables.build(List.of(), 1, 1, 1).orElseThrow().lookup(new byte[16]));
        Cidr all = Cidr.parse("::/0");
        PrefixRule deny = new PrefixRule(all, RuleKind.DENY, RuleKind.DENY, 0, 0);
        Ipv6DirectTables tables = Ipv6DirectTables.build(List.of(deny), 1, 1, 1).orElseThrow();
        assertEquals(Optional.of(deny), tables.lookup(new byte[16]));
        assertEquals(Optional.of(deny), tables.lookup(bytes(ALL)));
    }

    /** Rules that need more chunks, checks or rules than the kernel's tables hold leave the judging to the trie. */
    @Test
    void rulesThatDoNotFitAreRefused() {
        List<PrefixRule> rules = new ArrayList<>();
        for (String p : List.of("2001:db8::1/128", "2001:db8::2/128", "2001:db9::1/128")) {
            Cidr c = Cidr.parse(p);
            rules.add(new PrefixRule(c, RuleKind.DENY, RuleKind.DENY, rules.size(), 0));
        }
        // 2001:db8::/32's two hosts share chunks down to their last byte; 2001:db9::1 is a check
        Ipv6DirectTables fits = Ipv6DirectTables.build(rules, 15, 1, 3).orElseThrow();
        assertEquals(14, fits.chunkCount());
        assertEquals(1, fits.checks().size());
        for (PrefixRule r : rules) { // the two at the end of the 14 chunks, the third by its check
            assertEquals(Optional.of(r), fits.lookup(r.prefix().network()), r.prefix().toString());
        }
        assertEquals(Optional.empty(), fits.lookup(Cidr.parse("2001:db8::3/128").network()));
        assertEquals(Optional.empty(), fits.lookup(Cidr.parse("2001:db9::2/128").network()), "outside the check's prefix");
        assertTrue(Ipv6DirectTables.build(rules, 13, 1, 3).isEmpty(), "chunks");
        assertTrue(Ipv6DirectTables.build(rules, 15, 0, 3).isEmpty(), "checks");
        assertTrue(Ipv6DirectTables.build(rules, 15, 1, 2).isEmpty(), "rules");
    }
}
