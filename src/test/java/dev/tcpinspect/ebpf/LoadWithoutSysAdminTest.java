package dev.tcpinspect.ebpf;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.RequiresBpf;
import dev.tcpinspect.testing.TcpinspectProcess;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * An object with a CO-RE check of a type the kernel lacks (as a probe's fallback for other kernel
 * versions has) loads as a user with CAP_BPF and CAP_PERFMON but no CAP_SYS_ADMIN: libbpf before 1.3
 * would look for the type in the modules' BTF and fail with EPERM (OpenObject names the kernel's BTF
 * to avoid that).
 */
@RequiresBpf
class LoadWithoutSysAdminTest {
    @Test
    void anAbsentTypeNeedsNoSysAdmin() {
        List<String> command = new ArrayList<>(TcpinspectProcess.asNobodyWith("bpf,perfmon"));
        command.addAll(TcpinspectProcess.javaCommand(TcpinspectProcess.worldReadableClassPath(),
                "dev.tcpinspect.testing.LoadObject"));
        command.add("/bpf/test/core_absent_type.bpf.o");
        Cmd.Result r = Cmd.run(command, 60);
        assertEquals(0, r.exit(), r.err());
        assertEquals("loaded /bpf/test/core_absent_type.bpf.o", r.out().strip());
    }
}
