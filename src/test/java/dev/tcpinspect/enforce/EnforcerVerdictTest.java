package dev.tcpinspect.enforce;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.ebpf.Pins;
import dev.tcpinspect.policy.Cidr;
import dev.tcpinspect.policy.PolicyFile;
import dev.tcpinspect.testing.Frame;
import dev.tcpinspect.testing.RequiresBpf;
import java.io.StringReader;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The enforcer's judgement, packet by packet, with BPF_PROG_TEST_RUN on the real XDP program and its
 * tables (a detached enforcer: nothing attached): each step of README "How a packet is judged",
 * in order, and what each step's counter says. The expected verdicts are the README's, not the code's.
 */
@RequiresBpf
class EnforcerVerdictTest {
    private static final int DROP = 1;
    private static final int PASS = 2;
    private static final AtomicInteger COUNTER = new AtomicInteger();

    private Enforcer enforcer;

    private Enforcer enforcer(String policy, boolean audit) {
        return enforcer(policy, audit, true);
    }

    /** Without directTables, the tries (and the rule cache) judge every source. */
    private Enforcer enforcer(String policy, boolean audit, boolean directTables) {
        enforcer = Enforcer.loadDetached(Pins.BPFFS.resolve("tcpinspect-test-" + ProcessHandle.current().pid() + "-"
                + COUNTER.incrementAndGet()), audit, true, directTables);
        enforcer.tables().apply(PolicyFile.parse("test.yaml", new StringReader(policy)));
        return enforcer;
    }

    @AfterEach
    void close() {
        if (enforcer != null) {
            enforcer.close();
        }
    }

    private int judge(Frame frame) {
        return enforcer.program().testRun(frame.build(), 1).verdict();
    }

    private long stat(EnforceStat s) {
        return enforcer.tables().stats()[s.ordinal()];
    }

    private static Frame syn4(String from, int port) {
        return Frame.ipv4().source(from).flags(Frame.SYN).dport(port);
    }

    private static Frame syn6(String from, int port) {
        return Frame.ipv6().source(from).flags(Frame.SYN).dport(port);
    }

    @Test
    void aDeniedSourceIsDroppedUnlessAnAllowCoversItIpv4AndIpv6() {
        enforcer("deny: [10.0.0.0/8, \"2001:db8::/32\"]\nallow: [10.1.0.0/16, \"2001:db8:1::/48\"]\n", false);
        assertEquals(DROP, judge(syn4("10.2.0.1", 80)));
        assertEquals(DROP, judge(Frame.ipv4().source("10.2.0.1").flags(Frame.ACK).dport(80)), "every packet, not only SYNs");
        assertEquals(PASS, judge(syn4("10.1.0.1", 80)), "allow wins over the wider deny");
        assertEquals(PASS, judge(syn4("198.18.0.2", 80)), "no rule");
        assertEquals(DROP, judge(syn6("2001:db8:2::1", 80)));
        assertEquals(PASS, judge(syn6("2001:db8:1::1", 80)));
        assertEquals(3, stat(EnforceStat.DENIED));
        assertEquals(3, stat(EnforceStat.DROPPED));
        assertEquals(2, stat(EnforceStat.ALLOWED));
        assertEquals(6, stat(EnforceStat.PACKETS));
    }

    /**
     * The kernel keeps the rule each recent source matched (a per-CPU cache, used where the tries
     * judge) and the direct tables of both generations: every new policy must judge a source afresh,
     * also when the policy before the last used the same generation's tables. Once with the direct
     * tables, once with the tries and their cache.
     */
    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void aNewPolicyJudgesAgainTheSourcesTheOldOneJudged(boolean directTables) {
        enforcer("deny: [10.9.0.0/16]\n", false, directTables);
        for (int i = 0; i < 50; i++) { // many runs: whichever CPU runs them has the sources cached
            assertEquals(PASS, judge(syn4("198.18.0.9", 80)));
            assertEquals(DROP, judge(syn4("10.9.1.1", 80)));
        }
        enforcer.tables().apply(PolicyFile.parse("b.yaml", new StringReader("deny: [198.18.0.0/16]\n")));
        for (int i = 0; i < 50; i++) {
            assertEquals(DROP, judge(syn4("198.18.0.9", 80)), "denied by the new policy");
            assertEquals(PASS, judge(syn4("10.9.1.1", 80)), "no longer denied");
        }
        enforcer.tables().apply(PolicyFile.parse("c.yaml", new StringReader("allow: [10.9.1.0/24]\ndeny: [10.0.0.0/8]\n")));
        for (int i = 0; i < 50; i++) { // the first policy's generation again, with other rules
            assertEquals(PASS, judge(syn4("198.18.0.9", 80)));
            assertEquals(PASS, judge(syn4("10.9.1.1", 80)), "allowed inside the denied /8");
            assertEquals(DROP, judge(syn4("10.9.2.1", 80)));
        }
        assertEquals(PASS, judge(syn6("2001:db8::9", 80)));
    }

