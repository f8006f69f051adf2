package dev.tcpinspect.snapshot;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.net.InetAddress;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class AddressesTest {
    /** Expected forms are RFC 5952's own examples and what iproute2 prints. */
    @ParameterizedTest
    @CsvSource({
        "fd00:7c1:0:0:0:0:0:1, fd00:7c1::1",
        "0:0:0:0:0:0:0:1, ::1",
        "0:0:0:0:0:0:0:0, ::",
        "2001:db8:0:0:1:0:0:1, 2001:db8::1:0:0:1",
        "2001:db8:0:1:1:1:1:1, 2001:db8:0:1:1:1:1:1",
        "2001:0db8:0000:0000:0000:ff00:0042:8329, 2001:db8::ff00:42:8329",
        "fe80:0:0:0:0:0:0:0, fe80::",
        "1:0:0:2:0:0:0:3, 1:0:0:2::3",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff, ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "2001:db8:0:0:0:0:0:0, 2001:db8::",
        "198.18.0.1, 198.18.0.1"})
    void formatsAsRfc5952(String input, String expected) throws Exception {
        assertEquals(expected, Addresses.format(InetAddress.getByName(input)));
    }

    /** The per-event writer, into one reused buffer, against the JDK's own IPv4 text. */
    @Test
    void writesIpv4AsTheJdkDoes() throws Exception {
        java.util.Random random = new java.util.Random(7);
        char[] text = new char[Addresses.MAX_LENGTH];
        byte[] bytes = new byte[4];
        for (int i = 0; i < 10_000; i++) {
            random.nextBytes(bytes);
            if (i < 2) {
                java.util.Arrays.fill(bytes, (byte) (i == 0 ? 0 : 255));
            }
            String expected = InetAddress.getByAddress(bytes).getHostAddress();
            assertEquals(expected, new String(text, 0, Addresses.write(bytes, 4, text)));
        }
    }

    @Test
    void endpointsBracketIpv6() throws Exception {
        assertEquals("[fd00:7c1::1]:443", Addresses.endpoint(InetAddress.getByName("fd00:7c1::1"), 443));
        assertEquals("198.18.0.1:80", Addresses.endpoint(InetAddress.getByName("198.18.0.1"), 80));
    }
}
