/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Per-CPU aggregates by key on the busiest paths (a remote's RTT at every segment, a port's
 * handshakes), that user space drains as it drains flowtable.h's tables. A hash map lookup costs
 * a function call, a hash and a bucket walk, and on a virtual machine several times more than an
 * inlined array lookup (BENCHMARKS.md, where the cost goes); so these are set-associative arrays
 * (flowslots.h): the key's hash picks a set, the key owns one of its ways, marked by the hash as a
 * tag. Per CPU: no cache line bounces between CPUs and no lock; a copy of each aggregate per CPU,
 * which user space adds up.
 *
 * One per-CPU array PREFIX_slots of two halves: the kernel counts into the half that
 * PREFIX_slot_tables[FLOW_TABLE_ACTIVE] names, user space (probe/FlowTable.java) reads and zeroes
 * the other, then makes it the active one, as flowtable.h does (so nothing is lost between a read
 * and a reset). A key whose set is full in this half is counted by the caller as untracked: nothing
 * is evicted, so nothing counted is lost silently. Both halves in one map keep one lookup site, which
 * the verifier inlines.
 *
 * Keys and values are multiples of 8 bytes (the hash reads the key as 64-bit words).
 */
#ifndef TCPINSPECT_SLOTTABLE_H
#define TCPINSPECT_SLOTTABLE_H

#include "flowslots.h"
#include "flowtable.h"

#define SLOT_TABLE_WAYS 4

/*
 * Defines struct PREFIX_way and PREFIX_set, the maps PREFIX_slots (2 << set_bits sets) and
 * PREFIX_slot_tables, and PREFIX_slot(key): the active half's value for key (zero when the key is
 * new: user space zeroes a half it drained), or NULL when its set is full; PREFIX_slot_tagged(key,
 * tag) the same for a caller that has the key's flowslot_hash already (a packet's source hash). Two runs on one CPU may
 * claim at once (a twin pair's copies): a way is claimed with a compare-and-swap on its tag, and
 * a run that finds the other claimed the same key in between takes that way.
 */
#define SLOT_TABLES(prefix, key_type, value_type, set_bits)                                             \
	struct prefix##_way {                                                                          \
		__u64 tag; /* the key's hash, never 0; 0: free */                                      \
		key_type key;                                                                          \
		value_type value;                                                                      \
	};                                                                                             \
	struct prefix##_set {                                                                          \
		struct prefix##_way way[SLOT_TABLE_WAYS];                                              \
	};                                                                                             \
	struct {                                                                                       \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                                               \
		__uint(max_entries, 2 << (set_bits));                                                  \
		__type(key, __u32);                                                                    \
		__type(value, struct prefix##_set);                                                    \
	} prefix##_slots SEC(".maps");                                                                 \
	struct {                                                                                       \
		__uint(type, BPF_MAP_TYPE_ARRAY);                                                      \
		__uint(max_entries, FLOW_TABLE_SLOTS);                                                 \
		__type(key, __u32);                                                                    \
		__type(value, __u32);                                                                  \
	} prefix##_slot_tables SEC(".maps");                                                           \
                                                                                                       \
	static __always_inline value_type *prefix##_slot_tagged(const key_type *key, __u64 tag)        \
	{                                                                                              \
		__u32 control = FLOW_TABLE_ACTIVE;                                                     \
		__u32 *active = bpf_map_lookup_elem(&prefix##_slot_tables, &control);                  \
                                                                                                       \
		if (!active)                                                                           \
			return NULL;                                                                   \
		__u32 index = ((*active & 1) << (set_bits)) | flowslot_set(tag, set_bits);             \
		struct prefix##_set *set = bpf_map_lookup_elem(&prefix##_slots, &index);               \
                                                                                                       \
		if (!set)                                                                              \
			return NULL;                                                                   \
		_Pragma("unroll") for (int i = 0; i < SLOT_TABLE_WAYS; i++)                            \
		{                                                                                      \
			if (set->way[i].tag == tag)                                                    \
				return &set->way[i].value;                                             \
			if (!set->way[i].tag) {                                                        \
				__u64 was = __sync_val_compare_and_swap(&set->way[i].tag, 0, tag);     \
				if (was == 0 || was == tag) {                                          \
					set->way[i].key = *key;                                        \
					return &set->way[i].value;                                     \
				}                                                                      \
			}                                                                              \
		}                                                                                      \
		return NULL;                                                                           \
	}                                                                                              \
                                                                                                       \
	static __always_inline value_type *prefix##_slot(const key_type *key)                          \
	{                                                                                              \
		return prefix##_slot_tagged(key, flowslot_hash(key, sizeof(key_type) / 8));            \
	}

#endif
