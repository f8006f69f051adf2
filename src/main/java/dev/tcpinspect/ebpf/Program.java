package dev.tcpinspect.ebpf;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.tcpinspect.os.Libc;
import dev.tcpinspect.os.Netns;
import dev.tcpinspect.os.Tracefs;
import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.VarHandle;

/** A loaded program of a {@link BpfObject}. Attachments it makes are owned by that object. */
public final class Program {
    /** struct bpf_link_create_opts of libbpf 1.1: sz, flags, then fields tcpinspect leaves zero. */
    private static final StructLayout LINK_CREATE_OPTS = MemoryLayout.structLayout(
            JAVA_LONG.withName("sz"),
            JAVA_INT.withName("flags"),
            MemoryLayout.paddingLayout(52)).withName("bpf_link_create_opts");
    private static final VarHandle LINK_SZ = LINK_CREATE_OPTS.varHandle(groupElement("sz"));
    private static final VarHandle LINK_FLAGS = LINK_CREATE_OPTS.varHandle(groupElement("flags"));

    /** struct bpf_test_run_opts of libbpf 1.1. */
    private static final StructLayout TEST_RUN_OPTS = MemoryLayout.structLayout(
            JAVA_LONG.withName("sz"),
            ADDRESS.withName("data_in"),
            ADDRESS.withName("data_out"),
            JAVA_INT.withName("data_size_in"),
            JAVA_INT.withName("data_size_out"),
            ADDRESS.withName("ctx_in"),
            ADDRESS.withName("ctx_out"),
            JAVA_INT.withName("ctx_size_in"),
            JAVA_INT.withName("ctx_size_out"),
            JAVA_INT.withName("retval"),
            JAVA_INT.withName("repeat"),
            JAVA_INT.withName("duration"),
            JAVA_INT.withName("flags"),
            JAVA_INT.withName("cpu"),
            JAVA_INT.withName("batch_size")).withName("bpf_test_run_opts");
    private static final VarHandle RUN_SZ = TEST_RUN_OPTS.varHandle(groupElement("sz"));
    private static final VarHandle RUN_DATA_IN = TEST_RUN_OPTS.varHandle(groupElement("data_in"));
    private static final VarHandle RUN_DATA_OUT = TEST_RUN_OPTS.varHandle(groupElement("data_out"));
    private static final VarHandle RUN_SIZE_IN = TEST_RUN_OPTS.varHandle(groupElement("data_size_in"));
    private static final VarHandle RUN_SIZE_OUT = TEST_RUN_OPTS.varHandle(groupElement("data_size_out"));
    private static final VarHandle RUN_RETVAL = TEST_RUN_OPTS.varHandle(groupElement("retval"));
    private static final VarHandle RUN_REPEAT = TEST_RUN_OPTS.varHandle(groupElement("repeat"));
    private static final VarHandle RUN_DURATION = TEST_RUN_OPTS.varHandle(groupElement("duration"));

    /** enum bpf_attach_type values; the tcx ones came with kernel 6.6, after libbpf 1.1's headers. */
    private static final int BPF_XDP = 37;
    private static final int BPF_TCX_INGRESS = 46;
    private static final int BPF_TCX_EGRESS = 47;
    private static final int BPF_CGROUP_INET_INGRESS = 0;
    private static final int BPF_CGROUP_INET_EGRESS = 1;

    private final BpfObject owner;
    private final MemorySegment handle;
    private final String name;

    Program(BpfObject owner, MemorySegment handle, String name) {
        this.owner = owner;
        this.handle = handle;
        this.name = name;
    }

    public String name() {
        return name;
    }

