package dev.tcpinspect.cli;

import org.junit.jupiter.api.parallel.Isolated;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.testing.Capture;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.RequiresBpf;
import dev.tcpinspect.testing.TcpinspectProcess;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * A spoofed SYN flood at hping3's full speed for a minute (-Dsoak.seconds to change) against a
 * closed port, every probe and detection on and every event written as JSON: the server's stack
 * answers each SYN with a reset, about as many events a second as the flood has packets, and for
 * 5 s the output's reader stops reading, so that the pipe and then the rings fill. The watcher must
 * live through it within a stated memory and CPU bound, count every SYN the stack received (nstat's
 * IpInReceives) and every reset it sent (TcpOutRsts), show each reset as an event or count it lost,
 * and afterwards still count a known burst as a capture does. The detection probes' minute of random
 * sources is this one too: their kernel maps keep the size they were made (bpftool's memlock), what
 * their tables had no room for is counted, and the flood raises a flood alert and no other (the
 * random sources, one port each, are no scan).
 */
@RequiresBpf
// Alone, after the rest (RunsBeside explains the two lanes): a minute of SYN flood at hping3's full speed fills both CPUs, and it measures the watcher's share of them.
@Isolated
class FloodSoakCliTest {
    /**
     * The watcher's resident memory may not pass this: its heap is capped at 128 MiB
     * (scripts/jvm.options); the JVM's own code, metaspace and thread stacks and the mapped rings
     * take about as much again.
     */
    static final long MEMORY_BOUND_MIB = 320;
    /** Nor its CPU this share of one CPU, averaged over the flood. */
    static final double CPU_BOUND = 1.0;

    private static long counter(String ns, String name) {
        return Cmd.nstat(ns, name);
    }

    /**
     * The index of the first interval line from index from on that is busy (or, wanted false, quiet),
     * once the test's reader has it: within a minute, or fail (the watcher writes one a second).
     */
    private static int awaitInterval(List<JsonNode> intervals, int from, Process watch, boolean wanted)
            throws InterruptedException {
        long deadline = System.nanoTime() + 60_000_000_000L;
        for (int i = from; ; ) {
            if (i < intervals.size()) {
                if (busy(intervals.get(i)) == wanted) {
                    return i;
                }
                i++;
            } else {
                assertTrue(watch.isAlive() && System.nanoTime() < deadline, "interval lines: " + intervals.size()
                        + ", none from " + from + " " + (wanted ? "busy" : "quiet") + " within a minute");
                Thread.sleep(50);
            }
        }
    }

    /** An interval that counted a SYN or an accepted connection (one accepted a round trip after its SYN). */
    private static boolean busy(JsonNode interval) {
        return interval.at("/packets/syn").asLong() > 0 || interval.at("/connections/opened_passive").asLong() > 0;
    }

    private static long rxPackets(Lab lab) {
        return Long.parseLong(Cmd.run("ip", "netns", "exec", lab.serverNs(), "cat",
                "/sys/class/net/" + lab.serverIf() + "/statistics/rx_packets").ok().out().strip());
    }

    /** utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/PID/stat). */
    private static long cpuTicks(long pid) throws Exception {
        String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return Long.parseLong(f[11]) + Long.parseLong(f[12]);
    }

    /**
     * memlock of the detection probes' maps (scan, flood, anomaly, cycling) the watcher holds, by name
     * and id, as bpftool reports it (the watches of the tests beside this one have such maps too).
     */
    private static java.util.Map<String, Long> detectorMemlock(long watcher) throws Exception {
        java.util.Map<String, Long> sizes = new java.util.TreeMap<>();
        java.util.Set<Long> held = Cmd.heldBy(java.util.Set.of(watcher)).maps();
        for (JsonNode m : TcpinspectProcess.parse(Cmd.run("bpftool", "-j", "map", "show").ok().out())) {
            String name = m.path("name").asText();
            if (!held.contains(m.path("id").asLong())) {
                continue;
            }
            if (name.startsWith("scan_") || name.startsWith("flood_") || name.startsWith("anomaly_")
                    || name.startsWith("cycling_")) {
                sizes.put(name + "#" + m.path("id").asInt(), m.path("bytes_memlock").asLong());
            }
        }
        return sizes;
    }

    /** A memory figure of /proc/PID/status (VmRSS, VmHWM), in KiB. */
    static long statusKib(long pid, String field) {
        return Long.parseLong(Cmd.procStatus(pid, field).replaceAll("\\D", ""));
    }

    @Test
    void aMinuteOfSpoofedSynFloodWithEveryProbeOn() throws Exception {
        int seconds = Integer.getInteger("soak.seconds", 60);
        try (Lab lab = Lab.create(); var server = Traffic.listen(lab.server(), "0.0.0.0", 8080)) {
            // The resets to random sources leave by the veth (and die in the client's namespace).
            Cmd.run("ip", "-n", lab.serverNs(), "route", "add", "default", "via", Lab.CLIENT_V4).ok();
            List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", lab.serverNs()));
            command.addAll(TcpinspectProcess.javaCommand());
            command.addAll(List.of("watch", "-i", lab.serverIf(), "--format", "json"));
            TcpinspectProcess.asLauncherStarts(command);
            Path err = Files.createTempFile("tcpinspect-soak", ".err");
            Process watch = new ProcessBuilder(command).redirectError(err.toFile()).start();
            AtomicLong resetEventsSent = new AtomicLong();
            AtomicLong dropEvents = new AtomicLong();
            AtomicLong lines = new AtomicLong();
            AtomicReference<String> ready = new AtomicReference<>();
            AtomicReference<String> summary = new AtomicReference<>();
            List<String> alertStarts = new java.util.concurrent.CopyOnWriteArrayList<>();
            List<JsonNode> intervals = new java.util.concurrent.CopyOnWriteArrayList<>();
            java.util.concurrent.atomic.AtomicBoolean stall = new java.util.concurrent.atomic.AtomicBoolean();
            Thread reader = Thread.ofPlatform().start(() -> {
                try (BufferedReader in = new BufferedReader(new InputStreamReader(watch.getInputStream(),
                        StandardCharsets.UTF_8), 1 << 16)) {
                    for (String line; (line = in.readLine()) != null; ) {
                        while (stall.get()) {
                            Thread.sleep(10); // a reader that stops reading: the pipe fills, then the rings
                        }
                        lines.incrementAndGet();
                        if (line.startsWith("{\"type\":\"reset\"") && line.contains("\"direction\":\"sent\"")) {
                            resetEventsSent.incrementAndGet();
                        } else if (line.startsWith("{\"type\":\"drop\"")) {
                            dropEvents.incrementAndGet();
                        } else if (line.startsWith("{\"type\":\"ready\"")) {
                            ready.set(line);
                        } else if (line.startsWith("{\"type\":\"summary\"")) {
                            summary.set(line);
                        } else if (line.startsWith("{\"type\":\"interval\"")) {
                            intervals.add(TcpinspectProcess.parse(line));
                        } else if (line.contains("\"state\":\"start\"")) {
                            alertStarts.add(TcpinspectProcess.parse(line).path("type").asText());
                        }
                    }
                } catch (java.io.IOException | InterruptedException ignored) {
                    // the process went; what was read is judged below
                }
            });
            Process flood = null;
            try {
                long deadline = System.nanoTime() + 30_000_000_000L;
                while (ready.get() == null && System.nanoTime() < deadline) {
                    Thread.sleep(50);
                }
                assertTrue(ready.get() != null, "ready: " + Files.readString(err));
                java.util.Map<String, Long> detectorMaps = detectorMemlock(watch.pid());
                assertTrue(detectorMaps.size() >= 4, "the detectors' maps: " + detectorMaps);
                long rstsBefore = counter(lab.serverNs(), "TcpOutRsts");
                long rxBefore = rxPackets(lab);
                java.util.Map<String, Long> stackBefore = Cmd.nstatAll(lab.serverNs());
                long ipBefore = stackBefore.get("IpInReceives");
                long passiveBefore = counter(lab.serverNs(), "TcpPassiveOpens");
                long cpuBefore = cpuTicks(watch.pid());
                long start = System.nanoTime();
                flood = new ProcessBuilder("ip", "netns", "exec", lab.clientNs(), "hping3", "-I", lab.clientIf(),
                        "-q", "-S", "-p", "9",
                        "--flood", "--rand-source", Lab.SERVER_V4).redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
                long peakRssKib = 0;
                for (int second = 1; System.nanoTime() - start < seconds * 1_000_000_000L; second++) {
                    // For 5 of the seconds the output's reader stops reading, so that events are lost for real.
                    stall.set(second > seconds / 2 && second <= seconds / 2 + 5);
                    Thread.sleep(1000);
                    assertTrue(watch.isAlive(), "the watcher lives through the flood: " + Files.readString(err));
                    peakRssKib = Math.max(peakRssKib, statusKib(watch.pid(), "VmRSS"));
                }
                stall.set(false);
                flood.destroy();
                flood.waitFor();
                double elapsed = (System.nanoTime() - start) / 1e9;
                double cpu = (cpuTicks(watch.pid()) - cpuBefore) / 100.0 / elapsed; // USER_HZ is 100 on Linux
                peakRssKib = Math.max(peakRssKib, statusKib(watch.pid(), "VmHWM"));
                Thread.sleep(1500); // the stack's last answers, the watcher's last reads
                assertEquals(detectorMaps, detectorMemlock(watch.pid()), "the detectors' maps keep the size they were made");
                long floodPackets = rxPackets(lab) - rxBefore;
                java.util.Map<String, Long> stackAfter = Cmd.nstatAll(lab.serverNs());
                long ipPackets = stackAfter.get("IpInReceives") - ipBefore;
                long rsts = counter(lab.serverNs(), "TcpOutRsts") - rstsBefore;

                // A known burst afterwards, counted as a capture counts it: the watcher's interval lines between the
                // first quiet one (no SYN, no accepted connection) after the flood's (read before the burst begins,
                // so made before it) and the first quiet one after the burst's.
                int flooded = awaitInterval(intervals, 0, watch, true);
                int quietBefore = awaitInterval(intervals, flooded + 1, watch, false);
                long burstSyns;
                long burstPassive;
                try (Capture capture = Capture.incoming(lab.serverNs(), lab.serverIf())) {
                    long passive = counter(lab.serverNs(), "TcpPassiveOpens");
                    assertEquals(20, Traffic.connect(lab.client(), Lab.SERVER_V4, 8080, 20));
                    Thread.sleep(500);
                    capture.stop();
                    burstSyns = capture.count(Capture.SYN);
                    burstPassive = counter(lab.serverNs(), "TcpPassiveOpens") - passive;
                }
                int burst = awaitInterval(intervals, quietBefore + 1, watch, true);
                int quietAfter = awaitInterval(intervals, burst + 1, watch, false);
                long watchedSyns = 0;
                long watchedPassive = 0;
                for (JsonNode interval : intervals.subList(quietBefore + 1, quietAfter)) {
                    watchedSyns += interval.at("/packets/syn").asLong();
                    watchedPassive += interval.at("/connections/opened_passive").asLong();
                }
                Cmd.run("kill", "-TERM", Long.toString(watch.pid())).ok();
                assertTrue(watch.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), "stopped after SIGTERM");
                reader.join(30_000);
                assertEquals(0, watch.exitValue(), Files.readString(err));
                JsonNode s = TcpinspectProcess.parse(summary.get());
                long syns = s.at("/packets/syn").asLong();
                long sent = s.at("/resets/sent").asLong();
                long lost = s.at("/resets/events_lost").asLong();
                System.out.printf("flood soak: %d s, %.0f SYNs/s received (%d), %d resets sent (%d as events, %d"
                        + " lost, counted), %d drops (%d as events, %d lost, counted), watcher peak RSS %d MiB, CPU"
                        + " %.0f%% of one CPU, %d output lines%n",
                        seconds, ipPackets / elapsed, ipPackets, rsts, resetEventsSent.get(), lost,
                        s.at("/drop_detail/total").asLong(), dropEvents.get(), s.at("/drop_detail/events_lost").asLong(),
                        peakRssKib / 1024, cpu * 100, lines.get());
                assertTrue(floodPackets > 10_000L * seconds, "the flood was a flood: " + floodPackets);
                // IpInReceives counts every IPv4 packet the stack took in, martian sources included
                // (hping3's random ones), which TcpInSegs would not. Besides hping3's SYNs it may hold a
                // few IPv4 packets that are not TCP (seen: one, once, in a dozen runs; the lab's links'
                // IGMP reports), which no nstat counter names apart: never more SYNs than that, and at
                // most 10 fewer, out of millions.
                long expected = ipPackets + burstSyns;
                System.out.printf("flood soak: %d SYNs counted, IpInReceives plus the burst %d; the flood's nstat: %s%n",
                        syns, expected, Cmd.nstatMoved(stackBefore, stackAfter));
                assertTrue(syns <= expected && syns >= expected - 10, "every SYN the stack received (nstat"
                        + " IpInReceives " + ipPackets + " plus the burst's " + burstSyns + "): " + syns
                        + "; the server's interface received " + floodPackets + " frames; " + s.get("packets") + "; drops "
                        + s.get("drops") + "; the flood's nstat: " + Cmd.nstatMoved(stackBefore, stackAfter));
                assertEquals(20, burstSyns);
                assertEquals(burstSyns, watchedSyns, "the burst's SYNs in the interval lines around it, as captured");
                assertEquals(20, burstPassive);
                assertEquals(burstPassive, watchedPassive, "the burst's connections (nstat TcpPassiveOpens)");
                assertEquals(rsts, sent, "every reset the stack sent (nstat TcpOutRsts)");
                assertEquals(sent, resetEventsSent.get() + lost, "each reset either shown as an event or counted lost");
                assertTrue(lost > 0, "5 s of a stalled reader lose events (and count them)");
                // each SYN at the closed port is freed as NO_SOCKET once the stack has answered it with a reset
                assertEquals(rsts, s.at("/drops/NO_SOCKET").asLong(), "a NO_SOCKET drop per reset sent: " + s.get("drops"));
                assertEquals(s.at("/drop_detail/total").asLong(), dropEvents.get() + s.at("/drop_detail/events_lost").asLong(),
                        "each drop shown as an event or counted lost: " + s.get("drop_detail"));
                assertTrue(peakRssKib / 1024 < MEMORY_BOUND_MIB, "peak RSS " + peakRssKib / 1024 + " MiB");
                assertTrue(cpu < CPU_BOUND, "CPU " + cpu);
                // the flood's SYNs went to a closed port: the burst's are all the connections the stack accepted
                assertEquals(counter(lab.serverNs(), "TcpPassiveOpens") - passiveBefore,
                        s.at("/connections/opened_passive").asLong(), "nstat TcpPassiveOpens: " + s);
                assertTrue(s.at("/flood_detail/sources_untracked").asLong() > 0,
                        "the SYNs the flood's per-source table had no room for are counted: " + s);
                assertTrue(s.at("/scan_detail/sources_evicted").asLong() > 0,
                        "the sources the scan table pushed out are counted: " + s);
                assertTrue(!alertStarts.isEmpty() && alertStarts.stream().allMatch("flood"::equals),
                        "a flood alert and no other: " + alertStarts);
            } finally {
                if (flood != null) {
                    flood.destroyForcibly().waitFor();
                }
                watch.destroyForcibly().waitFor();
                Files.delete(err);
            }
            assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()));
        }
    }
}
