package dev.tcpinspect.cli;

import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The tcpinspect command: a thin layer over the probes, the runtime and the presenters. */
@Command(name = "tcpinspect", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = {
            "Inspect incoming TCP traffic on this host with eBPF, at kernel level and with almost no overhead.",
            "",
            "Start with 'tcpinspect doctor' to see whether this kernel and this user can run it,",
            "then 'sudo tcpinspect watch' to count incoming TCP packets on every interface that is up,",
            "or 'sudo tcpinspect demo' to see it work on a small lab of its own."},
        footer = {"", "Exit status: 0 success, 1 failure (one line on stderr says why), 2 bad usage or input refused",
            "(an unknown option, interface or namespace, a value out of range, a malformed policy)."})
public final class Main implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    public static void main(String[] args) {
        if (args.length > 0 && (args[0].equals("watch") || args[0].equals("demo") || args[0].equals("agent"))) {
            bindNativeInParallel();
        }
        System.exit(execute(args));
    }

    /**
     * Makes the native bindings (libbpf's and libc's downcall handles: the JVM generates code for
     * each) on another thread while this one parses the command line and sets up, so that a watch
     * is ready sooner (BENCHMARKS.md, startup). Whichever thread needs them first waits for the
     * class initialisation, as the JVM does for any class. A failure there (libbpf not installed)
     * is kept, so that the command reports it rather than the class it left uninitialised.
     */
    private static void bindNativeInParallel() {
        Thread.ofPlatform().daemon(true).name("bind-native").start(() -> {
            try {
                Class.forName("dev.tcpinspect.ebpf.Libbpf", true, Main.class.getClassLoader());
                Class.forName("dev.tcpinspect.os.Libc", true, Main.class.getClassLoader());
            } catch (ExceptionInInitializerError e) {
                bindFailure = e.getCause() != null ? e.getCause() : e;
            } catch (ClassNotFoundException | LinkageError e) {
                bindFailure = e;
            }
        });
    }

    /** What went wrong making the native bindings on the other thread, or null. */
    private static volatile Throwable bindFailure;

    /** The subcommands, in the order the usage lists them. */
    private static final Map<String, Supplier<Object>> SUBCOMMANDS = subcommands();

    private static Map<String, Supplier<Object>> subcommands() {
        Map<String, Supplier<Object>> commands = new LinkedHashMap<>();
        commands.put("watch", WatchCommand::new);
        commands.put("upstreams", UpstreamsCommand::new);
        commands.put("agent", AgentCommand::new);
        commands.put("doctor", DoctorCommand::new);
        commands.put("cleanup", CleanupCommand::new);
        commands.put("demo", DemoCommand::new);
        commands.put("enforce", EnforceCommand::new);
        commands.put("policy", PolicyCommand::new);
        commands.put("help", CommandLine.HelpCommand::new);
        return commands;
    }

    /** Runs the command line and returns its exit status (tests call this in-process). */
    public static int execute(String... args) {
        return commandLine(args).execute(args);
    }

    /**
     * The command line as execute runs it, for these arguments: the subcommands they need, the
     * handlers that turn failures into one line and an exit status, the usage width.
     */
    static CommandLine commandLine(String... args) {
        CommandLine cli = new CommandLine(new Main());
        // picocli builds a command's model from its annotations when the command is added (about
        // 40 ms each here, on top of 150 ms for picocli's own first use): a command line naming one
        // subcommand gets only that one; anything else (usage, help, a mistake) gets them all.
        // The version alone needs none.
        boolean one = args.length > 0 && SUBCOMMANDS.containsKey(args[0]) && !args[0].equals("help");
        boolean none = args.length == 1 && (args[0].equals("--version") || args[0].equals("-V"));
        SUBCOMMANDS.forEach((name, command) -> {
            if (!none && (!one || name.equals(args[0]))) {
                cli.addSubcommand(name, command.get());
            }
        });
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            String hint = Hints.forFailure(e);
            commandLine.getErr().println("tcpinspect: " + printable(oneLine(e)) + (hint == null ? "" : "; " + hint));
            if (System.getenv("TCPINSPECT_DEBUG") != null) {
                e.printStackTrace(commandLine.getErr());
            }
            return refusedInput(e) ? 2 : 1;
        });
        cli.setParameterExceptionHandler((e, args1) -> {
            // One line, as every other refusal: what is wrong, then where the options are explained.
            PrintWriter err = e.getCommandLine().getErr();
            err.println("tcpinspect: " + printable(e.getMessage()) + " (see '" + e.getCommandLine().getCommandSpec().qualifiedName()
                    + " --help')");
            return 2;
        });
        cli.setCaseInsensitiveEnumValuesAllowed(true);
        cli.setUsageHelpWidth(110); // the probe and example lines are written for this width
        CommandLine watchCommand = cli.getSubcommands().get("watch");
        if (watchCommand != null) {
            var watch = watchCommand.getCommandSpec().usageMessage();
            java.util.List<String> description = new java.util.ArrayList<>(java.util.List.of(watch.description()));
            description.addAll(WatchCommand.probeLines(108));
            watch.description(description.toArray(String[]::new));
        }
        return cli;
    }

    /** A failure as one line: the message of the exception that says what went wrong. */
    static String oneLine(Throwable e) {
        Throwable t = meaningful(e);
        String message = t.getMessage() == null ? t.toString() : t.getMessage();
        if (t instanceof dev.tcpinspect.ebpf.VerifierException v) {
            // The log does not fit on a line; its last word does, and the whole is a variable away.
            return message.substring(0, message.indexOf('\n')).replace("; its log follows:", "")
                    + ": " + v.reason() + " (TCPINSPECT_DEBUG=1 prints the whole log)";
        }
        int newline = message.indexOf('\n');
        return newline < 0 ? message : message.substring(0, newline);
    }

    /**
     * Whether a command refused what it was given (an interface or namespace that does not exist, a
     * policy larger than the enforcer holds): exit status 2, as for bad usage; any other failure,
     * tcpinspect's own broken invariants included, is 1.
     */
    static boolean refusedInput(Throwable e) {
        return meaningful(e) instanceof dev.tcpinspect.os.InputRefusedException;
    }

    /** Longest message printed: a value echoed back may be any size. */
    private static final int MESSAGE_LIMIT = 500;

    /**
     * A message fit for one line of a terminal: control characters and line separators a value
     * echoed back may hold are written as escapes (\xNN, \\uNNNN), and a huge one is cut.
     */
    static String printable(String message) {
        StringBuilder b = new StringBuilder();
        int i = 0;
        for (; i < message.length() && b.length() < MESSAGE_LIMIT; i++) {
            char c = message.charAt(i);
            if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) {
                b.append(String.format("\\x%02x", (int) c));
            } else if (c == '\u2028' || c == '\u2029' || c == '\ufeff' || (c >= '\u202a' && c <= '\u202e')
                    || (c >= '\u2066' && c <= '\u2069')) {
                // line and paragraph separators, and the bidirectional controls that reorder a terminal line
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return i < message.length() ? b + "..." : b.toString();
    }

    /** The exception whose message says what went wrong: wrappers without a message of their own skipped. */
    private static Throwable meaningful(Throwable e) {
        Throwable t = e;
        if (bindFailure != null && causedBy(e, NoClassDefFoundError.class)) {
            t = bindFailure; // the class could not be initialised on the other thread: say why
        }
        while ((t.getMessage() == null || t instanceof java.util.concurrent.ExecutionException
                || (t instanceof IllegalStateException && t.getCause() != null && t.getMessage().startsWith("java.")))
                && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }

    private static boolean causedBy(Throwable e, Class<? extends Throwable> kind) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (kind.isInstance(t)) {
                return true;
            }
        }
        return false;
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"tcpinspect " + (v == null ? "dev" : v)};
        }
    }
}
