/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The enforcer's tables (enforce.bpf.c), shared with Java (dev.tcpinspect.enforce). Every table is
 * pinned by name under the enforcer's folder in bpffs, so the policy outlives the process that put
 * it there (kill -9 leaves traffic judged as it was), a new start adopts it, and `tcpinspect policy`
 * commands change it in place.
 *
 * A policy lives in one of two generations (0 and 1): `policy apply` writes the new one beside the
 * running one and then flips enf_config.active_gen, one word a packet reads once, so a packet is
 * judged by the old policy or the new, never by a mix. Entries added live (`policy deny|allow`,
 * auto_block) are a third key space (ENF_LIVE) that survives flips.
 */
#ifndef TCPINSPECT_ENFORCE_H
#define TCPINSPECT_ENFORCE_H

#include "lib/probe.h"
#include "lib/handoff.h"

#define ENF_LIVE 2             /* the prefix tables' generation byte of entries added live */
#define ENF_PORTS 65536
#define ENF_RULE_SLOTS 16384   /* hit counters per generation and for live entries; ids past the last share it */

enum enf_rule_kind {
	ENF_RULE_NONE = 0,  /* a chain that is only counted decides nothing */
	ENF_RULE_ALLOW = 1,
	ENF_RULE_DENY = 2,
	ENF_RULE_COUNT = 3, /* listed in count: counted, never a verdict */
	ENF_RULE_MARK = 4,  /* listed in mark: counted, its sources' passing packets marked, never a verdict */
};

#define ENF_NO_COUNT 0xFFFFFFFF

/* Per destination port and generation (index gen * ENF_PORTS + port). */
enum enf_port_flag {
	ENF_PORT_SERVED = 1,      /* served on every local address */
	ENF_PORT_SERVED_ON = 2,   /* served on some local addresses only (enf_served_on) */
	ENF_PORT_FAILSAFE = 4,    /* nothing in the policy closes it */
	ENF_PORT_DROP_MISFITS = 8,/* a connection whose first payload misfits its protocol is dropped */
	ENF_PORT_EXPECT = 16,     /* bits 4-6: enum enf_protocol its connections must start with */
	ENF_PORT_RESET_MISFITS = 128, /* a misfit connection is reset at both ends (its first payload becomes a RST) */
};

/* What a service port's first payload bytes must look like (port flags >> 4 & 7). */
enum enf_protocol {
	ENF_PROTO_NONE = 0,
	ENF_PROTO_HTTP = 1,   /* an HTTP/1 method token and a space */
	ENF_PROTO_TLS = 2,    /* a TLS handshake record holding a ClientHello */
	ENF_PROTO_HTTP2 = 3,  /* the HTTP/2 connection preface */
	ENF_PROTO_SSH = 4,    /* "SSH-" */
};

/*
 * Prefix keys: the generation byte, then the address, so one longest-prefix lookup with prefixlen
 * 8 + 32 (or 8 + 128) finds the longest rule of that generation. A rule's value already says what
 * its whole chain of enclosing prefixes decides (allow wins over deny): user space works that out
 * when it writes the table, and the packet pays one lookup.
 */
struct enf_key_v4 {
	__u32 prefixlen;
	__u8 gen;
	__u8 addr[4];
	__u8 pad[3];
};

struct enf_key_v6 {
	__u32 prefixlen;
	__u8 gen;
	__u8 addr[16];
	__u8 pad[3];
};

struct enf_rule {
	__u32 id;          /* the hit counter (enf_hits) of the rule that decides: this one or an allow enclosing it */
	__u16 kind;        /* enum enf_rule_kind: what this prefix's chain decides */
	__u16 listed;      /* enum enf_rule_kind: the list the prefix itself was named in */
	__u64 expires_ns;  /* CLOCK_MONOTONIC; 0: never (live entries with a TTL) */
	__u32 own_id;      /* this prefix's own hit counter slot (kept when it is rewritten) */
	__u32 prefixlen;   /* this prefix's length, to look past it when it has expired */
	__u32 count_id;    /* the hit counter of the nearest counted (or marked) prefix in its chain; ENF_NO_COUNT: none */
	__u32 mark;        /* the mark of the nearest marked prefix in its chain, for the packets that pass; 0: none */
};

/*
 * What the XDP program leaves in front of a packet it passes with a mark (XDP metadata), for the
 * TC ingress program to set as the socket buffer's mark: XDP runs before there is a buffer to mark.
 * The magic tells it from metadata anything else may have left.
 */
#define ENF_META_MAGIC 0x7463706d /* "tcpm" */

