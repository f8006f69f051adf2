package dev.tcpinspect.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tcpinspect.agent.AgentConfig;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.TcpinspectProcess;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.SecurityContext;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.yaml.snakeyaml.DumperOptions;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/**
 * The fleet deployment files under deploy/, each checked by the tool that will read it (promtool,
 * systemd-analyze, the Kubernetes API's own model, the agent's own config reader) and against what a
 * live agent serves: every metric name, label and label value the rules, their tests and the
 * dashboard use must appear in a scrape of a real agent (src/test/resources/deploy/metrics-sample.txt).
 * promtool (Debian's prometheus) and systemd-analyze (systemd) are skipped when missing, except with
 * CI=true, where their absence fails. {@link DeployCapabilitiesTest} runs the agent with the
 * capabilities the unit and the DaemonSet grant.
 */
class DeployFilesTest {
    /** The capabilities the agent was shown to need (deploy/README.md), as systemd names them. */
    static final Set<String> CAPABILITIES = Set.of("CAP_BPF", "CAP_PERFMON", "CAP_NET_ADMIN");

    /** The alerts deploy/README.md documents. */
    private static final Set<String> ALERTS = Set.of("TcpinspectSynFlood", "TcpinspectPortScan",
            "TcpinspectListenOverflows", "TcpinspectRetransmitRatioHigh", "TcpinspectHandshakeSlow",
            "TcpinspectDropsHigh", "TcpinspectAgentDown", "TcpinspectAgentAbsent", "TcpinspectEventsLost");

    /** Labels Prometheus adds to every series it scrapes: not the agent's to serve. */
    private static final Set<String> TARGET_LABELS = Set.of("instance", "job");

    // ------------------------------------------------------------------------------------------
    // Prometheus: rules, their unit tests, the scrape config
    // ------------------------------------------------------------------------------------------

    @Test
    void promtoolAcceptsTheRulesAndTheirUnitTestsPass() {
        String promtool = tool("promtool");
        Cmd.Result check = Cmd.run(List.of(promtool, "check", "rules", DeployFiles.ALERTS.toString()), 60);
        assertEquals(0, check.exit(), check.out() + check.err());
        assertTrue(check.out().contains("SUCCESS: " + ALERTS.size() + " rules found"), check.out());
        Cmd.Result tests = Cmd.run(List.of(promtool, "test", "rules", DeployFiles.ALERT_TESTS.toString()), 120);
        assertEquals(0, tests.exit(), tests.out() + tests.err());
        assertTrue(tests.out().contains("SUCCESS"), tests.out());
    }

    /** A unit test that fails is reported: promtool is not passing whatever it is given. */
    @Test
    void promtoolFailsAUnitTestWhoseAlertDoesNotFire(@TempDir Path dir) throws IOException {
        String promtool = tool("promtool");
        Files.copy(DeployFiles.ALERTS, dir.resolve("tcpinspect-alerts.yml"));
        String tests = Files.readString(DeployFiles.ALERT_TESTS);
        // the listen overflow case, at the rate its quiet case uses (0.05/s): it must no longer fire
        String slower = tests.replaceFirst("values: '0\\+12x20'", "values: '0+3x20'");
        assertFalse(slower.equals(tests), "the firing listen overflow case moved; update this test");
        Files.writeString(dir.resolve("t.yml"), slower);
        Cmd.Result r = Cmd.run(List.of(promtool, "test", "rules", dir.resolve("t.yml").toString()), 120);
        assertEquals(1, r.exit(), r.out() + r.err());
        assertTrue((r.out() + r.err()).contains("TcpinspectListenOverflows"), r.out() + r.err());
    }

