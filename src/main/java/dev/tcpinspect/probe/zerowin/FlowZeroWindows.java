package dev.tcpinspect.probe.zerowin;

import dev.tcpinspect.snapshot.Flow;

/** Zero-window closures of one flow in one direction, and how long they lasted in all. */
public record FlowZeroWindows(Flow flow, boolean sent, long closures, long closedNanos) {}
