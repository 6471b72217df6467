/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_SERVE_H
#define QP_SERVE_H

/*
 * The supervisor: one connection of serve, from the fd it gets to its
 * end. Forked by the listener only through serve_fork(), either for a
 * connection just accepted or ahead of one as the spare (spare.h). It
 * first gives up everything of the listener's (serve_forget_*): the
 * listening socket, the signalfd, the control socket, the log relay's
 * reading end, the other connections' channels and the book. It then
 * reads the descriptor, routes the call (route.h), waits for its slot and
 * runs it (supervise.h), and exits with the connection.
 */
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/filter.h>

#include "config.h"
#include "isolate.h"

struct warm;
struct bounds_opts;
struct cgroup_conn;

/* What every connection of serve is run with (the listener's options embed it). */
struct serve_opts {
	int descriptor_timeout_ms;
	int admit_timeout_ms;
	int idle_timeout_ms;      /* for chains without idle_timeout; 0: none */
	int pipe_size;            /* the largest a data pipe may be */
	const struct isolate_policy *isolation;
	const struct bounds_opts *bounds; /* what a connection may use, and how (bounds.h) */
	bool trace_phases;        /* log when each phase of a connection happened (phases.h) */
};

/* What a supervisor is forked with: the configuration of the moment (NULL: none loaded) and the baseline. */
struct serve_ctx {
	struct qp_config *cfg;
	const struct sock_fprog *seccomp;
	const struct serve_opts *o;
};

/*
 * The one list of what a child of the listener gives up: FD (read when
 * the child is forked, so it may change meanwhile) is closed; FN(ARG)
 * frees the listener's memory of other connections.
 */
void serve_forget_fd(int *fd);
void serve_forget_memory(void (*fn)(void *), void *arg);
/* In a child of the listener: closes every fd of the list and, with MEMORY, frees what is listed. */
void serve_forget_in_child(bool memory);

/*
 * Forks a supervisor with an admission channel of its own (connlimits.h):
 * with FD >= 0 the connection accepted on it (ID, accepted at START_NS),
 * served at once; with FD -1 a spare, which runs RUN_INSTEAD(its end
 * of the channel, ARG) instead. Returns the pid, the listener's end of the
 * channel in *CHAN (non-blocking), or -1 with errno (FD is still the
 * caller's).
 */
pid_t serve_fork(const struct serve_ctx *x, int fd, const char *id, int64_t start_ns, int *chan,
		 void (*run_instead)(int chan, void *arg), void *arg);

/*
 * Builds, under the daemon's isolation, the sandbox a connection's filters
 * will run in before its chain is known (every filter of the configuration
 * may start in it), in the connection's cgroup CG; PREP is left empty
 * where it cannot be, and the connection then builds its own.
 */
void serve_prepare(const struct serve_ctx *x, const struct cgroup_conn *cg, struct isolate_prepared *prep);

/*
 * Serves the connection on FD in this process (a supervisor): reads and
 * checks the descriptor, routes the call, asks the listener for a slot
 * over LIMITS_FD (-1: none, run at once) and runs it, in the sandbox PREP
 * prepared in the cgroup CG (NULL: both are made) with WARM, the filters
 * started ahead (warm.h), or NULL. START_NS: when it was accepted (0:
 * now). PREGRANTED: the listener admitted it before it asked
 * (connlimits.h): it asks all the same, and does not wait for the answer.
 * Every connection ends with one summary. Returns the process exit code.
 */
int serve_connection(const struct serve_ctx *x, int fd, int limits_fd, const char *id,
		     struct isolate_prepared *prep, struct warm *warm, struct cgroup_conn *cg, int64_t start_ns,
		     bool pregranted);

/* The connection cgroup of this supervisor (or spare), with the bounds of CH (NULL: the defaults). */
void serve_cgroup(const struct serve_ctx *x, const struct qp_chain *ch, struct cgroup_conn *cg);

#endif
