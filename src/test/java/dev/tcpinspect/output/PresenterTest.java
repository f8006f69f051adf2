package dev.tcpinspect.output;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tcpinspect.probe.packets.PacketCounts;
import dev.tcpinspect.probe.packets.PacketsProbe;
import dev.tcpinspect.probe.retrans.FlowRetransmits;
import dev.tcpinspect.probe.retrans.RetransCounts;
import dev.tcpinspect.probe.retrans.RetransProbe;
import dev.tcpinspect.snapshot.Desc;
import dev.tcpinspect.snapshot.Flow;
import dev.tcpinspect.snapshot.Metric;
import dev.tcpinspect.snapshot.Reading;
import dev.tcpinspect.snapshot.Snapshot;
import java.net.InetAddress;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PresenterTest {
    private static final Instant T = Instant.parse("2026-11-27T10:15:30.123456Z");
    private static final PacketCounts C = new PacketCounts(100, 7, 2, 3, 1, 50, 4, Map.of(443, 5L, 80, 2L));
    private static final Reading PACKETS_ONLY = new Reading(List.of(PacketsProbe.snapshotOf(C)));

    /** What a set adds to each probe's snapshot: the runs the kernel skipped for it. */
    private static Snapshot skipped(String probe, long runs) {
        return new Snapshot(probe, List.of(new Metric.Counter(Desc.of("runs_skipped." + probe, probe, "skipped")
                .role(Desc.Role.NOT_SEEN), runs)));
    }

    private static String render(Presenter.Format format, java.util.function.Consumer<Presenter> calls) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        calls.accept(Presenter.of(format, new PrintStream(bytes, true, StandardCharsets.UTF_8)));
        return bytes.toString(StandardCharsets.UTF_8);
    }

    @Test
    void jsonLinesFollowTheContract() throws Exception {
        String out = render(Presenter.Format.JSON, p -> {
            p.ready(T, List.of("eth0", "lo"), "tc-ingress", List.of("packets"));
            p.interval(T, Duration.ofMillis(1000), PACKETS_ONLY);
            p.summary(T, Duration.ofMillis(2500), List.of("eth0", "lo"), PACKETS_ONLY);
        });
        List<String> lines = out.lines().toList();
        assertEquals(3, lines.size());
        ObjectMapper json = new ObjectMapper();
        JsonNode ready = json.readTree(lines.get(0));
        assertEquals("{\"type\":\"ready\",\"time\":\"2026-11-27T10:15:30.123Z\",\"interfaces\":[\"eth0\",\"lo\"],"
                + "\"hook\":\"tc-ingress\",\"probes\":[\"packets\"]}", lines.get(0));
        assertEquals("ready", ready.get("type").asText());
        JsonNode summary = json.readTree(lines.get(2));
        assertEquals("summary", summary.get("type").asText());
        assertEquals(2.5, summary.get("seconds").asDouble());
        assertEquals("{\"tcp\":100,\"syn\":7,\"synack\":2,\"fin\":3,\"rst\":1,\"ack\":50,\"malformed\":4}",
                summary.get("packets").toString());
        assertEquals("{\"80\":2,\"443\":5}", summary.get("syn_by_port").toString());
        assertEquals("interval", json.readTree(lines.get(1)).get("type").asText());
        assertTrue(!summary.has("retransmits"), "no retrans probe, no retransmit fields");
    }

    @Test
    void skippedRunsAreShownPerProbeAndNamedInTextOnlyWhenThereAreAny() throws Exception {
        Reading reading = new Reading(List.of(skipped("conn", 0), skipped("rtt", 38)));
        JsonNode summary = new ObjectMapper().readTree(
                render(Presenter.Format.JSON, p -> p.summary(T, Duration.ofSeconds(1), List.of(), reading)));
        assertEquals("{\"conn\":0,\"rtt\":38}", summary.get("runs_skipped").toString());
        String text = render(Presenter.Format.TEXT, p -> p.summary(T, Duration.ofSeconds(1), List.of(), reading));
        assertTrue(text.contains("NOT SEEN") && text.contains("rtt 38") && !text.contains("conn 0"), text);
        String none = render(Presenter.Format.TEXT, p -> p.summary(T, Duration.ofSeconds(1), List.of(), PACKETS_ONLY));
        assertTrue(!none.contains("NOT SEEN"), none);
    }

    @Test
    void retransmitCountsAndTopFlowsInJsonAndText() throws Exception {
        Flow flow = new Flow(4026532000L, false, InetAddress.getByName("198.18.0.1"), 8080,
                InetAddress.getByName("198.18.0.2"), 40000);
        Reading reading = new Reading(List.of(RetransProbe.snapshotOf(new RetransCounts(9, 2, 1, 0),
                List.of(new FlowRetransmits(flow, 9, 2)))));
        String json = render(Presenter.Format.JSON, p -> p.summary(T, Duration.ofSeconds(1), List.of(), reading));
        JsonNode summary = new ObjectMapper().readTree(json);
        assertEquals(11, summary.get("retransmits").asLong());
        assertEquals("{\"data\":9,\"synack\":2,\"events_lost\":1,\"flows_untracked\":0}",
                summary.get("retransmit_detail").toString());
        JsonNode top = summary.get("top_retransmit_flows").get(0);
        assertEquals("198.18.0.1", top.get("laddr").asText());
        assertEquals(8080, top.get("lport").asInt());
        assertEquals("ipv4", top.get("family").asText());
        assertEquals(11, top.get("retransmits").asLong());
        assertTrue(!summary.has("packets"), "no packets probe, no packet fields");

        String text = render(Presenter.Format.TEXT, p -> p.summary(T, Duration.ofSeconds(1), List.of("eth0"), reading));
        assertTrue(text.contains("retransmits            11 (data 9, SYN-ACK 2)"), text);
        assertTrue(text.contains("NOT SHOWN              1 events lost (ring buffer full), 0 retransmits of flows"), text);
        assertTrue(text.contains("198.18.0.1:8080"), text);
    }

    @Test
    void textShowsATableAndASummaryWithTheBusiestPortsFirst() {
        String out = render(Presenter.Format.TEXT, p -> {
            p.ready(T, List.of("eth0"), "xdp-auto", List.of("packets"));
            p.interval(T, Duration.ofSeconds(1), PACKETS_ONLY);
            p.summary(T, Duration.ofSeconds(2), List.of("eth0"), PACKETS_ONLY);
        });
        assertTrue(out.contains("Watching incoming TCP on eth0 (xdp-auto; probes: packets)"), out);
        assertTrue(out.contains("MALFORMED"), out);
        assertTrue(out.contains("10:15:30        100        7        2        3        1         50         4  443:5 80:2"), out);
        assertTrue(out.indexOf("  443  5") < out.indexOf("     80  2"), out);
    }

    @Test
    void topPortsListsFiveAndHowManyMore() {
        Map<String, Long> ports = Map.of("1", 1L, "2", 9L, "3", 3L, "4", 3L, "5", 7L, "6", 2L, "7", 1L);
        assertEquals("2:9 5:7 3:3 4:3 6:2 +2", TextPresenter.topLabels(ports));
        assertEquals("", TextPresenter.topLabels(Map.of()));
    }
}
