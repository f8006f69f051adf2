import dev.tcpinspect.ebpf.BpfObject;
import dev.tcpinspect.ebpf.Program;
import dev.tcpinspect.testing.Frame;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Kernel cost per packet of each packet program, from BPF_PROG_TEST_RUN's own timing, beside an
 * empty program of the same type measured in the same run. Rounds alternate between the program
 * and its baseline so drift hits both; the median round is reported.
 *
 * Run with bench/run (builds first). Not a test: it asserts nothing, it prints figures.
 */
public class PacketCost {
    static final int REPEAT = 2_000_000;
    static final int ROUNDS = 7;

    public static void main(String[] args) {
        Map<String, byte[]> packets = new LinkedHashMap<>();
        packets.put("SYN ipv4 (74 B, options)", Frame.ipv4().tcpOptions(20).flags(Frame.SYN).dport(443).build());
        packets.put("SYN ipv6 (94 B, options)", Frame.ipv6().tcpOptions(20).flags(Frame.SYN).dport(443).build());
        packets.put("data ipv4 (1514 B)", Frame.ipv4().tcpOptions(12).flags(Frame.ACK | Frame.PSH).payload(1448).build());
        packets.put("malformed (TCP cut)", Arrays.copyOf(Frame.ipv4().flags(Frame.SYN).build(), 14 + 20 + 10));
        packets.put("SYN ipv6+qinq+2 ext", Frame.ipv6().qinq().ext(0).ext(60).flags(Frame.SYN).build());

        try (BpfObject syn = BpfObject.loadResource("/bpf/syncount.bpf.o");
             BpfObject empty = BpfObject.loadResource("/bpf/bench/empty.bpf.o")) {
            System.out.printf("BPF_PROG_TEST_RUN, %,d runs per round, median of %d rounds; kernel %s%n%n", REPEAT, ROUNDS,
                    System.getProperty("os.version"));
            System.out.printf("%-8s %-26s %12s %12s %12s%n", "hook", "packet", "probe ns", "empty ns", "overhead ns");
            for (String hook : new String[] {"tc", "xdp"}) {
                Program probe = syn.program("tcpi_syn_" + hook);
                Program baseline = empty.program("tcpi_empty_" + hook);
                for (var e : packets.entrySet()) {
                    long[] p = new long[ROUNDS];
                    long[] b = new long[ROUNDS];
                    probe.testRun(e.getValue(), 10_000); // warm up
                    baseline.testRun(e.getValue(), 10_000);
                    for (int r = 0; r < ROUNDS; r++) {
                        b[r] = baseline.testRun(e.getValue(), REPEAT).nsPerRun();
                        p[r] = probe.testRun(e.getValue(), REPEAT).nsPerRun();
                    }
                    long pm = median(p);
                    long bm = median(b);
                    System.out.printf("%-8s %-26s %12d %12d %12d%n", hook, e.getKey(), pm, bm, pm - bm);
                }
            }
        }
    }

    static long median(long[] v) {
        long[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }
}
