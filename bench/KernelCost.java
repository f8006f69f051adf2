import dev.tcpinspect.ebpf.BpfObject;
import dev.tcpinspect.ebpf.TcDirection;
import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.os.NetInterfaces;
import dev.tcpinspect.probe.ProbeSet;
import dev.tcpinspect.probe.registry.ProbeRegistry;
import dev.tcpinspect.testing.Bpftrace;
import dev.tcpinspect.testing.WebLoad;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * The kernel side's cost alone: probes loaded and attached in this JVM (events off, as the table
 * view runs them; no watcher process, no presenter), on the lab server's interface, while this JVM
 * makes short connections (one client making them one after another, or several clients at once,
 * which keeps both CPUs busy). Windows of 2 s with the probes attached alternate with windows
 * without them; each pair gives a change, and the median and quartiles of the pairs are printed.
 * Baselines: "empty" attaches one TC program that returns at once; "hooks-merged" attaches
 * programs that return at once on every hook of tcpinspect's object, the way it attaches them (one
 * at TC ingress, one at egress, the state handler and its twin, tcp_probe, kfree_skb, the reset
 * tracepoints, sock_rcvqueue_full): what the hooks cost before any probe does any work, the floor of
 * one program per hook. "hooks" attaches the eleven empty programs the design before it used (four
 * at TC ingress, one at egress, four at inet_sock_set_state, tcp_probe, kfree_skb), for comparison.
 * "hook:state", "hook:probe", "hook:kfree": one empty program on that tracepoint alone;
 * "empties:in+out+state+state2+probe+kfree+send_reset+recv_reset+rcvq": those of hooks-merged's
 * programs (TC ingress and egress, each tracepoint program). "none"
 * attaches nothing: the control, which shows what the method itself reads into a change (it
 * should be 0 within the quartiles). "bpftrace": a reference rather than a baseline, what a
 * bpftrace user would run on the same three tracepoints.
 *
 * The workload is short connections by default; "close", "keepalive" and "bulk" measure nginx and
 * wrk (a new connection per request, or keep-alive; requests/s) or one iperf3 stream instead
 * (testing.WebLoad), where CLIENTS does not apply.
 *
 * Not a test: it prints figures. Run with bench/run kernel [all|none|empty|hooks|hooks-merged|hook:HOOK|empties:PART+PART|bpftrace|PROBE,PROBE...] [CLIENTS] [conn|close|keepalive|bulk].
 */
public class KernelCost {
    static final int PAIRS = Integer.getInteger("pairs", 12);

    public static void main(String[] args) throws Exception {
        Set<String> which = Set.of((args.length > 0 ? args[0] : "all").split(","));
        int clients = args.length > 1 ? Integer.parseInt(args[1]) : 1;
        String workload = args.length > 2 ? args[2] : "conn";
        try (Lab lab = Lab.create(); var echo = Traffic.listen(lab.server(), Lab.SERVER_V4, 8080);
                WebLoad web = workload.equals("conn") ? null : WebLoad.start(lab)) {
            java.util.function.DoubleSupplier rate = switch (workload) {
                case "conn" -> () -> rate(lab, clients);
                case "close" -> () -> web.run(WebLoad.Workload.CLOSE, 2);
                case "keepalive" -> () -> web.run(WebLoad.Workload.KEEPALIVE, 2);
                case "bulk" -> () -> web.run(WebLoad.Workload.BULK, 2);
                default -> throw new IllegalArgumentException("workload: conn, close, keepalive or bulk, not " + workload);
            };
            for (String sysctl : new String[] {"net.ipv4.tcp_tw_reuse=1", "net.ipv4.ip_local_port_range=1024 65000"}) {
                new ProcessBuilder("ip", "netns", "exec", lab.clientNs(), "sysctl", "-q", "-w", sysctl).inheritIO()
                        .start().waitFor();
            }
            for (int w = 0; w < 6; w++) {
                rate.getAsDouble(); // just-in-time compilation of this JVM's client and server first
            }
            double[] change = new double[PAIRS];
            StringBuilder pairs = new StringBuilder();
            for (int r = 0; r < PAIRS; r++) {
                double without = rate.getAsDouble();
                List<AutoCloseable> attached = lab.server().call(() -> attach(which, lab));
                double with;
                try {
                    with = rate.getAsDouble();
                } finally {
                    lab.server().call(() -> {
                        for (AutoCloseable c : attached.reversed()) {
                            c.close();
                        }
                        return null;
                    });
                }
                change[r] = 100 * (with / without - 1);
                pairs.append(String.format("%.4g/%.4g ", without, with));
            }
            Arrays.sort(change);
            String load = workload.equals("conn") ? clients + " client" + (clients == 1 ? " " : "s") : workload;
            System.out.printf("%-30s %-10s change %6.1f%%   quartiles %6.1f%% %6.1f%%%n", String.join(",", which), load,
                    change[PAIRS / 2], change[PAIRS / 4], change[3 * PAIRS / 4]);
            System.out.println("(" + (workload.equals("bulk") ? "Gbit/s" : workload.equals("conn") ? "connections/s"
                    : "requests/s") + " without/with, by pair: " + pairs.toString().strip() + ")");
        }
    }

