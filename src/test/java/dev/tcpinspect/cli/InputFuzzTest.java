package dev.tcpinspect.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.RequiresBpf;
import dev.tcpinspect.testing.TcpinspectProcess;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Every command's options and arguments fuzzed: values random, mutated, huge, empty, binary and at
 * the edges of numbers; policy files likewise. Whatever the parser refuses must be refused in one
 * line with exit status 2 (checked in-process, thousands of cases); command lines the parser
 * accepts run for real in a lab namespace and must end in success or one line (2 for input that is
 * refused), never a stack trace, and leave nothing attached. Seeded: -Dfuzz.seed=N for another run.
 */
class InputFuzzTest {
    private static final long SEED = Long.getLong("fuzz.seed", 20261201L);
    private static Path dir;
    private static List<String> files;

    @BeforeAll
    static void policyFiles() throws IOException {
        dir = Files.createTempDirectory("tcpinspect-input-fuzz");
        Random random = new Random(SEED);
        List<String> paths = new ArrayList<>();
        byte[] binary = new byte[4096];
        random.nextBytes(binary);
        String example = dev.tcpinspect.policy.PolicyFileTest.ISSUE_EXAMPLE;
        Map<String, byte[]> contents = Map.of(
                "empty.yaml", new byte[0],
                "binary.yaml", binary,
                "huge.yaml", ("deny: [" + "10.0.0.0/8, ".repeat(200_000) + "]\n").getBytes(StandardCharsets.UTF_8),
                "deep.yaml", ("a: " + "[".repeat(5000) + "]".repeat(5000) + "\n").getBytes(StandardCharsets.UTF_8),
                "example.yaml", example.getBytes(StandardCharsets.UTF_8),
                "mutated.yaml", mutate(example, random).getBytes(StandardCharsets.UTF_8));
        for (var e : contents.entrySet()) {
            Path p = dir.resolve(e.getKey());
            Files.write(p, e.getValue());
            paths.add(p.toString());
        }
        paths.add(dir.toString()); // a directory where a file is expected
        paths.add(dir.resolve("none.yaml").toString());
        files = List.copyOf(paths);
    }

