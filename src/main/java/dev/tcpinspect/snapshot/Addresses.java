package dev.tcpinspect.snapshot;

import java.net.Inet6Address;
import java.net.InetAddress;

/** Addresses as people and tools write them: IPv6 in RFC 5952 form (fd00:7c1::1), as ip and ss print it. */
public final class Addresses {
    /** The longest address text: eight groups of four hex digits and seven colons. */
    public static final int MAX_LENGTH = 39;
    private static final char[] HEX = "0123456789abcdef".toCharArray();

    private Addresses() {}

    public static String format(InetAddress address) {
        byte[] bytes = address.getAddress();
        char[] text = new char[MAX_LENGTH];
        return new String(text, 0, write(bytes, bytes.length, text));
    }

    /**
     * Writes an address of length 4 or 16 bytes (network order) as {@link #format} does into text (at
     * least {@link #MAX_LENGTH} chars) and returns the number of chars: the per-event path, no allocation.
     */
    public static int write(byte[] b, int length, char[] text) {
        if (length == 4) {
            int n = 0;
            for (int i = 0; i < 4; i++) {
                if (i > 0) {
                    text[n++] = '.';
                }
                n = decimal(b[i] & 0xFF, text, n);
            }
            return n;
        }
        // The longest run of two or more zero groups (the first one on a tie) becomes "::".
        int bestStart = -1;
        int bestLength = 1;
        for (int i = 0; i < 8; ) {
            if (group(b, i) != 0) {
                i++;
                continue;
            }
            int j = i;
            while (j < 8 && group(b, j) == 0) {
                j++;
            }
            if (j - i > bestLength) {
                bestStart = i;
                bestLength = j - i;
            }
            i = j;
        }
        int n = 0;
        for (int i = 0; i < 8; i++) {
            if (i == bestStart) {
                text[n++] = ':';
                text[n++] = ':';
                i += bestLength - 1;
                continue;
            }
            if (n > 0 && text[n - 1] != ':') {
                text[n++] = ':';
            }
            n = hex(group(b, i), text, n);
        }
        return n;
    }

    /** "198.18.0.1:80" or "[fd00:7c1::1]:80". */
    public static String endpoint(InetAddress address, int port) {
        String a = format(address);
        return (address instanceof Inet6Address ? "[" + a + "]" : a) + ":" + port;
    }

    private static int group(byte[] b, int i) {
        return ((b[2 * i] & 0xFF) << 8) | (b[2 * i + 1] & 0xFF);
    }

    private static int decimal(int v, char[] text, int n) {
        if (v >= 100) {
            text[n++] = (char) ('0' + v / 100);
        }
        if (v >= 10) {
            text[n++] = (char) ('0' + v / 10 % 10);
        }
        text[n++] = (char) ('0' + v % 10);
        return n;
    }

    /** Lowercase hex without leading zeros (RFC 5952 section 4.1). */
    private static int hex(int v, char[] text, int n) {
        boolean started = false;
        for (int shift = 12; shift >= 0; shift -= 4) {
            int digit = (v >> shift) & 0xF;
            if (digit != 0 || started || shift == 0) {
                text[n++] = HEX[digit];
                started = true;
            }
        }
        return n;
    }
}
