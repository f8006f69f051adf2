package dev.tcpinspect.os;

/**
 * A failed native call: names the call, the errno by name and meaning, and what to do about it, so
 * that the CLI can print one line that a user can act on.
 */
public class SystemCallException extends RuntimeException {
    private final String call;
    private final int errno;

    public SystemCallException(String call, int errno) {
        this(call, errno, hintFor(errno));
    }

    public SystemCallException(String call, int errno, String hint) {
        super(format(call, errno, hint));
        this.call = call;
        this.errno = errno;
    }

    public String call() {
        return call;
    }

    public int errno() {
        return errno;
    }

    public String errnoName() {
        return Libc.errnoName(errno);
    }

    private static String format(String call, int errno, String hint) {
        String text = call + " failed: " + Libc.errnoName(errno) + " (" + Libc.strerror(errno) + ")";
        return hint == null ? text : text + "; " + hint;
    }

    /** What a user can do about the usual errnos of BPF and netlink calls. */
    public static String hintFor(int errno) {
        return switch (errno) {
            case Errno.EPERM, 13 /* EACCES */ -> "run as root, or grant CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON";
            case Errno.ENOENT -> "it does not exist here";
            case Errno.EBUSY -> "it is in use by another program";
            case Errno.ENODEV -> "no such device in this network namespace";
            case Errno.EINVAL -> "the kernel rejected the arguments";
            case Errno.EOPNOTSUPP -> "this kernel or device does not support it";
            default -> null;
        };
    }
}
