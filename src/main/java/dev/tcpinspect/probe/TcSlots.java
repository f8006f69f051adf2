package dev.tcpinspect.probe;

import dev.tcpinspect.ebpf.Link;
import dev.tcpinspect.ebpf.Program;
import dev.tcpinspect.ebpf.ProgramInfo;
import dev.tcpinspect.ebpf.TcDirection;
import dev.tcpinspect.ebpf.TcFilterId;
import dev.tcpinspect.ebpf.TcFilters;
import java.util.List;
import java.util.Optional;

/**
 * The tc filter slots tcpinspect uses on clsact hooks, one per packet program, and the rules for
 * using them: a slot holding a program of ours (a leftover of a killed tcpinspect) is replaced in
 * place, never stacked; a slot holding anyone else's program is refused, never replaced.
 */
public final class TcSlots {
    /** A filter id on one hook. */
    public record Slot(TcFilterId id, TcDirection direction) {}

    /** Every tcpinspect program name starts with this. */
    public static final String PROGRAM_PREFIX = "tcpi_";
    public static final Slot PACKETS = new Slot(new TcFilterId(0x7C1, 1), TcDirection.INGRESS);
    public static final Slot HANDSHAKE = new Slot(new TcFilterId(0x7C2, 1), TcDirection.INGRESS);
    public static final Slot DUPACK = new Slot(new TcFilterId(0x7C3, 1), TcDirection.INGRESS);
    public static final Slot ZEROWIN_IN = new Slot(new TcFilterId(0x7C4, 1), TcDirection.INGRESS);
    public static final Slot ZEROWIN_OUT = new Slot(new TcFilterId(0x7C5, 1), TcDirection.EGRESS);
    public static final List<Slot> ALL = List.of(PACKETS, HANDSHAKE, DUPACK, ZEROWIN_IN, ZEROWIN_OUT);

    private TcSlots() {}

    /** The tcpinspect program in the slot on the interface, if one is there. */
    public static Optional<ProgramInfo> owned(int ifindex, Slot slot) {
        return TcFilters.query(ifindex, slot.direction(), slot.id()).filter(info -> info.name().startsWith(PROGRAM_PREFIX));
    }

    /** Attaches to the slot (in the calling thread's namespace) following the rules above. */
    public static Link attach(Program program, String ifname, int ifindex, Slot slot) {
        boolean leftover = owned(ifindex, slot).isPresent();
        if (!leftover && TcFilters.query(ifindex, slot.direction(), slot.id()).isPresent()) {
            throw new IllegalStateException("interface " + ifname + " already has a tc filter with handle "
                    + slot.id().handle() + " prio " + slot.id().priority() + " that tcpinspect did not put there");
        }
        return program.attachTc(ifindex, slot.direction(), slot.id(), leftover);
    }
}
