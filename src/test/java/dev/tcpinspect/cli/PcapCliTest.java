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
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/**
 * watch --pcap: the flagged packets' file, read by tshark (a reader we did not write): one packet
 * per reset the interface's own capture shows each way, per anomalous segment and per drop the
 * drops probe counted, each packet's comment naming why, tshark's dissection of it agreeing with
 * the comment, and headers only unless --pcap-payload.
 */
@RequiresBpf
class PcapCliTest {
    private static final String FIELDS_SEPARATOR = "\t";

    @Test
    void flaggedPacketsAgreeWithTheCaptureAndTheCounts() throws Exception {
        Path dir = Files.createTempDirectory("pcap");
        Path file = dir.resolve("flagged.pcapng");
        try (Lab lab = Lab.create();
             var echo = Traffic.listen(lab.server(), Lab.SERVER_V4, 8080);
             Capture in = Capture.incoming(lab.serverNs(), lab.serverIf());
             Capture out = Capture.outgoing(lab.serverNs(), lab.serverIf());
             TcpinspectProcess watch = TcpinspectProcess.start(lab.serverNs(), "watch", "-i", lab.serverIf(), "--probe",
                     "packets,drops,reset,anomaly", "--format", "json", "--pcap", file.toString())) {
            watch.awaitJson("ready", 30);
            assertEquals(12, Traffic.synToClosedPorts(lab.client(), Lab.SERVER_V4, 9000, 12));
            assertEquals(4, Traffic.connectAndReset(lab.client(), Lab.SERVER_V4, 8080, 4));
            // with 50 bytes of payload each, which the file leaves out
            Cmd.run(List.of("ip", "netns", "exec", lab.clientNs(), "hping3", "-I", lab.clientIf(),
                    "-q", "-c", "5", "-i", "u20000", "-F", "-P",
                    "-U", "-d", "50", "-p", "8080", Lab.SERVER_V4), 30);
            Thread.sleep(500);
            watch.terminate();
            JsonNode summary = watch.awaitJson("summary", 30);
            assertEquals(0, watch.waitFor(30), watch.stderr());
            in.stop();
            out.stop();

            List<String[]> packets = new ArrayList<>();
            for (String line : tshark(file, "frame.comment", "tcp.flags.str", "tcp.dstport", "frame.cap_len", "ip.hdr_len",
                    "tcp.hdr_len", "frame.interface_name", "eth.type", "frame.len", "ip.src", "tcp.srcport", "ip.dst")) {
                packets.add(line.split(FIELDS_SEPARATOR, -1));
            }
            eachPacketHasItsEvent(packets, watch.lines().stream().map(TcpinspectProcess::parse).toList());
            Map<String, Integer> byComment = new TreeMap<>();
            packets.forEach(p -> byComment.merge(p[0], 1, Integer::sum));
            assertTrue(watch.stderr().contains(packets.size() + " flagged packets written to " + file), watch.stderr());

            assertEquals(in.count(Capture.RST), (long) byComment.getOrDefault("reset received", 0), byComment.toString());
            assertEquals(4, in.count(Capture.RST));
            assertEquals(out.count(Capture.RST), (long) byComment.getOrDefault("reset sent", 0), byComment.toString());
            assertEquals(12, out.count(Capture.RST + " && tcp.srcport>=9000 && tcp.srcport<9012"));
            String xmas = "tcp.flags.fin==1 && tcp.flags.push==1 && tcp.flags.urg==1";
            assertEquals(in.count(xmas), (long) byComment.getOrDefault("anomaly xmas", 0), byComment.toString());
            assertEquals(5, in.count(xmas));
            // every drop the drops probe counted is in the file, under its reason
            Map<String, Integer> drops = new TreeMap<>();
            summary.get("drops").fields().forEachRemaining(e -> drops.put("drop " + e.getKey(), e.getValue().asInt()));
            Map<String, Integer> dropComments = new TreeMap<>(byComment);
            dropComments.keySet().removeIf(c -> !c.startsWith("drop "));
            assertEquals(drops, dropComments);
            assertEquals(12, drops.get("drop NO_SOCKET"));

            for (String[] p : packets) {
                String flags = p[1];
                switch (p[0]) {
                    case "reset received", "reset sent" -> assertTrue(flags.contains("R"), String.join(" ", p));
                    case "anomaly xmas" -> {
                        assertTrue(flags.contains("U") && flags.contains("P") && flags.contains("F"), String.join(" ", p));
                        assertEquals(54 + 50, Integer.parseInt(p[8]), "its length on the wire: " + String.join(" ", p));
                    }
                    default -> assertTrue(p[0].startsWith("drop "), "a comment tcpinspect writes: " + p[0]);
                }
                // headers only: the Ethernet header where there is one, IPv4's and TCP's, no payload byte
                int ethernet = p[7].isEmpty() ? 0 : 14;
                assertEquals(ethernet + Integer.parseInt(p[4]) + Integer.parseInt(p[5]), Integer.parseInt(p[3]),
                        String.join(" ", p));
                // a drop in the TCP layer comes after the kernel let go of the packet's device
                assertTrue(p[6].equals(lab.serverIf()) || (p[0].startsWith("drop ") && p[6].equals(
                        dev.tcpinspect.output.PcapngWriter.NO_DEVICE)), "the interface's name: " + String.join(" ", p));
            }
        } finally {
            Cmd.run("rm", "-rf", dir.toString());
        }
    }

