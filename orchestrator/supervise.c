/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/seccomp.h>

#include "log.h"
#include "spawn.h"
#include "supervise.h"
#include "util.h"

extern char **environ;

/* how much one splice() or read() asks for */
#define RELAY_CHUNK (1 << 20)
/* fallback copy buffer when splice does not apply (ttys, files) */
#define RELAY_BUF (1 << 16)
/* pumps per wake-up before the other fds get a turn */
#define RELAY_ROUNDS 16

struct proc {
	pid_t pid;
	bool reaped;
	bool is_connector;
	bool is_admit;        /* its verdict is read by wait_admission, not here */
	int status;
	int err_fd;           /* read end of its stderr pipe, -1 once closed */
	size_t linelen;
	char tag[128];
	char line[1024];
};

struct relay {
	const char *name;
	int from, to;         /* -1 once closed */
	bool from_ready, to_ready;
	bool use_splice;
	bool from_is_socket;
	bool done;            /* EOF passed on */
	bool discard;         /* nobody reads the other end: drop what arrives */
	char *buf;
	size_t off, len;
	uint64_t bytes;
	uint64_t discarded;
};

enum pump_result {
	PUMP_AGAIN,
	PUMP_EOF,
	PUMP_TO_GONE,   /* writing failed: nobody reads the other end any more */
	PUMP_FROM_ERR,  /* reading failed */
};

struct conn {
	const struct supervise_args *a;
	struct supervise_result *res;
	struct proc *procs;
	size_t nprocs;
	pid_t pgid;
	int sigfd;
	int devnull;
	bool is_socket;       /* one socket both ways (serve) */
	bool out_is_socket;   /* the output is a socket: half-close with shutdown() */
	bool stragglers_killed;
	bool self_confined;
	bool pipe_size_warned;   /* the supervisor runs under the baseline policy itself */
	bool aborting;
	bool terminated;      /* SIGTERM/SIGINT/SIGHUP arrived */
	int saved_in_fl, saved_out_fl;
	int64_t setup_ns;     /* when every process of the pipeline had been started */
	struct relay up;      /* source -> pipeline */
	struct relay down;    /* pipeline -> source */
	char **env_filter[3]; /* indexed by QP_DIR_SRC2DST, QP_DIR_DST2SRC; [0] for admission */
	char **env_connector;
};

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
	}
	return "unknown";
}

static void set_reason(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_reason(struct conn *c, const char *fmt, ...)
{
	if (c->res->reason[0])
		return; /* the first cause is the one that matters */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->res->reason, sizeof(c->res->reason), fmt, ap);
	va_end(ap);
}

/* ---- environment ---- */

static void free_env(char **env)
{
	if (!env)
		return;
	for (size_t i = 0; env[i]; i++)
		free(env[i]);
	free(env);
}

static bool env_is_ours(const char *e)
{
	static const char *const prefixes[] = { "QREXEC_PROXY_", "QREXEC_REMOTE_DOMAIN=",
						"QREXEC_SERVICE_ARGUMENT=", "LISTEN_", "NOTIFY_SOCKET=",
						"WATCHDOG_", NULL };
	for (size_t i = 0; prefixes[i]; i++)
		if (!strncmp(e, prefixes[i], strlen(prefixes[i])))
			return true;
	return false;
}

/*
 * Filters get a clean environment: the metadata of the contract, PATH and
 * the state directory. The connector inherits the daemon's environment
 * (it may be any program and need its own settings) plus the metadata.
 */
static char **build_env(const struct supervise_args *a, const char *direction, bool inherit)
{
	size_t n = 0, cap = 16;
	if (inherit)
		for (char **e = environ; *e; e++)
			cap++;
	char **env = calloc(cap, sizeof(*env));
	if (!env)
		return NULL;
	if (inherit) {
		for (char **e = environ; *e; e++)
			if (!env_is_ours(*e) && !(env[n++] = strdup(*e)))
				goto fail;
	} else {
		const char *sd = getenv("STATE_DIRECTORY");
		if (asprintf(&env[n++], "PATH=%s", "/usr/local/bin:/usr/bin:/bin") < 0)
			goto fail;
		if (sd && asprintf(&env[n++], "STATE_DIRECTORY=%s", sd) < 0)
			goto fail;
	}
	if (asprintf(&env[n++], "QREXEC_REMOTE_DOMAIN=%s", a->source) < 0 ||
	    asprintf(&env[n++], "QREXEC_PROXY_CHAIN=%s", a->chain->name) < 0 ||
	    asprintf(&env[n++], "QREXEC_PROXY_TARGET=%s", a->target) < 0 ||
	    asprintf(&env[n++], "QREXEC_PROXY_SERVICE=%s", a->service) < 0 ||
	    asprintf(&env[n++], "QREXEC_PROXY_CONNECTION=%s", a->conn_id) < 0)
		goto fail;
	if (direction && asprintf(&env[n++], "QREXEC_PROXY_DIRECTION=%s", direction) < 0)
		goto fail;
	env[n] = NULL;
	return env;
fail:
	/* asprintf leaves its pointer undefined on failure */
	env[n - 1] = NULL;
	free_env(env);
	return NULL;
}

