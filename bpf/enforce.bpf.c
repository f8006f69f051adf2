// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * tcpinspect's enforcer: one XDP program that judges every packet arriving on the interfaces it
 * protects by the policy in enforce/enforce.h's tables, and a twin pair on inet_sock_set_state that
 * counts each source's open connections for the per-source limit and notes the sources that
 * complete handshakes for the SYN flood answer. A separate object from the
 * observer's (tcpinspect.bpf.c): its tables and links are pinned and outlive the process, which
 * the observer's must not.
 *
 * The order a packet is judged in (README, "How a packet is judged"), after IPv6 neighbor discovery,
 * which always passes:
 *   0. a new connection (SYN) to a port not served, unless   -> drop, before the source is looked up: every
 *      the port is failsafe                                     source gets this verdict (counted not_served)
 *   1. a source denied (and not allowed)                     -> drop, every IP packet
 *   1b. headers the parser finds impossible (packet.h's      -> drop, when the policy judges new connections
 *      PARSE_MALFORMED), which could hide a new connection      (services, default: deny, limits, syn_flood)
 *      from 2-6: a first fragment too short for its TCP header
 *      (RFC 1858's tiny fragment), more IPv6 extension headers
 *      than the parser walks, a TCP data offset past the segment
 *   2. a new connection (SYN) to a failsafe port not served  -> passed below (failsafe), counted failsafe only
 *   3. a source allowed                                      -> pass
 *   4. a new connection under default: deny                  -> drop
 *   5. a new connection over its source's limits             -> drop
 *   6. a SYN over its port's rate from a source not known    -> drop (syn_flood)
 *   7. a connection whose first payload misfits its port's   -> drop (on_misfit: drop), reset (on_misfit:
 *      expected protocol (not for allowed sources)              reset: the payload segment becomes a RST), else counted
 *   8. everything else                                       -> pass (marked when a mark rule covers the source)
 * A TCP packet to a failsafe port passes whatever 1-7 said (and is not checked by 7). Only SYNs are judged as connections:
 * other segments to a port not served belong to connections this host opened (its ephemeral ports)
 * or to none, which the stack answers itself. With audit on, every judgement is counted the same
 * and nothing is dropped.
 */
#include "lib/probe.h"
#include "lib/maps.h"
#include "lib/flow.h"
#include "lib/packet.h"
#include "lib/twin.h"
#include "enforce/enforce.h"

/* Counters of the XDP program (one CPU never runs two packet programs at once) and of the twin pair. */
#define ENF_ADD(slot) PERCPU_ADD(enf_stats, slot)

/* The packet's source (as a table key) and destination address; false when its IP header is cut. */
static __always_inline bool enf_addresses(const struct pkt *p, struct enf_source_key *src, __u8 *daddr)
{
	if (p->tcp.l3_offset > 0xff)
		return false;
	void *l3 = p->data + (p->tcp.l3_offset & 0xff);

	if (p->tcp.ip_version == 4) {
		struct iphdr *ip = l3;

		if ((void *)(ip + 1) > p->data_end)
			return false;
		src->family = FLOW_AF_INET;
		__builtin_memcpy(src->addr, &ip->saddr, 4);
		__builtin_memcpy(daddr, &ip->daddr, 4);
		return true;
	}
	struct ipv6hdr *ip6 = l3;

	if ((void *)(ip6 + 1) > p->data_end)
		return false;
	src->family = FLOW_AF_INET6;
	__builtin_memcpy(src->addr, &ip6->saddr, 16);
	__builtin_memcpy(daddr, &ip6->daddr, 16);
	return true;
}

/*
 * An IP length field of 0: a packet GRO built past 64 KiB (BIG TCP, after the driver, so only in
 * generic XDP mode), which the parser calls malformed; from the wire the stack drops it itself.
 */
static __always_inline bool enf_length_unset(const struct pkt *p)
{
	if (p->tcp.l3_offset > 0xff)
		return false;
	void *l3 = p->data + (p->tcp.l3_offset & 0xff);

	if (p->tcp.ip_version == 4) {
		struct iphdr *ip = l3;

		return (void *)(ip + 1) <= p->data_end && ip->tot_len == 0;
	}
	struct ipv6hdr *ip6 = l3;

	return (void *)(ip6 + 1) <= p->data_end && ip6->payload_len == 0;
}

/*
 * IPv6 neighbor discovery (ICMPv6 types 133-137: router and neighbor solicitations and
 * advertisements): the link's own plumbing, which even a denied source must be answered on, or
 * nothing reaches it, failsafe ports included. IPv4's equivalent, ARP, is not IP and is never judged.
 */