    static List<AutoCloseable> attach(Set<String> which, Lab lab) {
        List<String> ifs = List.of(lab.serverIf());
        List<String> chosen = which.contains("all") ? ProbeRegistry.names()
                : ProbeRegistry.names().stream().filter(which::contains).toList();
        List<AutoCloseable> on = new ArrayList<>();
        try {
            if (!chosen.isEmpty()) {
                // As the table view runs them: one object, events off.
                on.add(lab.server().call(() -> ProbeSet.start(ProbeRegistry.create(chosen),
                        ProbeSet.Options.defaults().interfaces(ifs))));
            }
            if (which.contains("hooks")) {
                BpfObject empty = BpfObject.loadResource("/bpf/bench/empty.bpf.o");
                on.add(empty);
                int ifindex = NetInterfaces.indexOf(lab.serverIf());
                // As the probes attach: tcx links, four programs at ingress (tcx takes a program once
                // per hook, so each is another load of the object) and one at egress.
                on.add(empty.program("tcpi_empty_tc").attachTcx(ifindex, TcDirection.INGRESS));
                for (int i = 1; i < 4; i++) {
                    BpfObject another = BpfObject.loadResource("/bpf/bench/empty.bpf.o");
                    on.add(another);
                    on.add(another.program("tcpi_empty_tc").attachTcx(ifindex, TcDirection.INGRESS));
                }
                on.add(empty.program("tcpi_empty_tc").attachTcx(ifindex, TcDirection.EGRESS));
                for (String tracepoint : List.of("tcpi_empty_state", "tcpi_empty_state2", "tcpi_empty_probe",
                        "tcpi_empty_kfree")) {
                    on.add(empty.program(tracepoint).attach());
                }
                // conn and handshake each attach their state handler twice (bpf/include/twin.h).
                BpfObject twins = BpfObject.loadResource("/bpf/bench/empty.bpf.o");
                on.add(twins);
                on.add(twins.program("tcpi_empty_state").attach());
                on.add(twins.program("tcpi_empty_state2").attach());
            }
            if (which.contains("hooks-merged")) {
                // What one program per hook leaves when no probe does any work: tcpinspect.bpf.c's hooks.
                BpfObject empty = BpfObject.loadResource("/bpf/bench/empty.bpf.o");
                on.add(empty);
                int ifindex = NetInterfaces.indexOf(lab.serverIf());
                on.add(empty.program("tcpi_empty_tc").attachTcx(ifindex, TcDirection.INGRESS));
                on.add(empty.program("tcpi_empty_tc").attachTcx(ifindex, TcDirection.EGRESS));
                for (String tracepoint : List.of("tcpi_empty_state", "tcpi_empty_state2", "tcpi_empty_probe",
                        "tcpi_empty_kfree", "tcpi_empty_send_reset", "tcpi_empty_recv_reset", "tcpi_empty_rcvq")) {
                    on.add(empty.program(tracepoint).attach());
                }
            }
            for (String hook : which) {
                // One empty program on one tracepoint: which hook's cost is it?
                String program = switch (hook) {
                    case "hook:state" -> "tcpi_empty_state";
                    case "hook:probe" -> "tcpi_empty_probe";
                    case "hook:kfree" -> "tcpi_empty_kfree";
                    default -> null;
                };
                if (program != null) {
                    BpfObject empty = BpfObject.loadResource("/bpf/bench/empty.bpf.o");
                    on.add(empty);
                    on.add(empty.program(program).attach());
                }
            }
            if (which.contains("bpftrace")) {
                // A reference, not a baseline: what a bpftrace user would run on the same
                // tracepoints (classic ones, counting and a histogram; no packet hooks).
                on.add(Bpftrace.start("""
                        tracepoint:sock:inet_sock_set_state /args->protocol == 6/ { @states[args->newstate] = count(); }
                        tracepoint:tcp:tcp_probe { @srtt = hist(args->srtt); }
                        tracepoint:skb:kfree_skb { @drops[args->reason] = count(); }
                        """));
            }
            for (String hook : which) {
                // Some of hooks-merged's empty programs: empties:in+out+state+state2+probe+kfree+send_reset+recv_reset+rcvq
                if (hook.startsWith("empties:")) {
                    BpfObject empty = BpfObject.loadResource("/bpf/bench/empty.bpf.o");
                    on.add(empty);
                    int ifindex = NetInterfaces.indexOf(lab.serverIf());
                    for (String part : hook.substring("empties:".length()).split("\\+")) {
                        switch (part) {
                            case "in" -> on.add(empty.program("tcpi_empty_tc").attachTcx(ifindex, TcDirection.INGRESS));
                            case "out" -> on.add(empty.program("tcpi_empty_tc").attachTcx(ifindex, TcDirection.EGRESS));
                            default -> on.add(empty.program("tcpi_empty_" + part).attach());
                        }
                    }
                }
            }
            if (which.contains("empty")) {
                BpfObject empty = BpfObject.loadResource("/bpf/bench/empty.bpf.o");
                on.add(empty);
                on.add(empty.program("tcpi_empty_tc").attachTcx(NetInterfaces.indexOf(lab.serverIf()), TcDirection.INGRESS));
            }
            return on;
        } catch (RuntimeException e) {
            for (AutoCloseable c : on.reversed()) {
                try {
                    c.close();
                } catch (Exception suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
    }

    static double rate(Lab lab, int clients) {
        return Traffic.connectionRate(lab.client(), Lab.SERVER_V4, 8080, clients, 2000);
    }
}