struct enf_meta {
	__u32 magic;
	__u32 mark;
};

/* One generation's settings (enf_settings[gen]). */
struct enf_settings {
	__u32 default_deny;    /* new connections that no rule allows are dropped */
	__u32 service_filter;  /* new connections to ports not served are dropped */
	__u32 conn_limit;      /* connections open at once per source; 0: none */
	__u32 pad;
	__u64 new_interval_ns; /* a new connection per source every this often on average; 0: no limit */
	__u64 new_burst_ns;    /* how far ahead of its rate a source may run (the bucket's depth) */
	__u64 syn_interval_ns; /* SYN flood: a SYN per port every this often from anyone; 0: off */
	__u64 syn_burst_ns;    /* how far ahead of that rate a port may run */
	__u64 known_ns;        /* SYN flood: a source that completed a handshake this recently is known */
};

/* The enforcer as a whole (enf_config[0]). */
struct enf_config {
	__u32 active_gen;      /* 0 or 1 */
	__u32 live_entries;    /* nonzero when live prefixes may exist: only then a packet looks there */
	__u32 netns_inum;      /* the network namespace whose sockets the connection limit counts */
	__u32 audit;           /* judge and count, drop nothing */
	__u32 pid;             /* the enforcer process that keeps live entries and auto_block; 0: none */
	__u32 epoch;           /* one more at every switch of active_gen (never 0 once written): what the
	                          rule cache filled under an earlier one is stale */
};

/* A local address and port a service is served on (enf_served_on). */
struct enf_service_key {
	__u8 gen;
	__u8 family;  /* FLOW_AF_INET or FLOW_AF_INET6 */
	__u16 port;
	__u8 addr[16];
};

struct enf_source_key {
	__u32 family;
	__u8 addr[16];
};

/* An incoming connection, for protocol identification (enf_firsts). */
struct enf_flow_key {
	__u32 family;
	__u16 sport;
	__u16 dport;
	__u8 saddr[16];
	__u8 daddr[16];
};

/* Per source address: the rate limit's bucket. */
struct enf_source {
	__u64 tat_ns;  /* theoretical arrival time of its next new connection (a GCRA token bucket) */
};

enum enf_stat {
	ENF_STAT_PACKETS = 0,         /* IP packets judged: not counted by the program, PASSED + DROPPED (EnforcerTables.stats) */
	ENF_STAT_PASSED = 1,
	ENF_STAT_DROPPED = 2,         /* really dropped (0 with --audit) */
	ENF_STAT_FAILSAFE = 3,        /* passed because their port is failsafe, where a rule would have dropped them */
	ENF_STAT_ALLOWED = 4,         /* matched an allow rule */
	ENF_STAT_DENIED = 5,          /* judged: source denied */
	ENF_STAT_NOT_SERVED = 6,      /* judged: connection to a port not served */
	ENF_STAT_DEFAULT_DENY = 7,    /* judged: connection no rule allows, under default: deny */
	ENF_STAT_RATE_LIMITED = 8,    /* judged: over the source's new connections a second */
	ENF_STAT_CONN_LIMITED = 9,    /* judged: over the source's connections at once */
	ENF_STAT_SOURCES_FULL = 10,   /* limits not applied: no room for the source's state */
	ENF_STAT_CONNS_UNTRACKED = 11,/* connections not counted against their source: no room */
	ENF_STAT_SYN_FLOOD = 12,      /* judged: a SYN over its port's rate from a source not known */
	ENF_STAT_FLOOD_KNOWN = 13,    /* SYNs over their port's rate that passed: their source is known */
	ENF_STAT_MISFIT_CONNECTIONS = 14, /* connections whose first payload misfit their port's protocol */
	ENF_STAT_MISFIT = 15,         /* judged: packets of misfit connections on a port that drops them */
	ENF_STAT_FIRSTS_FULL = 16,    /* connections not checked: no room to await their first payload */
	ENF_STAT_MISFIT_RESETS = 17,  /* misfit connections reset (on ports whose service resets them) */
	ENF_STAT_MARKED = 18,         /* packets passed with a mark (its metadata written; not under audit) */
	ENF_STAT_MARKS_LOST = 19,     /* packets to mark that could not be: the driver keeps no XDP metadata */
	ENF_STAT_UNJUDGEABLE = 20,    /* judged: malformed IP or TCP headers, where the policy judges new connections */
	ENF_STAT_CAPTURE_LOST = 21,   /* dropped packets not copied for the capture: its ring had no room */
	ENF_STAT_CAPTURE_SKIPPED = 22,/* dropped packets not copied: over the copies a second a CPU may make */
	ENF_STAT_MAX = 23,
};

