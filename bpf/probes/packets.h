/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * packets: incoming TCP packets by kind, SYNs per destination port, malformed headers. Runs at
 * the ingress hook (TC ingress, or XDP with --xdp). Counts per CPU without locks or atomics: one
 * CPU never runs two packet programs at once.
 *
 * Shared with Java (probe/packets): struct packet_counters.
 */
#ifndef TCPINSPECT_PROBE_PACKETS_H
#define TCPINSPECT_PROBE_PACKETS_H

#include "lib/probe.h"
#include "lib/packet.h"

/* One per-CPU slot of packet counters (map packets_counters, key 0). Every field is a __u64. */
struct packet_counters {
	__u64 tcp;       /* well-formed TCP segments */
	__u64 syn;       /* SYN set, ACK clear */
	__u64 synack;    /* SYN and ACK set */
	__u64 fin;       /* FIN set */
	__u64 rst;       /* RST set */
	__u64 ack;       /* pure ACK: ACK only (PSH allowed), no payload */
	__u64 malformed; /* IP or TCP headers impossible or cut short */
};

PROBE_SWITCH(packets);

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct packet_counters);
} packets_counters SEC(".maps");

/*
 * SYNs per destination port: an array indexed by port, so it can never fill up. Ports go 1024 to
 * an entry (8 KiB a CPU): the kernel makes a per-CPU array's values one by one, and 65536 of them
 * took 40 ms of every start (BENCHMARKS.md, startup); 64 take about 1 ms, and a reading copies an
 * entry's CPUs at once (2 MiB on a 256-CPU host, where 32 KiB entries would make it 8 MiB).
 */
#define SYN_PORTS_PER_ENTRY 1024
struct syn_port_counts {
	__u64 syns[SYN_PORTS_PER_ENTRY]; /* port % SYN_PORTS_PER_ENTRY */
};
SHARED_WITH_JAVA(struct syn_port_counts, syn_port_counts);

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 65536 / SYN_PORTS_PER_ENTRY);
	__type(key, __u32);
	__type(value, struct syn_port_counts);
} packets_syn_by_port SEC(".maps");

/* Every packet at the ingress hook, TCP or not (malformed and truncated headers are counted). */
static __always_inline void packets_on_ingress(const struct pkt *p)
{
	if (!packets_enabled)
		return;
	__u32 zero = 0;
	struct packet_counters *c = bpf_map_lookup_elem(&packets_counters, &zero);

	if (!c)
		return;
	if (p->result == PARSE_MALFORMED || p->result == PARSE_TRUNCATED) {
		c->malformed++;
		return;
	}
	if (p->result != PARSE_TCP)
		return;

	__u8 flags = p->tcp.flags;

	c->tcp++;
	if (flags & TCP_FLAG_SYN) {
		if (flags & TCP_FLAG_ACK) {
			c->synack++;
		} else {
			__u32 port = p->tcp.dport;
			__u32 entry = (port & 0xFFFF) / SYN_PORTS_PER_ENTRY;
			struct syn_port_counts *ports = bpf_map_lookup_elem(&packets_syn_by_port, &entry);

			c->syn++;
			if (ports)
				ports->syns[port % SYN_PORTS_PER_ENTRY]++;
		}
	}
	if (flags & TCP_FLAG_FIN)
		c->fin++;
	if (flags & TCP_FLAG_RST)
		c->rst++;
	if ((flags & (TCP_FLAG_ACK | TCP_FLAG_SYN | TCP_FLAG_FIN | TCP_FLAG_RST)) == TCP_FLAG_ACK &&
	    p->tcp.payload_len == 0)
		c->ack++;
}

#endif
