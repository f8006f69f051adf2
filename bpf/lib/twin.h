/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Twin programs for a tracepoint that fires both in tasks and in softirq. The kernel runs a tracing
 * program at most once per CPU at a time: when the tracepoint fires in a softirq that interrupted
 * the same program's run in a task (a handshake completing while a connect() or a close() is being
 * traced on that CPU), the nested run is skipped and only counted (recursion_misses). Measured here
 * under connection churn (NestedRunsTest, BENCHMARKS.md): enough to lose a handshake now and then.
 *
 * So the handler is attached twice, as two programs. Tracepoint probes run in the order they were
 * attached, so for every firing the first copy runs before the second, unless the kernel skips it
 * because the first copy is already running on the CPU (then the second, which is not, runs). Both
 * copies can never be skipped for one firing.
 *
 * The first copy notes each firing it handles on a per-CPU stack of claims (a ring of 64); the second
 * copy looks for the firing's claim: found, it removes it (and any claims above it, which were firings
 * nested in its own run that only the first copy saw) and leaves the firing alone; not found, the
 * first copy was skipped, and the second handles the firing: a rescue, counted in twin_claims, which
 * user space compares with the first copy's recursion_misses.
 *
 * While the second copy runs it says so (second_running), and the first copy, running nested in it,
 * handles firings without claiming them: the second copy will be skipped for them, and claims nobody
 * removes would pile up (a softirq can change many sockets' states in one run) and push out the
 * claim the second copy is about to look for. What is left is the kernel's own code around the
 * second copy's run (its prologue before the flag is set, its epilogue after it is cleared): a
 * softirq that interrupts it there leaves a claim for each firing it handles (hundreds, when it
 * empties a backlog), which nobody removes. Two rules keep these leftovers from costing anything:
 * - At most two claims are ever awaited at once: one made in a task, and one made in a softirq that
 *   interrupted the task between its two copies, right above it (nothing in between: firings there
 *   run both copies). So when the second copy finds its claim, everything below but the claim right
 *   under it is a leftover, and goes.
 * - A full stack replaces its newest claim: a burst of leftovers replaces its own, and an awaited
 *   claim under the burst stays (dropping the oldest instead lost one under every burst of 64).
 * Claims are also only good for twin_fresh_jiffies(), lest a leftover be taken for a later firing
 * of the same socket and states (socket memory is reused within microseconds under connection
 * churn), and a second copy nested in the first copy's code (first_running) rescues without looking:
 * its own first copy was skipped, and a leftover naming the same socket and states would otherwise
 * pass for its claim (losing the firing) and take the claim of the firing it interrupted with it.
 * The argument rests on the two copies of a task's firing running without preemption in between
 * (tracepoint probes run with preemption off). What is left to chance: a full stack's newest claim
 * awaited (a task's claim made right after a burst filled it, then interrupted before its second
 * copy), counted in pushed_out; the stale claims, counted in stale; and a second copy nested in the
 * kernel's code around the first copy's run (before first_running is set or after it is cleared)
 * that finds a leftover naming its socket and states, which loses that firing. The stack was eight
 * deep and kept its leftovers until they were stale, leaving new firings unclaimed meanwhile: one CI
 * run of NestedRunsTest had 5,097 firings handled twice in 3 s of churn.
 * A firing is named by two numbers: for a state change, the socket's address and the two states.
 *
 * Only a firing in a softirq can be nested in the first copy's run: a task's firing runs its copies
 * with preemption off, so it interrupts nothing, and its first copy always runs. So a task's firing
 * is neither claimed nor looked for: the first copy handles it and the second passes over it. Which
 * firings are a task's: those of a socket that a task owns (lock_sock: connect, close, shutdown, the
 * backlog processed at release), since a softirq never changes the state of a socket a task owns (it
 * queues the segment to the backlog, or a timer tries again later). The preempt count, which would
 * say so for every firing, is a per-CPU variable that kallsyms lists only on kernels built with
 * KALLSYMS_ALL, and a task's firings on sockets it does not own (a listener's children closed with
 * it, under bh_lock_sock) keep their claims. The first copy still says that it runs
 * (first_running): that is what a softirq nested in it reads.
 */
#ifndef TCPINSPECT_TWIN_H
#define TCPINSPECT_TWIN_H

#include <bpf/bpf_helpers.h>

#define TWIN_CLAIMS 64 /* a power of two */
/*
 * How long a claim is good for: longer than anything that usually comes between a firing's two runs
 * (microseconds; a softirq burst between them, a millisecond), and short enough that claims the
 * second copy never removed (it was skipped) do not pile up: under connection churn a few a second
 * are left, and at a second's freshness they filled the (then eight-deep) stack now and then,
 * leaving firings unclaimed that both copies then handled (NestedRunsTest). About 25 ms, at least two
 * jiffies. A virtual CPU stolen for longer between a firing's two runs makes the second copy take
 * the claim for a leftover and handle that firing again: the rarer error. Jiffies: tracing programs
 * may not read the coarse clock, and the fine one costs more.
 */
static __always_inline __u64 twin_fresh_jiffies(void)
{
	__u64 j = jiffies_per_second() / 40;

	return j > 2 ? j : 2;
}

