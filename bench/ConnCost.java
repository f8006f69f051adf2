import dev.tcpinspect.ebpf.BpfObject;
import dev.tcpinspect.ebpf.TcDirection;
import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.os.NetInterfaces;
import dev.tcpinspect.output.JsonPresenter;
import dev.tcpinspect.probe.Probe;
import dev.tcpinspect.probe.ProbeSet;
import dev.tcpinspect.probe.registry.ProbeRegistry;
import dev.tcpinspect.testing.BpfStats;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Kernel time per short connection, from the kernel's own accounting (bpf_stats): the probes
 * attached in this JVM as the table view runs them (events off; -Devents turns them on), on the lab
 * server's interface, while this JVM makes short connections over the veth, one after another;
 * beside the floor, the same hooks with programs that return at once (one at TC ingress, one at
 * egress, the state handler and its twin, tcp_probe, kfree_skb, the reset tracepoints,
 * sock_rcvqueue_full), counted the same way in the same run; and the same hooks with programs that
 * bump one per-CPU counter each run, the least any counting costs. Rounds alternate; medians are
 * printed, per program and in all, with the ratio to the floor (of the medians, and the median of
 * each round's own ratio, which a VM's drift from one minute to the next moves less).
 *
 * Not a test: it prints figures. Run with bench/run conncost [PROBE,PROBE|all] [ROUNDS].
 */
public class ConnCost {
    static final int SECONDS = 2;

    public static void main(String[] args) throws Exception {
        List<String> which = args.length > 0 && !args[0].equals("all") ? List.of(args[0].split(",")) : ProbeRegistry.names();
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 5;
        try (Lab lab = Lab.create(); var echo = Traffic.listen(lab.server(), Lab.SERVER_V4, 8080)) {
            for (String sysctl : new String[] {"net.ipv4.tcp_tw_reuse=1", "net.ipv4.ip_local_port_range=1024 65000"}) {
                new ProcessBuilder("ip", "netns", "exec", lab.clientNs(), "sysctl", "-q", "-w", sysctl).inheritIO()
                        .start().waitFor();
            }
            for (int w = 0; w < 4; w++) {
                connections(lab); // just-in-time compilation of this JVM's client and server first
            }
            List<Map<String, double[]>> probeRounds = new ArrayList<>();
            List<Map<String, double[]>> floorRounds = new ArrayList<>();
            double[] counting = new double[rounds];
            double[] floor = new double[rounds];
            double[] total = new double[rounds];
            double[] eventsPerConnection = new double[rounds];
            double[] readerNanosPerEvent = new double[rounds];
            try (BpfStats stats = BpfStats.enable()) {
                for (int r = 0; r < rounds; r++) {
                    Map<String, double[]> e = measure(lab, () -> empties(lab));
                    floorRounds.add(e);
                    floor[r] = sum(e);
                    counting[r] = sum(measure(lab, () -> counting(lab)));
                    Map<String, double[]> p = measure(lab, () -> probes(lab, which));
                    probeRounds.add(p);
                    total[r] = sum(p);
                    eventsPerConnection[r] = (double) lastEvents / lastMade;
                    readerNanosPerEvent[r] = lastEvents == 0 ? 0 : (double) lastReaderNanos / lastEvents;
                }
            }
            System.out.printf("kernel time per connection (bpf_stats, %d rounds of %d s, median):%n", rounds, SECONDS);
            System.out.printf("%-24s %10s %8s %14s%n", "program", "runs/conn", "ns/run", "ns/connection");
            Map<String, List<double[]>> byProgram = new java.util.LinkedHashMap<>();
            for (List<Map<String, double[]>> side : List.of(probeRounds, floorRounds)) {
                for (Map<String, double[]> p : side) {
                    p.forEach((name, v) -> byProgram.computeIfAbsent(name, n -> new ArrayList<>()).add(v));
                }
            }
            byProgram.forEach((name, values) -> System.out.printf("%-24s %10.1f %8.0f %14.0f%n", name,
                    median(values.stream().mapToDouble(v -> v[0]).toArray()),
                    median(values.stream().mapToDouble(v -> v[1] / v[0]).toArray()),
                    median(values.stream().mapToDouble(v -> v[1]).toArray())));
            double t = median(total);
            double f = median(floor);
            System.out.printf("%-24s %35.0f ns%n", "probes " + String.join(",", which).replace(String.join(",",
                    ProbeRegistry.names()), "(all)"), t);
            System.out.printf("%-24s %35.0f ns%n", "floor (empty programs)", f);
            System.out.printf("%-24s %35.0f ns%n", "one counter per run", median(counting));
            System.out.printf("%-24s %35.2f x%n", "ratio", t / f);
            // Each round's probes beside the same round's floor: on a VM whose speed drifts by the
            // minute, the ratio of medians can pair a slow round with a fast one.
            double[] ratios = new double[rounds];
            for (int r = 0; r < rounds; r++) {
                ratios[r] = total[r] / floor[r];
            }
            System.out.printf("%-24s %35.2f x%n", "ratio within rounds", median(ratios));
            System.out.println("(rounds: probes " + Arrays.toString(round(total)) + ", floor " + Arrays.toString(round(floor))
                    + ")");
            if (!EVENTS.isEmpty()) {
                System.out.printf("events (%s): %.1f a connection; this JVM's reader thread: %.0f ns of CPU an event%n",
                        EVENTS, median(eventsPerConnection), median(readerNanosPerEvent));
            }
        }
    }

