package dev.tcpinspect.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.testing.Capture;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.RequiresBpf;
import dev.tcpinspect.testing.RunsBeside;
import dev.tcpinspect.testing.TcpinspectProcess;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * Rings and tables full for minutes: a watch with every probe writes JSON into a pipe whose reader
 * stops reading at "ready", for two minutes (-Dstall.seconds to change). Its writers block, so its
 * rings fill and its per-flow tables go undrained, while spoofed SYNs to a closed port keep coming
 * (about 900 a second from random sources), each answered by a reset and freed as a NO_SOCKET drop. The watcher must live through it within FloodSoakCliTest's
 * memory bound; afterwards, read again, it must count every SYN (nstat IpInReceives) and every reset
 * (TcpOutRsts), show each reset as an event or count it lost, count lost every reset sent once its
 * ring was full (the losses were counted all along, not only at the end), show the losses in an
 * interval line, count what its tables had no room for, and still count a known burst as a capture
 * does.
 *
 * <p>Runs beside the other tests ({@link RunsBeside}): its watch and its traffic run at the lowest
 * CPU priority (nice 19) and take little CPU, its traffic stays in namespaces of its own, and what
 * it holds in the kernel is held by its live process, which the other tests' checks for leftovers
 * leave out (Cmd.heldBeside).
 */
