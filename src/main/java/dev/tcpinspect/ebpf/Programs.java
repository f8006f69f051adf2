package dev.tcpinspect.ebpf;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.tcpinspect.os.Libc;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** Looks up programs loaded in the kernel by id (not only this process's). */
public final class Programs {
    private static final int PROG_INFO_SIZE = 232;
    private static final int NAME_OFFSET = 64;
    private static final int NAME_LENGTH = 16;
    private static final int RECURSION_MISSES_OFFSET = 208;

    private Programs() {}

    public static ProgramInfo info(int progId) {
        int fd;
        try {
            fd = Libbpf.check("bpf_prog_get_fd_by_id(" + progId + ")",
                    (int) Libbpf.PROG_GET_FD_BY_ID.invokeExact(progId));
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
        try {
            return infoOf(fd);
        } finally {
            Libc.close(fd);
        }
    }

    /** What the kernel says about the program behind fd. */
    static ProgramInfo infoOf(int fd) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment info = arena.allocate(PROG_INFO_SIZE, 8);
            MemorySegment length = arena.allocateFrom(JAVA_INT, PROG_INFO_SIZE);
            Libbpf.check("bpf_obj_get_info_by_fd", (int) Libbpf.OBJ_GET_INFO_BY_FD.invokeExact(fd, info, length));
            byte[] raw = info.asSlice(NAME_OFFSET, NAME_LENGTH).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
            int end = 0;
            while (end < raw.length && raw[end] != 0) {
                end++;
            }
            return new ProgramInfo(info.get(JAVA_INT, 4), ProgramType.of(info.get(JAVA_INT, 0)),
                    new String(raw, 0, end, java.nio.charset.StandardCharsets.US_ASCII),
                    info.get(JAVA_LONG, RECURSION_MISSES_OFFSET));
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }
}