    @Test
    void everyAlertIsCompleteAndTestedFiringAndQuiet() {
        List<Map<String, Object>> rules = alertRules();
        Map<String, Map<String, Object>> byName = new LinkedHashMap<>();
        for (Map<String, Object> rule : rules) {
            String name = (String) rule.get("alert");
            assertNotNull(name, "a recording rule in the alert file: " + rule);
            assertEquals(null, byName.put(name, rule), name + " twice");
            assertTrue(rule.get("for") instanceof String f && f.matches("[1-9][0-9]*[smh]"), name + ": for: " + rule.get("for"));
            Map<?, ?> labels = (Map<?, ?>) rule.get("labels");
            assertTrue(labels != null && Set.of("critical", "warning", "info").contains(labels.get("severity")),
                    name + ": severity " + labels);
            Map<?, ?> annotations = (Map<?, ?>) rule.get("annotations");
            assertTrue(annotations != null && annotations.get("summary") instanceof String s && !s.isBlank(), name);
            String description = annotations.get("description") instanceof String d ? d : "";
            assertTrue(List.of("tcpinspect watch", "/api/", "/healthz", "/metrics", "Targets").stream().anyMatch(description::contains),
                    name + ": the description says nowhere what to look at: " + description);
        }
        assertEquals(ALERTS, byName.keySet());
        Map<String, Object> groups = yaml(DeployFiles.ALERTS);
        assertEquals("tcpinspect", ((Map<?, ?>) ((List<?>) groups.get("groups")).getFirst()).get("name"));
        assertTrue(((String) byName.get("TcpinspectAgentDown").get("expr")).contains("up{job=\"tcpinspect\"} == 0"));
        assertTrue(((String) byName.get("TcpinspectAgentAbsent").get("expr")).contains("absent(up{job=\"tcpinspect\"})"));

        Map<String, Set<Boolean>> cases = new TreeMap<>(); // alert -> {fires, quiet}
        Map<String, Object> unitTests = yaml(DeployFiles.ALERT_TESTS);
        assertEquals(List.of("tcpinspect-alerts.yml"), unitTests.get("rule_files"));
        for (Object t : (List<?>) unitTests.get("tests")) {
            for (Object c : (List<?>) ((Map<?, ?>) t).get("alert_rule_test")) {
                Map<?, ?> testCase = (Map<?, ?>) c;
                String name = (String) testCase.get("alertname");
                // promtool passes a quiet case of an alert that does not exist: a misspelt name tests nothing
                assertTrue(byName.containsKey(name), "a test of an alert the rules do not have: " + name);
                List<?> expected = (List<?>) testCase.get("exp_alerts");
                cases.computeIfAbsent(name, k -> new TreeSet<>()).add(expected != null && !expected.isEmpty());
                for (Object e : expected == null ? List.of() : expected) {
                    Map<?, ?> alert = (Map<?, ?>) e;
                    Map<?, ?> labels = (Map<?, ?>) alert.get("exp_labels");
                    Map<?, ?> annotations = (Map<?, ?>) alert.get("exp_annotations");
                    assertEquals(((Map<?, ?>) byName.get(name).get("labels")).get("severity"), labels.get("severity"), name);
                    assertTrue(annotations != null && annotations.keySet().equals(Set.of("summary", "description")),
                            name + ": a firing case must state both annotations exactly");
                }
            }
        }
        for (String name : ALERTS) {
            assertEquals(Set.of(false, true), cases.getOrDefault(name, Set.of()),
                    name + ": needs a case where it fires and one where it does not");
        }
    }

    /**
     * Every metric the rules and their unit tests' input series name is one a live agent serves
     * (or Prometheus' own up), with the label values they match: a rule on a misspelt metric, or on
     * type="syn_flood" (a value no series has; the type is "flood"), would never fire, and promtool's tests
     * would pass on series made up to match it.
     */
    @Test
    void rulesAndTheirTestSeriesUseWhatALiveAgentServes() {
        Scrape scrape = Scrape.sample();
        for (Map<String, Object> rule : alertRules()) {
            check(scrape, (String) rule.get("expr"), Set.of("up"), "rule " + rule.get("alert"));
        }
        for (Object t : (List<?>) yaml(DeployFiles.ALERT_TESTS).get("tests")) {
            for (Object s : (List<?>) ((Map<?, ?>) t).get("input_series")) {
                String series = (String) ((Map<?, ?>) s).get("series");
                List<PromQl.Selector> selectors = PromQl.selectors(series);
                assertEquals(1, selectors.size(), series);
                assertTrue(selectors.getFirst().matchers().stream().allMatch(m -> m.op().equals("=")), series);
                check(scrape, series, Set.of("up"), "test series " + series);
            }
        }
    }

    @Test
    void prometheusConfigPassesPromtoolAndPointsAtTheRules(@TempDir Path dir) throws IOException {
        String promtool = tool("promtool");
        Cmd.Result r = Cmd.run(List.of(promtool, "check", "config", DeployFiles.PROMETHEUS_CONFIG.toString()), 60);
        assertEquals(0, r.exit(), r.out() + r.err());
        assertTrue(r.out().contains("SUCCESS: " + ALERTS.size() + " rules found"), "the rules are not loaded: " + r.out());

        Map<String, Object> config = yaml(DeployFiles.PROMETHEUS_CONFIG);
        assertEquals(List.of("tcpinspect-alerts.yml"), config.get("rule_files"));
        Map<String, Object> job = tcpinspectJob(config);
        assertEquals("15s", job.get("scrape_interval"));
        for (Object group : (List<?>) job.get("static_configs")) {
            for (Object target : (List<?>) ((Map<?, ?>) group).get("targets")) {
                assertTrue(((String) target).endsWith(":" + AgentConfig.DEFAULT_PORT), "target " + target);
            }
        }

        // The commented Kubernetes discovery, uncommented: its relabelling is valid beside the static
        // targets (Debian's promtool is built without Kubernetes discovery, so kubernetes_sd_configs
        // itself is only read here).
        String text = Files.readString(DeployFiles.PROMETHEUS_CONFIG);
        int start = text.indexOf("    # kubernetes_sd_configs:");
        assertTrue(start > 0, "no commented kubernetes_sd_configs block");
        StringBuilder block = new StringBuilder();
        for (String line : text.substring(start).lines().toList()) {
            if (!line.startsWith("    #")) {
                break;
            }
            block.append(line.replaceFirst("^    # ?", "")).append('\n');
        }
        Map<String, Object> discovery = new Yaml(new SafeConstructor(new LoaderOptions())).load(block.toString());
        assertEquals(Set.of("kubernetes_sd_configs", "relabel_configs"), discovery.keySet());
        Map<?, ?> sd = (Map<?, ?>) ((List<?>) discovery.get("kubernetes_sd_configs")).getFirst();
        assertEquals("pod", sd.get("role"));
        assertEquals(List.of("tcpinspect"), ((Map<?, ?>) sd.get("namespaces")).get("names"), "the DaemonSet's namespace");
        job.put("relabel_configs", discovery.get("relabel_configs"));
        DumperOptions dump = new DumperOptions();
        dump.setDefaultFlowStyle(DumperOptions.FlowStyle.BLOCK);
        Files.writeString(dir.resolve("prometheus.yml"), new Yaml(dump).dump(config));
        Files.copy(DeployFiles.ALERTS, dir.resolve("tcpinspect-alerts.yml"));
        Cmd.Result relabelled = Cmd.run(List.of(promtool, "check", "config", dir.resolve("prometheus.yml").toString()), 60);
        assertEquals(0, relabelled.exit(), relabelled.out() + relabelled.err());
    }