@RequiresBpf
@RunsBeside
class StalledReaderSoakCliTest {
    @Test
    void minutesWithFullRingsAndTablesAreCountedAndShownAndNothingCrashes() throws Exception {
        int seconds = Integer.getInteger("stall.seconds", 120);
        try (Lab lab = Lab.create(); var server = Traffic.listen(lab.server(), "0.0.0.0", 8080)) {
            // The resets to random sources leave by the veth (and die in the client's namespace).
            Cmd.run("ip", "-n", lab.serverNs(), "route", "add", "default", "via", Lab.CLIENT_V4).ok();
            // At the lowest CPU priority, as its traffic: the tests beside it, some timed, come first.
            List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", lab.serverNs(), "nice", "-n", "19"));
            command.addAll(TcpinspectProcess.javaCommand());
            command.addAll(List.of("watch", "-i", lab.serverIf(), "--format", "json", "--interval", "1"));
            TcpinspectProcess.asLauncherStarts(command);
            Path err = Files.createTempFile("tcpinspect-stall", ".err");
            Process watch = new ProcessBuilder(command).redirectError(err.toFile()).start();
            AtomicBoolean stall = new AtomicBoolean();
            AtomicLong resetEventsSent = new AtomicLong();
            AtomicLong intervalLost = new AtomicLong();
            AtomicReference<String> ready = new AtomicReference<>();
            AtomicReference<String> summary = new AtomicReference<>();
            Thread reader = Thread.ofPlatform().start(() -> {
                try (BufferedReader in = new BufferedReader(new InputStreamReader(watch.getInputStream(),
                        StandardCharsets.UTF_8), 1 << 16)) {
                    for (String line; (line = in.readLine()) != null; ) {
                        while (stall.get()) {
                            Thread.sleep(20); // a reader that stops reading: the pipe fills, then the rings
                        }
                        if (line.startsWith("{\"type\":\"reset\"") && line.contains("\"direction\":\"sent\"")) {
                            resetEventsSent.incrementAndGet();
                        } else if (line.startsWith("{\"type\":\"ready\"")) {
                            stall.set(true);
                            ready.set(line);
                        } else if (line.startsWith("{\"type\":\"interval\"")) {
                            intervalLost.accumulateAndGet(TcpinspectProcess.parse(line).at("/resets/events_lost")
                                    .asLong(), Math::max);
                        } else if (line.startsWith("{\"type\":\"summary\"")) {
                            summary.set(line);
                        }
                    }
                } catch (java.io.IOException | InterruptedException ignored) {
                    // the process went; what was read is judged below
                }
            });
            Process trickle = null;
            try {
                long deadline = System.nanoTime() + 60_000_000_000L;
                while (ready.get() == null && System.nanoTime() < deadline) {
                    Thread.sleep(50);
                }
                assertTrue(ready.get() != null, "ready: " + Files.readString(err));
                long rstsBefore = Cmd.nstat(lab.serverNs(), "TcpOutRsts");
                long ipBefore = Cmd.nstat(lab.serverNs(), "IpInReceives");
                long start = System.nanoTime();
                trickle = new ProcessBuilder("ip", "netns", "exec", lab.clientNs(), "nice", "-n", "19", "hping3",
                        "-I", lab.clientIf(),
                        "-q",
                        "-S", "-p", "9", "-i", "u1000", "--rand-source", Lab.SERVER_V4).redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
                // Until more resets than the 1 MiB ring holds (about 15,000 events) were sent: 20 to 30 s at
                // hping3's pace, longer when the tests beside this one take the CPUs (hping3 runs at nice 19).
                long rstsOnceFull;
                while ((rstsOnceFull = Cmd.nstat(lab.serverNs(), "TcpOutRsts")) - rstsBefore <= 20_000
                        && System.nanoTime() - start < (seconds - 60) * 1_000_000_000L) {
                    Thread.sleep(1000);
                }
                double fullAt = (System.nanoTime() - start) / 1e9;
                long peakRssKib = 0;
                while (System.nanoTime() - start < seconds * 1_000_000_000L) {
                    Thread.sleep(2000);
                    assertTrue(watch.isAlive(), "the watcher lives through it: " + Files.readString(err));
                    peakRssKib = Math.max(peakRssKib, FloodSoakCliTest.statusKib(watch.pid(), "VmRSS"));
                }
                trickle.destroy();
                trickle.waitFor();
                Thread.sleep(500); // the last answers
                long rstsStalled = Cmd.nstat(lab.serverNs(), "TcpOutRsts") - rstsOnceFull;
                assertTrue(stall.get() && reader.isAlive(), "the reader was stalled throughout");
                stall.set(false);
                Thread.sleep(3000); // the pipe drained, the watcher's next interval lines
                long ipPackets = Cmd.nstat(lab.serverNs(), "IpInReceives") - ipBefore;
                long rsts = Cmd.nstat(lab.serverNs(), "TcpOutRsts") - rstsBefore;

                long burstSyns;
                try (Capture capture = Capture.incoming(lab.serverNs(), lab.serverIf())) {
                    assertEquals(20, Traffic.connect(lab.client(), Lab.SERVER_V4, 8080, 20));
                    Thread.sleep(500);
                    capture.stop();
                    burstSyns = capture.count(Capture.SYN);
                }
                peakRssKib = Math.max(peakRssKib, FloodSoakCliTest.statusKib(watch.pid(), "VmHWM"));
                Cmd.run("kill", "-TERM", Long.toString(watch.pid())).ok();
                assertTrue(watch.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), "stopped after SIGTERM");
                reader.join(30_000);
                assertEquals(0, watch.exitValue(), Files.readString(err));
                JsonNode s = TcpinspectProcess.parse(summary.get());
                long sent = s.at("/resets/sent").asLong();
                long lost = s.at("/resets/events_lost").asLong();
                System.out.printf("stalled reader soak: %d s stalled, %d SYNs received, %d resets sent (%d shown, %d"
                        + " lost, %d of them after the ring was full), drops lost %d, flows untracked %d, sources"
                        + " untracked %d, watcher peak RSS %d MiB%n", seconds, ipPackets, rsts, resetEventsSent.get(),
                        lost, rstsStalled, s.at("/drop_detail/events_lost").asLong(),
                        s.at("/resets/flows_untracked").asLong(), s.at("/flood_detail/sources_untracked").asLong(),
                        peakRssKib / 1024);
                assertEquals(20, burstSyns);
                long expected = ipPackets + burstSyns;
                long syns = s.at("/packets/syn").asLong();
                assertTrue(syns <= expected && syns >= expected - 10, "every SYN the stack received (nstat"
                        + " IpInReceives " + ipPackets + " plus the burst's " + burstSyns + "): " + syns);
                assertEquals(rsts, sent, "every reset the stack sent (nstat TcpOutRsts)");
                assertEquals(sent, resetEventsSent.get() + lost, "each reset either shown as an event or counted lost");
                // More resets were sent by the 30 s mark than were ever shown: the ring was full from then on.
                // More resets were sent by then than were ever shown: the ring was full from then on, a minute or more.
                assertTrue(rstsOnceFull - rstsBefore > resetEventsSent.get(), "the ring was full at " + fullAt + " s: "
                        + (rstsOnceFull - rstsBefore) + " resets sent, " + resetEventsSent.get() + " shown in all");
                assertTrue(rstsStalled > 1000 && lost >= rstsStalled, "every reset sent while the ring stayed full is"
                        + " counted lost: " + lost + " lost, " + rstsStalled + " sent in the " + (seconds - fullAt)
                        + " s after it filled");
                assertTrue(intervalLost.get() > 0, "an interval line shows the losses");
                assertTrue(s.at("/drop_detail/events_lost").asLong() > 0, "the drops' ring filled too: " + s);
                assertTrue(s.at("/resets/flows_untracked").asLong() > 0, "the resets' flow table filled: " + s);
                assertTrue(s.at("/flood_detail/sources_untracked").asLong() > 0, "the flood's source table filled: " + s);
                assertTrue(peakRssKib / 1024 < FloodSoakCliTest.MEMORY_BOUND_MIB, "peak RSS " + peakRssKib / 1024 + " MiB");
            } finally {
                if (trickle != null) {
                    trickle.destroyForcibly().waitFor();
                }
                watch.destroyForcibly().waitFor();
                Files.delete(err);
            }
            assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()));
        }
    }
}