static __always_inline bool enf_neighbor_discovery(const struct pkt *p)
{
	if (p->tcp.ip_version != 6 || p->tcp.l3_offset > 0xff)
		return false;
	struct ipv6hdr *ip6 = p->data + (p->tcp.l3_offset & 0xff);
	__u8 *type = (__u8 *)(ip6 + 1);

	if ((void *)(type + 1) > p->data_end || ip6->nexthdr != IPPROTO_ICMPV6)
		return false;
	return *type >= 133 && *type <= 137;
}

/* The longest rule of one generation that covers the source. */
static __always_inline struct enf_rule *enf_rule_of(const struct enf_source_key *src, __u8 gen)
{
	if (src->family == FLOW_AF_INET) {
		struct enf_key_v4 k = {.prefixlen = 8 + 32, .gen = gen};

		__builtin_memcpy(k.addr, src->addr, 4);
		return bpf_map_lookup_elem(&enf_prefix_v4, &k);
	}
	struct enf_key_v6 k = {.prefixlen = 8 + 128, .gen = gen};

	__builtin_memcpy(k.addr, src->addr, 16);
	return bpf_map_lookup_elem(&enf_prefix_v6, &k);
}

/* The rule cache off: only benchmarks ask, to measure what a source's first packet costs. */
const volatile bool enf_rule_cache_off = false;
/* The direct tables off (the tries judge): only benchmarks ask, to compare the two. */
const volatile bool enf_dir_off = false;

/*
 * Whether a generation's prefixes of a family are in its direct tables (enforce.h, enf_dir_v4_on or _v6_on):
 * written under this epoch, so that a policy another version wrote into the tries alone is not
 * judged by the tables an earlier policy left.
 */
static __always_inline bool enf_dir_on(void *on_table, __u32 gen, __u32 epoch)
{
	__u32 *on = bpf_map_lookup_elem(on_table, &gen);

	return !enf_dir_off && on && epoch && *on == epoch;
}

/*
 * The longest rule of one generation that covers a source, by its family's direct tables (enforce.h):
 * the /16's bit, its top entry, a chunk for each further byte while the entry names one
 * (at most 2 for IPv4, 14 for IPv6), then a check or the rule. Called with one family's maps and
 * address length (4 or 16), which the compiler folds into two walks of fixed depth.
 */
static __always_inline struct enf_rule *enf_rule_direct(const __u8 *src, __u32 gen, const int length, void *any,
							 void *top, void *chunks, void *checks, void *rules)
{
	__u8 addr[16];

	__builtin_memcpy(addr, src, 16);
	__u32 t = ((__u32)addr[0] << 8) | addr[1];
	__u32 i = gen * 8 + (t >> 13);
	struct enf_dir_chunk *c = bpf_map_lookup_elem(any, &i);

	if (!c || !(c->e[(t >> 5) & 0xFF] & (1u << (t & 31))))
		return NULL;
	i = gen * 256 + addr[0];
	c = bpf_map_lookup_elem(top, &i);
	if (!c)
		return NULL;
	__u32 v = c->e[addr[1]];

#pragma unroll
	for (int k = 2; k < 16; k++) {
		if (k < length && (v & ENF_DIR_CHUNK)) {
			i = gen * ENF_DIR_CHUNKS + (v & ENF_DIR_INDEX);
			c = bpf_map_lookup_elem(chunks, &i);
			v = c ? c->e[addr[k]] : 0; /* never NULL: the chunks Java made are in range */
		}
	}
	if (v & ENF_DIR_CHUNK)
		return NULL; /* never: the last chunk's entries are rules */
	if (v & ENF_DIR_CHECK) {
		i = gen * ENF_DIR_CHECKS + (v & ENF_DIR_INDEX);
		struct enf_dir_check *k = bpf_map_lookup_elem(checks, &i);
		__u64 w[2];

		if (!k)
			return NULL;
		__builtin_memcpy(w, addr, 16);
		v = (w[0] & k->mask[0]) == k->net[0] && (w[1] & k->mask[1]) == k->net[1] ? k->match : k->other;
	}
	if (!v || v > ENF_DIR_RULES)
		return NULL;
	i = gen * ENF_DIR_RULES + v - 1;
	return bpf_map_lookup_elem(rules, &i);
}

/*
 * A source's longest rule in one generation: by the direct tables where that generation's prefixes of
 * its family are in them, else enf_rule_of through the per-CPU cache of recent sources (enf_rule_cache).
 */
