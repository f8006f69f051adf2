package dev.tcpinspect.probe;

import dev.tcpinspect.probe.conn.ConnCounts;
import dev.tcpinspect.probe.drops.DropCounts;
import dev.tcpinspect.probe.drops.FlowDrops;
import dev.tcpinspect.probe.reset.FlowResets;
import dev.tcpinspect.probe.reset.ResetCounts;
import dev.tcpinspect.probe.retrans.FlowRetransmits;
import dev.tcpinspect.probe.retrans.RetransCounts;
import dev.tcpinspect.probe.syncount.PacketCounts;
import dev.tcpinspect.probe.dupack.DupAckCounts;
import dev.tcpinspect.probe.dupack.FlowDupAcks;
import dev.tcpinspect.probe.handshake.HandshakeStats;
import dev.tcpinspect.probe.hist.LogLinearHistogram;
import dev.tcpinspect.probe.rtt.RemoteRtt;
import dev.tcpinspect.probe.rtt.RttStats;
import dev.tcpinspect.probe.zerowin.FlowZeroWindows;
import dev.tcpinspect.probe.zerowin.ZeroWindowCounts;
import java.util.List;
import java.util.Map;

/**
 * What the running probes counted, cumulative or over a window; a probe's part is null when it is
 * not running.
 *
 * @param packets the packet counter's counts
 * @param retrans retransmission totals
 * @param topRetransmits flows with the most retransmits (cumulative; empty in a window)
 * @param resets reset totals
 * @param topResets flows with the most resets (cumulative; empty in a window)
 * @param drops drop totals by reason
 * @param topDrops flow and reason pairs with the most drops (cumulative; empty in a window)
 * @param connections connection lifecycle totals
 * @param handshake handshake latency histograms
 * @param handshakeByPort accepted connections' handshake latency per local port (cumulative; empty in a window)
 * @param dupacks duplicate ACK totals
 * @param topDupAcks flows with the most duplicate ACKs (cumulative; empty in a window)
 * @param zeroWindows zero-window totals
 * @param topZeroWindows flows with the most zero-window closures (cumulative; empty in a window)
 * @param rtt smoothed RTT samples
 * @param rttRemotes remote addresses with the most RTT samples (cumulative; empty in a window)
 * @param runsSkipped per running tracepoint probe, runs the kernel skipped that no twin made up for
 */
public record Reading(PacketCounts packets, RetransCounts retrans, List<FlowRetransmits> topRetransmits,
                      ResetCounts resets, List<FlowResets> topResets, DropCounts drops, List<FlowDrops> topDrops,
                      ConnCounts connections, HandshakeStats handshake,
                      Map<Integer, LogLinearHistogram> handshakeByPort, DupAckCounts dupacks,
                      List<FlowDupAcks> topDupAcks, ZeroWindowCounts zeroWindows,
                      List<FlowZeroWindows> topZeroWindows, RttStats rtt, List<RemoteRtt> rttRemotes,
                      Map<String, Long> runsSkipped) {
    public Reading {
        topRetransmits = topRetransmits == null ? List.of() : List.copyOf(topRetransmits);
        topResets = topResets == null ? List.of() : List.copyOf(topResets);
        topDrops = topDrops == null ? List.of() : List.copyOf(topDrops);
        handshakeByPort = handshakeByPort == null ? Map.of() : Map.copyOf(handshakeByPort);
        topDupAcks = topDupAcks == null ? List.of() : List.copyOf(topDupAcks);
        topZeroWindows = topZeroWindows == null ? List.of() : List.copyOf(topZeroWindows);
        rttRemotes = rttRemotes == null ? List.of() : List.copyOf(rttRemotes);
        runsSkipped = runsSkipped == null ? Map.of() : java.util.Collections.unmodifiableMap(new java.util.TreeMap<>(runsSkipped));
    }

    /** Counts in this reading that were not yet in {@code earlier}; the flow lists are this one's. */
    public Reading minus(Reading earlier) {
        return new Reading(packets == null ? null : packets.minus(earlier.packets),
                retrans == null ? null : retrans.minus(earlier.retrans), topRetransmits,
                resets == null ? null : resets.minus(earlier.resets), topResets,
                drops == null ? null : drops.minus(earlier.drops), topDrops,
                connections == null ? null : connections.minus(earlier.connections),
                handshake == null ? null : handshake.minus(earlier.handshake), handshakeByPort,
                dupacks == null ? null : dupacks.minus(earlier.dupacks), topDupAcks,
                zeroWindows == null ? null : zeroWindows.minus(earlier.zeroWindows), topZeroWindows,
                rtt == null ? null : rtt.minus(earlier.rtt), rttRemotes, minus(runsSkipped, earlier.runsSkipped));
    }

    private static Map<String, Long> minus(Map<String, Long> now, Map<String, Long> earlier) {
        Map<String, Long> d = new java.util.TreeMap<>();
        now.forEach((probe, n) -> d.put(probe, n - earlier.getOrDefault(probe, 0L)));
        return d;
    }
}
