/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_LISTENER_H
#define QP_LISTENER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/filter.h>

#include "config.h"
#include "isolate.h"

#define LISTENER_MAX_PEER_UIDS 32

struct listener_opts {
	const char *config_file;
	int max_connections;      /* connections running at once; more wait (connlimits.h) */
	int max_per_source;       /* running at once per source */
	int max_queued;           /* waiting at once, in all; past max_connections + this, accept() waits */
	int max_queued_per_source;
	int queue_timeout_ms;     /* for chains without queue_timeout */
	uint64_t pipe_memory;     /* the budget for all connections' pipes */
	int grace_ms;             /* after SIGTERM, how long running connections may go on */
	int descriptor_timeout_ms;
	int admit_timeout_ms;
	int idle_timeout_ms;      /* for chains without idle_timeout; 0: none */
	int pipe_size;            /* the largest a data pipe may be */
	const struct isolate_policy *isolation;
	const char *control_path; /* the status control socket (status.h); NULL: none */
	bool spare;               /* keep a supervisor forked and its sandbox built ahead of the next connection (spare.h) */
	/*
	 * Who may connect (SO_PEERCRED): these uids; none given: root and the
	 * members of group qubes (qrexec-agent and its fork server). Never a
	 * uid the filters run under, nor the daemon's own (unless root).
	 */
	const uid_t *peer_uids;
	size_t npeer_uids;
};

/*
 * The accept loop: one forked supervisor per connection. Never reads
 * connection data. SIGHUP reloads the configuration (a bad file keeps the
 * old one), SIGTERM stops accepting and waits for the running connections
 * up to the grace period; a second SIGTERM ends them at once.
 * Takes ownership of *CFG (it may be replaced on reload). *CFG NULL: the
 * configuration did not load at start; every call is refused until a
 * reload loads one. A SIGHUP sent with sigqueue() by 'qrexec-proxy reload'
 * is answered with the verdict (reload.h). Supervisors' own messages are
 * written by the listener (logrelay.h). Returns the exit code.
 */
int listener_run(int listen_fd, struct qp_config **cfg, const struct sock_fprog *seccomp,
		 const struct listener_opts *o);

/* Binds a UNIX stream socket at PATH, replacing a stale socket but never another file. */
int listener_bind(const char *path);

/*
 * One connection on socket FD, in the supervisor process: reads and checks
 * the descriptor, finds the chain (CFG NULL: refuses it), asks the
 * listener for a slot over LIMITS_FD (its end of the admission channel;
 * -1: none, run at once) and runs it. Returns the process exit code.
 */
int serve_connection(int fd, int limits_fd, const char *id, const struct qp_config *cfg,
		     const struct sock_fprog *seccomp, const struct listener_opts *o, int64_t start_ns);

struct isolate_prepared;
struct warm;
/*
 * Builds, under the daemon's isolation, the sandbox a connection's filters
 * will run in before its chain is known (every filter of CFG may start in
 * it); PREP is left empty where it cannot be, and the connection then
 * builds its own. The supervisor's first step (spare.h).
 */
void serve_prepare(const struct qp_config *cfg, const struct sock_fprog *seccomp, const struct listener_opts *o,
		   struct isolate_prepared *prep);
/*
 * serve_connection with the sandbox PREP prepared, and WARM, the filters
 * started ahead in it (warm.h), or NULL; START_NS: when it was accepted
 * (0: now).
 */
int serve_prepared(int fd, int limits_fd, const char *id, const struct qp_config *cfg,
		   const struct sock_fprog *seccomp, const struct listener_opts *o, struct isolate_prepared *prep,
		   struct warm *warm, int64_t start_ns);

#endif
