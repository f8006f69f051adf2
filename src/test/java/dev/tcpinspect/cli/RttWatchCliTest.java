package dev.tcpinspect.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.testing.Bpftrace;
import dev.tcpinspect.testing.RequiresBpf;
import dev.tcpinspect.testing.TcpinspectProcess;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * watch --probe rtt: the summary's sample count, min, max and percentiles against bpftrace reading
 * every srtt of tcp:tcp_probe; percentiles within 3.2% (1/32), as the README promises.
 */
@RequiresBpf
class RttWatchCliTest {
    @Test
    void rttSummaryAgreesWithBpftrace() throws Exception {
        try (Lab lab = Lab.create(); var bulk = Traffic.listenSending(lab.server(), Lab.SERVER_V4, 8080, 3_000_000)) {
            String filter = "/args->srtt > 0 && ((struct sock *)args->skaddr)->__sk_common.skc_net.net->ns.inum == "
                    + lab.server().inode() + "/";
            try (Bpftrace oracle = Bpftrace.start("tracepoint:tcp:tcp_probe " + filter
                    + " { @n = count(); @lo = min(args->srtt); @hi = max(args->srtt); @v[args->srtt] = count(); }");
                 TcpinspectProcess watch = TcpinspectProcess.start(lab.serverNs(), "watch", "--probe", "rtt",
                         "--format", "json")) {
                watch.awaitJson("ready", 30);
                for (int i = 0; i < 3; i++) {
                    assertEquals(3_000_000, Traffic.download(lab.client(), Lab.SERVER_V4, 8080));
                }
                Thread.sleep(300);
                watch.terminate();
                JsonNode summary = watch.awaitJson("summary", 30);
                assertEquals(0, watch.waitFor(30));
                Map<String, Long> o = oracle.stop();
                JsonNode rtt = summary.get("rtt_ms");
                assertTrue(o.get("n") > 10, o.toString());
                assertEquals(o.get("n"), rtt.get("count").asLong());
                assertEquals(o.get("lo") / 1000.0, rtt.get("min").asDouble(), 1e-9);
                assertEquals(o.get("hi") / 1000.0, rtt.get("max").asDouble(), 1e-9);
                List<Long> samples = new ArrayList<>();
                o.forEach((k, n) -> {
                    if (k.startsWith("v[")) {
                        long srtt = Long.parseLong(k.substring(2, k.length() - 1));
                        for (long i = 0; i < n; i++) {
                            samples.add(srtt);
                        }
                    }
                });
                Collections.sort(samples);
                assertEquals(o.get("n"), samples.size());
                for (String[] p : new String[][] {{"p50", "0.5"}, {"p90", "0.9"}, {"p99", "0.99"}}) {
                    double q = Double.parseDouble(p[1]);
                    double exactMs = samples.get((int) Math.ceil(q * samples.size()) - 1) / 1000.0;
                    double shown = rtt.get(p[0]).asDouble();
                    // 1/32: a bucket's middle is that close to any value in it (LogLinearHistogramTest).
                    assertTrue(Math.abs(shown - exactMs) <= exactMs / 32.0, p[0] + " " + shown + " vs exact " + exactMs);
                }
                assertEquals("198.18.0.2", summary.get("rtt_by_remote").get(0).get("address").asText());
                assertTrue(watch.lines().stream().map(TcpinspectProcess::parse)
                        .anyMatch(n -> n.get("type").asText().equals("rtt") && n.get("srtt_ms").asDouble() > 0));
            }
        }
    }
}
