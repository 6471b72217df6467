/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_STARTUP_H
#define QP_STARTUP_H

/*
 * The daemon's start-up policy, shared by the modes that run
 * connections (serve, exec, run) and check: loading the configuration
 * (fatal, or logged and survived under socket activation), the baseline
 * seccomp program, the isolation decided by trying it, the steps' own
 * argument checks, the pipe budget, the capabilities nothing it starts
 * may inherit.
 */
#include <linux/filter.h>

#include "bounds.h"
#include "config.h"
#include "isolate.h"
#include "options.h"
#include "pipecap.h"

/* The configuration, or exit 100 with the messages on stderr. */
struct qp_config *startup_load_or_die(const char *file);
/* The configuration with every problem logged, or NULL. */
struct qp_config *startup_load_logged(const char *file);
/* The baseline seccomp program of filters and admission checks; exits 111 if it cannot be built. */
void startup_seccomp(struct sock_fprog *prog);
/* Many pipes per connection, many connections: the hard fd limit. */
void startup_raise_nofile(void);
/* Where the admission checks keep their state: systemd's StateDirectory=, else the default. */
const char *startup_state_directory(void);
/* The isolation of every connection, decided once and tried (exits 100 when the one asked for does not work). */
void startup_isolation(const struct options *o, const struct qp_config *cfg, const char *socket_path,
		       struct isolate_policy *pol);
/* The steps' own argument checks, every problem logged: their number, -1 when they could not run. */
int startup_argcheck_logged(const struct qp_config *cfg, const struct isolate_policy *pol,
			    const struct sock_fprog *prog);
/* The same, and none may remain: exits otherwise. */
void startup_argcheck_or_die(const struct qp_config *cfg, const struct isolate_policy *pol,
			     const struct sock_fprog *prog);
/* Says, at start, which chains cannot run without isolation. */
void startup_warn_unisolated(const struct qp_config *cfg, const struct isolate_policy *pol);
/* The pipes' budget (--pipe-memory or its default) and what the kernel allows of it. */
void startup_pipe_memory(struct options *o, enum pipecap cap);
/* Before anything is forked: no filter, check or connector may inherit a capability. */
enum pipecap startup_keep_pipecap(void);
/*
 * Before anything is forked (serve): a cgroup per connection where the
 * daemon has one to divide (--connection-cgroup), and the connections'
 * bounds (--connection-memory, --connection-tasks) into B; CGROUP_WHY
 * says what was found. Exits 100 when --connection-cgroup yes cannot be.
 */
void startup_bounds(const struct options *o, struct bounds_opts *b, char *cgroup_why, size_t size);
/* Says how connections are bounded, and whether the service's task limit fits CFG's worst case. */
void startup_bounds_log(const struct options *o, const struct qp_config *cfg, const struct isolate_policy *pol,
			const struct bounds_opts *b, const char *cgroup_why);

#endif