static __always_inline struct enf_rule *enf_rule_cached(const struct enf_source_key *src, __u8 gen, __u32 epoch)
{
	__u32 w[4];

	/* The direct tables cost less than the cache's probe and fill. */
	if (src->family == FLOW_AF_INET && enf_dir_on(&enf_dir_v4_on, gen, epoch))
		return enf_rule_direct(src->addr, gen, 4, &enf_dir_v4_any, &enf_dir_v4_top, &enf_dir_v4_chunks,
				       &enf_dir_v4_checks, &enf_dir_v4_rules);
	if (src->family != FLOW_AF_INET && enf_dir_on(&enf_dir_v6_on, gen, epoch))
		return enf_rule_direct(src->addr, gen, 16, &enf_dir_v6_any, &enf_dir_v6_top, &enf_dir_v6_chunks,
				       &enf_dir_v6_checks, &enf_dir_v6_rules);
	__builtin_memcpy(w, src->addr, 16);
	__u32 slot = ((w[0] ^ w[1] ^ w[2] ^ w[3] ^ src->family) * 0x9E3779B1u) >> 20; /* 12 bits: 4,096 slots */
	struct enf_rule_cache_entry *e = bpf_map_lookup_elem(&enf_rule_cache, &slot);

	if (enf_rule_cache_off || !e || !epoch)
		return enf_rule_of(src, gen);
	__u32 c[4];

	__builtin_memcpy(c, e->src.addr, 16);
	if (e->epoch == epoch && e->gen == gen && e->src.family == src->family && c[0] == w[0] && c[1] == w[1] &&
	    c[2] == w[2] && c[3] == w[3])
		return e->found ? &e->rule : NULL;
	struct enf_rule *r = enf_rule_of(src, gen);

	/* Empty while it is rewritten, the epoch last (a program preempted on this CPU, under PREEMPT_RT, reads no half) */
	*(volatile __u32 *)&e->epoch = 0;
	asm volatile("" ::: "memory");
	e->src = *src;
	e->gen = gen;
	e->found = r != NULL;
	if (r)
		e->rule = *r;
	asm volatile("" ::: "memory");
	*(volatile __u32 *)&e->epoch = epoch;
	return r;
}

/*
 * The live entry that covers the source: the longest one that has not expired. An expired entry is
 * looked past (a lookup one bit shorter than it finds the next longest), a few deep: expired entries
 * are removed within a second by a running enforcer, so more than a few in one chain are rare.
 */
static __always_inline struct enf_rule *enf_live_rule(const struct enf_source_key *src)
{
	struct enf_key_v6 k6 = {.prefixlen = 8 + 128, .gen = ENF_LIVE};
	struct enf_key_v4 k4 = {.prefixlen = 8 + 32, .gen = ENF_LIVE};
	bool v4 = src->family == FLOW_AF_INET;
	__u64 now = 0;

	__builtin_memcpy(k4.addr, src->addr, 4);
	__builtin_memcpy(k6.addr, src->addr, 16);
#pragma unroll
	for (int i = 0; i < 4; i++) {
		struct enf_rule *r = v4 ? bpf_map_lookup_elem(&enf_live_v4, &k4) : bpf_map_lookup_elem(&enf_live_v6, &k6);

		if (!r || !r->expires_ns)
			return r;
		if (!now)
			now = bpf_ktime_get_ns();
		if (r->expires_ns > now)
			return r;
		if (r->prefixlen == 0 || r->prefixlen > 128)
			return NULL;
		k4.prefixlen = 8 + r->prefixlen - 1;
		k6.prefixlen = 8 + r->prefixlen - 1;
	}
	return NULL;
}

static __always_inline bool enf_served(__u32 gen, __u32 port_flags, const struct enf_source_key *src, __u16 port,
				       const __u8 *daddr)
{
	if (port_flags & ENF_PORT_SERVED)
		return true;
	if (!(port_flags & ENF_PORT_SERVED_ON))
		return false;
	struct enf_service_key k = {.gen = gen, .family = src->family, .port = port};

	__builtin_memcpy(k.addr, daddr, 16);
	return bpf_map_lookup_elem(&enf_served_on, &k) != NULL;
}

/* A new connection against its source's limits: 0, or the stat that names the limit it is over. */
static __always_inline __u32 enf_over_limits(const struct enf_settings *set, const struct enf_source_key *src)
{
	if (set->conn_limit) {
		__u64 *conns = bpf_map_lookup_elem(&enf_conns, src);

		if (conns && *conns >= set->conn_limit)
			return ENF_STAT_CONN_LIMITED;
	}
	if (set->new_interval_ns) {
		struct enf_source init = {};
		struct enf_source *s = lookup_or_init(&enf_sources, src, &init);

		if (!s) {
			ENF_ADD(ENF_STAT_SOURCES_FULL);
			return 0;
		}
		/* GCRA: the bucket is the distance between the source's schedule and now. */
		__u64 now = bpf_ktime_get_ns();
		__u64 tat = s->tat_ns > now ? s->tat_ns : now;

		if (tat - now > set->new_burst_ns)
			return ENF_STAT_RATE_LIMITED;
		s->tat_ns = tat + set->new_interval_ns;
	}
	return 0;
}

