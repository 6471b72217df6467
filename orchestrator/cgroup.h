/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_CGROUP_H
#define QP_CGROUP_H

/*
 * A cgroup v2 of its own for every connection's sandboxes, where the
 * kernel gives the daemon a subtree to divide (the unit with Delegate=yes,
 * a root run in a cgroup of its own): the connection's memory
 * (memory.max, no swap), tasks (pids.max) and CPU weight are its own, and
 * an OOM kill inside it ends all of it at once (memory.oom.group), never
 * the daemon's processes, which stay in a leaf of their own ("daemon").
 * Where there is none (no delegation, a cgroup v1 host, no root), the
 * rlimits of bounds.h bound each process instead.
 *
 * Also the reading of what the cgroups the daemon runs in let it use
 * (the unit's MemoryMax=, TasksMax=), v1 and v2 alike, and the count of
 * OOM kills: a connection's own, or else the machine's.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct bounds;

enum cgroup_mode {
	CGROUP_AUTO,  /* per connection where a delegated subtree has the memory and pids controllers */
	CGROUP_NO,    /* never */
	CGROUP_YES,   /* wherever a delegated subtree exists, controllers or not; the start fails without one */
};

int cgroup_parse_mode(const char *s, enum cgroup_mode *out);

/*
 * At the daemon's start, before it forks anything: finds its own cgroup v2
 * and, when MODE allows and it is the daemon's to divide, moves the daemon
 * into the leaf "daemon" and enables the memory, pids and cpu controllers
 * for the connections' cgroups. WHY says what was found (for the start-up
 * line). Returns 1 when connections get cgroups, 0 when they do not, -1
 * when MODE is CGROUP_YES and they cannot.
 */
int cgroup_setup(enum cgroup_mode mode, char *why, size_t size);
/*
 * What cgroup_setup would find here, changing nothing (for check): 1 when
 * connections' cgroups would bound their memory and tasks, 0 when rlimits
 * would, -1 as cgroup_setup; WHY as it says.
 */
int cgroup_probe(enum cgroup_mode mode, char *why, size_t size);
/* Whether connections get a cgroup; whether it bounds their memory and tasks (both controllers). */
bool cgroup_enabled(void);
bool cgroup_bounds(void);

/*
 * What the cgroups the calling process runs in let it use: the smallest
 * memory.max (v2) or hierarchical memory limit (v1) on the way up, in
 * bytes; 0 when none. The same for pids.max (tasks).
 */
uint64_t cgroup_memory_limit(void);
uint64_t cgroup_tasks_limit(void);

/* One connection's cgroup, held by its supervisor (a spare's from before its call). */
struct cgroup_conn {
	int dir;              /* -1: none */
	int procs;            /* its cgroup.procs, for the sandbox's init to move itself there */
	char name[32];        /* conn-PID, PID the supervisor's */
	uint64_t oom_start;   /* the OOM kills counted when its call came (machine-wide without one) */
	uint64_t memory;      /* the bounds written into it, not written again */
	uint32_t tasks, cpu_weight;
};

/*
 * Makes the calling supervisor's connection cgroup with bounds B (no
 * cgroup: CG->dir and CG->procs -1, and 0 is returned). -1 with errno
 * when it could not be made.
 */
int cgroup_conn_create(struct cgroup_conn *cg, const struct bounds *b);
/* Writes B's memory, tasks and CPU weight into CG (the chain's, once it is known). 0, or -1 with errno. */
int cgroup_conn_limit(struct cgroup_conn *cg, const struct bounds *b);
/* From now on: the OOM kills counted are those of the connection (called when its call is known). */
void cgroup_conn_mark(struct cgroup_conn *cg);
/*
 * OOM kills since cgroup_conn_mark (with no cgroup, the machine's, from
 * /proc/vmstat): 0 when none, -1 when they cannot be counted.
 */
int64_t cgroup_conn_oom_kills(const struct cgroup_conn *cg);
/* Removes CG once its processes are gone (killing what is left); harmless when there is none. */
void cgroup_conn_remove(struct cgroup_conn *cg);

/* The memory (bytes) and tasks of the connection whose supervisor is PID; -1 when it has no cgroup that counts them. */
int cgroup_usage(pid_t supervisor, uint64_t *memory, uint64_t *tasks);

#endif
