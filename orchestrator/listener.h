/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_LISTENER_H
#define QP_LISTENER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/filter.h>

#include "config.h"
#include "serve.h"

#define LISTENER_MAX_PEER_UIDS 32

struct listener_opts {
	const char *config_file;
	struct serve_opts serve;  /* what every connection runs with */
	int max_connections;      /* connections running at once; more wait (connlimits.h) */
	int max_per_source;       /* running at once per source */
	int max_queued;           /* waiting at once, in all; past max_connections + this, accept() waits */
	int max_queued_per_source;
	int queue_timeout_ms;     /* for chains without queue_timeout */
	uint64_t pipe_memory;     /* the budget for all connections' pipes */
	int grace_ms;             /* after SIGTERM, how long running connections may go on */
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
 * The listener: accepts connections and forks one supervisor for each
 * (serve.h), or hands it to the spare forked ahead (spare.h); keeps the
 * book of limits and pipe shares (connlimits.h) over each supervisor's
 * admission channel; writes the supervisors' log messages (logrelay.h);
 * answers `status` (status.h). It never reads connection data.
 *
 * SIGHUP reloads the configuration (a bad file keeps the old one);
 * SIGTERM stops accepting and waits for the running connections up to
 * the grace period; a second SIGTERM ends them at once. Takes ownership
 * of *CFG (it may be replaced on reload). *CFG NULL: the configuration
 * did not load at start; every call is refused until a reload loads
 * one. A SIGHUP sent with sigqueue() by 'qrexec-proxy reload' is answered
 * with the verdict (reload.h). Returns the exit code.
 */
int listener_run(int listen_fd, struct qp_config **cfg, const struct sock_fprog *seccomp,
		 const struct listener_opts *o);

#endif
