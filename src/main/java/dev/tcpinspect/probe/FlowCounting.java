package dev.tcpinspect.probe;

/**
 * A probe that counts per flow in the kernel's drained tables (bpf/include/flowtable.h). Those hold
 * a limited number of new flows between two drains, so a watch drains them every second whatever
 * its interval; reading the probe's counts drains them too.
 */
public interface FlowCounting {
    /** Empties the kernel's idle table into the totals (see {@link FlowTable#drain}). */
    void drainFlows();
}
