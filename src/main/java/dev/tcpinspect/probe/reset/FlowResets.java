package dev.tcpinspect.probe.reset;

import dev.tcpinspect.snapshot.Flow;

/** Resets of one flow since the probe was loaded. */
public record FlowResets(Flow flow, long sent, long received) {
    public long total() {
        return sent + received;
    }
}