/*
 * SYN flood: a port takes SYNs from anyone up to its rate; beyond it, only from sources that
 * completed a handshake with this host recently (a spoofed flood's sources never do). The port's
 * bucket is one shared word, written without a lock: two CPUs racing may both take the last token.
 */
static __always_inline __u32 enf_syn_flood(const struct enf_settings *set, const struct enf_source_key *src,
					   __u16 port)
{
	if (!set->syn_interval_ns)
		return 0;
	__u32 key = port;
	__u64 *tat = bpf_map_lookup_elem(&enf_port_syn, &key);

	if (!tat)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	__u64 t = *tat > now ? *tat : now;

	if (t - now <= set->syn_burst_ns) {
		*tat = t + set->syn_interval_ns;
		return 0;
	}
	__u64 *known = bpf_map_lookup_elem(&enf_known, src);

	if (known && now - *known < set->known_ns) {
		ENF_ADD(ENF_STAT_FLOOD_KNOWN);
		return 0;
	}
	return ENF_STAT_SYN_FLOOD;
}

/* The first bytes of a payload against a protocol's opening (as much as the segment carries, up to 16). */
static __always_inline bool enf_fits(__u32 protocol, const __u8 *b, __u32 n)
{
	switch (protocol) {
	case ENF_PROTO_HTTP: {
		/* A method token (RFC 9110's registered methods) and a space. */
		if (n < 4)
			return false;
		if ((b[0] == 'G' && b[1] == 'E' && b[2] == 'T') || (b[0] == 'P' && b[1] == 'U' && b[2] == 'T'))
			return b[3] == ' ';
		if (n < 5)
			return false;
		if ((b[0] == 'P' && b[1] == 'O' && b[2] == 'S' && b[3] == 'T') ||
		    (b[0] == 'H' && b[1] == 'E' && b[2] == 'A' && b[3] == 'D'))
			return b[4] == ' ';
		if (n < 6)
			return false;
		if ((b[0] == 'P' && b[1] == 'A' && b[2] == 'T' && b[3] == 'C' && b[4] == 'H') ||
		    (b[0] == 'T' && b[1] == 'R' && b[2] == 'A' && b[3] == 'C' && b[4] == 'E'))
			return b[5] == ' ';
		if (n < 8)
			return false;
		if ((b[0] == 'D' && b[1] == 'E' && b[2] == 'L' && b[3] == 'E' && b[4] == 'T' && b[5] == 'E') ||
		    (b[0] == 'O' && b[1] == 'P' && b[2] == 'T' && b[3] == 'I' && b[4] == 'O' && b[5] == 'N' && b[6] == 'S') ||
		    (b[0] == 'C' && b[1] == 'O' && b[2] == 'N' && b[3] == 'N' && b[4] == 'E' && b[5] == 'C' && b[6] == 'T'))
			return b[6] == ' ' || b[7] == ' ';
		return false;
	}
	case ENF_PROTO_TLS:
		/* A handshake record of TLS 1.0-1.3 (record version 3.0-3.4) whose first message is a ClientHello. */
		return n >= 6 && b[0] == 0x16 && b[1] == 3 && b[2] <= 4 && b[5] == 1;
	case ENF_PROTO_HTTP2:
		/* "PRI * HTTP/2.0\r\n", the preface's first line. */
		return n >= 16 && b[0] == 'P' && b[1] == 'R' && b[2] == 'I' && b[3] == ' ' && b[4] == '*' && b[5] == ' ' &&
		       b[6] == 'H' && b[7] == 'T' && b[8] == 'T' && b[9] == 'P' && b[10] == '/' && b[11] == '2' &&
		       b[12] == '.' && b[13] == '0' && b[14] == '\r' && b[15] == '\n';
	case ENF_PROTO_SSH:
		return n >= 4 && b[0] == 'S' && b[1] == 'S' && b[2] == 'H' && b[3] == '-';
	}
	return true;
}

/* Copies up to 16 bytes of the segment's payload that are in the frame; how many. */
static __always_inline __u32 enf_payload_start(const struct pkt *p, __u8 *bytes)
{
	__u32 at = p->tcp.l4_offset + p->tcp.doff;
	__u32 n = 0;

	if (at > 0x7ff)
		return 0;
	__u8 *start = p->data + (at & 0x7ff);

#pragma unroll
	for (int i = 0; i < 16; i++) {
		if (i >= p->tcp.payload_len || (void *)(start + i + 1) > p->data_end)
			break;
		bytes[i] = start[i];
		n++;
	}
	return n;
}

