package dev.tcpinspect.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.tcpinspect.ebpf.XdpMode;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The agent's config: every key read as documented, every mistake refused with its file and line. */
class AgentConfigTest {
    private static String refusal(String text) {
        return assertThrows(AgentConfig.ConfigException.class, () -> AgentConfig.parse("agent.yaml", text)).getMessage();
    }

    @Test
    void anEmptyFileIsEveryDefault() {
        AgentConfig c = AgentConfig.parse("agent.yaml", "");
        assertEquals(AgentConfig.defaults(), c);
        assertEquals(new InetSocketAddress(InetAddress.getLoopbackAddress(), 9977), c.listen());
        assertEquals(List.of(), c.probes());
        assertNull(c.ports(), "the listening ports, found at the start");
        assertEquals(1.0, c.interval());
    }

    @Test
    void everyKey() throws Exception {
        AgentConfig c = AgentConfig.parse("agent.yaml", """
                listen: "[::1]:9100"
                interfaces: [eth0, lo, eth0]
                probes: [conn, packets]
                set: {scan.ports: 30, flood.syn_rate: 2000}
                xdp: true
                xdp_mode: generic
                tc_mode: clsact
                all_netns: true
                ports: [443, 22, 443]
                interval: 2.5
                log_format: json
                """);
        assertEquals(new InetSocketAddress(InetAddress.getByName("::1"), 9100), c.listen());
        assertEquals(List.of("eth0", "lo"), c.interfaces());
        assertEquals(List.of("conn", "packets"), c.probes());
        assertEquals(Map.of("scan.ports", "30", "flood.syn_rate", "2000"), c.settings());
        assertEquals(true, c.xdp());
        assertEquals(XdpMode.GENERIC, c.xdpMode());
        assertEquals(true, c.allNetns());
        assertEquals(Set.of(22, 443), c.ports());
        assertEquals(2.5, c.interval());
        assertEquals(AgentConfig.LogFormat.JSON, c.logFormat());
        assertEquals(new InetSocketAddress(8080), AgentConfig.parse("a", "listen: \":8080\"").listen(), "every address");
    }

    @Test
    void mistakesNameTheFileAndLine() {
        assertEquals("agent.yaml:2: unknown key 'prob'; the keys are all_netns, bpf_stats, enforce, interfaces, interval, listen,"
                + " log_format, pcap, ports, probes, set, tc_mode, upstreams, xdp, xdp_mode", refusal("xdp: false\nprob: [conn]\n"));
        assertEquals("agent.yaml:1: no probe named 'con'; the probes are packets, conn, handshake, retrans, reset, drops,"
                + " zerowin, rtt, dupack, anomaly, scan, flood, cycling, upstream, listener", refusal("probes: [con]"));
        assertEquals("agent.yaml:3: ports: 0 is not a port (1 to 65535)", refusal("ports:\n  - 443\n  - 0\n"));
        assertEquals("agent.yaml:1: interval: 0 seconds; from 0.1 to 60", refusal("interval: 0"));
        assertEquals("agent.yaml:1: listen: '9977' is not ADDRESS:PORT (127.0.0.1:9977, [::1]:9977, :9977)",
                refusal("listen: 9977"));
        assertEquals("agent.yaml:1: listen: 'fe80::1:9977': write an IPv6 address in brackets, [::1]:9977",
                refusal("listen: fe80::1:9977"));
        assertEquals("agent.yaml:1: xdp: 'yes please' is not true or false", refusal("xdp: yes please"));
        assertEquals("agent.yaml:1: log_format: 'xml' is not one of text, json", refusal("log_format: xml"));
        assertEquals("agent.yaml:2: 'xdp' is given twice", refusal("xdp: true\nxdp: false"));
        assertEquals("agent.yaml:1: set: 'ports' is not PROBE.KEY with one of the probes packets, conn, handshake,"
                + " retrans, reset, drops, zerowin, rtt, dupack, anomaly, scan, flood, cycling, upstream, listener", refusal("set: {ports: 3}"));
        assertEquals("agent.yaml:1: the config is a mapping of keys (listen:, probes:, ...), not a list", refusal("[1, 2]"));
        assertEquals("agent.yaml:1: interfaces: a list ([a, b]), not a value", refusal("interfaces: eth0"));
        assertEquals("agent.yaml:2: not valid YAML: expected ',' or ']', but got <stream end>", refusal("probes: [conn\n"));
        String many = "ports: [" + String.join(", ", java.util.stream.IntStream.rangeClosed(1, 65).mapToObj(String::valueOf)
                .toList()) + "]";
        assertEquals("agent.yaml:1: ports: 65 ports; at most 64 (each is a series of every per-port metric)", refusal(many));
    }

    @Test
    void upstreamsAsWatchTakesThem() {
        AgentConfig c = AgentConfig.parse("a", "upstreams:\n  openai: api.openai.com:443\n  pool: 198.18.8.0/24:8443\n");
        assertEquals(java.util.Map.of("openai", "api.openai.com:443", "pool", "198.18.8.0/24:8443"), c.upstreams());
        assertEquals(List.of("openai", "pool"), List.copyOf(c.upstreams().keySet()), "in the file's order");
        assertEquals(false, c.sameProbes(AgentConfig.parse("a", "upstreams: {openai: api.openai.com:443}")),
                "a reload with other upstreams loads the probes again (and resolves the names again)");
        assertEquals("agent.yaml:1: upstreams: a mapping of NAME: TARGET (openai: api.openai.com:443), not a list",
                refusal("upstreams: [a, b]"));
        assertEquals("agent.yaml:3: upstreams: 'a' is given twice", refusal("upstreams:\n  a: 10.0.0.1:80\n  a: 10.0.0.2:80\n"));
    }

    @Test
    void aCaptureFile() {
        assertEquals(new AgentConfig.Pcap(java.nio.file.Path.of("/var/tmp/f.pcapng"), true, 10, 3),
                AgentConfig.parse("a", "pcap: {file: /var/tmp/f.pcapng, payload: true, max_mb: 10, files: 3}").pcap());
        assertEquals(new AgentConfig.Pcap(java.nio.file.Path.of("/f"), false, 100, 5), AgentConfig.parse("a", "pcap: {file: /f}").pcap());
        assertEquals("agent.yaml:1: pcap: name the file (file: PATH)", refusal("pcap: {payload: true}"));
        assertEquals("agent.yaml:1: pcap.file: 'f.pcapng' is not an absolute path", refusal("pcap: {file: f.pcapng}"));
        assertEquals("agent.yaml:2: pcap.files: '0' is not a whole number from 1 to 1000",
                refusal("pcap:\n  files: 0\n  file: /f"));
        assertEquals("agent.yaml:1: pcap: unknown key 'size'; its keys are file, payload, max_mb, files",
                refusal("pcap: {file: /f, size: 3}"));
    }

    @Test
    void whatAReloadMustLoadAgain() {
        AgentConfig a = AgentConfig.parse("a", "probes: [conn]\nports: [443]");
        assertEquals(true, a.sameProbes(AgentConfig.parse("a", "probes: [conn]\nports: [22]\nlisten: 127.0.0.1:1")));
        assertEquals(false, a.sameProbes(AgentConfig.parse("a", "probes: [conn, packets]")));
        assertEquals(false, a.sameProbes(AgentConfig.parse("a", "probes: [conn]\ninterfaces: [lo]")));
    }
}
