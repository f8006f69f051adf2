package dev.tcpinspect.probe.packets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.ebpf.BpfException;
import dev.tcpinspect.ebpf.Program;
import dev.tcpinspect.ebpf.XdpMode;
import dev.tcpinspect.probe.ProbeSet;
import dev.tcpinspect.testing.Frame;
import dev.tcpinspect.testing.RequiresBpf;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import java.util.Random;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A differential fuzzer for the packet parser (bpf/lib/packet.h). Seeded frames (well-formed shapes,
 * each cut at every byte; mutated headers; garbage) run through the real TC and XDP ingress programs
 * with BPF_PROG_TEST_RUN, and the counters the packets probe moves must be those the Java
 * {@link ReferenceParser} expects; the same parse run on its own (bpf/test/parse_test.bpf.c,
 * {@link KernelParse}) must give the reference's verdict and every field (ports, flags, offsets,
 * lengths, the probes' tuple with its addresses). The reference in turn is held against tshark's dissection of the same
 * frames, so neither side is checked only by code written with it. Disagreements found this way are
 * kept as fixed cases (packet-fuzz-regressions.txt) that run first, whatever the seed.
 *
 * <p>{@code -Dfuzz.seed=N} runs another seed; a failure prints each frame's origin and hex.
 */
@RequiresBpf
class PacketFuzzTest {
    private static final long SEED = Long.getLong("fuzz.seed", 0x7c1_f022L);
    private static final int MUTATED = 3000;
    private static final int GARBAGE = 500;
    private static final String REGRESSIONS = "packet-fuzz-regressions.txt";

    /** Where the ingress program runs. */
    enum Hook { TC, XDP }

    private static ProbeSet tc;
    private static ProbeSet xdp;
    private static KernelParse.Runner parser;

    @BeforeAll
    static void load() {
        tc = ProbeSet.load(List.of(new PacketsProbe()), ProbeSet.Options.defaults());
        xdp = ProbeSet.load(List.of(new PacketsProbe()), ProbeSet.Options.defaults().xdp(true, XdpMode.AUTO));
        parser = new KernelParse.Runner();
    }

    @AfterAll
    static void unload() {
        for (ProbeSet set : new ProbeSet[] {tc, xdp}) {
            if (set != null) {
                set.close();
            }
        }
        if (parser != null) {
            parser.close();
        }
    }

    /** One frame and how it was made, so a failure can be read and repeated. */
    record Case(String origin, byte[] frame, ReferenceParser.Verdict pinned) {
        Case(String origin, byte[] frame) {
            this(origin, frame, null);
        }

        String hex() {
            return HexFormat.of().formatHex(frame);
        }
    }

    /** A well-formed frame's layout, and a change that turns it into another well-formed kind (UDP, a fragment). */
    record Shape(String name, Supplier<Frame> frame, Consumer<Patch> variant) {
        byte[] build(int flags, int sport, int dport, int payload) {
            byte[] bytes = frame.get().flags(flags).sport(sport).dport(dport).payload(payload).build();
            variant.accept(new Patch(bytes, ReferenceParser.parse(bytes)));
            return bytes;
        }
    }

    /** A frame being changed in place, with where its headers are (from the reference's parse of it unchanged). */
    record Patch(byte[] f, ReferenceParser.Parse layout) {
        void u8(int at, int value) {
            if (at >= 0 && at < f.length) {
                f[at] = (byte) value;
            }
        }

        void u16(int at, int value) {
            u8(at, value >> 8);
            u8(at + 1, value);
        }

        int l3() {
            return layout.l3Offset();
        }

        int l4() {
            return layout.l4Offset();
        }

        boolean v4() {
            return layout.ipVersion() == 4;
        }

        /** Where the first IPv6 fragment header starts, or -1. */
        int fragmentHeader() {
            List<Integer> exts = layout.extOffsets();
            for (int k = 0; k < exts.size(); k++) {
                int type = (k == 0 ? f[l3() + 6] : f[exts.get(k - 1)]) & 0xFF;
                if (type == 44 && exts.get(k) + 4 <= f.length) {
                    return exts.get(k);
                }
            }
            return -1;
        }
    }

    private static Frame ipv6Ext(int count) {
        Frame f = Frame.ipv6();
        for (int i = 0; i < count; i++) {
            f.ext(60);
        }
        return f;
    }

