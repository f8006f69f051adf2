package dev.tcpinspect.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.testing.Capture;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.RequiresBpf;
import dev.tcpinspect.testing.TcpinspectProcess;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * watch --probe zerowin: a server that stops reading, beside nstat's TCPToZeroWindowAdv; how long
 * each window stayed closed against the capture's frame times and the reader's own pause.
 */
@RequiresBpf
class ZeroWindowWatchCliTest {
    private static long toZeroWindowAdv(Lab lab) {
        return Cmd.nstat(lab.serverNs(), "TcpExtTCPToZeroWindowAdv");
    }

    /** How long each reader pauses before it reads: the windows stay closed no longer than that. */
    private static final long PAUSE_MS = 600;

    /**
     * From the capture: how long (ms) each window stayed closed in the segments matching the filter
     * (one direction of one flow), as tcpinspect defines a closure: a segment with a zero window
     * after one with an open window, up to the next segment with an open window; SYNs are not
     * counted and a RST ends a closure untimed.
     */
    private static List<Double> closures(Capture capture, String filter) {
        List<Double> closed = new ArrayList<>();
        double since = Double.NaN;
        boolean open = false;
        for (String row : capture.fields(filter, "frame.time_epoch", "tcp.window_size_value", "tcp.flags.syn",
                "tcp.flags.reset")) {
            String[] f = row.split("\t", -1);
            if (isSet(f[2])) {
                continue;
            }
            if (isSet(f[3])) {
                since = Double.NaN;
                open = false;
                continue;
            }
            double t = Double.parseDouble(f[0]);
            boolean zero = Long.parseLong(f[1]) == 0;
            if (zero && open) {
                since = t;
            } else if (!zero && !Double.isNaN(since)) {
                closed.add((t - since) * 1000);
                since = Double.NaN;
            }
            open = !zero;
        }
        return closed;
    }

    private static boolean isSet(String flag) {
        return flag.equals("1") || flag.equalsIgnoreCase("true");
    }

    /**
     * The reopened events of one direction and family, in order, against the capture's closures of
     * the same flow: as many, and each closure of 10 ms or more within 5% of the capture's. The
     * probe times both ends where the capture sees them, but not at the same instant: for sent
     * windows TC egress runs just before the capture's tap (veth has no qdisc between them); for
     * received ones the capture stamps a packet when the veth queues it to the receive backlog
     * (netdev_tstamp_prequeue) and the ingress hook runs when it is taken off. That wait is
     * microseconds (up to 60 us seen here), nothing beside 5% of 10 ms (0.5 ms), but as long as the
     * bulk download's flickers of a closed window (about 0.1 ms), which are counted, not timed. The
     * paused readers' windows stay closed about half a second (5%: 25 ms). No closure lasts longer
     * than the reader's pause (plus 5%): the reader reopens the window as soon as it reads.
     */
    private static void assertClosedTimes(List<JsonNode> events, String direction, String family, List<Double> captured) {
        List<Double> reported = events.stream().filter(e -> e.get("event").asText().equals("reopened")
                && e.get("direction").asText().equals(direction) && e.get("family").asText().equals(family))
                .map(e -> e.get("closed_ms").asDouble()).toList();
        String all = direction + " " + family + ": " + reported + " vs capture " + captured;
        assertEquals(captured.size(), reported.size(), all);
        int timed = 0;
        for (int i = 0; i < captured.size(); i++) {
            double oracle = captured.get(i);
            double ms = reported.get(i);
            if (oracle >= 10) {
                timed++;
                assertTrue(Math.abs(ms - oracle) <= 0.05 * oracle, "closure " + i + ": " + ms + " ms vs capture "
                        + oracle + " ms; " + all);
            }
            assertTrue(ms <= PAUSE_MS * 1.05, "closed " + ms + " ms, the reader paused " + PAUSE_MS + " ms; " + all);
        }
        assertTrue(timed > 0, "no window stayed closed 10 ms or more; " + all);
    }

    @Test
    void zeroWindowsSentAndReceivedWithEvents() throws Exception {
        try (Lab lab = Lab.create();
             var slow = Traffic.listenSlowReader(lab.server(), Lab.SERVER_V6, 8080, PAUSE_MS);
             var bulk = Traffic.listenSending(lab.server(), Lab.SERVER_V4, 8081, 8_000_000);
             Capture in = Capture.incoming(lab.serverNs(), lab.serverIf());
             Capture out = Capture.outgoing(lab.serverNs(), lab.serverIf());
             TcpinspectProcess watch = TcpinspectProcess.start(lab.serverNs(), "watch", "-i", lab.serverIf(),
                     "--probe", "zerowin", "--format", "json")) {
            watch.awaitJson("ready", 30);
            long before = toZeroWindowAdv(lab);
            Traffic.upload(lab.client(), Lab.SERVER_V6, 8080, 16_000_000);
            assertEquals(8_000_000, Traffic.slowDownload(lab.client(), Lab.SERVER_V4, 8081, PAUSE_MS));
            Thread.sleep(300);
            long sent = toZeroWindowAdv(lab) - before;
            watch.terminate();
            JsonNode summary = watch.awaitJson("summary", 30);
            assertEquals(0, watch.waitFor(30));
            assertTrue(sent > 0);
            assertEquals(sent, summary.get("zero_window").get("sent").asLong());
            assertTrue(summary.get("zero_window").get("received").asLong() > 0);
            List<JsonNode> events = watch.lines().stream().map(TcpinspectProcess::parse)
                    .filter(n -> n.get("type").asText().equals("zero_window")).toList();
            long closes = events.stream().filter(e -> e.get("event").asText().equals("closed")).count();
            assertEquals(summary.get("zero_window").get("sent").asLong() + summary.get("zero_window").get("received").asLong(),
                    closes);
            assertTrue(events.stream().anyMatch(e -> e.get("event").asText().equals("reopened")
                    && e.get("closed_ms").asDouble() > 200 && e.get("direction").asText().equals("sent")
                    && e.get("family").asText().equals("ipv6")), events.toString());
            // Sent: the server's own windows to the uploading client (IPv6, from port 8080). Received:
            // the downloading client's windows to the server (IPv4, to port 8081).
            assertClosedTimes(events, "sent", "ipv6", closures(out, "ipv6 && tcp.srcport == 8080"));
            assertClosedTimes(events, "received", "ipv4", closures(in, "ip && tcp.dstport == 8081"));
        }
    }
}
