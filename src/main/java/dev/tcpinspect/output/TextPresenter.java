package dev.tcpinspect.output;

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
    private static final String ROW = "%-8s %10s %8s %8s %8s %8s %10s %9s  %s%n";
    private static final int TOP_PORTS = 5;
    private final PrintStream out;
    private int rows;

    public TextPresenter(PrintStream out) {
        this.out = out;
    }

    @Override
    public void ready(Instant time, List<String> interfaces, String hook) {
        out.printf("Watching incoming TCP on %s (%s). Ctrl-C to stop.%n", String.join(", ", interfaces), hook);
        out.flush();
    }

    @Override
    public void interval(Instant time, Duration length, PacketCounts d) {
        if (rows++ % 20 == 0) {
            out.printf(ROW, "UTC", "TCP", "SYN", "SYN-ACK", "FIN", "RST", "PURE-ACK", "MALFORMED", "TOP SYN PORTS");
        }
        out.printf(ROW, CLOCK.format(time), d.tcp(), d.syn(), d.synack(), d.fin(), d.rst(), d.ack(), d.malformed(),
                topPorts(d.synByPort()));
        out.flush();
    }

    @Override
    public void summary(Instant time, Duration length, List<String> interfaces, PacketCounts t) {
        out.printf("%nSummary: %.1f s on %s%n", length.toMillis() / 1000.0, String.join(", ", interfaces));
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
                    .sorted(Map.Entry.<Integer, Long>comparingByValue().reversed().thenComparing(Map.Entry.comparingByKey()))
                    .limit(20)
                    .forEach(e -> out.printf("    %5d  %,d%n", e.getKey(), e.getValue()));
            if (t.synByPort().size() > 20) {
                out.printf("    ... and %d more ports%n", t.synByPort().size() - 20);
            }
        }
        out.flush();
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