    /**
     * IPv4 sources are judged by direct tables where the policy fits them, by the trie where it does
     * not: both judge as the policy means (an allow covering the source wins, else a deny covering it
     * drops), for nested prefixes of every length, each prefix's edges and the addresses just past them.
     */
    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void nestedIpv4PrefixesJudgeAsThePolicyMeansByTheDirectTablesOrTheTrie(boolean fits) {
        java.util.Random random = new java.util.Random(fits ? 7 : 8);
        java.util.Set<Cidr> deny = new java.util.LinkedHashSet<>();
        java.util.Set<Cidr> allow = new java.util.LinkedHashSet<>();
        while (deny.size() + allow.size() < 1500) {
            // allows deep and few, so that most of the denied space stays denied
            boolean allowing = random.nextInt(6) == 0;
            int length = allowing ? 20 + random.nextInt(13) : 9 + random.nextInt(24);
            int address = 0x0A000000 | random.nextInt() >>> (8 + random.nextInt(12));
            Cidr prefix = new Cidr(new Cidr(java.nio.ByteBuffer.allocate(4).putInt(address).array(), length).network(), length);
            (allowing ? allow : deny).add(prefix);
        }
        // and a few outside 10/8, of lengths the loop never makes: 8 and shorter, across several top chunks,
        // and a lone /32 and /20 in /16s of their own, outside every other prefix (checks straight from the top)
        java.util.List<String> others = java.util.List.of("64.0.0.0/3", "192.0.0.0/7", "172.16.0.0/12", "100.64.0.0/10",
                "11.0.0.0/8", "130.7.8.9/32", "131.1.16.0/20");
        for (String p : others) {
            deny.add(Cidr.parse(p));
        }
        allow.add(Cidr.parse("65.1.0.0/16"));
        if (!fits) { // 1,100 pairs of hosts, each pair in a /24 and a /16 of its own: two chunks a pair, past the tables' 2,048
            for (int i = 0; i < 1100; i++) {
                deny.add(Cidr.parse((100 + i / 256) + "." + i % 256 + ".0.1/32"));
                deny.add(Cidr.parse((100 + i / 256) + "." + i % 256 + ".0.2/32"));
            }
        }
        enforcer("deny: " + quoted(deny) + "\nallow: " + quoted(allow) + "\n", false);
        assertEquals(fits, enforcer.tables().direct(false), "the policy fits the direct tables");
        java.util.List<Integer> sources = new java.util.ArrayList<>();
        for (Cidr c : deny.size() > 600 ? new java.util.ArrayList<>(deny).subList(0, 600) : deny) {
            addEdges(sources, c);
        }
        for (String p : others) {
            addEdges(sources, Cidr.parse(p));
        }
        for (Cidr c : allow) {
            addEdges(sources, c);
        }
        int[] verdicts = new int[3];
        for (int source : sources) {
            String from = (source >>> 24) + "." + (source >>> 16 & 0xFF) + "." + (source >>> 8 & 0xFF) + "." + (source & 0xFF);
            int expected = covers(allow, source) ? PASS : covers(deny, source) ? DROP : PASS;
            assertEquals(expected, judge(syn4(from, 80)), from);
            verdicts[expected]++;
        }
        assertTrue(verdicts[DROP] > 500 && verdicts[PASS] > 500, "both verdicts judged often: " + verdicts[DROP] + " dropped, "
                + verdicts[PASS] + " passed");
    }

    /**
     * A policy another version writes into the tries alone (and switches to, moving the epoch on)
     * must not be judged by the direct tables an earlier policy left in that generation: they count
     * only under the epoch they were written for.
     */
    @Test
    void directTablesLeftFromAnEarlierPolicyAreNotUsedAfterAnotherSwitch() {
        enforcer("deny: [10.9.0.0/16, \"2001:db8:9::/48\"]\n", false);
        assertTrue(enforcer.tables().direct(false) && enforcer.tables().direct(true));
        EnforcerTables.Config c = enforcer.tables().config();
        // two switches, as two applies of a version without direct tables would make, back to this generation
        enforcer.tables().writeConfig(new EnforcerTables.Config(1 - c.activeGen(), c.liveEntries(), c.netnsInum(), c.audit(), c.pid()));
        enforcer.tables().writeConfig(c);
        assertEquals(c.activeGen(), enforcer.tables().config().activeGen());
        assertTrue(!enforcer.tables().direct(false) && !enforcer.tables().direct(true), "the tables are off for the new epoch");
        assertEquals(DROP, judge(syn4("10.9.1.1", 80)), "judged by the trie, which holds the same policy");
        assertEquals(DROP, judge(syn6("2001:db8:9::1", 80)));
        assertEquals(PASS, judge(syn4("10.8.1.1", 80)));
    }

