package dev.tcpinspect.os;

/** The errno values tcpinspect tells apart, by name (asm-generic/errno-base.h, errno.h). */
public final class Errno {
    public static final int EPERM = 1;
    public static final int ENOENT = 2;
    public static final int EINTR = 4;
    public static final int EACCES = 13;
    public static final int EBUSY = 16;
    public static final int EEXIST = 17;
    public static final int ENODEV = 19;
    public static final int EINVAL = 22;
    public static final int ENOPROTOOPT = 92;
    public static final int EOPNOTSUPP = 95;
    public static final int EADDRINUSE = 98;
    /** The kernel's own "not supported" (include/linux/errno.h), which bpf(2) can return as is. */
    public static final int ENOTSUPP = 524;

    private Errno() {}
}