/* ---- children ---- */

static void flush_line(struct proc *p)
{
	if (p->linelen) {
		log_child_line(p->tag, p->line, p->linelen);
		p->linelen = 0;
	}
}

/* Reads what a child wrote to stderr and logs it line by line. */
static void drain_stderr(struct proc *p)
{
	char buf[4096];

	while (p->err_fd >= 0) {
		ssize_t n = read(p->err_fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			log_sys(LOG_WARNING, "%s: unable to read its stderr", p->tag);
			n = 0;
		}
		if (n == 0) {
			flush_line(p);
			close(p->err_fd);
			p->err_fd = -1;
			return;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				flush_line(p);
				continue;
			}
			/* an overlong line is cut into pieces rather than dropped */
			if (p->linelen == sizeof(p->line))
				flush_line(p);
			p->line[p->linelen++] = buf[i];
		}
	}
}

/*
 * Starts one child with its stderr on a new pipe whose read end the
 * supervisor keeps. FD0/FD1 are the child's stdin/stdout.
 */
static int start_proc(struct conn *c, struct proc *p, const char *path, char *const *argv,
		      char *const *envp, int fd0, int fd1, bool confine, pid_t pgid)
{
	int ep[2];

	if (pipe2(ep, O_CLOEXEC) < 0) {
		log_sys(LOG_ERR, "unable to create a pipe for %s", p->tag);
		set_reason(c, "unable to create a pipe");
		return -1;
	}
	struct spawn_req req = {
		.path = path,
		.argv = argv,
		.envp = envp,
		.fd = { fd0, fd1 < 0 ? ep[1] : fd1, ep[1] },
		.seccomp = confine ? c->a->seccomp : NULL,
		.pgid = pgid,
	};
	if (c->self_confined)
		req.seccomp = NULL;  /* inherited already */
	pid_t pid = spawn_child(&req);
	int err = errno;
	close(ep[1]);
	if (pid < 0) {
		close(ep[0]);
		errno = err;
		log_sys(LOG_ERR, "unable to start %s (%s)", p->tag, path);
		set_reason(c, "unable to start %s: %s", p->tag, strerror(err));
		return -1;
	}
	if (fd_set_nonblock(ep[0], true) < 0) {
		/* the pid is ours now; the caller's teardown kills and reaps it */
		p->pid = pid;
		close(ep[0]);
		log_sys(LOG_ERR, "unable to set up the stderr pipe of %s", p->tag);
		set_reason(c, "unable to set up a pipe");
		return -1;
	}
	p->pid = pid;
	p->err_fd = ep[0];
	return 0;
}

static struct proc *proc_by_pid(struct conn *c, pid_t pid)
{
	for (size_t i = 0; i < c->nprocs; i++)
		if (c->procs[i].pid == pid && !c->procs[i].reaped)
			return &c->procs[i];
	return NULL;
}

static bool all_reaped(const struct conn *c)
{
	for (size_t i = 0; i < c->nprocs; i++)
		if (c->procs[i].pid > 0 && !c->procs[i].reaped)
			return false;
	return true;
}

static void kill_all(struct conn *c)
{
	if (c->pgid > 0 && killpg(c->pgid, SIGKILL) < 0 && errno != ESRCH)
		log_sys(LOG_WARNING, "unable to kill process group %d", (int)c->pgid);
	/* a child that left the group still dies: kill by pid too */
	for (size_t i = 0; i < c->nprocs; i++)
		if (c->procs[i].pid > 0 && !c->procs[i].reaped)
			kill(c->procs[i].pid, SIGKILL);
}