static __always_inline void enf_flow_key_of(const struct pkt *p, const struct enf_source_key *src, const __u8 *daddr,
					    struct enf_flow_key *k)
{
	k->family = src->family;
	k->sport = p->tcp.sport;
	k->dport = p->tcp.dport;
	__builtin_memcpy(k->saddr, src->addr, 16);
	__builtin_memcpy(k->daddr, daddr, 16);
}

/* A 16-bit word of a header changes from old to new: its checksum, updated in place (RFC 1624, eqn. 3). */
static __always_inline void enf_csum_replace(__u16 *sum, __u16 old, __u16 new)
{
	__u32 s = (__u16)~*sum + (__u16)~old + new;

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	*sum = ~s;
}

/*
 * Resets a connection at both ends with the segment in hand, its first payload: the segment
 * becomes a RST|ACK (payload kept, which a RST may carry and the stack ignores) at exactly the
 * sequence number the server's socket expects, which the stack accepts and closes the socket on;
 * the client, whose data is never acknowledged, retransmits it to a socket that is gone and the
 * server's stack answers with a RST. No packet is made or sent from XDP: the stack does both ends.
 */
static __always_inline bool enf_reset(struct tcphdr *th, const void *data_end)
{
	if ((void *)(th + 1) > data_end)
		return false;
	__u16 *word = (__u16 *)((__u8 *)th + 12); /* data offset, reserved bits and flags */
	__u16 old = *word;
	__u16 new = (old & bpf_htons(0xf000)) | bpf_htons(TCP_FLAG_RST | TCP_FLAG_ACK);

	*word = new;
	enf_csum_replace(&th->check, old, new);
	return true;
}

/*
 * Protocol identification on a port that expects one: a connection's SYN makes it awaited; its
 * first segment with payload is checked and ends the wait, unless it misfits on a port that drops
 * misfits, where every later packet of the connection is dropped too (until it ends or ages out),
 * or is reset on a port that resets them (not under audit: audit counts the reset and passes the
 * segment as it came). 0, or ENF_STAT_MISFIT for a packet to drop.
 */
static __always_inline __u32 enf_identify(struct pkt *p, __u32 port_flags, bool opening,
					  const struct enf_source_key *src, const __u8 *daddr, bool audit)
{
	__u32 protocol = (port_flags / ENF_PORT_EXPECT) & 7;

	if (!protocol)
		return 0;
	struct enf_flow_key k = {};

	enf_flow_key_of(p, src, daddr, &k);
	struct tcphdr *th = pkt_tcp_header(p);

	if (!th)
		return 0;
	__u32 seq = bpf_ntohl(th->seq);
	struct enf_first *state;

	if (opening) {
		struct enf_first awaited = {.state = ENF_FIRST_AWAITED, .seq = seq + 1};

		/* Data in the SYN itself (TCP Fast Open) is the first payload: judged now. */
		if (p->tcp.payload_len == 0) {
			if (bpf_map_update_elem(&enf_firsts, &k, &awaited, BPF_ANY))
				ENF_ADD(ENF_STAT_FIRSTS_FULL);
			return 0;
		}
		awaited.seq = seq;
		bpf_map_update_elem(&enf_firsts, &k, &awaited, BPF_ANY);
		state = bpf_map_lookup_elem(&enf_firsts, &k);
		if (!state)
			return 0;
	} else {
		state = bpf_map_lookup_elem(&enf_firsts, &k);
	}
	if (!state)
		return 0;
	if (state->state == ENF_FIRST_MISFIT) {
		if (p->tcp.flags & (TCP_FLAG_RST | TCP_FLAG_FIN))
			bpf_map_delete_elem(&enf_firsts, &k);
		return ENF_STAT_MISFIT;
	}
	if (p->tcp.flags & TCP_FLAG_RST) {
		bpf_map_delete_elem(&enf_firsts, &k);
		return 0;
	}
	/* Only the segment that starts the byte stream is judged: one placed elsewhere (out of order, or
	 * out of the window, where the stack would drop it) neither passes the check nor ends the wait. */
	if (p->tcp.payload_len == 0 || seq != state->seq)
		return 0;
	__u8 bytes[16] = {};
	__u32 n = enf_payload_start(p, bytes);

	if (enf_fits(protocol, bytes, n)) {
		bpf_map_delete_elem(&enf_firsts, &k);
		return 0;
	}
	ENF_ADD(ENF_STAT_MISFIT_CONNECTIONS);
	__u64 one = 1;
	__u64 *count = bpf_map_lookup_elem(&enf_misfits, src);

	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&enf_misfits, src, &one, BPF_NOEXIST);
	/* A misfit in a SYN (Fast Open data) has no socket to reset yet: dropped, as on_misfit: drop does. */
	if ((port_flags & ENF_PORT_RESET_MISFITS) && !opening) {
		bpf_map_delete_elem(&enf_firsts, &k);
		ENF_ADD(ENF_STAT_MISFIT_RESETS);
		/* The parse follows the rewrite: a watch behind the enforcer (lib/handoff.h) sees the RST the stack gets. */
		if (!audit && enf_reset(th, p->data_end)) {
			p->tcp.flags = TCP_FLAG_RST | TCP_FLAG_ACK; /* enf_reset keeps only the data offset */
			p->tcp.flags_hi = 0;
		}
		return 0;
	}
	if (!(port_flags & (ENF_PORT_DROP_MISFITS | ENF_PORT_RESET_MISFITS))) {
		bpf_map_delete_elem(&enf_firsts, &k);
		return 0;
	}
	state->state = ENF_FIRST_MISFIT;
	return ENF_STAT_MISFIT;
}

