package dev.tcpinspect.output;

import dev.tcpinspect.probe.Reading;
import dev.tcpinspect.probe.conn.ConnCounts;
import dev.tcpinspect.probe.conn.ConnEvent;
import dev.tcpinspect.probe.drops.DropCounts;
import dev.tcpinspect.probe.dupack.DupAckCounts;
import dev.tcpinspect.probe.rtt.RemoteRtt;
import dev.tcpinspect.probe.rtt.RttEvent;
import dev.tcpinspect.probe.rtt.RttStats;
import dev.tcpinspect.probe.zerowin.FlowZeroWindows;
import dev.tcpinspect.probe.zerowin.ZeroWindowCounts;
import dev.tcpinspect.probe.zerowin.ZeroWindowEvent;
import dev.tcpinspect.probe.dupack.DupAckEvent;
import dev.tcpinspect.probe.dupack.FlowDupAcks;
import dev.tcpinspect.probe.handshake.HandshakeEvent;
import dev.tcpinspect.probe.handshake.HandshakeStats;
import dev.tcpinspect.probe.hist.LogLinearHistogram;
import dev.tcpinspect.probe.drops.DropEvent;
import dev.tcpinspect.probe.drops.FlowDrops;
import dev.tcpinspect.probe.reset.FlowResets;
import dev.tcpinspect.probe.reset.ResetCounts;
import dev.tcpinspect.probe.reset.ResetEvent;
import dev.tcpinspect.probe.retrans.FlowRetransmits;
import dev.tcpinspect.probe.retrans.RetransCounts;
import dev.tcpinspect.probe.retrans.RetransmitEvent;
import dev.tcpinspect.probe.syncount.PacketCounts;
import java.io.PrintStream;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/** A table of per-interval counts, a header every 20 rows, and a summary block at the end. */
public final class TextPresenter implements Presenter {
    private static final DateTimeFormatter CLOCK = DateTimeFormatter.ofPattern("HH:mm:ss").withZone(ZoneOffset.UTC);
    private static final String PACKETS = "%10s %8s %8s %8s %8s %10s %9s";
    private static final int TOP_PORTS = 5;
    private final PrintStream out;
    private int rows;

    public TextPresenter(PrintStream out) {
        this.out = out;
    }

    @Override
    public synchronized void ready(Instant time, List<String> interfaces, String hook, List<String> probes) {
        out.printf("Watching incoming TCP on %s (%s; probes: %s). Ctrl-C to stop.%n", String.join(", ", interfaces),
                hook, String.join(", ", probes));
        out.flush();
    }

    @Override
    public synchronized void interval(Instant time, Duration length, Reading d) {
        PacketCounts p = d.packets();
        RetransCounts r = d.retrans();
        if (rows++ % 20 == 0) {
            StringBuilder header = new StringBuilder(String.format("%-8s", "UTC"));
            if (p != null) {
                header.append(' ').append(String.format(PACKETS, "TCP", "SYN", "SYN-ACK", "FIN", "RST", "PURE-ACK",
                        "MALFORMED"));
            }
            if (d.connections() != null) {
                header.append(String.format(" %8s %8s %8s", "ACCEPTED", "OPENED", "CLOSED"));
            }
            if (d.handshake() != null) {
                header.append(String.format(" %10s", "HS-P50-MS"));
            }
            if (r != null) {
                header.append(String.format(" %8s", "RETRANS"));
            }
            if (d.resets() != null) {
                header.append(String.format(" %8s %8s", "RST-OUT", "RST-IN"));
            }
            if (d.drops() != null) {
                header.append(String.format(" %8s", "DROPS"));
            }
            if (d.dupacks() != null) {
                header.append(String.format(" %8s", "DUPACKS"));
            }
            if (d.zeroWindows() != null) {
                header.append(String.format(" %8s %8s", "ZWIN-IN", "ZWIN-OUT"));
            }
            if (d.rtt() != null) {
                header.append(String.format(" %11s", "RTT-P50-MS"));
            }
            if (p != null) {
                header.append("  TOP SYN PORTS");
            }
            out.println(header);
        }
        StringBuilder row = new StringBuilder(String.format("%-8s", CLOCK.format(time)));
        if (p != null) {
            row.append(' ').append(String.format(PACKETS, p.tcp(), p.syn(), p.synack(), p.fin(), p.rst(), p.ack(),
                    p.malformed()));
        }
        if (d.connections() != null) {
            row.append(String.format(" %8d %8d %8d", d.connections().openedPassive(), d.connections().openedActive(),
                    d.connections().closed()));
        }
        if (d.handshake() != null) {
            LogLinearHistogram passive = d.handshake().passive();
            row.append(passive.count() == 0 ? String.format(" %10s", "-")
                    : String.format(" %10.1f", passive.percentile(0.5) / 1000.0));
        }
        if (r != null) {
            row.append(String.format(" %8d", r.total()));
        }
        if (d.resets() != null) {
            row.append(String.format(" %8d %8d", d.resets().sent(), d.resets().received()));
        }
        if (d.drops() != null) {
            row.append(String.format(" %8d", d.drops().total()));
        }
        if (d.dupacks() != null) {
            row.append(String.format(" %8d", d.dupacks().dupacks()));
        }
        if (d.zeroWindows() != null) {
            row.append(String.format(" %8d %8d", d.zeroWindows().received(), d.zeroWindows().sent()));
        }
        if (d.rtt() != null) {
            LogLinearHistogram srtt = d.rtt().srtt();
            row.append(srtt.count() == 0 ? String.format(" %11s", "-") : String.format(" %11.3f", srtt.percentile(0.5) / 1000.0));
        }
        if (p != null) {
            row.append("  ").append(topPorts(p.synByPort()));
        }
        out.println(row);
        out.flush();
    }

