package dev.tcpinspect.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.policy.Policy.Protocol;
import dev.tcpinspect.policy.Policy.Verdict;
import java.io.StringReader;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

public class PolicyFileTest {
    /** The form the enforcement issue says must be accepted as written. */
    public static final String ISSUE_EXAMPLE = """
            default: allow               # or deny
            services: [443, 8443]        # only these destination ports are served; other TCP is dropped before the stack
            failsafe: [22]               # never closed by this policy
            deny: [203.0.113.0/24, "2001:db8:bad::/48"]
            allow: [198.51.100.7/32]     # wins over deny
            limits:
              per_source: {connections: 100, new_per_second: 50}
            auto_block: {ttl: 10m}       # sources the detection probes name as scanners or flooders
            """;

    static Policy parse(String yaml) {
        return PolicyFile.parse("p.yaml", new StringReader(yaml));
    }

    @Test
    void theIssuesExampleAsWritten() {
        Policy p = parse(ISSUE_EXAMPLE);
        assertEquals(Verdict.ALLOW, p.defaultVerdict());
        assertEquals(List.of(443, 8443), p.services().stream().map(Policy.Service::firstPort).toList());
        assertEquals(List.of(22), List.copyOf(p.failsafe()));
        assertEquals(List.of(Cidr.parse("203.0.113.0/24"), Cidr.parse("2001:db8:bad::/48")), p.deny());
        assertEquals(List.of(Cidr.parse("198.51.100.7")), p.allow());
        assertEquals(OptionalLong.of(100), p.limits().connections());
        assertEquals(OptionalLong.of(50), p.limits().newPerSecond());
        assertEquals(Optional.of(Duration.ofMinutes(10)), p.autoBlockTtl());
    }

    @Test
    void defaultsAndLongerForms() {
        Policy minimal = parse("default: deny\n");
        assertEquals(Verdict.DENY, minimal.defaultVerdict());
        assertEquals(List.of(22), List.copyOf(minimal.failsafe()), "ssh stays open unless the policy says otherwise");
        assertTrue(minimal.services().isEmpty() && minimal.deny().isEmpty() && minimal.autoBlockTtl().isEmpty());
        Policy p = parse("""
                services:
                  - 80
                  - "8000-8100"
                  - {port: 443, address: 192.0.2.10, expect: tls}
                  - port: 22
                    expect: ssh
                failsafe: []
                deny: []
                auto_block: {ttl: 1h30m}
                """);
        assertEquals("80, 8000-8100, 443 on 192.0.2.10/32 (expects tls), 22 (expects ssh)",
                String.join(", ", p.services().stream().map(Object::toString).toList()));
        assertEquals(Optional.of(Protocol.SSH), p.services().get(3).expect());
        assertTrue(p.failsafe().isEmpty());
        assertTrue(p.deny().isEmpty());
        assertEquals(Optional.of(Duration.ofMinutes(90)), p.autoBlockTtl());
        Policy named = parse("""
                deny: [{prefix: 203.0.113.0/24, name: bogons}, 198.51.100.0/24]
                count: [{prefix: "2001:db8::/32", name: doc.v6}]
                services: [{port: 8080, expect: http, on_misfit: drop}]
                syn_flood: {syn_per_second: 500, known_for: 2h}
                """);
        assertEquals(Map.of(Cidr.parse("203.0.113.0/24"), "bogons", Cidr.parse("2001:db8::/32"), "doc.v6"), named.names());
        assertEquals(List.of(Cidr.parse("2001:db8::/32")), named.count());
        assertEquals(2, named.deny().size());
        Policy marked = parse("mark: [{prefix: 198.51.100.0/24, mark: 0x2a, name: partners}, {prefix: \"2001:db8::/32\", mark: 7}]\n");
        assertEquals(Map.of(Cidr.parse("198.51.100.0/24"), 0x2a, Cidr.parse("2001:db8::/32"), 7), marked.marks());
        assertEquals(Map.of(Cidr.parse("198.51.100.0/24"), "partners"), marked.names());
        assertEquals(0xFFFFFFFF, parse("mark: [{prefix: 10.0.0.0/8, mark: 4294967295}]").marks().get(Cidr.parse("10.0.0.0/8")));
        assertEquals(Policy.OnMisfit.DROP, named.services().getFirst().onMisfit());
        assertEquals(Policy.OnMisfit.RESET, parse("services: [{port: 443, expect: tls, on_misfit: reset}]").services()
                .getFirst().onMisfit());
        assertEquals(Policy.OnMisfit.COUNT, parse("services: [{port: 443, expect: tls}]").services().getFirst().onMisfit());
        assertEquals(Optional.of(new Policy.SynFlood(500, Duration.ofHours(2))), named.synFlood());
    }