    @AfterAll
    static void removeFiles() throws IOException {
        try (var walk = Files.walk(dir)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

    private static String mutate(String text, Random random) {
        StringBuilder b = new StringBuilder(text);
        for (int i = 0, n = 1 + random.nextInt(4); i < n && !b.isEmpty(); i++) {
            int at = random.nextInt(b.length());
            switch (random.nextInt(3)) {
                case 0 -> b.deleteCharAt(at);
                case 1 -> b.insert(at, (char) (32 + random.nextInt(95)));
                default -> b.setCharAt(at, (char) (1 + random.nextInt(0xFFFF)));
            }
        }
        return b.toString();
    }

    /** Values an option or argument may get: edges of numbers, names that exist and do not, junk. */
    private static String value(Random random) {
        List<String> pool = List.of("", " ", "0", "-1", "1", "0.05", "3", "NaN", "Infinity", "-Infinity", "1e999",
                "2147483648", "9223372036854775808", "0x10", "lo", "nosuch0", "json", "text", "auto", "tcx", "clsact",
                "native", "generic", "packets", "scan.ports=3", "scan.ports=0", "flood.syn_rate=x", "=", "--", "-",
                "10.0.0.0/8", "2001:db8::/32", "1.2.3.4/99", "::/129", "192.0.2.1", "10m", "5x", "99999999999d",
                "tcpi-nosuch-ns", "a".repeat(100_000), "é\u202e\uFFFD", "%s%n", "$(id)");
        return switch (random.nextInt(6)) {
            case 0 -> files.get(random.nextInt(files.size()));
            case 1 -> mutate(pool.get(random.nextInt(pool.size())) + "x", random);
            case 2 -> binary(random);
            default -> pool.get(random.nextInt(pool.size()));
        };
    }

    /** Random characters other than NUL, which no command line can hold. */
    private static String binary(Random random) {
        StringBuilder b = new StringBuilder();
        for (int i = 0, n = random.nextInt(64); i < n; i++) {
            b.append((char) (1 + random.nextInt(255)));
        }
        return b.toString();
    }

    /** Every command and subcommand, by its path of names (help left out: it takes any word). */
    private static List<List<String>> commands(CommandLine line, List<String> path) {
        List<List<String>> all = new ArrayList<>();
        if (!path.isEmpty()) {
            all.add(path);
        }
        line.getSubcommands().forEach((name, sub) -> {
            if (!name.equals("help")) {
                List<String> p = new ArrayList<>(path);
                p.add(name);
                all.addAll(commands(sub, p));
            }
        });
        return all;
    }

    /** A command, each top-level one as likely as another (policy has seven subcommands, watch none). */
    private static List<String> pick(List<List<String>> commands, Random random) {
        List<String> tops = commands.stream().map(List::getFirst).distinct().toList();
        String top = tops.get(random.nextInt(tops.size()));
        List<List<String>> under = commands.stream().filter(c -> c.getFirst().equals(top)).toList();
        return under.get(random.nextInt(under.size()));
    }

    private static CommandSpec spec(List<String> path) {
        CommandLine line = Main.commandLine(new String[0]);
        for (String name : path) {
            line = line.getSubcommands().get(name);
        }
        return line.getCommandSpec();
    }

    /** A command line: the command, some of its options (or one that does not exist), some arguments. */
    private static List<String> commandLine(List<String> path, Random random) {
        CommandSpec spec = spec(path);
        List<String> args = new ArrayList<>(path);
        List<OptionSpec> options = spec.options().stream()
                .filter(o -> !o.usageHelp() && !o.versionHelp()).toList();
        for (int i = 0, n = random.nextInt(4); i < n && !options.isEmpty(); i++) {
            OptionSpec o = options.get(random.nextInt(options.size()));
            args.add(random.nextInt(12) == 0 ? "--no-such-option" : o.names()[random.nextInt(o.names().length)]);
            if (o.arity().max() > 0 && random.nextInt(10) != 0) {
                args.add(value(random));
            }
        }
        for (int i = 0, n = random.nextInt(3); i < n; i++) {
            args.add(value(random));
        }
        return args;
    }

    private static boolean parses(List<String> args) {
        try {
            Main.commandLine(args.toArray(String[]::new)).parseArgs(args.toArray(String[]::new));
            return true;
        } catch (CommandLine.ParameterException e) {
            return false;
        }
    }

    private static String shown(List<String> args) {
        return args.stream().map(a -> a.length() > 40 ? a.substring(0, 40) + "...(" + a.length() + ")" : a)
                .toList().toString();
    }

    /** What the parser refuses: one line naming the problem and pointing at --help, exit 2. In-process. */
    @Test
    void everyCommandLineTheParserRefusesIsOneLineAndExitTwo() {
        Random random = new Random(SEED);
        List<List<String>> commands = commands(Main.commandLine(new String[0]), List.of());
        int refused = 0;
        int accepted = 0;
        for (int i = 0; i < 3000; i++) {
            List<String> args = commandLine(pick(commands, random), random);
            if (parses(args)) {
                accepted++;
                continue;
            }
            refused++;
            String[] argv = args.toArray(String[]::new);
            CommandLine cli = Main.commandLine(argv);
            StringWriter out = new StringWriter();
            StringWriter err = new StringWriter();
            cli.setOut(new PrintWriter(out, true));
            cli.setErr(new PrintWriter(err, true));
            int exit = cli.execute(argv);
            String said = err.toString();
            assertEquals(2, exit, shown(args) + ": " + said);
            assertEquals(1, said.lines().count(), shown(args) + ": " + said);
            assertTrue(said.startsWith("tcpinspect: ") && said.strip().endsWith(" --help')"), shown(args) + ": " + said);
            assertEquals("", out.toString(), shown(args));
        }
        System.out.printf("input fuzz (seed %d): %d command lines, %d refused by the parser in one line, %d accepted"
                + " (the next test runs some)%n", SEED, refused + accepted, refused, accepted);
        assertTrue(refused > 1000 && accepted > 100, "both kinds are tried: " + refused + " refused, " + accepted);
    }

    /**
     * What the parser accepts runs for real in a lab namespace: it ends (a watch is interrupted after
     * a few seconds, as a user would) in success or one line, exit 2 when the input was refused and
     * never a stack trace, and leaves nothing attached anywhere.
     */
    @Test
    @RequiresBpf
    void commandLinesTheParserAcceptsEndInSuccessOrOneLineAndLeaveNothing() throws Exception {
        Random random = new Random(SEED + 1);
        List<List<String>> commands = commands(Main.commandLine(new String[0]), List.of());
        Set<List<String>> chosen = new LinkedHashSet<>();
        while (chosen.size() < 24) {
            List<String> args = commandLine(pick(commands, random), random);
            // demo makes a lab of its own and `cleanup` acts on the whole host: both are tested elsewhere
            if (!args.getFirst().equals("demo") && !args.getFirst().equals("cleanup") && parses(args)
                    && !args.contains("--help") && !args.contains("-h") && !args.contains("--version")
                    && !args.contains("-V")) {
                chosen.add(args);
            }
        }
        Map<String, Integer> exits = new java.util.TreeMap<>();
        // a working directory of its own: a file a command line names (--pcap x) is made there, and goes with it
        java.nio.file.Path work = java.nio.file.Files.createTempDirectory("fuzz");
        try (Lab lab = Lab.create()) {
            for (List<String> args : chosen) {
                List<String> run = new ArrayList<>(args.stream()
                        .map(a -> a.equals("lo") ? lab.serverIf() : a).toList());
                try (TcpinspectProcess p = TcpinspectProcess.startIn(work, lab.serverNs(), run.toArray(String[]::new))) {
                    boolean ranOn = !p.exitsWithin(6);
                    if (ranOn) {
                        p.terminate(); // a watch runs until stopped: SIGTERM, as a user or systemd stops it
                    }
                    int exit = p.waitFor(30);
                    String err = p.stderr();
                    exits.merge(ranOn ? "stopped by SIGTERM, then " + exit : Integer.toString(exit), 1, Integer::sum);
                    if (ranOn) {
                        assertEquals(0, exit, shown(args) + ": stopped cleanly: " + err);
                    }
                    assertFalse(err.contains("Exception") || err.contains("\tat "), shown(args) + ": " + err);
                    if (exit > 0) {
                        assertEquals(1, err.lines().filter(l -> !l.startsWith("tcpinspect: building")).count(),
                                shown(args) + " (exit " + exit + "): " + err);
                        assertTrue(err.lines().allMatch(l -> l.startsWith("tcpinspect: ")), shown(args) + ": " + err);
                    }
                }
                assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()), shown(args));
            }
        } finally {
            Cmd.run("rm", "-rf", work.toString());
        }
        assertEquals(List.of(), Cmd.tcxProgramNames(), "no tcx link is left");
        System.out.printf("input fuzz (seed %d): %d accepted command lines run; exit statuses %s%n", SEED, chosen.size(), exits);
    }
}
