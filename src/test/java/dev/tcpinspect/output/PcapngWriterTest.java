package dev.tcpinspect.output;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.testing.Cmd;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The pcapng file as tshark reads it (a reader we did not write): every packet's bytes, lengths,
 * time, interface and comment; rotation keeps the newest files, each a whole readable file.
 */
class PcapngWriterTest {
    /** An Ethernet + IPv4 + TCP SYN from 198.18.0.2:40000 to 198.18.0.1:443, 54 bytes. */
    private static final byte[] SYN = hex("0200000000020200000000010800450000280001400040060000c6120002c61200019c4001bb00000001000000005002721000000000");

    private static byte[] hex(String s) {
        byte[] b = new byte[s.length() / 2];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        }
        return b;
    }

    private static void requireTshark() {
        if (Cmd.run(List.of("sh", "-c", "command -v tshark"), 10).exit() != 0 && System.getenv("CI") == null) {
            Assumptions.abort("tshark is not installed");
        }
    }

    private static List<String> tshark(Path file, String... fields) {
        List<String> command = new java.util.ArrayList<>(List.of("tshark", "-r", file.toString(), "-T", "fields"));
        for (String f : fields) {
            command.add("-e");
            command.add(f);
        }
        Cmd.Result r = Cmd.run(command, 60);
        assertEquals(0, r.exit(), r.err());
        return r.out().lines().filter(l -> !l.isBlank()).toList();
    }

    @Test
    void tsharkReadsEachPacketAsWritten() throws Exception {
        requireTshark();
        Path dir = Files.createTempDirectory("pcapng");
        Path file = dir.resolve("f.pcapng");
        long now = System.nanoTime();
        try (PcapngWriter w = new PcapngWriter(file, 1 << 20, 3, i -> "eth" + i)) {
            MemorySegment data = MemorySegment.ofArray(SYN);
            w.packet(now, 7, 1, 60, data, 0, SYN.length, "drop NO_SOCKET");
            w.packet(now + 1_000_000, 8, 101, 40, data, 14, 40, "anomaly xmas");
            w.packet(now + 2_000_000, 0, 101, 40, data, 14, 40, "drop TCP_FLAGS");
        }
        List<String> lines = tshark(file, "frame.interface_name", "frame.comment", "frame.cap_len", "frame.len", "ip.src",
                "tcp.srcport", "tcp.dstport", "tcp.flags.syn", "frame.time_epoch");
        assertEquals(3, lines.size(), lines.toString());
        String[] first = lines.get(0).split("\t");
        assertEquals(List.of("eth7", "drop NO_SOCKET", "54", "60", "198.18.0.2", "40000", "443", "1"),
                List.of(first).subList(0, 8));
        double wall = System.currentTimeMillis() / 1000.0;
        assertTrue(Math.abs(Double.parseDouble(first[8]) - wall) < 60, "wall-clock time: " + first[8] + " vs " + wall);
        assertEquals(List.of("eth8", "anomaly xmas", "40", "40", "198.18.0.2"), List.of(lines.get(1).split("\t")).subList(0, 5),
                "raw IP from the IP header");
        assertEquals(PcapngWriter.NO_DEVICE, lines.get(2).split("\t")[0]);
        Cmd.run("rm", "-rf", dir.toString());
    }

    @Test
    void rotationKeepsTheNewestFilesEachWhole() throws Exception {
        requireTshark();
        Path dir = Files.createTempDirectory("pcapng");
        Path file = dir.resolve("f.pcapng");
        try (PcapngWriter w = new PcapngWriter(file, 1000, 3, i -> "eth" + i)) {
            MemorySegment data = MemorySegment.ofArray(SYN);
            for (int i = 0; i < 40; i++) {
                w.packet(System.nanoTime(), 7, 1, SYN.length, data, 0, SYN.length, "reset sent " + i);
            }
            assertTrue(w.rotations() >= 3, "rotated: " + w.rotations());
        }
        assertTrue(Files.exists(dir.resolve("f.pcapng.1")) && Files.exists(dir.resolve("f.pcapng.2")));
        assertFalse(Files.exists(dir.resolve("f.pcapng.3")), "at most 3 files");
        int total = 0;
        String last = null;
        for (String name : List.of("f.pcapng.2", "f.pcapng.1", "f.pcapng")) {
            Path f = dir.resolve(name);
            assertTrue(Files.size(f) <= 1000 + 200, name + " " + Files.size(f));
            List<String> comments = tshark(f, "frame.comment");
            assertFalse(comments.isEmpty(), name);
            total += comments.size();
            last = comments.getLast();
        }
        assertEquals("reset sent 39", last, "the newest packet is in the current file");
        assertTrue(total < 40, "the oldest files were let go");
        Cmd.run("rm", "-rf", dir.toString());
    }
}
