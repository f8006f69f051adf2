package dev.tcpinspect.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tcpinspect.ebpf.Features;
import dev.tcpinspect.ebpf.MapType;
import dev.tcpinspect.ebpf.ProgramType;
import dev.tcpinspect.os.Privileges;
import dev.tcpinspect.os.Tracefs;
import dev.tcpinspect.output.JsonPresenter;
import dev.tcpinspect.output.Presenter;
import dev.tcpinspect.probe.Hook;
import dev.tcpinspect.probe.Probe;
import dev.tcpinspect.probe.registry.ProbeRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "doctor", mixinStandardHelpOptions = true,
        description = {
            "Check whether tcpinspect can work here: kernel, BTF, JIT, libbpf, privileges, which hooks",
            "(XDP, TC, tracepoints, raw tracepoints, tp_btf, socket filters, cgroup_skb, kprobes, fentry,",
            "uprobes), which map types, which tracepoints are usable, and which probes can run here.",
            "Exits 1, saying why, when tcpinspect cannot work here."})
final class DoctorCommand implements Callable<Integer> {
    /** Tracepoints that tcpinspect's probes use or will use. */
    static final List<String> TRACEPOINTS = List.of("tcp:tcp_probe", "tcp:tcp_retransmit_skb",
            "tcp:tcp_retransmit_synack", "tcp:tcp_send_reset", "tcp:tcp_receive_reset", "tcp:tcp_destroy_sock",
            "tcp:tcp_rcv_space_adjust", "tcp:tcp_bad_csum", "tcp:tcp_cong_state_set", "sock:inet_sock_set_state",
            "sock:sock_rcvqueue_full", "sock:sock_exceed_buf_limit", "sock:inet_sk_error_report", "skb:kfree_skb",
            "skb:consume_skb");

    @Option(names = "--format", paramLabel = "FORMAT", defaultValue = "text",
            description = "text or json (one object). Default: ${DEFAULT-VALUE}.")
    Presenter.Format format;

    /** What a group of commands (label: as the text shows them) needs, and whether this process has it. */
    record Requirement(String label, List<String> commands, String needs, boolean met) {}

    /**
     * The privileges each command needs, as the tests prove them (CommandLineTest runs watch as
     * nobody with only the three capabilities): the least to grant, not just "root".
     */
    static List<Requirement> requirements(Privileges p) {
        return List.of(
                new Requirement("watch, upstreams, agent", List.of("watch", "upstreams", "agent"),
                        "CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN (or root)",
                        p.canAttachPacketPrograms()),
                new Requirement("cleanup", List.of("cleanup"), "root: telling tcpinspect's filters from other tools'"
                        + " takes CAP_SYS_ADMIN", p.canInspectOthersPrograms()),
                new Requirement("demo", List.of("demo"), "root: CAP_SYS_ADMIN as well, to make its network namespaces",
                        p.canAttachPacketPrograms() && p.capSysAdmin()),
                new Requirement("enforce, policy", List.of("enforce", "policy apply", "policy show", "policy stats", "policy deny",
                        "policy allow", "policy delete"), "root: the enforcer's pins in /sys/fs/bpf and its lock in"
                        + " /run are root's", p.root() && p.canAttachPacketPrograms()),
                new Requirement("doctor, policy check", List.of("doctor", "policy check"), "nothing", true));
    }

    record Check(String name, boolean ok, String detail) {}

