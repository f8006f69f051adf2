package dev.tcpinspect.enforce;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.policy.Cidr;
import dev.tcpinspect.testing.Cmd;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.LongStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link PrefixChains#resolve} against what a rule set means, address by address. The kernel does
 * one longest-prefix lookup a packet (enforce.bpf.c, enf_rule_of): the verdict is the longest
 * resolved entry containing the source, its {@code decides} and its {@code id} (the hit counter
 * bumped), or no rule at all. What the rule set means: ALLOW if any allow-listed prefix contains
 * the address (allow wins over deny, however specific the deny), else DENY if any deny-listed
 * prefix does, else nothing; the deciding rule is the longest allow-listed prefix containing the
 * address when ALLOW, the longest deny-listed one when DENY.
 *
 * <p>Why the id is the longest allow-listed prefix containing the address: the entry found is the
 * longest listed prefix containing it. If that one is allow-listed, it is the longest allow. If it
 * is deny-listed and covered by an allow, its id is the nearest allow enclosing that deny prefix;
 * no allow-listed prefix lies between the deny and the address (it would be a longer entry), so
 * that allow is again the longest allow-listed prefix containing the address.
 *
 * <p>The randomized test judges each rule set with Python's ipaddress module (an oracle that shares
 * no code with PrefixChains or Cidr), over fixed seeds, IPv4 and IPv6 mixed.
 */
class PrefixChainsTest {

    // ---- the kernel's side: one longest-prefix lookup ----

    /** The entry the LPM trie finds for a source address: the longest of its family containing it, or null. */
    static PrefixRule lookup(List<PrefixRule> table, byte[] address) {
        PrefixRule best = null;
        for (PrefixRule r : table) {
            Cidr p = r.prefix();
            if (p.address().length == address.length
                    && Arrays.equals(new Cidr(address, p.prefixLength()).network(), p.network())
                    && (best == null || p.prefixLength() > best.prefix().prefixLength())) {
                best = r;
            }
        }
        return best;
    }

    /** "ALLOW 7", "DENY 3", or "NONE": what the kernel decides for the address and whose counter it bumps. */
    static String verdict(List<PrefixRule> table, byte[] address) {
        PrefixRule r = lookup(table, address);
        return r == null ? "NONE" : r.decides() + " " + r.id();
    }

    static String verdict(List<PrefixRule> table, String address) {
        return verdict(table, Cidr.parse(address).address());
    }

    /** The resolved entry of exactly that prefix. */
    static PrefixRule entry(List<PrefixRule> table, String prefix) {
        Cidr c = Cidr.parse(prefix);
        List<PrefixRule> found = table.stream().filter(r -> r.prefix().equals(c)).toList();
        assertEquals(1, found.size(), "entries for " + prefix + " in " + table);
        return found.get(0);
    }

    static PrefixRule allow(String prefix, int id) {
        return PrefixRule.named(Cidr.parse(prefix), RuleKind.ALLOW, id, 0);
    }

    static PrefixRule deny(String prefix, int id) {
        return PrefixRule.named(Cidr.parse(prefix), RuleKind.DENY, id, 0);
    }

    // ---- hand-written cases ----

    @Test
    void noRulesNoEntries() {
        assertEquals(List.of(), PrefixChains.resolve(List.of()));
    }

    /** Deny a /16, allow a /24 inside it: the /24 passes, the rest of the /16 is denied, outside is no rule's. */
    @Test
    void allowInsideDeny() {
        List<PrefixRule> t = PrefixChains.resolve(List.of(deny("10.0.0.0/16", 1), allow("10.0.5.0/24", 2)));
        assertEquals(2, t.size(), t.toString());
        assertEquals(new PrefixRule(Cidr.parse("10.0.0.0/16"), RuleKind.DENY, RuleKind.DENY, 1, 0),
                entry(t, "10.0.0.0/16"));
        assertEquals(new PrefixRule(Cidr.parse("10.0.5.0/24"), RuleKind.ALLOW, RuleKind.ALLOW, 2, 0),
                entry(t, "10.0.5.0/24"));
        assertEquals("ALLOW 2", verdict(t, "10.0.5.7"));
        assertEquals("ALLOW 2", verdict(t, "10.0.5.255"));
        assertEquals("DENY 1", verdict(t, "10.0.6.1"));
        assertEquals("DENY 1", verdict(t, "10.0.4.255"));
        assertEquals("NONE", verdict(t, "10.1.5.7"));
    }