    @Override
    public synchronized void summary(Instant time, Duration length, List<String> interfaces, Reading total) {
        out.printf("%nSummary: %.1f s on %s%n", length.toMillis() / 1000.0, String.join(", ", interfaces));
        PacketCounts t = total.packets();
        if (t != null) {
            out.printf("  %-22s %,d%n", "TCP packets", t.tcp());
            out.printf("  %-22s %,d%n", "SYN", t.syn());
            out.printf("  %-22s %,d%n", "SYN-ACK", t.synack());
            out.printf("  %-22s %,d%n", "FIN", t.fin());
            out.printf("  %-22s %,d%n", "RST", t.rst());
            out.printf("  %-22s %,d%n", "pure ACK", t.ack());
            out.printf("  %-22s %,d%n", "malformed", t.malformed());
            if (!t.synByPort().isEmpty()) {
                out.printf("  SYNs by destination port:%n");
                t.synByPort().entrySet().stream()
                        .sorted(Map.Entry.<Integer, Long>comparingByValue().reversed()
                                .thenComparing(Map.Entry.comparingByKey()))
                        .limit(20)
                        .forEach(e -> out.printf("    %5d  %,d%n", e.getKey(), e.getValue()));
                if (t.synByPort().size() > 20) {
                    out.printf("    ... and %d more ports%n", t.synByPort().size() - 20);
                }
            }
        }
        RetransCounts r = total.retrans();
        if (r != null) {
            out.printf("  %-22s %,d (data %,d, SYN-ACK %,d)%n", "retransmits", r.total(), r.data(), r.synack());
            notShown(r.eventsLost(), r.flowsFull(), "retransmits of flows the flow table had no room for");
            if (!total.topRetransmits().isEmpty()) {
                out.printf("  Top flows by retransmits:%n");
                for (FlowRetransmits f : total.topRetransmits()) {
                    out.printf("    %-45s -> %-45s %,8d%n", Addresses.endpoint(f.flow().laddr(), f.flow().lport()),
                            Addresses.endpoint(f.flow().raddr(), f.flow().rport()), f.total());
                }
            }
        }
        HandshakeStats hs = total.handshake();
        if (hs != null) {
            for (var kind : new Object[][] {{"accepted", hs.passive()}, {"made from here", hs.active()}}) {
                LogLinearHistogram h = (LogLinearHistogram) kind[1];
                LogLinearHistogram.Percentiles p = h.percentiles();
                out.printf("  handshake, %-15s %,d; ms: min %.2f  p50 %.2f  p90 %.2f  p99 %.2f  max %.2f%n", kind[0],
                        p.count(), p.min() / 1000.0, p.p50() / 1000.0, p.p90() / 1000.0, p.p99() / 1000.0,
                        p.max() / 1000.0);
                for (String line : HistogramBars.render(h, "usecs")) {
                    out.println("    " + line);
                }
            }
            notShown(hs.eventsLost(), hs.portsFull(), "handshakes the per-port table had no room for");
            if (hs.passiveUnmatched() > 0) {
                out.printf("  %,d accepted connections had no SYN on a watched interface (not measured)%n",
                        hs.passiveUnmatched());
            }
            total.handshakeByPort().forEach((port, h) -> {
                LogLinearHistogram.Percentiles p = h.percentiles();
                out.printf("    port %-5d %,8d handshakes; ms p50 %.2f  p99 %.2f%n", port, p.count(), p.p50() / 1000.0,
                        p.p99() / 1000.0);
            });
        }
        ConnCounts conns = total.connections();
        if (conns != null) {
            out.printf("  %-22s %,d accepted, %,d opened from here, %,d closed (%,d by reset, %,d by timeout)%n",
                    "connections", conns.openedPassive(), conns.openedActive(), conns.closed(), conns.reset(),
                    conns.timeout());
            notShown(conns.eventsLost(), conns.socksUntracked(), "sockets the socket table had no room for");
        }
        RttStats rtt = total.rtt();
        if (rtt != null) {
            LogLinearHistogram.Percentiles p = rtt.srtt().percentiles();
            out.printf("  smoothed RTT           %,d samples; ms: min %.3f  p50 %.3f  p90 %.3f  p99 %.3f  max %.3f%n",
                    p.count(), p.min() / 1000.0, p.p50() / 1000.0, p.p90() / 1000.0, p.p99() / 1000.0, p.max() / 1000.0);
            for (String line : HistogramBars.render(rtt.srtt(), "usecs")) {
                out.println("    " + line);
            }
            notShown(rtt.eventsLost(), rtt.remotesUntracked(), "samples of remotes the table had no room for");
            for (RemoteRtt remote : total.rttRemotes()) {
                out.printf("    %-40s srtt %.3f ms (min %.3f, max %.3f), cwnd %d, %,d samples%n",
                        Addresses.format(remote.address()), remote.lastSrttMicros() / 1000.0,
                        remote.minSrttMicros() / 1000.0, remote.maxSrttMicros() / 1000.0, remote.lastCwnd(),
                        remote.samples());
            }
        }
        ZeroWindowCounts zw = total.zeroWindows();
        if (zw != null) {
            out.printf("  %-22s %,d received from peers, %,d sent (%,d and %,d zero-window segments)%n", "zero windows",
                    zw.received(), zw.sent(), zw.segmentsReceived(), zw.segmentsSent());
            notShown(zw.eventsLost(), zw.flowsUntracked(), "closures or reopenings the tables had no room for");
            for (FlowZeroWindows f : total.topZeroWindows()) {
                out.printf("    %-45s %s %-45s %,6d closures, closed %,.1f ms%n",
                        Addresses.endpoint(f.flow().laddr(), f.flow().lport()), f.sent() ? "->" : "<-",
                        Addresses.endpoint(f.flow().raddr(), f.flow().rport()), f.closures(), f.closedNanos() / 1e6);
            }
        }
        DupAckCounts dup = total.dupacks();
        if (dup != null) {
            out.printf("  %-22s %,d%n", "duplicate ACKs in", dup.dupacks());
            notShown(dup.eventsLost(), dup.flowsUntracked(), "dup ACKs of flows the flow table had no room for");
            if (dup.detectorEvictions() > 0) {
                out.printf("  %-22s %,d active flows pushed out of the detector (more flows at once than it holds;"
                        + " a dup ACK right after could be missed)%n", "NOT SHOWN", dup.detectorEvictions());
            }
            for (FlowDupAcks f : total.topDupAcks()) {
                out.printf("    %-45s <- %-45s %,8d%n", Addresses.endpoint(f.flow().laddr(), f.flow().lport()),
                        Addresses.endpoint(f.flow().raddr(), f.flow().rport()), f.dupacks());
            }
        }
        DropCounts drops = total.drops();
        if (drops != null) {
            out.printf("  %-22s %,d (listen overflows %,d, receive queue full %,d)%n", "dropped TCP packets",
                    drops.total(), drops.listenOverflows(), drops.rcvqueueFull());
            drops.byReason().entrySet().stream().sorted(Map.Entry.<String, Long>comparingByValue().reversed())
                    .forEach(e -> out.printf("    %-30s %,d%n", e.getKey(), e.getValue()));
            notShown(drops.eventsLost(), drops.flowsFull(), "drops of flows the flow table had no room for");
            if (!total.topDrops().isEmpty()) {
                out.printf("  Top flows by drops:%n");
                for (FlowDrops f : total.topDrops()) {
                    out.printf("    %-45s <- %-45s %-22s %,8d%n", Addresses.endpoint(f.flow().laddr(), f.flow().lport()),
                            Addresses.endpoint(f.flow().raddr(), f.flow().rport()), f.reason(), f.count());
                }
            }
        }
        ResetCounts resets = total.resets();
        if (resets != null) {
            out.printf("  %-22s %,d sent, %,d received%n", "resets", resets.sent(), resets.received());
            notShown(resets.eventsLost(), resets.flowsFull(), "resets of flows the flow table had no room for");
            if (!total.topResets().isEmpty()) {
                out.printf("  Top flows by resets:%n");
                for (FlowResets f : total.topResets()) {
                    out.printf("    %-45s -> %-45s %,8d sent %,8d received%n",
                            Addresses.endpoint(f.flow().laddr(), f.flow().lport()),
                            Addresses.endpoint(f.flow().raddr(), f.flow().rport()), f.sent(), f.received());
                }
            }
        }
        String skipped = total.runsSkipped().entrySet().stream().filter(e -> e.getValue() > 0)
                .map(e -> e.getKey() + " " + String.format("%,d", e.getValue()))
                .collect(java.util.stream.Collectors.joining(", "));
        if (!skipped.isEmpty()) {
            out.printf("  %-22s runs the kernel skipped (the probe was already running on that CPU): %s%n",
                    "NOT SEEN", skipped);
        }
        out.flush();
    }