    @Override
    public Integer call() {
        Privileges privileges = Privileges.current();
        List<String> problems = new ArrayList<>();
        String libbpf;
        try {
            libbpf = Features.libbpfVersion();
        } catch (Throwable e) {
            libbpf = null;
            problems.add("libbpf is missing: " + Main.oneLine(e));
        }
        boolean btf = Features.kernelBtf();
        int jit = Features.jit();
        if (!privileges.canAttachPacketPrograms()) {
            problems.add("not privileged: " + Privileges.MISSING);
        }
        if (!btf) {
            problems.add("no kernel BTF at /sys/kernel/btf/vmlinux (needs CONFIG_DEBUG_INFO_BTF)");
        }
        Map<String, Boolean> hooks = new LinkedHashMap<>();
        Map<String, Boolean> maps = new LinkedHashMap<>();
        Map<String, Boolean> tracepoints = new LinkedHashMap<>();
        Map<String, Boolean> probes = new LinkedHashMap<>();
        if (libbpf != null && privileges.canAttachPacketPrograms()) {
            hooks.put("xdp", Features.programType(ProgramType.XDP));
            hooks.put("tc", Features.programType(ProgramType.SCHED_CLS));
            hooks.put("tcx", Features.tcx());
            hooks.put("tracepoint", Features.programType(ProgramType.TRACEPOINT));
            hooks.put("raw_tracepoint", Features.programType(ProgramType.RAW_TRACEPOINT));
            hooks.put("tp_btf", Features.tpBtf());
            hooks.put("socket_filter", Features.programType(ProgramType.SOCKET_FILTER));
            hooks.put("cgroup_skb", Features.programType(ProgramType.CGROUP_SKB));
            hooks.put("kprobe", Features.kprobes() && Features.programType(ProgramType.KPROBE));
            hooks.put("fentry", Features.fentry());
            hooks.put("uprobe", Features.uprobes());
            for (MapType t : new MapType[] {MapType.ARRAY, MapType.HASH, MapType.LRU_HASH, MapType.PERCPU_ARRAY,
                    MapType.PERCPU_HASH, MapType.LPM_TRIE, MapType.RINGBUF}) {
                maps.put(t.name().toLowerCase(), Features.mapType(t));
            }
            for (String tp : TRACEPOINTS) {
                String[] parts = tp.split(":");
                tracepoints.put(tp, Features.tracepoint(parts[0], parts[1]));
            }
            if (!hooks.get("xdp") || !hooks.get("tc")) {
                problems.add("the kernel cannot load XDP and TC programs (CONFIG_BPF_SYSCALL, CONFIG_NET_CLS_BPF)");
            }
            for (Probe probe : ProbeRegistry.all()) {
                String missing = missingFor(probe);
                probes.put(probe.name(), missing == null);
                if (missing != null) {
                    problems.add("probe " + probe.name() + " cannot run here: " + missing + " (leave it out with --probe)");
                }
            }
        }
        boolean usable = problems.isEmpty();
        if (format == Presenter.Format.JSON) {
            ObjectNode node = JsonPresenter.line("doctor", Instant.now());
            node.put("kernel", Features.kernelRelease());
            node.put("btf", btf);
            node.put("jit", jit);
            node.put("libbpf", libbpf);
            ObjectNode p = node.putObject("privileges");
            p.put("root", privileges.root());
            p.put("cap_bpf", privileges.capBpf());
            p.put("cap_net_admin", privileges.capNetAdmin());
            p.put("cap_perfmon", privileges.capPerfmon());
            p.put("cap_sys_admin", privileges.capSysAdmin());
            ObjectNode commands = node.putObject("commands");
            for (Requirement r : requirements(privileges)) {
                for (String c : r.commands()) {
                    commands.putObject(c).put("needs", r.needs()).put("can_run", r.met());
                }
            }
            ObjectNode h = node.putObject("hooks");
            hooks.forEach(h::put);
            ObjectNode m = node.putObject("map_types");
            maps.forEach(m::put);
            ObjectNode t = node.putObject("tracepoints");
            tracepoints.forEach(t::put);
            ObjectNode pr = node.putObject("probes");
            probes.forEach(pr::put);
            node.put("tracefs_mounted", Tracefs.eventsDir() != null);
            node.put("bpffs_mounted", Files.isDirectory(Path.of("/sys/fs/bpf")) && isBpffs());
            node.put("usable", usable);
            problems.forEach(node.putArray("problems")::add);
            JsonPresenter.print(System.out, node);
        } else {
            System.out.printf("%-22s %s%n", "kernel", Features.kernelRelease());
            System.out.printf("%-22s %s%n", "kernel BTF", btf ? "yes (/sys/kernel/btf/vmlinux)" : "NO");
            System.out.printf("%-22s %s%n", "BPF JIT", switch (jit) { case 1 -> "on"; case 2 -> "on (debug)"; case 0 -> "off"; default -> "unknown"; });
            System.out.printf("%-22s %s%n", "libbpf", libbpf == null ? "MISSING" : libbpf);
            System.out.printf("%-22s %s%n", "privileges", privileges.canAttachPacketPrograms()
                    ? (privileges.root() ? "root" : "capabilities") + " (CAP_BPF " + yes(privileges.capBpf())
                        + ", CAP_NET_ADMIN " + yes(privileges.capNetAdmin()) + ", CAP_PERFMON " + yes(privileges.capPerfmon()) + ")"
                    : "INSUFFICIENT");
            System.out.println("commands and the privileges they need:");
            for (Requirement r : requirements(privileges)) {
                System.out.printf("  %-20s %s: %s%n", r.label(), r.needs(), r.met() ? "yes" : "NOT HERE");
            }
            if (!hooks.isEmpty()) {
                System.out.println("hooks:");
                hooks.forEach((k, v) -> System.out.printf("  %-20s %s%n", k, yes(v)));
                System.out.println("map types:");
                maps.forEach((k, v) -> System.out.printf("  %-20s %s%n", k, yes(v)));
                System.out.println("tracepoints:");
                tracepoints.forEach((k, v) -> System.out.printf("  %-30s %s%n", k, yes(v)));
                System.out.println("probes:");
                probes.forEach((k, v) -> System.out.printf("  %-20s %s%n", k, yes(v)));
            }
            System.out.println(usable ? "tcpinspect can work here." : "tcpinspect cannot work here:");
            problems.forEach(pr -> System.out.println("  - " + pr));
        }
        return usable ? 0 : 1;
    }

    /** What the kernel lacks for a probe's hooks, or null when it can run. */
    static String missingFor(Probe probe) {
        for (Hook hook : probe.hooks()) {
            if (hook.isPacketHook()) {
                if (!Features.programType(ProgramType.SCHED_CLS)) {
                    return "TC programs";
                }
                continue;
            }
            if (hook.tracepoint() == null) { // a socket filter: every kernel with BPF has them (3.19)
                if (!Features.programType(ProgramType.SOCKET_FILTER)) {
                    return "socket filter programs";
                }
                continue;
            }
            String[] tp = hook.tracepoint().split(":");
            if (!Features.tracepoint(tp[0], tp[1])) {
                return "the tracepoint " + hook.tracepoint();
            }
            if (hook.btfTyped() && !Features.tpBtf()) {
                return "BTF-typed tracepoints (tp_btf, kernel 5.5 or later with BTF)";
            }
        }
        return null;
    }

    private static String yes(boolean b) {
        return b ? "yes" : "no";
    }

    private static boolean isBpffs() {
        try {
            return Files.readAllLines(Path.of("/proc/self/mounts")).stream().anyMatch(l -> l.contains(" /sys/fs/bpf bpf "));
        } catch (java.io.IOException e) {
            return false;
        }
    }
}
