/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Small map helpers shared by the probes (libbpf-tools keep theirs in maps.bpf.h). */
#ifndef TCPINSPECT_MAPS_H
#define TCPINSPECT_MAPS_H

/*
 * Looks a key up, inserting init first when it is absent (racing inserts are fine: one wins).
 * NULL only when the map is full, which callers count: a full table is never silent.
 */
static __always_inline void *lookup_or_init(void *map, const void *key, const void *init)
{
	void *value = bpf_map_lookup_elem(map, key);

	if (value)
		return value;
	bpf_map_update_elem(map, key, init, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}

/*
 * Per-CPU counter array bump. Atomic although per CPU: a program's run can be interrupted on its
 * CPU by a softirq running another program of the same object, or the same code as its twin
 * (twin.h), and a plain increment would lose one of the two. Uncontended, it costs a few cycles.
 */
#define PERCPU_BUMP(map, slot)                                     \
	do {                                                       \
		__u32 __slot = (slot);                             \
		__u64 *__n = bpf_map_lookup_elem(&(map), &__slot); \
		if (__n)                                           \
			__sync_fetch_and_add(__n, 1);              \
	} while (0)

/* A per-CPU array of __u64 counters, one per slot of an enum: a probe's "stats". */
#define PERCPU_COUNTERS(name, slots)                   \
	struct {                                       \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); \
		__uint(max_entries, slots);            \
		__type(key, __u32);                    \
		__type(value, __u64);                  \
	} name SEC(".maps")

/* A probe's ring buffer of events (events.h). User space shrinks it to a page when nobody reads events. */
#define EVENT_RING(name, bytes)                   \
	struct {                                  \
		__uint(type, BPF_MAP_TYPE_RINGBUF); \
		__uint(max_entries, bytes);       \
	} name SEC(".maps")

#endif