    /** The same for IPv6, by its own direct tables (a multibit trie with checks) or the trie. */
    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void nestedIpv6PrefixesJudgeAsThePolicyMeansByTheDirectTablesOrTheTrie(boolean fits) throws Exception {
        java.util.Random random = new java.util.Random(fits ? 9 : 10);
        java.math.BigInteger home = new java.math.BigInteger("20010db8", 16).shiftLeft(96);
        java.util.Set<Cidr> deny = new java.util.LinkedHashSet<>();
        java.util.Set<Cidr> allow = new java.util.LinkedHashSet<>();
        while (deny.size() + allow.size() < 1500) {
            boolean allowing = random.nextInt(6) == 0;
            int length = allowing ? 64 + random.nextInt(65) : 33 + random.nextInt(96);
            java.math.BigInteger address = home.xor(new java.math.BigInteger(96, random).shiftRight(random.nextInt(40)));
            Cidr prefix = new Cidr(new Cidr(bytes16(address), length).network(), length);
            (allowing ? allow : deny).add(prefix);
        }
        // and some the loop never makes: /16 and shorter (the top table), 17-32 beside 2001:db8 in its
        // /16, and a lone /48 in a /16 of its own (a check straight from the top)
        java.util.List<String> others = java.util.List.of("3000::/4", "fd00::/8", "2001:dc0::/28", "2a00:1:2::/48",
                "2001:db8::/32");
        for (String p : others) {
            deny.add(Cidr.parse(p));
        }
        allow.add(Cidr.parse("3001:1::/32"));
        if (!fits) { // 200 pairs of hosts, each pair in a /32 of its own: a chain of 13 chunks each, past the tables' 2,048
            for (int i = 0; i < 200; i++) {
                deny.add(Cidr.parse("2001:" + Integer.toHexString(0x1000 + i) + "::1/128"));
                deny.add(Cidr.parse("2001:" + Integer.toHexString(0x1000 + i) + "::2/128"));
            }
        }
        enforcer("deny: " + quoted(deny) + "\nallow: " + quoted(allow) + "\n", false);
        assertEquals(fits, enforcer.tables().direct(true), "the policy fits the direct tables");
        java.util.List<java.math.BigInteger> sources = new java.util.ArrayList<>();
        for (Cidr c : new java.util.ArrayList<>(deny).subList(0, 600)) {
            addEdges6(sources, c);
        }
        for (String p : others) {
            addEdges6(sources, Cidr.parse(p));
        }
        for (Cidr c : allow) {
            addEdges6(sources, c);
        }
        int[] verdicts = new int[3];
        for (java.math.BigInteger source : sources) {
            byte[] a = bytes16(source);
            String from = java.net.InetAddress.getByAddress(a).getHostAddress();
            int expected = covers6(allow, source) ? PASS : covers6(deny, source) ? DROP : PASS;
            assertEquals(expected, judge(syn6(from, 80)), from);
            verdicts[expected]++;
        }
        assertTrue(verdicts[DROP] > 500 && verdicts[PASS] > 500, "both verdicts judged often: " + verdicts[DROP] + " dropped, "
                + verdicts[PASS] + " passed");
    }

    private static final java.math.BigInteger ALL6 = java.math.BigInteger.ONE.shiftLeft(128).subtract(java.math.BigInteger.ONE);

    private static byte[] bytes16(java.math.BigInteger address) {
        byte[] raw = address.and(ALL6).toByteArray();
        byte[] out = new byte[16];
        int copy = Math.min(16, raw.length);
        System.arraycopy(raw, raw.length - copy, out, 16 - copy, copy);
        return out;
    }

    private static java.math.BigInteger mask6(Cidr c) {
        return ALL6.xor(java.math.BigInteger.ONE.shiftLeft(128 - c.prefixLength()).subtract(java.math.BigInteger.ONE));
    }

    private static void addEdges6(java.util.List<java.math.BigInteger> sources, Cidr c) {
        java.math.BigInteger first = new java.math.BigInteger(1, c.network());
        java.math.BigInteger last = first.or(ALL6.xor(mask6(c)));
        sources.addAll(java.util.List.of(first, last, first.subtract(java.math.BigInteger.ONE).and(ALL6),
                last.add(java.math.BigInteger.ONE).and(ALL6)));
    }

    private static boolean covers6(java.util.Collection<Cidr> prefixes, java.math.BigInteger address) {
        return prefixes.stream().anyMatch(c -> address.and(mask6(c)).equals(new java.math.BigInteger(1, c.network())));
    }

    private static String quoted(java.util.Collection<Cidr> prefixes) {
        return prefixes.stream().map(c -> "\"" + c + "\"").collect(java.util.stream.Collectors.joining(", ", "[", "]"));
    }

    private static int network(Cidr c) {
        return java.nio.ByteBuffer.wrap(c.network()).getInt();
    }

    private static int mask(Cidr c) {
        return c.prefixLength() == 0 ? 0 : -1 << (32 - c.prefixLength());
    }

    private static void addEdges(java.util.List<Integer> sources, Cidr c) {
        int first = network(c);
        int last = first | ~mask(c);
        sources.addAll(java.util.List.of(first, last, first - 1, last + 1));
    }

    private static boolean covers(java.util.Collection<Cidr> prefixes, int address) {
        return prefixes.stream().anyMatch(c -> (address & mask(c)) == network(c));
    }