    private static final Consumer<Patch> AS_BUILT = p -> {};

    static List<Shape> shapes() {
        return List.of(
                new Shape("ipv4", Frame::ipv4, AS_BUILT),
                new Shape("ipv4+ipopt12+tcpopt20", () -> Frame.ipv4().ipOptions(12).tcpOptions(20), AS_BUILT),
                new Shape("ipv4+ipopt40+tcpopt40", () -> Frame.ipv4().ipOptions(40).tcpOptions(40), AS_BUILT),
                new Shape("ipv4+vlan", () -> Frame.ipv4().vlan(), AS_BUILT),
                new Shape("ipv4+qinq+tcpopt12", () -> Frame.ipv4().qinq().tcpOptions(12), AS_BUILT),
                new Shape("ipv4+tfo", () -> Frame.ipv4().fastOpenCookie(), AS_BUILT),
                new Shape("ipv4 first fragment", Frame::ipv4, p -> p.u16(p.l3() + 6, 0x2000)),
                new Shape("ipv4 later fragment", Frame::ipv4, p -> p.u16(p.l3() + 6, 0x20B9)),
                new Shape("ipv4 udp", Frame::ipv4, p -> p.u8(p.l3() + 9, 17)),
                new Shape("ipv4+ipopt8 icmp", () -> Frame.ipv4().ipOptions(8), p -> p.u8(p.l3() + 9, 1)),
                new Shape("arp", Frame::ipv4, p -> p.u16(12, 0x0806)),
                new Shape("ipv6", Frame::ipv6, AS_BUILT),
                new Shape("ipv6+tcpopt20", () -> Frame.ipv6().tcpOptions(20), AS_BUILT),
                new Shape("ipv6+ext0+ext60", () -> Frame.ipv6().ext(0).ext(60), AS_BUILT),
                new Shape("ipv6+ext0+43+44+51+60+tcpopt8",
                        () -> Frame.ipv6().ext(0).ext(43).ext(44).ext(51).ext(60).tcpOptions(8), AS_BUILT),
                new Shape("ipv6+vlan", () -> Frame.ipv6().vlan(), AS_BUILT),
                new Shape("ipv6+qinq+ext0", () -> Frame.ipv6().qinq().ext(0), AS_BUILT),
                new Shape("ipv6+ext44", () -> Frame.ipv6().ext(44), AS_BUILT),
                new Shape("ipv6+ext51", () -> Frame.ipv6().ext(51), AS_BUILT),
                new Shape("ipv6 7 ext", () -> ipv6Ext(7), AS_BUILT),
                new Shape("ipv6 8 ext", () -> ipv6Ext(8), AS_BUILT),
                new Shape("ipv6 9 ext", () -> ipv6Ext(9), AS_BUILT),
                new Shape("ipv6+ext44 later fragment", () -> Frame.ipv6().ext(44), p -> p.u16(p.l3() + 40 + 2, 0x05A9)),
                new Shape("ipv6 udp", Frame::ipv6, p -> p.u8(p.l3() + 6, 17)),
                new Shape("ipv6+ext0 icmpv6", () -> Frame.ipv6().ext(0), p -> p.u8(p.l3() + 40, 58)),
                new Shape("ipv6+ext60 no next header", () -> Frame.ipv6().ext(60), p -> p.u8(p.l3() + 40, 59)),
                new Shape("ipv4 in three tags", () -> Frame.ipv4().qinq().vlan(), AS_BUILT));
    }

    private static final int[] FLAG_CYCLE = {Frame.SYN, Frame.SYN | Frame.ACK, Frame.ACK, Frame.FIN | Frame.ACK,
            Frame.RST, Frame.PSH | Frame.ACK};
    private static final int[] PROTOCOLS = {0, 1, 4, 6, 17, 41, 43, 44, 50, 51, 58, 59, 60, 135, 139, 140, 255};
    private static final int[] ETHERTYPES = {0x0800, 0x86DD, 0x8100, 0x88A8, 0x0806, 0x9100, 0x88CC};

