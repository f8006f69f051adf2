package dev.tcpinspect.deploy;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Just enough of PromQL's syntax to check the deployment files' queries against a live scrape: the
 * series selectors (metric name and label matchers), the labels aggregations group by and the
 * expression they aggregate, and the range durations. Syntax itself is promtool's to judge; this
 * reads expressions promtool accepts.
 */
final class PromQl {
    record LabelMatcher(String label, String op, String value) {}

    record Selector(String metric, List<LabelMatcher> matchers) {}

    /** An aggregation's "by (labels)" and the expression it aggregates. */
    record Grouping(List<String> labels, String aggregated) {}

    private static final Set<String> KEYWORDS = Set.of("and", "or", "unless", "bool", "offset", "atan2", "inf", "nan");
    private static final Set<String> GROUPING = Set.of("by", "without", "on", "ignoring", "group_left", "group_right");

    private PromQl() {}

    /** Every series selector, in order. */
    static List<Selector> selectors(String expr) {
        List<Selector> out = new ArrayList<>();
        scan(expr, out, null, null);
        return out;
    }

    /** Every aggregation's by-clause with what it aggregates. */
    static List<Grouping> groupings(String expr) {
        List<Grouping> out = new ArrayList<>();
        scan(expr, null, out, null);
        return out;
    }

    /** Every range duration ("5m", "$__rate_interval"), in order. */
    static List<String> ranges(String expr) {
        List<String> out = new ArrayList<>();
        scan(expr, null, null, out);
        return out;
    }

    /** The argument text of every call of a function, e.g. each histogram_quantile(...). */
    static List<String> calls(String expr, String function) {
        List<String> out = new ArrayList<>();
        int from = 0;
        while (true) {
            int at = expr.indexOf(function, from);
            if (at < 0) {
                return out;
            }
            int open = skipSpace(expr, at + function.length());
            boolean wholeWord = at == 0 || !identPart(expr.charAt(at - 1));
            if (wholeWord && open < expr.length() && expr.charAt(open) == '(') {
                int close = matching(expr, open);
                out.add(expr.substring(open + 1, close));
            }
            from = at + function.length();
        }
    }

    private static void scan(String s, List<Selector> selectors, List<Grouping> groupings, List<String> ranges) {
        int i = 0;
        int n = s.length();
        while (i < n) {
            char c = s.charAt(i);
            if (c == '"' || c == '\'' || c == '`') {
                i = endOfString(s, i);
            } else if (c == '[') {
                int close = s.indexOf(']', i);
                if (close < 0) {
                    throw new IllegalArgumentException("unclosed [ in " + s);
                }
                if (ranges != null) {
                    ranges.add(s.substring(i + 1, close).strip());
                }
                i = close + 1;
            } else if (c == '{') {
                List<LabelMatcher> matchers = new ArrayList<>();
                i = matchers(s, i, matchers);
                if (selectors != null) {
                    String name = matchers.stream().filter(m -> m.label().equals("__name__")).map(LabelMatcher::value)
                            .findFirst().orElse(null);
                    selectors.add(new Selector(name, matchers));
                }
            } else if (Character.isDigit(c) || (c == '.' && i + 1 < n && Character.isDigit(s.charAt(i + 1)))) {
                i++;
                while (i < n && (Character.isLetterOrDigit(s.charAt(i)) || s.charAt(i) == '.'
                        || ((s.charAt(i) == '+' || s.charAt(i) == '-') && (s.charAt(i - 1) == 'e' || s.charAt(i - 1) == 'E')))) {
                    i++;
                }
            } else if (identStart(c)) {
                int start = i;
                while (i < n && identPart(s.charAt(i))) {
                    i++;
                }
                String word = s.substring(start, i);
                int next = skipSpace(s, i);
                char after = next < n ? s.charAt(next) : '\0';
                if (GROUPING.contains(word) && after == '(') {
                    int close = matching(s, next);
                    List<String> labels = new ArrayList<>();
                    for (String l : s.substring(next + 1, close).split(",")) {
                        if (!l.isBlank()) {
                            labels.add(l.strip());
                        }
                    }
                    if (word.equals("by") && groupings != null) {
                        int argument = skipSpace(s, close + 1);
                        String aggregated;
                        if (argument < n && s.charAt(argument) == '(') {
                            aggregated = s.substring(argument + 1, matching(s, argument));
                        } else {
                            int end = start - 1;
                            while (end >= 0 && Character.isWhitespace(s.charAt(end))) {
                                end--;
                            }
                            aggregated = end >= 0 && s.charAt(end) == ')' ? s.substring(opening(s, end) + 1, end) : "";
                        }
                        groupings.add(new Grouping(labels, aggregated));
                    }
                    i = close + 1;
                } else if (KEYWORDS.contains(word.toLowerCase(java.util.Locale.ROOT))) {
                    if (word.equals("offset")) { // its duration is no metric
                        i = next;
                        while (i < n && (Character.isLetterOrDigit(s.charAt(i)) || s.charAt(i) == '-')) {
                            i++;
                        }
                    }
                } else if (after == '(' || ((word.equals("sum") || word.equals("avg") || word.equals("count")
                        || word.equals("min") || word.equals("max") || word.equals("group") || word.equals("topk")
                        || word.equals("bottomk") || word.equals("quantile") || word.equals("stddev")
                        || word.equals("stdvar") || word.equals("count_values"))
                        && (s.startsWith("by", next) || s.startsWith("without", next)))) {
                    // a function or an aggregation: its arguments are scanned as they come
                } else {
                    List<LabelMatcher> matchers = new ArrayList<>();
                    if (after == '{') {
                        i = matchers(s, next, matchers);
                    }
                    if (selectors != null) {
                        selectors.add(new Selector(word, matchers));
                    }
                }
            } else {
                i++;
            }
        }
    }

