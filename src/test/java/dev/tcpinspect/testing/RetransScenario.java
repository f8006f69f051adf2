package dev.tcpinspect.testing;

import dev.tcpinspect.lab.Lab;

/**
 * The lab set-up the retransmit tests share: a bulk port whose packets the client loses 8% of (veth
 * carries 64 KB GSO packets whole, so a transfer is only a few dozen packets), and a
 * handshake port whose first SYN-ACK the client loses, so the server retransmits both kinds; plus
 * the bpftrace script that counts the same tracepoints in chosen namespaces.
 */
public final class RetransScenario {
    public static final int BULK_PORT = 8080;
    public static final int HANDSHAKE_PORT = 8081;

    private RetransScenario() {}

    /** Adds ("-A") or removes ("-D") the client-side loss. */
    public static void clientLoss(Lab lab, String action) {
        Loss.input(lab.clientNs(), action, Loss.randomFromPort(BULK_PORT, 0.08));
        Loss.input(lab.clientNs(), action, Loss.everyOtherSynAckFromPort(HANDSHAKE_PORT));
    }

    /** bpftrace counting tcp_retransmit_skb as @data and tcp_retransmit_synack as @synack in these namespaces. */
    public static String bpftraceScript(long... netns) {
        StringBuilder filter = new StringBuilder();
        for (long n : netns) {
            filter.append(filter.isEmpty() ? "" : " || ")
                    .append("((struct sock *)args->skaddr)->__sk_common.skc_net.net->ns.inum == ").append(n);
        }
        return "tracepoint:tcp:tcp_retransmit_skb /" + filter + "/ { @data = count(); } "
                + "tracepoint:tcp:tcp_retransmit_synack /" + filter + "/ { @synack = count(); }";
    }
}