    @Test
    void neighborDiscoveryFromADeniedSourcePasses() {
        enforcer("deny: [\"fd00:7c1::/32\"]\n", false);
        byte[] frame = new byte[14 + 40 + 24];
        frame[12] = (byte) 0x86;
        frame[13] = (byte) 0xDD;
        frame[14] = 0x60;
        frame[14 + 5] = 24;          // payload length
        frame[14 + 6] = 58;          // ICMPv6
        frame[14 + 7] = (byte) 255;  // hop limit
        byte[] source = Cidr.parse("fd00:7c1::2").address();
        System.arraycopy(source, 0, frame, 14 + 8, 16);
        frame[14 + 24] = (byte) 0xff; // ff02::1:ff00:1
        frame[14 + 25] = 0x02;
        frame[14 + 40] = (byte) 135;  // neighbor solicitation
        assertEquals(PASS, enforcer.program().testRun(frame, 1).verdict());
        frame[14 + 40] = (byte) 128;  // an echo request is judged: denied
        assertEquals(DROP, enforcer.program().testRun(frame, 1).verdict());
    }

    @Test
    void onlyNewConnectionsToPortsNotServedAreDroppedAndFailsafePortsStayOpen() {
        enforcer("services: [443]\nfailsafe: [22]\ndeny: [10.0.0.0/8]\n", false);
        assertEquals(DROP, judge(syn4("198.18.0.2", 80)));
        assertEquals(PASS, judge(syn4("198.18.0.2", 443)));
        assertEquals(PASS, judge(Frame.ipv4().flags(Frame.ACK).dport(40000)), "a reply to this host's own connection");
        assertEquals(PASS, judge(Frame.ipv4().flags(Frame.SYN | Frame.ACK).dport(40000)), "a SYN-ACK is no new connection");
        assertEquals(PASS, judge(syn4("10.0.0.1", 22)), "failsafe, even for a denied source");
        assertEquals(1, stat(EnforceStat.NOT_SERVED));
        assertEquals(1, stat(EnforceStat.FAILSAFE));
    }

    /**
     * Step 2 of "How a packet is judged" comes before the source's rules: a SYN to a port not served
     * is not_served whoever sends it (a denied source's included, which its rule does not count), a
     * SYN from that source to a served port is denied and counted under its rule, and a failsafe port
     * that is not served still passes it (counted as failsafe only).
     */
    @Test
    void aSynToAPortNotServedIsJudgedBeforeItsSourceIpv4AndIpv6() {
        enforcer("services: [443]\nfailsafe: [22]\ndeny: [{prefix: 10.0.0.0/8, name: ten}, \"2001:db8::/32\"]\n", false);
        int ten = enforcer.tables().names().entrySet().stream().filter(e -> e.getValue().equals("ten")).findFirst()
                .orElseThrow().getKey();
        assertEquals(DROP, judge(syn4("10.0.0.1", 80)));
        assertEquals(DROP, judge(syn6("2001:db8::1", 80)));
        assertEquals(2, stat(EnforceStat.NOT_SERVED), "a denied source's SYNs to a port not served");
        assertEquals(0, stat(EnforceStat.DENIED));
        assertEquals(0, enforcer.tables().hits(ten), "not among its rule's hits");
        assertEquals(DROP, judge(syn4("10.0.0.1", 443)));
        assertEquals(DROP, judge(syn6("2001:db8::1", 443)));
        assertEquals(DROP, judge(Frame.ipv4().source("10.0.0.1").flags(Frame.ACK).dport(80)),
                "its other segments to any port: denied");
        assertEquals(3, stat(EnforceStat.DENIED));
        assertEquals(2, enforcer.tables().hits(ten));
        assertEquals(PASS, judge(syn4("10.0.0.1", 22)), "failsafe, not served, denied source");
        assertEquals(1, stat(EnforceStat.FAILSAFE));
        assertEquals(2, stat(EnforceStat.NOT_SERVED), "a failsafe port's packets count as failsafe only");
        assertEquals(3, stat(EnforceStat.DENIED));
        assertEquals(5, stat(EnforceStat.DROPPED));
        assertEquals(6, stat(EnforceStat.PACKETS));
    }

    /**
     * A SYN cut into IPv4 fragments so that the first holds only 8 bytes of TCP (ports and sequence
     * number, RFC 1858's tiny fragment: the flags come in the second), which the stack reassembles
     * into a SYN to a port not served. Bytes set by hand from RFC 791: total length, MF, offset.
     */
    private static byte[] fragment(Frame syn, boolean first) {
        byte[] whole = syn.build();
        int ip = 14;
        int tcpBytes = 8;
        byte[] frame = java.util.Arrays.copyOf(whole, ip + 20 + tcpBytes);
        frame[ip + 2] = 0;
        frame[ip + 3] = (byte) (20 + tcpBytes); // total length: this fragment's
        if (first) {
            frame[ip + 6] = 0x20;                // MF, offset 0
            frame[ip + 7] = 0;
        } else {
            System.arraycopy(whole, ip + 20 + 8, frame, ip + 20, tcpBytes); // TCP bytes 8-15: flags among them
            frame[ip + 6] = 0;                   // the last fragment, at offset 1 (8 bytes)
            frame[ip + 7] = 1;
        }
        return frame;
    }

