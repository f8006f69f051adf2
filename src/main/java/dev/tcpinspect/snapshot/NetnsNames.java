package dev.tcpinspect.snapshot;

import dev.tcpinspect.os.Netns;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/** Names of network namespaces as /run/netns (ip netns) gives them, by inode; re-read when unknown. */
public final class NetnsNames {
    private static final Path RUN_NETNS = Path.of("/run/netns");
    private static final NetnsNames SHARED = new NetnsNames();

    /** The one instance flows use (Flow.netnsName, FlowView.netnsName). */
    public static NetnsNames shared() {
        return SHARED;
    }

    private final Map<Long, String> names = new ConcurrentHashMap<>();
    private volatile long lastScan;

    /** The last answer: events come mostly from one namespace, and this spares boxing the inode for each. */
    private volatile Answer last;

    private record Answer(long inode, String name) {}

    /** The name, or null when /run/netns does not name it. */
    public String nameOf(long inode) {
        Answer a = last;
        if (a != null && a.inode == inode && (a.name != null || System.nanoTime() - lastScan <= 1_000_000_000L)) {
            return a.name;
        }
        String name = names.get(inode);
        if (name == null && System.nanoTime() - lastScan > 1_000_000_000L) {
            scan();
            name = names.get(inode);
        }
        last = new Answer(inode, name);
        return name;
    }

    private void scan() {
        lastScan = System.nanoTime();
        if (!Files.isDirectory(RUN_NETNS)) {
            return;
        }
        try (Stream<Path> entries = Files.list(RUN_NETNS)) {
            entries.forEach(p -> {
                try {
                    names.put(Netns.inodeOf(p), p.getFileName().toString());
                } catch (RuntimeException e) {
                    // not a namespace mount (a stale file): skip
                }
            });
        } catch (IOException e) {
            // unreadable: events just carry no name
        }
    }
}
