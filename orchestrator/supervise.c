/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One connection inside its supervisor, phase by phase: the slot, the
 * admission checks, the pipeline, the bytes until every process has
 * ended, the summary. The children are procs.c's, the slot and the pipe
 * sizes slot.c's, the bytes relay.c's (conn.h ties them together).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "qpf-contract.h"
#include "conn.h"
#include "log.h"
#include "phases.h"
#include "pipeline.h"
#include "summary.h"
#include "util.h"
#include "warm.h"

const char *qp_result_name(enum qp_result r)
{
	switch (r) {
	case QP_OK:
		return "ok";
	case QP_REFUSED:
		return "refused";
	case QP_ABORTED:
		return "aborted";
	case QP_FAILED:
		return "failed";
	case QP_CALLER_GONE:
		return "caller-gone";
	case QP_QUEUE_TIMEOUT:
		return "queue-timeout";
	case QP_QUEUE_FULL:
		return "queue-full";
	case QP_ENDED:
		return "ended";
	}
	return "unknown";
}

/* The argv of a step: its name, then its arguments (borrowed). */
/*
 * The admission checks, one after another in a sandbox of their own (the
 * only one that sees the state directory), each within the admission
 * timeout. No verdict is a refusal: admission fails closed.
 */
static int run_admission(struct conn *c)
{
	const struct qp_chain *ch = c->a->chain;
	size_t n = ch->nadmit;
	int timeout_ms = c->a->admit_timeout_ms;
	int rc = -1;

	if (n == 0)
		return 0;
	struct isolate_proc *ip = calloc(n, sizeof(*ip));
	char **argvs[QP_MAX_PROCS] = { NULL };
	size_t *map = calloc(n, sizeof(*map));
	c->procs = calloc(n, sizeof(*c->procs));
	if (!ip || !map || !c->procs || n > QP_MAX_PROCS) {
		free(map);
		conn_reason(c, n > QP_MAX_PROCS ? "too many admission checks" : "out of memory");
		goto out;
	}
	c->nprocs = n;
	for (size_t i = 0; i < n; i++) {
		const struct qp_step *s = &ch->admit[i];
		struct proc *p = &c->procs[i];
		p->pid = -1;
		p->err_fd = -1;
		snprintf(p->tag, sizeof(p->tag), "admit %s", s->name);
		argvs[i] = pipeline_step_argv(s);
		if (!argvs[i]) {
			free(map);
			conn_reason(c, "out of memory");
			goto out;
		}
		/* no data: stdin is /dev/null, stdout joins stderr in the log */
		ip[i] = (struct isolate_proc){ s->path, argvs[i], c->env_filter[0], { c->devnull, -1, -1 } };
		map[i] = i;
	}
	c->admitting = true;
	if (procs_start_sandbox(c, ISOLATE_ADMISSION, ip, n, map) < 0)
		goto done;

	size_t decided = 0;
	int64_t deadline = mono_ms() + timeout_ms;
	struct pollfd pf[2 + QP_MAX_PROCS];
	while (!c->aborting) {
		size_t ok = 0;
		for (size_t i = 0; i < n; i++)
			ok += c->procs[i].reaped && WIFEXITED(c->procs[i].status) && WEXITSTATUS(c->procs[i].status) == 0;
		if (ok == n)
			break;
		if (ok > decided) {
			/* the next check starts now, with a time of its own */
			decided = ok;
			deadline = mono_ms() + timeout_ms;
		}
		int64_t left = deadline - mono_ms();
		if (left <= 0) {
			conn_reason(c, "%s did not decide within %d ms", c->procs[decided].tag, timeout_ms);
			conn_abort(c, "no verdict");
			break;
		}
		size_t k = 0;
		pf[k++] = (struct pollfd){ .fd = c->sigfd, .events = POLLIN };
		pf[k++] = (struct pollfd){ .fd = c->sb.events, .events = POLLIN };
		for (size_t i = 0; i < n; i++)
			if (c->procs[i].err_fd >= 0)
				pf[k++] = (struct pollfd){ .fd = c->procs[i].err_fd, .events = POLLIN };
		if (c->sb.events < 0)
			pf[1].fd = -1;
		int r = poll(pf, k, (int)left);
		if (r < 0 && errno != EINTR) {
			log_sys(LOG_ERR, "unable to poll");
			conn_abort(c, "unable to poll");
			break;
		}
		for (size_t i = 0; i < n; i++)
			procs_drain_stderr(c, &c->procs[i]);
		if (r > 0 && (pf[1].revents & (POLLIN | POLLHUP)))
			procs_sandbox_drain(c);
		if (r > 0 && (pf[0].revents & POLLIN))
			procs_read_signals(c);
		if (c->sb.events < 0 && !c->aborting) {
			size_t reaped_ok = 0;
			for (size_t i = 0; i < n; i++)
				reaped_ok += c->procs[i].reaped && WIFEXITED(c->procs[i].status) &&
					     WEXITSTATUS(c->procs[i].status) == 0;
			if (reaped_ok < n)
				conn_abort(c, "the admission sandbox ended early");
		}
	}
	rc = c->aborting ? -1 : 0;
done:
	/* admitted: the init ends by itself after the last verdict; otherwise end it now */
	if (rc < 0)
		procs_kill_all(c);
	procs_reap_all(c);
	for (size_t i = 0; i < n; i++) {
		procs_drain_stderr(c, &c->procs[i]);
		if (c->procs[i].err_fd >= 0)
			close(c->procs[i].err_fd);
	}
	c->admitting = false;
out:
	for (size_t i = 0; i < n && i < QP_MAX_PROCS; i++)
		free(argvs[i]);
	free(ip);
	free(c->procs);
	c->procs = NULL;
	c->nprocs = 0;
	procs_sandbox_forget(c);
	return rc;
}

