package dev.tcpinspect.os;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class SystemCallExceptionTest {
    @Test
    void namesTheCallTheErrnoAndWhatToDo() {
        SystemCallException e = new SystemCallException("bpf_prog_load", 1);
        assertEquals("bpf_prog_load failed: EPERM (Operation not permitted); run as root, or grant CAP_BPF,"
                + " CAP_NET_ADMIN and CAP_PERFMON", e.getMessage());
        assertEquals("EPERM", e.errnoName());
        assertEquals("ENOENT", new SystemCallException("x", 2).errnoName());
        assertEquals("x failed: EAGAIN (Resource temporarily unavailable)", new SystemCallException("x", 11).getMessage());
    }
}