    /**
     * Allow a /16, deny a /24 inside it: allow wins, so the deny's entry (the longest match inside
     * the /24) must say ALLOW, and count the hit on the allow that decides (id 1), while remembering
     * it was named in the deny list.
     */
    @Test
    void denyInsideAllowIsAllowedByTheAllow() {
        List<PrefixRule> t = PrefixChains.resolve(List.of(allow("10.0.0.0/16", 1), deny("10.0.5.0/24", 2)));
        assertEquals(new PrefixRule(Cidr.parse("10.0.5.0/24"), RuleKind.DENY, RuleKind.ALLOW, 1, 0, 2),
                entry(t, "10.0.5.0/24"));
        assertEquals(new PrefixRule(Cidr.parse("10.0.0.0/16"), RuleKind.ALLOW, RuleKind.ALLOW, 1, 0),
                entry(t, "10.0.0.0/16"));
        assertEquals("ALLOW 1", verdict(t, "10.0.5.7"));
        assertEquals("ALLOW 1", verdict(t, "10.0.200.1"));
        assertEquals("NONE", verdict(t, "10.1.0.1"));
    }

    /**
     * Deny 10/8, allow 10.1/16 inside, deny 10.1.2/24 inside that, deny host 10.1.2.3 inside that:
     * everything under the allow passes on the allow's counter; the rest of 10/8 is denied.
     */
    @Test
    void denyInsideAllowInsideDeny() {
        List<PrefixRule> t = PrefixChains.resolve(List.of(deny("10.1.2.0/24", 3), allow("10.1.0.0/16", 2),
                deny("10.0.0.0/8", 1), deny("10.1.2.3", 4)));
        assertEquals(new PrefixRule(Cidr.parse("10.0.0.0/8"), RuleKind.DENY, RuleKind.DENY, 1, 0),
                entry(t, "10.0.0.0/8"));
        assertEquals(new PrefixRule(Cidr.parse("10.1.2.0/24"), RuleKind.DENY, RuleKind.ALLOW, 2, 0, 3),
                entry(t, "10.1.2.0/24"));
        assertEquals(new PrefixRule(Cidr.parse("10.1.2.3/32"), RuleKind.DENY, RuleKind.ALLOW, 2, 0, 4),
                entry(t, "10.1.2.3/32"));
        assertEquals("ALLOW 2", verdict(t, "10.1.2.3"));
        assertEquals("ALLOW 2", verdict(t, "10.1.2.4"));
        assertEquals("ALLOW 2", verdict(t, "10.1.3.4"));
        assertEquals("DENY 1", verdict(t, "10.2.2.3"));
        assertEquals("NONE", verdict(t, "11.1.2.3"));
    }

    /**
     * Allow 10/8 (id 1), allow 10.1/16 (id 2), deny 10.1.2/24 (id 3): the deny is allowed by the
     * NEAREST enclosing allow (the /16), the one an address in the /24 would be counted on.
     */
    @Test
    void denyTakesTheNearestEnclosingAllow() {
        List<PrefixRule> t = PrefixChains.resolve(List.of(allow("10.0.0.0/8", 1), allow("10.1.0.0/16", 2),
                deny("10.1.2.0/24", 3)));
        assertEquals(new PrefixRule(Cidr.parse("10.1.2.0/24"), RuleKind.DENY, RuleKind.ALLOW, 2, 0, 3),
                entry(t, "10.1.2.0/24"));
        // The same in IPv6, the allows at lengths that are not multiples of 8.
        t = PrefixChains.resolve(List.of(deny("2001:db8:bad:f00::/56", 3), allow("2001:db8:bac::/46", 2),
                allow("2001:db8::/29", 1)));
        assertEquals(new PrefixRule(Cidr.parse("2001:db8:bad:f00::/56"), RuleKind.DENY, RuleKind.ALLOW, 2, 0, 3),
                entry(t, "2001:db8:bad:f00::/56"));
        assertEquals("ALLOW 2", verdict(t, "2001:db8:bad:f00::1"));
        assertEquals("ALLOW 1", verdict(t, "2001:db8:bb0::1"));
    }