    @Test
    void headersThatCannotBeReadAreDroppedWhereNewConnectionsAreJudged() {
        enforcer("services: [443]\nallow: [198.51.100.0/24]\n", false);
        assertEquals(DROP, enforcer.program().testRun(fragment(syn4("198.18.0.2", 80), true), 1).verdict(),
                "a tiny first fragment cannot be judged as a connection");
        assertEquals(PASS, enforcer.program().testRun(fragment(syn4("198.18.0.2", 80), false), 1).verdict(),
                "a later fragment is never reassembled without its first");
        Frame nine = syn6("2001:db8::7", 80);
        for (int i = 0; i < 9; i++) {
            nine.ext(60); // destination options: one more than the parser walks
        }
        assertEquals(DROP, judge(nine), "more IPv6 extension headers than the parser walks");
        Frame eight = syn6("2001:db8::7", 443);
        for (int i = 0; i < 8; i++) {
            eight.ext(60);
        }
        assertEquals(PASS, judge(eight), "8 extension headers are read, and 443 is served");
        byte[] wholeHeader = syn4("198.18.0.2", 443).build(); // a first fragment that holds all of its TCP header
        wholeHeader[14 + 6] = 0x20; // MF
        assertEquals(PASS, enforcer.program().testRun(wholeHeader, 1).verdict(), "judged as any SYN: served");
        byte[] bigTcp = Frame.ipv4().flags(Frame.ACK).dport(443).payload(100).build();
        bigTcp[14 + 2] = 0; // total length 0: GRO's packet past 64 KiB (BIG TCP) in generic mode
        bigTcp[14 + 3] = 0;
        assertEquals(PASS, enforcer.program().testRun(bigTcp, 1).verdict(), "BIG TCP's length 0 is not dropped");
        assertEquals(PASS, enforcer.program().testRun(fragment(syn4("198.51.100.9", 80), true), 1).verdict(),
                "an allowed source is not judged");
        assertEquals(PASS, judge(syn4("198.18.0.2", 443)));
        assertEquals(2, stat(EnforceStat.UNJUDGEABLE));
        assertEquals(2, stat(EnforceStat.DROPPED));

        enforcer.close();
        enforcer("deny: [10.0.0.0/8]\n", false); // judges no new connection: nothing to slip past
        assertEquals(PASS, enforcer.program().testRun(fragment(syn4("198.18.0.2", 80), true), 1).verdict());
        assertEquals(DROP, enforcer.program().testRun(fragment(syn4("10.0.0.1", 80), true), 1).verdict(),
                "a denied source, whatever its packets are");
        assertEquals(0, stat(EnforceStat.UNJUDGEABLE));
    }

    @Test
    void defaultDenyDropsNewConnectionsNoRuleAllows() {
        enforcer("default: deny\nallow: [198.18.0.0/24]\n", false);
        assertEquals(PASS, judge(syn4("198.18.0.2", 80)));
        assertEquals(DROP, judge(syn4("192.0.2.1", 80)));
        assertEquals(PASS, judge(Frame.ipv4().source("192.0.2.1").flags(Frame.ACK).dport(80)), "only new connections");
        assertEquals(PASS, judge(syn4("192.0.2.1", 22)), "22 is failsafe by default");
        assertEquals(1, stat(EnforceStat.DEFAULT_DENY));
    }

    @Test
    void auditJudgesAndCountsButPassesEverything() {
        enforcer("deny: [10.0.0.0/8]\n", true);
        assertEquals(PASS, judge(syn4("10.0.0.1", 80)));
        assertEquals(1, stat(EnforceStat.DENIED));
        assertEquals(0, stat(EnforceStat.DROPPED));
        assertEquals(1, stat(EnforceStat.PASSED));
    }

    @Test
    void liveEntriesJudgeBesideThePolicyUntilTheyExpire() throws Exception {
        enforcer("allow: [198.18.0.128/25]\n", false);
        enforcer.tables().addLive(Cidr.parse("198.18.0.0/24"), RuleKind.DENY, 0);
        assertEquals(DROP, judge(syn4("198.18.0.2", 80)));
        assertEquals(PASS, judge(syn4("198.18.0.200", 80)), "the policy's allow wins over a live deny");
        enforcer.tables().addLive(Cidr.parse("198.18.0.2"), RuleKind.ALLOW, 0);
        assertEquals(PASS, judge(syn4("198.18.0.2", 80)), "a live allow wins over a live deny");
        enforcer.tables().addLive(Cidr.parse("198.18.0.3"), RuleKind.DENY, System.nanoTime() + 50_000_000L);
        assertEquals(DROP, judge(syn4("198.18.0.3", 80)));
        Thread.sleep(60);
        assertEquals(DROP, judge(syn4("198.18.0.3", 80)), "expired, the shorter live deny decides");
        assertEquals(1, enforcer.tables().sweep(System.nanoTime()));
        assertEquals(true, enforcer.tables().deleteLive(Cidr.parse("198.18.0.0/24")));
        assertEquals(PASS, judge(syn4("198.18.0.3", 80)));
    }

