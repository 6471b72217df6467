/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A chain's resource keys (bounds.h): memory_max, tasks_max, cpu_weight,
 * log_lines_per_second, log_bytes, each checked and reported at its place
 * as config.c does for the others.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>

#include "config_loader.h"

/* how a key's value reads, and its range */
static const struct bound_key {
	const char *name;
	bool bytes;           /* a size with K, M or G; else a whole number */
	uint64_t min, max;
	const char *range;    /* for the message */
} bound_keys[CB_COUNT] = {
	[CB_MEMORY_MAX] = { "memory_max", true, 1ULL << 20, 1ULL << 40, "a size from 1M to 1024G (K, M, G: powers of 1024)" },
	[CB_TASKS_MAX] = { "tasks_max", false, 1, 65536, "a whole number from 1 to 65536" },
	[CB_CPU_WEIGHT] = { "cpu_weight", false, 1, 10000, "a whole number from 1 to 10000 (100: the default)" },
	[CB_LOG_LINES] = { "log_lines_per_second", false, 1, 1000000, "a whole number from 1 to 1000000" },
	[CB_LOG_BYTES] = { "log_bytes", true, 1ULL << 10, 1ULL << 30, "a size from 1K to 1G (K, M, G: powers of 1024)" },
};

const char *config_bound_key(enum config_bound k)
{
	return bound_keys[k].name;
}

/* the value of N as key K wants it; 0 after a report */
static uint64_t get_value(struct loader *ld, const yaml_node_t *n, const struct bound_key *k, const char *chain)
{
	if (n->type != YAML_SCALAR_NODE || ld_is_null(n)) {
		ld_report(ld, n, "'%s' of chain '%s' must be %s, found %s", k->name, chain, k->range, ld_describe(n));
		return 0;
	}
	const char *v = (const char *)n->data.scalar.value;
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	int shift = 0;
	if (k->bytes && (*end == 'K' || *end == 'k'))
		shift = 10;
	else if (k->bytes && (*end == 'M' || *end == 'm'))
		shift = 20;
	else if (k->bytes && (*end == 'G' || *end == 'g'))
		shift = 30;
	if (shift)
		end++;
	if (errno || end == v || *end || !(*v >= '0' && *v <= '9') || x > (k->max >> shift) ||
	    ((uint64_t)x << shift) < k->min) {
		ld_report(ld, n, "'%s' of chain '%s' must be %s, not '%s'", k->name, chain, k->range, SHOW_NODE(n));
		return 0;
	}
	return (uint64_t)x << shift;
}

void config_get_bounds(struct loader *ld, yaml_node_t *const values[CB_COUNT], const char *chain,
		       struct qp_chain *ch)
{
	uint64_t v[CB_COUNT] = { 0 };
	for (size_t i = 0; i < CB_COUNT; i++)
		if (values[i])
			v[i] = get_value(ld, values[i], &bound_keys[i], chain);
	ch->memory_max = v[CB_MEMORY_MAX];
	ch->tasks_max = (uint32_t)v[CB_TASKS_MAX];
	ch->cpu_weight = (uint32_t)v[CB_CPU_WEIGHT];
	ch->log_lines_per_second = (uint32_t)v[CB_LOG_LINES];
	ch->log_bytes = v[CB_LOG_BYTES];
	/* the sandbox's init (two tasks) and every filter process must be able to start */
	size_t procs = 0;
	for (size_t i = 0; i < ch->nfilters; i++)
		procs += ch->filters[i].direction == QP_DIR_BOTH ? 2 : 1;
	if (ch->tasks_max && ch->tasks_max < procs + 2)
		ld_report(ld, values[CB_TASKS_MAX],
			  "'tasks_max' of chain '%s' is %" PRIu32 ", less than its sandbox needs to start (%zu: its init, two, and %zu filter processes)",
			  chain, ch->tasks_max, procs + 2, procs);
}
