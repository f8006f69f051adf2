package dev.tcpinspect.probe.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.probe.Probe;
import dev.tcpinspect.snapshot.Desc;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The registry is the one list of probes, and a probe is its header, its package and one line
 * there: nothing else in the main code names it.
 */
class ProbeRegistryTest {
    @Test
    void eachProbeHasOneNameItsPackageAndItsHeader() {
        Set<String> names = new HashSet<>();
        for (Probe p : ProbeRegistry.all()) {
            assertTrue(names.add(p.name()), "two probes named " + p.name());
            assertTrue(p.name().matches("[a-z]+"), p.name());
            assertEquals("dev.tcpinspect.probe." + p.name(), p.getClass().getPackageName(),
                    "a probe's package is its name");
            assertTrue(Files.isRegularFile(Path.of("bpf/probes", p.name() + ".h")), "bpf/probes/" + p.name() + ".h");
            assertFalse(p.help().isBlank(), p.name());
            assertFalse(p.hooks().isEmpty(), p.name());
        }
        assertEquals(List.copyOf(names).size(), ProbeRegistry.names().size());
    }

    @Test
    void createGivesFreshInstancesInTheRegistrysOrderAndRefusesUnknownNames() {
        List<Probe> chosen = ProbeRegistry.create(List.of("dupack", "packets"));
        assertEquals(List.of("packets", "dupack"), chosen.stream().map(Probe::name).toList());
        assertNotSame(chosen.get(0), ProbeRegistry.create(List.of("packets")).get(0));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ProbeRegistry.create(List.of("packets", "nosuch")));
        assertTrue(e.getMessage().contains("no probe named 'nosuch'") && e.getMessage().contains("zerowin"),
                e.getMessage());
    }

    /** The README documents every output field: each metric path any probe declares is in its table. */
    @Test
    void theReadmeDocumentsEveryMetric() throws Exception {
        String readme = Files.readString(Path.of("README.md"));
        int paths = 0;
        for (Probe p : ProbeRegistry.all()) {
            for (java.lang.reflect.Field f : p.getClass().getDeclaredFields()) {
                if (java.lang.reflect.Modifier.isStatic(f.getModifiers()) && f.getType() == Desc.class) {
                    f.setAccessible(true);
                    String path = ((Desc) f.get(null)).path();
                    assertTrue(readme.contains("| " + p.name() + " | `" + path + "` |"),
                            "README.md's JSON table has no row for " + p.name() + "'s " + path);
                    paths++;
                }
            }
        }
        assertTrue(paths > 50, "found the probes' descriptors: " + paths);
    }

    /** The definition of done: git grep -il NAME -- src/main lists only NAME's package and the registry. */
    @Test
    void noMainCodeOutsideItsPackageAndTheRegistryNamesAProbe() throws IOException {
        // Every probe: no use of its package from outside. The names that are no English word
        // (zerowin, dupack) also in no code or string outside comments and --help examples; the
        // others ("packets", "handshake", "reset", "drops") are words help texts use.
        Path main = Path.of("src/main/java");
        try (Stream<Path> files = Files.walk(main)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
                String source = Files.readString(f);
                String pkg = main.relativize(f.getParent()).toString().replace('/', '.');
                for (String probe : ProbeRegistry.names()) {
                    boolean own = pkg.equals("dev.tcpinspect.probe." + probe) || pkg.equals("dev.tcpinspect.probe.registry");
                    if (own) {
                        continue;
                    }
                    assertFalse(source.contains("dev.tcpinspect.probe." + probe + "."),
                            f + " uses the " + probe + " probe's package");
                    if (Set.of("zerowin", "dupack").contains(probe)) {
                        assertFalse(source.toLowerCase().matches("(?s).*\\b" + probe + "\\b.*")
                                && !onlyInCommentsOrExamples(source, probe), f + " names the " + probe + " probe");
                    }
                }
            }
        }
    }

    /** True when every mention is in a comment or a quoted --help example ("--probe NAME"). */
    private static boolean onlyInCommentsOrExamples(String source, String probe) {
        for (String line : source.lines().toList()) {
            String l = line.strip();
            if (!l.toLowerCase().matches(".*\\b" + probe + "\\b.*")) {
                continue;
            }
            boolean comment = l.startsWith("*") || l.startsWith("//") || l.startsWith("/*");
            boolean example = l.contains("--probe " + probe);
            if (!comment && !example) {
                return false;
            }
        }
        return true;
    }
}
