import dev.tcpinspect.ebpf.BpfObject;
import dev.tcpinspect.ebpf.Codec;
import dev.tcpinspect.ebpf.OpenObject;
import dev.tcpinspect.ebpf.RingBufReader;
import java.lang.foreign.ValueLayout;

/**
 * Events per second the ring-buffer path into Java takes: a BPF program (runtime_test.bpf.c's
 * rt_xdp, run in a loop by BPF_PROG_TEST_RUN on one CPU) writes 16-byte records as fast as it can,
 * RingBufReader reads them on the other CPU and decodes each (sequence number and tag). Records
 * the producer could not reserve are counted by the program: lost, never silent.
 *
 * Not a test: it prints figures. Run with bench/run.
 */
public class RingBufThroughput {
    public static void main(String[] args) throws Exception {
        System.out.printf("%-12s %14s %14s %12s %14s%n", "ring", "produced", "delivered", "lost", "delivered/s");
        for (int ringBytes : new int[] {256 * 1024, 4 << 20, 16 << 20}) {
            for (int round = 0; round < 2; round++) {
                run(ringBytes, 4_000_000);
            }
        }
    }

    static void run(int ringBytes, int events) throws Exception {
        try (BpfObject obj = OpenObject.openResource("/bpf/test/runtime_test.bpf.o")
                .setMaxEntries("events", ringBytes).setConstant("record_tag", 7).load()) {
            long[] checksum = new long[1];
            try (RingBufReader reader = new RingBufReader(obj.map("events"), (data, offset, length) -> {
                checksum[0] += data.get(ValueLayout.JAVA_LONG_UNALIGNED, offset)
                        + data.get(ValueLayout.JAVA_INT_UNALIGNED, offset + 8);
            }).start()) {
                byte[] packet = new byte[64];
                long start = System.nanoTime();
                for (int produced = 0; produced < events; produced += 100_000) {
                    obj.program("rt_xdp").testRun(packet, 100_000);
                }
                long lost = obj.map("hits").typed(Codec.U32, Codec.U64).get(7).orElseThrow();
                while (reader.delivered() + lost < events) {
                    Thread.onSpinWait();
                }
                double seconds = (System.nanoTime() - start) / 1e9;
                System.out.printf("%-12s %,14d %,14d %,12d %,14.0f%n", (ringBytes >> 10) + " KiB", events,
                        reader.delivered(), lost, reader.delivered() / seconds);
            }
        }
    }
}
