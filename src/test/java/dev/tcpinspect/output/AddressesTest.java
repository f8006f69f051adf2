package dev.tcpinspect.output;

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
        "198.18.0.1, 198.18.0.1"})
    void formatsAsRfc5952(String input, String expected) throws Exception {
        assertEquals(expected, Addresses.format(InetAddress.getByName(input)));
    }

    @Test
    void endpointsBracketIpv6() throws Exception {
        assertEquals("[fd00:7c1::1]:443", Addresses.endpoint(InetAddress.getByName("fd00:7c1::1"), 443));
        assertEquals("198.18.0.1:80", Addresses.endpoint(InetAddress.getByName("198.18.0.1"), 80));
    }
}
