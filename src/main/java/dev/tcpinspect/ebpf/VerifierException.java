package dev.tcpinspect.ebpf;

/** The kernel refused to load a program; carries the program's name and the verifier's log. */
public final class VerifierException extends BpfException {
    private final String program;
    private final String verifierLog;

    VerifierException(String program, int errno, String verifierLog) {
        super("loading BPF program " + program, errno, "the verifier rejected it; its log follows:\n"
                + tail(verifierLog));
        this.program = program;
        this.verifierLog = verifierLog;
    }

    public String program() {
        return program;
    }

    public String verifierLog() {
        return verifierLog;
    }

    private static String tail(String log) {
        String trimmed = log.strip();
        return trimmed.length() <= 4000 ? trimmed : "..." + trimmed.substring(trimmed.length() - 4000);
    }
}
