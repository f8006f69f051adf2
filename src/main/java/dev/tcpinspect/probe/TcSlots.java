package dev.tcpinspect.probe;

import dev.tcpinspect.ebpf.Features;
import dev.tcpinspect.ebpf.NotSupportedException;
import dev.tcpinspect.ebpf.Program;
import dev.tcpinspect.ebpf.ProgramInfo;
import dev.tcpinspect.ebpf.TcDirection;
import dev.tcpinspect.ebpf.TcFilterId;
import dev.tcpinspect.ebpf.TcFilters;
import dev.tcpinspect.os.Claim;
import java.util.List;
import java.util.Optional;

/**
 * How tcpinspect's packet programs attach to TC. Where the kernel has tcx (6.6 and later), as tcx
 * links: no clsact qdisc, no cls_bpf dispatch (see BENCHMARKS.md), and the kernel detaches them
 * with the process, even after {@code kill -9}. Elsewhere, or with {@link Mode#CLSACT}, as cls_bpf
 * filters in fixed slots of the clsact hooks, one per hook, with these rules: a slot holding a
 * program of ours (a leftover of a killed tcpinspect) is replaced in place, never stacked; a slot
 * holding anyone else's program is refused, never replaced.
 */
public final class TcSlots {
    /** A filter id on one hook. */
    public record Slot(TcFilterId id, TcDirection direction) {}

    /** How to attach: tcx links where the kernel has them, else clsact filters; or only one of them. */
    public enum Mode { AUTO, TCX, CLSACT }

    /** Every tcpinspect program name starts with this. */
    public static final String PROGRAM_PREFIX = "tcpi_";
    public static final Slot INGRESS = new Slot(new TcFilterId(0x7C1, 1), TcDirection.INGRESS);
    public static final Slot EGRESS = new Slot(new TcFilterId(0x7C5, 1), TcDirection.EGRESS);
    /**
     * Every slot tcpinspect ever used, for cleanup: before one program per hook, the packet probes
     * had a filter each at ingress (0x7C2 to 0x7C4).
     */
    public static final List<Slot> ALL = List.of(INGRESS, new Slot(new TcFilterId(0x7C2, 1), TcDirection.INGRESS),
            new Slot(new TcFilterId(0x7C3, 1), TcDirection.INGRESS),
            new Slot(new TcFilterId(0x7C4, 1), TcDirection.INGRESS), EGRESS);

    private static volatile Mode mode = Mode.AUTO;

    private TcSlots() {}

    /**
     * How packet programs attach from now on, for the whole process (set before anything is
     * attached). Refuses tcx on a kernel without it, so that nothing is attached yet.
     */
    public static void mode(Mode chosen) {
        if (chosen == Mode.TCX && !Features.tcx()) {
            throw new NotSupportedException("tcx", "tcx links came with Linux 6.6");
        }
        mode = chosen;
    }

    /** The tcpinspect program in the slot on the interface, if one is there. */
    public static Optional<ProgramInfo> owned(int ifindex, Slot slot) {
        return TcFilters.query(ifindex, slot.direction(), slot.id()).filter(info -> info.name().startsWith(PROGRAM_PREFIX));
    }

    /** The name a running tcpinspect holds for a slot of an interface (in the interface's namespace). */
    public static String claimName(int ifindex, Slot slot) {
        return "tcpinspect/tc/" + ifindex + "/" + slot.direction().name().toLowerCase();
    }

    /**
     * Attaches (in the calling thread's namespace) as tcx link or clsact filter, as described above,
     * and removes what a killed tcpinspect left in the other slots of that hook. With clsact, the
     * slot's claim comes back: hold it as long as the filter is there.
     */
    public static Optional<Claim> attach(Program program, String ifname, int ifindex, Slot slot) {
        boolean leftover = owned(ifindex, slot).isPresent();
        if (mode == Mode.TCX || (mode == Mode.AUTO && Features.tcx())) {
            program.attachTcx(ifindex, slot.direction());
            if (leftover) {
                // A killed tcpinspect that attached with clsact left its filter here: a new start removes
                // it, unless its tcpinspect still runs (it holds the slot's claim).
                try (Claim free = Claim.tryTake(claimName(ifindex, slot)).orElse(null)) {
                    if (free != null) {
                        TcFilters.detach(ifindex, slot.direction(), slot.id());
                    }
                }
            }
            removeOtherLeftovers(ifindex, slot);
            return Optional.empty();
        }
        Claim claim = Claim.tryTake(claimName(ifindex, slot)).orElseThrow(() -> new IllegalStateException("interface "
                + ifname + "'s tc " + slot.direction().name().toLowerCase() + " hook is in use by another running"
                + " tcpinspect (clsact filters): run both with tcx links (--tc-mode auto, Linux 6.6 and later), or"
                + " stop the other first"));
        try {
            if (!leftover && TcFilters.query(ifindex, slot.direction(), slot.id()).isPresent()) {
                throw new IllegalStateException("interface " + ifname + " already has a tc filter with handle "
                        + slot.id().handle() + " prio " + slot.id().priority() + " that tcpinspect did not put there");
            }
            program.attachTc(ifindex, slot.direction(), slot.id(), leftover);
            removeOtherLeftovers(ifindex, slot);
            return Optional.of(claim);
        } catch (RuntimeException e) {
            claim.close();
            throw e;
        }
    }

    /** Filters of ours in the hook's other (older) slots: leftovers of a killed tcpinspect of an earlier version. */
    private static void removeOtherLeftovers(int ifindex, Slot slot) {
        for (Slot other : ALL) {
            if (other.direction() == slot.direction() && !other.equals(slot) && owned(ifindex, other).isPresent()) {
                TcFilters.detach(ifindex, other.direction(), other.id());
            }
        }
    }
}