/* Whether the packets judged to drop are copied into enf_captured, and with their payload (set at load). */
const volatile bool enf_capture_drops = false;
const volatile bool enf_capture_payload = false;
/* At most this many copies a second on each CPU (0: every one); the rest are counted as skipped. */
const volatile __u32 enf_capture_per_second = 0;

/* A copy of a packet judged to drop, headers only unless enf_capture_payload; a full ring is counted. */
static __always_inline void enf_capture(const struct pkt *p, const struct xdp_md *ctx, __u32 reason)
{
	if (enf_capture_per_second) {
		__u32 zero = 0;
		struct enf_capture_budget *b = bpf_map_lookup_elem(&enf_capture_budget, &zero);
		__u64 now = bpf_ktime_get_ns();

		if (!b)
			return;
		if (now - b->second_ns >= 1000000000ULL) {
			b->second_ns = now;
			b->taken = 0;
		}
		if (b->taken >= enf_capture_per_second) {
			ENF_ADD(ENF_STAT_CAPTURE_SKIPPED);
			return;
		}
		b->taken++;
	}
	struct enf_capture_record *r = bpf_ringbuf_reserve(&enf_captured, sizeof(*r), 0);

	if (!r) {
		ENF_ADD(ENF_STAT_CAPTURE_LOST);
		return;
	}
	__u64 frame = (__u64)(p->data_end - p->data);
	__u64 len = frame;

	if (!enf_capture_payload) {
		if (p->result == PARSE_TCP)
			len = (__u64)p->tcp.l4_offset + p->tcp.doff;
		else if (p->tcp.l4_offset > p->tcp.l3_offset)
			len = (__u64)p->tcp.l4_offset + 8;
		else
			len = (__u64)p->tcp.l3_offset + (p->tcp.ip_version == 4 ? 20 : 40);
	}
	if (len > frame)
		len = frame;
	if (len > ENF_CAPTURE_BYTES)
		len = ENF_CAPTURE_BYTES;
	r->ts_ns = bpf_ktime_get_ns();
	r->ifindex = ctx->ingress_ifindex;
	r->kind = ENF_CAPTURE_POLICY;
	r->code = reason;
	r->orig_len = frame;
	r->link = 1;
	r->pad = 0;
	r->cap_len = 0;
	if (len > 0 && bpf_probe_read_kernel(r->data, len, p->data) == 0)
		r->cap_len = len;
	bpf_ringbuf_submit(r, 0);
}

/* A packet judged to drop for reason: counted (and copied when asked); passed under audit, else dropped. */
static __always_inline int enf_drop(const struct pkt *p, const struct xdp_md *ctx, const struct enf_config *cfg,
				    __u32 reason)
{
	ENF_ADD(reason);
	if (enf_capture_drops)
		enf_capture(p, ctx, reason);
	if (cfg->audit) {
		ENF_ADD(ENF_STAT_PASSED);
		return XDP_PASS;
	}
	ENF_ADD(ENF_STAT_DROPPED);
	return XDP_DROP;
}

