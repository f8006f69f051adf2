/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Per-flow aggregates that user space drains while the kernel keeps counting, so that a gateway's
 * endless stream of new flows never leaves the table full for good (bcc's tools clear their maps
 * every interval for the same reason). Two tables per probe, PREFIX_flows_0 and PREFIX_flows_1: the
 * kernel counts into the one PREFIX_flow_tables[FLOW_TABLE_ACTIVE] names. User space (probe/FlowTable.java) empties the other
 * into its own totals, then makes it the active one; the table it left is emptied at the next
 * drain, a second later, when no run that picked it before the switch can still be using it.
 * So nothing writes to a table while it is read and emptied, and no increment is lost between a
 * read and a delete.
 */
#ifndef TCPINSPECT_FLOWTABLE_H
#define TCPINSPECT_FLOWTABLE_H

#include "probe.h"

enum flow_table_slot {
	FLOW_TABLE_ACTIVE = 0, /* 0 or 1: the table the kernel counts into */
	FLOW_TABLE_FULL = 1,   /* + table: set when that table had no room; user space clears it when emptied */
	FLOW_TABLE_SLOTS = 3,
};
SHARED_WITH_JAVA(enum flow_table_slot, flow_table_slot);

/*
 * Defines a probe's two tables and their control array: PREFIX_flows_0, PREFIX_flows_1 and
 * PREFIX_flow_tables. (Aggregates that every CPU updates at once, a port's histogram or a remote's
 * RTT, are kept per CPU in slottable.h's tables instead, drained the same way.)
 */
#define FLOW_TABLES_OF(prefix, map_type, key_type, value_type, entries) \
	struct {                                                \
		__uint(type, map_type);                         \
		__uint(max_entries, entries);                   \
		__type(key, key_type);                          \
		__type(value, value_type);                      \
	} prefix##_flows_0 SEC(".maps"), prefix##_flows_1 SEC(".maps"); \
	struct {                                                \
		__uint(type, BPF_MAP_TYPE_ARRAY);               \
		__uint(max_entries, FLOW_TABLE_SLOTS);          \
		__type(key, __u32);                             \
		__type(value, __u32);                           \
	} prefix##_flow_tables SEC(".maps")

#define FLOW_TABLES(prefix, key_type, value_type, entries) \
	FLOW_TABLES_OF(prefix, BPF_MAP_TYPE_HASH, key_type, value_type, entries)

/*
 * The active table's entry for key, made from init when absent (racing inserts are fine: one
 * wins). NULL when the table has no room, which callers count: a full table is never silent. Once
 * it was found full, new keys are not tried again until user space has emptied it, or a flood of
 * new flows would pay for a failing insert every time.
 */
static __always_inline void *flow_entry(void *table_0, void *table_1, void *control, const void *key,
					const void *init)
{
	__u32 slot = FLOW_TABLE_ACTIVE;
	__u32 *active = bpf_map_lookup_elem(control, &slot);

	if (!active)
		return NULL;
	__u32 which = *active & 1;
	void *table = which ? table_1 : table_0;
	void *value = bpf_map_lookup_elem(table, key);

	if (value)
		return value;
	slot = FLOW_TABLE_FULL + which;
	__u32 *full = bpf_map_lookup_elem(control, &slot);

	if (!full || *full)
		return NULL;
	bpf_map_update_elem(table, key, init, BPF_NOEXIST);
	value = bpf_map_lookup_elem(table, key);
	if (!value)
		*full = 1;
	return value;
}

/* The entry of key in a probe's tables (FLOW_TABLES(prefix, ...)). */
#define FLOW_ENTRY(prefix, key, init) flow_entry(&prefix##_flows_0, &prefix##_flows_1, &prefix##_flow_tables, key, init)

#endif