/* Every process of the connection ends now; the caller gets EOF both ways. */
static void conn_abort(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void conn_abort(struct conn *c, const char *fmt, ...)
{
	if (c->aborting)
		return;
	c->aborting = true;
	if (!c->res->reason[0]) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(c->res->reason, sizeof(c->res->reason), fmt, ap);
		va_end(ap);
	}
	if (c->res->result == QP_OK)
		c->res->result = QP_ABORTED;
	kill_all(c);
}

static void on_exit_status(struct conn *c, struct proc *p, int status)
{
	char buf[96];
	/*
	 * SIGPIPE means the process's reader has ended. As in a shell
	 * pipeline (yes | head -1), that is not a failure of its own: the
	 * reader's exit status decides, and a reader that failed aborts the
	 * connection by itself.
	 */
	bool sigpipe = WIFSIGNALED(status) && WTERMSIG(status) == SIGPIPE;
	bool failed = !(WIFEXITED(status) && WEXITSTATUS(status) == 0) && !sigpipe;

	p->reaped = true;
	p->status = status;
	if (p->is_connector) {
		c->res->connector_reaped = true;
		c->res->connector_status = status;
	}
	if (p->is_admit || !failed || c->aborting)
		return;
	conn_abort(c, "%s %s", p->tag, spawn_strstatus(status, buf, sizeof(buf)));
}

static void reap(struct conn *c)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid <= 0) {
			if (pid < 0 && errno == EINTR)
				continue;
			return;
		}
		struct proc *p = proc_by_pid(c, pid);
		if (p)
			on_exit_status(c, p, status);
	}
}

/* Blocks until every started process has been reaped (after SIGKILL). */
static void reap_all_blocking(struct conn *c)
{
	for (size_t i = 0; i < c->nprocs; i++) {
		struct proc *p = &c->procs[i];
		while (p->pid > 0 && !p->reaped) {
			int status;
			pid_t r = waitpid(p->pid, &status, 0);
			if (r == p->pid) {
				on_exit_status(c, p, status);
			} else if (r < 0 && errno != EINTR) {
				p->reaped = true;
				break;
			}
		}
	}
}

/* Returns true when a terminating signal arrived. */
static bool read_signals(struct conn *c)
{
	struct signalfd_siginfo si;
	bool term = false;

	for (;;) {
		ssize_t n = read(c->sigfd, &si, sizeof(si));
		if (n != (ssize_t)sizeof(si))
			break;
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT || si.ssi_signo == SIGHUP)
			term = true;
	}
	reap(c);
	if (term) {
		c->terminated = true;
		conn_abort(c, "terminated by a signal");
	}
	return term;
}

/* ---- moving bytes ---- */

static enum pump_result relay_pump(struct relay *r)
{
	for (int round = 0; round < RELAY_ROUNDS; round++) {
		if (r->use_splice && !r->discard && r->len == r->off) {
			ssize_t n = splice(r->from, NULL, r->to, NULL, RELAY_CHUNK,
					   SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
			if (n > 0) {
				r->bytes += (uint64_t)n;
				continue;
			}
			if (n == 0 && r->from_is_socket) {
				/*
				 * EOF from the source closes the destination's input
				 * for good: make sure it is one, and not a splice that
				 * found no room, before acting on it.
				 */
				char b;
				ssize_t k = recv(r->from, &b, 1, MSG_PEEK | MSG_DONTWAIT);
				if (k > 0) {
					r->to_ready = false;
					return PUMP_AGAIN;
				}
				if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
					r->from_ready = false;
					return PUMP_AGAIN;
				}
				if (k < 0)
					return PUMP_FROM_ERR;
				return PUMP_EOF;
			}
			if (n == 0)
				return PUMP_EOF;
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				/* either side may be the one not ready: poll both */
				r->from_ready = r->to_ready = false;
				return PUMP_AGAIN;
			}
			if (errno == EPIPE || errno == ECONNRESET)
				return PUMP_TO_GONE;
			if (errno != EINVAL && errno != ENOSYS && errno != EBADF)
				return PUMP_FROM_ERR;
			/* a tty or another kind of fd: copy through user space */
			r->use_splice = false;
		}
		if (!r->buf) {
			r->buf = malloc(RELAY_BUF);
			if (!r->buf)
				return PUMP_FROM_ERR;
		}
		if (r->off == r->len) {
			ssize_t n = read(r->from, r->buf, RELAY_BUF);
			if (n == 0)
				return PUMP_EOF;
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN) {
					r->from_ready = false;
					return PUMP_AGAIN;
				}
				return PUMP_FROM_ERR;
			}
			r->off = 0;
			r->len = (size_t)n;
		}
		if (r->discard) {
			/* nobody reads the other end: drop it, keep the sender going */
			r->discarded += r->len - r->off;
			r->off = r->len;
			continue;
		}
		ssize_t w = write(r->to, r->buf + r->off, r->len - r->off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				r->to_ready = false;
				return PUMP_AGAIN;
			}
			return PUMP_TO_GONE;
		}
		r->off += (size_t)w;
		r->bytes += (uint64_t)w;
	}
	return PUMP_AGAIN;
}

