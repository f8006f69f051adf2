package dev.tcpinspect.agent;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;

/** The TCP ports this namespace listens on (/proc/net/tcp and tcp6), the lowest first. */
final class ListeningPorts {
    private static final String LISTEN = "0A";

    private ListeningPorts() {}

    /** At most limit ports, the lowest: services sit low, ephemeral listeners high. */
    static Set<Integer> read(int limit) {
        TreeSet<Integer> ports = new TreeSet<>();
        for (String file : new String[] {"/proc/net/tcp", "/proc/net/tcp6"}) {
            try {
                for (String line : Files.readAllLines(Path.of(file))) {
                    String[] f = line.trim().split("\\s+");
                    if (f.length > 3 && f[3].equals(LISTEN)) {
                        String local = f[1];
                        ports.add(Integer.parseInt(local.substring(local.lastIndexOf(':') + 1), 16));
                    }
                }
            } catch (IOException | RuntimeException e) {
                // no IPv6, or a line being rewritten: the ports of the other file still count
            }
        }
        TreeSet<Integer> lowest = new TreeSet<>();
        for (int p : ports) {
            if (lowest.size() == limit) {
                break;
            }
            lowest.add(p);
        }
        return lowest;
    }
}
