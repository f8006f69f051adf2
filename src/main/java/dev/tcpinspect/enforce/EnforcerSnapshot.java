package dev.tcpinspect.enforce;

import dev.tcpinspect.snapshot.Desc;
import dev.tcpinspect.snapshot.Desc.Role;
import dev.tcpinspect.snapshot.Export;
import dev.tcpinspect.snapshot.Metric;
import dev.tcpinspect.snapshot.Metric.Counter;
import dev.tcpinspect.snapshot.Snapshot;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A running enforcer's counters as a snapshot named "policy", beside the probes' in a reading, so
 * that the agent's metrics, JSON, page and live view show them without knowing the enforcer. The
 * counts are its tables', since the tables were first made (a takeover keeps them).
 */
public final class EnforcerSnapshot {
    public static final String NAME = "policy";

    private static final Export.Family PACKETS = new Export.Family("policy_packets",
            "IP packets the enforcer judged at XDP");
    private static final Export.Family VERDICTS = new Export.Family("policy_verdicts",
            "IP packets the enforcer passed or dropped, by verdict (dropped stays 0 in audit mode)");
    private static final Export.Family DROPS = new Export.Family("policy_drops",
            "IP packets the enforcer judged to drop, by the reason it judged so (counted in audit mode too, where"
                    + " nothing is dropped)");
    private static final Export.Family OUTCOMES = new Export.Family("policy_outcomes",
            "Other judgements of the enforcer, by outcome (README 'policy stats')");
    private static final Export.Family RULE_HITS = new Export.Family("policy_rule_hits",
            "Packets decided by a named prefix rule of the policy, by rule name");
    private static final Export.Family AUDIT = new Export.Family("policy_audit",
            "1 while the enforcer audits (judges and counts, drops nothing), 0 while it enforces");

    private static final Desc JUDGED = Desc.of("policy.judged", "packets judged by the policy",
            EnforceStat.PACKETS.help + " at XDP").metric(PACKETS);
    private static final Desc PASSED = Desc.of("policy.passed", "passed", "IP packets the enforcer passed")
            .role(Role.PART).metric(VERDICTS, "verdict", "passed");
    private static final Desc DROPPED = Desc.of("policy.dropped", "dropped", EnforceStat.DROPPED.help)
            .role(Role.PART).metric(VERDICTS, "verdict", "dropped");
    private static final Desc BY_REASON = Desc.of("policy_drops", "judged to drop, by reason",
            "IP packets the enforcer judged to drop, by reason (in audit mode too)").metricByKey(DROPS, "reason");
    private static final Desc HITS = Desc.of("policy_rule_hits", "hits of named rules",
            "Packets decided by each named prefix rule of the policy").metricByKey(RULE_HITS, "rule");
    private static final Desc AUDITING = Desc.of("policy.audit", "auditing (1) or enforcing (0)",
            "1 while the enforcer only audits").role(Role.HIDDEN).metric(AUDIT);
    /** What a packet can be judged to drop for, in the order a packet is judged. */
    public static final List<EnforceStat> DROP_REASONS = List.of(EnforceStat.DENIED, EnforceStat.NOT_SERVED,
            EnforceStat.DEFAULT_DENY, EnforceStat.RATE_LIMITED, EnforceStat.CONN_LIMITED, EnforceStat.SYN_FLOOD,
            EnforceStat.MISFIT, EnforceStat.UNJUDGEABLE);
    /** Shown when not zero, each one its own outcome. */
    private static final List<EnforceStat> OUTCOME_STATS = List.of(EnforceStat.FAILSAFE, EnforceStat.ALLOWED,
            EnforceStat.FLOOD_KNOWN, EnforceStat.MISFIT_CONNECTIONS, EnforceStat.MISFIT_RESETS, EnforceStat.MARKED);
    /** Counted but not held to the policy in full: a table had no room. */
    private static final Map<EnforceStat, String> UNTRACKED = Map.of(EnforceStat.SOURCES_FULL, "sources",
            EnforceStat.CONNS_UNTRACKED, "connections", EnforceStat.FIRSTS_FULL, "first_payloads");

