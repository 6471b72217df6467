/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The supervisor, entry and set-up (see serve.h). serve_fork() gives up
 * the listener's fds and memory, then serve_connection() reads the
 * descriptor, routes the call and hands it to supervise_connection().
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bounds.h"
#include "cgroup.h"
#include "descriptor.h"
#include "log.h"
#include "phases.h"
#include "route.h"
#include "serve.h"
#include "summary.h"
#include "supervise.h"
#include "util.h"

/* ---- what a child of the listener gives up ---- */

#define FORGET_MAX 24

static int *forget_fds[FORGET_MAX];
static size_t nforget_fds;
struct forget_entry {
	void (*fn)(void *);
	void *arg;
};
static struct forget_entry forget_mem[FORGET_MAX];
static size_t nforget_mem;

void serve_forget_fd(int *fd)
{
	if (nforget_fds < FORGET_MAX)
		forget_fds[nforget_fds++] = fd;
	else
		die_x(111, "too many of the listener's fds to forget in its children");
}

void serve_forget_memory(void (*fn)(void *), void *arg)
{
	if (nforget_mem < FORGET_MAX)
		forget_mem[nforget_mem++] = (struct forget_entry){ fn, arg };
	else
		die_x(111, "too many of the listener's tables to forget in its children");
}

void serve_forget_in_child(bool memory)
{
	for (size_t i = 0; i < nforget_fds; i++)
		if (*forget_fds[i] >= 0)
			close(*forget_fds[i]);
	if (memory)
		for (size_t i = 0; i < nforget_mem; i++)
			forget_mem[i].fn(forget_mem[i].arg);
}

/* ---- forking a supervisor ---- */

/* A new connection's admission channel: the listener's end non-blocking, both close-on-exec. */
static int make_channel(int sv[2])
{
	/* SEQPACKET: one message per send, and EOF when the supervisor is gone */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	if (fd_set_nonblock(sv[0], true) < 0) {
		close_pair(sv);
		return -1;
	}
	return 0;
}

pid_t serve_fork(const struct serve_ctx *x, int fd, const char *id, int64_t start_ns, int *chan,
		 void (*run_instead)(int chan, void *arg), void *arg)
{
	int sv[2];
	if (make_channel(sv) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		close_pair(sv);
		return -1;
	}
	if (pid > 0) {
		close(sv[1]);
		*chan = sv[0];
		return pid;
	}
	/* nothing of the other connections: not their channels, not the book */
	serve_forget_in_child(true);
	close(sv[0]);
	int code;
	if (fd < 0) {
		run_instead(sv[1], arg);
		code = 111; /* a spare does not return */
	} else {
		code = serve_connection(x, fd, sv[1], id, NULL, NULL, NULL, start_ns, false);
	}
	config_free(x->cfg);
	exit(code);
}

/* ---- one connection ---- */

/* the filters of every chain, each program once: all of them may start in a sandbox built ahead */
static const char **all_programs(const struct qp_config *cfg, size_t *n)
{
	size_t total = 0, k = 0;
	for (size_t c = 0; c < cfg->nchains; c++)
		total += cfg->chains[c].nfilters;
	const char **programs = total ? calloc(total, sizeof(*programs)) : NULL;
	if (!programs)
		return NULL;
	for (size_t c = 0; c < cfg->nchains; c++)
		for (size_t i = 0; i < cfg->chains[c].nfilters; i++) {
			const char *path = cfg->chains[c].filters[i].path;
			bool seen = false;
			for (size_t j = 0; j < k && !seen; j++)
				seen = !strcmp(programs[j], path);
			if (!seen)
				programs[k++] = path;
		}
	*n = k;
	return programs;
}

void serve_cgroup(const struct serve_ctx *x, const struct qp_chain *ch, struct cgroup_conn *cg)
{
	struct bounds b = bounds_of(x->o->bounds, ch);
	if (cgroup_conn_create(cg, &b) < 0)
		log_sys(LOG_WARNING, "unable to make the connection's cgroup: rlimits bound it instead");
}

void serve_prepare(const struct serve_ctx *x, const struct cgroup_conn *cg, struct isolate_prepared *prep)
{
	const struct isolate_policy *pol = x->o->isolation;
	prep->ctl = -1;
	prep->sb.pid = -1;
	prep->sb.events = -1;
	if (!x->cfg || !pol || pol->mech == ISOLATE_NONE)
		return;
	size_t n = 0;
	const char **programs = all_programs(x->cfg, &n);
	if (!programs)
		return;
	if (isolate_prepare(pol, ISOLATE_FILTERS, programs, n, x->seccomp, cg->procs, prep) < 0)
		log_sys(LOG_DEBUG, "unable to prepare a sandbox ahead of the connection");
	free(programs);
}

