/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Per-flow (or per-socket) state in a plain BPF array used as a set-associative cache: a hash of
 * the flow picks a set (one 64-byte cache line) and the flow owns one of the set's ways, marked by
 * a 64-bit tag (the hash, never 0; for sockets, the socket's address). Why not a hash map: an array
 * lookup is inlined by the verifier (no helper call, no bucket lock, no chain), and a flow's state
 * costs one cache line on one page, where a BPF hash map walks a bucket and an element on two
 * random pages and an LRU hash map or socket-local storage also takes a lock (and allocates) to
 * insert. On this kind of machine (virtualised, 4 KiB pages for map memory) those were most of a
 * probe's cost (perf, short connections: dupack's LRU lookups ~4 us per connection, conn's socket
 * storage ~2 us). A flow that finds its set full takes a way from an older flow, which ages out as
 * in an LRU; each probe says how it picks and counts what it pushes out. Updates from two CPUs at
 * once to one way are not atomic, as they were not with a hash map value either.
 */
#ifndef TCPINSPECT_FLOWSLOTS_H
#define TCPINSPECT_FLOWSLOTS_H

#include "verifier.h"

/* A key the hash reads as 64-bit words: declare it with this (the verifier wants aligned stack reads). */
#define FLOWSLOT_KEY_ALIGNED __attribute__((aligned(8)))

/*
 * The hash's seed, drawn at random by user space when it loads the object (probe.ProbeSet), so that
 * nobody can choose tuples that land on one set or mimic another flow's tag. A read-only constant:
 * the verifier folds it into the code, so hashing reads no memory.
 */
const volatile __u64 flowslot_seed = 1;

/*
 * A 64-bit keyed hash of a zero-initialised key of `words` 64-bit words (a constant; murmur3's
 * finaliser mixing each word in); never 0.
 */
static __always_inline __u64 flowslot_hash(const void *key, const int words)
{
	const __u64 *w = key;
	__u64 h = flowslot_seed;

#pragma unroll
	for (int i = 0; i < words; i++) {
		h ^= w[i];
		h *= 0xff51afd7ed558ccdULL;
		h ^= h >> 33;
	}
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h | 1;
}

/* An address as a key of per-source tables (scan, flood): 16 bytes and the family, read as 64-bit words. */
struct source_key {
	__u8 addr[16];
	__u64 family;
} FLOWSLOT_KEY_ALIGNED;

/* The keyed hash of a remote address (never 0): one per packet, shared by the per-source probes. */
static __always_inline __u64 source_hash(const __u8 *addr, __u16 family)
{
	struct source_key k = {.family = family};

	__builtin_memcpy(k.addr, addr, 16);
	return flowslot_hash(&k, sizeof(k) / 8);
}

/* The set of a hash in a table of 2^bits sets: the hash's high bits. */
static __always_inline __u32 flowslot_set(__u64 hash, int bits)
{
	return (__u32)(hash >> (64 - bits));
}

/*
 * The set of a socket in a table of 2^bits sets, by Fibonacci hashing of its address (a kernel
 * pointer nobody outside the kernel chooses, so no seed is needed; tp_btf_arg_value gives it as a
 * number).
 */
static __always_inline __u32 sockslot_set(__u64 sk_addr, int bits)
{
	return (__u32)((sk_addr * 0x9E3779B97F4A7C15ULL) >> (64 - bits));
}

/*
 * The common shape, four ways of 16 bytes in a 64-byte set: a tag and a stamp that orders ways by
 * age (smaller: older). A probe whose way carries more (conn's marks) overlays its own struct on it.
 */
#define SLOT_WAYS 4

struct slot_way {
	__u64 tag;   /* 0: free */
	__u64 stamp;
};

struct slot_set {
	struct slot_way way[SLOT_WAYS];
};

/*
 * The way holding tag, else a free one, else the oldest (the caller sees from its tag whether it
 * pushes another flow out): its index here, the way itself from slot_take. Indices rather than
 * pointers: the verifier takes no arithmetic on the pointer the compiler may make of a choice
 * between pointers.
 */
static __always_inline int slot_take_index(struct slot_set *set, __u64 tag)
{
	/*
	 * Three passes rather than one that keeps three candidates: no index is read before the end, so
	 * the verifier merges the paths through each pass instead of following every combination
	 * (verifier.h); the four ways are one cache line.
	 */
	int pick = -1;

#pragma unroll
	for (int i = 0; i < SLOT_WAYS; i++) {
		if (pick < 0 && set->way[i].tag == tag)
			pick = i;
	}
#pragma unroll
	for (int i = 0; i < SLOT_WAYS; i++) {
		if (pick < 0 && !set->way[i].tag)
			pick = i;
	}
	if (pick < 0) {
		__u64 oldest_stamp = set->way[0].stamp;

		pick = 0;
#pragma unroll
		for (int i = 1; i < SLOT_WAYS; i++) {
			if (set->way[i].stamp < oldest_stamp) {
				oldest_stamp = set->way[i].stamp;
				pick = i;
			}
		}
	}
	/* One state for every way from here on (verifier.h). */
	return verifier_forget(pick) & (SLOT_WAYS - 1);
}

static __always_inline struct slot_way *slot_take(struct slot_set *set, __u64 tag)
{
	return &set->way[slot_take_index(set, tag)];
}

/* The index of the way holding tag, or -1: for a probe keeping more per way in a map beside the set's. */
static __always_inline int slot_index(struct slot_set *set, __u64 tag)
{
#pragma unroll
	for (int i = 0; i < SLOT_WAYS; i++) {
		if (set->way[i].tag == tag)
			return i;
	}
	return -1;
}

/* The way holding tag, or NULL. */
static __always_inline struct slot_way *slot_find(struct slot_set *set, __u64 tag)
{
	int i = slot_index(set, tag);

	/* One state for every way from here on (verifier.h). */
	return i < 0 ? NULL : &set->way[verifier_forget(i) & (SLOT_WAYS - 1)];
}

#endif
