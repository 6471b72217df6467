/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_LISTENER_H
#define QP_LISTENER_H

#include <linux/filter.h>

#include <sys/types.h>

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
 * Takes ownership of *CFG (it may be replaced on reload). Returns the exit code.
 */
int listener_run(int listen_fd, struct qp_config **cfg, const struct sock_fprog *seccomp,
		 const struct listener_opts *o);

/* Binds a UNIX stream socket at PATH, replacing a stale socket but never another file. */
int listener_bind(const char *path);

/*
 * One connection on socket FD, in the supervisor process: reads and checks
 * the descriptor, finds the chain, asks the listener for a slot over
 * LIMITS_FD (its end of the admission channel; -1: none, run at once) and
 * runs it. Returns the process exit code.
 */
int serve_connection(int fd, int limits_fd, const char *id, const struct qp_config *cfg,
		     const struct sock_fprog *seccomp, const struct listener_opts *o);

#endif
