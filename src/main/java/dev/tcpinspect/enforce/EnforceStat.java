package dev.tcpinspect.enforce;

/** The enforcer's counters (enum enf_stat), in the kernel's order; README "policy stats" says what each counts. */
public enum EnforceStat {
    PACKETS("IP packets judged"),
    PASSED("passed"),
    DROPPED("dropped (0 with --audit)"),
    FAILSAFE("passed by a failsafe port where a rule would have dropped them"),
    ALLOWED("matched an allow rule"),
    DENIED("from a denied source"),
    NOT_SERVED("new connections to a port not served"),
    DEFAULT_DENY("new connections no rule allows (default: deny)"),
    RATE_LIMITED("new connections over the source's rate"),
    CONN_LIMITED("new connections over the source's connections at once"),
    SOURCES_FULL("new connections not held to limits: the source table was full"),
    CONNS_UNTRACKED("connections not counted against their source: no room"),
    SYN_FLOOD("SYNs over their port's rate from sources not known (syn_flood)"),
    FLOOD_KNOWN("SYNs over their port's rate that passed: their source completed a handshake within known_for"),
    MISFIT_CONNECTIONS("connections whose first payload did not look like their port's expected protocol"),
    MISFIT("packets of misfit connections, on ports whose service drops them"),
    FIRSTS_FULL("connections to a port expecting a protocol left unchecked: no room to await their first payload"),
    MISFIT_RESETS("misfit connections reset at both ends, on ports whose service resets them"),
    MARKED("packets passed with a mark (mark rules; 0 with --audit)"),
    MARKS_LOST("packets a mark rule covers that could not be marked: the driver keeps no XDP metadata"),
    UNJUDGEABLE("packets whose IP or TCP headers cannot be read (a tiny first fragment, too many IPv6 extension"
            + " headers), dropped where the policy judges new connections"),
    CAPTURE_LOST("packets judged to drop not copied for the capture or events: their ring buffer was full"),
    CAPTURE_SKIPPED("packets judged to drop not copied for the capture or events: over the copies a second asked for");

    public final String help;

    EnforceStat(String help) {
        this.help = help;
    }

    /** The name as output shows it: "not_served". */
    public String key() {
        return name().toLowerCase();
    }
}