    // ------------------------------------------------------------------------------------------
    // Grafana
    // ------------------------------------------------------------------------------------------

    @Test
    void dashboardIsImportableAndEveryPanelQueriesTheChosenInstances() {
        JsonNode d = DeployFiles.dashboard();
        int schema = d.path("schemaVersion").asInt();
        assertTrue(schema >= 36 && schema <= 41, "schemaVersion " + schema);
        assertFalse(d.path("uid").asText().isBlank());
        assertFalse(d.path("title").asText().isBlank());
        assertTrue(d.path("id").isNull() || d.path("id").isMissingNode(), "an exported dashboard has no id");

        Map<String, JsonNode> variables = new HashMap<>();
        for (JsonNode v : d.path("templating").path("list")) {
            variables.put(v.path("name").asText(), v);
        }
        JsonNode ds = variables.get("datasource");
        assertNotNull(ds, "a datasource variable");
        assertEquals("datasource", ds.path("type").asText());
        assertEquals("prometheus", ds.path("query").asText());
        JsonNode instance = variables.get("instance");
        assertNotNull(instance, "an instance variable");
        assertEquals("query", instance.path("type").asText());
        assertTrue(instance.path("includeAll").asBoolean() && instance.path("multi").asBoolean());
        assertEquals(".*", instance.path("allValue").asText(), "All must be a regex for =~");
        assertEquals("${datasource}", instance.path("datasource").path("uid").asText());
        String variableQuery = instance.path("query").path("query").asText();
        Matcher labelValues = Pattern.compile("label_values\\((\\w+), *instance\\)").matcher(variableQuery);
        assertTrue(labelValues.matches(), variableQuery);
        assertTrue(Scrape.sample().series.containsKey(labelValues.group(1)), variableQuery);

        Set<Integer> ids = new HashSet<>();
        List<int[]> boxes = new ArrayList<>();
        int queries = 0;
        for (JsonNode panel : DeployFiles.panels(d)) {
            String title = panel.path("title").asText();
            assertTrue(ids.add(panel.path("id").asInt()), "panel id twice: " + title);
            JsonNode g = panel.path("gridPos");
            int[] box = {g.path("x").asInt(), g.path("y").asInt(), g.path("w").asInt(), g.path("h").asInt()};
            assertTrue(box[2] > 0 && box[3] > 0 && box[0] >= 0 && box[0] + box[2] <= 24, title + ": gridPos " + g);
            for (int[] other : boxes) {
                boolean apart = box[0] >= other[0] + other[2] || other[0] >= box[0] + box[2]
                        || box[1] >= other[1] + other[3] || other[1] >= box[1] + box[3];
                assertTrue(apart, title + " overlaps another panel");
            }
            boxes.add(box);
            if (panel.path("type").asText().equals("row")) {
                continue;
            }
            assertFalse(title.isBlank(), "a panel without a title");
            assertEquals("${datasource}", panel.path("datasource").path("uid").asText(), title);
            assertTrue(panel.path("targets").size() > 0, title + ": no query");
            Set<String> refIds = new HashSet<>();
            for (JsonNode target : panel.path("targets")) {
                String expr = target.path("expr").asText();
                assertFalse(expr.isBlank(), title + ": a target without expr");
                assertTrue(refIds.add(target.path("refId").asText()), title + ": refId twice");
                assertEquals("${datasource}", target.path("datasource").path("uid").asText(), title);
                for (PromQl.Selector s : PromQl.selectors(expr)) {
                    assertTrue(s.matchers().contains(new PromQl.LabelMatcher("instance", "=~", "$instance")),
                            title + ": " + s.metric() + " ignores the instance picker in " + expr);
                }
                for (String range : PromQl.ranges(expr)) {
                    assertEquals("$__rate_interval", range, title + ": " + expr);
                }
                queries++;
            }
        }
        assertEquals(queries, DeployFiles.dashboardQueries().size());
    }

    /** The dashboard shows what it was asked to: each of these families is in some panel's query. */
    @Test
    void dashboardCoversTrafficLatencyErrorsDetectionAndTheAgentsCost() {
        Set<String> used = new TreeSet<>();
        for (String q : DeployFiles.dashboardQueries()) {
            PromQl.selectors(q).forEach(s -> used.add(s.metric()));
        }
        for (String family : List.of("tcpinspect_connections_opened_total", "tcpinspect_packets_by_kind_total",
                "tcpinspect_handshake_duration_seconds_bucket", "tcpinspect_rtt_seconds_bucket",
                "tcpinspect_retransmits_total", "tcpinspect_resets_total", "tcpinspect_drops_by_reason_total",
                "tcpinspect_zero_windows_total", "tcpinspect_alerts_active", "tcpinspect_agent_cpu_seconds_total",
                "tcpinspect_events_lost_total", "tcpinspect_untracked_total")) {
            assertTrue(used.contains(family), "no panel shows " + family + "; the dashboard uses " + used);
        }
    }

