package dev.tcpinspect.policy;

/** A policy refused: its message is one line, "FILE:LINE: problem" (no line when the whole file is at fault). */
public final class PolicyException extends IllegalArgumentException {
    private final String file;
    private final int line;

    /** Problems quote the file's values, which may hold line breaks or be long: at most this many chars. */
    private static final int MAX_PROBLEM = 240;

    public PolicyException(String file, int line, String problem) {
        super(oneLine(file, Integer.MAX_VALUE) + (line > 0 ? ":" + line : "") + ": " + oneLine(problem, MAX_PROBLEM));
        this.file = file;
        this.line = line;
    }

    /**
     * Control characters written as escapes (\n, \t, \x1b), and cut to max chars with "...": a
     * refusal stays one line whatever the file held (the agent's config refusals too).
     */
    public static String oneLine(String text, int max) {
        StringBuilder s = new StringBuilder();
        int i = 0;
        for (; i < text.length() && s.length() < max; i++) {
            char c = text.charAt(i);
            switch (c) {
                case '\n' -> s.append("\\n");
                case '\r' -> s.append("\\r");
                case '\t' -> s.append("\\t");
                default -> {
                    if (Character.isISOControl(c) || Character.getType(c) == Character.LINE_SEPARATOR
                            || Character.getType(c) == Character.PARAGRAPH_SEPARATOR) {
                        s.append(String.format("\\x%02x", (int) c));
                    } else {
                        s.append(c);
                    }
                }
            }
        }
        return i < text.length() || s.length() > max ? s.substring(0, Math.min(max, s.length())) + "..." : s.toString();
    }

    public String file() {
        return file;
    }

    /** 1-based, 0 when the problem is the whole file. */
    public int line() {
        return line;
    }
}