/* ctx only for the capture's interface: read there, not for every packet (three loads, rxq to dev to ifindex). */
static __always_inline int enf_judge(struct pkt *p, __u32 *mark, const struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct enf_config *cfg = bpf_map_lookup_elem(&enf_config, &zero);

	if (!cfg || !p->tcp.ip_version)
		return XDP_PASS;
	__u32 gen = cfg->active_gen & 1;
	__u32 epoch = cfg->epoch; /* read beside gen: the cache keys on both */
	struct enf_settings *set = bpf_map_lookup_elem(&enf_settings, &gen);
	struct enf_source_key src = {};
	__u8 daddr[16] = {};

	/* An IP header cut short is the stack's to drop (and count). */
	if (!set || !enf_addresses(p, &src, daddr) || enf_neighbor_discovery(p))
		return XDP_PASS;
	/* No ENF_STAT_PACKETS: each packet from here on counts as passed or dropped, and Java adds the two. */
	bool tcp = p->result == PARSE_TCP;
	bool opening = tcp && (p->tcp.flags & (TCP_FLAG_SYN | TCP_FLAG_ACK | TCP_FLAG_RST)) == TCP_FLAG_SYN;
	__u32 port_flags = 0;

	if (tcp) {
		__u32 i = gen * ENF_PORTS + p->tcp.dport;
		__u32 *f = bpf_map_lookup_elem(&enf_ports, &i);

		if (f)
			port_flags = *f;
	}
	bool failsafe = tcp && (port_flags & ENF_PORT_FAILSAFE);
	bool not_served = opening && set->service_filter && !enf_served(gen, port_flags, &src, p->tcp.dport, daddr);

	/* 0. before the source: every source gets this verdict, and a flood at such a port skips the lookup. */
	if (not_served && !failsafe)
		return enf_drop(p, ctx, cfg, ENF_STAT_NOT_SERVED);

	struct enf_rule *rule = enf_rule_cached(&src, gen, epoch);
	struct enf_rule *live = NULL;

	if (rule && rule->count_id != ENF_NO_COUNT)
		PERCPU_ADD(enf_hits, rule->count_id);

	if (cfg->live_entries)
		live = enf_live_rule(&src);
	struct enf_rule *allow = rule && rule->kind == ENF_RULE_ALLOW   ? rule
				 : live && live->kind == ENF_RULE_ALLOW ? live
									: NULL;
	struct enf_rule *deny = allow                                 ? NULL
				: rule && rule->kind == ENF_RULE_DENY ? rule
				: live && live->kind == ENF_RULE_DENY ? live
								      : NULL;
	__u32 reason = 0;

	/*
	 * A packet whose headers cannot be read may be a new connection that 2-6 never see: the stack
	 * reassembles a tiny first fragment with the rest, and walks more extension headers than the
	 * parser. Where the policy judges new connections, it is dropped rather than let past them.
	 */
	bool judges_openings = set->service_filter || set->default_deny || set->conn_limit || set->new_interval_ns
			       || set->syn_interval_ns;

	if (deny)
		reason = ENF_STAT_DENIED;
	else if (p->result == PARSE_MALFORMED && judges_openings && !allow && !enf_length_unset(p))
		reason = ENF_STAT_UNJUDGEABLE;
	else if (not_served)
		reason = ENF_STAT_NOT_SERVED; /* a failsafe port (the others were judged above): passed below */
	else if (allow) {
		PERCPU_ADD(enf_hits, allow->id);
		ENF_ADD(ENF_STAT_ALLOWED);
	} else if (opening && set->default_deny)
		reason = ENF_STAT_DEFAULT_DENY;
	else if (opening && !failsafe) {
		reason = enf_over_limits(set, &src);
		if (!reason)
			reason = enf_syn_flood(set, &src, p->tcp.dport);
	}
	/* Allowed sources and failsafe ports are not checked (README, "How a packet is judged"). */
	if (!reason && tcp && !failsafe && !allow)
		reason = enf_identify(p, port_flags, opening, &src, daddr, cfg->audit);
	/* Marks change where a packet goes: not under audit, which changes nothing. */
	if (rule && !cfg->audit)
		*mark = rule->mark;
	if (!reason) {
		ENF_ADD(ENF_STAT_PASSED);
		return XDP_PASS;
	}
	if (failsafe) {
		ENF_ADD(ENF_STAT_FAILSAFE);
		ENF_ADD(ENF_STAT_PASSED);
		return XDP_PASS;
	}
	if (deny)
		PERCPU_ADD(enf_hits, deny->id);
	return enf_drop(p, ctx, cfg, reason);
}

/* Leaves the mark in front of the packet as XDP metadata (struct enf_meta) for tcpi_enforce_mark. */
static __always_inline void enf_mark(struct xdp_md *ctx, __u32 mark)
{
	if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(struct enf_meta))) {
		ENF_ADD(ENF_STAT_MARKS_LOST);
		return;
	}
	struct enf_meta *meta = (void *)(long)ctx->data_meta;

	if ((void *)(meta + 1) > (void *)(long)ctx->data) {
		ENF_ADD(ENF_STAT_MARKS_LOST);
		return;
	}
	meta->magic = ENF_META_MAGIC;
	meta->mark = mark;
	ENF_ADD(ENF_STAT_MARKED);
}