    @Test
    void perSourceRateTakesABucketOfASecondsWorth() {
        enforcer("limits:\n  per_source: {new_per_second: 3}\n", false);
        assertEquals(PASS, judge(syn4("198.18.0.2", 80)));
        assertEquals(PASS, judge(syn4("198.18.0.2", 80)));
        assertEquals(PASS, judge(syn4("198.18.0.2", 80)));
        assertEquals(DROP, judge(syn4("198.18.0.2", 80)));
        assertEquals(PASS, judge(syn4("198.18.0.3", 80)), "another source has its own bucket");
        assertEquals(1, stat(EnforceStat.RATE_LIMITED));
    }

    @Test
    void aSynFloodOverThePortsRateIsDroppedFromSourcesNotKnown() {
        enforcer("syn_flood: {syn_per_second: 2}\n", false);
        assertEquals(PASS, judge(syn4("192.0.2.1", 443)));
        assertEquals(PASS, judge(syn4("192.0.2.2", 443)));
        assertEquals(DROP, judge(syn4("192.0.2.3", 443)));
        assertEquals(PASS, judge(syn4("192.0.2.3", 444)), "each port has its own rate");
        assertEquals(1, stat(EnforceStat.SYN_FLOOD));
    }

    @Test
    void firstPayloadsAreCheckedInTheirPlaceOnly() {
        enforcer("services:\n  - {port: 8080, expect: http, on_misfit: drop}\nallow: [192.0.2.0/24]\n", false);
        byte[] get = "GET / HTTP/1.1\r\n".getBytes();
        byte[] tls = {0x16, 3, 1, 0, 0x2e, 1, 0, 0};
        // A fitting connection: SYN (seq 1), then its first payload at seq 2.
        assertEquals(PASS, judge(syn4("198.18.0.2", 8080).sport(40001)));
        assertEquals(PASS, judge(Frame.ipv4().flags(Frame.ACK | Frame.PSH).sport(40001).dport(8080).seq(2).payload(get)));
        // A misfit: its first payload and everything after it are dropped.
        assertEquals(PASS, judge(syn4("198.18.0.2", 8080).sport(40002)));
        assertEquals(PASS, judge(Frame.ipv4().flags(Frame.ACK | Frame.PSH).sport(40002).dport(8080).seq(900).payload(get)),
                "a segment out of place neither passes the check nor ends the wait");
        assertEquals(DROP, judge(Frame.ipv4().flags(Frame.ACK | Frame.PSH).sport(40002).dport(8080).seq(2).payload(tls)));
        assertEquals(DROP, judge(Frame.ipv4().flags(Frame.ACK).sport(40002).dport(8080).seq(10)));
        // An allowed source is not checked.
        assertEquals(PASS, judge(syn4("192.0.2.1", 8080).sport(40003)));
        assertEquals(PASS, judge(Frame.ipv4().source("192.0.2.1").flags(Frame.ACK | Frame.PSH).sport(40003).dport(8080)
                .seq(2).payload(tls)));
        // Data in the SYN (TCP Fast Open) is the first payload.
        assertEquals(DROP, judge(syn4("198.18.0.2", 8080).sport(40004).payload(tls)));
        assertEquals(2, stat(EnforceStat.MISFIT_CONNECTIONS));
        assertEquals(3, stat(EnforceStat.MISFIT));
    }

