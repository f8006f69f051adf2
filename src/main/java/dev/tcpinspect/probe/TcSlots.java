package dev.tcpinspect.probe;

import dev.tcpinspect.ebpf.Features;
import dev.tcpinspect.ebpf.Link;
import dev.tcpinspect.ebpf.Program;
import dev.tcpinspect.ebpf.ProgramInfo;
import dev.tcpinspect.ebpf.TcDirection;
import dev.tcpinspect.ebpf.TcFilterId;
import dev.tcpinspect.ebpf.TcFilters;
import java.util.List;
import java.util.Optional;

/**
 * How tcpinspect's packet programs attach to TC. Where the kernel has tcx (6.6 and later), as tcx
 * links: no clsact qdisc, no cls_bpf dispatch per program (perf, short connections: the five filters'
 * dispatch cost ~3.4 us per connection as empty programs, tcx links ~1.3 us), and the kernel detaches
 * them with the process, even after {@code kill -9}. Elsewhere, or with {@link Mode#CLSACT}, as
 * cls_bpf filters in fixed slots of the clsact hooks, one per packet program, with these rules: a
 * slot holding a program of ours (a leftover of a killed tcpinspect) is replaced in place, never
 * stacked; a slot holding anyone else's program is refused, never replaced.
 */
public final class TcSlots {
    /** A filter id on one hook. */
    public record Slot(TcFilterId id, TcDirection direction) {}

    /** How to attach: tcx links where the kernel has them, else clsact filters; or only one of them. */
    public enum Mode { AUTO, TCX, CLSACT }

    /** Every tcpinspect program name starts with this. */
    public static final String PROGRAM_PREFIX = "tcpi_";
    public static final Slot PACKETS = new Slot(new TcFilterId(0x7C1, 1), TcDirection.INGRESS);
    public static final Slot HANDSHAKE = new Slot(new TcFilterId(0x7C2, 1), TcDirection.INGRESS);
    public static final Slot DUPACK = new Slot(new TcFilterId(0x7C3, 1), TcDirection.INGRESS);
    public static final Slot ZEROWIN_IN = new Slot(new TcFilterId(0x7C4, 1), TcDirection.INGRESS);
    public static final Slot ZEROWIN_OUT = new Slot(new TcFilterId(0x7C5, 1), TcDirection.EGRESS);
    public static final List<Slot> ALL = List.of(PACKETS, HANDSHAKE, DUPACK, ZEROWIN_IN, ZEROWIN_OUT);

    private static volatile Mode mode = Mode.AUTO;

    private TcSlots() {}

    /**
     * How packet programs attach from now on, for the whole process (the CLI's --tc-mode, set before
     * anything is attached). Refuses tcx on a kernel without it, so that nothing is attached yet.
     */
    public static void mode(Mode chosen) {
        if (chosen == Mode.TCX && !Features.tcx()) {
            throw new IllegalStateException("--tc-mode tcx: this kernel has no tcx links (they came with 6.6);"
                    + " use --tc-mode auto or clsact");
        }
        mode = chosen;
    }

    /** The tcpinspect program in the slot on the interface, if one is there. */
    public static Optional<ProgramInfo> owned(int ifindex, Slot slot) {
        return TcFilters.query(ifindex, slot.direction(), slot.id()).filter(info -> info.name().startsWith(PROGRAM_PREFIX));
    }

    /** Attaches (in the calling thread's namespace) as tcx link or clsact filter, as described above. */
    public static Link attach(Program program, String ifname, int ifindex, Slot slot) {
        boolean leftover = owned(ifindex, slot).isPresent();
        if (mode == Mode.TCX || (mode == Mode.AUTO && Features.tcx())) {
            Link link = program.attachTcx(ifindex, slot.direction());
            if (leftover) {
                // A killed tcpinspect that attached with clsact left its filter here: a new start removes it.
                TcFilters.detach(ifindex, slot.direction(), slot.id());
            }
            return link;
        }
        if (!leftover && TcFilters.query(ifindex, slot.direction(), slot.id()).isPresent()) {
            throw new IllegalStateException("interface " + ifname + " already has a tc filter with handle "
                    + slot.id().handle() + " prio " + slot.id().priority() + " that tcpinspect did not put there");
        }
        return program.attachTc(ifindex, slot.direction(), slot.id(), leftover);
    }
}
