package dev.tcpinspect.output;

import java.net.Inet6Address;
import java.net.InetAddress;

/** Addresses as people and tools write them: IPv6 in RFC 5952 form (fd00:7c1::1), as ip and ss print it. */
public final class Addresses {
    private Addresses() {}

    public static String format(InetAddress address) {
        if (!(address instanceof Inet6Address)) {
            return address.getHostAddress();
        }
        byte[] b = address.getAddress();
        int[] groups = new int[8];
        for (int i = 0; i < 8; i++) {
            groups[i] = ((b[2 * i] & 0xFF) << 8) | (b[2 * i + 1] & 0xFF);
        }
        // The longest run of two or more zero groups (the first one on a tie) becomes "::".
        int bestStart = -1;
        int bestLength = 1;
        for (int i = 0; i < 8; ) {
            if (groups[i] != 0) {
                i++;
                continue;
            }
            int j = i;
            while (j < 8 && groups[j] == 0) {
                j++;
            }
            if (j - i > bestLength) {
                bestStart = i;
                bestLength = j - i;
            }
            i = j;
        }
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < 8; i++) {
            if (i == bestStart) {
                s.append("::");
                i += bestLength - 1;
                continue;
            }
            if (!s.isEmpty() && s.charAt(s.length() - 1) != ':') {
                s.append(':');
            }
            s.append(Integer.toHexString(groups[i]));
        }
        return s.toString();
    }

    /** "198.18.0.1:80" or "[fd00:7c1::1]:80". */
    public static String endpoint(InetAddress address, int port) {
        String a = format(address);
        return (address instanceof Inet6Address ? "[" + a + "]" : a) + ":" + port;
    }
}
