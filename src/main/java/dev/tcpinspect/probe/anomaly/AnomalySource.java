package dev.tcpinspect.probe.anomaly;

import java.net.InetAddress;

/** A source that sent segments of one anomalous kind, with how many (since its entry was made). */
public record AnomalySource(InetAddress address, AnomalyKind kind, long packets) {}
