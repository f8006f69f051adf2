package dev.tcpinspect.probe.dupack;

import dev.tcpinspect.snapshot.Flow;

/** Duplicate ACKs received on one flow since the probe was loaded. */
public record FlowDupAcks(Flow flow, long dupacks) {}