    /** Every frame of one run, in a fixed order: regressions, every cut of every shape, mutations, garbage. */
    static List<Case> cases(long seed) {
        List<Case> cases = new ArrayList<>(regressions());
        List<Shape> shapes = shapes();
        for (int s = 0; s < shapes.size(); s++) {
            Shape shape = shapes.get(s);
            int flags = FLAG_CYCLE[s % FLAG_CYCLE.length];
            byte[] full = shape.build(flags, 40000 + s, 80 + s, flags == Frame.ACK ? 0 : 10);
            for (int length = 14; length <= full.length; length++) {
                cases.add(new Case(shape.name() + " flags " + flags + " cut at " + length + " of " + full.length,
                        Arrays.copyOf(full, length)));
            }
        }
        Random r = new Random(seed);
        for (int i = 0; i < MUTATED; i++) {
            Shape shape = shapes.get(r.nextInt(shapes.size()));
            int flags = r.nextInt(4) == 0 ? r.nextInt(256) : FLAG_CYCLE[r.nextInt(FLAG_CYCLE.length)];
            byte[] bytes = shape.build(flags, r.nextInt(65536), r.nextInt(65536), r.nextBoolean() ? 0 : r.nextInt(60));
            StringBuilder how = new StringBuilder("mutation " + i + " of " + shape.name() + ":");
            bytes = mutate(new Patch(bytes, ReferenceParser.parse(bytes)), r, 1 + r.nextInt(3), how);
            cases.add(new Case(how.toString(), bytes));
        }
        for (int i = 0; i < GARBAGE; i++) {
            byte[] bytes = new byte[14 + r.nextInt(120)];
            r.nextBytes(bytes);
            int type = ETHERTYPES[r.nextInt(ETHERTYPES.length)];
            bytes[12] = (byte) (type >> 8);
            bytes[13] = (byte) type;
            if (bytes.length > 14 && r.nextBoolean()) {
                bytes[14] = (byte) (type == 0x86DD ? 0x60 : 0x45); // past the version check, into the rest
            }
            cases.add(new Case("garbage " + i + " ethertype " + Integer.toHexString(type), bytes));
        }
        return cases;
    }

    /** Applies {@code count} random changes to a frame's headers, describing each in {@code how}. */
    private static byte[] mutate(Patch p, Random r, int count, StringBuilder how) {
        byte[] f = p.f();
        int headerEnd = p.l4() > 0 ? Math.min(f.length, p.l4() + 60) : f.length;
        for (int n = 0; n < count; n++) {
            int at;
            int value;
            int kind = r.nextInt(12);
            if (p.l3() < 0 && kind >= 2 && kind <= 8) {
                kind = 0; // no IP header to aim at
            }
            switch (kind) {
                case 0 -> {
                    at = 12 + r.nextInt(Math.max(1, headerEnd - 12));
                    value = r.nextInt(256);
                    p.u8(at, value);
                    how.append(" byte@").append(at).append('=').append(value);
                }
                case 1 -> {
                    at = 12 + r.nextInt(Math.max(1, headerEnd - 12));
                    value = 1 << r.nextInt(8);
                    p.u8(at, (f[at] & 0xFF) ^ value);
                    how.append(" bit@").append(at).append('^').append(value);
                }
                case 2 -> {
                    value = r.nextInt(16);
                    p.u8(p.l3(), (f[p.l3()] & 0xF0) | value);
                    how.append(p.v4() ? " ihl=" : " traffic-class-nibble=").append(value);
                }
                case 3 -> {
                    value = r.nextInt(16);
                    p.u8(p.l3(), (value << 4) | (f[p.l3()] & 0x0F));
                    how.append(" version=").append(value);
                }
                case 4 -> {
                    at = p.l3() + (p.v4() ? 2 : 4);
                    int now = ((f[at] & 0xFF) << 8) | (f[at + 1] & 0xFF);
                    value = switch (r.nextInt(5)) {
                        case 0 -> 0;
                        case 1 -> 0xFFFF;
                        case 2 -> r.nextInt(65536);
                        default -> Math.max(0, now + r.nextInt(41) - 20);
                    };
                    p.u16(at, value);
                    how.append(p.v4() ? " total-length=" : " payload-length=").append(value);
                }
                case 5 -> {
                    if (p.l4() > 0) {
                        value = r.nextInt(16);
                        p.u8(p.l4() + 12, (value << 4) | (f[p.l4() + 12] & 0x0F));
                        how.append(" doff=").append(value);
                    }
                }
                case 6 -> {
                    int[] words = {0x2000, 0x0001, 0x2001, 0x1FFF, 0x4000, r.nextInt(65536)};
                    value = words[r.nextInt(words.length)];
                    int fragment = p.fragmentHeader();
                    if (p.v4()) {
                        p.u16(p.l3() + 6, value);
                        how.append(" ipv4-fragment-word=").append(Integer.toHexString(value));
                    } else if (fragment > 0) {
                        int[] v6words = {0x0001, 0x0008, 0x0009, 0xFFF8, r.nextInt(65536)};
                        value = v6words[r.nextInt(v6words.length)];
                        p.u16(fragment + 2, value);
                        how.append(" ipv6-fragment-word=").append(Integer.toHexString(value));
                    }
                }
                case 7 -> {
                    value = PROTOCOLS[r.nextInt(PROTOCOLS.length)];
                    List<Integer> exts = p.layout().extOffsets();
                    if (p.v4()) {
                        at = p.l3() + 9;
                    } else if (!exts.isEmpty() && r.nextBoolean()) {
                        at = exts.get(r.nextInt(exts.size()));
                    } else {
                        at = p.l3() + 6;
                    }
                    p.u8(at, value);
                    how.append(" protocol@").append(at).append('=').append(value);
                }
                case 8 -> {
                    List<Integer> exts = p.layout().extOffsets();
                    if (!exts.isEmpty()) {
                        at = exts.get(r.nextInt(exts.size())) + 1;
                        value = r.nextBoolean() ? r.nextInt(4) : r.nextInt(256);
                        p.u8(at, value);
                        how.append(" ext-length@").append(at).append('=').append(value);
                    }
                }
                case 9 -> {
                    value = ETHERTYPES[r.nextInt(ETHERTYPES.length)];
                    at = p.l3() > 14 && r.nextBoolean() ? p.l3() - 2 : 12;
                    p.u16(at, value);
                    how.append(" ethertype@").append(at).append('=').append(Integer.toHexString(value));
                }
                case 10 -> {
                    value = 14 + r.nextInt(Math.max(1, f.length - 14));
                    how.append(" cut=").append(value);
                    return Arrays.copyOf(f, value); // the last change: offsets past it mean nothing
                }
                default -> {
                    value = 1 + r.nextInt(40);
                    byte[] longer = Arrays.copyOf(f, f.length + value);
                    for (int i = f.length; i < longer.length; i++) {
                        longer[i] = (byte) r.nextInt(256);
                    }
                    how.append(" extended-by=").append(value);
                    return longer;
                }
            }
        }
        return f;
    }