/* The source's stream ended: EOF goes down the pipeline. */
static void up_finish(struct conn *c)
{
	struct relay *r = &c->up;
	if (r->to >= 0) {
		close(r->to);
		r->to = -1;
	}
	r->done = true;
}

/* The pipeline's stream towards the source ended: half-close the caller. */
static void down_finish(struct conn *c)
{
	struct relay *r = &c->down;
	if (r->from >= 0) {
		close(r->from);
		r->from = -1;
	}
	/*
	 * A socket may be shared with the input (qrexec-agent hands some
	 * services one socket as stdin and stdout): closing our fd would not
	 * be an EOF, shutting down the write side is.
	 */
	if (c->out_is_socket && shutdown(r->to, SHUT_WR) < 0 && errno != ENOTCONN)
		log_sys(LOG_WARNING, "unable to shut down the socket for writing");
	/* keep the fd occupied so no later open() lands on it */
	if (!c->is_socket && dup2(c->devnull, r->to) < 0)
		log_sys(LOG_WARNING, "unable to close the output");
	r->done = true;
}

static void pump_up(struct conn *c)
{
	struct relay *r = &c->up;
	switch (relay_pump(r)) {
	case PUMP_AGAIN:
		return;
	case PUMP_EOF:
		up_finish(c);
		return;
	case PUMP_TO_GONE:
		/*
		 * The first step stopped reading before the source was done.
		 * Keep reading and dropping, so the caller is never blocked;
		 * whether that ends the connection is up to the processes.
		 */
		close(r->to);
		r->to = -1;
		r->discard = true;
		r->to_ready = true;
		return;
	case PUMP_FROM_ERR:
		if (errno == ECONNRESET)
			conn_abort(c, "the source closed the connection");
		else
			conn_abort(c, "unable to read from the source: %s", strerror(errno));
		return;
	}
}

static void pump_down(struct conn *c)
{
	struct relay *r = &c->down;
	switch (relay_pump(r)) {
	case PUMP_AGAIN:
		return;
	case PUMP_EOF:
		down_finish(c);
		return;
	case PUMP_TO_GONE:
		conn_abort(c, "the source stopped reading");
		return;
	case PUMP_FROM_ERR:
		conn_abort(c, "unable to read from the pipeline: %s", strerror(errno));
		return;
	}
}

/* ---- phases ---- */

static int wait_admission(struct conn *c, struct proc *p, int timeout_ms)
{
	int64_t deadline = mono_ms() + timeout_ms;

	while (!p->reaped) {
		struct pollfd pf[2] = {
			{ .fd = c->sigfd, .events = POLLIN },
			{ .fd = p->err_fd, .events = POLLIN },
		};
		int64_t left = deadline - mono_ms();
		if (left <= 0) {
			/* no verdict is a refusal: admission fails closed */
			set_reason(c, "%s did not decide within %d ms", p->tag, timeout_ms);
			c->aborting = true;
			kill_all(c);
			reap_all_blocking(c);
			break;
		}
		int r = poll(pf, p->err_fd >= 0 ? 2 : 1, (int)left);
		if (r < 0 && errno != EINTR) {
			log_sys(LOG_ERR, "unable to poll");
			conn_abort(c, "unable to poll");
			reap_all_blocking(c);
			break;
		}
		if (r > 0 && (pf[1].revents & (POLLIN | POLLHUP | POLLERR)))
			drain_stderr(p);
		if (r > 0 && pf[0].revents & POLLIN) {
			if (read_signals(c)) {
				reap_all_blocking(c);
				break;
			}
		}
	}
	drain_stderr(p);
	if (p->err_fd >= 0) {
		close(p->err_fd);
		p->err_fd = -1;
	}
	/* whatever it forked is not allowed to outlive its verdict */
	killpg(p->pid, SIGKILL);
	return p->reaped && WIFEXITED(p->status) && WEXITSTATUS(p->status) == 0 && !c->aborting ? 0 : -1;
}

