package dev.tcpinspect.cli;

import java.nio.file.Path;
import picocli.CommandLine;
import picocli.CommandLine.Option;

/** --pcap FILE and its companions, as watch and agent take them (a picocli mixin). */
final class PcapOptions {
    @Option(names = "--pcap", paramLabel = "FILE", description = "Also write flagged packets to a pcapng file for"
            + " Wireshark or tshark: anomalous segments, resets in and out, TCP packets the kernel dropped with a reason"
            + " (an agent with enforce: in its config also writes the packets its policy drops); each packet's comment"
            + " says why. Headers only unless --pcap-payload.")
    Path file;

    @Option(names = "--pcap-payload", description = "With --pcap: up to 256 bytes of each flagged frame, payload"
            + " included (default: headers only, no payload byte leaves the kernel).")
    boolean payload;

    @Option(names = "--pcap-size", paramLabel = "MB", defaultValue = "100", description = "With --pcap: rotate the file"
            + " past this many megabytes (FILE becomes FILE.1, ...). Default: ${DEFAULT-VALUE}.")
    int sizeMegabytes;

    @Option(names = "--pcap-files", paramLabel = "N", defaultValue = "5", description = "With --pcap: keep at most this"
            + " many files, the current one included. Default: ${DEFAULT-VALUE}.")
    int files;

    /** Bad usage, before anything is tried: a companion without --pcap, or a size or count out of range. */
    void check(CommandLine.Model.CommandSpec spec) {
        CommandLine.ParseResult parsed = spec.commandLine().getParseResult();
        if (file == null && (payload || parsed.hasMatchedOption("--pcap-size") || parsed.hasMatchedOption("--pcap-files"))) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--pcap-payload, --pcap-size and --pcap-files go"
                    + " with --pcap FILE");
        }
        if (sizeMegabytes < 1 || sizeMegabytes > 1_000_000 || files < 1 || files > 1000) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--pcap-size must be 1 to 1000000 (MB) and"
                    + " --pcap-files 1 to 1000, not " + sizeMegabytes + " and " + files);
        }
    }
}
