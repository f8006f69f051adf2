package dev.tcpinspect.probe.drops;

import dev.tcpinspect.snapshot.Flow;

/** Drops of one flow for one reason since the probe was loaded. */
public record FlowDrops(Flow flow, String reason, long count) {}
