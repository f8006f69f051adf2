package dev.tcpinspect.policy;

import dev.tcpinspect.snapshot.Addresses;
import java.net.InetAddress;
import java.util.Arrays;
import java.util.regex.Pattern;

/**
 * An IPv4 or IPv6 prefix: "203.0.113.0/24", "2001:db8:bad::/48", or an address alone (a host: /32 or
 * /128). Written with host bits set ("203.0.113.7/24") it is refused rather than widened in silence:
 * in a firewall rule that is more often a typo than a wish.
 */
public record Cidr(byte[] address, int prefixLength) {
    /** Literal addresses only (no zone: a prefix is not tied to one link). Names never reach a resolver. */
    private static final Pattern LITERAL = Pattern.compile("[0-9A-Fa-f:.]+");
    /** Four decimal parts without leading zeros (010 would be octal to some tools, decimal to others). */
    private static final String DOTTED_QUAD = "((0|[1-9]\\d{0,2})\\.){3}(0|[1-9]\\d{0,2})";

    public Cidr {
        address = address.clone();
        if (address.length != 4 && address.length != 16) {
            throw new IllegalArgumentException("an address has 4 or 16 bytes, not " + address.length);
        }
        if (prefixLength < 0 || prefixLength > address.length * 8) {
            throw new IllegalArgumentException("prefix length " + prefixLength + " is out of range");
        }
    }

    /** Parses a prefix as policies write it; the message of the exception says what is wrong. */
    public static Cidr parse(String text) {
        String t = text.strip();
        int slash = t.indexOf('/');
        String addressText = slash < 0 ? t : t.substring(0, slash);
        if (addressText.isEmpty() || !LITERAL.matcher(addressText).matches()
                || (!addressText.contains(":") && !addressText.matches(DOTTED_QUAD))) {
            throw new IllegalArgumentException("'" + text + "' is not an IPv4 or IPv6 address or prefix");
        }
        byte[] bytes;
        try {
            bytes = InetAddress.ofLiteral(addressText).getAddress(); // a literal only: never DNS
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("'" + text + "' is not an IPv4 or IPv6 address or prefix");
        }
        if (addressText.contains(":") && bytes.length == 4) {
            // The JDK reads "::ffff:192.0.2.1" as IPv4; a packet hook sees such traffic as IPv4 too,
            // so a rule written this way would never match what it names: say how to write it.
            throw new IllegalArgumentException("'" + text + "' is an IPv4-mapped IPv6 address: write it as IPv4 ("
                    + InetAddress.ofLiteral(addressText).getHostAddress() + (slash < 0 ? "" : "/...") + ")");
        }
        int bits = bytes.length * 8;
        int length = bits;
        if (slash >= 0) {
            String lengthText = t.substring(slash + 1);
            if (!lengthText.matches("\\d{1,3}") || Integer.parseInt(lengthText) > bits) {
                throw new IllegalArgumentException("'" + text + "': the prefix length must be a number from 0 to " + bits);
            }
            length = Integer.parseInt(lengthText);
        }
        Cidr cidr = new Cidr(bytes, length);
        if (!Arrays.equals(cidr.network(), bytes)) {
            throw new IllegalArgumentException("'" + text + "' has host bits set: the prefix is " + new Cidr(cidr.network(),
                    length) + " (or write the host as " + new Cidr(bytes, bits) + ")");
        }
        return cidr;
    }

    public boolean ipv6() {
        return address.length == 16;
    }

    /** The address with every bit past the prefix cleared. */
    public byte[] network() {
        byte[] n = address.clone();
        for (int i = 0; i < n.length; i++) {
            int keep = Math.max(0, Math.min(8, prefixLength - 8 * i));
            n[i] &= (byte) (0xFF00 >> keep);
        }
        return n;
    }

    @Override
    public byte[] address() {
        return address.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Cidr c && c.prefixLength == prefixLength && Arrays.equals(c.address, address);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(address) + prefixLength;
    }

    @Override
    public String toString() {
        char[] text = new char[Addresses.MAX_LENGTH];
        return new String(text, 0, Addresses.write(address, address.length, text)) + "/" + prefixLength;
    }
}
