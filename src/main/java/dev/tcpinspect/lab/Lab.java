package dev.tcpinspect.lab;

import dev.tcpinspect.os.Netns;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A two-host lab: network namespaces "server" and "client" joined by a veth pair, with IPv4
 * addresses from the benchmarking range 198.18.0.0/15 and IPv6 from a ULA prefix. Names are unique
 * per process and carry its pid, so {@link #removeStale()} can clear labs whose creator died
 * (kill -9 included). Closing removes the namespaces, which removes the veth pair with them.
 */
public final class Lab implements AutoCloseable {
    /** Every lab namespace starts with this; nothing else is ever touched by lab clean-up. */
    public static final String PREFIX = "tcpi-lab-";
    public static final String SERVER_V4 = "198.18.0.1";
    public static final String CLIENT_V4 = "198.18.0.2";
    public static final String SERVER_V6 = "fd00:7c1::1";
    public static final String CLIENT_V6 = "fd00:7c1::2";

    private static final AtomicInteger COUNTER = new AtomicInteger();

    private final String id;
    private final String serverNs;
    private final String clientNs;
    private final String serverIf;
    private final String clientIf;
    private final List<String> vlanInterfaces = new ArrayList<>();
    private Netns server;
    private Netns client;
    private boolean closed;

    private Lab(String id) {
        this.id = id;
        this.serverNs = PREFIX + id + "-srv";
        this.clientNs = PREFIX + id + "-cli";
        // Interface names are limited to 15 characters.
        this.serverIf = "ti" + id + "s";
        this.clientIf = "ti" + id + "c";
    }

    /** Creates a new lab; on any failure removes what it made. */
    public static Lab create() {
        removeStale();
        String id = Long.toString(ProcessHandle.current().pid(), 36) + "x" + COUNTER.incrementAndGet();
        Lab lab = new Lab(id);
        try {
            lab.build();
            return lab;
        } catch (RuntimeException e) {
            lab.close();
            throw e;
        }
    }

    private void build() {
        Commands.run("ip", "netns", "add", serverNs);
        Commands.run("ip", "netns", "add", clientNs);
        Commands.run("ip", "link", "add", serverIf, "netns", serverNs, "type", "veth", "peer", "name", clientIf,
                "netns", clientNs);
        configure(serverNs, serverIf, SERVER_V4, SERVER_V6);
        configure(clientNs, clientIf, CLIENT_V4, CLIENT_V6);
        server = Netns.named(serverNs);
        client = Netns.named(clientNs);
    }

    private static void configure(String ns, String ifname, String v4, String v6) {
        Commands.run("ip", "-n", ns, "link", "set", "lo", "up");
        Commands.run("ip", "-n", ns, "addr", "add", v4 + "/24", "dev", ifname);
        // nodad: usable at once, no duplicate address detection delay.
        Commands.run("ip", "-n", ns, "addr", "add", v6 + "/64", "dev", ifname, "nodad");
        Commands.run("ip", "-n", ns, "link", "set", ifname, "up");
    }

    /**
     * Steers every packet arriving at the server's interface to the first CPU (RPS), so that every
     * observer there, a capture's tap as much as a TC program, sees the segments of a flow in one
     * order. Without it, segments of one flow sent from both CPUs can be handled on both at once and
     * reach two observers in different orders, and a comparison that depends on order (is this ACK
     * the same as the one before it?) can differ by one.
     */
    public void serverIngressOnOneCpu() {
        Commands.run("ip", "netns", "exec", serverNs, "sh", "-c",
                "echo 1 > /sys/class/net/" + serverIf + "/queues/rx-0/rps_cpus");
    }

    /**
     * Adds an 802.1Q interface with the given id on both ends, addressed 198.18.ID.1/.2 and
     * fd00:7c1:ID::1/::2; returns the server-side VLAN interface name.
     */
    public String addVlan(int vlanId) {
        String s = serverIf + "." + vlanId;
        String c = clientIf + "." + vlanId;
        Commands.run("ip", "-n", serverNs, "link", "add", "link", serverIf, "name", s, "type", "vlan", "id",
                Integer.toString(vlanId));
        Commands.run("ip", "-n", clientNs, "link", "add", "link", clientIf, "name", c, "type", "vlan", "id",
                Integer.toString(vlanId));
        configure(serverNs, s, vlanV4(vlanId, 1), vlanV6(vlanId, 1));
        configure(clientNs, c, vlanV4(vlanId, 2), vlanV6(vlanId, 2));
        vlanInterfaces.add(s);
        return s;
    }

    public static String vlanV4(int vlanId, int host) {
        return "198.18." + vlanId + "." + host;
    }

    public static String vlanV6(int vlanId, int host) {
        return "fd00:7c1:" + Integer.toHexString(vlanId) + "::" + host;
    }

    public String serverNs() { return serverNs; }
    public String clientNs() { return clientNs; }
    public String serverIf() { return serverIf; }
    public String clientIf() { return clientIf; }
    public Netns server() { return server; }
    public Netns client() { return client; }

    /** Removes lab namespaces left by processes that no longer run. */
    public static void removeStale() {
        String list;
        try {
            list = Commands.run("ip", "netns", "list");
        } catch (IllegalStateException e) {
            return;
        }
        for (String line : list.split("\n")) {
            String name = line.split(" ")[0].trim();
            if (!name.startsWith(PREFIX)) {
                continue;
            }
            java.util.OptionalLong pid = ownerPid(name);
            if (pid.isPresent() && ProcessHandle.of(pid.getAsLong()).isEmpty()) {
                deleteNamespace(name);
            }
        }
    }

    /**
     * The process that made a lab namespace, from its name "tcpi-lab-PIDxN-srv" (PID in base 36).
     * The pid's own digits may include an x (16629 is "ctx"); the decimal counter and the suffix
     * never do, so the separator is the last x.
     */
    static java.util.OptionalLong ownerPid(String namespace) {
        if (!namespace.startsWith(PREFIX)) {
            return java.util.OptionalLong.empty();
        }
        String rest = namespace.substring(PREFIX.length());
        int x = rest.lastIndexOf('x');
        if (x <= 0) {
            return java.util.OptionalLong.empty();
        }
        try {
            return java.util.OptionalLong.of(Long.parseLong(rest.substring(0, x), 36));
        } catch (NumberFormatException e) {
            return java.util.OptionalLong.empty(); // not one of ours after all
        }
    }

    private static void deleteNamespace(String name) {
        try {
            // Processes still inside (a tcpdump, a server) would keep the namespace alive.
            String pids = Commands.run("ip", "netns", "pids", name).strip();
            for (String pid : pids.isEmpty() ? new String[0] : pids.split("\\s+")) {
                ProcessHandle.of(Long.parseLong(pid)).ifPresent(ProcessHandle::destroyForcibly);
            }
        } catch (RuntimeException e) {
            // nothing inside, or already gone
        }
        try {
            Commands.run("ip", "netns", "del", name);
        } catch (IllegalStateException e) {
            // already gone
        }
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (server != null) {
            server.close();
        }
        if (client != null) {
            client.close();
        }
        deleteNamespace(clientNs);
        deleteNamespace(serverNs);
    }
}
