package dev.tcpinspect.os;

import java.nio.file.Files;
import java.nio.file.Path;

/** tracefs, which classic tracepoint attachment reads event ids from; not mounted at boot everywhere. */
public final class Tracefs {
    public static final Path TRACING = Path.of("/sys/kernel/tracing");
    private static final Path DEBUG_TRACING = Path.of("/sys/kernel/debug/tracing");

    private Tracefs() {}

    /** Where tracepoint events are listed, or null when tracefs is not mounted. */
    public static Path eventsDir() {
        for (Path p : new Path[] {TRACING.resolve("events"), DEBUG_TRACING.resolve("events")}) {
            if (Files.isDirectory(p)) {
                return p;
            }
        }
        return null;
    }

    /** Mounts tracefs at /sys/kernel/tracing if no tracefs is mounted (needs root). */
    public static synchronized void ensureMounted() {
        if (eventsDir() == null) {
            Libc.mount("tracefs", TRACING.toString(), "tracefs");
        }
    }
}
