/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_SUPERVISE_H
#define QP_SUPERVISE_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/filter.h>

#include "config.h"
#include "isolate.h"

struct warm;
struct bounds_opts;
struct cgroup_conn;

enum qp_result {
	QP_OK,        /* every process ended with 0, both directions closed */
	QP_REFUSED,   /* an admission check said no; nothing was started */
	QP_ABORTED,   /* a process failed, or the caller went away */
	QP_FAILED,    /* the supervisor itself could not go on (a system call failed) */
	QP_CALLER_GONE, /* the caller went away (closed the socket) before the connection ended */
	QP_QUEUE_TIMEOUT, /* over a limit, it waited its queue timeout for a slot; nothing was started */
	QP_QUEUE_FULL,  /* over a limit, with too many waiting already; nothing was started */
	QP_ENDED,       /* ended by the listener: `qrexec-proxy end` (end.h); its summary is the listener's */
};

struct supervise_args {
	const struct qp_chain *chain;
	const char *source;
	const char *target;
	const char *service;       /* DSTSERVICE[+ARG] */
	const char *conn_id;
	char *const *connector;    /* expanded argv; argv[0] is the path to execute */
	int in_fd;                 /* data from the source */
	int out_fd;                /* data to the source; == in_fd for a socket */
	const struct sock_fprog *seccomp; /* baseline for filters and admission checks */
	const struct isolate_policy *isolation; /* the boundary around them (isolate_setup) */
	int admit_timeout_ms;
	int idle_timeout_ms;       /* the default for chains without idle_timeout; 0: none */
	int pipe_size;             /* F_SETPIPE_SZ for every data pipe of the pipeline; 0: kernel default */
	int limits_fd;             /* the admission channel to the listener (connlimits.h); -1: none, run at once */
	bool pregranted;           /* admitted before it asked: it asks, and runs without waiting for the grant */
	int64_t start_ns;          /* when the connection was accepted (0: now) */
	struct isolate_prepared *prepared; /* a filter sandbox built ahead under isolation, or NULL */
	struct warm *warm;         /* filters started ahead in a sandbox of their own (warm.h), or NULL */
	const struct bounds_opts *bounds; /* what a connection may use (bounds.h); NULL: the defaults, by rlimits */
	struct cgroup_conn *cgroup; /* the connection's cgroup (cgroup.h; dir -1: none), or NULL */
};

struct supervise_result {
	enum qp_result result;
	bool connector_started;
	int connector_status;      /* wait status, valid if the connector was reaped */
	bool connector_reaped;
	uint64_t bytes_src2dst;    /* moved from the source into the pipeline */
	uint64_t bytes_dst2src;    /* moved from the pipeline to the source */
	int64_t queued_ms;         /* how long it waited for a slot */
	int min_pipe;              /* the smallest size its data pipes had (bytes; 0: none made) */
	char reason[256];
};

/*
 * Runs one connection: admission checks, then the filters and the
 * connector as one process group wired with pipes, moving bytes between
 * the caller's fds and the ends of the pipeline until every process has
 * ended. Logs one summary line. Returns the result also in RES.
 */
enum qp_result supervise_connection(const struct supervise_args *a, struct supervise_result *res);

/*
 * Kills and reaps every child the calling process has left: what a filter
 * forked and left behind comes to a child subreaper (a supervisor, a
 * spare) when its parent ends.
 */
void supervise_end_orphans(void);

const char *qp_result_name(enum qp_result r);

#endif