SHARED_WITH_JAVA(struct enf_key_v4, enf_key_v4);
SHARED_WITH_JAVA(struct enf_key_v6, enf_key_v6);
SHARED_WITH_JAVA(struct enf_rule, enf_rule);
SHARED_WITH_JAVA(struct enf_settings, enf_settings);
SHARED_WITH_JAVA(struct enf_config, enf_config);
SHARED_WITH_JAVA(struct enf_service_key, enf_service_key);
SHARED_WITH_JAVA(struct enf_source_key, enf_source_key);
SHARED_WITH_JAVA(struct enf_source, enf_source);
SHARED_WITH_JAVA(enum enf_stat, enf_stat);
SHARED_WITH_JAVA(enum enf_port_flag, enf_port_flag);
SHARED_WITH_JAVA(enum enf_rule_kind, enf_rule_kind);
SHARED_WITH_JAVA(enum enf_protocol, enf_protocol);
SHARED_WITH_JAVA(struct enf_flow_key, enf_flow_key);
SHARED_WITH_JAVA(struct enf_first, enf_first);
SHARED_WITH_JAVA(struct enf_meta, enf_meta);

/*
 * A copy of a packet the policy dropped (or, under audit, would have), for a pcapng file: the
 * layout of capture.h's record, kind ENF_CAPTURE_POLICY, code the enf_stat that judged it. Headers
 * only (Ethernet, IP, TCP with options; the IP header alone for any other protocol) unless
 * enf_capture_payload is set.
 */
#define ENF_CAPTURE_BYTES 256
#define ENF_CAPTURE_POLICY 5
struct enf_capture_record {
	__u64 ts_ns;     /* bpf_ktime_get_ns */
	__u32 ifindex;   /* the interface it arrived on */
	__u16 kind;      /* ENF_CAPTURE_POLICY */
	__u16 code;      /* enum enf_stat: why */
	__u32 orig_len;  /* the frame's length */
	__u16 cap_len;   /* bytes copied */
	__u8 link;       /* 1: Ethernet */
	__u8 pad;
	__u8 data[ENF_CAPTURE_BYTES];
};
SHARED_WITH_JAVA(struct enf_capture_record, enf_capture_record);

#define ENF_PINNED __uint(pinning, LIBBPF_PIN_BY_NAME)

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct enf_config);
	ENF_PINNED;
} enf_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct enf_settings);
	ENF_PINNED;
} enf_settings SEC(".maps");

/* Room for both generations (the policy file allows 100,000 a list: EnforcerTables checks the sum fits). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 262144);
	__type(key, struct enf_key_v4);
	__type(value, struct enf_rule);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	ENF_PINNED;
} enf_prefix_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 262144);
	__type(key, struct enf_key_v6);
	__type(value, struct enf_rule);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	ENF_PINNED;
} enf_prefix_v6 SEC(".maps");

/*
 * A generation's prefixes again, a set of tables per family, as a multibit trie built in Java
 * (DirectTables) and read with array lookups the verifier inlines: an entry per /16 (top), then
 * chunks of 256 entries, one per 8 bits, for regions that hold two or more longer prefixes; a region
 * that holds one is a check (that prefix's rule if the address is in it, else the region's). An
 * entry is 0 (no prefix), ENF_DIR_CHUNK | chunk, ENF_DIR_CHECK | check, or the index + 1 of its rule
 * in the rules table. A source's first packet then costs a few array reads however deep its prefix
 * lies, where the trie above walks down to it; random prefixes part ways soon, so most regions end in
 * a check a chunk or two down, and a blocklist of hosts costs a check each (BENCHMARKS.md).
 *
 * Before the top, a bit per /16 (any: set where its top entry is not 0): 8 KB a generation, which
 * stay in the CPU's cache, where a spoofed flood's random sources would each read another line of
 * the top's 256 KB and wait for memory.
 *
 * The on table holds, for each generation, the enf_config.epoch under which its tables are right (0
 * while they are written): a policy too big for them, or written into the tries alone by another
 * version, is judged by the trie. The trie is always written, for `policy show` and the fallback.
 *
 * ENF_DIR_TABLES(v4) defines enf_dir_v4_on, _any, _top, _chunks, _checks and _rules; (v6) the same for IPv6.
 */