/*
 * Takes the warm pipeline (warm.h), made for this chain: its filters run
 * already in their sandbox, each waiting for its environment, and its
 * pipes are those start_pipeline() would have made (PIPES gets them).
 */
static int adopt_warm(struct conn *c, const struct hop *hops, int (*pipes)[2])
{
	struct warm *w = c->a->warm;
	int rc = 0;

	c->sb = w->sb;
	w->sb.pid = -1;
	w->sb.events = -1;
	c->sb_map = calloc(w->n ? w->n : 1, sizeof(*c->sb_map));
	c->sb_n = c->sb_map ? w->n : 0;
	c->sb_started = 0;
	c->sb_reaped = false;
	for (size_t i = 0; i < w->nhops + 2; i++) {
		pipes[i][0] = w->pipes[i][0];
		pipes[i][1] = w->pipes[i][1];
		w->pipes[i][0] = w->pipes[i][1] = -1;
		/* made at the kernel's default size: now the connection's share */
		slot_set_pipe_size(c, pipes[i][0], slot_busy_pipe_size(c, i), NULL);
		if (c->pipe_path) {
			c->pipe_path[i] = w->pipe_path[i];
			w->pipe_path[i] = -1;
		}
	}
	if (!c->sb_map) {
		conn_reason(c, "out of memory");
		rc = -1;
		goto out;
	}
	for (size_t i = 0; i < w->n; i++) {
		size_t h = w->map[i];
		const struct hop *hp = &hops[h];
		struct proc *p = &c->procs[h];
		c->sb_map[i] = h;
		pipeline_hop_tag(p->tag, sizeof(p->tag), hp);
		p->in_sandbox = true;
		p->err_fd = w->env_fd[i];
		w->env_fd[i] = -1;
	}
out:
	warm_discard(w);
	return rc;
}

/*
 * Hands each filter of the adopted warm pipeline its environment, which
 * it waits for on its stderr socket (warm.h): from here on it runs.
 */
static int wake_warm(struct conn *c, const struct hop *hops)
{
	for (size_t i = 0; i < c->sb_n; i++) {
		struct proc *p = &c->procs[c->sb_map[i]];
		char *const *env = c->env_filter[hops[c->sb_map[i]].dir];
		if (warm_send_fd(p->err_fd, env) < 0) {
			log_sys(LOG_ERR, "unable to hand %s its environment", p->tag);
			conn_reason(c, "unable to start %s", p->tag);
			return -1;
		}
	}
	return 0;
}

