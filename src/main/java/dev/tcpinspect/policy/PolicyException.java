package dev.tcpinspect.policy;

/** A policy refused: its message is one line, "FILE:LINE: problem" (no line when the whole file is at fault). */
public final class PolicyException extends IllegalArgumentException {
    private final String file;
    private final int line;

    public PolicyException(String file, int line, String problem) {
        super(file + (line > 0 ? ":" + line : "") + ": " + problem);
        this.file = file;
        this.line = line;
    }

    public String file() {
        return file;
    }

    /** 1-based, 0 when the problem is the whole file. */
    public int line() {
        return line;
    }
}