#define ENF_DIR_CHUNK 0x40000000u
#define ENF_DIR_CHECK 0x80000000u
#define ENF_DIR_INDEX 0x3FFFFFFFu
#define ENF_DIR_CHUNKS 2048 /* a generation's chunks of 256, per family */
#define ENF_DIR_CHECKS 16384
#define ENF_DIR_RULES 16384

/* 256 entries of a direct table: one array element each, so that 4-byte entries take no 8-byte slots. */
struct enf_dir_chunk {
	__u32 e[256];
};
SHARED_WITH_JAVA(struct enf_dir_chunk, enf_dir_chunk);

/* The one prefix in a region: the address's raw bytes (an IPv4 one followed by 12 of 0) masked and compared as two words. */
struct enf_dir_check {
	__u64 net[2];  /* the prefix's network, raw bytes */
	__u64 mask[2]; /* its mask, raw bytes */
	__u32 match;   /* an entry (rule index + 1): the address is in the prefix */
	__u32 other;   /* an entry (rule index + 1, or 0): it is not */
};
SHARED_WITH_JAVA(struct enf_dir_check, enf_dir_check);

#define ENF_DIR_TABLES(family)                                                                                         \
	struct {                                                                                                       \
		__uint(type, BPF_MAP_TYPE_ARRAY);                                                                      \
		__uint(max_entries, 2);                                                                                \
		__type(key, __u32);                                                                                    \
		__type(value, __u32);                                                                                  \
		ENF_PINNED;                                                                                            \
	} enf_dir_##family##_on SEC(".maps");                                                                          \
	struct {                                                                                                       \
		__uint(type, BPF_MAP_TYPE_ARRAY);                                                                      \
		__uint(max_entries, 2 * 8);                                                                            \
		__type(key, __u32);                                                                                    \
		__type(value, struct enf_dir_chunk);                                                                   \
		ENF_PINNED;                                                                                            \
	} enf_dir_##family##_any SEC(".maps");                                                                         \
	struct {                                                                                                       \
		__uint(type, BPF_MAP_TYPE_ARRAY);                                                                      \
		__uint(max_entries, 2 * 256);                                                                          \
		__type(key, __u32);                                                                                    \
		__type(value, struct enf_dir_chunk);                                                                   \
		ENF_PINNED;                                                                                            \
	} enf_dir_##family##_top SEC(".maps");                                                                         \
	struct {                                                                                                       \
		__uint(type, BPF_MAP_TYPE_ARRAY);                                                                      \
		__uint(max_entries, 2 * ENF_DIR_CHUNKS);                                                               \
		__type(key, __u32);                                                                                    \
		__type(value, struct enf_dir_chunk);                                                                   \
		ENF_PINNED;                                                                                            \
	} enf_dir_##family##_chunks SEC(".maps");                                                                      \
	struct {                                                                                                       \
		__uint(type, BPF_MAP_TYPE_ARRAY);                                                                      \
		__uint(max_entries, 2 * ENF_DIR_CHECKS);                                                               \
		__type(key, __u32);                                                                                    \
		__type(value, struct enf_dir_check);                                                                   \
		ENF_PINNED;                                                                                            \
	} enf_dir_##family##_checks SEC(".maps");                                                                      \
	struct {                                                                                                       \
		__uint(type, BPF_MAP_TYPE_ARRAY);                                                                      \
		__uint(max_entries, 2 * ENF_DIR_RULES);                                                                \
		__type(key, __u32);                                                                                    \
		__type(value, struct enf_rule);                                                                        \
		ENF_PINNED;                                                                                            \
	} enf_dir_##family##_rules SEC(".maps");

ENF_DIR_TABLES(v4)
ENF_DIR_TABLES(v6)

/* Entries added live (generation byte ENF_LIVE), apart, so that keeping them walks only them. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__type(key, struct enf_key_v4);
	__type(value, struct enf_rule);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	ENF_PINNED;
} enf_live_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__type(key, struct enf_key_v6);
	__type(value, struct enf_rule);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	ENF_PINNED;
} enf_live_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * ENF_PORTS);
	__type(key, __u32);
	__type(value, __u32); /* enum enf_port_flag bits */
	ENF_PINNED;
} enf_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * 16384); /* 16,384 a generation */
	__type(key, struct enf_service_key);
	__type(value, __u32);
	ENF_PINNED;
} enf_served_on SEC(".maps");