    /**
     * Every query, with the variables replaced as {@link DeployFiles#dashboardQueries()} does, is
     * PromQL promtool parses (as recording rules), and names only series and labels a live agent serves.
     */
    @Test
    void dashboardQueriesAreValidPromqlOverWhatALiveAgentServes(@TempDir Path dir) throws IOException {
        List<String> queries = DeployFiles.dashboardQueries();
        Scrape scrape = Scrape.sample();
        StringBuilder rules = new StringBuilder("groups:\n  - name: dashboard\n    rules:\n");
        for (int i = 0; i < queries.size(); i++) {
            String q = queries.get(i);
            assertFalse(q.contains("$"), "a variable left in " + q);
            check(scrape, q, Set.of(), "dashboard query " + q);
            rules.append("      - record: dashboard:query_").append(i).append('\n')
                    .append("        expr: '").append(q.replace("'", "''")).append("'\n");
        }
        String promtool = tool("promtool");
        Files.writeString(dir.resolve("dashboard.rules.yml"), rules);
        Cmd.Result r = Cmd.run(List.of(promtool, "check", "rules", dir.resolve("dashboard.rules.yml").toString()), 60);
        assertEquals(0, r.exit(), r.out() + r.err());
        assertTrue(r.out().contains("SUCCESS: " + queries.size() + " rules found"), r.out());
    }

    @Test
    void dashboardVariablesAreReplacedOrRefused() {
        assertEquals("rate(x{instance=~\".*\"}[1m])", DeployFiles.substitute("rate(x{instance=~\"$instance\"}[$__rate_interval])"));
        assertEquals("rate(x{instance=~\".*\"}[1m])", DeployFiles.substitute("rate(x{instance=~\"${instance}\"}[${__interval}])"));
        assertThrows(IllegalArgumentException.class, () -> DeployFiles.substitute("x{instance=\"$instance\"}"));
        assertThrows(IllegalArgumentException.class, () -> DeployFiles.substitute("x{job=~\"$job\"}"));
    }

    /** The checks above find what they look for: a sample of mistakes, each caught. */
    @Test
    void theMetricChecksCatchMistakes() {
        Scrape scrape = Scrape.sample();
        for (String wrong : List.of(
                "rate(tcpinspect_retransmit_total[5m])", // misspelt
                "tcpinspect_alerts_active{type=\"syn_flood\"}", // the type is flood
                "rate(tcpinspect_packets_by_kind_total{kind=~\"syn|synak\"}[5m])", // one value misspelt
                "sum by (direction) (rate(tcpinspect_packets_total[5m]))", // no such label
                "histogram_quantile(0.99, sum by (direction) (rate(tcpinspect_handshake_duration_seconds_bucket[5m])))",
                "up == 0")) { // not the agent's
            assertThrows(AssertionError.class, () -> check(scrape, wrong, Set.of(), "mistake"), wrong);
        }
        check(scrape, "histogram_quantile(0.99, sum by (le, direction) (rate(tcpinspect_handshake_duration_seconds_bucket"
                + "{direction=\"passive\"}[5m])))", Set.of(), "right");
    }

    // ------------------------------------------------------------------------------------------
    // systemd
    // ------------------------------------------------------------------------------------------

    @Test
    void systemdUnitVerifiesAndGrantsOnlyTheCapabilitiesShownNeeded(@TempDir Path dir) throws IOException {
        String analyze = tool("systemd-analyze");
        Map<String, List<String>> service = unitSection("Service");
        verifyUnit(analyze, Files.readString(DeployFiles.UNIT), dir);
        verifyUnit(analyze, Files.readString(DeployFiles.UNIT).replace("\n#LogsDirectory=", "\nLogsDirectory="), dir);

        assertEquals(CAPABILITIES, words(service, "AmbientCapabilities"));
        assertEquals(CAPABILITIES, words(service, "CapabilityBoundingSet"));
        assertTrue(List.of("yes").equals(service.get("DynamicUser"))
                || (service.containsKey("User") && !List.of("root").equals(service.get("User"))), "a non-root user");
        assertEquals(List.of("yes"), service.get("NoNewPrivileges"));
        assertEquals(List.of("strict"), service.get("ProtectSystem"));
        assertEquals(List.of("on-failure"), service.get("Restart"));
        assertEquals(List.of("/bin/kill -HUP $MAINPID"), service.get("ExecReload"));
        assertEquals(Set.of("AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"), words(service, "RestrictAddressFamilies"));
        assertFalse(service.containsKey("PrivateNetwork"), "the agent must see the host's interfaces");
        assertFalse(service.containsKey("MemoryDenyWriteExecute"), "the JVM's JIT writes code it runs");
        assertFalse(service.containsKey("User") && service.containsKey("DynamicUser"));

        List<String> exec = execStart();
        assertTrue(exec.getFirst().startsWith("/"), "ExecStart needs an absolute path: " + exec.getFirst());
        assertTrue(exec.containsAll(jvmOptions()), "ExecStart lacks the launcher's JVM options " + jvmOptions());
        assertTrue(exec.containsAll(c1Options()), "ExecStart lacks the launcher's JIT options for the agent " + c1Options());
        // -jar: the manifest grants native access; the flag as well would turn off the JDK's archived module graph
        assertFalse(exec.contains("--enable-native-access=ALL-UNNAMED"), "the jar's manifest grants it");
        int jar = exec.indexOf("-jar");
        assertEquals(List.of("agent", "--config", "/etc/tcpinspect/agent.yaml"), exec.subList(jar + 2, exec.size()));
    }

