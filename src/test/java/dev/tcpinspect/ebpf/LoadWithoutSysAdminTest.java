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
        String caps = "-all,+bpf,+perfmon";
        List<String> command = new ArrayList<>(List.of("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                "--inh-caps=" + caps, "--ambient-caps=" + caps, "--bounding-set=" + caps));
        String java = ProcessHandle.current().info().command().orElse("java");
        command.addAll(List.of(java, "--enable-native-access=ALL-UNNAMED", "-cp",
                TcpinspectProcess.worldReadableClassPath(), "dev.tcpinspect.testing.LoadObject",
                "/bpf/test/core_absent_type.bpf.o"));
        Cmd.Result r = Cmd.run(command, 60);
        assertEquals(0, r.exit(), r.err());
        assertEquals("loaded /bpf/test/core_absent_type.bpf.o", r.out().strip());
    }
}