/*
 * Connections open per source, for the connection limit: made by the state tracepoint only (a
 * spoofed SYN never makes one) and never pushed out, so a count is never lost while its sockets live.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct enf_source_key);
	__type(value, __u64);
	ENF_PINNED;
} enf_conns SEC(".maps");

/* Sources the rate limit follows, least recently seen pushed out first when full. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct enf_source_key);
	__type(value, struct enf_source);
	ENF_PINNED;
} enf_sources SEC(".maps");

/* SYN flood: per destination port, the theoretical arrival time of its next SYN (a GCRA bucket). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ENF_PORTS);
	__type(key, __u32);
	__type(value, __u64);
	ENF_PINNED;
} enf_port_syn SEC(".maps");

/* Sources that completed a handshake with this host (source -> CLOCK_MONOTONIC ns of the last one). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct enf_source_key);
	__type(value, __u64);
	ENF_PINNED;
} enf_known SEC(".maps");

/* A connection to a port that expects a protocol: awaiting its first payload, or a misfit being dropped. */
#define ENF_FIRST_AWAITED 1
#define ENF_FIRST_MISFIT 2

struct enf_first {
	__u32 state;
	__u32 seq;     /* the sequence number its first payload starts at (the SYN's plus one) */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct enf_flow_key);
	__type(value, struct enf_first);
	ENF_PINNED;
} enf_firsts SEC(".maps");

/* Misfit connections per source (source -> count), for `policy stats`. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct enf_source_key);
	__type(value, __u64);
	ENF_PINNED;
} enf_misfits SEC(".maps");

/* Sockets counted against their source's connections (socket address -> 1), so a close uncounts once. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u32);
	ENF_PINNED;
} enf_counted SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ENF_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
	ENF_PINNED;
} enf_stats SEC(".maps");

/* Rule names (id -> NUL-padded name) of the rules the policy names, for `policy stats`. */
struct enf_name {
	char name[48];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 3 * ENF_RULE_SLOTS);
	__type(key, __u32);
	__type(value, struct enf_name);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	ENF_PINNED;
} enf_names SEC(".maps");

/* Hits per rule id: ids gen * ENF_RULE_SLOTS + i for a generation's rules, ENF_LIVE * ENF_RULE_SLOTS + i for live ones. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 3 * ENF_RULE_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
	ENF_PINNED;
} enf_hits SEC(".maps");

/*
 * The prefix rule each recent source matched, or that none did, on each CPU: a source seen before
 * is judged without walking the prefix tries, whose walk down to a deep match is most of a denied
 * packet's cost (BENCHMARKS.md). Direct-mapped by a hash of the address (a newer source takes an
 * older one's slot), filled under enf_config.epoch and stale once it moves on; per CPU, so nothing
 * is shared or locked. Not pinned: a new object starts empty.
 */
#define ENF_RULE_CACHE_SLOTS 4096
struct enf_rule_cache_entry {
	__u32 epoch;                /* enf_config.epoch it was filled under; 0: empty */
	__u32 found;                /* 1: rule is the source's longest prefix rule; 0: no prefix rule covers it */
	struct enf_source_key src;
	__u32 gen;                  /* the generation whose tables it was read from: with the epoch, a packet
	                               that read the config mid-switch never takes one policy's rule for the other's */
	struct enf_rule rule;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ENF_RULE_CACHE_SLOTS);
	__type(key, __u32);
	__type(value, struct enf_rule_cache_entry);
} enf_rule_cache SEC(".maps");

/* Copies made in the current second, on each CPU: their rate limit takes no lock. Not pinned. */
struct enf_capture_budget {
	__u64 second_ns; /* when the current second began */
	__u64 taken;     /* copies made in it */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct enf_capture_budget);
} enf_capture_budget SEC(".maps");

/* The copies, while the loader asks for them (enf_capture_drops). Not pinned: each object has its own ring. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} enf_captured SEC(".maps");

/*
 * The hand-off to a watch's XDP probes (lib/handoff.h): the parse of each packet passed, the
 * observer slot its program goes in, and the pid of the process holding that slot, for lines (one
 * at a time: the claim itself is a name the holder keeps in the namespace, enforce.EnforcerHandoff).
 */
XDP_HANDOFF_MAP(enf_handoff, ENF_PINNED);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	ENF_PINNED;
} enf_observer SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	ENF_PINNED;
} enf_observer_owner SEC(".maps");

/*
 * The cookie of the network namespace the enforcer protects (SO_NETNS_COOKIE), written by user space:
 * the folder is named by the namespace's inode, which a new namespace may get once the old one is
 * gone; a cookie is never reused, so a start does not take over a deleted namespace's tables.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
	ENF_PINNED;
} enf_netns_cookie SEC(".maps");

#endif