    /**
     * Frames that once disagreed, from packet-fuzz-regressions.txt: "# why" lines, then "VERDICT hex",
     * the verdict the reference must keep giving (so a change to the reference cannot quietly undo a fix).
     */
    static List<Case> regressions() {
        List<Case> cases = new ArrayList<>();
        try (InputStream in = Objects.requireNonNull(PacketFuzzTest.class.getResourceAsStream(REGRESSIONS))) {
            String why = "regression";
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).lines().toList()) {
                if (line.startsWith("#")) {
                    why = "regression: " + line.substring(1).strip();
                } else if (!line.isBlank()) {
                    String[] verdictAndHex = line.strip().split(" ");
                    cases.add(new Case(why, HexFormat.of().parseHex(verdictAndHex[1]),
                            ReferenceParser.Verdict.valueOf(verdictAndHex[0])));
                }
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return cases;
    }

    /** What one hook did with a frame: its counts, or that BPF_PROG_TEST_RUN refused it. */
    record KernelRun(PacketCounts counts, boolean refused, String problem) {}

    /** Runs frames through one hook's ingress program, reading the counters after each (deltas). */
    private static List<KernelRun> runAll(Hook hook, List<Case> cases) {
        ProbeSet set = hook == Hook.TC ? tc : xdp;
        Program program = set.object().program(hook == Hook.TC ? "tcpi_tc_ingress" : "tcpi_xdp_ingress");
        PacketsProbe probe = set.probe(PacketsProbe.class);
        int pass = hook == Hook.TC ? -1 : 2; // TC_ACT_UNSPEC, XDP_PASS
        List<KernelRun> runs = new ArrayList<>(cases.size());
        PacketCounts before = probe.read();
        for (Case c : cases) {
            try {
                var result = program.testRun(c.frame(), 1);
                String problem = result.verdict() != pass ? "verdict " + result.verdict() + " instead of " + pass
                        : !Arrays.equals(c.frame(), result.output()) ? "the packet changed: "
                        + HexFormat.of().formatHex(result.output()) : null;
                PacketCounts now = probe.read();
                runs.add(new KernelRun(now.minus(before), false, problem));
                before = now;
            } catch (BpfException e) {
                if (!"EINVAL".equals(e.errnoName())) {
                    throw e;
                }
                runs.add(new KernelRun(null, true, null));
            }
        }
        return runs;
    }

