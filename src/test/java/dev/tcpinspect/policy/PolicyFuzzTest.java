package dev.tcpinspect.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Whatever a policy file holds (the example mutated byte by byte, random text, binary, huge, empty),
 * reading it either gives a policy or one PolicyException of one line naming the file: never another
 * exception, never a hang. Seeded, so a failure names the case that repeats it.
 */
public class PolicyFuzzTest {
    private static final String ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789:/.-[]{},#&*!|>'\" \n\t%@`";

    @Test
    void mutatedAndRandomFilesAreReadOrRefusedInOneLine() throws IOException {
        Path dir = Files.createTempDirectory("tcpinspect-policy-fuzz");
        Path file = dir.resolve("p.yaml");
        try {
            byte[] example = PolicyFileTest.ISSUE_EXAMPLE.getBytes(java.nio.charset.StandardCharsets.UTF_8);
            int accepted = 0;
            for (int seed = 0; seed < 3000; seed++) {
                Random r = new Random(seed);
                byte[] bytes = switch (seed % 4) {
                    case 0 -> mutate(example, r, 1 + r.nextInt(4)); // a few bytes changed, cut or repeated
                    case 1 -> mutate(example, r, 1 + r.nextInt(40));
                    case 2 -> randomText(r, r.nextInt(300));
                    default -> randomBytes(r, r.nextInt(300));
                };
                Files.write(file, bytes);
                try {
                    PolicyFile.read(file);
                    accepted++;
                } catch (PolicyException e) {
                    assertEquals(1, e.getMessage().lines().count(), "seed " + seed + ": " + e.getMessage());
                    assertTrue(e.getMessage().startsWith(file + ":"), "seed " + seed + ": " + e.getMessage());
                    assertEquals(1, e.getMessage().split(java.util.regex.Pattern.quote(file.toString())).length - 1,
                            "the file is named once: " + e.getMessage());
                } catch (RuntimeException | StackOverflowError e) {
                    fail("seed " + seed + " threw " + e + " for:\n" + new String(bytes,
                            java.nio.charset.StandardCharsets.UTF_8), e);
                }
            }
            assertTrue(accepted > 0, "some mutations leave a valid policy (comments, spacing)");
            for (byte[] bytes : new byte[][] {new byte[0], "\n\n".getBytes(), "default: allow\n".repeat(1).getBytes(),
                    ("deny:\n" + "  - 10.0.0.0/8\n".repeat(40_000)).getBytes(), new byte[PolicyFile.MAX_BYTES + 1],
                    ("a: " + "[".repeat(10_000)).getBytes(),
                    ("failsafe:\n" + "  - 1-65535\n".repeat(80_000)).getBytes(),
                    ("services:\n" + java.util.stream.IntStream.range(0, 30_000).mapToObj(i -> "  - {port: 1-65535,"
                            + " address: 10.0." + (i / 250) + "." + (i % 250 + 1) + "}\n").collect(
                            java.util.stream.Collectors.joining())).getBytes()}) {
                Files.write(file, bytes);
                long start = System.nanoTime();
                try {
                    PolicyFile.read(file);
                } catch (PolicyException e) {
                    assertEquals(1, e.getMessage().lines().count(), e.getMessage());
                    assertTrue(e.getMessage().startsWith(file + ":"), e.getMessage());
                }
                assertTrue(System.nanoTime() - start < 10_000_000_000L, "read in under 10 s: " + bytes.length + " bytes");
            }
        } finally {
            Files.deleteIfExists(file);
            Files.delete(dir);
        }
    }

    /** The bytes with a few edits: changed, cut or repeated (also for the enforcer's apply fuzz). */
    public static byte[] mutate(byte[] in, Random r, int edits) {
        StringBuilder s = new StringBuilder(new String(in, java.nio.charset.StandardCharsets.UTF_8));
        for (int i = 0; i < edits && s.length() > 0; i++) {
            int at = r.nextInt(s.length());
            switch (r.nextInt(4)) {
                case 0 -> s.setCharAt(at, ALPHABET.charAt(r.nextInt(ALPHABET.length())));
                case 1 -> s.deleteCharAt(at);
                case 2 -> s.insert(at, ALPHABET.charAt(r.nextInt(ALPHABET.length())));
                default -> s.insert(at, s.substring(at, Math.min(s.length(), at + r.nextInt(20))));
            }
        }
        return s.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8);
    }

    public static byte[] randomText(Random r, int length) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < length; i++) {
            s.append(ALPHABET.charAt(r.nextInt(ALPHABET.length())));
        }
        return s.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8);
    }

    public static byte[] randomBytes(Random r, int length) {
        byte[] b = new byte[length];
        r.nextBytes(b);
        return b;
    }

    /**
     * Files no reading can take for a policy or a config, written into dir (a process is given their
     * paths): binary, random text, huge (hugeEntry repeated 200,000 times in a list under key),
     * nested 5,000 deep under key, a folder, a missing file; named unusable-KIND.yaml.
     */
    public static java.util.List<java.nio.file.Path> unusableFiles(java.nio.file.Path dir, Random r, String key,
                                                                  String hugeEntry) throws IOException {
        java.util.Map<String, byte[]> contents = new java.util.LinkedHashMap<>();
        contents.put("binary", randomBytes(r, 4096));
        contents.put("text", randomText(r, 300));
        contents.put("huge", (key + ": [" + (hugeEntry + ", ").repeat(200_000) + "]\n")
                .getBytes(java.nio.charset.StandardCharsets.UTF_8));
        contents.put("deep", (key + ": " + "[".repeat(5000) + "]".repeat(5000) + "\n")
                .getBytes(java.nio.charset.StandardCharsets.UTF_8));
        java.util.List<java.nio.file.Path> files = new java.util.ArrayList<>();
        for (var e : contents.entrySet()) {
            files.add(java.nio.file.Files.write(dir.resolve("unusable-" + e.getKey() + ".yaml"), e.getValue()));
        }
        files.add(java.nio.file.Files.createDirectory(dir.resolve("unusable-folder.yaml")));
        files.add(dir.resolve("unusable-missing.yaml"));
        return files;
    }
}