struct twin_claims {
	__u64 a[TWIN_CLAIMS], b[TWIN_CLAIMS];
	__u64 at[TWIN_CLAIMS]; /* jiffies when claimed */
	__u32 depth;
	__u32 second_running;
	__u32 head; /* the oldest claim's slot: the stack is a ring, whose bottom moves up when claims below go */
	__u32 first_running; /* the first copy's code is running: a second copy nested in it rescues unasked */
	__u64 rescued; /* firings the second copy handled because the kernel skipped the first */
	__u64 pushed_out; /* fresh claims a full stack dropped: each, if it was awaited, a firing handled twice */
	__u64 stale; /* claims found too old: each a firing handled twice, or a leftover rightly passed over */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct twin_claims);
} state_twin_claims SEC(".maps");

static __always_inline struct twin_claims *twin_claims_here(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&state_twin_claims, &zero);
}

/* Whether a state change of sk is a task's (above): the socket is owned by a task, which is running it. */
static __always_inline int twin_owned_by_task(const struct sock *sk)
{
	return sk->sk_lock.owned != 0;
}

/* The first copy, before handling the firing (a, b): claims it, unless the second copy is running. */
static __always_inline void twin_first(struct twin_claims *c, __u64 a, __u64 b)
{
	if (!c || c->second_running)
		return;
	__u32 depth = c->depth;

	if (depth >= TWIN_CLAIMS) {
		/* Full: a burst of leftovers, whose newest this one replaces (above). */
		depth = TWIN_CLAIMS - 1;
		if ((__s64)(c->at[(c->head + depth) & (TWIN_CLAIMS - 1)] - (bpf_jiffies64() - twin_fresh_jiffies())) >= 0)
			c->pushed_out++;
	}
	__u32 top = (c->head + depth) & (TWIN_CLAIMS - 1);

	c->a[top] = a;
	c->b[top] = b;
	c->at[top] = bpf_jiffies64();
	c->depth = depth + 1;
}

/* The second copy, first thing: says it is running (until twin_second_done). */
static __always_inline struct twin_claims *twin_second_begin(void)
{
	struct twin_claims *c = twin_claims_here();

	if (c)
		c->second_running = 1;
	return c;
}

/* The second copy: whether it handles the firing (a, b), that is whether the first copy left no claim for it. */
static __always_inline int twin_second_rescues(struct twin_claims *c, __u64 a, __u64 b)
{
	if (!c)
		return 0;
	if (c->first_running) {
		/* Nested in the first copy's code: the kernel skipped the first copy for this firing, and
		 * a leftover naming the same socket and states must not pass for its claim. */
		c->rescued++;
		return 1;
	}
	__u32 depth = c->depth;
	__u32 head = c->head;

	/* From the top: the claim looked for is almost always the last one made (one round). */
	for (int n = 0; n < TWIN_CLAIMS; n++) {
		if (n >= depth)
			break;
		__u32 k = depth - 1 - n; /* k claims are older than this one */
		__u32 i = (head + k) & (TWIN_CLAIMS - 1);

		if (c->a[i] == a && c->b[i] == b) {
			if ((__s64)(c->at[i] - (bpf_jiffies64() - twin_fresh_jiffies())) < 0) {
				c->stale++;
				break; /* a leftover: the first copy did not claim this firing */
			}
			/* Taken, with what is above it; of what is below, only the claim right under it
			 * may still be awaited (above). */
			if (k >= 2)
				c->head = head + k - 1;
			c->depth = k ? 1 : 0;
			return 0;
		}
	}
	c->rescued++;
	return 1;
}

/* The second copy, at its end. */
static __always_inline void twin_second_done(struct twin_claims *c)
{
	if (c)
		c->second_running = 0;
}

/*
 * The twin pair on tp_btf/inet_sock_set_state: programs FIRST_PROG and SECOND_PROG (attach them in
 * that order), each passing the state changes it handles to
 * HANDLER(int second, const struct sock *sk, __u64 sk_addr, int oldstate, int newstate), second
 * being 1 in the second copy. A firing is named by the socket's address and the two states; it is
 * claimed before the handler's filters, so that every skipped run is accounted for. Needs
 * bpf_tracing.h and flow.h (tp_btf_arg_value).
 */
#define TWIN_INET_SOCK_SET_STATE(FIRST_PROG, SECOND_PROG, HANDLER)                                 \
	SEC("tp_btf/inet_sock_set_state")                                                          \
	int BPF_PROG(FIRST_PROG, const struct sock *sk, int oldstate, int newstate)                \
	{                                                                                          \
		struct twin_claims *c = twin_claims_here();                                        \
		__u64 sk_addr = tp_btf_arg_value(ctx, 0);                                          \
                                                                                                   \
		if (c)                                                                             \
			c->first_running = 1;                                                      \
		if (!twin_owned_by_task(sk))                                                       \
			twin_first(c, sk_addr, (__u64)oldstate << 32 | (__u32)newstate);           \
		HANDLER(0, sk, sk_addr, oldstate, newstate);                                       \
		if (c)                                                                             \
			c->first_running = 0;                                                      \
		return 0;                                                                          \
	}                                                                                          \
                                                                                                   \
	SEC("tp_btf/inet_sock_set_state")                                                          \
	int BPF_PROG(SECOND_PROG, const struct sock *sk, int oldstate, int newstate)               \
	{                                                                                          \
		if (twin_owned_by_task(sk))                                                        \
			return 0; /* a task's: the first copy handled it */                        \
		struct twin_claims *c = twin_second_begin();                                       \
		__u64 sk_addr = tp_btf_arg_value(ctx, 0);                                          \
                                                                                                   \
		if (twin_second_rescues(c, sk_addr, (__u64)oldstate << 32 | (__u32)newstate))      \
			HANDLER(1, sk, sk_addr, oldstate, newstate);                               \
		twin_second_done(c);                                                               \
		return 0;                                                                          \
	}

#endif