static int run_admission(struct conn *c)
{
	const struct qp_chain *ch = c->a->chain;

	for (size_t i = 0; i < ch->nadmit; i++) {
		const struct qp_step *s = &ch->admit[i];
		struct proc p = { .pid = -1, .err_fd = -1, .is_admit = true };
		char buf[96];

		snprintf(p.tag, sizeof(p.tag), "admit %s", s->name);
		size_t argc = s->nargs + 2;
		char **argv = calloc(argc, sizeof(*argv));
		if (!argv) {
			set_reason(c, "out of memory");
			return -1;
		}
		argv[0] = s->name;
		for (size_t k = 0; k < s->nargs; k++)
			argv[k + 1] = s->args[k];
		c->procs = &p;
		c->nprocs = 1;
		c->pgid = 0;
		int rc = start_proc(c, &p, s->path, argv, c->env_filter[0], c->devnull, -1, true, 0);
		free(argv);
		if (rc < 0) {
			c->procs = NULL;
			c->nprocs = 0;
			return -1;
		}
		c->pgid = p.pid;
		rc = wait_admission(c, &p, c->a->admit_timeout_ms);
		c->procs = NULL;
		c->nprocs = 0;
		c->pgid = 0;
		if (rc < 0) {
			if (!c->aborting)
				set_reason(c, "refused by %s (%s)", p.tag,
					   spawn_strstatus(p.status, buf, sizeof(buf)));
			return -1;
		}
	}
	return 0;
}

static void confine_self(struct conn *c)
{
#ifndef QP_SANITIZERS
	/* (LeakSanitizer needs ptrace at exit: sanitizer builds load it per child) */
	if (!c->a->seccomp || c->self_confined)
		return;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, c->a->seccomp) < 0) {
		log_sys(LOG_WARNING, "unable to apply the seccomp policy to the supervisor; loading it per filter");
		return;
	}
	c->self_confined = true;
#else
	(void)c;
#endif
}

struct hop {
	const struct qp_step *step;
	unsigned dir;
	size_t pos;  /* 1-based position in the chain */
};

