package dev.tcpinspect.cli;

import dev.tcpinspect.ebpf.AttachException;
import dev.tcpinspect.ebpf.NotSupportedException;
import dev.tcpinspect.os.Errno;

/**
 * What to do about a failure, in the command line's own terms (its options): the layers below
 * raise typed errors and never name a flag.
 */
final class Hints {
    private Hints() {}

    /** A hint to add to the failure's line, or null when the failure says enough. */
    static String forFailure(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (t instanceof NotSupportedException n) {
                return switch (n.feature()) {
                    case "tcx" -> "use --tc-mode auto or clsact";
                    case "tp_btf" -> "see tcpinspect doctor, or leave those probes out with --probe";
                    default -> "see tcpinspect doctor";
                };
            }
            if (t instanceof AttachException a && a.hook() == AttachException.Hook.XDP) {
                if (a.errno() == Errno.EBUSY || a.errno() == Errno.EEXIST) {
                    return "the interface already has an XDP program (ip link show names it): detach it first,"
                            + " or, for a watch, watch without --xdp";
                }
                if (a.errno() == Errno.EOPNOTSUPP || a.errno() == Errno.EINVAL) {
                    return "the driver may have no native XDP: try --xdp-mode generic";
                }
            }
        }
        return null;
    }
}