/*
 * A call refused before anything started: the caller sees an immediate
 * EOF (a socket service's caller always gets exit code 0 and no stderr),
 * and the summary says who asked for what and why it was refused.
 */
static int refuse(int fd, const char *id, int64_t start_ns, const struct qp_descriptor *d, const struct route *r,
		  const char *reason)
{
	const char *service = d ? d->service_name : NULL;
	if (r && r->call.service)
		service = r->call.service;
	summary_log_refused(id, d ? d->source : NULL, r ? r->call.target : NULL, service, r ? r->call.chain : NULL,
			    reason, (mono_ns() - start_ns) / 1000);
	shutdown(fd, SHUT_RDWR);
	close(fd);
	return 1;
}

/* The descriptor: read exactly to its NUL, parsed. 0, or -1 after the refusal. */
static int take_descriptor(const struct serve_ctx *x, int fd, const char *id, int64_t start, char *buf,
			   struct qp_descriptor *d)
{
	size_t len;
	const char *why;
	char reason[160];
	enum descriptor_status st = descriptor_read(fd, buf, QP_DESCRIPTOR_MAX + 1, x->o->descriptor_timeout_ms, &len);
	if (st != DESC_OK) {
		snprintf(reason, sizeof(reason), "descriptor: %s", descriptor_strstatus(st));
		refuse(fd, id, start, NULL, NULL, reason);
		return -1;
	}
	if (descriptor_parse(buf, len, d, &why) < 0) {
		snprintf(reason, sizeof(reason), "malformed service descriptor: %s", why);
		refuse(fd, id, start, NULL, NULL, reason);
		return -1;
	}
	return 0;
}

int serve_connection(const struct serve_ctx *x, int fd, int limits_fd, const char *id,
		     struct isolate_prepared *prep, struct warm *warm, struct cgroup_conn *cg, int64_t start_ns,
		     bool pregranted)
{
	int64_t start = start_ns ? start_ns : mono_ns();
	struct qp_descriptor d;
	struct route r = { 0 };
	struct isolate_prepared own;
	struct cgroup_conn own_cg = { .dir = -1, .procs = -1 };
	int rc = 1;
	char *buf = malloc(QP_DESCRIPTOR_MAX + 1);

	phases_enable(x->o->trace_phases);
	phase_mark_at(PHASE_ACCEPTED, start);
	phase_mark(PHASE_HANDED);
	struct log_connection lc = { .id = id };
	log_set_connection(&lc);
	if (!buf) {
		log_sys(LOG_ERR, "connection %s: out of memory", id);
		close(fd);
		return 111;
	}
	if (take_descriptor(x, fd, id, start, buf, &d) < 0)
		goto out;
	enum route_status rs = route_call(x->cfg, d.service_name, d.argument, d.source, &r);
	lc.source = d.source;
	lc.target = r.call.target;
	lc.service = r.call.service;
	lc.chain = r.call.chain;
	log_set_connection(&lc);
	if (rs != ROUTE_OK) {
		if (rs == ROUTE_FAILED)
			log_msg(LOG_ERR, "connection %s: %s", id, r.reason);
		rc = refuse(fd, id, start, &d, &r, r.reason);
		if (rs == ROUTE_FAILED)
			rc = 111;
		goto out;
	}
	phase_mark(PHASE_ROUTED);
	if (!cg) {
		serve_cgroup(x, r.chain, &own_cg);
		cg = &own_cg;
	}
	if (!prep) {
		serve_prepare(x, cg, &own);
		prep = &own;
	}
	struct supervise_args a = {
		.chain = r.chain,
		.source = d.source,
		.target = r.call.target,
		.service = r.call.service,
		.conn_id = id,
		.connector = r.connector,
		.in_fd = fd,
		.out_fd = fd,
		.seccomp = x->seccomp,
		.isolation = x->o->isolation,
		.admit_timeout_ms = x->o->admit_timeout_ms,
		.idle_timeout_ms = x->o->idle_timeout_ms,
		.pipe_size = x->o->pipe_size,
		.limits_fd = limits_fd,
		.pregranted = pregranted,
		.start_ns = start,
		.prepared = prep,
		.warm = warm,
		.bounds = x->o->bounds,
		.cgroup = cg,
	};
	struct supervise_result res;
	enum qp_result q = supervise_connection(&a, &res);
	close(fd);
	if (prep == &own)
		isolate_discard(&own);
	/* whatever a filter left behind outside a PID namespace is ended with its cgroup */
	if (cg == &own_cg) {
		supervise_end_orphans();
		cgroup_conn_remove(&own_cg);
	}
	rc = q == QP_OK ? 0 : q == QP_FAILED ? 111 : 1;
out:
	route_free(&r);
	free(buf);
	return rc;
}