static int start_pipeline(struct conn *c)
{
	const struct qp_chain *ch = c->a->chain;
	size_t nup = 0, ndown = 0;
	int rc = -1;

	for (size_t i = 0; i < ch->nfilters; i++) {
		if (ch->filters[i].direction & QP_DIR_SRC2DST)
			nup++;
		if (ch->filters[i].direction & QP_DIR_DST2SRC)
			ndown++;
	}
	size_t nhops = nup + ndown;
	struct hop *hops = calloc(nhops + 1, sizeof(*hops));
	/* pipes[k] feeds hop k (the connector is hop nup); one more at the end */
	int (*pipes)[2] = calloc(nhops + 2, sizeof(*pipes));
	c->procs = calloc(nhops + 1, sizeof(*c->procs));
	if (!hops || !pipes || !c->procs) {
		set_reason(c, "out of memory");
		goto out;
	}
	c->nprocs = nhops + 1;
	for (size_t i = 0; i < c->nprocs; i++) {
		c->procs[i].pid = -1;
		c->procs[i].err_fd = -1;
	}
	for (size_t i = 0; i < nhops + 2; i++)
		pipes[i][0] = pipes[i][1] = -1;

	/* position 1 is next to the source; answers pass the steps in reverse */
	size_t k = 0;
	for (size_t i = 0; i < ch->nfilters; i++)
		if (ch->filters[i].direction & QP_DIR_SRC2DST)
			hops[k++] = (struct hop){ &ch->filters[i], QP_DIR_SRC2DST, i + 1 };
	hops[k++] = (struct hop){ NULL, 0, 0 };
	for (size_t i = ch->nfilters; i-- > 0;)
		if (ch->filters[i].direction & QP_DIR_DST2SRC)
			hops[k++] = (struct hop){ &ch->filters[i], QP_DIR_DST2SRC, i + 1 };

	for (size_t i = 0; i < nhops + 2; i++) {
		if (pipe2(pipes[i], O_CLOEXEC) < 0) {
			log_sys(LOG_ERR, "unable to create a pipe");
			set_reason(c, "unable to create a pipe: %s", strerror(errno));
			goto out;
		}
		/*
		 * Every hop splices at most a pipe's worth per wake-up: larger
		 * pipes mean fewer wake-ups per byte. The memory is taken only
		 * while data waits in them. A refusal (a hard per-user limit)
		 * leaves the default, which is slower but correct.
		 */
		if (c->a->pipe_size > 0 && fcntl(pipes[i][0], F_SETPIPE_SZ, c->a->pipe_size) < 0 &&
		    !c->pipe_size_warned) {
			c->pipe_size_warned = true;
			log_sys(LOG_INFO, "unable to set the pipe size to %d", c->a->pipe_size);
		}
	}

	/*
	 * The connector first, unconfined (it may be any program); then the
	 * supervisor puts itself under the baseline policy, which every filter
	 * inherits for free instead of loading it once per process (the
	 * kernel's per-load cost is most of a confined spawn).
	 */
	for (size_t o = 0; o < nhops + 1; o++) {
		size_t h = o == 0 ? nup : o <= nup ? o - 1 : o;
		struct proc *p = &c->procs[h];
		const struct hop *hp = &hops[h];
		if (o == 1)
			confine_self(c);
		int fd0 = pipes[h][0], fd1 = pipes[h + 1][1];
		int r;

		if (!hp->step) {
			p->is_connector = true;
			snprintf(p->tag, sizeof(p->tag), "connector");
			r = start_proc(c, p, c->a->connector[0], c->a->connector, c->env_connector,
				       fd0, fd1, false, c->pgid);
			if (r == 0)
				c->res->connector_started = true;
		} else {
			const struct qp_step *s = hp->step;
			const char *dname = hp->dir == QP_DIR_SRC2DST ? "src2dst" : "dst2src";
			snprintf(p->tag, sizeof(p->tag), "filter %s#%zu (%s)", s->name, hp->pos, dname);
			char **argv = calloc(s->nargs + 2, sizeof(*argv));
			if (!argv) {
				set_reason(c, "out of memory");
				goto out;
			}
			argv[0] = s->name;
			for (size_t a = 0; a < s->nargs; a++)
				argv[a + 1] = s->args[a];
			r = start_proc(c, p, s->path, argv, c->env_filter[hp->dir], fd0, fd1, true,
				       c->pgid);
			free(argv);
		}
		if (r < 0)
			goto out;
		if (c->pgid == 0)
			c->pgid = p->pid;
		/* the child has its copies now; only the two outer ends stay here */
		close(pipes[h][0]);
		pipes[h][0] = -1;
		close(pipes[h + 1][1]);
		pipes[h + 1][1] = -1;

		if (o == nup) {
			/*
			 * The way to the destination is complete: pass on what the
			 * caller already sent before starting the steps of the
			 * answer, so the request does not wait for them.
			 */
			c->up.to = pipes[0][1];
			pipes[0][1] = -1;
			if (fd_set_nonblock(c->up.to, true) < 0) {
				log_sys(LOG_ERR, "unable to set up the pipeline's ends");
				set_reason(c, "unable to set up a pipe");
				goto out;
			}
			if (o < nhops) {
				c->up.from_ready = c->up.to_ready = true;
				pump_up(c);
				if (c->aborting) {
					rc = 0;
					goto out;
				}
			}
		}
	}

	c->down.from = pipes[nhops + 1][0];
	pipes[nhops + 1][0] = -1;
	if (fd_set_nonblock(c->down.from, true) < 0) {
		log_sys(LOG_ERR, "unable to set up the pipeline's ends");
		set_reason(c, "unable to set up a pipe");
		goto out;
	}
	rc = 0;
out:
	if (pipes)
		for (size_t i = 0; i < nhops + 2; i++)
			for (int e = 0; e < 2; e++)
				if (pipes[i][e] >= 0)
					close(pipes[i][e]);
	free(pipes);
	free(hops);
	return rc;
}

