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

    /**
     * The verifier's reason, for a one-line report: the last line of its log that is not the
     * closing statistics ("processed N insns ...", "verification time ...").
     */
    public String reason() {
        String[] lines = verifierLog.strip().split("\n");
        for (int i = lines.length - 1; i >= 0; i--) {
            String line = lines[i].strip();
            if (!line.isEmpty() && !line.startsWith("processed ") && !line.startsWith("verification time")
                    && !line.startsWith("stack depth")) {
                return line;
            }
        }
        return "(empty log)";
    }

    private static String tail(String log) {
        String trimmed = log.strip();
        return trimmed.length() <= 4000 ? trimmed : "..." + trimmed.substring(trimmed.length() - 4000);
    }
}
