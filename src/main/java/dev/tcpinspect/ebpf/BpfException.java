package dev.tcpinspect.ebpf;

import dev.tcpinspect.os.SystemCallException;

/** A libbpf or bpf(2) call that failed: names the call, the errno and what to do. */
public class BpfException extends SystemCallException {
    public BpfException(String call, int errno) {
        super(call, errno);
    }

    public BpfException(String call, int errno, String hint) {
        super(call, errno, hint);
    }
}
