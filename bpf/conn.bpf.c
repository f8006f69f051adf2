// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Connection lifecycle from sock:inet_sock_set_state (BTF-typed: the socket is read with plain
 * loads, which costs the connection path far less than the classic tracepoint's record): every TCP state change, connections opened
 * (passive or active) and closed, with duration, bytes in and out and how they ended (FIN, RST
 * sent, RST received, timeout). Resets are noted from tcp_send_reset/tcp_receive_reset.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include "conn.h"
#include "sock_helpers.h"
#include "events.h"

#define PROTO_TCP 6
#define ETIMEDOUT 110
enum {
	ST_ESTABLISHED = 1, ST_SYN_SENT = 2, ST_SYN_RECV = 3, ST_FIN_WAIT1 = 4, ST_CLOSE = 7, ST_CLOSE_WAIT = 8, ST_LAST_ACK = 9,
};

const volatile __u32 target_netns = 0;

struct sock_info {
	__u64 start_ns;
	__u8 open;
	__u8 end;
	__u8 pad[6];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CONN_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/*
 * When each live socket started and how it is ending, stored on the socket itself (socket-local
 * storage): found with a pointer step rather than a hash lookup on every state change, no limit on
 * how many connections a gateway holds, and freed with the socket even if its close is never seen.
 */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sock_info);
} socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

static __always_inline void note_reset(const struct sock *sk, __u8 end)
{
	struct sock_info *info = bpf_sk_storage_get(&socks, (struct sock *)sk, 0, 0);

	if (info && info->end == CONN_END_NONE)
		info->end = end;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tcpi_conn_state, const struct sock *sk, int oldstate, int newstate)
{
	if (sk->sk_protocol != PROTO_TCP)
		return 0;
	if (target_netns && sock_netns_btf(sk) != target_netns)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	struct sock_info *info;

	if (newstate == ST_SYN_SENT || newstate == ST_SYN_RECV) {
		/* A socket connects again after a failed attempt: its storage starts over. */
		info = bpf_sk_storage_get(&socks, (struct sock *)sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (info) {
			info->start_ns = now;
			info->open = CONN_OPEN_NONE;
			info->end = CONN_END_NONE;
		} else {
			PERCPU_BUMP(stats, CONN_STAT_SOCKS_FULL);
		}
	} else {
		info = bpf_sk_storage_get(&socks, (struct sock *)sk, 0, 0);
	}

	struct conn_event *e = EVENT_RESERVE(events, sizeof(*e), stats, CONN_STAT_EVENTS_LOST);
	__u8 open = CONN_OPEN_NONE, end = CONN_END_NONE;

	if (newstate == ST_ESTABLISHED && (oldstate == ST_SYN_RECV || oldstate == ST_SYN_SENT)) {
		open = oldstate == ST_SYN_RECV ? CONN_OPEN_PASSIVE : CONN_OPEN_ACTIVE;
		PERCPU_BUMP(stats, open == CONN_OPEN_PASSIVE ? CONN_STAT_OPENED_PASSIVE : CONN_STAT_OPENED_ACTIVE);
		if (info)
			info->open = open;
	}
	__u64 duration = 0, bytes_in = 0, bytes_out = 0;

	if (newstate == ST_CLOSE) {
		if (info && info->open != CONN_OPEN_NONE) {
			const struct tcp_sock *tcp = (const struct tcp_sock *)sk;

			end = info->end;
			/* No reset noted: a timeout sets ETIMEDOUT; leaving ESTABLISHED or CLOSE_WAIT
			 * straight for CLOSE is an abort, which sends a RST after this change (so the
			 * tcp_send_reset comes too late to note); anything else went through the FIN states. */
			if (end == CONN_END_NONE) {
				if (sk->sk_err == ETIMEDOUT)
					end = CONN_END_TIMEOUT;
				else if (oldstate == ST_ESTABLISHED || oldstate == ST_CLOSE_WAIT)
					end = CONN_END_RST_SENT;
				else
					end = CONN_END_FIN;
			}
			PERCPU_BUMP(stats, CONN_STAT_CLOSED);
			if (end == CONN_END_RST_SENT || end == CONN_END_RST_RECEIVED)
				PERCPU_BUMP(stats, CONN_STAT_CLOSED_RESET);
			else if (end == CONN_END_TIMEOUT)
				PERCPU_BUMP(stats, CONN_STAT_CLOSED_TIMEOUT);
			duration = now - info->start_ns;
			bytes_in = BPF_CORE_READ(tcp, bytes_received);
			bytes_out = BPF_CORE_READ(tcp, bytes_acked);
		}
		if (info)
			bpf_sk_storage_delete(&socks, (struct sock *)sk);
	}
	if (!e)
		return 0;

	e->ts_ns = now;
	__builtin_memset(&e->flow, 0, sizeof(e->flow));
	flow_of_sock_btf(sk, &e->flow);
	e->old_state = oldstate;
	e->new_state = newstate;
	e->open = open;
	e->end = end;
	/* Only these changes happen in the calling process (connect, close, shutdown); the rest come
	 * from softirq or timers, where the current task is unrelated, so no pid is claimed. */
	if (newstate == ST_SYN_SENT || newstate == ST_FIN_WAIT1 || newstate == ST_LAST_ACK) {
		e->pid = bpf_get_current_pid_tgid() >> 32;
		bpf_get_current_comm(e->comm, sizeof(e->comm));
	} else {
		e->pid = 0;
		__builtin_memset(e->comm, 0, sizeof(e->comm));
	}
	e->pad = 0;
	e->duration_ns = duration;
	e->bytes_in = bytes_in;
	e->bytes_out = bytes_out;
	bpf_ringbuf_submit(e, events_wakeup_flag(&events));
	return 0;
}

/* BTF-typed like the state changes, so the socket pointer is one the storage helpers accept. */
SEC("tp_btf/tcp_send_reset")
int BPF_PROG(tcpi_conn_rst_out, const struct sock *sk)
{
	if (sk)
		note_reset(sk, CONN_END_RST_SENT);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(tcpi_conn_rst_in, struct sock *sk)
{
	note_reset(sk, CONN_END_RST_RECEIVED);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