    @Test
    void withPayloadTheFramesAreWhole() throws Exception {
        Path dir = Files.createTempDirectory("pcap");
        Path file = dir.resolve("flagged.pcapng");
        try (Lab lab = Lab.create();
             var echo = Traffic.listen(lab.server(), Lab.SERVER_V4, 8080);
             TcpinspectProcess watch = TcpinspectProcess.start(lab.serverNs(), "watch", "-i", lab.serverIf(), "--probe",
                     "packets", "--format", "json", "--pcap", file.toString(), "--pcap-payload")) {
            watch.awaitJson("ready", 30);
            Cmd.run(List.of("ip", "netns", "exec", lab.clientNs(), "hping3", "-I", lab.clientIf(),
                    "-q", "-c", "3", "-i", "u20000", "-F", "-P",
                    "-U", "-d", "100", "-p", "8080", Lab.SERVER_V4), 30);
            Thread.sleep(300);
            watch.terminate();
            assertEquals(0, watch.waitFor(30), watch.stderr());
            List<String> xmas = tshark(file, "frame.comment", "frame.cap_len", "frame.len", "tcp.len");
            List<String> anomalies = xmas.stream().filter(l -> l.startsWith("anomaly xmas\t")).toList();
            assertEquals(3, anomalies.size(), xmas.toString());
            for (String line : anomalies) {
                // 14 + 20 + 20 header bytes and the 100 of payload hping3 sent, all of it
                assertEquals(List.of("anomaly xmas", "154", "154", "100"), List.of(line.split("\t")), line);
            }
        } finally {
            Cmd.run("rm", "-rf", dir.toString());
        }
    }

