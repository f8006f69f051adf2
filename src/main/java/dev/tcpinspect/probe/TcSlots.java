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
 * The tc filter slots tcpinspect uses on clsact ingress, one per packet probe, and the rules for
 * using them: a slot holding a program of ours (a leftover of a killed tcpinspect) is replaced in
 * place, never stacked; a slot holding anyone else's program is refused, never replaced.
 */
public final class TcSlots {
    /** Every tcpinspect program name starts with this. */
    public static final String PROGRAM_PREFIX = "tcpi_";
    public static final TcFilterId PACKETS = new TcFilterId(0x7C1, 1);
    public static final TcFilterId HANDSHAKE = new TcFilterId(0x7C2, 1);
    public static final TcFilterId DUPACK = new TcFilterId(0x7C3, 1);
    public static final List<TcFilterId> ALL = List.of(PACKETS, HANDSHAKE, DUPACK);

    private TcSlots() {}

    /** The tcpinspect program in the slot on the interface's ingress, if one is there. */
    public static Optional<ProgramInfo> owned(int ifindex, TcFilterId slot) {
        return TcFilters.query(ifindex, TcDirection.INGRESS, slot).filter(info -> info.name().startsWith(PROGRAM_PREFIX));
    }

    /** Attaches to the slot on ingress (in the calling thread's namespace) following the rules above. */
    public static Link attach(Program program, String ifname, int ifindex, TcFilterId slot) {
        boolean leftover = owned(ifindex, slot).isPresent();
        if (!leftover && TcFilters.query(ifindex, TcDirection.INGRESS, slot).isPresent()) {
            throw new IllegalStateException("interface " + ifname + " already has a tc filter with handle "
                    + slot.handle() + " prio " + slot.priority() + " that tcpinspect did not put there");
        }
        return program.attachTc(ifindex, TcDirection.INGRESS, slot, leftover);
    }
}
