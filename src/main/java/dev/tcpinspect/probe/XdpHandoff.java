package dev.tcpinspect.probe;

import dev.tcpinspect.ebpf.Program;
import java.util.List;
import java.util.Set;

/**
 * Another XDP program already on some of the watched interfaces that hands each packet it lets
 * through, parsed, to the probes' XDP program (bpf/lib/handoff.h): one XDP program and one parse
 * per interface, where attaching a second XDP program would be refused. The probes then see what
 * that program passed, as they would at TC behind it. A {@link ProbeSet} given one claims its
 * observer slot before loading, shares its parse slot, installs its program and, closing, takes it
 * out again.
 */
public interface XdpHandoff extends AutoCloseable {
    /** The watched interfaces it covers: the probes attach no XDP program of their own there. */
    Set<String> interfaces();

    /** What hands the packets on, for lines and the ready event's hook ("enforcer"). */
    String name();

    /**
     * Takes the observer slot for this process; refused (IllegalStateException naming who holds
     * it) while another live process does. A holder that has died is replaced.
     */
    void claim();

    /** The per-CPU map its program writes each packet's parse into, for the probes' object to reuse. */
    int parseSlotFd();

    /** Puts the probes' program in the observer slot: from now on it sees every packet passed. */
    void install(Program observer);

    /** Covered interfaces whose handing-off program has gone since the last call (its owner stopped it). */
    List<String> ended();

    /** Takes the probes' program out of the slot (when it is still theirs) and gives the claim back. */
    @Override
    void close();
}
