package dev.tcpinspect.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Writes frames as a classic pcap file (Ethernet link type) for tcpreplay to put on a wire. */
public final class Pcap {
    private Pcap() {}

    public static Path write(List<byte[]> frames) {
        int size = 24 + frames.stream().mapToInt(f -> 16 + f.length).sum();
        ByteBuffer out = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
        out.putInt(0xa1b2c3d4).putShort((short) 2).putShort((short) 4).putInt(0).putInt(0).putInt(65535).putInt(1);
        int i = 0;
        for (byte[] frame : frames) {
            out.putInt(1_700_000_000).putInt(i++).putInt(frame.length).putInt(frame.length).put(frame);
        }
        try {
            Path file = Files.createTempFile("tcpinspect-replay-", ".pcap");
            Files.write(file, out.array());
            file.toFile().deleteOnExit(); // read by the test that wrote it, then of no use
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
