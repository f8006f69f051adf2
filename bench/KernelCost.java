import dev.tcpinspect.ebpf.BpfObject;
import dev.tcpinspect.ebpf.TcDirection;
import dev.tcpinspect.ebpf.XdpMode;
import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.os.NetInterfaces;
import dev.tcpinspect.probe.conn.ConnProbe;
import dev.tcpinspect.probe.drops.DropsProbe;
import dev.tcpinspect.probe.dupack.DupAckProbe;
import dev.tcpinspect.probe.handshake.HandshakeProbe;
import dev.tcpinspect.probe.reset.ResetProbe;
import dev.tcpinspect.probe.retrans.RetransProbe;
import dev.tcpinspect.probe.rtt.RttProbe;
import dev.tcpinspect.probe.syncount.SynCountProbe;
import dev.tcpinspect.probe.zerowin.ZeroWindowProbe;
import dev.tcpinspect.testing.Bpftrace;
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
 * Baselines: "empty" attaches one TC program that returns at once; "hooks" attaches programs that
 * return at once to every hook all the probes use, as many as they use and the way they attach (four
 * tcx links at TC ingress, one at TC egress, four at inet_sock_set_state (conn's and handshake's
 * handlers and their twins), one at tcp_probe, one at kfree_skb): what the hooks cost before any probe
 * does any work. "hooks-merged" attaches what one program per hook would: one at TC ingress, one at
 * egress, two at inet_sock_set_state (one handler and its twin), one at tcp_probe, one at kfree_skb.
 * "hook:state", "hook:probe", "hook:kfree": one empty program on that tracepoint alone. "none"
 * attaches nothing: the control, which shows what the method itself reads into a change (it
 * should be 0 within the quartiles). "bpftrace": a reference rather than a baseline, what a
 * bpftrace user would run on the same three tracepoints.
 *
 * Not a test: it prints figures. Run with bench/run kernel [all|none|empty|hooks|hooks-merged|hook:HOOK|bpftrace|PROBE,PROBE...] [CLIENTS].
 */
public class KernelCost {
    static final int PAIRS = Integer.getInteger("pairs", 12);

    public static void main(String[] args) throws Exception {
        Set<String> which = Set.of((args.length > 0 ? args[0] : "all").split(","));
        int clients = args.length > 1 ? Integer.parseInt(args[1]) : 1;
        try (Lab lab = Lab.create(); var echo = Traffic.listen(lab.server(), Lab.SERVER_V4, 8080)) {
            for (String sysctl : new String[] {"net.ipv4.tcp_tw_reuse=1", "net.ipv4.ip_local_port_range=1024 65000"}) {
                new ProcessBuilder("ip", "netns", "exec", lab.clientNs(), "sysctl", "-q", "-w", sysctl).inheritIO()
                        .start().waitFor();
            }
            for (int w = 0; w < 6; w++) {
                rate(lab, clients); // just-in-time compilation of this JVM's client and server first
            }
            double[] change = new double[PAIRS];
            StringBuilder pairs = new StringBuilder();
            for (int r = 0; r < PAIRS; r++) {
                double without = rate(lab, clients);
                List<AutoCloseable> attached = lab.server().call(() -> attach(which, lab));
                double with;
                try {
                    with = rate(lab, clients);
                } finally {
                    lab.server().call(() -> {
                        for (AutoCloseable c : attached.reversed()) {
                            c.close();
                        }
                        return null;
                    });
                }
                change[r] = 100 * (with / without - 1);
                pairs.append(String.format("%.0f/%.0f ", without, with));
            }
            Arrays.sort(change);
            System.out.printf("%-30s %d client%s  change %6.1f%%   quartiles %6.1f%% %6.1f%%%n",
                    String.join(",", which), clients, clients == 1 ? " " : "s", change[PAIRS / 2], change[PAIRS / 4],
                    change[3 * PAIRS / 4]);
            System.out.println("(connections/s without/with, by pair: " + pairs.toString().strip() + ")");
        }
    }

    static List<AutoCloseable> attach(Set<String> which, Lab lab) {
        List<String> ifs = List.of(lab.serverIf());
        boolean all = which.contains("all");
        List<AutoCloseable> on = new ArrayList<>();
        try {
            if (all || which.contains("packets")) {
                SynCountProbe p = SynCountProbe.load();
                on.add(p);
                p.attach(ifs, SynCountProbe.Hook.TC, XdpMode.AUTO);
            }
            if (all || which.contains("conn")) {
                ConnProbe p = ConnProbe.load(false, false);
                on.add(p);
                p.attach();
            }
            if (all || which.contains("handshake")) {
                HandshakeProbe p = HandshakeProbe.load(false, false);
                on.add(p);
                p.attach(ifs);
            }
            if (all || which.contains("retrans")) {
                RetransProbe p = RetransProbe.load(false, false);
                on.add(p);
                p.attach();
            }
            if (all || which.contains("reset")) {
                ResetProbe p = ResetProbe.load(false, false);
                on.add(p);
                p.attach();
            }
            if (all || which.contains("drops")) {
                DropsProbe p = DropsProbe.load(false, false);
                on.add(p);
                p.attach();
            }
            if (all || which.contains("zerowin")) {
                ZeroWindowProbe p = ZeroWindowProbe.load(false);
                on.add(p);
                p.attach(ifs);
            }
            if (all || which.contains("rtt")) {
                RttProbe p = RttProbe.load(false, false);
                on.add(p);
                p.attach();
            }
            if (all || which.contains("dupack")) {
                DupAckProbe p = DupAckProbe.load(false);
                on.add(p);
                p.attach(ifs);
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
                BpfObject empty = BpfObject.loadResource("/bpf/bench/empty.bpf.o");
                on.add(empty);
                int ifindex = NetInterfaces.indexOf(lab.serverIf());
                on.add(empty.program("tcpi_empty_tc").attachTcx(ifindex, TcDirection.INGRESS));
                on.add(empty.program("tcpi_empty_tc").attachTcx(ifindex, TcDirection.EGRESS));
                for (String tracepoint : List.of("tcpi_empty_state", "tcpi_empty_state2", "tcpi_empty_probe",
                        "tcpi_empty_kfree")) {
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
