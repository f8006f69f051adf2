package dev.tcpinspect.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.testing.Cmd;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Prefixes as policies write them, judged against Python's ipaddress module (strict networks). */
class CidrTest {
    static final List<String> CASES = List.of("203.0.113.0/24", "203.0.113.7/24", "198.51.100.7", "198.51.100.7/32",
            "0.0.0.0/0", "10.0.0.0/8", "10.0.0.1/8", "10.0.0.0/33", "10.0.0/24", "256.1.1.1/32", "1.2.3.4/-1",
            "2001:db8:bad::/48", "2001:db8:bad::1/48", "2001:db8::1", "::/0", "::1/128", "2001:db8::/129",
            "fe80::1/64", "2001:db8:0:0:1:0:0:1/128", "example.com", "", "1.2.3.4/ 8", "010.0.0.1/32",
            "10.0.0.256/32", "1.2.3", "2001:db8::/032",
            "2001:db8::/48/1", "1:2:3:4:5:6:7:8:9/128");

    @Test
    void agreesWithPythonsIpaddress() {
        StringBuilder script = new StringBuilder("import ipaddress,sys\nfor t in sys.argv[1:]:\n"
                + "  try:\n    n = ipaddress.ip_network(t, strict=True)\n    print(str(n))\n"
                + "  except ValueError:\n    print('invalid')\n");
        List<String> command = new java.util.ArrayList<>(List.of("python3", "-c", script.toString()));
        command.addAll(CASES);
        Cmd.Result python = Cmd.run(command, 30);
        assertEquals(0, python.exit(), python.err());
        List<String> expected = python.out().lines().toList();
        assertEquals(CASES.size(), expected.size(), python.out());
        for (int i = 0; i < CASES.size(); i++) {
            String text = CASES.get(i);
            String want = expected.get(i);
            if (want.equals("invalid")) {
                assertThrows(IllegalArgumentException.class, () -> Cidr.parse(text), text);
            } else {
                assertEquals(want, Cidr.parse(text).toString(), text);
            }
        }
    }

    @Test
    void sayWhatIsWrong() {
        var e = assertThrows(IllegalArgumentException.class, () -> Cidr.parse("203.0.113.7/24"));
        assertTrue(e.getMessage().contains("203.0.113.0/24") && e.getMessage().contains("203.0.113.7/32"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Cidr.parse("10.0.0.0/33"));
        assertTrue(e.getMessage().contains("0 to 32"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Cidr.parse("gateway.local"));
        assertTrue(e.getMessage().contains("not an IPv4 or IPv6 address"), e.getMessage());
    }

    /** What Python accepts but a policy must not: names (no DNS), zones, IPv4-mapped IPv6. */
    @Test
    void refusedBeyondPython() {
        for (String text : List.of("cafe.bad.beef.de", "fe80::1%eth0", "fe80::1%5/64", "::ffff:192.0.2.0/120",
                "::ffff:192.0.2.1")) {
            var e = assertThrows(IllegalArgumentException.class, () -> Cidr.parse(text), text);
            assertTrue(e.getMessage().contains(text), e.getMessage());
        }
        var mapped = assertThrows(IllegalArgumentException.class, () -> Cidr.parse("::ffff:192.0.2.1"));
        assertTrue(mapped.getMessage().contains("write it as IPv4 (192.0.2.1)"), mapped.getMessage());
    }
}
