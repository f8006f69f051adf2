package dev.tcpinspect.ebpf;

/** The clsact hook a TC program runs at (enum bpf_tc_attach_point). */
public enum TcDirection {
    INGRESS(1), EGRESS(2);

    final int attachPoint;

    TcDirection(int attachPoint) {
        this.attachPoint = attachPoint;
    }
}