    @Test
    void refusalsNameTheLineAndTheProblem() {
        String[][] cases = {
            {"default: allow\nservices: [443, 70000]\n", "p.yaml:2: services: port 70000 is out of range"},
            {"default: maybe\n", "p.yaml:1: default is one of allow, deny, not 'maybe'"},
            {"default: allow\ndeny:\n  - 10.0.0.1/8\n", "p.yaml:3: deny: '10.0.0.1/8' has host bits set"},
            {"default: allow\ndeny: [300.1.1.1/32]\n", "p.yaml:2: deny: '300.1.1.1/32' is not an IPv4 or IPv6"},
            {"default: allow\nservise: [1]\n", "p.yaml:2: unknown key 'servise' in the policy"},
            {"limits:\n  per_source: {connections: 0}\n", "p.yaml:2: connections must be a whole number from 1"},
            {"limits:\n  per_source: {burst: 3}\n", "p.yaml:2: unknown key 'burst' in per_source"},
            {"services: [443, 443]\n", "p.yaml:1: port 443 is already listed, on line 1"},
            {"services: [\"9000-8000\"]\n", "runs backwards"},
            {"services:\n  - {address: 192.0.2.1}\n", "p.yaml:2: a service names its port"},
            {"services:\n  - {port: 443, address: 192.0.2.0/24}\n", "address is one local address, not a prefix"},
            {"services:\n  - {port: 443, expect: ftp}\n", "expect is one of http, tls, http2, ssh, not 'ftp'"},
            {"auto_block: {ttl: soon}\n", "p.yaml:1: ttl must be a duration such as 90s"},
            {"auto_block: {ttl: 90d}\n", "ttl must be from 1s to 30d"},
            {"deny: [{prefix: 10.0.0.0/8, name: a}]\ncount: [{prefix: 10.1.0.0/16, name: a}]\n",
                    "p.yaml:2: name: 'a' is already the name of the rule at line 1"},
            {"count: [{prefix: 10.1.0.0/16, name: \"no spaces\"}]\n", "p.yaml:1: name: 'no spaces' is not a rule name"},
            {"deny: [{name: x}]\n", "p.yaml:1: a deny rule names its prefix"},
            {"syn_flood: {known_for: 1h}\n", "p.yaml:1: syn_flood needs syn_per_second"},
            {"mark: [10.0.0.0/8]\n", "p.yaml:1: a mark rule names its prefix and its mark"},
            {"mark: [{prefix: 10.0.0.0/8}]\n", "p.yaml:1: a mark rule names its mark"},
            {"mark: [{prefix: 10.0.0.0/8, mark: 0}]\n", "p.yaml:1: mark: '0' is not a mark"},
            {"mark: [{prefix: 10.0.0.0/8, mark: 0x100000000}]\n", "p.yaml:1: mark: '0x100000000' is not a mark"},
            {"mark: [{prefix: 10.0.0.0/8, mark: blue}]\n", "p.yaml:1: mark: 'blue' is not a mark"},
            {"mark:\n  - {prefix: 10.0.0.0/8, mark: 1}\n  - {prefix: 10.0.0.0/8, mark: 2}\n", "p.yaml:3: mark: 10.0.0.0/8 is marked twice"},
            {"count: [{prefix: 10.0.0.0/8, mark: 1}]\n", "p.yaml:1: "},
            {"services: [{port: 80, on_misfit: drop}]\n", "p.yaml:1: on_misfit needs expect"},
            {"deny: 10.0.0.0/8\n", "p.yaml:1: deny must be a list"},
            {"default: allow\ndefault: deny\n", "p.yaml:2: 'default' is given twice (first on line 1)"},
            {"services: [443\n", "not valid YAML"},
            {"", "p.yaml: is empty"},
            {"- 443\n", "p.yaml:1: the policy must be a mapping"},
            {"a: &a [1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n", "not valid YAML"},
            {"default: \"al\\nlow\"\n", "default is one of allow, deny, not 'al\\nlow'"},
        };
        String[][] whole = {
            {"services:\n  - {port: 443, address: 192.0.2.0/24}\n",
                "p.yaml:2: address is one local address, not a prefix: '192.0.2.0/24'"},
            {"deny: [[10.0.0.0/8]]\n", "p.yaml:1: deny must be a single value, not a list"},
            {"deny:\n  - 10.0.0.1/8\n", "p.yaml:2: deny: '10.0.0.1/8' has host bits set: the prefix is 10.0.0.0/8"
                + " (or write the host as 10.0.0.1/32)"},
            {"services: [80, \"8000-8100\", 8080]\n", "p.yaml:1: port 8080 is already listed, on line 1"},
            {"services:\n  - 8080\n  - \"8000-8100\"\n", "p.yaml:3: port 8080 is already listed, on line 2"},
            {"services: []\n", "p.yaml:1: services lists no port, which would close every one: leave services out"
                + " for no service filter, or name the ports served"},
            {"failsafe:\n", "p.yaml:1: failsafe has no value: write a list ([] for an empty one), or leave the key out"},
            {"deny: \"\"\n", "p.yaml:1: deny has no value: write a list ([] for an empty one), or leave the key out"},
        };
        for (String[] c : whole) {
            PolicyException e = assertThrows(PolicyException.class, () -> parse(c[0]), c[0]);
            assertEquals(c[1], e.getMessage(), c[0]);
        }
        for (String[] c : cases) {
            PolicyException e = assertThrows(PolicyException.class, () -> parse(c[0]), c[0]);
            assertTrue(e.getMessage().contains(c[1]), () -> "for\n" + c[0] + "got: " + e.getMessage());
            assertEquals(1, e.getMessage().lines().count(), e.getMessage());
        }
    }
}