    interface Attach {
        AutoCloseable run() throws Exception;
    }

    /** Of the last measure(): connections made, events delivered, the event reader thread's CPU time. */
    static long lastMade;
    static long lastEvents;
    static long lastReaderNanos;

    /** Runs, ns (both per connection) by program, during SECONDS of connections with the attachments made. */
    static Map<String, double[]> measure(Lab lab, Attach attach) throws Exception {
        try (AutoCloseable attached = attach.run()) {
            connections(lab); // settle
            Map<String, long[]> start = BpfStats.programs("tcpi_");
            long events = EVENTS_SEEN.sum();
            long reader = readerCpuNanos();
            long made = connections(lab);
            lastMade = made;
            lastEvents = EVENTS_SEEN.sum() - events;
            lastReaderNanos = readerCpuNanos() - reader;
            Map<String, double[]> per = new TreeMap<>();
            BpfStats.between(start, BpfStats.programs("tcpi_")).forEach((name, v) ->
                    per.put(name, new double[] {(double) v[0] / made, (double) v[1] / made}));
            return per;
        }
    }

    static long connections(Lab lab) {
        long made = 0;
        long end = System.nanoTime() + SECONDS * 1_000_000_000L;
        while (System.nanoTime() < end) {
            made += Traffic.connect(lab.client(), Lab.SERVER_V4, 8080, 50);
        }
        return made;
    }

    /**
     * -Devents=read: the kernel makes event records, which this JVM reads and drops; -Devents=json: it
     * writes them as `watch --format json` does, to a stream that discards them. Unset: no events, as
     * the table view runs the probes.
     */
    static final String EVENTS = System.getProperty("events", "");

    static final java.util.concurrent.atomic.LongAdder EVENTS_SEEN = new java.util.concurrent.atomic.LongAdder();

    /** CPU time of the probe set's event reader thread (RingBufReader's), 0 when there is none. */
    static long readerCpuNanos() {
        var threads = java.lang.management.ManagementFactory.getThreadMXBean();
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().equals("ringbuf-reader"))
                .mapToLong(t -> Math.max(0, threads.getThreadCpuTime(t.threadId()))).sum();
    }

    static AutoCloseable probes(Lab lab, List<String> which) {
        if (!List.of("", "read", "json").contains(EVENTS)) {
            throw new IllegalArgumentException("-Devents=" + EVENTS + ": read or json");
        }
        List<Probe> probes = ProbeRegistry.create(which);
        ProbeSet set = lab.server().call(() -> ProbeSet.start(probes,
                ProbeSet.Options.defaults().interfaces(List.of(lab.serverIf())).events(!EVENTS.isEmpty())));
        switch (EVENTS) {
            case "" -> { }
            case "read" -> set.onEvents((type, event) -> EVENTS_SEEN.increment());
            case "json" -> {
                JsonPresenter json = new JsonPresenter(new java.io.PrintStream(java.io.OutputStream.nullOutputStream()));
                set.onEvents((type, event) -> {
                    EVENTS_SEEN.increment();
                    json.event(type, event);
                });
            }
            default -> throw new AssertionError(EVENTS);
        }
        return set;
    }

    /** Programs that return at once, on every hook tcpinspect's object uses, attached as it attaches them. */
    static AutoCloseable empties(Lab lab) throws Exception {
        BpfObject empty = BpfObject.loadResource("/bpf/bench/empty.bpf.o");
        try {
            int ifindex = lab.server().call(() -> NetInterfaces.indexOf(lab.serverIf()));
            lab.server().call(() -> empty.program("tcpi_empty_tc").attachTcx(ifindex, TcDirection.INGRESS));
            lab.server().call(() -> empty.program("tcpi_empty_tc").attachTcx(ifindex, TcDirection.EGRESS));
            for (String p : List.of("tcpi_empty_state", "tcpi_empty_state2", "tcpi_empty_probe", "tcpi_empty_kfree",
                    "tcpi_empty_send_reset", "tcpi_empty_recv_reset", "tcpi_empty_rcvq")) {
                empty.program(p).attach();
            }
            return empty;
        } catch (RuntimeException e) {
            empty.close();
            throw e;
        }
    }

    /** The same hooks with programs that bump one per-CPU counter each run: the least any counting costs. */
    static AutoCloseable counting(Lab lab) throws Exception {
        BpfObject count = BpfObject.loadResource("/bpf/bench/empty.bpf.o");
        try {
            int ifindex = lab.server().call(() -> NetInterfaces.indexOf(lab.serverIf()));
            lab.server().call(() -> count.program("tcpi_count_tc").attachTcx(ifindex, TcDirection.INGRESS));
            lab.server().call(() -> count.program("tcpi_count_tc").attachTcx(ifindex, TcDirection.EGRESS));
            for (String p : List.of("tcpi_count_state", "tcpi_count_state2", "tcpi_count_probe", "tcpi_count_kfree")) {
                count.program(p).attach();
            }
            return count;
        } catch (RuntimeException e) {
            count.close();
            throw e;
        }
    }

    static double sum(Map<String, double[]> per) {
        return per.values().stream().mapToDouble(v -> v[1]).sum();
    }

    static long[] round(double[] v) {
        return Arrays.stream(v).mapToLong(Math::round).toArray();
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }
}