    public int fd() {
        try {
            return (int) Libbpf.PROGRAM_FD.invokeExact(handle);
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    /** What the kernel says about this program now (its recursion_misses, for one). */
    public ProgramInfo info() {
        return Programs.infoOf(fd());
    }

    public ProgramType type() {
        try {
            return ProgramType.of((int) Libbpf.PROGRAM_TYPE.invokeExact(handle));
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    public String sectionName() {
        try {
            return dev.tcpinspect.os.Native.string((MemorySegment) Libbpf.PROGRAM_SECTION.invokeExact(handle));
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    /** Attaches as the program's section says (tp_btf/..., tracepoint/..., raw_tp/...). */
    public LibbpfLink attach() {
        if (sectionName().startsWith("tracepoint/") || sectionName().startsWith("tp/")) {
            Tracefs.ensureMounted();
        }
        try {
            MemorySegment link = Libbpf.checkPointer("bpf_program__attach(" + name + ")",
                    (MemorySegment) Libbpf.PROGRAM_ATTACH.invokeExact(dev.tcpinspect.os.Native.errnoSlot(), handle));
            return owner.own(new LibbpfLink(link, sectionName() + " program " + name));
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    /** Attaches to a classic tracepoint, e.g. ("tcp", "tcp_probe"); mounts tracefs when needed. */
    public LibbpfLink attachTracepoint(String category, String tracepoint) {
        Tracefs.ensureMounted();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment link = Libbpf.checkPointer("attaching " + name + " to tracepoint " + category + ":" + tracepoint,
                    (MemorySegment) Libbpf.PROGRAM_ATTACH_TRACEPOINT.invokeExact(dev.tcpinspect.os.Native.errnoSlot(),
                            handle, arena.allocateFrom(category), arena.allocateFrom(tracepoint)));
            return owner.own(new LibbpfLink(link, "tracepoint " + category + ":" + tracepoint + " program " + name));
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    /** Attaches to a raw tracepoint by its name, e.g. "inet_sock_set_state". */
    public LibbpfLink attachRawTracepoint(String tracepoint) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment link = Libbpf.checkPointer("attaching " + name + " to raw tracepoint " + tracepoint,
                    (MemorySegment) Libbpf.PROGRAM_ATTACH_RAW_TRACEPOINT.invokeExact(
                            dev.tcpinspect.os.Native.errnoSlot(), handle, arena.allocateFrom(tracepoint)));
            return owner.own(new LibbpfLink(link, "raw tracepoint " + tracepoint + " program " + name));
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    /** Attaches to an interface's XDP hook as a BPF link (gone when the process is). */
    public KernelLink attachXdp(int ifindex, XdpMode mode) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment opts = arena.allocate(LINK_CREATE_OPTS);
            LINK_SZ.set(opts, 0L, LINK_CREATE_OPTS.byteSize());
            LINK_FLAGS.set(opts, 0L, mode.flags);
            int rc = (int) Libbpf.LINK_CREATE.invokeExact(fd(), ifindex, BPF_XDP, opts);
            if (rc < 0) {
                throw new AttachException(AttachException.Hook.XDP, ifindex, "attaching XDP program " + name
                        + " (" + mode.name().toLowerCase() + ") to ifindex " + ifindex, -rc);
            }
            int linkFd = Libbpf.check("attaching XDP program " + name + " to ifindex " + ifindex, rc);
            return owner.own(new KernelLink(linkFd,
                    "xdp(" + mode.name().toLowerCase() + ") ifindex " + ifindex + " program " + name));
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    /**
     * Attaches to an interface's TC hook as a tcx link (kernel 6.6+; gone when the process is), after
     * any programs already there. A kernel without tcx refuses with EINVAL: {@link #attachTc} is the
     * way there.
     */
    public KernelLink attachTcx(int ifindex, TcDirection direction) {
        try {
            int type = direction == TcDirection.INGRESS ? BPF_TCX_INGRESS : BPF_TCX_EGRESS;
            int rc = (int) Libbpf.LINK_CREATE.invokeExact(fd(), ifindex, type, MemorySegment.NULL);
            if (rc < 0) {
                throw new AttachException(AttachException.Hook.TCX, ifindex, "attaching TC program " + name
                        + " to ifindex " + ifindex + " " + direction.name().toLowerCase() + " (tcx)", -rc);
            }
            int linkFd = rc;
            return owner.own(new KernelLink(linkFd,
                    "tcx " + direction.name().toLowerCase() + " ifindex " + ifindex + " program " + name));
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    /**
     * Attaches as a direct-action cls_bpf filter in the interface's clsact hook, creating the
     * clsact qdisc if there is none (and removing it again on close if nothing else uses it). With replace false an existing filter with the same id is an
     * error (EEXIST); with replace true it is replaced: callers check {@link TcFilters#query} first.
     */
    public TcLink attachTc(int ifindex, TcDirection direction, TcFilterId id, boolean replace) {
        TcFilters.ensureClsact(ifindex, direction);
        int programId;
        try {
            programId = TcFilters.attach(ifindex, direction, fd(), id, replace);
        } catch (RuntimeException e) {
            TcFilters.releaseClsact(ifindex);
            throw e;
        }
        return owner.own(new TcLink(ifindex, direction, id, programId, name, Netns.current()));
    }

    /**
     * Attaches a cgroup_skb program to a cgroup (v2) as a BPF link, after any programs already there
     * (gone when the process is): it sees the packets the cgroup's sockets receive (ingress) or send.
     *
     * @param cgroupFd a descriptor of the cgroup's directory; the link keeps the cgroup, the caller may close it
     */
    public KernelLink attachCgroup(int cgroupFd, String cgroup, TcDirection direction) {
        try {
            int type = direction == TcDirection.INGRESS ? BPF_CGROUP_INET_INGRESS : BPF_CGROUP_INET_EGRESS;
            int rc = (int) Libbpf.LINK_CREATE.invokeExact(fd(), cgroupFd, type, MemorySegment.NULL);
            String what = "cgroup_skb " + direction.name().toLowerCase() + " " + cgroup + " program " + name;
            return owner.own(new KernelLink(Libbpf.check("attaching " + what, rc), what));
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    /** Attaches as a socket filter (SO_ATTACH_BPF) to a socket the caller owns and keeps open. */
    public SocketFilterLink attachSocket(int socketFd) {
        Libc.setsockoptInt(socketFd, Libc.SOL_SOCKET, Libc.SO_ATTACH_BPF, fd(),
                "setsockopt(SO_ATTACH_BPF, " + name + ")");
        return owner.own(new SocketFilterLink(socketFd, name));
    }

    /**
     * Runs the program on a packet in the kernel (BPF_PROG_TEST_RUN) {@code repeat} times.
     * Packet programs need at least an Ethernet header (14 bytes).
     */
    public TestRunResult testRun(byte[] packet, int repeat) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment in = arena.allocate(Math.max(packet.length, 1));
            MemorySegment.copy(packet, 0, in, JAVA_BYTE, 0, packet.length);
            int outCapacity = packet.length + 256;
            MemorySegment out = arena.allocate(outCapacity);
            MemorySegment opts = arena.allocate(TEST_RUN_OPTS);
            RUN_SZ.set(opts, 0L, TEST_RUN_OPTS.byteSize());
            RUN_DATA_IN.set(opts, 0L, in);
            RUN_DATA_OUT.set(opts, 0L, out);
            RUN_SIZE_IN.set(opts, 0L, packet.length);
            RUN_SIZE_OUT.set(opts, 0L, outCapacity);
            RUN_REPEAT.set(opts, 0L, repeat);
            Libbpf.check("test run of " + name, (int) Libbpf.PROG_TEST_RUN.invokeExact(fd(), opts));
            int outLength = Math.min((int) RUN_SIZE_OUT.get(opts, 0L), outCapacity);
            return new TestRunResult((int) RUN_RETVAL.get(opts, 0L), out.asSlice(0, outLength).toArray(JAVA_BYTE),
                    Integer.toUnsignedLong((int) RUN_DURATION.get(opts, 0L)));
        } catch (Throwable t) {
            throw Libbpf.rethrow(t);
        }
    }

    @Override
    public String toString() {
        return "program " + name;
    }
}
