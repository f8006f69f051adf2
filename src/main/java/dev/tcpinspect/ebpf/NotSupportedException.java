package dev.tcpinspect.ebpf;

/**
 * The running kernel lacks something a caller needs (a hook, a map type, tcx links): not a failure
 * of the call, a missing feature, told apart from other errors as cilium/ebpf's ErrNotSupported is.
 */
public final class NotSupportedException extends RuntimeException {
    private final String feature;

    public NotSupportedException(String feature, String detail) {
        super(feature + " is not supported by this kernel" + (detail == null ? "" : " (" + detail + ")"));
        this.feature = feature;
    }

    /** What is missing, as Features names it ("tcx", "tp_btf"). */
    public String feature() {
        return feature;
    }
}