    /**
     * A prefix in both lists is one entry, an allow, on the allow's counter, whichever list comes
     * first; a deny inside it is allowed on that counter.
     */
    @Test
    void samePrefixInBothListsIsOneAllow() {
        for (List<PrefixRule> named : List.of(
                List.of(deny("192.0.2.0/24", 1), allow("192.0.2.0/24", 2), deny("192.0.2.128/25", 3)),
                List.of(allow("192.0.2.0/24", 2), deny("192.0.2.128/25", 3), deny("192.0.2.0/24", 1)))) {
            List<PrefixRule> t = PrefixChains.resolve(named);
            assertEquals(2, t.size(), t.toString());
            assertEquals(new PrefixRule(Cidr.parse("192.0.2.0/24"), RuleKind.ALLOW, RuleKind.ALLOW, 2, 0),
                    entry(t, "192.0.2.0/24"), named.toString());
            assertEquals(new PrefixRule(Cidr.parse("192.0.2.128/25"), RuleKind.DENY, RuleKind.ALLOW, 2, 0, 3),
                    entry(t, "192.0.2.128/25"), named.toString());
            assertEquals("ALLOW 2", verdict(t, "192.0.2.1"));
            assertEquals("ALLOW 2", verdict(t, "192.0.2.200"));
        }
    }

    /**
     * IPv4 and IPv6 never cover each other, even where the bits agree: a00::/8 starts with the same
     * byte as 10.0.0.0/8, ::/0 covers every IPv6 address, and ::ffff:10.0.0.0/104 (IPv4-mapped) and
     * ::10.0.0.0/104 (IPv4-compatible) hold 10/8's addresses in IPv6 clothes; none of them allows
     * an IPv4 deny, and 0.0.0.0/0 allows no IPv6 deny.
     */
    /**
     * A source's packets get the mark of the nearest marked prefix of its chain, whatever else the
     * chain decides, and its hits count at the nearest counted or marked prefix; a mark decides nothing.
     */
    @Test
    void marksComeFromTheNearestMarkedPrefixAndDecideNothing() {
        List<PrefixRule> t = PrefixChains.resolve(List.of(
                PrefixRule.marking(Cidr.parse("10.0.0.0/8"), 1, 0x10),
                PrefixRule.marking(Cidr.parse("10.1.0.0/16"), 2, 0x20),
                PrefixRule.named(Cidr.parse("10.1.2.0/24"), RuleKind.DENY, 3, 0),
                PrefixRule.named(Cidr.parse("10.1.2.128/25"), RuleKind.COUNT, 4, 0)));
        assertEquals(new PrefixRule(Cidr.parse("10.0.0.0/8"), RuleKind.MARK, RuleKind.NONE, 1, 0, 1, 1, 0x10),
                lookup(t, Cidr.parse("10.5.5.5").address()));
        assertEquals(new PrefixRule(Cidr.parse("10.1.0.0/16"), RuleKind.MARK, RuleKind.NONE, 2, 0, 2, 2, 0x20),
                lookup(t, Cidr.parse("10.1.9.9").address()));
        assertEquals(new PrefixRule(Cidr.parse("10.1.2.0/24"), RuleKind.DENY, RuleKind.DENY, 3, 0, 3, 2, 0x20),
                lookup(t, Cidr.parse("10.1.2.3").address()), "a denied source inside a mark: denied, counted at the mark");
        assertEquals(new PrefixRule(Cidr.parse("10.1.2.128/25"), RuleKind.COUNT, RuleKind.DENY, 3, 0, 4, 4, 0x20),
                lookup(t, Cidr.parse("10.1.2.200").address()), "counted at the nearer count, marked by the nearest mark");
        assertEquals(null, lookup(t, Cidr.parse("11.0.0.1").address()));
    }

