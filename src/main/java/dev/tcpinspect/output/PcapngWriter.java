package dev.tcpinspect.output;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.Map;
import java.util.function.IntFunction;

/**
 * Flagged packets into a pcapng file (the format of Wireshark and tshark, IETF draft
 * "PCAP Now Generic"): a section header, an interface description per interface and link type seen
 * (nanosecond timestamps, the interface's name), and an enhanced packet block per packet with why
 * it was flagged as its comment. Bounded: past maxBytes the file is rotated (FILE becomes FILE.1,
 * FILE.1 becomes FILE.2, ..., the oldest of `files` is deleted), as tcpdump -C and -W do.
 *
 * <p>No Java library writes pcapng without libpcap, and libpcap's dump API writes no comments; the
 * format's three blocks are small, so they are written here. One buffer is reused for every block:
 * nothing is allocated per packet. Safe from several threads (an agent's reload swaps the probe sets
 * that feed one file).
 */
public final class PcapngWriter implements AutoCloseable {
    private static final int SHB = 0x0A0D0D0A;
    private static final int IDB = 0x00000001;
    private static final int EPB = 0x00000006;
    private static final int BYTE_ORDER_MAGIC = 0x1A2B3C4D;
    private static final short OPT_END = 0;
    private static final short OPT_COMMENT = 1;
    private static final short SHB_USERAPPL = 4;
    private static final short IF_NAME = 2;
    private static final short IF_TSRESOL = 9;
    /** The interface name of packets the kernel dropped after it let go of their device (in the TCP layer). */
    public static final String NO_DEVICE = "no device (dropped in the TCP layer)";
    /** Snap length in the interface blocks: the most a packet copy holds. */
    private static final int SNAPLEN = 65535;

    private final Path path;
    private final long maxBytes;
    private final int files;
    private final IntFunction<String> interfaceName;
    private final ByteBuffer buffer = ByteBuffer.allocate(4096).order(ByteOrder.nativeOrder());
    private final MemorySegment bufferSegment = MemorySegment.ofArray(buffer.array());
    /** Interface ids of this file's section, by (ifindex, link type). */
    private final Map<Long, Integer> interfaces = new HashMap<>();
    private final Map<String, byte[]> comments = new HashMap<>();
    private final long wallMinusMonotonic = System.currentTimeMillis() * 1_000_000L - System.nanoTime();
    private FileChannel out;
    private long written;
    private long packets;
    private long rotations;

    /**
     * @param maxBytes size past which the file is rotated
     * @param files how many files at most, the current one included (1: the file is started over)
     * @param interfaceName an interface's name from its index, for the interface blocks
     */
    public PcapngWriter(Path path, long maxBytes, int files, IntFunction<String> interfaceName) {
        this.path = path;
        this.maxBytes = maxBytes;
        this.files = files;
        this.interfaceName = interfaceName;
        try {
            start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + path + ": " + e.getMessage(), e);
        }
    }

    private void start() throws IOException {
        out = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING);
        written = 0;
        interfaces.clear();
        byte[] app = "tcpinspect".getBytes(StandardCharsets.UTF_8);
        buffer.clear();
        int length = 28 + option(app.length) + 4;
        buffer.putInt(SHB).putInt(length).putInt(BYTE_ORDER_MAGIC).putShort((short) 1).putShort((short) 0)
                .putLong(-1L);
        putOption(SHB_USERAPPL, app, app.length);
        buffer.putShort(OPT_END).putShort((short) 0).putInt(length);
        flush();
    }

    /** Bytes an option with a value of n bytes takes: its code, length, and the value padded to 4. */
    private static int option(int n) {
        return 4 + ((n + 3) & ~3);
    }

    private void putOption(short code, byte[] value, int n) {
        buffer.putShort(code).putShort((short) n).put(value, 0, n);
        for (int pad = (4 - n % 4) % 4; pad > 0; pad--) {
            buffer.put((byte) 0);
        }
    }

    private void flush() throws IOException {
        buffer.flip();
        while (buffer.hasRemaining()) {
            written += out.write(buffer);
        }
        buffer.clear();
    }

    /** The interface block's id for an interface and link type, written the first time it is seen in this file. */
    private int interfaceId(int ifindex, int link) throws IOException {
        long key = (long) ifindex << 16 | link;
        Integer id = interfaces.get(key);
        if (id != null) {
            return id;
        }
        id = interfaces.size();
        byte[] name = (ifindex == 0 ? NO_DEVICE : interfaceName.apply(ifindex))
                .getBytes(StandardCharsets.UTF_8);
        int nameLength = Math.min(name.length, 256);
        int length = 16 + option(nameLength) + option(1) + 4 + 4;
        buffer.putInt(IDB).putInt(length).putShort((short) link).putShort((short) 0).putInt(SNAPLEN);
        putOption(IF_NAME, name, nameLength);
        putOption(IF_TSRESOL, new byte[] {9}, 1);
        buffer.putShort(OPT_END).putShort((short) 0).putInt(length);
        flush();
        interfaces.put(key, id);
        return id;
    }

    /**
     * One packet: its bytes (data at offset, capLen of them), its length on the wire from the first
     * of them, its time (CLOCK_MONOTONIC nanoseconds, as the kernel's bpf_ktime_get_ns), and why.
     */
    public synchronized void packet(long monotonicNanos, int ifindex, int link, int origLen, MemorySegment data, long offset, int capLen,
                       String comment) {
        try {
            byte[] text = comments.computeIfAbsent(comment, c -> c.getBytes(StandardCharsets.UTF_8));
            int padded = (capLen + 3) & ~3;
            int length = 28 + padded + option(text.length) + 4 + 4;
            if (written + length > maxBytes && written > 0 && packets > 0) {
                rotate();
            }
            int id = interfaceId(ifindex, link);
            long ts = monotonicNanos + wallMinusMonotonic;
            buffer.putInt(EPB).putInt(length).putInt(id).putInt((int) (ts >>> 32)).putInt((int) ts).putInt(capLen)
                    .putInt(Math.max(origLen, capLen));
            MemorySegment.copy(data, offset, bufferSegment, buffer.position(), capLen);
            buffer.position(buffer.position() + capLen);
            for (int pad = padded - capLen; pad > 0; pad--) {
                buffer.put((byte) 0);
            }
            putOption(OPT_COMMENT, text, text.length);
            buffer.putShort(OPT_END).putShort((short) 0).putInt(length);
            flush();
            packets++;
        } catch (IOException e) {
            throw new UncheckedIOException("writing " + path + " failed: " + e.getMessage(), e);
        }
    }

    private void rotate() throws IOException {
        out.close();
        if (files > 1) {
            Files.deleteIfExists(numbered(files - 1));
            for (int i = files - 2; i >= 1; i--) {
                if (Files.exists(numbered(i))) {
                    Files.move(numbered(i), numbered(i + 1), StandardCopyOption.REPLACE_EXISTING);
                }
            }
            Files.move(path, numbered(1), StandardCopyOption.REPLACE_EXISTING);
        }
        rotations++;
        start();
    }

    private Path numbered(int i) {
        return path.resolveSibling(path.getFileName() + "." + i);
    }

    public synchronized long packets() {
        return packets;
    }

    public long rotations() {
        return rotations;
    }

    @Override
    public synchronized void close() {
        try {
            out.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
