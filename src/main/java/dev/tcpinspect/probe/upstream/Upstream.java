package dev.tcpinspect.probe.upstream;

import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Pattern;

/**
 * An upstream the user named (--upstream NAME=TARGET[,TARGET...]): the addresses or prefixes and the
 * port its connections go to. Host names are resolved once, when the upstream is parsed.
 *
 * @param name what every output calls it (a metric label: letters, digits, '_', '-')
 * @param spec the targets as the user wrote them
 * @param targets what they resolved to
 */
public record Upstream(String name, String spec, List<Target> targets) {
    /** No '.': a name is a key of JSON objects whose paths are dotted. */
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_-]{1,32}");

    public Upstream {
        targets = List.copyOf(targets);
    }

    /**
     * Remote addresses sharing the first prefixLength bits of address, and the port (0: any).
     *
     * @param address 4 or 16 bytes, network byte order
     */
    public record Target(byte[] address, int prefixLength, int port) {
        public Target {
            address = address.clone();
        }

        public boolean ipv6() {
            return address.length == 16;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Target t && Arrays.equals(address, t.address) && prefixLength == t.prefixLength
                    && port == t.port;
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(address) * 31 * 31 + prefixLength * 31 + port;
        }

        @Override
        public String toString() {
            try {
                String a = dev.tcpinspect.snapshot.Addresses.format(InetAddress.getByAddress(address));
                String prefix = prefixLength == address.length * 8 ? a : a + "/" + prefixLength;
                String host = ipv6() && port != 0 ? "[" + prefix + "]" : prefix;
                return port == 0 ? host : host + ":" + port;
            } catch (UnknownHostException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    /**
     * NAME=TARGET[,TARGET...], a TARGET being HOST:PORT, ADDRESS:PORT, CIDR:PORT, [IPV6]:PORT,
     * [IPV6/LEN]:PORT, or any of those without ":PORT" for every port (a bare IPv6 address needs no
     * brackets then). Refused with an IllegalArgumentException that says what is wrong.
     */
    public static Upstream parse(String text) {
        int eq = text.indexOf('=');
        if (eq < 0) {
            throw new IllegalArgumentException("'" + text + "' is not NAME=TARGET (e.g. openai=api.openai.com:443)");
        }
        String name = text.substring(0, eq).strip();
        if (!NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("upstream name '" + name + "' must be 1 to 32 letters, digits, '_' or"
                    + " '-'");
        }
        String spec = text.substring(eq + 1).strip();
        if (spec.isEmpty()) {
            throw new IllegalArgumentException("upstream " + name + " has no target (NAME=HOST:PORT or NAME=CIDR:PORT)");
        }
        List<Target> targets = new ArrayList<>();
        for (String one : spec.split(",")) {
            if (one.isBlank()) {
                continue;
            }
            for (Target t : target(name, one.strip())) {
                if (!targets.contains(t)) {
                    targets.add(t);
                }
            }
        }
        if (targets.isEmpty()) {
            throw new IllegalArgumentException("upstream " + name + " has no target (NAME=HOST:PORT or NAME=CIDR:PORT)");
        }
        return new Upstream(name, spec, targets);
    }

    private static List<Target> target(String name, String text) {
        String host = text;
        int port = 0;
        if (text.startsWith("[")) {
            int close = text.indexOf(']');
            if (close < 0) {
                throw new IllegalArgumentException("upstream " + name + ": '" + text + "' has no closing ']'");
            }
            host = text.substring(1, close);
            String rest = text.substring(close + 1);
            if (!rest.isEmpty()) {
                if (!rest.startsWith(":")) {
                    throw new IllegalArgumentException("upstream " + name + ": '" + text + "': expected ':PORT' after ']'");
                }
                port = port(name, rest.substring(1));
            }
        } else if (text.indexOf(':') >= 0 && text.indexOf(':') == text.lastIndexOf(':')) {
            host = text.substring(0, text.indexOf(':'));
            port = port(name, text.substring(text.indexOf(':') + 1));
        }
        if (host.isEmpty()) {
            throw new IllegalArgumentException("upstream " + name + ": '" + text + "' names no host");
        }
        int slash = host.indexOf('/');
        if (slash >= 0) {
            InetAddress network = literal(host.substring(0, slash));
            if (network == null) {
                throw new IllegalArgumentException("upstream " + name + ": '" + host + "' is not an address prefix");
            }
            int bits = network.getAddress().length * 8;
            int length;
            try {
                length = Integer.parseInt(host.substring(slash + 1));
            } catch (NumberFormatException e) {
                length = -1;
            }
            if (length < 0 || length > bits) {
                throw new IllegalArgumentException("upstream " + name + ": prefix length in '" + host + "' must be 0 to "
                        + bits);
            }
            return List.of(new Target(masked(network.getAddress(), length), length, port));
        }
        InetAddress literal = literal(host);
        InetAddress[] addresses;
        if (literal != null) {
            addresses = new InetAddress[] {literal};
        } else {
            try {
                addresses = InetAddress.getAllByName(host);
            } catch (UnknownHostException e) {
                throw new IllegalArgumentException("upstream " + name + ": cannot resolve '" + host + "'");
            }
        }
        List<Target> targets = new ArrayList<>();
        for (InetAddress a : addresses) {
            byte[] bytes = a instanceof Inet6Address six && isV4Mapped(six.getAddress())
                    ? Arrays.copyOfRange(six.getAddress(), 12, 16) : a.getAddress();
            targets.add(new Target(bytes, bytes.length * 8, port));
        }
        return targets;
    }

    /** An address written as one (never a name lookup), or null. */
    private static InetAddress literal(String text) {
        boolean v4 = text.matches("[0-9]{1,3}(\\.[0-9]{1,3}){3}");
        boolean v6 = text.indexOf(':') >= 0 && text.matches("[0-9A-Fa-f:.]+");
        if (!v4 && !v6) {
            return null;
        }
        try {
            InetAddress a = InetAddress.getByName(text);
            return v4 == (a instanceof Inet4Address) || v6 ? a : null;
        } catch (UnknownHostException e) {
            return null;
        }
    }

    private static boolean isV4Mapped(byte[] a) {
        for (int i = 0; i < 10; i++) {
            if (a[i] != 0) {
                return false;
            }
        }
        return a[10] == (byte) 0xff && a[11] == (byte) 0xff;
    }

    private static int port(String name, String text) {
        try {
            int port = Integer.parseInt(text);
            if (port >= 1 && port <= 65535) {
                return port;
            }
        } catch (NumberFormatException e) {
            // refused below
        }
        throw new IllegalArgumentException("upstream " + name + ": port '" + text + "' must be 1 to 65535");
    }

    private static byte[] masked(byte[] address, int length) {
        byte[] m = address.clone();
        for (int i = 0; i < m.length; i++) {
            int keep = Math.clamp(length - 8L * i, 0, 8);
            m[i] &= (byte) (0xff << (8 - keep));
        }
        return m;
    }
}