static int start_pipeline(struct conn *c)
{
	const struct qp_chain *ch = c->a->chain;
	int rc = -1;
	struct isolate_proc *ip = NULL;
	char **argvs[QP_MAX_PROCS] = { NULL };
	size_t *map = NULL;
	size_t n = 0;
	bool warm = false;

	if (ch->nfilters > QP_MAX_FILTERS) {
		conn_reason(c, "too many filter processes");
		return -1;
	}
	struct hop *hops = calloc(2 * ch->nfilters + 1, sizeof(*hops));
	size_t nup = 0, nhops = hops ? pipeline_hops(ch, hops, &nup) : 0;
	/* pipes[k] feeds hop k (the connector is hop nup); one more at the end */
	int (*pipes)[2] = calloc(nhops + 2, sizeof(*pipes));
	c->procs = calloc(nhops + 1, sizeof(*c->procs));
	ip = calloc(nhops ? nhops : 1, sizeof(*ip));
	map = calloc(nhops ? nhops : 1, sizeof(*map));
	if (!hops || !pipes || !c->procs || !ip || !map) {
		conn_reason(c, "out of memory");
		goto out;
	}
	c->nprocs = nhops + 1;
	for (size_t i = 0; i < c->nprocs; i++) {
		c->procs[i].pid = -1;
		c->procs[i].err_fd = -1;
	}
	for (size_t i = 0; i < nhops + 2; i++)
		pipes[i][0] = pipes[i][1] = -1;
	/* handles to resize the pipes later, when more or fewer connections run (slot.c) */
	if (c->a->limits_fd >= 0) {
		c->pipe_path = calloc(nhops + 2, sizeof(*c->pipe_path));
		if (!c->pipe_path) {
			conn_reason(c, "out of memory");
			goto out;
		}
		c->npipes = nhops + 2;
		c->npipes_up = nup + 1;
		for (size_t i = 0; i < nhops + 2; i++)
			c->pipe_path[i] = -1;
	}

	/* the filters already run, waiting for their environment: the pipes are theirs */
	if (c->a->warm && c->a->warm->chain) {
		warm = true;
		if (adopt_warm(c, hops, pipes) < 0)
			goto out;
		phase_mark(PHASE_PIPELINE);
		goto connector;
	}

	if (pipeline_make_pipes(pipes, nhops + 2, c->pipe_path) < 0) {
		log_sys(LOG_ERR, "unable to create a pipe");
		conn_reason(c, "unable to create a pipe: %s", strerror(errno));
		goto out;
	}
	if (c->pipe_path && c->pipe_path[0] < 0)
		log_sys(LOG_INFO, "unable to keep a handle on the pipes to resize them (they keep their size)");
	/*
	 * Every hop splices at most a pipe's worth per wake-up: larger pipes
	 * mean fewer wake-ups per byte. The size is the share of
	 * --pipe-memory the listener gave (serve), or --pipe-size.
	 */
	for (size_t i = 0; i < nhops + 2; i++)
		slot_set_pipe_size(c, pipes[i][0], slot_busy_pipe_size(c, i), NULL);

	/* every filter process in one sandbox, built once for the connection */
	for (size_t h = 0; h < nhops + 1; h++) {
		const struct hop *hp = &hops[h];
		if (!hp->step)
			continue;
		const struct qp_step *s = hp->step;
		pipeline_hop_tag(c->procs[h].tag, sizeof(c->procs[h].tag), hp);
		argvs[n] = pipeline_step_argv(s);
		if (!argvs[n]) {
			conn_reason(c, "out of memory");
			goto out;
		}
		ip[n] = (struct isolate_proc){ s->path, argvs[n], c->env_filter[hp->dir],
					       { pipes[h][0], pipes[h + 1][1], -1 } };
		map[n++] = h;
	}
	if (n > 0) {
		size_t *m = map;
		map = NULL; /* the connection's now */
		if (procs_start_sandbox(c, ISOLATE_FILTERS, ip, n, m) < 0)
			goto out;
		phase_mark(PHASE_PIPELINE);
	}

connector:;
	/* the two outer ends stay here; the children have, or will have, their copies of the rest */
	c->up.to = pipes[0][1];
	pipes[0][1] = -1;
	c->down.from = pipes[nhops + 1][0];
	pipes[nhops + 1][0] = -1;
	if (fd_set_nonblock(c->up.to, true) < 0 || fd_set_nonblock(c->down.from, true) < 0) {
		log_sys(LOG_ERR, "unable to set up the pipeline's ends");
		conn_reason(c, "unable to set up a pipe");
		goto out;
	}
	/*
	 * Everything the data needs to reach the connector goes first: the
	 * filters started ahead get their environment, and what the caller
	 * has sent already (a short request, often with its EOF) goes into
	 * the pipeline. Starting the connector then blocks this process until
	 * its exec(2) (vfork), and on a busy CPU this process may wait long
	 * after that for its turn: the request must not wait with it.
	 */
	if (warm && wake_warm(c, hops) < 0)
		goto out;
	if (warm)
		phase_mark(PHASE_WOKEN);
	c->up.from_ready = c->up.to_ready = true;
	relay_up(c);
	if (c->aborting)
		goto out;
	/* the connector, outside the sandbox, while the sandbox's init starts the filters */
	struct proc *cp = &c->procs[nup];
	cp->is_connector = true;
	pipeline_hop_tag(cp->tag, sizeof(cp->tag), &hops[nup]);
	if (procs_start_connector(c, cp, pipes[nup][0], pipes[nup + 1][1]) < 0)
		goto out;
	phase_mark(PHASE_CONNECTOR);
	if (n == 0)
		c->setup_ns = mono_ns();
	rc = 0;
out:
	if (pipes)
		pipeline_close_pipes(pipes, nhops + 2);
	for (size_t i = 0; i < QP_MAX_PROCS; i++)
		free(argvs[i]);
	free(map);
	free(ip);
	free(pipes);
	free(hops);
	return rc;
}

