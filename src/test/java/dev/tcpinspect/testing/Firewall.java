package dev.tcpinspect.testing;

import java.util.List;

/** An iptables/ip6tables DROP rule for a TCP port in a lab namespace, and the kernel's count of its matches. */
public final class Firewall {
    private Firewall() {}

    public static void dropPort(String netns, int port) {
        for (String tool : List.of("iptables", "ip6tables")) {
            Cmd.run("ip", "netns", "exec", netns, tool, "-w", "-A", "INPUT", "-p", "tcp", "--dport", "" + port, "-j", "DROP")
                    .ok();
        }
    }

    /** Packets the DROP rules for the port matched, as iptables -L -v -x reports them. */
    public static long droppedPackets(String netns, int port) {
        long packets = 0;
        for (String tool : List.of("iptables", "ip6tables")) {
            String out = Cmd.run("ip", "netns", "exec", netns, tool, "-w", "-L", "INPUT", "-v", "-x", "-n").ok().out();
            for (String line : out.lines().toList()) {
                if (line.contains("DROP") && line.contains("dpt:" + port)) {
                    packets += Long.parseLong(line.trim().split("\\s+")[0]);
                }
            }
        }
        return packets;
    }
}
