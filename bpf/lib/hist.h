/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Log-linear histogram buckets, shared with dev.tcpinspect.snapshot.LogLinearHistogram.
 * Values below 16 get a bucket each; above, every power of two is split into 16 sub-buckets, so a
 * bucket is at most 1/16 of its value wide and a percentile read from it is within 3.2% (bcc's log2
 * buckets are within 100%).
 */
#ifndef TCPINSPECT_HIST_H
#define TCPINSPECT_HIST_H

#define HIST_SUB_BITS 4
#define HIST_SUB (1 << HIST_SUB_BITS)
/* Largest power of two kept apart; larger values share the last bucket (2^40 us is 12 days). */
#define HIST_MAX_EXP 39
#define HIST_BUCKETS (HIST_SUB + (HIST_MAX_EXP - HIST_SUB_BITS + 1) * HIST_SUB)

/* floor(log2(v)) for v > 0, without loops (the BPF target has no count-leading-zeros). */
static __always_inline __u32 hist_log2(__u64 v)
{
	__u32 r = 0;

	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1) { r += 1; }
	return r;
}

static __always_inline __u32 hist_bucket(__u64 v)
{
	if (v < HIST_SUB)
		return v;
	__u32 e = hist_log2(v);

	if (e > HIST_MAX_EXP)
		return HIST_BUCKETS - 1;
	return HIST_SUB + (e - HIST_SUB_BITS) * HIST_SUB + ((v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1));
}

/*
 * hist_bucket as a global function, for handlers that run once a connection (its handshake's end,
 * its end): the verifier checks the branches of hist_log2 once, instead of following each exponent
 * they make to the end of the handler (lib/verifier.h). It is a call, so a per-segment path (rtt's,
 * on tcp_probe) keeps hist_bucket inline.
 */
__noinline __u32 hist_bucket_outlined(__u64 v)
{
	return hist_bucket(v);
}

/* Exact count, sum, min and max beside the buckets (per CPU; user space merges). */
struct hist_summary {
	__u64 count;
	__u64 sum;
	__u64 min;
	__u64 max;
};

#endif
