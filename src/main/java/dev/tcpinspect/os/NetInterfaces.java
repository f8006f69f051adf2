package dev.tcpinspect.os;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/** Network interfaces of the calling thread's namespace, read from sysfs and if_nametoindex. */
public final class NetInterfaces {
    private static final int IFF_UP = 0x1;

    private NetInterfaces() {}

    /** The interface's index, or a clear error naming it when it does not exist here. */
    public static int indexOf(String name) {
        int index = name.length() < 16 ? Libc.ifNameToIndex(name) : 0;
        if (index == 0) {
            throw new InputRefusedException("no network interface named '" + name
                    + "' in this network namespace (see `ip link` for the names)");
        }
        return index;
    }

    /** Names of all interfaces, sorted. */
    /** The name of the interface with this index in this namespace, or "ifindex N" when none has it now. */
    public static String nameOf(int ifindex) {
        for (String name : all()) {
            try {
                if (Integer.parseInt(Files.readString(Path.of("/sys/class/net", name, "ifindex")).trim()) == ifindex) {
                    return name;
                }
            } catch (IOException | NumberFormatException e) {
                // gone meanwhile
            }
        }
        return "ifindex " + ifindex;
    }

    public static List<String> all() {
        try (Stream<Path> entries = Files.list(Path.of("/sys/class/net"))) {
            return entries.map(p -> p.getFileName().toString()).filter(n -> !n.equals("bonding_masters"))
                    .sorted().toList();
        } catch (IOException e) {
            throw new IllegalStateException("cannot list /sys/class/net: " + e.getMessage(), e);
        }
    }

    /** Names of interfaces that are administratively up, loopback included. */
    public static List<String> up() {
        List<String> up = new ArrayList<>();
        for (String name : all()) {
            try {
                String flags = Files.readString(Path.of("/sys/class/net", name, "flags")).trim();
                if ((Integer.decode(flags) & IFF_UP) != 0) {
                    up.add(name);
                }
            } catch (IOException | NumberFormatException e) {
                // The interface went away between listing and reading: not up.
            }
        }
        return up;
    }
}