/* what each pollfd of the running connection stands for (>= 0: the stderr of procs[i]) */
enum {
	WAKE_SIGNAL = -1,
	WAKE_UP_FROM = -2,
	WAKE_UP_TO = -3,
	WAKE_DOWN_FROM = -4,
	WAKE_DOWN_TO = -5,
	WAKE_SANDBOX = -6,
	WAKE_CALLER_HUP = -7, /* the caller's socket after its EOF */
	WAKE_LISTENER = -8,
};

/* the earlier of *TIMEOUT (-1: none) and AT_MS from now */
static void timeout_until(int *timeout, int64_t at_ms)
{
	int64_t left = at_ms - mono_ms();
	int t = left <= 0 ? 0 : left > 0x7fffffff ? 0x7fffffff : (int)left;
	if (*timeout < 0 || t < *timeout)
		*timeout = t;
}

/* Whether bytes can move at once in either direction. */
static bool pump_ready(const struct conn *c)
{
	return (!c->up.done && c->up.from_ready && (c->up.to_ready || c->up.discard)) || relay_down_ready(c);
}

/* Fills PF and WHAT with what the connection waits for now; returns their number, *TIMEOUT how long. */
static size_t wait_set(struct conn *c, struct pollfd *pf, int *what, int *timeout)
{
	size_t n = 0;
	*timeout = -1;
#define WAIT_ON(f, ev, w) do { pf[n] = (struct pollfd){ .fd = (f), .events = (ev) }; what[n++] = (w); } while (0)
	WAIT_ON(c->sigfd, POLLIN, WAKE_SIGNAL);
	if (c->sb.events >= 0)
		WAIT_ON(c->sb.events, POLLIN, WAKE_SANDBOX);
	if (!c->up.done) {
		if (!c->up.from_ready)
			WAIT_ON(c->up.from, POLLIN, WAKE_UP_FROM);
		if (!c->up.to_ready && !c->up.discard)
			WAIT_ON(c->up.to, POLLOUT, WAKE_UP_TO);
	}
	/*
	 * After the caller's EOF nothing is read from the socket any more,
	 * but its going away (a POLLHUP, reported whatever the events asked)
	 * must still end the connection at once.
	 */
	if (c->up.done && c->is_socket && !c->down.done && !c->caller_left_ms)
		WAIT_ON(c->a->in_fd, 0, WAKE_CALLER_HUP);
	if (!c->down.done) {
		if (!c->down.from_ready)
			WAIT_ON(c->down.from, POLLIN, WAKE_DOWN_FROM);
		if (!c->down.to_ready && !c->caller_left_ms)
			WAIT_ON(c->down.to, POLLOUT, WAKE_DOWN_TO);
	}
	for (size_t i = 0; i < c->nprocs; i++)
		if (c->procs[i].err_fd >= 0)
			WAIT_ON(c->procs[i].err_fd, POLLIN, (int)i);
	if (c->a->limits_fd >= 0 && !c->listener_gone)
		WAIT_ON(c->a->limits_fd, POLLIN, WAKE_LISTENER);
#undef WAIT_ON
	if (pump_ready(c)) {
		*timeout = 0;
		return n;
	}
	/* a direction still unseen is looked at again once the pipeline has run a second */
	if (slot_dir_unseen(c))
		timeout_until(timeout, c->dir_idle_at_ms);
	if (c->resize_pending)
		timeout_until(timeout, c->resize_at_ms);
	if (c->idle_ms > 0)
		timeout_until(timeout, c->active_ms + c->idle_ms);
	if (c->caller_left_ms)
		timeout_until(timeout, c->caller_left_ms + CALLER_GRACE_MS);
	/* bytes moved that the book has not heard of yet: wake up to say so within the second */
	if (c->a->limits_fd >= 0 && c->up.bytes + c->down.bytes != c->state_bytes)
		timeout_until(timeout, c->state_ms + 1000);
	return n;
}