    /** Reads {label op "value", ...} from the brace at i; returns the index after the closing brace. */
    private static int matchers(String s, int i, List<LabelMatcher> out) {
        i++;
        while (true) {
            i = skipSpace(s, i);
            if (i >= s.length()) {
                throw new IllegalArgumentException("unclosed { in " + s);
            }
            if (s.charAt(i) == '}') {
                return i + 1;
            }
            if (s.charAt(i) == ',') {
                i++;
                continue;
            }
            int start = i;
            while (i < s.length() && identPart(s.charAt(i))) {
                i++;
            }
            String label = s.substring(start, i);
            i = skipSpace(s, i);
            String op;
            if (s.startsWith("=~", i) || s.startsWith("!~", i) || s.startsWith("!=", i)) {
                op = s.substring(i, i + 2);
            } else if (s.startsWith("=", i)) {
                op = "=";
            } else {
                throw new IllegalArgumentException("no matcher operator after '" + label + "' in " + s);
            }
            i = skipSpace(s, i + op.length());
            int end = endOfString(s, i);
            out.add(new LabelMatcher(label, op, unquote(s.substring(i, end))));
            i = end;
        }
    }

    private static int endOfString(String s, int i) {
        char quote = s.charAt(i);
        if (quote != '"' && quote != '\'' && quote != '`') {
            throw new IllegalArgumentException("expected a string at " + i + " in " + s);
        }
        int j = i + 1;
        while (j < s.length() && s.charAt(j) != quote) {
            if (s.charAt(j) == '\\' && quote != '`') {
                j++;
            }
            j++;
        }
        if (j >= s.length()) {
            throw new IllegalArgumentException("unclosed string in " + s);
        }
        return j + 1;
    }

    private static String unquote(String literal) {
        String body = literal.substring(1, literal.length() - 1);
        if (literal.charAt(0) == '`') {
            return body;
        }
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < body.length(); i++) {
            char c = body.charAt(i);
            if (c == '\\' && i + 1 < body.length()) {
                char e = body.charAt(++i);
                out.append(switch (e) {
                    case 'n' -> '\n';
                    case 't' -> '\t';
                    default -> e;
                });
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }

    private static int matching(String s, int open) {
        int depth = 0;
        for (int i = open; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\'' || c == '`') {
                i = endOfString(s, i) - 1;
            } else if (c == '(') {
                depth++;
            } else if (c == ')' && --depth == 0) {
                return i;
            }
        }
        throw new IllegalArgumentException("unbalanced ( in " + s);
    }

    private static int opening(String s, int close) {
        int depth = 0;
        for (int i = close; i >= 0; i--) {
            char c = s.charAt(i);
            if (c == ')') {
                depth++;
            } else if (c == '(' && --depth == 0) {
                return i;
            }
        }
        throw new IllegalArgumentException("unbalanced ) in " + s);
    }

    private static int skipSpace(String s, int i) {
        while (i < s.length() && Character.isWhitespace(s.charAt(i))) {
            i++;
        }
        return i;
    }

    private static boolean identStart(char c) {
        return Character.isLetter(c) || c == '_' || c == ':';
    }

    private static boolean identPart(char c) {
        return Character.isLetterOrDigit(c) || c == '_' || c == ':';
    }
}
