package dev.tcpinspect.ebpf;

/**
 * Attaching a program to an interface's hook failed: which hook, which interface, and the errno,
 * so that the command line can say what to do (another program holds the hook, the driver has no
 * native XDP) in its own terms.
 */
public final class AttachException extends BpfException {
    /** The kinds of interface hook. */
    public enum Hook { XDP, TCX, TC }

    private final Hook hook;
    private final int ifindex;

    AttachException(Hook hook, int ifindex, String call, int errno) {
        super(call, errno);
        this.hook = hook;
        this.ifindex = ifindex;
    }

    public Hook hook() {
        return hook;
    }

    public int ifindex() {
        return ifindex;
    }
}
