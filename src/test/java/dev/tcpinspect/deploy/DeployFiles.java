package dev.tcpinspect.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The fleet deployment files under deploy/ as tests use them: where they are, and the Grafana
 * dashboard's PromQL as a plain Prometheus must see it (for a test that runs each query against a
 * real Prometheus). Paths are relative to the project's root, the tests' working directory.
 */
public final class DeployFiles {
    public static final Path DEPLOY = Path.of("deploy");
    public static final Path ALERTS = DEPLOY.resolve("prometheus/tcpinspect-alerts.yml");
    public static final Path ALERT_TESTS = DEPLOY.resolve("prometheus/tcpinspect-alerts.test.yml");
    public static final Path PROMETHEUS_CONFIG = DEPLOY.resolve("prometheus/prometheus.yml");
    public static final Path DASHBOARD = DEPLOY.resolve("grafana/tcpinspect-dashboard.json");
    public static final Path UNIT = DEPLOY.resolve("systemd/tcpinspect-agent.service");
    public static final Path AGENT_CONFIG = DEPLOY.resolve("systemd/agent.yaml");
    public static final Path DAEMONSET = DEPLOY.resolve("kubernetes/tcpinspect-daemonset.yaml");

    /** What $__rate_interval and $__interval stand for: four 15 s scrapes, as Grafana's rate interval is. */
    public static final String RATE_INTERVAL = "1m";

    private DeployFiles() {}

    /** The dashboard, parsed. */
    public static JsonNode dashboard() {
        try {
            return new ObjectMapper().readTree(DASHBOARD.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + DASHBOARD, e);
        }
    }

    /**
     * Every PromQL expression of the dashboard's panels (those inside collapsed rows too), in
     * order, with Grafana's variables replaced for a plain Prometheus: {@code $instance} by
     * {@code .*} (it is only ever matched with =~), {@code $__rate_interval} and {@code $__interval}
     * by {@value #RATE_INTERVAL}.
     */
    public static List<String> dashboardQueries() {
        return dashboardQueries(dashboard());
    }

    static List<String> dashboardQueries(JsonNode dashboard) {
        List<String> queries = new ArrayList<>();
        for (JsonNode panel : panels(dashboard)) {
            for (JsonNode target : panel.path("targets")) {
                if (target.hasNonNull("expr")) {
                    queries.add(substitute(target.get("expr").asText()));
                }
            }
        }
        return queries;
    }

    /** Every panel, rows' nested panels included (a collapsed row keeps its panels inside it). */
    static List<JsonNode> panels(JsonNode dashboard) {
        List<JsonNode> all = new ArrayList<>();
        for (JsonNode panel : dashboard.path("panels")) {
            all.add(panel);
            for (JsonNode nested : panel.path("panels")) {
                all.add(nested);
            }
        }
        return all;
    }

    private static final Pattern VARIABLE = Pattern.compile("\\$\\{([A-Za-z0-9_]+)(?::[a-z]+)?}|\\$([A-Za-z0-9_]+)|\\[\\[([A-Za-z0-9_]+)]]");

    /**
     * One expression with the dashboard's variables replaced; throws for a variable it does not
     * know, and for $instance compared other than with =~ (a regex there would match nothing).
     */
    static String substitute(String expr) {
        Matcher m = VARIABLE.matcher(expr);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            String name = m.group(1) != null ? m.group(1) : m.group(2) != null ? m.group(2) : m.group(3);
            String value = switch (name) {
                case "__rate_interval", "__interval" -> RATE_INTERVAL;
                case "instance" -> {
                    String before = expr.substring(0, m.start()).stripTrailing();
                    if (!before.endsWith("=~\"")) {
                        throw new IllegalArgumentException("$instance outside a =~ matcher in: " + expr);
                    }
                    yield ".*";
                }
                default -> throw new IllegalArgumentException("unknown Grafana variable $" + name + " in: " + expr);
            };
            m.appendReplacement(out, Matcher.quoteReplacement(value));
        }
        m.appendTail(out);
        return out.toString();
    }
}