static void run_loop(struct conn *c)
{
	size_t maxfds = 5 + c->nprocs;
	struct pollfd *pf = calloc(maxfds, sizeof(*pf));
	/* what each pollfd stands for: -1 sigfd, -2/-3 up from/to, -4/-5 down from/to, >=0 proc */
	int *what = calloc(maxfds, sizeof(*what));

	if (!pf || !what) {
		conn_abort(c, "out of memory");
		goto out;
	}
	while (!c->aborting && !(all_reaped(c) && c->down.done)) {
		size_t n = 0;
		int timeout = -1;

		pf[n] = (struct pollfd){ .fd = c->sigfd, .events = POLLIN };
		what[n++] = -1;
		if (!c->up.done) {
			if (!c->up.from_ready) {
				pf[n] = (struct pollfd){ .fd = c->up.from, .events = POLLIN };
				what[n++] = -2;
			}
			if (!c->up.to_ready && !c->up.discard) {
				pf[n] = (struct pollfd){ .fd = c->up.to, .events = POLLOUT };
				what[n++] = -3;
			}
			if (c->up.from_ready && (c->up.to_ready || c->up.discard))
				timeout = 0;
		}
		if (!c->down.done) {
			if (!c->down.from_ready) {
				pf[n] = (struct pollfd){ .fd = c->down.from, .events = POLLIN };
				what[n++] = -4;
			}
			if (!c->down.to_ready) {
				pf[n] = (struct pollfd){ .fd = c->down.to, .events = POLLOUT };
				what[n++] = -5;
			}
			if (c->down.from_ready && c->down.to_ready)
				timeout = 0;
		}
		for (size_t i = 0; i < c->nprocs; i++) {
			if (c->procs[i].err_fd >= 0) {
				pf[n] = (struct pollfd){ .fd = c->procs[i].err_fd, .events = POLLIN };
				what[n++] = (int)i;
			}
		}

		int r = poll(pf, n, timeout);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			log_sys(LOG_ERR, "unable to poll");
			conn_abort(c, "unable to poll: %s", strerror(errno));
			break;
		}
		for (size_t i = 0; i < n && r > 0; i++) {
			short ev = pf[i].revents;
			if (!ev)
				continue;
			switch (what[i]) {
			case -1:
				read_signals(c);
				break;
			case -2:
				c->up.from_ready = true;
				break;
			case -3:
				c->up.to_ready = true;
				break;
			case -4:
				c->down.from_ready = true;
				break;
			case -5:
				c->down.to_ready = true;
				break;
			default:
				drain_stderr(&c->procs[what[i]]);
				break;
			}
		}
		if (c->aborting)
			break;
		/*
		 * Every process we started has ended: whatever they left behind
		 * in the group (a forked helper holding a pipe) must not keep the
		 * connection open.
		 */
		if (!c->stragglers_killed && all_reaped(c)) {
			c->stragglers_killed = true;
			if (c->pgid > 0)
				killpg(c->pgid, SIGKILL);
		}
		if (!c->up.done && c->up.from_ready && (c->up.to_ready || c->up.discard))
			pump_up(c);
		if (!c->aborting && !c->down.done && c->down.from_ready && c->down.to_ready)
			pump_down(c);
	}
out:
	free(pf);
	free(what);
}

/*
 * The supervisor is a child subreaper: whatever a filter forked and left
 * behind (even after setsid(), out of reach of killpg) becomes our child
 * when its parent ends. Once the connection's own processes are reaped,
 * end and reap those too, until none is left.
 */
static void end_orphans(void)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
	for (int round = 0; round < 100; round++) {
		FILE *f = fopen(path, "re");
		int pid, n = 0;
		if (!f)
			return;
		while (fscanf(f, "%d", &pid) == 1) {
			kill(pid, SIGKILL);
			n++;
		}
		fclose(f);
		if (n == 0)
			return;
		/* a killed orphan's own children arrive next: kill again, never block */
		pid_t r;
		errno = 0;
		while ((r = waitpid(-1, NULL, WNOHANG)) > 0)
			;
		if (r < 0 && errno == ECHILD)
			return;
		poll(NULL, 0, 1);
	}
}

