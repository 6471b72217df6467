/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The spare supervisor: forked and set up while no caller waits, so that
 * a call pays neither the fork of its supervisor nor the set-up of its
 * filters' sandbox (see spare.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bounds.h"
#include "cgroup.h"
#include "connlimits.h"
#include "isolate.h"
#include "log.h"
#include "phases.h"
#include "spare.h"
#include "serve.h"
#include "supervise.h"
#include "util.h"
#include "warm.h"

/* what the spare is forked with */
struct spare_start_args {
	const struct serve_ctx *x;
	int ctl;        /* its end of the control socket */
	int other;      /* the listener's end: closed in the child */
	int listen_fd;  /* its copy of the listening socket */
	spare_peer_check *check;
	void *check_arg;
	char guess[LIMITS_NAME_MAX];
};

/*
 * In the spare, once it is ready: accepts its connection (0 and *FD,
 * *ID, *START, *ALONE), or returns -1 when it is dropped (EOF on its
 * control socket: reload, stop) or the listener is gone. An EOF wins over
 * a waiting connection: the listener, which drops the spare, accepts
 * again.
 */
static int spare_accept(const struct spare_start_args *sa, int *fd, char id[17], int64_t *start, bool *alone)
{
	for (;;) {
		struct pollfd pf[2] = { { .fd = sa->ctl, .events = POLLIN }, { .fd = sa->listen_fd, .events = POLLIN } };
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (pf[0].revents) {
			struct spare_msg m;
			ssize_t n = recv(sa->ctl, &m, sizeof(m), 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n != (ssize_t)sizeof(m))
				return -1;
			if (m.type == SPARE_ALONE)
				*alone = true;
			continue;
		}
		if (!(pf[1].revents & POLLIN))
			continue;
		int c = accept4(sa->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			/* EMFILE and friends: back off instead of spinning, as the listener does */
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				poll(NULL, 0, 100);
			continue;
		}
		make_connection_id(id);
		uid_t uid = 0;
		if (!sa->check(sa->check_arg, c, id, &uid)) {
			close(c);
			continue;
		}
		*start = mono_ns();
		struct spare_msg t = { .type = SPARE_TOOK, .alone = *alone, .start_ns = *start, .uid = (uint32_t)uid };
		memcpy(t.id, id, sizeof(t.id));
		/* the listener counts it in; gone, nothing would: the caller gets its EOF */
		if (send(sa->ctl, &t, sizeof(t), MSG_NOSIGNAL) != (ssize_t)sizeof(t)) {
			close(c);
			return -1;
		}
		*fd = c;
		return 0;
	}
}

/* In the spare: waits for its connection and serves it; never returns. */
static void spare_main(int chan, void *arg)
{
	struct spare_start_args *sa = arg;
	const struct serve_ctx *x = sa->x;
	phase_mark(PHASE_SPARE_FORKED);
	close(sa->other);
	/* "qp-spare" in ps while it waits; a supervisor like any other once it has its connection */
	char comm[16] = "";
	prctl(PR_GET_NAME, comm, 0, 0, 0);
	prctl(PR_SET_NAME, "qp-spare", 0, 0, 0);
	/*
	 * Filters started ahead run before any connection: what they fork
	 * and leave behind must come here (outside a PID namespace), not to
	 * the listener, and is ended with the spare.
	 */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		log_sys(LOG_WARNING, "unable to become a subreaper: a filter's orphans may outlive the spare");
	/* the filters of the chain the next call most likely asks for, started in that sandbox */
	const struct qp_config *cfg = x->cfg;
	const struct qp_chain *guess = sa->guess[0] ? config_chain(cfg, sa->guess) : NULL;
	/* its connection's cgroup and sandbox, made ahead too: the call pays for neither */
	struct cgroup_conn cg;
	serve_cgroup(x, guess, &cg);
	struct isolate_prepared prep;
	serve_prepare(x, &cg, &prep);
	struct warm warm;
	struct bounds b = bounds_of(x->o->bounds, guess);
	bool cgroup_bound = cg.dir >= 0 && cgroup_bounds();
	struct isolate_bounds ib = { .cgroup_procs = cg.procs, .memory = cgroup_bound ? 0 : b.memory, .tasks = b.tasks };
	warm_prepare(&warm, guess, &prep, &ib);
	phase_mark(PHASE_SPARE_READY);
	/* the listener (status, and whether this spare's guess is still the right one) */
	struct spare_msg ready = { .type = SPARE_READY, .alone = prep.ctl >= 0 || warm.chain };
	if (warm.chain)
		snprintf(ready.chain, sizeof(ready.chain), "%s", warm.chain->name);
	if (send(sa->ctl, &ready, sizeof(ready), MSG_NOSIGNAL) != (ssize_t)sizeof(ready))
		log_sys(LOG_DEBUG, "unable to tell the listener the spare is ready");

	int fd = -1;
	char id[17];
	int64_t start = 0;
	bool alone = false;
	int r = spare_accept(sa, &fd, id, &start, &alone);
	close(sa->listen_fd);
	close(sa->ctl);
	int code = 0;
	if (r < 0) {
		/* dropped (reload, stop) or the listener is gone: nothing was ours yet */
		close(chan);
	} else {
		prctl(PR_SET_NAME, comm, 0, 0, 0);
		code = serve_connection(x, fd, chan, id, &prep, &warm, &cg, start, alone);
	}
	warm_discard(&warm);
	isolate_discard(&prep);
	supervise_end_orphans();
	cgroup_conn_remove(&cg);
	config_free(x->cfg);
	exit(code);
}

