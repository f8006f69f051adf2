package dev.tcpinspect.ebpf;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.tcpinspect.os.Libc;
import static java.lang.foreign.MemoryLayout.PathElement.groupElement;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;
import java.lang.foreign.MemorySegment;

/** Looks up programs loaded in the kernel by id (not only this process's). */
public final class Programs {
    /** struct bpf_prog_info (uapi/linux/bpf.h), the fields tcpinspect reads; the kernel fills what it knows. */
    private static final StructLayout PROG_INFO = MemoryLayout.structLayout(
            JAVA_INT.withName("type"),
            JAVA_INT.withName("id"),
            MemoryLayout.paddingLayout(56),
            MemoryLayout.sequenceLayout(16, java.lang.foreign.ValueLayout.JAVA_BYTE).withName("name"),
            MemoryLayout.paddingLayout(112),
            JAVA_LONG.withName("run_time_ns"),
            JAVA_LONG.withName("run_cnt"),
            JAVA_LONG.withName("recursion_misses"),
            MemoryLayout.paddingLayout(16)).withName("bpf_prog_info");
    private static final long NAME_OFFSET = PROG_INFO.byteOffset(groupElement("name"));
    private static final int NAME_LENGTH = 16;

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
            MemorySegment info = arena.allocate(PROG_INFO);
            MemorySegment length = arena.allocateFrom(JAVA_INT, (int) PROG_INFO.byteSize());
            Libbpf.check("bpf_obj_get_info_by_fd", (int) Libbpf.OBJ_GET_INFO_BY_FD.invokeExact(fd, info, length));
            byte[] raw = info.asSlice(NAME_OFFSET, NAME_LENGTH).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
            int end = 0;
            while (end < raw.length && raw[end] != 0) {
                end++;
            }
            return new ProgramInfo(info.get(JAVA_INT, PROG_INFO.byteOffset(groupElement("id"))),
                    ProgramType.of(info.get(JAVA_INT, PROG_INFO.byteOffset(groupElement("type")))),
                    new String(raw, 0, end, java.nio.charset.StandardCharsets.US_ASCII),
                    info.get(JAVA_LONG, PROG_INFO.byteOffset(groupElement("recursion_misses"))),
                    info.get(JAVA_LONG, PROG_INFO.byteOffset(groupElement("run_time_ns"))),
                    info.get(JAVA_LONG, PROG_INFO.byteOffset(groupElement("run_cnt"))));
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }
}