    /**
     * on_misfit: reset turns a misfit's first payload segment into a RST|ACK at the same sequence
     * number, its checksum still right (RFC 793's sum over the output, computed here from scratch),
     * and passes it; the connection's next packet passes as it came (the stack answers it with a
     * RST, as the lab test shows). A misfit in a SYN has no socket to reset: dropped. Audit counts
     * the reset and passes the segment unchanged.
     */
    @Test
    void aMisfitOnAResettingPortBecomesAResetWithARightChecksum() {
        enforcer("services:\n  - {port: 443, expect: tls, on_misfit: reset}\n", false);
        byte[] get = "GET / HTTP/1.1\r\n".getBytes();
        for (boolean v6 : new boolean[] {false, true}) {
            java.util.function.Supplier<Frame> frame = v6 ? Frame::ipv6 : Frame::ipv4;
            int sport = v6 ? 40011 : 40010;
            assertEquals(PASS, judge(frame.get().flags(Frame.SYN).sport(sport).dport(443)));
            byte[] in = withTcpChecksum(frame.get().flags(Frame.ACK | Frame.PSH).sport(sport).dport(443).seq(2)
                    .payload(get).build());
            var run = enforcer.program().testRun(in.clone(), 1);
            assertEquals(PASS, run.verdict());
            byte[] out = run.output();
            int tcp = tcpOffset(out);
            assertEquals(Frame.RST | Frame.ACK, out[tcp + 13] & 0xFF, "flags of the rewritten segment");
            assertEquals(in.length, out.length, "the payload is kept");
            assertEquals(java.util.Arrays.toString(java.util.Arrays.copyOf(in, tcp + 12)),
                    java.util.Arrays.toString(java.util.Arrays.copyOf(out, tcp + 12)), "addresses, ports, seq, ack as they came");
            assertEquals(0, tcpChecksumResidue(out), "the TCP checksum verifies");
            var retransmission = enforcer.program().testRun(in.clone(), 1);
            assertEquals(PASS, retransmission.verdict());
            assertEquals(java.util.Arrays.toString(in), java.util.Arrays.toString(retransmission.output()),
                    "the retransmission passes as it came");
        }
        assertEquals(DROP, judge(syn4("198.18.0.2", 443).sport(40012).payload(get)), "a misfit in a SYN is dropped");
        assertEquals(3, stat(EnforceStat.MISFIT_CONNECTIONS));
        assertEquals(2, stat(EnforceStat.MISFIT_RESETS));
        assertEquals(1, stat(EnforceStat.MISFIT));
        close();

        enforcer("services:\n  - {port: 443, expect: tls, on_misfit: reset}\n", true);
        assertEquals(PASS, judge(syn4("198.18.0.2", 443).sport(40013)));
        byte[] in = withTcpChecksum(Frame.ipv4().flags(Frame.ACK | Frame.PSH).sport(40013).dport(443).seq(2).payload(get)
                .build());
        var audited = enforcer.program().testRun(in, 1);
        assertEquals(PASS, audited.verdict());
        assertEquals(java.util.Arrays.toString(in), java.util.Arrays.toString(audited.output()), "audit changes nothing");
        assertEquals(1, stat(EnforceStat.MISFIT_RESETS));
    }

    /**
     * A source a mark rule covers passes with the mark in front of its frame as XDP metadata (the
     * test run returns the frame from its metadata on: magic "tcpm", then the mark, host order),
     * which the TC program turns into the socket buffer's mark (the lab test checks that end); a
     * packet dropped, one from a source no mark covers, and every packet under audit carry none.
     */
    @Test
    void passingPacketsOfAMarkedSourceCarryTheMarkToTc() {
        enforcer("mark: [{prefix: 198.18.0.0/24, mark: 0x2a}]\ndeny: [198.18.0.128/25]\n", false);
        byte[] in = syn4("198.18.0.2", 80).build();
        var marked = enforcer.program().testRun(in, 1);
        assertEquals(PASS, marked.verdict());
        assertEquals(in.length + 8, marked.output().length, "8 bytes of metadata in front");
        var meta = java.nio.ByteBuffer.wrap(marked.output(), 0, 8).order(java.nio.ByteOrder.nativeOrder());
        assertEquals(0x7463706d, meta.getInt());
        assertEquals(0x2a, meta.getInt());
        assertEquals(java.util.Arrays.toString(in),
                java.util.Arrays.toString(java.util.Arrays.copyOfRange(marked.output(), 8, marked.output().length)));
        assertEquals(in.length, enforcer.program().testRun(syn4("198.51.100.1", 80).build(), 1).output().length,
                "no mark rule covers the source: no metadata");
        assertEquals(DROP, judge(syn4("198.18.0.200", 80)), "denied inside the mark: dropped");
        assertEquals(1, stat(EnforceStat.MARKED));
        close();

        enforcer("mark: [{prefix: 198.18.0.0/24, mark: 0x2a}]\n", true);
        assertEquals(in.length, enforcer.program().testRun(in, 1).output().length, "audit marks nothing");
        assertEquals(0, stat(EnforceStat.MARKED));
    }

    /** Offset of the TCP header in an untagged frame without IPv6 extension headers. */
    private static int tcpOffset(byte[] frame) {
        return frame[12] == 0x08 ? 14 + 4 * (frame[14] & 0x0F) : 14 + 40;
    }

