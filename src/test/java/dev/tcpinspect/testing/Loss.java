package dev.tcpinspect.testing;

import java.util.ArrayList;
import java.util.List;

/** Packet loss injected with iptables' statistic match inside a lab namespace (this kernel has no netem). */
public final class Loss {
    private Loss() {}

    /** Adds ("-A") or deletes ("-D") an INPUT rule in both iptables and ip6tables. */
    public static void input(String netns, String action, String... match) {
        for (String tool : new String[] {"iptables", "ip6tables"}) {
            List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", netns, tool, "-w", action, "INPUT"));
            command.addAll(List.of(match));
            command.add("-j");
            command.add("DROP");
            Cmd.run(command, 30).ok();
        }
    }

    /** A random fraction of the TCP packets coming from a port. */
    public static String[] randomFromPort(int port, double probability) {
        return new String[] {"-p", "tcp", "--sport", Integer.toString(port), "-m", "statistic", "--mode", "random",
            "--probability", Double.toString(probability)};
    }

    /**
     * The nth packet coming from a port (counting from 1), once: a loss that happens in every run, where a
     * random one may miss a short transfer altogether.
     */
    public static String[] nthFromPort(int port, int n) {
        return new String[] {"-p", "tcp", "--sport", Integer.toString(port), "-m", "statistic", "--mode", "nth",
            "--every", "1000000000", "--packet", Integer.toString(n - 1)};
    }

    /** Every other SYN (no ACK) going to a port: with one connection at a time, each one's first SYN. */
    public static String[] everyOtherSynToPort(int port) {
        return new String[] {"-p", "tcp", "--dport", Integer.toString(port), "--tcp-flags", "SYN,ACK", "SYN",
            "-m", "statistic", "--mode", "nth", "--every", "2", "--packet", "0"};
    }

    /** Every other SYN-ACK coming from a port (so the first of each handshake is lost). */
    public static String[] everyOtherSynAckFromPort(int port) {
        return new String[] {"-p", "tcp", "--sport", Integer.toString(port), "--tcp-flags", "SYN,ACK", "SYN,ACK",
            "-m", "statistic", "--mode", "nth", "--every", "2", "--packet", "0"};
    }
}