    @Test
    void ipv4AndIpv6NeverMix() {
        byte[] mapped = new byte[16];
        mapped[10] = (byte) 0xff;
        mapped[11] = (byte) 0xff;
        mapped[12] = 10;
        byte[] compatible = new byte[16];
        compatible[12] = 10;
        List<PrefixRule> t = PrefixChains.resolve(List.of(allow("a00::/8", 1), allow("::/0", 2),
                PrefixRule.named(new Cidr(mapped, 104), RuleKind.ALLOW, 3, 0),
                PrefixRule.named(new Cidr(compatible, 104), RuleKind.ALLOW, 4, 0),
                deny("10.0.0.0/8", 5), deny("10.1.0.0/16", 6), deny("0.0.0.0/0", 7)));
        assertEquals(new PrefixRule(Cidr.parse("10.0.0.0/8"), RuleKind.DENY, RuleKind.DENY, 5, 0),
                entry(t, "10.0.0.0/8"));
        assertEquals(new PrefixRule(Cidr.parse("10.1.0.0/16"), RuleKind.DENY, RuleKind.DENY, 6, 0),
                entry(t, "10.1.0.0/16"));
        assertEquals("DENY 6", verdict(t, "10.1.2.3"));
        assertEquals("DENY 7", verdict(t, "192.0.2.1"));
        byte[] mappedHost = mapped.clone();
        mappedHost[13] = 1;
        assertEquals("ALLOW 3", verdict(t, mappedHost));
        assertEquals("ALLOW 1", verdict(t, "a01:203::"));
        assertEquals("ALLOW 2", verdict(t, "2001:db8::1"));

        t = PrefixChains.resolve(List.of(allow("0.0.0.0/0", 1), allow("32.1.13.184/32", 2),
                deny("2001:db8::/32", 3), deny("::/0", 4)));
        // 32.1.13.184 is 0x20010db8: the first 32 bits of 2001:db8::/32.
        assertEquals(new PrefixRule(Cidr.parse("2001:db8::/32"), RuleKind.DENY, RuleKind.DENY, 3, 0),
                entry(t, "2001:db8::/32"));
        assertEquals(new PrefixRule(Cidr.parse("::/0"), RuleKind.DENY, RuleKind.DENY, 4, 0), entry(t, "::/0"));
        assertEquals("DENY 3", verdict(t, "2001:db8::1"));
        assertEquals("DENY 4", verdict(t, "::1"));
        assertEquals("ALLOW 1", verdict(t, "198.51.100.1"));
    }

    /** An allow /0 allows every deny of its family; each entry keeps its own expiry. */
    @Test
    void allowAllAndExpiries() {
        List<PrefixRule> t = PrefixChains.resolve(List.of(
                PrefixRule.named(Cidr.parse("0.0.0.0/0"), RuleKind.ALLOW, 1, 0),
                PrefixRule.named(Cidr.parse("203.0.113.7"), RuleKind.DENY, 2, 5_000),
                PrefixRule.named(Cidr.parse("203.0.113.0/24"), RuleKind.DENY, 3, 7_000)));
        assertEquals(new PrefixRule(Cidr.parse("203.0.113.7/32"), RuleKind.DENY, RuleKind.ALLOW, 1, 5_000, 2),
                entry(t, "203.0.113.7/32"));
        assertEquals(new PrefixRule(Cidr.parse("203.0.113.0/24"), RuleKind.DENY, RuleKind.ALLOW, 1, 7_000, 3),
                entry(t, "203.0.113.0/24"));
        assertEquals("ALLOW 1", verdict(t, "203.0.113.7"));
        assertEquals("ALLOW 1", verdict(t, "203.0.113.8"));
        assertEquals("ALLOW 1", verdict(t, "8.8.8.8"));
    }

    // ---- randomized, against Python's ipaddress ----

    static LongStream seeds() {
        return LongStream.rangeClosed(1, 24).map(i -> 0x5EED_0000L + 7919 * i);
    }

    /** A rule set and the addresses to judge. */
    private record Case(List<PrefixRule> named, List<byte[]> addresses) {
        /** The distinct prefixes named, in order. */
        List<Cidr> prefixes() {
            return named.stream().map(PrefixRule::prefix).distinct().toList();
        }
    }

    /** Python's answers for a seed's case: per distinct prefix, then per address, in the case's order. */
    private record Answers(Case c, Map<Cidr, String> prefixes, List<String> addresses) {}

    private static final Map<Long, Answers> ORACLE_ANSWERS = new HashMap<>();