    /**
     * Frames the kernel will not make an skb of (EINVAL): an untagged IP frame shorter than its fixed
     * IP header (see Frame.tcTestRunMinimum). XDP takes them, and covers the same parser.
     */
    private static boolean tcRefuses(byte[] f) {
        int type = ((f[12] & 0xFF) << 8) | (f[13] & 0xFF);
        return type == 0x0800 && f.length < 14 + 20 || type == 0x86DD && f.length < 14 + 40;
    }

    @Test
    void kernelReferenceAndTsharkAgreeOnEveryFrame() {
        long start = System.nanoTime();
        List<Case> cases = cases(SEED);
        List<ReferenceParser.Parse> expected = cases.stream().map(c -> ReferenceParser.parse(c.frame())).toList();
        List<KernelRun> tcRuns = runAll(Hook.TC, cases);
        List<KernelRun> xdpRuns = runAll(Hook.XDP, cases);
        List<KernelParse> tcParses = cases.stream().map(c -> parser.run(Hook.TC, c.frame())).toList();
        List<KernelParse> xdpParses = cases.stream().map(c -> parser.run(Hook.XDP, c.frame())).toList();
        List<TsharkDissection> tshark = TsharkDissection.of(cases.stream().map(Case::frame).toList());

        List<String> disagreements = new ArrayList<>();
        int kernelDisagreements = 0;
        int tsharkDisagreements = 0;
        int tcRefused = 0;
        int fieldsCompared = 0;
        int[] verdicts = new int[ReferenceParser.Verdict.values().length];
        for (int i = 0; i < cases.size(); i++) {
            Case c = cases.get(i);
            ReferenceParser.Parse ref = expected.get(i);
            verdicts[ref.verdict().ordinal()]++;
            List<String> problems = new ArrayList<>();
            if (c.pinned() != null && c.pinned() != ref.verdict()) {
                problems.add("the reference now says " + ref.verdict() + " where it was fixed at " + c.pinned());
            }
            for (Hook hook : Hook.values()) {
                KernelRun run = (hook == Hook.TC ? tcRuns : xdpRuns).get(i);
                if (run.refused()) {
                    tcRefused++;
                    if (hook != Hook.TC || !tcRefuses(c.frame())) {
                        problems.add(hook + " test run refused the frame");
                    }
                    continue;
                }
                if (run.problem() != null) {
                    problems.add(hook + ": " + run.problem());
                }
                if (!run.counts().equals(ref.expectedCounts())) {
                    problems.add(hook + " counted " + run.counts() + ", the reference (" + ref.verdict() + ") expects "
                            + ref.expectedCounts());
                }
                KernelParse parse = (hook == Hook.TC ? tcParses : xdpParses).get(i);
                if (parse == null) {
                    problems.add(hook + ": the parse program's test run refused a frame the ingress program took");
                } else {
                    problems.addAll(fieldsAgainstReference(hook, parse, ref, c.frame()));
                    fieldsCompared++;
                }
            }
            if (!problems.isEmpty()) {
                kernelDisagreements++;
            }
            List<String> tsharkProblems = againstTshark(ref, tshark.get(i), c.frame());
            if (!tsharkProblems.isEmpty()) {
                tsharkDisagreements++;
                problems.addAll(tsharkProblems);
            }
            if (!problems.isEmpty()) {
                disagreements.add("frame " + (i + 1) + " (" + c.origin() + "): " + String.join("; ", problems)
                        + "\n  reference " + ref + "\n  tshark " + tshark.get(i) + "\n  " + c.hex());
            }
        }
        long millis = (System.nanoTime() - start) / 1_000_000;
        System.out.printf("packet fuzz: seed %d, %d frames (%d regressions), each through TC and XDP (TC refused %d"
                        + " short untagged IP frames) and tshark; the kernel parse's fields compared for %d runs;"
                        + " reference verdicts %s %s; disagreements: %d with the kernel, %d between reference and"
                        + " tshark; %d ms%n", SEED, cases.size(), regressions().size(), tcRefused, fieldsCompared,
                Arrays.toString(ReferenceParser.Verdict.values()), Arrays.toString(verdicts), kernelDisagreements,
                tsharkDisagreements, millis);
        disagreements.stream().limit(Integer.getInteger("fuzz.show", 40)).forEach(System.out::println);
        // Not a vacuous pass: every verdict, and so every comparison, has frames of its own.
        assertTrue(Arrays.stream(verdicts).allMatch(n -> n >= 200), "verdicts " + Arrays.toString(verdicts));
        assertTrue(disagreements.isEmpty(), disagreements.size() + " frames disagree; first:\n"
                + disagreements.stream().limit(5).reduce("", (a, b) -> a + b + "\n"));
    }