/* What woke the connection up: PF[0..N) with their revents. */
static void on_wake(struct conn *c, const struct pollfd *pf, const int *what, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		short ev = pf[i].revents;
		if (!ev)
			continue;
		switch (what[i]) {
		case WAKE_SIGNAL:
			procs_read_signals(c);
			break;
		case WAKE_UP_FROM:
			c->up.from_ready = true;
			break;
		case WAKE_UP_TO:
			c->up.to_ready = true;
			break;
		case WAKE_DOWN_FROM:
			c->down.from_ready = true;
			break;
		case WAKE_DOWN_TO:
			c->down.to_ready = true;
			break;
		case WAKE_SANDBOX:
			procs_sandbox_drain(c);
			break;
		case WAKE_CALLER_HUP:
			if (ev & (POLLHUP | POLLERR))
				relay_caller_left(c, "the caller went away");
			break;
		case WAKE_LISTENER:
			slot_read_listener(c);
			break;
		default:
			procs_drain_stderr(c, &c->procs[what[i]]);
			break;
		}
	}
}

/* After a wake-up: bytes moved, the direction's use, pending resizes, the book told. */
static void after_wake(struct conn *c)
{
	/*
	 * Every process we started has ended: whatever they left behind in
	 * the group (a forked helper holding a pipe) must not keep the
	 * connection open.
	 */
	if (!c->stragglers_killed && procs_all_reaped(c)) {
		phase_mark(PHASE_EXITED);
		c->stragglers_killed = true;
		supervise_end_orphans();
	}
	if (!c->up.done && c->up.from_ready && (c->up.to_ready || c->up.discard))
		relay_up(c);
	if (!c->aborting && relay_down_ready(c))
		relay_down(c);
	/*
	 * The call is over for its caller: what remains (the processes'
	 * exits, the sandbox's end, the summary) is off its path, and the
	 * listener may prepare the next spare now (listener.c).
	 */
	if (c->up.done && c->down.done && !c->told_done && c->a->limits_fd >= 0) {
		c->told_done = true;
		slot_tell(c, LIMITS_RUNNING, c->told_held, c->told_stuck);
	}
	uint64_t moved = c->up.bytes + c->up.discarded + c->down.bytes;
	if (moved != c->moved) {
		c->moved = moved;
		c->active_ms = mono_ms();
		slot_update_dir_use(c, c->active_ms);
	} else if (slot_dir_unseen(c)) {
		slot_update_dir_use(c, mono_ms());
	}
	if (c->resize_pending && mono_ms() >= c->resize_at_ms)
		slot_apply(c);
	/* the bytes so far, for the listener's book: at most about once a second, when they changed */
	if (c->a->limits_fd >= 0 && c->up.bytes + c->down.bytes != c->state_bytes &&
	    mono_ms() - c->state_ms >= 1000)
		slot_tell(c, LIMITS_RUNNING, c->told_held, c->told_stuck);
}