    private static final List<Desc> OUTCOME_DESCS = OUTCOME_STATS.stream().map(s -> Desc.of("policy_detail." + s.key(),
            s.key().replace('_', ' '), s.help).role(Role.NOTE).metric(OUTCOMES, "outcome", s.key())).toList();
    private static final List<Desc> UNTRACKED_DESCS = UNTRACKED.keySet().stream().sorted().map(s ->
            Desc.of("policy_detail." + s.key(), s.key().replace('_', ' '), s.help).role(Role.NOT_SHOWN)
                    .metric(Export.Family.UNTRACKED, "probe", NAME, "table", UNTRACKED.get(s))).toList();
    private static final Desc MARKS_LOST = Desc.of("policy_detail.marks_lost", "marks lost", EnforceStat.MARKS_LOST.help)
            .role(Role.NOT_SHOWN).metric(OUTCOMES, "outcome", "marks_lost");

    private static final Desc CAPTURE_LOST = Desc.of("policy_detail.capture_lost",
            "copies for the capture file lost (ring buffer full)", EnforceStat.CAPTURE_LOST.help).role(Role.NOT_SHOWN)
            .metric(Export.Family.EVENTS_LOST, "probe", NAME);

    private static final Desc CAPTURE_SKIPPED = Desc.of("policy_detail.capture_skipped",
            "copies for the capture file skipped (over their rate)", EnforceStat.CAPTURE_SKIPPED.help).role(Role.HIDDEN)
            .metric(OUTCOMES, "outcome", "capture_skipped");

    /** Each named rule's hit counter as last read, by counter id. */
    private final Map<Integer, Long> lastById = new java.util.HashMap<>();
    /** Hits by rule name since this enforcer was loaded, never less than before. */
    private final Map<String, Long> hitsByName = new TreeMap<>();

    EnforcerSnapshot() {
    }

    /** Takes over another's counts (the enforcer this one took over in the same process). */
    void continueFrom(EnforcerSnapshot earlier) {
        lastById.putAll(earlier.lastById);
        hitsByName.putAll(earlier.hitsByName);
    }

    /**
     * The enforcer's counters now, and the hits of its named rules (their names are the policy's: a
     * bounded set). A new policy zeroes the counters of the generation it is written into; what a
     * counter had before is kept here, so a rule's hits only grow, as a Prometheus counter must.
     */
    Snapshot snapshot(EnforcerTables tables) {
        long[] s = tables.stats();
        List<Metric> metrics = new ArrayList<>();
        metrics.add(new Counter(JUDGED, s[EnforceStat.PACKETS.ordinal()]));
        metrics.add(new Counter(PASSED, s[EnforceStat.PASSED.ordinal()]));
        metrics.add(new Counter(DROPPED, s[EnforceStat.DROPPED.ordinal()]));
        Map<String, Long> reasons = new TreeMap<>();
        for (EnforceStat r : DROP_REASONS) {
            if (s[r.ordinal()] != 0) {
                reasons.put(r.key(), s[r.ordinal()]);
            }
        }
        metrics.add(new Metric.CounterMap(BY_REASON, reasons));
        for (int i = 0; i < OUTCOME_STATS.size(); i++) {
            metrics.add(new Counter(OUTCOME_DESCS.get(i), s[OUTCOME_STATS.get(i).ordinal()]));
        }
        tables.names().forEach((id, name) -> {
            long n = tables.hits(id);
            long before = lastById.getOrDefault(id, 0L);
            long added = n >= before ? n - before : n; // zeroed by a new policy since: counted from 0
            lastById.put(id, n);
            if (added != 0) {
                hitsByName.merge(name, added, Long::sum);
            }
        });
        metrics.add(new Metric.CounterMap(HITS, new TreeMap<>(hitsByName)));
        for (Desc d : UNTRACKED_DESCS) {
            metrics.add(new Counter(d, s[EnforceStat.valueOf(d.path().substring("policy_detail.".length())
                    .toUpperCase(java.util.Locale.ROOT)).ordinal()]));
        }
        metrics.add(new Counter(MARKS_LOST, s[EnforceStat.MARKS_LOST.ordinal()]));
        metrics.add(new Counter(CAPTURE_LOST, s[EnforceStat.CAPTURE_LOST.ordinal()]));
        metrics.add(new Counter(CAPTURE_SKIPPED, s[EnforceStat.CAPTURE_SKIPPED.ordinal()]));
        metrics.add(new Metric.Gauge(AUDITING, tables.config().audit() ? 1 : 0));
        return new Snapshot(NAME, metrics);
    }
}