/*
 * A passed packet goes on to a watch's XDP probes when one holds the observer slot (lib/handoff.h):
 * its parse in the per-CPU slot, then a tail call that does not come back. With the slot empty the
 * call falls through and the packet passes from here.
 */
static __always_inline void enf_hand_off(struct xdp_md *ctx, const struct pkt *p)
{
	__u32 zero = 0;
	struct xdp_handoff *h = bpf_map_lookup_elem(&enf_handoff, &zero);

	if (!h)
		return;
	h->result = p->result;
	h->tcp = p->tcp;
	bpf_tail_call(ctx, &enf_observer, 0);
}

SEC("xdp")
int tcpi_enforce(struct xdp_md *ctx)
{
	struct pkt p;
	__u32 mark = 0;

	pkt_parse_xdp(ctx, &p);
	int verdict = enf_judge(&p, &mark, ctx);

	if (verdict != XDP_PASS)
		return verdict;
	if (mark)
		enf_mark(ctx, mark);
	enf_hand_off(ctx, &p);
	return XDP_PASS;
}

/*
 * TC ingress beside the XDP program: sets the mark XDP left in a packet's metadata as the socket
 * buffer's mark, for `ip rule fwmark`, tc and netfilter to route or count by. Everything else goes
 * on unchanged (TC_ACT_UNSPEC: the next program or filter decides).
 */
SEC("tc")
int tcpi_enforce_mark(struct __sk_buff *skb)
{
	struct enf_meta *meta = (void *)(long)skb->data_meta;

	if ((void *)(meta + 1) > (void *)(long)skb->data || meta->magic != ENF_META_MAGIC)
		return TC_ACT_UNSPEC;
	skb->mark = meta->mark;
	return TC_ACT_UNSPEC;
}

/*
 * Connections open per source, for the connection limit: an accepted connection counts from
 * ESTABLISHED until CLOSE, once (enf_counted notes the socket, so the twin copies and an adopting
 * enforcer's programs beside the old ones never count or uncount it twice).
 */
static __always_inline int enf_on_state(int second, const struct sock *sk, __u64 sk_addr, int oldstate, int newstate)
{
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	bool accepted = oldstate == TCP_SYN_RECV && newstate == TCP_ESTABLISHED;

	if (!accepted && newstate != TCP_CLOSE)
		return 0;
	__u32 zero = 0;
	struct enf_config *cfg = bpf_map_lookup_elem(&enf_config, &zero);

	if (!cfg || (cfg->netns_inum && sock_netns_btf(sk) != cfg->netns_inum))
		return 0;
	struct flow flow = {};
	struct enf_source_key src = {};

	flow_of_sock_btf(sk, &flow);
	src.family = flow.family;
	__builtin_memcpy(src.addr, flow.raddr, 16);
	if (newstate == TCP_CLOSE) {
		/* Only the run that removes the socket's note uncounts it: never twice, never below its count. */
		if (bpf_map_delete_elem(&enf_counted, &sk_addr) == 0) {
			__u64 *conns = bpf_map_lookup_elem(&enf_conns, &src);

			if (conns)
				__sync_fetch_and_add(conns, -1);
		}
		return 0;
	}
	__u32 gen = cfg->active_gen & 1;
	struct enf_settings *set = bpf_map_lookup_elem(&enf_settings, &gen);

	if (!set)
		return 0;
	if (set->syn_interval_ns) {
		/* A source that completes a handshake is known: a SYN flood's answer lets it through. */
		__u64 now = bpf_ktime_get_ns();

		bpf_map_update_elem(&enf_known, &src, &now, BPF_ANY);
	}
	if (!set->conn_limit)
		return 0;
	__u32 one = 1;

	if (bpf_map_update_elem(&enf_counted, &sk_addr, &one, BPF_NOEXIST) != 0) {
		if (!bpf_map_lookup_elem(&enf_counted, &sk_addr))
			PERCPU_BUMP(enf_stats, ENF_STAT_CONNS_UNTRACKED);
		return 0;
	}
	__u64 none = 0;
	__u64 *conns = lookup_or_init(&enf_conns, &src, &none);

	if (conns) {
		__sync_fetch_and_add(conns, 1);
	} else {
		bpf_map_delete_elem(&enf_counted, &sk_addr); /* not counted, so its close must not uncount */
		PERCPU_BUMP(enf_stats, ENF_STAT_CONNS_UNTRACKED);
	}
	return 0;
}

TWIN_INET_SOCK_SET_STATE(tcpi_enforce_state, tcpi_enforce_state_twin, enf_on_state)

char LICENSE[] SEC("license") = "Dual BSD/GPL";