static void log_summary(struct conn *c, int64_t start_ns)
{
	const struct supervise_args *a = c->a;
	struct supervise_result *res = c->res;
	int64_t us = (mono_ns() - start_ns) / 1000;
	int64_t setup_us = c->setup_ns ? (c->setup_ns - start_ns) / 1000 : 0;
	int prio = res->result == QP_OK ? LOG_INFO : LOG_WARNING;

	log_msg(prio,
		"connection %s: source=%s target=%s service=%s chain=%s result=%s%s%s "
		"duration=%lld.%06llds setup=%lld.%06llds src2dst=%llu dst2src=%llu",
		a->conn_id, a->source, a->target, a->service, a->chain->name,
		qp_result_name(res->result), res->reason[0] ? " reason=" : "", res->reason,
		(long long)(us / 1000000), (long long)(us % 1000000),
		(long long)(setup_us / 1000000), (long long)(setup_us % 1000000),
		(unsigned long long)res->bytes_src2dst, (unsigned long long)res->bytes_dst2src);
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
		.up = { .name = "src2dst", .from = a->in_fd, .to = -1, .use_splice = true },
		.down = { .name = "dst2src", .from = -1, .to = a->out_fd, .use_splice = true },
	};
	int64_t start = mono_ns();
	sigset_t mask;
	struct stat st;

	memset(res, 0, sizeof(*res));
	res->result = QP_OK;
	c.out_is_socket = fstat(a->out_fd, &st) == 0 && S_ISSOCK(st.st_mode);
	c.up.from_is_socket = fstat(a->in_fd, &st) == 0 && S_ISSOCK(st.st_mode);
	c.is_socket = a->in_fd == a->out_fd && c.out_is_socket;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
	    (c.sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		log_sys(LOG_ERR, "unable to set up signals");
		set_reason(&c, "unable to set up signals");
		res->result = QP_FAILED;
		goto out;
	}
	/* a caller that goes away must be an error code, not a death */
	signal(SIGPIPE, SIG_IGN);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		log_sys(LOG_WARNING, "unable to become a subreaper: a filter's orphans may outlive the connection");

	c.devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	c.env_filter[0] = build_env(a, "admit", false);
	c.env_filter[QP_DIR_SRC2DST] = build_env(a, "src2dst", false);
	c.env_filter[QP_DIR_DST2SRC] = build_env(a, "dst2src", false);
	c.env_connector = build_env(a, NULL, true);
	if (c.devnull < 0 || !c.env_filter[0] || !c.env_filter[1] || !c.env_filter[2] ||
	    !c.env_connector) {
		log_sys(LOG_ERR, "unable to prepare the connection");
		set_reason(&c, "unable to prepare the connection");
		res->result = QP_FAILED;
		goto out;
	}

	if (run_admission(&c) < 0) {
		res->result = c.terminated ? QP_ABORTED : QP_REFUSED;
		goto out;
	}

	/* the supervisor is the only owner of these fds, so O_NONBLOCK is ours to set */
	c.saved_in_fl = fcntl(a->in_fd, F_GETFL);
	c.saved_out_fl = a->out_fd != a->in_fd ? fcntl(a->out_fd, F_GETFL) : -1;
	if (fd_set_nonblock(a->in_fd, true) < 0 || fd_set_nonblock(a->out_fd, true) < 0) {
		log_sys(LOG_ERR, "unable to make the caller's fds non-blocking");
		set_reason(&c, "unable to set up the caller's fds");
		res->result = QP_FAILED;
		goto out;
	}

	if (start_pipeline(&c) < 0) {
		if (res->result == QP_OK)
			res->result = QP_FAILED;
		kill_all(&c);
		reap_all_blocking(&c);
		goto out;
	}
	c.setup_ns = mono_ns();
	run_loop(&c);
	if (c.aborting) {
		if (c.is_socket)
			shutdown(a->in_fd, SHUT_RDWR);
		reap_all_blocking(&c);
	}
	/* stragglers a filter forked into the group, and those that left it */
	if (c.pgid > 0)
		killpg(c.pgid, SIGKILL);
	end_orphans();
	for (size_t i = 0; i < c.nprocs; i++) {
		drain_stderr(&c.procs[i]);
		if (c.procs[i].err_fd >= 0)
			close(c.procs[i].err_fd);
	}
	if (c.up.discard && c.up.discarded > 0)
		log_msg(LOG_INFO, "the pipeline stopped reading from the source early; the rest (%llu bytes) was discarded",
			(unsigned long long)c.up.discarded);
out:
	res->bytes_src2dst = c.up.bytes;
	res->bytes_dst2src = c.down.bytes;
	log_summary(&c, a->start_ns ? a->start_ns : start);
	if (c.up.to >= 0)
		close(c.up.to);
	if (c.down.from >= 0)
		close(c.down.from);
	if (c.saved_in_fl >= 0)
		fcntl(a->in_fd, F_SETFL, c.saved_in_fl);
	if (c.saved_out_fl >= 0)
		fcntl(a->out_fd, F_SETFL, c.saved_out_fl);
	free(c.up.buf);
	free(c.down.buf);
	free(c.procs);
	for (int i = 0; i < 3; i++)
		free_env(c.env_filter[i]);
	free_env(c.env_connector);
	if (c.devnull >= 0)
		close(c.devnull);
	if (c.sigfd >= 0)
		close(c.sigfd);
	return res->result;
}
