package dev.tcpinspect.enforce;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.policy.Cidr;
import java.math.BigInteger;
import java.nio.ByteBuffer;
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
 * {@link DirectTables} against the plain longest-prefix match the trie gives (a scan of every rule,
 * with addresses as ints and 128-bit integers): for random nested rule sets of each family, every
 * prefix's first and last address, the addresses just outside them, and random ones.
 */
class DirectTablesTest {
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
    void findsTheLongestIpv6PrefixAsAScanOfEveryRuleDoes(long seed) {
        Random random = new Random(seed);
        List<PrefixRule> rules = randomRules(random, 2000);
        DirectTables tables = DirectTables.build(rules, 1 << 16, 1 << 16, 1 << 16).orElseThrow();
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
    void noIpv6RulesFindNothingAndADefaultRouteCoversEverything() {
        assertEquals(Optional.empty(), DirectTables.build(List.of(), 1, 1, 1).orElseThrow().lookup(new byte[16]));
        Cidr all = Cidr.parse("::/0");
        PrefixRule deny = new PrefixRule(all, RuleKind.DENY, RuleKind.DENY, 0, 0);
        DirectTables tables = DirectTables.build(List.of(deny), 1, 1, 1).orElseThrow();
        assertEquals(Optional.of(deny), tables.lookup(new byte[16]));
        assertEquals(Optional.of(deny), tables.lookup(bytes(ALL)));
    }

    /** Rules that need more chunks, checks or rules than the kernel's tables hold leave the judging to the trie. */
    @Test
    void ipv6RulesThatDoNotFitAreRefused() {
        List<PrefixRule> rules = new ArrayList<>();
        for (String p : List.of("2001:db8::1/128", "2001:db8::2/128", "2001:db9::1/128")) {
            Cidr c = Cidr.parse(p);
            rules.add(new PrefixRule(c, RuleKind.DENY, RuleKind.DENY, rules.size(), 0));
        }
        // 2001:db8::/32's two hosts share chunks down to their last byte; 2001:db9::1 is a check
        DirectTables fits = DirectTables.build(rules, 15, 1, 3).orElseThrow();
        assertEquals(14, fits.chunkCount());
        assertEquals(1, fits.checks().size());
        for (PrefixRule r : rules) { // the two at the end of the 14 chunks, the third by its check
            assertEquals(Optional.of(r), fits.lookup(r.prefix().network()), r.prefix().toString());
        }
        assertEquals(Optional.empty(), fits.lookup(Cidr.parse("2001:db8::3/128").network()));
        assertEquals(Optional.empty(), fits.lookup(Cidr.parse("2001:db9::2/128").network()), "outside the check's prefix");
        assertTrue(DirectTables.build(rules, 13, 1, 3).isEmpty(), "chunks");
        assertTrue(DirectTables.build(rules, 15, 0, 3).isEmpty(), "checks");
        assertTrue(DirectTables.build(rules, 15, 1, 2).isEmpty(), "rules");
    }

    private static byte[] bytes(int address) {
        return ByteBuffer.allocate(4).putInt(address).array();
    }

    private static int first(Cidr p) {
        return ByteBuffer.wrap(p.network()).getInt();
    }

    private static int last(Cidr p) {
        return first(p) | (int) ((1L << (32 - p.prefixLength())) - 1);
    }

    /** Distinct IPv4 prefixes of random lengths 0-32, most inside a few /8s and /16s, so that they nest, branch and stand alone. */
    private static List<PrefixRule> randomIpv4Rules(Random random, int count) {
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

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 4, 5})
    void findsTheLongestIpv4PrefixAsAScanOfEveryRuleDoes(long seed) {
        Random random = new Random(seed);
        List<PrefixRule> rules = randomIpv4Rules(random, 3000);
        DirectTables tables = DirectTables.build(rules, 1 << 16, 1 << 16, 1 << 16).orElseThrow();
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
            assertEquals(Optional.ofNullable(expected), tables.lookup(bytes(a)), "address " + Integer.toUnsignedString(a, 16));
        }
        assertTrue(tables.checks().size() > 100 && tables.chunkCount() > 10, "the rules made checks ("
                + tables.checks().size() + ") and chunks (" + tables.chunkCount() + ")");
    }

    @Test
    void noIpv4RulesFindNothingAndADefaultRouteCoversEverything() {
        assertEquals(Optional.empty(), DirectTables.build(List.of(), 1, 1, 1).orElseThrow().lookup(bytes(0x0A000001)));
        PrefixRule deny = new PrefixRule(Cidr.parse("0.0.0.0/0"), RuleKind.DENY, RuleKind.DENY, 0, 0);
        DirectTables tables = DirectTables.build(List.of(deny), 1, 1, 1).orElseThrow();
        assertEquals(Optional.of(deny), tables.lookup(bytes(0)));
        assertEquals(Optional.of(deny), tables.lookup(bytes(-1)));
    }

    @Test
    void ipv4RulesThatDoNotFitAreRefused() {
        List<PrefixRule> hosts = new ArrayList<>();
        for (String p : List.of("10.0.0.1/32", "10.0.0.2/32", "10.1.0.1/32")) {
            hosts.add(new PrefixRule(Cidr.parse(p), RuleKind.DENY, RuleKind.DENY, hosts.size(), 0));
        }
        // 10.0.0.1 and .2 share a chunk for 10.0/16 and one for 10.0.0/24; 10.1.0.1 is a check from the top
        DirectTables fits = DirectTables.build(hosts, 2, 1, 3).orElseThrow();
        assertEquals(2, fits.chunkCount());
        assertEquals(1, fits.checks().size());
        for (PrefixRule r : hosts) {
            assertEquals(Optional.of(r), fits.lookup(r.prefix().network()), r.prefix().toString());
        }
        assertEquals(Optional.empty(), fits.lookup(Cidr.parse("10.0.0.3/32").network()));
        assertEquals(Optional.empty(), fits.lookup(Cidr.parse("10.1.0.2/32").network()), "outside the check's prefix");
        // the kernel compares 16 bytes, an IPv4 address followed by 12 of 0: the check's must be 0 there too
        DirectTables.Check check = fits.checks().getFirst();
        assertEquals(16, check.mask().length);
        assertEquals(16, check.net().length);
        for (int b = 4; b < 16; b++) {
            assertEquals(0, check.mask()[b], "mask byte " + b);
            assertEquals(0, check.net()[b], "net byte " + b);
        }
        assertEquals("[10, 1, 0, 1]", java.util.Arrays.toString(java.util.Arrays.copyOf(check.net(), 4)));
        assertEquals("[-1, -1, -1, -1]", java.util.Arrays.toString(java.util.Arrays.copyOf(check.mask(), 4)));
        assertTrue(DirectTables.build(hosts, 1, 1, 3).isEmpty(), "chunks");
        assertTrue(DirectTables.build(hosts, 2, 0, 3).isEmpty(), "checks");
        assertTrue(DirectTables.build(hosts, 2, 1, 2).isEmpty(), "rules");
    }

    /**
     * A blocklist of 16,384 hosts spread over the whole IPv4 space (a threat feed's usual shape) fits
     * the kernel's tables (bpf/enforce/enforce.h: 2,048 chunks, 16,384 checks and rules a
     * generation): a check for each host alone in its /16 or /24, a chunk only where two share one.
     */
    @Test
    void aBlocklistOfHostsAcrossTheAddressSpaceFitsTheKernelsTables() {
        Random random = new Random(11);
        Map<Cidr, PrefixRule> hosts = new LinkedHashMap<>();
        while (hosts.size() < 16_384) {
            Cidr host = new Cidr(bytes(random.nextInt()), 32);
            hosts.putIfAbsent(host, new PrefixRule(host, RuleKind.DENY, RuleKind.DENY, hosts.size(), 0));
        }
        DirectTables tables = DirectTables.build(new ArrayList<>(hosts.values()), 2048, 16_384, 16_384).orElseThrow();
        for (PrefixRule r : hosts.values()) {
            assertEquals(Optional.of(r), tables.lookup(r.prefix().network()), r.prefix().toString());
            int neighbour = first(r.prefix()) ^ 1; // the host next to it: found only if it is listed too
            Optional<PrefixRule> expected = Optional.ofNullable(hosts.get(new Cidr(bytes(neighbour), 32)));
            assertEquals(expected, tables.lookup(bytes(neighbour)), Integer.toUnsignedString(neighbour, 16));
        }
        for (int i = 0; i < 20_000; i++) {
            int a = random.nextInt();
            assertEquals(Optional.ofNullable(hosts.get(new Cidr(bytes(a), 32))), tables.lookup(bytes(a)));
        }
    }
}
