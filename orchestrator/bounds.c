/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What one connection may use of the machine (see bounds.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bounds.h"
#include "cgroup.h"

const char *bounds_kind_name(enum bounds_kind k)
{
	return k == BOUNDS_CGROUP ? "cgroup" : "rlimit";
}

/* V bytes for people: "75 MiB", "1.5 GiB", "64 KiB" */
static const char *show_bytes(char *buf, size_t size, uint64_t v)
{
	if (v >= (1ULL << 30))
		snprintf(buf, size, "%.1f GiB", (double)v / (double)(1ULL << 30));
	else if (v >= (1ULL << 20))
		snprintf(buf, size, "%" PRIu64 " MiB", v >> 20);
	else
		snprintf(buf, size, "%" PRIu64 " KiB", v >> 10);
	return buf;
}

void bounds_defaults(struct bounds_opts *o, uint64_t memory, uint32_t tasks, enum bounds_kind kind)
{
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	uint64_t machine = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
	uint64_t limit = cgroup_memory_limit();
	o->service_limited = limit && (!machine || limit < machine);
	o->service_memory = o->service_limited ? limit : machine;
	o->kind = kind;
	o->dflt = (struct bounds){
		.memory = memory ? memory : o->service_memory / BOUNDS_MEMORY_SHARE,
		.tasks = tasks ? tasks : BOUNDS_DEFAULT_TASKS,
		.cpu_weight = BOUNDS_DEFAULT_CPU_WEIGHT,
		.log_lines = BOUNDS_DEFAULT_LOG_LINES,
		.log_bytes = BOUNDS_DEFAULT_LOG_BYTES,
	};
	/* nothing could be read: a bound that still lets a Python filter run */
	if (!o->dflt.memory)
		o->dflt.memory = 256ULL << 20;
	char m[32], s[32];
	snprintf(o->detail, sizeof(o->detail), "%s memory and %" PRIu32 " tasks per connection%s%s%s%s, bound by %s",
		 show_bytes(m, sizeof(m), o->dflt.memory), o->dflt.tasks, memory ? "" : " (a quarter of ",
		 memory ? "" : o->service_limited ? "the service's memory limit, " : "the machine's memory, ",
		 memory ? "" : show_bytes(s, sizeof(s), o->service_memory), memory ? "" : ")",
		 kind == BOUNDS_CGROUP ? "its cgroup" : "rlimits on each process");
}

struct bounds bounds_of(const struct bounds_opts *o, const struct qp_chain *ch)
{
	struct bounds b = o->dflt;
	if (!ch)
		return b;
	if (ch->memory_max)
		b.memory = ch->memory_max;
	if (ch->tasks_max)
		b.tasks = ch->tasks_max;
	if (ch->cpu_weight)
		b.cpu_weight = ch->cpu_weight;
	if (ch->log_lines_per_second)
		b.log_lines = ch->log_lines_per_second;
	if (ch->log_bytes)
		b.log_bytes = ch->log_bytes;
	return b;
}

static int by_tasks(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;
	/* [0]: tasks, descending */
	return (x[0] < y[0]) - (x[0] > y[0]);
}

bool bounds_tasks_fit(const struct qp_config *cfg, const struct bounds_opts *o, int max_connections,
		      int max_queued, uint64_t limit, uint64_t *need)
{
	/* the listener, every supervisor (running or queued), every connector, the spare */
	uint64_t total = 1 + (uint64_t)max_connections + (uint64_t)max_queued + (uint64_t)max_connections + 1;
	size_t n = cfg ? cfg->nchains : 0;
	uint64_t (*chains)[2] = calloc(n ? n : 1, sizeof(*chains));
	uint64_t most = o->dflt.tasks;
	for (size_t i = 0; chains && i < n; i++) {
		struct bounds b = bounds_of(o, &cfg->chains[i]);
		chains[i][0] = b.tasks;
		chains[i][1] = cfg->chains[i].max_connections ? (uint64_t)cfg->chains[i].max_connections
							      : (uint64_t)max_connections;
		if (b.tasks > most)
			most = b.tasks;
	}
	/* the worst case: the slots filled by the chains that may fork most, each within its own limit */
	uint64_t left = (uint64_t)max_connections;
	if (chains && n) {
		qsort(chains, n, sizeof(*chains), by_tasks);
		for (size_t i = 0; i < n && left; i++) {
			uint64_t k = chains[i][1] < left ? chains[i][1] : left;
			total += k * chains[i][0];
			left -= k;
		}
	} else {
		total += left * o->dflt.tasks;
	}
	free(chains);
	/* the spare's sandbox, with the filters it started ahead */
	total += most;
	*need = total;
	return !limit || total <= limit;
}

void bounds_describe(FILE *out, const struct bounds_opts *o, const struct qp_chain *ch, bool tasks_bound)
{
	struct bounds b = bounds_of(o, ch);
	char m[32], l[32];
	show_bytes(m, sizeof(m), b.memory);
	show_bytes(l, sizeof(l), b.log_bytes);
	if (o->kind == BOUNDS_CGROUP)
		fprintf(out, "memory %s, %" PRIu32 " tasks, CPU weight %" PRIu32 " (its cgroup)", m, b.tasks, b.cpu_weight);
	else if (tasks_bound)
		fprintf(out, "memory %s per process, %" PRIu32 " tasks (rlimits)", m, b.tasks);
	else
		fprintf(out, "memory %s per process (rlimits), tasks: the service's limit only (no user namespace of its own)", m);
	fprintf(out, "; stderr %" PRIu32 " lines/s, %s", b.log_lines, l);
}