    /** The ones' complement sum of the pseudo-header and segment (RFC 793, RFC 8200 8.1): 0 when the checksum is right. */
    private static int tcpChecksumResidue(byte[] frame) {
        int tcp = tcpOffset(frame);
        boolean v4 = frame[12] == 0x08;
        int length = frame.length - tcp;
        long sum = 0;
        int addresses = v4 ? 14 + 12 : 14 + 8;
        for (int i = addresses; i < addresses + (v4 ? 8 : 32); i += 2) {
            sum += ((frame[i] & 0xFF) << 8) | (frame[i + 1] & 0xFF);
        }
        sum += 6 + length;
        for (int i = tcp; i < frame.length; i += 2) {
            sum += ((frame[i] & 0xFF) << 8) | (i + 1 < frame.length ? frame[i + 1] & 0xFF : 0);
        }
        while (sum >> 16 != 0) {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        return (int) (~sum & 0xFFFF);
    }

    /** The frame with its TCP checksum filled in (Frame leaves it 0). */
    private static byte[] withTcpChecksum(byte[] frame) {
        int tcp = tcpOffset(frame);
        frame[tcp + 16] = 0;
        frame[tcp + 17] = 0;
        int c = tcpChecksumResidue(frame);
        frame[tcp + 16] = (byte) (c >> 8);
        frame[tcp + 17] = (byte) c;
        return frame;
    }

    /** Counted prefixes decide nothing and count every packet of their sources; rules keep their names. */
    @Test
    void countedPrefixesCountAndNamedRulesKeepTheirNames() {
        enforcer("deny: [{prefix: 198.18.0.128/25, name: lab-upper}]\ncount: [{prefix: 198.18.0.0/24, name: lab}]\n", false);
        assertEquals(PASS, judge(syn4("198.18.0.2", 80)), "counted only");
        assertEquals(DROP, judge(syn4("198.18.0.200", 80)), "denied, and counted too");
        assertEquals(PASS, judge(syn4("192.0.2.1", 80)));
        var names = enforcer.tables().names();
        int lab = names.entrySet().stream().filter(e -> e.getValue().equals("lab")).findFirst().orElseThrow().getKey();
        int upper = names.entrySet().stream().filter(e -> e.getValue().equals("lab-upper")).findFirst().orElseThrow().getKey();
        assertEquals(2, enforcer.tables().hits(lab));
        assertEquals(1, enforcer.tables().hits(upper));
        assertEquals(1, stat(EnforceStat.DENIED));
    }

    /**
     * The hand-off to XDP probes (bpf/lib/handoff.h): what the enforcer passes reaches the probes'
     * program in its observer slot, what it drops does not, and only on the interfaces the probes
     * watch (BPF_PROG_TEST_RUN runs XDP as arriving on lo). With the slot empty again, nothing reaches them.
     */
    @Test
    void passedPacketsReachTheProbesBehindOnTheirInterfacesOnly() {
        enforcer("services: [443]\n", false);
        var xdp = dev.tcpinspect.probe.ProbeSet.Options.defaults().xdp(true, dev.tcpinspect.ebpf.XdpMode.AUTO);
        try (var behind = dev.tcpinspect.probe.ProbeSet.load(java.util.List.of(new dev.tcpinspect.probe.packets.PacketsProbe()),
                xdp.interfaces(java.util.List.of("lo")).xdpHandoff(EnforcerHandoff.open(enforcer.folder(), java.util.Set.of("lo"))))) {
            for (int i = 0; i < 3; i++) {
                assertEquals(PASS, judge(syn4("10.0.0.1", 443)));
            }
            assertEquals(PASS, judge(syn6("2001:db8::1", 443)));
            assertEquals(DROP, judge(syn4("10.0.0.1", 9999)));
            assertEquals(DROP, judge(syn6("2001:db8::1", 9999)));
            var counts = behind.probe(dev.tcpinspect.probe.packets.PacketsProbe.class).read();
            assertEquals(4, counts.syn(), counts.toString());
            assertEquals(java.util.Map.of(443, 4L), counts.synByPort());
        }
        try (var slot = Pins.openMap(enforcer.folder().resolve("enf_observer")).orElseThrow();
             var arena = java.lang.foreign.Arena.ofConfined()) {
            org.junit.jupiter.api.Assertions.assertFalse(slot.map().lookup(arena.allocate(4), arena.allocate(4)),
                    "closing took the probes' program out of the observer slot");
        }

        String other = dev.tcpinspect.os.NetInterfaces.all().stream().filter(n -> !n.equals("lo")).findFirst().orElse(null);
        org.junit.jupiter.api.Assumptions.assumeTrue(other != null, "no interface but lo here");
        try (var elsewhere = dev.tcpinspect.probe.ProbeSet.load(java.util.List.of(new dev.tcpinspect.probe.packets.PacketsProbe()),
                xdp.interfaces(java.util.List.of(other)).xdpHandoff(EnforcerHandoff.open(enforcer.folder(), java.util.Set.of(other))))) {
            try (var slot = Pins.openMap(enforcer.folder().resolve("enf_observer")).orElseThrow();
                 var arena = java.lang.foreign.Arena.ofConfined()) {
                var id = arena.allocate(4);
                org.junit.jupiter.api.Assertions.assertTrue(slot.map().lookup(arena.allocate(4), id), "installed");
                assertEquals(elsewhere.object().program(dev.tcpinspect.probe.Hook.XDP_BEHIND_PROGRAM).info().id(),
                        id.get(java.lang.foreign.ValueLayout.JAVA_INT, 0), "the probes' program is in the slot");
            }
            assertEquals(PASS, judge(syn4("10.0.0.1", 443)));
            assertEquals(0, elsewhere.probe(dev.tcpinspect.probe.packets.PacketsProbe.class).read().syn(),
                    "a packet arriving on lo is not counted by probes watching " + other + " (nothing is attached there)");
        }
    }
}
