package dev.tcpinspect.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.tcpinspect.policy.PolicyFuzzTest;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Whatever an agent config file holds (a config with every key, mutated byte by byte; random text;
 * binary; huge; deeply nested; empty), reading it gives a config or one ConfigException of one line
 * that names the file: never another exception, never a hang. The agent reads the same way at its
 * start (exit status 2) and on SIGHUP (the running config kept); AgentCliTest sends it such files.
 * Seeded, so a failure names the case that repeats it.
 */
class AgentConfigFuzzTest {
    /** Every key the README documents, each with a value it takes (enforce's policy file is written beside it). */
    static final String EVERY_KEY = """
            listen: "127.0.0.1:9977"
            interfaces: [eth0, lo]
            probes: [conn, packets, handshake]
            set: {scan.ports: 30, flood.syn_rate: 2000, upstream.stall: 10}
            upstreams: {api: "10.0.0.1:443"}
            xdp: false
            xdp_mode: auto
            tc_mode: auto
            all_netns: false
            ports: [443, 22]
            interval: 2.5
            log_format: json
            bpf_stats: false
            pcap: {file: /var/tmp/flagged.pcapng, payload: false, max_mb: 100, files: 5}
            enforce: {policy: policy.yaml, interfaces: [eth0], xdp_mode: generic, audit: true}
            """;

    @Test
    void mutatedRandomAndHugeFilesAreReadOrRefusedInOneLine() throws IOException {
        Path dir = Files.createTempDirectory("tcpinspect-agent-fuzz");
        Path file = dir.resolve("agent.yaml");
        Path policy = dir.resolve("policy.yaml"); // enforce.policy's file, beside the config
        Files.writeString(policy, "default: allow\nservices: [443]\n");
        try {
            byte[] example = EVERY_KEY.getBytes(StandardCharsets.UTF_8);
            Files.write(file, example);
            AgentConfig.read(file); // the seed itself is a config the agent takes
            int accepted = 0;
            int refused = 0;
            for (int seed = 0; seed < 3000; seed++) {
                Random r = new Random(seed);
                byte[] bytes = switch (seed % 4) {
                    case 0 -> PolicyFuzzTest.mutate(example, r, 1 + r.nextInt(4));
                    case 1 -> PolicyFuzzTest.mutate(example, r, 1 + r.nextInt(40));
                    case 2 -> PolicyFuzzTest.randomText(r, r.nextInt(300));
                    default -> PolicyFuzzTest.randomBytes(r, r.nextInt(300));
                };
                Files.write(file, bytes);
                if (readOrRefuse(file, "seed " + seed + ":\n" + new String(bytes, StandardCharsets.UTF_8))) {
                    accepted++;
                } else {
                    refused++;
                }
            }
            assertTrue(accepted > 0 && refused > 0, "both kinds: " + accepted + " taken, " + refused + " refused");
            for (byte[] bytes : new byte[][] {new byte[0], "\n\n".getBytes(), new byte[AgentConfig.MAX_BYTES + 1],
                    ("probes:\n" + "  - conn\n".repeat(100_000)).getBytes(), ("a: " + "[".repeat(10_000)).getBytes(),
                    ("set: " + "{a: ".repeat(5_000) + "}".repeat(5_000)).getBytes(),
                    ("ports: [" + "1, ".repeat(20_000) + "]").getBytes(),
                    ("a: &a [x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b]\n"
                            + "d: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n").getBytes()}) {
                Files.write(file, bytes);
                long start = System.nanoTime();
                readOrRefuse(file, bytes.length + " bytes");
                assertTrue(System.nanoTime() - start < 10_000_000_000L, "read in under 10 s: " + bytes.length + " bytes");
            }
            readOrRefuse(dir, "a directory where a file is expected");
            readOrRefuse(dir.resolve("none.yaml"), "no such file");
        } finally {
            Files.deleteIfExists(file);
            Files.delete(policy);
            Files.delete(dir);
        }
    }

    /** True when the file is a config; false when refused in one line naming it once; fails otherwise. */
    private static boolean readOrRefuse(Path file, String what) {
        try {
            AgentConfig.read(file);
            return true;
        } catch (AgentConfig.ConfigException e) {
            assertEquals(1, e.getMessage().lines().count(), what + "\n" + e.getMessage());
            assertTrue(e.getMessage().startsWith(file + ":"), what + "\n" + e.getMessage());
            assertEquals(1, e.getMessage().split(java.util.regex.Pattern.quote(file.toString()), -1).length - 1,
                    "the file is named once: " + e.getMessage());
            return false;
        } catch (RuntimeException | StackOverflowError e) {
            fail(what + "\nthrew " + e, e);
            return false;
        }
    }
}
