/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_BOUNDS_H
#define QP_BOUNDS_H

/*
 * What one connection may use of the machine, so that no connection's
 * filters can take the daemon down or starve the others: memory, tasks,
 * CPU weight, and how much its processes may log. The daemon's defaults
 * (serve --connection-memory, --connection-tasks) and each chain's own
 * keys (memory_max, tasks_max, cpu_weight, log_lines_per_second,
 * log_bytes); how memory and tasks are enforced: a cgroup per connection
 * (cgroup.h) where the daemon has one to give, else rlimits on each
 * process (RLIMIT_DATA, RLIMIT_AS, RLIMIT_FSIZE) and on the sandbox's
 * user namespace (RLIMIT_NPROC). See doc/design.md, "Resources".
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

/*
 * Tasks (processes and threads) of one connection's sandbox: its init
 * (two), up to six filters of a 3-step chain, and room for a filter that
 * forks or runs threads (a Python filter with a pool). With the default
 * --max-connections (256) that is 16384, under the unit's TasksMax=.
 */
#define BOUNDS_DEFAULT_TASKS 64
/* the kernel's default weight: every connection alike */
#define BOUNDS_DEFAULT_CPU_WEIGHT 100
/*
 * A filter's stderr, per connection: a normal filter says a few lines (a
 * verdict, an error, a traceback of some KiB); a flood of them must not
 * push other connections' summaries out of the journal's rate limit.
 */
#define BOUNDS_DEFAULT_LOG_LINES 100
#define BOUNDS_DEFAULT_LOG_BYTES (64u << 10)
/* a connection's memory, of what the service may use: never more than a quarter */
#define BOUNDS_MEMORY_SHARE 4

enum bounds_kind {
	BOUNDS_RLIMIT,   /* rlimits on each process and on the sandbox's user namespace */
	BOUNDS_CGROUP,   /* the connection's cgroup */
};

struct bounds {
	uint64_t memory;         /* bytes */
	uint32_t tasks;
	uint32_t cpu_weight;     /* 1 to 10000; a cgroup's only */
	uint32_t log_lines;      /* stderr lines per second */
	uint64_t log_bytes;      /* stderr bytes in all */
};

/* The daemon's side: its defaults and how they are enforced. */
struct bounds_opts {
	struct bounds dflt;      /* every chain's, but for its own keys */
	enum bounds_kind kind;
	uint64_t service_memory; /* what the service may use (its cgroup's limit, else the machine's memory) */
	bool service_limited;    /* service_memory is a cgroup's limit (MemoryMax=), not the machine's memory */
	char detail[256];        /* how, for the start-up line and check */
};

const char *bounds_kind_name(enum bounds_kind k);

/*
 * O's defaults: MEMORY and TASKS as given (0: the default, a quarter of
 * what the service may use, and BOUNDS_DEFAULT_TASKS), enforced by KIND.
 */
void bounds_defaults(struct bounds_opts *o, uint64_t memory, uint32_t tasks, enum bounds_kind kind);

/* The bounds of a connection through CH (NULL: the defaults): its own keys, else O's. */
struct bounds bounds_of(const struct bounds_opts *o, const struct qp_chain *ch);

/*
 * Whether the daemon's tasks fit under LIMIT (the service's TasksMax=,
 * pids.max): the worst case of CFG's chains filling MAX_CONNECTIONS slots
 * (each at its tasks_max, a chain's own max_connections respected), the
 * spare, and the daemon's own processes (the listener, every supervisor
 * running or queued, every connector). *NEED gets the worst case.
 */
bool bounds_tasks_fit(const struct qp_config *cfg, const struct bounds_opts *o, int max_connections,
		      int max_queued, uint64_t limit, uint64_t *need);

/*
 * What a connection through CH gets, for check ("memory 75 MiB, 64 tasks,
 * CPU weight 100 (its cgroup); stderr 100 lines/s, 64 KiB"). TASKS_BOUND:
 * without a cgroup, whether its sandbox has a user namespace of its own,
 * the only place RLIMIT_NPROC counts one connection's tasks.
 */
void bounds_describe(FILE *out, const struct bounds_opts *o, const struct qp_chain *ch, bool tasks_bound);

#endif
