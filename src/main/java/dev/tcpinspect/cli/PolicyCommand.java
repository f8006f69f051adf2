package dev.tcpinspect.cli;

import dev.tcpinspect.policy.Policy;
import dev.tcpinspect.policy.PolicyException;
import dev.tcpinspect.policy.PolicyFile;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** Policy files for the XDP enforcer (README "Policy files"). */
@Command(name = "policy", mixinStandardHelpOptions = true,
        description = {
            "Work with enforcement policies: YAML files that say which sources and ports incoming TCP may",
            "come from and to (README, 'Policy files')."},
        subcommands = {PolicyCommand.Check.class})
final class PolicyCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    @Command(name = "check", mixinStandardHelpOptions = true,
            description = {
                "Check a policy file without touching anything: prints what it says, or one line naming the",
                "file, the line and the problem (exit status 2). Needs no privileges."},
            footer = {"", "Example:", "  tcpinspect policy check /etc/tcpinspect/policy.yaml"})
    static final class Check implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Parameters(paramLabel = "FILE", description = "The policy file (YAML).")
        Path file;

        @Override
        public Integer call() {
            Policy p;
            try {
                p = PolicyFile.read(file);
            } catch (PolicyException e) {
                spec.commandLine().getErr().println("tcpinspect: " + e.getMessage());
                return 2;
            }
            var out = spec.commandLine().getOut();
            out.println(file + ": a valid policy");
            out.printf("  default      %s%n", p.defaultVerdict().name().toLowerCase());
            out.printf("  services     %s%n", p.services().isEmpty() ? "any port (no service filter)"
                    : String.join(", ", p.services().stream().map(Policy.Service::toString).toList())
                            + "; other TCP is dropped before the stack");
            out.printf("  failsafe     %s%n", p.failsafe().isEmpty() ? "none"
                    : String.join(", ", p.failsafe().stream().map(String::valueOf).toList())
                            + " (never closed by this policy)");
            out.printf("  deny         %s%n", prefixes(p.deny()));
            out.printf("  allow        %s%n", prefixes(p.allow()) + (p.allow().isEmpty() ? "" : " (wins over deny)"));
            out.printf("  per source   %s%n", limits(p.limits()));
            out.printf("  auto_block   %s%n", p.autoBlockTtl().map(t -> "sources detection names, for " + t.toString()
                    .substring(2).toLowerCase()).orElse("off"));
            return 0;
        }

        private static String prefixes(List<dev.tcpinspect.policy.Cidr> list) {
            return list.isEmpty() ? "none" : String.join(", ", list.stream().map(Object::toString).toList());
        }

        private static String limits(Policy.Limits l) {
            if (l.connections().isEmpty() && l.newPerSecond().isEmpty()) {
                return "no limit";
            }
            return (l.connections().isPresent() ? l.connections().getAsLong() + " connections at once" : "")
                    + (l.connections().isPresent() && l.newPerSecond().isPresent() ? ", " : "")
                    + (l.newPerSecond().isPresent() ? l.newPerSecond().getAsLong() + " new a second" : "");
        }
    }
}
