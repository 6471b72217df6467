/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The spare supervisor: forked and set up while no caller waits, so that
 * a call pays neither the fork of its supervisor nor the set-up of its
 * filters' sandbox (see spare.h).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "connlimits.h"
#include "fdpass.h"
#include "isolate.h"
#include "log.h"
#include "phases.h"
#include "spare.h"
#include "serve.h"
#include "supervise.h"
#include "util.h"
#include "warm.h"

/* what travels with the fd */
struct handoff {
	char id[17];
	uint8_t alone;     /* admitted before it asks: no wait for the slot */
	int64_t start_ns;
};

/* what the spare is forked with */
struct spare_start_args {
	const struct serve_ctx *x;
	int ctl;        /* its end of the hand-over socket */
	int other;      /* the listener's end: closed in the child */
	char guess[LIMITS_NAME_MAX];
};

/* In the spare: waits for its connection and serves it; never returns. */
static void spare_main(int chan, void *arg)
{
	struct spare_start_args *sa = arg;
	const struct serve_ctx *x = sa->x;
	int ctl = sa->ctl;
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
	struct isolate_prepared prep;
	serve_prepare(x, &prep);
	/* the filters of the chain the next call most likely asks for, started in that sandbox */
	struct warm warm;
	const struct qp_config *cfg = x->cfg;
	const struct qp_chain *guess = sa->guess[0] ? config_chain(cfg, sa->guess)
				       : cfg->nchains == 1 ? &cfg->chains[0]
							   : NULL;
	warm_prepare(&warm, guess, &prep);
	phase_mark(PHASE_SPARE_READY);

	struct handoff h;
	int fd = -1;
	size_t nfds = 0;
	int r = fdpass_recv(ctl, &h, sizeof(h), &fd, 1, &nfds);
	close(ctl);
	int code = 0;
	if (r <= 0 || nfds != 1) {
		/* dropped (reload, stop) or the listener is gone: nothing was ours yet */
		if (nfds == 1)
			close(fd);
		close(chan);
	} else {
		h.id[sizeof(h.id) - 1] = '\0';
		prctl(PR_SET_NAME, comm, 0, 0, 0);
		code = serve_connection(x, fd, chan, h.id, &prep, &warm, h.start_ns, h.alone != 0);
	}
	warm_discard(&warm);
	isolate_discard(&prep);
	supervise_end_orphans();
	config_free(x->cfg);
	exit(code);
}

int spare_start(struct spare *s, const struct serve_ctx *x, const char *hint)
{
	int sv[2];
	s->pid = -1;
	s->ctl = -1;
	s->chan = -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	/* the listener's book, where HINT may live, is freed in the child: a copy */
	struct spare_start_args sa = { .x = x, .ctl = sv[1], .other = sv[0] };
	snprintf(sa.guess, sizeof(sa.guess), "%s", hint ? hint : "");
	pid_t pid = serve_fork(x, -1, NULL, 0, &s->chan, spare_main, &sa);
	int err = errno;
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		errno = err;
		return -1;
	}
	s->pid = pid;
	s->ctl = sv[0];
	return 0;
}

pid_t spare_take(struct spare *s, int fd, const char *id, int64_t start_ns, bool alone, int *chan)
{
	if (s->pid <= 0 || s->ctl < 0)
		return -1;
	struct handoff h = { .start_ns = start_ns, .alone = alone };
	snprintf(h.id, sizeof(h.id), "%s", id);
	if (fdpass_send(s->ctl, &h, sizeof(h), NULL, 0, &fd, 1, MSG_DONTWAIT) < 0) {
		/* a spare that cannot take it is of no use any more */
		log_sys(LOG_DEBUG, "the spare supervisor did not take the connection");
		spare_drop(s);
		return -1;
	}
	pid_t pid = s->pid;
	close(s->ctl);
	s->ctl = -1;
	*chan = s->chan;
	s->chan = -1;
	s->pid = -1;
	return pid;
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

void spare_drop(struct spare *s)
{
	spare_close(s);
	if (s->pid > 0) {
		/*
		 * At EOF on its socket it ends what it started (filters started
		 * ahead, and what they left behind) and exits; killed, it would
		 * leave their orphans to the listener. Killed all the same if it
		 * takes longer than SPARE_DROP_MS.
		 */
		int64_t end = mono_ms() + SPARE_DROP_MS;
		pid_t r;
		while ((r = waitpid(s->pid, NULL, WNOHANG)) == 0 && mono_ms() < end)
			poll(NULL, 0, 1);
		if (r == 0) {
			kill(s->pid, SIGKILL);
			while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
				;
		}
	}
	s->pid = -1;
}

bool spare_reaped(struct spare *s, pid_t pid)
{
	if (s->pid <= 0 || pid != s->pid)
		return false;
	spare_close(s);
	s->pid = -1;
	return true;
}