    /** systemd-analyze verify says 0 for an unknown key or a bad value: the check reads what it prints. */
    @Test
    void systemdVerifyCatchesAMisspeltDirective(@TempDir Path dir) throws IOException {
        String analyze = tool("systemd-analyze");
        String unit = Files.readString(DeployFiles.UNIT);
        assertThrows(AssertionError.class, () -> verifyUnit(analyze, unit.replace("ProtectSystem=", "ProtectSytem="), dir));
        assertThrows(AssertionError.class, () -> verifyUnit(analyze,
                unit.replace("RestrictAddressFamilies=AF_INET ", "RestrictAddressFamilies=AF_INETT "), dir));
    }

    /** The config the unit starts the agent with, and its commented examples, are accepted by the agent as it reads them. */
    @Test
    void theUnitsConfigIsAcceptedByTheAgent() throws IOException {
        AgentConfig c = AgentConfig.read(DeployFiles.AGENT_CONFIG);
        assertEquals(AgentConfig.DEFAULT_PORT, c.listen().getPort());
        assertTrue(c.listen().getAddress().isAnyLocalAddress(), "listens for Prometheus on every address: " + c.listen());
        assertEquals(AgentConfig.LogFormat.JSON, c.logFormat());
        assertEquals(null, c.pcap(), "the unit lets the agent write nowhere unless LogsDirectory= is uncommented");

        String examples = Files.readString(DeployFiles.AGENT_CONFIG).lines()
                .map(l -> l.replaceFirst("^# ([a-z_]+:.*)$", "$1").replaceFirst("^#   (\\S.*)$", "  $1"))
                .collect(Collectors.joining("\n"));
        AgentConfig all = AgentConfig.parse("agent.yaml, examples uncommented", examples);
        assertEquals(List.of("eth0"), all.interfaces());
        assertEquals(Set.of(22, 443), all.ports());
        assertEquals(Set.of("flood.syn_rate", "scan.ports"), all.settings().keySet());
        assertNotNull(all.pcap());
        assertTrue(all.pcap().file().toString().startsWith("/var/log/tcpinspect/"), "where LogsDirectory=tcpinspect lets it write");
        assertTrue(unitText().contains("\n#LogsDirectory=tcpinspect\n"), "the unit's commented LogsDirectory=");
    }

    private static String unitText() throws IOException {
        return Files.readString(DeployFiles.UNIT);
    }

    // ------------------------------------------------------------------------------------------
    // Kubernetes
    // ------------------------------------------------------------------------------------------