    /**
     * --pcap-size and --pcap-files bound the capture on disk: past 1 MB the file becomes FILE.1 and a
     * new one starts, and with two files kept the oldest goes; each file left is whole for tshark.
     */
    @Test
    void theCaptureRotatesPastItsSizeAndKeepsItsFiles() throws Exception {
        Path dir = Files.createTempDirectory("pcap");
        Path file = dir.resolve("flagged.pcapng");
        int sent = 12_000;
        try (Lab lab = Lab.create();
             TcpinspectProcess watch = TcpinspectProcess.start(lab.serverNs(), "watch", "-i", lab.serverIf(), "--probe",
                     "packets", "--format", "json", "--pcap", file.toString(), "--pcap-payload", "--pcap-size", "1",
                     "--pcap-files", "2")) {
            watch.awaitJson("ready", 30);
            // XMAS segments with 200 bytes of payload to a closed port: each flagged as an anomaly, and its reset
            // and drop too, about 3.6 MB of anomalies alone
            Cmd.run(List.of("ip", "netns", "exec", lab.clientNs(), "hping3", "-I", lab.clientIf(),
                    "-q", "-c", Integer.toString(sent), "-i",
                    "u200", "-F", "-P", "-U", "-d", "200", "-p", "8080", Lab.SERVER_V4), 60);
            Thread.sleep(500);
            watch.terminate();
            assertEquals(0, watch.waitFor(30), watch.stderr());
            java.util.regex.Matcher rotated = java.util.regex.Pattern.compile("rotated (\\d+) times").matcher(watch.stderr());
            assertTrue(rotated.find(), watch.stderr());
            assertTrue(Integer.parseInt(rotated.group(1)) >= 2, "3.6 MB in files of 1 MB: " + watch.stderr());
            assertTrue(Files.exists(file) && Files.exists(dir.resolve("flagged.pcapng.1")), "the current file and one more");
            assertTrue(!Files.exists(dir.resolve("flagged.pcapng.2")), "no third file: " + java.util.Arrays.toString(
                    dir.toFile().list()));
            long kept = 0;
            for (Path f : List.of(dir.resolve("flagged.pcapng.1"), file)) {
                assertTrue(Files.size(f) <= 1_000_000 + 1_000, f + ": " + Files.size(f) + " bytes, over 1 MB");
                List<String> read = tshark(f, "frame.comment");
                assertTrue(List.of("anomaly xmas", "reset sent", "drop NO_SOCKET").containsAll(read.stream().distinct().toList()),
                        f + ": " + read.stream().distinct().toList());
                kept += read.size();
            }
            assertTrue(Files.size(dir.resolve("flagged.pcapng.1")) > 900_000, "the rotated file was filled");
            java.util.regex.Matcher written = java.util.regex.Pattern.compile("(\\d+) flagged packets written")
                    .matcher(watch.stderr());
            assertTrue(written.find(), watch.stderr());
            long all = Long.parseLong(written.group(1));
            assertTrue(all >= sent, "every XMAS segment flagged: " + all);
            assertTrue(kept > 3000 && kept < all, "the packets of the two newest files only: " + kept + " of " + all);
            System.out.println("pcap rotation: " + rotated.group(1) + " rotations, " + kept + " of " + all
                    + " flagged packets kept in two files");
        } finally {
            Cmd.run("rm", "-rf", dir.toString());
        }
    }

    /**
     * tshark's dissection of each packet in the file agrees with the event the watch printed for it:
     * a reset with its endpoints and direction, a drop with its endpoints and reason (each event
     * taken by one packet only), an anomaly with the alert naming its source and kind. The resets
     * sent for no socket have their events from Linux 6.10 on (tcp_send_reset with no socket), as
     * the scan probe needs too.
     */
    private static void eachPacketHasItsEvent(List<String[]> packets, List<JsonNode> lines) {
        List<JsonNode> events = new ArrayList<>(lines.stream()
                .filter(j -> List.of("reset", "drop").contains(j.path("type").asText())).toList());
        for (String[] p : packets) {
            String comment = p[0];
            String src = p[9];
            int sport = Integer.parseInt(p[10]);
            String dst = p[11];
            int dport = Integer.parseInt(p[2]);
            String packet = String.join(" ", p);
            if (comment.startsWith("anomaly ")) {
                String kind = comment.substring("anomaly ".length());
                assertTrue(lines.stream().anyMatch(j -> j.path("type").asText().equals("anomaly")
                        && j.path("source").asText().equals(src) && j.path("kind").asText().equals(kind)),
                        "an anomaly alert from " + src + " of kind " + kind + " for " + packet);
                continue;
            }
            // received and dropped packets came in: the remote end is the source; a reset sent went out
            boolean in = !comment.equals("reset sent");
            String type = comment.startsWith("drop ") ? "drop" : "reset";
            JsonNode match = events.stream().filter(e -> e.path("type").asText().equals(type)
                    && e.path("raddr").asText().equals(in ? src : dst) && e.path("rport").asInt() == (in ? sport : dport)
                    && e.path("laddr").asText().equals(in ? dst : src) && e.path("lport").asInt() == (in ? dport : sport)
                    && (type.equals("drop") ? comment.equals("drop " + e.path("reason").asText())
                            : e.path("direction").asText().equals(in ? "received" : "sent")))
                    .findFirst().orElse(null);
            assertTrue(match != null, "no " + type + " event for the packet " + packet + " among " + events);
            events.remove(match);
        }
    }

    static List<String> tshark(Path file, String... fields) {
        List<String> command = new ArrayList<>(List.of("tshark", "-r", file.toString(), "-T", "fields"));
        for (String f : fields) {
            command.add("-e");
            command.add(f);
        }
        Cmd.Result r = Cmd.run(command, 60);
        assertEquals(0, r.exit(), r.err());
        return r.out().lines().filter(l -> !l.isBlank()).toList();
    }
}