    /** One Python run for every seed (starting python3 costs more than judging a rule set). */
    @BeforeAll
    static void askPython() throws IOException {
        StringBuilder in = new StringBuilder();
        List<Long> order = seeds().boxed().toList();
        List<Case> cases = new ArrayList<>();
        for (long seed : order) {
            Case c = generate(new Random(seed));
            cases.add(c);
            in.append("S ").append(seed).append('\n');
            for (PrefixRule r : c.named()) {
                in.append("R ").append(r.listed() == RuleKind.ALLOW ? "A" : "D").append(' ').append(r.id())
                        .append(' ').append(text(r.prefix())).append('\n');
            }
            for (Cidr p : c.prefixes()) {
                in.append("P ").append(text(p)).append('\n');
            }
            for (byte[] a : c.addresses()) {
                in.append("Q ").append(text(a)).append('\n');
            }
        }
        List<String> answers = python(in.toString());
        int at = 0;
        for (int i = 0; i < order.size(); i++) {
            Case c = cases.get(i);
            Map<Cidr, String> prefixes = new HashMap<>();
            for (Cidr p : c.prefixes()) {
                prefixes.put(p, answers.get(at++));
            }
            List<String> addresses = new ArrayList<>();
            for (int j = 0; j < c.addresses().size(); j++) {
                addresses.add(answers.get(at++));
            }
            ORACLE_ANSWERS.put(order.get(i), new Answers(c, prefixes, addresses));
        }
        assertEquals(answers.size(), at, "Python's answers");
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void agreesWithPythonsIpaddress(long seed) {
        Answers python = ORACLE_ANSWERS.get(seed);
        Case c = python.c();
        List<PrefixRule> resolved = PrefixChains.resolve(c.named());

        // What the table holds: one entry per distinct prefix, allow-listed when named in the allow
        // list, with the id and expiry of the rule that names it (the allow's, when in both lists).
        Map<Cidr, PrefixRule> kept = new LinkedHashMap<>();
        for (PrefixRule r : c.named()) {
            kept.merge(r.prefix(), r, (a, b) -> a.listed() == RuleKind.ALLOW ? a : b);
        }
        assertEquals(kept.size(), resolved.size(), "seed " + seed + ": one entry per distinct prefix");
        List<String> problems = new ArrayList<>();
        Set<Cidr> seenPrefixes = new HashSet<>();
        for (PrefixRule r : resolved) {
            assertTrue(seenPrefixes.add(r.prefix()), "seed " + seed + ": two entries for " + r.prefix());
            PrefixRule named = kept.get(r.prefix());
            assertEquals(named.listed(), r.listed(), "seed " + seed + ": listed of " + r);
            assertEquals(named.expiresNs(), r.expiresNs(), "seed " + seed + ": expiry of " + r);
            if (r.listed() == RuleKind.ALLOW) {
                assertEquals(named.id(), r.id(), "seed " + seed + ": an allow-listed entry counts on itself: " + r);
            }
            // What an address whose longest match is this prefix gets, and on which rule.
            String got = r.decides() + " " + r.id();
            String want = python.prefixes().get(r.prefix());
            if (!got.equals(want)) {
                problems.add("prefix " + r.prefix() + ": resolved " + got + " (" + r + "), Python " + want);
            }
        }

        // The kernel's lookup, address by address.
        int[] seen = new int[3]; // addresses judged ALLOW, DENY, NONE: the cases must all occur
        for (int i = 0; i < c.addresses().size(); i++) {
            byte[] a = c.addresses().get(i);
            String got = verdict(resolved, a);
            String want = python.addresses().get(i);
            seen[want.startsWith("ALLOW") ? 0 : want.startsWith("DENY") ? 1 : 2]++;
            if (!got.equals(want)) {
                problems.add("address " + text(a) + ": kernel lookup " + got + " (entry " + lookup(resolved, a)
                        + "), Python " + want + "; listed prefixes containing it: " + containing(c.named(), a));
            }
        }
        assertTrue(problems.isEmpty(), "seed " + seed + ", " + c.named().size() + " rules, " + problems.size()
                + " disagreements with Python's ipaddress:\n  "
                + problems.stream().limit(20).collect(Collectors.joining("\n  ")));
        assertTrue(seen[0] > 0 && seen[1] > 0 && seen[2] > 0, "seed " + seed + ": addresses allowed, denied, no"
                + " rule's: " + Arrays.toString(seen) + "; the generator should reach all three");
    }

    /**
     * A rule set of 20 to 200 rules, IPv4 and IPv6, its prefixes cut from a few base addresses
     * (prefixes of one base nest; a base with bits flipped branches off), some in both lists; and
     * 400 addresses: inside the prefixes, at their edges, near the bases, and anywhere.
     */
    private static Case generate(Random rnd) {
        List<byte[]> bases = new ArrayList<>();
        int v4Bases = 2 + rnd.nextInt(3);
        for (int i = 0; i < v4Bases; i++) {
            bases.add(randomBytes(rnd, 4));
        }
        for (int i = 0; i < 2 + rnd.nextInt(2); i++) {
            bases.add(randomBytes(rnd, 16));
        }
        // IPv6 bases that look like IPv4 ones: the same leading bytes, IPv4-mapped, IPv4-compatible.
        byte[] v4 = bases.get(rnd.nextInt(v4Bases));
        byte[] lookalike = randomBytes(rnd, 16);
        System.arraycopy(v4, 0, lookalike, 0, 4);
        bases.add(lookalike);
        byte[] mapped = new byte[16];
        mapped[10] = (byte) 0xff;
        mapped[11] = (byte) 0xff;
        System.arraycopy(v4, 0, mapped, 12, 4);
        bases.add(mapped);
        byte[] compatible = new byte[16];
        System.arraycopy(v4, 0, compatible, 12, 4);
        bases.add(compatible);

        int count = 20 + rnd.nextInt(181);
        List<PrefixRule> named = new ArrayList<>();
        Set<String> listed = new HashSet<>(); // "A 10.0.0.0/8": a prefix once per list
        int id = 1;
        while (named.size() < count) {
            byte[] base = bases.get(rnd.nextInt(bases.size()));
            int bits = base.length * 8;
            byte[] a = base.clone();
            if (rnd.nextInt(3) == 0) { // branch off the base's chain somewhere
                flip(a, rnd.nextInt(bits));
            }
            int length = prefixLength(rnd, bits);
            Cidr prefix = new Cidr(new Cidr(a, length).network(), length);
            RuleKind kind = rnd.nextInt(5) < 2 ? RuleKind.ALLOW : RuleKind.DENY;
            long expires = rnd.nextInt(4) == 0 ? 1 + rnd.nextInt(1_000_000) : 0;
            if (listed.add(kind + " " + prefix)) {
                named.add(PrefixRule.named(prefix, kind, id++, expires));
            }
            if (rnd.nextInt(10) == 0) { // the same prefix in the other list too
                RuleKind other = kind == RuleKind.ALLOW ? RuleKind.DENY : RuleKind.ALLOW;
                if (listed.add(other + " " + prefix)) {
                    named.add(PrefixRule.named(prefix, other, id++, rnd.nextInt(2) == 0 ? 0 : 1 + rnd.nextInt(1000)));
                }
            }
        }
        Collections.shuffle(named, rnd);

        List<byte[]> addresses = new ArrayList<>();
        for (int i = 0; i < 400; i++) {
            int how = rnd.nextInt(10);
            byte[] a;
            if (how < 4) { // inside a prefix's network, down to a random depth
                Cidr p = named.get(rnd.nextInt(named.size())).prefix();
                a = p.network();
                randomizeFrom(rnd, a, p.prefixLength() + rnd.nextInt(a.length * 8 - p.prefixLength() + 1));
            } else if (how < 6) { // a prefix's first or last address, or just past its last
                Cidr p = named.get(rnd.nextInt(named.size())).prefix();
                a = p.network();
                int edge = rnd.nextInt(3);
                if (edge > 0) {
                    for (int b = p.prefixLength(); b < a.length * 8; b++) {
                        flip(a, b);
                    }
                }
                if (edge == 2) {
                    increment(a);
                }
            } else if (how < 9) { // near a base: its chain down to some length, then anything
                byte[] base = bases.get(rnd.nextInt(bases.size()));
                a = base.clone();
                randomizeFrom(rnd, a, rnd.nextInt(a.length * 8 + 1));
            } else {
                a = randomBytes(rnd, rnd.nextBoolean() ? 4 : 16);
            }
            addresses.add(a);
        }
        return new Case(named, addresses);
    }

    /** Mostly lengths where rules live (/8 to /32, /16 to /128), sometimes short ones down to /0. */
    private static int prefixLength(Random rnd, int bits) {
        if (rnd.nextInt(12) == 0) {
            return rnd.nextInt(bits / 4 + 1);
        }
        return bits / 4 + rnd.nextInt(bits - bits / 4 + 1);
    }

    private static byte[] randomBytes(Random rnd, int n) {
        byte[] b = new byte[n];
        rnd.nextBytes(b);
        return b;
    }

    private static void flip(byte[] a, int bit) {
        a[bit / 8] ^= (byte) (0x80 >>> (bit % 8));
    }

    private static void randomizeFrom(Random rnd, byte[] a, int fromBit) {
        for (int b = fromBit; b < a.length * 8; b++) {
            if (rnd.nextBoolean()) {
                flip(a, b);
            }
        }
    }

    /** The next address (wrapping around at the end of the space). */
    private static void increment(byte[] a) {
        for (int i = a.length - 1; i >= 0; i--) {
            if (++a[i] != 0) {
                return;
            }
        }
    }

    static String text(Cidr p) {
        return text(p.network()) + "/" + p.prefixLength();
    }

    /** An address as Python reads it: dotted quad, or eight hex groups (never ::ffff:a.b.c.d, which stays IPv6). */
    static String text(byte[] a) {
        if (a.length == 4) {
            return (a[0] & 0xFF) + "." + (a[1] & 0xFF) + "." + (a[2] & 0xFF) + "." + (a[3] & 0xFF);
        }
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < 16; i += 2) {
            s.append(i == 0 ? "" : ":").append(Integer.toHexString(((a[i] & 0xFF) << 8) | (a[i + 1] & 0xFF)));
        }
        return s.toString();
    }

