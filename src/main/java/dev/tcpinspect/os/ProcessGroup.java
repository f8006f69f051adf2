package dev.tcpinspect.os;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * This process's group as job control sees it. A stop (SIGTSTP, Ctrl-Z) makes sense only where a
 * shell can resume the job: the kernel ignores SIGTSTP in an orphaned process group (no member with
 * a parent in the same session but another group), and so must a program that stops itself on
 * Ctrl-Z read as a key, or nothing would ever continue it.
 */
public final class ProcessGroup {
    private ProcessGroup() {}

    /** {ppid, pgrp, session} of a process, from /proc/PID/stat; null when it is gone or unreadable. */
    static long[] stat(long pid) {
        try {
            String s = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            String[] f = s.substring(s.lastIndexOf(')') + 2).split(" ");
            return new long[] {Long.parseLong(f[1]), Long.parseLong(f[2]), Long.parseLong(f[3])};
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /**
     * Whether this process's group is orphaned, judged along its own line of ancestors: the group has
     * a parent in the session outside it (a job-control shell) when the first ancestor outside the
     * group is in the same session.
     */
    public static boolean orphaned() {
        long[] self = stat(ProcessHandle.current().pid());
        if (self == null) {
            return false; // unknown: behave as a job does
        }
        long pgrp = self[1];
        long session = self[2];
        long parent = self[0];
        for (int depth = 0; parent > 0 && depth < 64; depth++) {
            long[] p = stat(parent);
            if (p == null) {
                return false; // unknown (hidden, or gone meanwhile): behave as a job does
            }
            if (p[1] != pgrp) {
                return p[2] != session;
            }
            parent = p[0];
        }
        return true;
    }
}