    /**
     * Every field of the kernel's parse against the reference: the verdict and IP version of every
     * frame, where the IP header starts for every IP frame, and for TCP segments the ports, flags, where
     * the TCP header starts and its length, the payload length, and the tuple the probes make (family,
     * local and remote address and port, this being ingress), its addresses read from the frame where
     * the reference found the IP header.
     */
    private static List<String> fieldsAgainstReference(Hook hook, KernelParse k, ReferenceParser.Parse ref, byte[] f) {
        List<String> problems = new ArrayList<>();
        ReferenceParser.Verdict[] verdicts = ReferenceParser.Verdict.values();
        String kernel = k.result() >= 0 && k.result() < verdicts.length ? verdicts[k.result()].name() : "" + k.result();
        if (k.result() != ref.verdict().ordinal()) {
            problems.add(hook + " parse says " + kernel + ", the reference " + ref.verdict());
        }
        if (k.ipVersion() != ref.ipVersion()) {
            problems.add(hook + " parse: IP version " + k.ipVersion() + ", the reference " + ref.ipVersion());
        }
        if (ref.ipVersion() != 0 && k.l3Offset() != ref.l3Offset()) {
            problems.add(hook + " parse: IP header at " + k.l3Offset() + ", the reference " + ref.l3Offset());
        }
        if (!ref.tcp() || k.result() != ReferenceParser.Verdict.TCP.ordinal()) {
            return problems;
        }
        int doff = ((f[ref.l4Offset() + 12] & 0xFF) >> 4) * 4;
        long[][] pairs = {{k.sport(), ref.sport()}, {k.dport(), ref.dport()}, {k.flags(), ref.flags()},
                {k.flagsHi(), ref.flagsHi()}, {k.l4Offset(), ref.l4Offset()}, {k.doff(), doff},
                {k.payloadLength(), ref.payloadLength()}};
        String[] names = {"sport", "dport", "flags", "flags_hi", "TCP header at", "TCP header length", "payload"};
        for (int n = 0; n < pairs.length; n++) {
            if (pairs[n][0] != pairs[n][1]) {
                problems.add(hook + " parse: " + names[n] + " " + pairs[n][0] + ", the reference " + pairs[n][1]);
            }
        }
        if (!k.tupleOk()) {
            problems.add(hook + ": no tuple for a TCP segment");
            return problems;
        }
        boolean v4 = ref.ipVersion() == 4;
        int width = v4 ? 4 : 16;
        int source = ref.l3Offset() + (v4 ? 12 : 8);
        int destination = ref.l3Offset() + (v4 ? 16 : 24);
        byte[] local = Arrays.copyOf(Arrays.copyOfRange(f, destination, destination + width), 16);
        byte[] remote = Arrays.copyOf(Arrays.copyOfRange(f, source, source + width), 16);
        if (k.family() != (v4 ? 2 : 10) || k.lport() != ref.dport() || k.rport() != ref.sport()
                || !Arrays.equals(k.laddr(), local) || !Arrays.equals(k.raddr(), remote)) {
            problems.add(hook + " tuple: family " + k.family() + " local " + HexFormat.of().formatHex(k.laddr()) + " port "
                    + k.lport() + " remote " + HexFormat.of().formatHex(k.raddr()) + " port " + k.rport()
                    + "; the frame's destination " + HexFormat.of().formatHex(local) + " port " + ref.dport() + " source "
                    + HexFormat.of().formatHex(remote) + " port " + ref.sport());
        }
        return problems;
    }