/* Moves bytes and watches every process until all have ended and the caller has its EOF, or an abort. */
static void run_loop(struct conn *c)
{
	size_t maxfds = 8 + c->nprocs;
	struct pollfd *pf = calloc(maxfds, sizeof(*pf));
	int *what = calloc(maxfds, sizeof(*what));

	if (!pf || !what) {
		conn_abort(c, "out of memory");
		goto out;
	}
	while (!c->aborting && !(procs_all_reaped(c) && c->down.done)) {
		int timeout;
		size_t n = wait_set(c, pf, what, &timeout);
		if (c->caller_left_ms && mono_ms() >= c->caller_left_ms + CALLER_GRACE_MS) {
			relay_caller_grace_over(c);
			break;
		}
		if (c->idle_ms > 0 && !pump_ready(c) && mono_ms() >= c->active_ms + c->idle_ms) {
			conn_abort(c, "no data either way for %d.%03d s (idle_timeout)", c->idle_ms / 1000,
				   c->idle_ms % 1000);
			break;
		}
		if (poll(pf, n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			log_sys(LOG_ERR, "unable to poll");
			conn_abort(c, "unable to poll: %s", strerror(errno));
			break;
		}
		on_wake(c, pf, what, n);
		if (c->aborting)
			break;
		after_wake(c);
	}
out:
	free(pf);
	free(what);
}

/* The connection's one summary (summary.h), once everything has ended. */
static void log_summary(struct conn *c, int64_t start_ns)
{
	const struct supervise_args *a = c->a;
	const struct supervise_result *res = c->res;
	struct summary s;
	summary_init(&s, a->conn_id);
	s.text[SUMMARY_SOURCE] = a->source;
	s.text[SUMMARY_TARGET] = a->target;
	s.text[SUMMARY_SERVICE] = a->service;
	s.text[SUMMARY_CHAIN] = a->chain->name;
	s.text[SUMMARY_RESULT] = qp_result_name(res->result);
	s.text[SUMMARY_REASON] = res->reason;
	s.num[SUMMARY_DURATION] = (mono_ns() - start_ns) / 1000;
	s.num[SUMMARY_SETUP] = c->setup_ns ? (c->setup_ns - start_ns) / 1000 : 0;
	s.num[SUMMARY_SRC2DST] = (int64_t)res->bytes_src2dst;
	s.num[SUMMARY_DST2SRC] = (int64_t)res->bytes_dst2src;
	s.num[SUMMARY_QUEUED] = res->queued_ms * 1000;
	s.num[SUMMARY_PIPE] = res->min_pipe;
	s.text[SUMMARY_BOUND] = bounds_kind_name(c->ib.cgroup_procs >= 0 && cgroup_bounds() ? BOUNDS_CGROUP
											 : BOUNDS_RLIMIT);
	s.num[SUMMARY_LOG_DROPPED] = c->log.dropped ? (int64_t)c->log.dropped : -1;
	summary_log(res->result == QP_OK ? LOG_INFO : LOG_WARNING, &s);
}

/*
 * What the connection may use (its chain's bounds, else the daemon's) and
 * how its sandboxes are held to it: its cgroup where one bounds memory
 * and tasks, else rlimits on each process and on the sandbox's user
 * namespace.
 */
static void conn_bounds(struct conn *c)
{
	const struct supervise_args *a = c->a;
	struct bounds_opts dflt;
	const struct bounds_opts *o = a->bounds;
	if (!o) {
		bounds_defaults(&dflt, 0, 0, BOUNDS_RLIMIT);
		o = &dflt;
	}
	c->bounds = bounds_of(o, a->chain);
	struct cgroup_conn *cg = a->cgroup;
	bool in_cgroup = cg && cg->dir >= 0;
	c->ib = (struct isolate_bounds){
		.cgroup_procs = in_cgroup ? cg->procs : -1,
		.memory = in_cgroup && cgroup_bounds() ? 0 : c->bounds.memory,
		.tasks = c->bounds.tasks,
	};
	/* the chain's own, where they are not what the cgroup was made with (a spare's guess) */
	if (in_cgroup && cgroup_conn_limit(cg, &c->bounds) < 0)
		log_sys(LOG_WARNING, "unable to set the bounds of chain %s on the connection's cgroup", a->chain->name);
	if (cg)
		cgroup_conn_mark(cg);
	logbound_init(&c->log, c->bounds.log_lines, c->bounds.log_bytes);
}

/* Signals through a signalfd, the environments, /dev/null: -1 with the result set when it cannot be. */
static int conn_setup(struct conn *c)
{
	const struct supervise_args *a = c->a;
	sigset_t mask;
	struct stat st;

	c->out_is_socket = fstat(a->out_fd, &st) == 0 && S_ISSOCK(st.st_mode);
	c->up.from_is_socket = fstat(a->in_fd, &st) == 0 && S_ISSOCK(st.st_mode);
	c->is_socket = a->in_fd == a->out_fd && c->out_is_socket;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
	    (c->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		log_sys(LOG_ERR, "unable to set up signals");
		conn_reason(c, "unable to set up signals");
		c->res->result = QP_FAILED;
		return -1;
	}
	/* a caller that goes away must be an error code, not a death */
	signal(SIGPIPE, SIG_IGN);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		log_sys(LOG_WARNING, "unable to become a subreaper: a filter's orphans may outlive the connection");

	c->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	c->env_filter[0] = procs_env(a, QPC_DIR_ADMIT, false);
	c->env_filter[QP_DIR_SRC2DST] = procs_env(a, QPC_DIR_SRC2DST, false);
	c->env_filter[QP_DIR_DST2SRC] = procs_env(a, QPC_DIR_DST2SRC, false);
	c->env_connector = procs_env(a, NULL, true);
	if (c->devnull < 0 || !c->env_filter[0] || !c->env_filter[1] || !c->env_filter[2] || !c->env_connector) {
		log_sys(LOG_ERR, "unable to prepare the connection");
		conn_reason(c, "unable to prepare the connection");
		c->res->result = QP_FAILED;
		return -1;
	}
	return 0;
}

/*
 * No boundary between connections works here: only programs that lock
 * themselves down further (the built-ins) may run, under BUILTINS_ONLY.
 * -1 with the result set when the chain runs another.
 */
static int conn_without_isolation(struct conn *c, struct isolate_policy *builtins_only)
{
	const struct qp_chain *ch = c->a->chain;
	const char *third = NULL;
	for (size_t i = 0; i < ch->nadmit && !third; i++)
		if (!isolate_is_builtin(ch->admit[i].path))
			third = ch->admit[i].path;
	for (size_t i = 0; i < ch->nfilters && !third; i++)
		if (!isolate_is_builtin(ch->filters[i].path))
			third = ch->filters[i].path;
	if (third) {
		log_msg(LOG_ERR, "chain %s runs %s, a filter that is not built in, and this system allows no isolation for it (%s); set 'isolation: seccomp-only' in the configuration to run it anyway, less isolated",
			ch->name, third, c->pol->detail);
		conn_reason(c, "no isolation for a third-party filter");
		c->res->result = QP_REFUSED;
		return -1;
	}
	*builtins_only = *c->pol;
	builtins_only->mech = ISOLATE_SECCOMP_ONLY;
	c->pol = builtins_only;
	return 0;
}

/* The pipeline, started and run to its end; -1 with the result set when it could not start. */
static int conn_run(struct conn *c)
{
	const struct supervise_args *a = c->a;
	/* the supervisor is the only owner of these fds, so O_NONBLOCK is ours to set */
	c->saved_in_fl = fcntl(a->in_fd, F_GETFL);
	c->saved_out_fl = a->out_fd != a->in_fd ? fcntl(a->out_fd, F_GETFL) : -1;
	if (fd_set_nonblock(a->in_fd, true) < 0 || fd_set_nonblock(a->out_fd, true) < 0) {
		log_sys(LOG_ERR, "unable to make the caller's fds non-blocking");
		conn_reason(c, "unable to set up the caller's fds");
		c->res->result = QP_FAILED;
		return -1;
	}
	if (start_pipeline(c) < 0) {
		slot_ask_pending(c);
		if (c->res->result == QP_OK)
			c->res->result = QP_FAILED;
		procs_kill_all(c);
		procs_reap_all(c);
		return -1;
	}
	/* the listener is woken only now: earlier, it would take the CPU from the pipeline's start */
	slot_ask_pending(c);
	c->idle_ms = a->chain->idle_timeout_ms >= 0 ? a->chain->idle_timeout_ms : a->idle_timeout_ms;
	c->active_ms = mono_ms();
	c->dir_idle_at_ms = c->active_ms + DIR_IDLE_AFTER_MS;
	if (a->limits_fd >= 0) {
		long page = sysconf(_SC_PAGESIZE);
		uint64_t held = 0;
		for (size_t i = 0; i < c->npipes && page > 0; i++)
			held += (uint64_t)(c->data_pipe > 0 ? slot_busy_pipe_size(c, i) : 16 * page) / (uint64_t)page;
		slot_tell(c, LIMITS_RUNNING, held, false);
		/* a resize may have come while the pipeline started */
		slot_read_listener(c);
	}
	run_loop(c);
	/* the pipes are as good as gone: the listener may give others more */
	slot_tell(c, LIMITS_CLOSING, 0, false);
	if (c->aborting) {
		if (c->is_socket)
			shutdown(a->in_fd, SHUT_RDWR);
		procs_reap_all(c);
	}
	/*
	 * Whatever a filter left behind outside a PID namespace passed to us:
	 * end it (already done when every process ended normally).
	 */
	if (!c->stragglers_killed)
		supervise_end_orphans();
	if (c->up.discard && c->up.discarded > 0)
		log_msg(LOG_INFO, "the pipeline stopped reading from the source early; the rest (%llu bytes) was discarded",
			(unsigned long long)c->up.discarded);
	return 0;
}

/* However it ended: what the processes said, the summary, then everything the connection held goes. */
static void conn_finish(struct conn *c, int64_t start_ns)
{
	const struct supervise_args *a = c->a;
	for (size_t i = 0; i < c->nprocs; i++) {
		procs_drain_stderr(c, &c->procs[i]);
		if (c->procs[i].err_fd >= 0)
			close(c->procs[i].err_fd);
	}
	/* whatever of the warm pipeline was not taken (the call was refused before it ran) */
	if (a->warm)
		warm_discard(a->warm);
	c->res->bytes_src2dst = c->up.bytes;
	c->res->bytes_dst2src = c->down.bytes;
	log_summary(c, start_ns);
	if (c->setup_ns)
		phase_mark_at(PHASE_STARTED, c->setup_ns);
	phase_mark(PHASE_EXITED);
	phase_mark(PHASE_SUMMARY);
	phases_log();
	if (c->up.to >= 0)
		close(c->up.to);
	if (c->down.from >= 0)
		close(c->down.from);
	if (c->saved_in_fl >= 0)
		fcntl(a->in_fd, F_SETFL, c->saved_in_fl);
	if (c->saved_out_fl >= 0)
		fcntl(a->out_fd, F_SETFL, c->saved_out_fl);
	procs_sandbox_forget(c);
	slot_forget_pipes(c);
	free(c->up.buf);
	free(c->down.buf);
	free(c->procs);
	for (int i = 0; i < 3; i++)
		procs_env_free(c->env_filter[i]);
	procs_env_free(c->env_connector);
	if (c->devnull >= 0)
		close(c->devnull);
	if (c->sigfd >= 0)
		close(c->sigfd);
}

enum qp_result supervise_connection(const struct supervise_args *a, struct supervise_result *res)
{
	struct conn c = {
		.a = a,
		.res = res,
		.sigfd = -1,
		.devnull = -1,
		.saved_in_fl = -1,
		.saved_out_fl = -1,
		.pol = a->isolation,
		.sb = { .pid = -1, .events = -1 },
		.up = { .name = "src2dst", .from = a->in_fd, .to = -1, .use_splice = true },
		.down = { .name = "dst2src", .from = -1, .to = a->out_fd, .use_splice = true },
	};
	struct isolate_policy builtins_only;
	int64_t start = a->start_ns ? a->start_ns : mono_ns();

	memset(res, 0, sizeof(*res));
	res->result = QP_OK;
	conn_bounds(&c);
	if (conn_setup(&c) < 0)
		goto out;
	if (c.pol->mech == ISOLATE_NONE && conn_without_isolation(&c, &builtins_only) < 0)
		goto out;
	/* filters started ahead for another chain, under another isolation, or not all alive, are of no use */
	if (a->warm && a->warm->chain &&
	    (a->warm->chain != a->chain || a->warm->pol->mech != c.pol->mech || !warm_alive(a->warm)))
		warm_discard(a->warm);
	/* over a limit, wait for a slot before anything starts: no admission check, no pipe, no connector */
	c.data_pipe = a->pipe_size;
	c.aux_pipe = LIMITS_AUX_PIPE;
	if (a->limits_fd >= 0 && slot_wait(&c) < 0)
		goto out;
	phase_mark(PHASE_SLOT);
	/* admission checks take their time: the book learns whose the connection is first */
	if (a->chain->nadmit > 0)
		slot_ask_pending(&c);
	if (run_admission(&c) < 0) {
		res->result = c.terminated ? QP_ABORTED : c.sb_setup_failed || c.kernel_killed ? QP_FAILED : QP_REFUSED;
		goto out;
	}
	conn_run(&c);
out:
	conn_finish(&c, start);
	return res->result;
}