    @Test
    void daemonSetParsesStrictlyIntoTheKubernetesModel() throws IOException {
        Map<String, HasMetadata> objects = kubernetesObjects(Files.readString(DeployFiles.DAEMONSET));
        assertEquals(Set.of("Namespace", "ServiceAccount", "DaemonSet"), objects.keySet());
        Namespace namespace = (Namespace) objects.get("Namespace");
        ServiceAccount account = (ServiceAccount) objects.get("ServiceAccount");
        DaemonSet ds = (DaemonSet) objects.get("DaemonSet");
        String ns = namespace.getMetadata().getName();
        assertEquals(ns, account.getMetadata().getNamespace());
        assertEquals(ns, ds.getMetadata().getNamespace());
        assertEquals("privileged", namespace.getMetadata().getLabels().get("pod-security.kubernetes.io/enforce"),
                "hostNetwork, hostPath and added capabilities are beyond the baseline level");
        assertEquals("apps/v1", ds.getApiVersion());
        assertFalse(ds.getSpec().getSelector().getMatchLabels().isEmpty());
        ds.getSpec().getSelector().getMatchLabels().forEach((k, v) ->
                assertEquals(v, ds.getSpec().getTemplate().getMetadata().getLabels().get(k), "the selector misses the pods"));

        PodSpec pod = ds.getSpec().getTemplate().getSpec();
        assertEquals(account.getMetadata().getName(), pod.getServiceAccountName());
        assertEquals(Boolean.FALSE, pod.getAutomountServiceAccountToken());
        assertEquals(Boolean.TRUE, pod.getHostNetwork());
        assertFalse(Boolean.TRUE.equals(pod.getHostPID()), "hostPID is not needed");
        assertFalse(Boolean.TRUE.equals(pod.getHostIPC()));
        assertEquals(1, pod.getContainers().size());
        Container c = pod.getContainers().getFirst();

        SecurityContext sc = c.getSecurityContext();
        assertFalse(Boolean.TRUE.equals(sc.getPrivileged()), "not privileged");
        assertEquals(Boolean.FALSE, sc.getAllowPrivilegeEscalation());
        assertEquals(Boolean.TRUE, sc.getReadOnlyRootFilesystem());
        assertEquals(List.of("ALL"), sc.getCapabilities().getDrop());
        assertEquals(CAPABILITIES, sc.getCapabilities().getAdd().stream().map(a -> "CAP_" + a).collect(Collectors.toSet()),
                "the DaemonSet and the unit grant the same capabilities");
        assertEquals(0L, sc.getRunAsUser(), "uid 0 with only these: Kubernetes sets no ambient capabilities");

        Map<String, String> annotations = ds.getSpec().getTemplate().getMetadata().getAnnotations();
        assertEquals("true", annotations.get("prometheus.io/scrape"));
        int port = c.getPorts().getFirst().getContainerPort();
        assertEquals(String.valueOf(port), annotations.get("prometheus.io/port"));
        assertEquals("/metrics", annotations.getOrDefault("prometheus.io/path", "/metrics"));

        List<String> command = c.getCommand();
        assertEquals("java", command.getFirst());
        assertTrue(command.containsAll(jvmOptions()), "the launcher's JVM options " + jvmOptions() + " in " + command);
        assertTrue(command.containsAll(c1Options()), "the launcher's JIT options for the agent " + c1Options() + " in " + command);
        assertFalse(command.contains("--enable-native-access=ALL-UNNAMED"), "the jar's manifest grants it");
        assertTrue(command.contains("-jar"), "native access comes from the jar's manifest with -jar: " + command);
        int listen = command.indexOf("--listen");
        assertEquals("$(HOST_IP):" + port, command.get(listen + 1));
        EnvVar hostIp = c.getEnv().stream().filter(e -> e.getName().equals("HOST_IP")).findFirst().orElseThrow();
        assertEquals("status.hostIP", hostIp.getValueFrom().getFieldRef().getFieldPath());

        String portName = c.getPorts().getFirst().getName();
        for (Probe probe : List.of(c.getReadinessProbe(), c.getLivenessProbe())) {
            assertNotNull(probe);
            assertEquals("/healthz", probe.getHttpGet().getPath());
            Object target = probe.getHttpGet().getPort().getValue();
            assertTrue(target.equals(portName) || target.equals(port), "the probe's port " + target);
        }

        Map<String, Quantity> requests = c.getResources().getRequests();
        Map<String, Quantity> limits = c.getResources().getLimits();
        assertTrue(requests.containsKey("cpu") && requests.containsKey("memory") && limits.containsKey("memory"));
        BigDecimal mib = BigDecimal.valueOf(1 << 20);
        assertTrue(limits.get("memory").getNumericalAmount().compareTo(mib.multiply(BigDecimal.valueOf(256))) > 0,
                "the agent reaches about 250 MiB resident under a flood");
        assertTrue(requests.get("memory").getNumericalAmount().compareTo(limits.get("memory").getNumericalAmount()) <= 0);

        Map<String, Volume> volumes = pod.getVolumes().stream().collect(Collectors.toMap(Volume::getName, v -> v));
        Set<String> mounted = new TreeSet<>();
        for (VolumeMount m : c.getVolumeMounts()) {
            Volume v = volumes.get(m.getName());
            assertNotNull(v, "mount of an undefined volume " + m.getName());
            assertEquals(Boolean.TRUE, m.getReadOnly(), m.getMountPath() + " must be read-only");
            mounted.add(v.getHostPath().getPath() + " -> " + m.getMountPath());
        }
        assertEquals(Set.of("/boot -> /boot", "/sys/kernel/btf -> /sys/kernel/btf"), mounted);
    }

    /** The strict reading catches what fabric8 alone would keep quietly: a field in the wrong place, a misspelt one. */
    @Test
    void aMisplacedOrMisspeltFieldFailsTheStrictReading() throws IOException {
        String text = Files.readString(DeployFiles.DAEMONSET);
        String misplaced = text.replace("      hostNetwork: true\n", "").replace("          imagePullPolicy: IfNotPresent\n",
                "          imagePullPolicy: IfNotPresent\n          hostNetwork: true\n");
        String misspelt = text.replace("readOnlyRootFilesystem:", "readOnlyRootFileSystem:");
        String duplicated = text.replace("      hostNetwork: true\n", "      hostNetwork: true\n      hostNetwork: false\n");
        for (String wrong : List.of(misplaced, misspelt, duplicated)) {
            assertFalse(wrong.equals(text), "the DaemonSet changed; update this test");
            assertThrows(AssertionError.class, () -> kubernetesObjects(wrong));
        }
    }

    // ------------------------------------------------------------------------------------------
    // Helpers
    // ------------------------------------------------------------------------------------------

