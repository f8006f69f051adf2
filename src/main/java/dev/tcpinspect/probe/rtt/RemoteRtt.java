package dev.tcpinspect.probe.rtt;

import java.net.InetAddress;

/** RTT toward one remote address: samples, last, smallest and largest srtt, and the last cwnd. */
public record RemoteRtt(long netns, InetAddress address, long samples, long lastSrttMicros, long minSrttMicros,
                        long maxSrttMicros, long lastCwnd) {}
