package dev.tcpinspect.os;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The calling process's effective capabilities, read from /proc/self/status. */
public record Privileges(boolean root, boolean capBpf, boolean capNetAdmin, boolean capPerfmon, boolean capSysAdmin) {
    private static final int CAP_NET_ADMIN = 12;
    private static final int CAP_SYS_ADMIN = 21;
    private static final int CAP_PERFMON = 38;
    private static final int CAP_BPF = 39;

    public static Privileges current() {
        long eff = 0;
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("CapEff:")) {
                    eff = Long.parseUnsignedLong(line.substring(7).trim(), 16);
                }
            }
        } catch (IOException | NumberFormatException e) {
            eff = 0;
        }
        return new Privileges(Libc.geteuid() == 0, bit(eff, CAP_BPF), bit(eff, CAP_NET_ADMIN), bit(eff, CAP_PERFMON),
                bit(eff, CAP_SYS_ADMIN));
    }

    private static boolean bit(long mask, int cap) {
        return (mask & (1L << cap)) != 0;
    }

    /** Enough to load packet programs and attach them to interfaces, and the BTF-typed tracepoints (CAP_PERFMON). */
    public boolean canAttachPacketPrograms() {
        return ((capBpf && capPerfmon) || capSysAdmin) && capNetAdmin;
    }

    /** Enough to find out which program a filter or link runs (bpf_prog_get_fd_by_id takes CAP_SYS_ADMIN). */
    public boolean canInspectOthersPrograms() {
        return capSysAdmin && capNetAdmin;
    }

    /** The user a watcher becomes once attached (nobody, on every distribution). */
    public static final int NOBODY = 65534;

    /**
     * Gives up root, and with it every capability, in every thread, for good: for a process whose
     * kernel objects are all held by file descriptors it already has (maps, rings, links that detach
     * when closed), which needs no privilege to read or to close. Does nothing and returns false
     * when not running as root: a process given capabilities as another user can only drop them
     * thread by thread, which a JVM's own threads would escape.
     */
    public static boolean dropRoot() {
        if (Libc.geteuid() != 0) {
            return false;
        }
        Libc.becomeUser(NOBODY, NOBODY);
        Privileges after = current();
        if (after.capBpf || after.capNetAdmin || after.capPerfmon || after.capSysAdmin) {
            // securebits that keep capabilities across setuid (SECBIT_KEEP_CAPS, NO_SETUID_FIXUP)
            throw new IllegalStateException("gave up root but kept capabilities (securebits?); run with --keep-root");
        }
        return true;
    }

    /** Enough for the enforcer's pinned tables and links: root's folders in /sys/fs/bpf and /run. */
    public boolean canUseEnforcer() {
        return root && canAttachPacketPrograms();
    }

    /** The line to show when the enforcer's privileges are missing. */
    public static final String MISSING_ROOT = "this needs root: run it with sudo (the enforcer's pins in /sys/fs/bpf"
            + " and its lock in /run are root's)";

    /** The one line to show when they are missing. */
    public static final String MISSING = "this needs root: run it with sudo, or grant CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON";
}