    private static String containing(List<PrefixRule> named, byte[] a) {
        return named.stream().filter(r -> r.prefix().address().length == a.length
                        && Arrays.equals(new Cidr(a, r.prefix().prefixLength()).network(), r.prefix().network()))
                .map(r -> r.listed() + " " + r.prefix() + " #" + r.id()).toList().toString();
    }

    /**
     * The oracle. An S line starts a rule set (a seed's); R lines are the rules as named (list,
     * id, prefix). For each P line (a prefix) it prints what an address whose longest match is that
     * prefix gets: ALLOW and the id of the longest allow-listed prefix containing it (itself
     * included), else DENY and the id of the deny-listed prefix itself. For each Q line (an
     * address): ALLOW and the id of the longest allow-listed prefix containing it, else DENY and
     * the id of the longest deny-listed one, else NONE.
     */
    private static final String ORACLE = """
            import ipaddress, sys
            rules = []
            for line in open(sys.argv[1]):
                f = line.split()
                if f[0] == 'S':
                    rules = []
                elif f[0] == 'R':
                    rules.append((f[1], int(f[2]), ipaddress.ip_network(f[3], strict=True)))
                elif f[0] == 'P':
                    p = ipaddress.ip_network(f[1], strict=True)
                    allows = [(n.prefixlen, i) for k, i, n in rules
                              if k == 'A' and n.version == p.version and p.subnet_of(n)]
                    if allows:
                        print('ALLOW', max(allows)[1])
                    else:
                        denies = [i for k, i, n in rules if k == 'D' and n == p]
                        print('DENY', denies[0] if len(denies) == 1 else 'ambiguous:%s' % denies)
                else:
                    a = ipaddress.ip_address(f[1])
                    allows = [(n.prefixlen, i) for k, i, n in rules if k == 'A' and a in n]
                    denies = [(n.prefixlen, i) for k, i, n in rules if k == 'D' and a in n]
                    if allows:
                        print('ALLOW', max(allows)[1])
                    elif denies:
                        print('DENY', max(denies)[1])
                    else:
                        print('NONE')
            """;

    private static List<String> python(String input) throws IOException {
        Path file = Files.createTempFile("prefix-chains", ".txt");
        try {
            Files.writeString(file, input);
            Cmd.Result r = Cmd.run(List.of("python3", "-c", ORACLE, file.toString()), 60);
            assertEquals(0, r.exit(), "python3: " + r.err());
            return r.out().lines().toList();
        } finally {
            Files.delete(file);
        }
    }
}