    /** A tool's path; missing, the test is skipped, or fails under CI=true. */
    static String tool(String name) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            Path p = Path.of(dir, name);
            if (Files.isExecutable(p)) {
                return p.toString();
            }
        }
        for (String dir : List.of("/usr/sbin", "/sbin", "/usr/bin", "/bin")) {
            if (Files.isExecutable(Path.of(dir, name))) {
                return dir + "/" + name;
            }
        }
        if ("true".equals(System.getenv("CI"))) {
            fail(name + " is missing under CI=true (run-tests installs it)");
        }
        Assumptions.abort(name + " is not installed");
        return null;
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> yaml(Path file) {
        LoaderOptions options = new LoaderOptions();
        options.setAllowDuplicateKeys(false);
        try {
            return new Yaml(new SafeConstructor(options)).load(Files.readString(file));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> alertRules() {
        List<Map<String, Object>> rules = new ArrayList<>();
        for (Object group : (List<?>) yaml(DeployFiles.ALERTS).get("groups")) {
            rules.addAll((List<Map<String, Object>>) ((Map<?, ?>) group).get("rules"));
        }
        return rules;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> tcpinspectJob(Map<String, Object> config) {
        for (Object job : (List<?>) config.get("scrape_configs")) {
            if ("tcpinspect".equals(((Map<?, ?>) job).get("job_name"))) {
                return (Map<String, Object>) job;
            }
        }
        throw new AssertionError("no job_name tcpinspect");
    }

    /** The launcher's JVM options (scripts/jvm.options, comments left out). */
    static List<String> jvmOptions() {
        return TcpinspectProcess.launcherOptions("jvm.options");
    }

    /** The launcher's JIT options for everything but JSON output, the agent's included (scripts/jit-c1.options). */
    static List<String> c1Options() {
        return TcpinspectProcess.launcherOptions("jit-c1.options");
    }

    /** One section of the unit: key to its values in order (a key may be given several times). */
    static Map<String, List<String>> unitSection(String section) {
        Map<String, List<String>> keys = new LinkedHashMap<>();
        String current = null;
        try {
            for (String line : Files.readAllLines(DeployFiles.UNIT)) {
                String l = line.strip();
                if (l.isEmpty() || l.startsWith("#") || l.startsWith(";")) {
                    continue;
                }
                if (l.startsWith("[")) {
                    current = l.substring(1, l.length() - 1);
                } else if (section.equals(current)) {
                    int eq = l.indexOf('=');
                    keys.computeIfAbsent(l.substring(0, eq), k -> new ArrayList<>()).add(l.substring(eq + 1));
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return keys;
    }

    private static Set<String> words(Map<String, List<String>> section, String key) {
        List<String> values = section.get(key);
        assertNotNull(values, key + " is not set");
        Set<String> words = new TreeSet<>();
        values.forEach(v -> words.addAll(Arrays.asList(v.strip().split("\\s+"))));
        return words;
    }

    /** The unit's ExecStart, split into words (it has no quoting). */
    static List<String> execStart() {
        List<String> exec = unitSection("Service").get("ExecStart");
        assertEquals(1, exec.size());
        assertFalse(exec.getFirst().contains("\"") || exec.getFirst().contains("'"), "ExecStart with quotes");
        return List.of(exec.getFirst().strip().split("\\s+"));
    }

    /**
     * systemd-analyze verify of a copy of the unit: exit 0 and no word about it. Where the unit's
     * JVM is not installed (verify checks that ExecStart's program exists), the copy runs this JVM.
     */
    private static void verifyUnit(String analyze, String unit, Path dir) throws IOException {
        String java = execStart().getFirst();
        if (!Files.isExecutable(Path.of(java))) {
            unit = unit.replace(java, ProcessHandle.current().info().command().orElseThrow());
        }
        Path copy = dir.resolve("tcpinspect-agent.service");
        Files.writeString(copy, unit);
        Cmd.Result r = Cmd.run(List.of(analyze, "verify", copy.toString()), 60);
        String said = (r.out() + r.err()).lines().filter(l -> l.contains("tcpinspect-agent")).collect(Collectors.joining("\n"));
        assertEquals(0, r.exit(), r.out() + r.err());
        assertEquals("", said, "systemd-analyze verify has something to say about the unit");
    }

    /** The objects of a multi-document manifest, each read into fabric8's model and checked for unknown fields. */
    static Map<String, HasMetadata> kubernetesObjects(String text) {
        LoaderOptions options = new LoaderOptions();
        options.setAllowDuplicateKeys(false);
        Map<String, Class<? extends HasMetadata>> kinds = Map.of("Namespace", Namespace.class,
                "ServiceAccount", ServiceAccount.class, "DaemonSet", DaemonSet.class);
        tools.jackson.databind.ObjectMapper mapper = tools.jackson.databind.json.JsonMapper.builder().build();
        Map<String, HasMetadata> objects = new LinkedHashMap<>();
        try {
            for (Object doc : new Yaml(new SafeConstructor(options)).loadAll(text)) {
                if (doc == null) {
                    continue;
                }
                String kind = (String) ((Map<?, ?>) doc).get("kind");
                Class<? extends HasMetadata> type = kinds.get(kind);
                assertNotNull(type, "an object of kind " + kind);
                HasMetadata object = mapper.convertValue(doc, type);
                List<String> unknown = new ArrayList<>();
                unknownFields(object, kind, unknown);
                assertEquals(List.of(), unknown, "fields the Kubernetes API does not have there");
                assertEquals(null, objects.put(kind, object), kind + " twice");
            }
        } catch (RuntimeException e) { // YAML that does not parse, a duplicate key, a value of the wrong type
            throw new AssertionError("the manifest does not read: " + e.getMessage(), e);
        }
        return objects;
    }

    /** Walks a fabric8 object graph: every non-empty additionalProperties is a field the schema lacks. */
    private static void unknownFields(Object node, String path, List<String> unknown) {
        if (node == null) {
            return;
        }
        if (node instanceof List<?> list) {
            for (int i = 0; i < list.size(); i++) {
                unknownFields(list.get(i), path + "[" + i + "]", unknown);
            }
            return;
        }
        if (node instanceof Map<?, ?> map) {
            map.forEach((k, v) -> unknownFields(v, path + "." + k, unknown));
            return;
        }
        if (!node.getClass().getName().startsWith("io.fabric8.")) {
            return;
        }
        for (Method m : node.getClass().getMethods()) {
            if (m.getParameterCount() != 0 || Modifier.isStatic(m.getModifiers()) || !m.getName().startsWith("get")) {
                continue;
            }
            Class<?> type = m.getReturnType();
            boolean model = type.getName().startsWith("io.fabric8.");
            if (!model && !List.class.isAssignableFrom(type) && !Map.class.isAssignableFrom(type)) {
                continue;
            }
            Object value;
            try {
                value = m.invoke(node);
            } catch (IllegalAccessException | InvocationTargetException e) {
                continue;
            }
            if (m.getName().equals("getAdditionalProperties")) {
                if (value instanceof Map<?, ?> extra && !extra.isEmpty()) {
                    unknown.add(path + ": " + extra.keySet());
                }
                continue;
            }
            unknownFields(value, path + "." + Character.toLowerCase(m.getName().charAt(3)) + m.getName().substring(4), unknown);
        }
    }

    /**
     * Checks one expression against the scrape: every metric is served (or is one of the allowed,
     * Prometheus' own), every label matched or grouped by is one of that metric's, every value
     * matched with = (or a plain alternation with =~) is one it serves, and every
     * histogram_quantile groups by le.
     */
    static void check(Scrape scrape, String expr, Set<String> allowed, String what) {
        List<PromQl.Selector> selectors = PromQl.selectors(expr);
        assertFalse(selectors.isEmpty(), what + ": no series in it");
        for (PromQl.Selector s : selectors) {
            if (allowed.contains(s.metric())) {
                continue;
            }
            Map<String, Set<String>> labels = scrape.series.get(s.metric());
            assertNotNull(labels, what + ": a live agent serves no " + s.metric());
            for (PromQl.LabelMatcher m : s.matchers()) {
                if (TARGET_LABELS.contains(m.label())) {
                    continue;
                }
                Set<String> values = labels.get(m.label());
                assertNotNull(values, what + ": " + s.metric() + " has no label " + m.label() + " (it has " + labels.keySet() + ")");
                List<String> wanted = switch (m.op()) {
                    case "=" -> List.of(m.value());
                    case "=~" -> m.value().matches("[A-Za-z0-9_.+|]+") ? List.of(m.value().split("\\|")) : List.of();
                    default -> List.of();
                };
                for (String v : wanted) {
                    if (!m.label().equals("le")) {
                        assertTrue(values.contains(v), what + ": " + s.metric() + " never has " + m.label() + "=\"" + v
                                + "\" (a live agent serves " + values + ")");
                    }
                }
            }
        }
        for (PromQl.Grouping g : PromQl.groupings(expr)) {
            Set<String> known = new TreeSet<>(TARGET_LABELS);
            for (PromQl.Selector s : PromQl.selectors(g.aggregated())) {
                known.addAll(scrape.series.getOrDefault(s.metric(), Map.of()).keySet());
            }
            for (String label : g.labels()) {
                assertTrue(known.contains(label), what + ": grouped by " + label + ", which none of "
                        + PromQl.selectors(g.aggregated()).stream().map(PromQl.Selector::metric).toList() + " has");
            }
        }
        for (String argument : PromQl.calls(expr, "histogram_quantile")) {
            List<PromQl.Grouping> inner = PromQl.groupings(argument);
            assertTrue(!inner.isEmpty() && inner.getFirst().labels().contains("le"),
                    what + ": histogram_quantile over an aggregation without le");
        }
    }

    /** A scrape of a live agent: metric name to label name to the values it served. */
    static final class Scrape {
        final Map<String, Map<String, Set<String>>> series = new TreeMap<>();

        private static Scrape sample;

        static synchronized Scrape sample() {
            if (sample == null) {
                try (InputStream in = DeployFilesTest.class.getResourceAsStream("/deploy/metrics-sample.txt")) {
                    assertNotNull(in, "src/test/resources/deploy/metrics-sample.txt is missing");
                    sample = parse(new String(in.readAllBytes(), StandardCharsets.UTF_8));
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
            return sample;
        }

        private static final Pattern LINE = Pattern.compile("([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{(.*)})? +\\S+( +\\S+)?");
        private static final Pattern LABEL = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\",?");

        static Scrape parse(String text) {
            Scrape s = new Scrape();
            for (String line : text.lines().toList()) {
                if (line.isBlank() || line.startsWith("#")) {
                    continue;
                }
                Matcher m = LINE.matcher(line);
                assertTrue(m.matches(), "not a sample line: " + line);
                Map<String, Set<String>> labels = s.series.computeIfAbsent(m.group(1), k -> new TreeMap<>());
                if (m.group(3) != null) {
                    Matcher l = LABEL.matcher(m.group(3));
                    int end = 0;
                    while (l.find()) {
                        assertEquals(end, l.start(), "labels of " + line);
                        labels.computeIfAbsent(l.group(1), k -> new LinkedHashSet<>()).add(l.group(2));
                        end = l.end();
                    }
                    assertEquals(m.group(3).length(), end, "labels of " + line);
                }
            }
            return s;
        }
    }
}