int spare_start(struct spare *s, const struct serve_ctx *x, const char *hint, int listen_fd,
		spare_peer_check *check, void *arg)
{
	int sv[2];
	s->pid = -1;
	s->ctl = -1;
	s->chan = -1;
	s->alone_told = false;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	/* the listener's socket is among what its children give up: the spare keeps a copy of its own */
	int lfd = fcntl(listen_fd, F_DUPFD_CLOEXEC, 3);
	if (lfd < 0) {
		int err = errno;
		close_pair(sv);
		errno = err;
		return -1;
	}
	/* the listener's book, where HINT may live, is freed in the child: a copy */
	struct spare_start_args sa = { .x = x, .ctl = sv[1], .other = sv[0], .listen_fd = lfd, .check = check,
				       .check_arg = arg };
	/* with one chain, that one: the hint that stands for what the spare will start ahead */
	if ((!hint || !*hint) && x->cfg && x->cfg->nchains == 1)
		hint = x->cfg->chains[0].name;
	snprintf(sa.guess, sizeof(sa.guess), "%s", hint ? hint : "");
	snprintf(s->hint, sizeof(s->hint), "%s", sa.guess);
	s->ready = s->prepared = false;
	s->warm[0] = '\0';
	pid_t pid = serve_fork(x, -1, NULL, 0, &s->chan, spare_main, &sa);
	int err = errno;
	close(sv[1]);
	close(lfd);
	if (pid < 0) {
		close(sv[0]);
		errno = err;
		return -1;
	}
	s->pid = pid;
	s->ctl = sv[0];
	return 0;
}

void spare_tell_alone(struct spare *s)
{
	if (s->pid <= 0 || s->ctl < 0 || s->alone_told)
		return;
	struct spare_msg m = { .type = SPARE_ALONE };
	/* not said (its queue full, it is gone): it asks for its slot and waits, as ever */
	if (send(s->ctl, &m, sizeof(m), MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)sizeof(m))
		s->alone_told = true;
}

/* the listener's ends of the spare's sockets */
static void spare_close(struct spare *s)
{
	if (s->ctl >= 0)
		close(s->ctl);
	s->ctl = -1;
	if (s->chan >= 0)
		close(s->chan);
	s->chan = -1;
}

/* One message from the spare: 1 and *T when it took a connection (the spare is then forgotten), else 0. */
static int spare_recv(struct spare *s, struct spare_took *t, int flags)
{
	struct spare_msg m;
	ssize_t n = recv(s->ctl, &m, sizeof(m), flags);
	/*
	 * A spare that closes its end with a message of ours unread (ALONE,
	 * sent as it took its connection) resets the socket: the error comes
	 * first, once, and what it sent before is still there to read.
	 */
	if (n < 0 && errno == ECONNRESET)
		n = recv(s->ctl, &m, sizeof(m), flags);
	if (n == (ssize_t)sizeof(m) && m.type == SPARE_READY) {
		s->ready = true;
		s->prepared = m.alone != 0;
		m.chain[sizeof(m.chain) - 1] = '\0';
		snprintf(s->warm, sizeof(s->warm), "%s", m.chain);
		return 0;
	}
	if (n != (ssize_t)sizeof(m) || m.type != SPARE_TOOK)
		return n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) ? -1 : 0;
	t->pid = s->pid;
	t->chan = s->chan;
	memcpy(t->id, m.id, sizeof(t->id));
	t->id[sizeof(t->id) - 1] = '\0';
	t->start_ns = m.start_ns;
	t->alone = m.alone != 0;
	t->peer_uid = (uid_t)m.uid;
	s->chan = -1; /* the caller's now */
	spare_close(s);
	s->pid = -1;
	return 1;
}

int spare_read(struct spare *s, struct spare_took *t)
{
	if (s->pid <= 0 || s->ctl < 0)
		return 0;
	int r = spare_recv(s, t, MSG_DONTWAIT);
	if (r < 0) {
		/* it is gone: reaped with the others (spare_reaped) */
		close(s->ctl);
		s->ctl = -1;
		return 0;
	}
	return r;
}

int spare_drop(struct spare *s, struct spare_took *t)
{
	if (s->pid <= 0) {
		spare_close(s);
		s->pid = -1;
		return 0;
	}
	/*
	 * EOF on its control socket ends a waiting spare: it ends what it
	 * started (filters started ahead, and what they left behind) and
	 * exits; killed, it would leave their orphans to the listener. One
	 * that has just taken a connection says so first: it serves it.
	 * Killed all the same if it takes longer than SPARE_DROP_MS.
	 */
	if (s->ctl >= 0)
		shutdown(s->ctl, SHUT_WR);
	int64_t end = mono_ms() + SPARE_DROP_MS;
	pid_t r = 0;
	while (s->ctl >= 0 && mono_ms() < end) {
		struct pollfd pf = { .fd = s->ctl, .events = POLLIN };
		int left = (int)(end - mono_ms());
		if (poll(&pf, 1, left > 0 ? left : 0) <= 0)
			continue;
		int got = spare_recv(s, t, MSG_DONTWAIT);
		if (got > 0)
			return 1;
		if (got < 0)
			break;
	}
	spare_close(s);
	while ((r = waitpid(s->pid, NULL, WNOHANG)) == 0 && mono_ms() < end)
		poll(NULL, 0, 1);
	if (r == 0) {
		kill(s->pid, SIGKILL);
		while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	s->pid = -1;
	return 0;
}

bool spare_reaped(struct spare *s, pid_t pid)
{
	if (s->pid <= 0 || pid != s->pid)
		return false;
	spare_close(s);
	s->pid = -1;
	return true;
}