    /** The layout the test reads the parse program's output with is the C struct's (the object's BTF). */
    @Test
    void theParseOutputsLayoutIsTheObjects() {
        var c = parser.object().btf().struct("parse_seen").orElseThrow();
        assertEquals(List.of(), dev.tcpinspect.testing.BtfLayouts.differences(c, KernelParse.LAYOUT));
    }

    /**
     * The fields the reference and tshark both have. Frames past packet.h's documented bounds (a third
     * VLAN tag, a ninth extension header, the pre-standard 0x9100 tag) are left out of "is it TCP":
     * tshark has no such bounds.
     */
    private static List<String> againstTshark(ReferenceParser.Parse ref, TsharkDissection t, byte[] f) {
        List<String> problems = new ArrayList<>();
        // tshark takes an IPv4 total length of 0 for a capture of TCP segmentation offload and reads on;
        // RFC 791 and packet.h call it impossible.
        boolean tsoLength = ref.ipVersion() == 4 && ((f[ref.l3Offset() + 2] | f[ref.l3Offset() + 3]) == 0);
        // IPv6 options that overrun their header: packet.h does not read options, and tshark stops only
        // when the overrun also runs past the frame's end. Neither is wrong about the headers' lengths.
        boolean brokenOptions = ref.optionsOverrun();
        // tshark reads a routing header's contents by its type (RFC 8200 4.4 leaves them to the type);
        // packet.h and the reference read only its length, which the reference has found to fit.
        boolean routingContents = ref.tcp() && t.malformed() != null && t.malformed().contains("IPv6 Routing");
        brokenOptions |= routingContents;
        if (!ref.beyondBounds() && !tsoLength && !brokenOptions && ref.tcp() != t.wholeTcpHeader()) {
            problems.add("reference says " + ref.verdict() + ", tshark " + (t.wholeTcpHeader() ? "sees" : "does not see")
                    + " a whole TCP header (" + t.protocols() + ")");
        }
        if (ref.tcp() && t.wholeTcpHeader()) {
            if (ref.sport() != t.sport() || ref.dport() != t.dport()) {
                problems.add("ports " + ref.sport() + ">" + ref.dport() + " vs tshark " + t.sport() + ">" + t.dport());
            }
            int refFlags = ref.flagsHi() << 8 | ref.flags();
            if (refFlags != t.flags()) {
                problems.add("flags 0x" + Integer.toHexString(refFlags) + " vs tshark 0x" + Integer.toHexString(t.flags()));
            }
            // tshark's tcp.len counts the bytes there are; the reference the IP length fields'. Equal when the
            // frame holds the whole datagram.
            if (wholeDatagram(ref, f) && t.tcpLength() != null && ref.payloadLength() != t.tcpLength()) {
                problems.add("payload " + ref.payloadLength() + " vs tshark " + t.tcpLength());
            }
        }
        if (ref.fragment() != null) {
            Boolean more = ref.ipVersion() == 4 ? t.ipMore() : t.ipv6More();
            Integer offset = ref.ipVersion() == 4 ? t.ipOffset() : t.ipv6Offset();
            if (!Objects.equals(more, ref.fragment().more()) || !Objects.equals(offset, ref.fragment().offset())) {
                problems.add("fragment " + ref.fragment() + " vs tshark more " + more + " offset " + offset);
            }
        }
        if (ref.ipVersion() == 4 && ref.upperProtocol() >= 0 && !Objects.equals(t.ipProtocol(), ref.upperProtocol())) {
            problems.add("IPv4 protocol " + ref.upperProtocol() + " vs tshark " + t.ipProtocol());
        }
        return problems;
    }

    private static boolean wholeDatagram(ReferenceParser.Parse ref, byte[] f) {
        int l3 = ref.l3Offset();
        int length = ref.ipVersion() == 4 ? ((f[l3 + 2] & 0xFF) << 8 | (f[l3 + 3] & 0xFF))
                : 40 + ((f[l3 + 4] & 0xFF) << 8 | (f[l3 + 5] & 0xFF));
        return l3 + length <= f.length;
    }

    @Test
    void theRunIsReproducible() {
        List<Case> first = cases(SEED);
        List<Case> second = cases(SEED);
        assertEquals(first.size(), second.size());
        for (int i = 0; i < first.size(); i++) {
            assertEquals(first.get(i).hex(), second.get(i).hex(), first.get(i).origin());
        }
    }
}