    @Override
    public boolean wantsEvents() {
        return false;
    }

    @Override
    public void rtt(RttEvent event) {
        // Shown as percentiles per interval and per remote address in the summary; events are for --format json.
    }

    @Override
    public void zeroWindow(ZeroWindowEvent event) {
        // Counted per interval and by flow in the summary; per-event lines are for --format json.
    }

    @Override
    public void dupack(DupAckEvent event) {
        // Counted per interval and by flow in the summary; per-event lines are for --format json.
    }

    @Override
    public void handshake(HandshakeEvent event) {
        // Shown as percentiles per interval and histograms in the summary; per-event lines are for --format json.
    }

    @Override
    public void conn(ConnEvent event) {
        // Counted per interval and in the summary; per-event lines are for --format json.
    }

    @Override
    public void drop(DropEvent event) {
        // Counted per interval and by reason and flow in the summary; per-event lines are for --format json.
    }

    @Override
    public void reset(ResetEvent event) {
        // Counted per interval and listed by flow in the summary; per-event lines are for --format json.
    }

    @Override
    public void retransmit(RetransmitEvent event) {
        // The table shows retransmits per interval and the summary the top flows; per-event lines are
        // for --format json.
    }

    /** What a probe could not keep, on one line when there is any: never silent. */
    private void notShown(long eventsLost, long untracked, String untrackedWhat) {
        if (eventsLost > 0 || untracked > 0) {
            out.printf("  %-22s %,d events lost (ring buffer full), %,d %s%n", "NOT SHOWN", eventsLost, untracked,
                    untrackedWhat);
        }
    }

    /** "443:12 80:3" for the busiest ports. */
    static String topPorts(Map<Integer, Long> ports) {
        StringBuilder s = new StringBuilder();
        ports.entrySet().stream()
                .sorted(Comparator.comparing(Map.Entry<Integer, Long>::getValue).reversed()
                        .thenComparing(Map.Entry.comparingByKey()))
                .limit(TOP_PORTS)
                .forEach(e -> s.append(s.isEmpty() ? "" : " ").append(e.getKey()).append(':').append(e.getValue()));
        if (ports.size() > TOP_PORTS) {
            s.append(" +").append(ports.size() - TOP_PORTS);
        }
        return s.toString();
    }

}
