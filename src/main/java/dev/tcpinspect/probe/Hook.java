package dev.tcpinspect.probe;

import java.util.List;

/**
 * The hooks of tcpinspect's object (bpf/tcpinspect.bpf.c): one program per hook, shared by every
 * probe that runs there. A probe names the hooks its handlers need; a {@link ProbeSet} loads and
 * attaches exactly the hooks its probes need, and nothing else.
 */
public enum Hook {
    /** Packets arriving on the watched interfaces: TC ingress, or XDP with {@link ProbeSet.Options#xdp}. */
    INGRESS(Attach.INTERFACE, null, false, "tcpi_tc_ingress"),
    /** Packets leaving by the watched interfaces: TC egress. */
    EGRESS(Attach.INTERFACE, null, false, "tcpi_tc_egress"),
    /** sock:inet_sock_set_state, attached twice (bpf/lib/twin.h): first copy, then second. */
    STATE_CHANGE(Attach.TWIN, "sock:inet_sock_set_state", true, "tcpi_state", "tcpi_state_twin"),
    SEND_RESET(Attach.TRACEPOINT, "tcp:tcp_send_reset", true, "tcpi_send_reset"),
    RECEIVE_RESET(Attach.TRACEPOINT, "tcp:tcp_receive_reset", true, "tcpi_receive_reset"),
    RETRANSMIT(Attach.TRACEPOINT, "tcp:tcp_retransmit_skb", true, "tcpi_retransmit"),
    RETRANSMIT_SYNACK(Attach.TRACEPOINT, "tcp:tcp_retransmit_synack", true, "tcpi_retransmit_synack"),
    TCP_PROBE(Attach.TRACEPOINT, "tcp:tcp_probe", true, "tcpi_tcp_probe"),
    KFREE_SKB(Attach.TRACEPOINT, "skb:kfree_skb", true, "tcpi_kfree_skb"),
    RCVQUEUE_FULL(Attach.TRACEPOINT, "sock:sock_rcvqueue_full", true, "tcpi_rcvqueue_full"),
    /** A socket filter on sockets its probe takes from a process (watch --socket): the probe attaches it. */
    SOCKET(Attach.SOCKET, null, false, "tcpi_socket_filter");

    /** The XDP program that takes INGRESS's place with --xdp. */
    public static final String XDP_INGRESS_PROGRAM = "tcpi_xdp_ingress";
    /** The cgroup_skb programs that take INGRESS's and EGRESS's places with a cgroup scope (watch --cgroup). */
    public static final String CGROUP_INGRESS_PROGRAM = "tcpi_cgroup_ingress";
    public static final String CGROUP_EGRESS_PROGRAM = "tcpi_cgroup_egress";
    /** The XDP program that runs behind another's hand-off (XdpHandoff) instead of attaching. */
    public static final String XDP_BEHIND_PROGRAM = "tcpi_xdp_behind";
    /** Its maps: created only when it runs. */
    static final String XDP_BEHIND_MAP_PREFIX = "xdp_behind_";
    /** Its constant naming the interfaces it watches (XDP_BEHIND_MAX_INTERFACES in bpf/tcpinspect.bpf.c). */
    static final String XDP_BEHIND_INTERFACES = "xdp_behind_ifindexes";
    static final int XDP_BEHIND_MAX_INTERFACES = 16;
    /** The parse slot it shares with the program handing packets on (bpf/lib/handoff.h). */
    static final String XDP_BEHIND_PARSE_SLOT = "xdp_behind_handoff";

    /** How a hook's programs attach. */
    enum Attach {
        /** Once per watched interface. */
        INTERFACE,
        /** Where the program's section says (tp_btf/..., tracepoint/...). */
        TRACEPOINT,
        /** A twin pair on one tracepoint, in order. */
        TWIN,
        /** On sockets: the probe that needs it attaches it to the sockets it holds, when bound. */
        SOCKET,
    }

    final Attach attach;
    final List<String> programs;
    private final String tracepoint;
    private final boolean btfTyped;

    Hook(Attach attach, String tracepoint, boolean btfTyped, String... programs) {
        this.attach = attach;
        this.tracepoint = tracepoint;
        this.btfTyped = btfTyped;
        this.programs = List.of(programs);
    }

    /** The tracepoint ("category:name"), or null for a packet hook. */
    public String tracepoint() {
        return tracepoint;
    }

    /** Whether it is a BTF-typed tracepoint (tp_btf, kernel 5.5+ with BTF). */
    public boolean btfTyped() {
        return btfTyped;
    }

    /** The programs of this hook, in the order they attach. */
    public List<String> programs() {
        return programs;
    }

    /** Maps that exist for this hook's handlers, whichever probes run there, are named with this prefix. */
    String mapPrefix() {
        return switch (this) {
            case STATE_CHANGE -> "state_";
            default -> null;
        };
    }

    public boolean isPacketHook() {
        return attach == Attach.INTERFACE;
    }
}
