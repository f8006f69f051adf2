package dev.tcpinspect.agent;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintStream;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;

/**
 * The agent's log: one line per message on stderr, as a service manager collects it. Text for a
 * person ("2026-12-01T05:00:00.000Z info ready interfaces=eth0,lo"), or one JSON object per line
 * for a log pipeline ({"time":..., "level":"info", "msg":"ready", "interfaces":"eth0,lo"}). Fields
 * come as name, value pairs; a value with a space is quoted in text, and nothing a value holds can
 * break the line (control characters are escaped in both forms).
 */
public final class AgentLog {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ss.SSS'Z'")
            .withZone(ZoneOffset.UTC);

    private final PrintStream out;
    private volatile AgentConfig.LogFormat format;
    /** Where lines go instead of out while a full-screen view holds the terminal (it shows them), or null. */
    private volatile java.util.function.Consumer<String> divert;

    public AgentLog(PrintStream out, AgentConfig.LogFormat format) {
        this.out = out;
        this.format = format;
    }

    public void format(AgentConfig.LogFormat f) {
        format = f;
    }

    /** Sends lines to a full-screen view instead of stderr (null: to stderr again). */
    public void divert(java.util.function.Consumer<String> view) {
        divert = view;
    }

    public void info(String message, Object... fields) {
        write("info", message, fields);
    }

    public void warn(String message, Object... fields) {
        write("warn", message, fields);
    }

    public void error(String message, Object... fields) {
        write("error", message, fields);
    }

    private void write(String level, String message, Object... fields) {
        String line;
        if (format == AgentConfig.LogFormat.JSON) {
            ObjectNode node = JSON.createObjectNode();
            node.put("time", TIME.format(Instant.now()));
            node.put("level", level);
            node.put("msg", message);
            for (int i = 0; i + 1 < fields.length; i += 2) {
                Object v = fields[i + 1];
                if (v instanceof Number n) {
                    node.put(String.valueOf(fields[i]), n.doubleValue() == n.longValue() ? n.longValue() : n.doubleValue());
                } else {
                    node.put(String.valueOf(fields[i]), String.valueOf(v));
                }
            }
            line = node.toString(); // Jackson escapes control characters
        } else {
            StringBuilder b = new StringBuilder(TIME.format(Instant.now())).append(' ').append(level).append(' ')
                    .append(escape(message));
            for (int i = 0; i + 1 < fields.length; i += 2) {
                String v = escape(String.valueOf(fields[i + 1]));
                b.append(' ').append(fields[i]).append('=');
                b.append(v.isEmpty() || v.contains(" ") || v.contains("\"") ? '"' + v.replace("\"", "\\\"") + '"' : v);
            }
            line = b.toString();
        }
        java.util.function.Consumer<String> view = divert;
        if (view != null) {
            view.accept(line);
            return;
        }
        synchronized (out) {
            out.println(line);
            out.flush();
        }
    }

    /** Control characters as \xNN: a value (an interface name, a file's problem) cannot add a line. */
    private static String escape(String s) {
        StringBuilder b = null;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 0x20 || c == 0x7f || c == '\u2028' || c == '\u2029') {
                if (b == null) {
                    b = new StringBuilder(s.substring(0, i));
                }
                b.append(String.format("\\x%02x", (int) c & 0xff));
            } else if (b != null) {
                b.append(c);
            }
        }
        return b == null ? s : b.toString();
    }
}
