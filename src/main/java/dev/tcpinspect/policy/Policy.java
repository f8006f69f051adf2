package dev.tcpinspect.policy;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.SortedSet;

/**
 * What an enforcer judges incoming TCP by (the policy file, README "Policy files"): a default
 * verdict, source prefixes denied and allowed (allow wins) or only counted, rule names, the ports
 * the host serves (other TCP is dropped before the stack), failsafe ports no part of the policy
 * closes, per-source limits, how long the sources detection names stay blocked, how a SYN flood
 * is answered, and the marks passing packets of some sources get (prefix to an unsigned 32-bit
 * mark, nonzero). Only a valid policy can be made: see PolicyFile.
 */
public record Policy(Verdict defaultVerdict, List<Service> services, SortedSet<Integer> failsafe, List<Cidr> deny,
                     List<Cidr> allow, Limits limits, Optional<Duration> autoBlockTtl, Optional<SynFlood> synFlood,
                     List<Cidr> count, java.util.Map<Cidr, String> names, java.util.Map<Cidr, Integer> marks) {
    /** The failsafe ports of a policy that names none: ssh, so that nobody locks themselves out. */
    public static final List<Integer> DEFAULT_FAILSAFE = List.of(22);

    public Policy {
        services = List.copyOf(services);
        failsafe = java.util.Collections.unmodifiableSortedSet(new java.util.TreeSet<>(failsafe));
        deny = List.copyOf(deny);
        allow = List.copyOf(allow);
        count = List.copyOf(count);
        names = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(names));
        marks = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(marks));
    }

    public enum Verdict { ALLOW, DENY }

    /** What a service port's first payload bytes must look like (checked in the kernel). */
    public enum Protocol { HTTP, TLS, HTTP2, SSH }

    /** What becomes of a connection whose first payload does not look like its port's protocol. */
    public enum OnMisfit {
        /** counted per source, passed */
        COUNT,
        /** counted, and it and every later packet of its connection dropped */
        DROP,
        /** counted, and reset at both ends (its first payload segment turned into a RST) */
        RESET
    }

    /**
     * Ports served (one port: first == last), on one local address or all, with what their
     * connections must start with and what becomes of a connection that does not.
     */
    public record Service(int firstPort, int lastPort, Optional<Cidr> localAddress, Optional<Protocol> expect,
                          OnMisfit onMisfit) {
        @Override
        public String toString() {
            return (firstPort == lastPort ? Integer.toString(firstPort) : firstPort + "-" + lastPort)
                    + localAddress.map(a -> " on " + a).orElse("")
                    + expect.map(p -> " (expects " + p.name().toLowerCase() + (onMisfit == OnMisfit.COUNT ? ""
                            : onMisfit == OnMisfit.DROP ? ", drops misfits" : ", resets misfits")
                            + ")").orElse("");
        }
    }

    /**
     * A SYN flood's answer: per destination port, SYNs beyond synPerSecond (a bucket of a second's
     * worth) pass only from sources that completed a handshake with this host within knownFor.
     */
    public record SynFlood(long synPerSecond, Duration knownFor) {
        public static final Duration DEFAULT_KNOWN_FOR = Duration.ofHours(1);
    }

    /** Per source address: connections open at once, and new connections a second (a token bucket). */
    public record Limits(OptionalLong connections, OptionalLong newPerSecond) {
        public static final Limits NONE = new Limits(OptionalLong.empty(), OptionalLong.empty());
    }
}
