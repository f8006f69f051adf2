package dev.tcpinspect.os;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The kernel's SNMP/MIB counters of the calling thread's network namespace, as nstat reads them
 * (/proc/thread-self/net/netstat and snmp: a header line of names, then a line of values), keyed
 * "TcpExt:ListenOverflows" and so on. Some events have no tracepoint and are only counted here.
 */
public final class SnmpCounters {
    private SnmpCounters() {}

    public static Map<String, Long> read() {
        Map<String, Long> counters = new HashMap<>();
        for (String file : new String[] {"netstat", "snmp"}) {
            try {
                parse(Files.readAllLines(Path.of("/proc/thread-self/net", file)), counters);
            } catch (IOException e) {
                throw new IllegalStateException("cannot read /proc/thread-self/net/" + file + ": " + e.getMessage(), e);
            }
        }
        return counters;
    }

    static void parse(List<String> lines, Map<String, Long> into) {
        for (int i = 0; i + 1 < lines.size(); i += 2) {
            String[] names = lines.get(i).trim().split("\\s+");
            String[] values = lines.get(i + 1).trim().split("\\s+");
            if (names.length != values.length || !names[0].equals(values[0])) {
                continue;
            }
            String group = names[0].substring(0, names[0].length() - 1);
            for (int j = 1; j < names.length; j++) {
                try {
                    into.put(group + ":" + names[j], Long.parseLong(values[j]));
                } catch (NumberFormatException e) {
                    // not a counter (never seen in practice)
                }
            }
        }
    }
}
