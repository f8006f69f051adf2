package dev.tcpinspect.probe.anomaly;

/** enum anomaly_kind (bpf/probes/anomaly.h), in value order: the first that fits is a segment's kind. */
public enum AnomalyKind {
    NULL("no flags"),
    XMAS("FIN, PSH and URG"),
    SYN_FIN("SYN and FIN"),
    SYN_RST("SYN and RST"),
    RST_FIN("RST and FIN"),
    FIN_NO_ACK("FIN without ACK"),
    URG_ZERO_POINTER("URG with a zero urgent pointer"),
    SYN_DATA("SYN carrying data without a Fast Open cookie"),
    RESERVED_BITS("reserved header bits set"),
    MALFORMED("IP or TCP header sizes impossible");

    private static final AnomalyKind[] VALUES = values();
    private final String meaning;

    AnomalyKind(String meaning) {
        this.meaning = meaning;
    }

    /** The name outputs use: "xmas", "syn_fin", "fin_no_ack". */
    public String label() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }

    /** What the kind is, in words, for --help and the README. */
    public String meaning() {
        return meaning;
    }

    static AnomalyKind of(int value) {
        return value >= 0 && value < VALUES.length ? VALUES[value] : MALFORMED;
    }
}
