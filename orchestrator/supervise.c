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

#include "qpf-contract.h"
#include "isolate.h"
#include "connlimits.h"
#include "log.h"
#include "spawn.h"
#include "summary.h"
#include "supervise.h"
#include "warm.h"
#include "util.h"

extern char **environ;

/* how much one splice() or read() asks for */
#define RELAY_CHUNK (1 << 20)
/* fallback copy buffer when splice does not apply (ttys, files) */
#define RELAY_BUF (1 << 16)
/* a pipe too full to shrink for this long counts with what it holds (connlimits.h) */
#define STUCK_MS 2000
/* a slot not granted within this long: the call waits, and the filters started ahead are ended */
#define WARM_WAIT_MS 20
/* pumps per wake-up before the other fds get a turn */
#define RELAY_ROUNDS 16

struct proc {
	pid_t pid;            /* our child (the connector), or its pid inside the sandbox (for logs) */
	bool in_sandbox;      /* started and reaped by the sandbox's init, reported by events */
	bool started;
	bool reaped;
	bool is_connector;
	int status;
	int err_fd;           /* read end of its stderr pipe, -1 once closed */
	size_t linelen;
	char tag[128];
	char line[QPC_LINE_MAX];
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

/* what a direction's data pipes are given (DIR_IDLE_OTHER, DIR_IDLE_MAX) */
enum dir_use {
	DIR_UNSEEN,           /* not yet known: the share of the budget */
	DIR_IDLE,             /* has carried next to nothing (the other one did, or a second passed): one page */
	DIR_BUSY,             /* carries data: the share */
};

struct conn {
	const struct supervise_args *a;
	struct supervise_result *res;
	struct proc *procs;
	size_t nprocs;
	const struct isolate_policy *pol;
	struct isolate_sandbox sb;  /* the connection's sandbox (pid -1: none running) */
	bool sb_reaped;
	int sb_status;
	size_t *sb_map;       /* the sandbox's program i is procs[sb_map[i]] */
	size_t sb_n, sb_started;
	bool sb_setup_failed;
	bool admitting;       /* a failed process is a refusal, not an abort */
	int sigfd;
	int devnull;
	bool is_socket;       /* one socket both ways (serve) */
	bool out_is_socket;   /* the output is a socket: half-close with shutdown() */
	bool stragglers_killed;
	bool pipe_warned;     /* the kernel gave a data pipe less than asked: said once */
	int data_pipe;        /* bytes every data pipe is to have; 0: the kernel's default */
	int big_pipes;        /* of the data pipes that carry data, the first this many get twice that */
	int aux_pipe;         /* bytes for the stderr pipes; 0: the kernel's default */
	int *pipe_path;       /* O_PATH fds of the data pipes, to resize them; -1: none, or done with */
	size_t npipes;
	size_t npipes_up;     /* pipe_path[0 .. npipes_up - 1] carry src2dst, the rest dst2src */
	enum dir_use dir_use[2]; /* src2dst, dst2src: whether the direction's pipes get their share */
	uint32_t told_idle;   /* the data pipes the listener was last told hold one page */
	int64_t dir_idle_at_ms; /* from then on, a direction that has carried next to nothing is idle */
	bool listener_gone;   /* the admission channel is at EOF */
	bool resize_pending;  /* a data pipe was too full to shrink: again at resize_at_ms */
	int64_t resize_at_ms;
	int64_t resize_since_ms; /* when the shrink first found a pipe too full */
	int resize_backoff_ms;
	bool told_stuck;      /* the listener knows the pipes would not shrink */
	uint64_t told_held;   /* the pages the listener was last told the data pipes hold */
	int64_t state_ms;     /* when the listener was last told the bytes moved */
	uint64_t state_bytes;
	bool aborting;
	bool terminated;      /* SIGTERM/SIGINT/SIGHUP arrived */
	int idle_ms;          /* no byte either way for this long ends the connection; 0: never */
	int64_t active_ms;    /* when a byte last moved (or the pipeline started) */
	uint64_t moved;       /* bytes moved both ways, as of active_ms */
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
	case QP_CALLER_GONE:
		return "caller-gone";
	case QP_QUEUE_TIMEOUT:
		return "queue-timeout";
	case QP_QUEUE_FULL:
		return "queue-full";
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
		/* the state directory is the admission checks' alone: filters never hear of it */
		const char *sd = a->isolation ? a->isolation->state_dir : NULL;
		bool admit = direction && !strcmp(direction, QPC_DIR_ADMIT);
		if (asprintf(&env[n++], "PATH=%s", "/usr/local/bin:/usr/bin:/bin") < 0)
			goto fail;
		if (admit && sd && asprintf(&env[n++], "STATE_DIRECTORY=%s", sd) < 0)
			goto fail;
	}
	if (asprintf(&env[n++], QPC_ENV_SOURCE "=%s", a->source) < 0 ||
	    asprintf(&env[n++], QPC_ENV_CHAIN "=%s", a->chain->name) < 0 ||
	    asprintf(&env[n++], QPC_ENV_TARGET "=%s", a->target) < 0 ||
	    asprintf(&env[n++], QPC_ENV_SERVICE "=%s", a->service) < 0 ||
	    asprintf(&env[n++], QPC_ENV_CONNECTION "=%s", a->conn_id) < 0)
		goto fail;
	if (direction && asprintf(&env[n++], QPC_ENV_DIRECTION "=%s", direction) < 0)
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

/* A pipe for a child's stderr: the read end stays here (non-blocking), *WR is the child's. */
static int make_err_pipe(struct conn *c, struct proc *p, int *wr)
{
	int ep[2];

	if (pipe2(ep, O_CLOEXEC) < 0) {
		log_sys(LOG_ERR, "unable to create a pipe for %s", p->tag);
		set_reason(c, "unable to create a pipe");
		return -1;
	}
	if (fd_set_nonblock(ep[0], true) < 0) {
		log_sys(LOG_ERR, "unable to set up the stderr pipe of %s", p->tag);
		set_reason(c, "unable to set up a pipe");
		close(ep[0]);
		close(ep[1]);
		return -1;
	}
	/*
	 * Pipe memory is charged to the daemon's user and budgeted: a line
	 * of stderr needs no more than a page (a shrink is always allowed).
	 */
	if (c->aux_pipe > 0)
		fcntl(ep[0], F_SETPIPE_SZ, c->aux_pipe);
	p->err_fd = ep[0];
	*wr = ep[1];
	return 0;
}

/*
 * The connector is our own child, outside every sandbox and unconfined:
 * it may be any program, and it holds the way to the qrexec agent, so no
 * filter may reach it. Its own process group, torn down with it.
 */
static int start_connector(struct conn *c, struct proc *p, int fd0, int fd1)
{
	int ew;

	if (make_err_pipe(c, p, &ew) < 0)
		return -1;
	struct spawn_req req = {
		.path = c->a->connector[0],
		.argv = c->a->connector,
		.envp = c->env_connector,
		.fd = { fd0, fd1, ew },
		.seccomp = NULL,
		.pgid = 0,
	};
	pid_t pid = spawn_child(&req);
	int err = errno;
	close(ew);
	if (pid < 0) {
		errno = err;
		log_sys(LOG_ERR, "unable to start %s (%s)", p->tag, req.path);
		set_reason(c, "unable to start %s: %s", p->tag, strerror(err));
		return -1;
	}
	p->pid = pid;
	p->started = true;
	c->res->connector_started = true;
	return 0;
}

/*
 * Starts the connection's sandbox, whose init starts IP[i] as procs[MAP[i]]
 * (stdin and stdout as given, stdout -1: its stderr; stderr a pipe to us).
 * Takes MAP.
 */
static int start_sandbox(struct conn *c, enum isolate_role role, struct isolate_proc *ip, size_t n, size_t *map)
{
	int *ew = calloc(n ? n : 1, sizeof(*ew));
	int rc = -1;

	c->sb_map = map;
	c->sb_n = n;
	c->sb_started = 0;
	c->sb_reaped = false;
	if (!ew) {
		set_reason(c, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		ew[i] = -1;
	for (size_t i = 0; i < n; i++) {
		struct proc *p = &c->procs[map[i]];
		p->in_sandbox = true;
		if (make_err_pipe(c, p, &ew[i]) < 0)
			goto out;
		ip[i].fd[2] = ew[i];
		if (ip[i].fd[1] < 0)
			ip[i].fd[1] = ew[i];
	}
	/* the sandbox built while the descriptor was read, if it is the one this chain needs */
	struct isolate_prepared *prep = c->a->prepared;
	bool ran = false;
	if (role == ISOLATE_FILTERS && prep && prep->ctl >= 0 && prep->pol->mech == c->pol->mech) {
		ran = isolate_run(prep, ip, n, &c->sb) == 0;
		if (!ran) {
			log_sys(LOG_DEBUG, "the prepared sandbox did not take the filters; building another");
			isolate_discard(prep);
		}
	}
	if (!ran && isolate_start(c->pol, role, ip, n, c->a->seccomp, &c->sb) < 0) {
		log_sys(LOG_ERR, "unable to start the connection's sandbox (%s)",
			isolate_mech_name(c->pol->mech));
		set_reason(c, "unable to isolate the connection: %s", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		if (ew[i] >= 0)
			close(ew[i]);
	free(ew);
	return rc;
}

static struct proc *proc_by_pid(struct conn *c, pid_t pid)
{
	for (size_t i = 0; i < c->nprocs; i++)
		if (!c->procs[i].in_sandbox && c->procs[i].pid == pid && !c->procs[i].reaped)
			return &c->procs[i];
	return NULL;
}

static bool all_reaped(const struct conn *c)
{
	for (size_t i = 0; i < c->nprocs; i++)
		if ((c->procs[i].pid > 0 || c->procs[i].in_sandbox) && !c->procs[i].reaped)
			return false;
	return c->sb.pid <= 0 || c->sb_reaped;
}

/*
 * Ends every process of the connection. The sandbox's init first: with
 * namespaces the kernel then ends everything inside; otherwise every
 * program dies with it (PR_SET_PDEATHSIG) and the group kill reaches the
 * rest, until the supervisor, a subreaper, ends what escaped. A group is
 * killed only while its leader is unreaped: only then can its id not be
 * another group's.
 */
static void kill_all(struct conn *c)
{
	if (c->sb.pid > 0 && !c->sb_reaped) {
		if (killpg(c->sb.pid, SIGKILL) < 0 && errno != ESRCH)
			log_sys(LOG_WARNING, "unable to kill the sandbox's process group %d", (int)c->sb.pid);
		kill(c->sb.pid, SIGKILL);
	}
	for (size_t i = 0; i < c->nprocs; i++) {
		struct proc *p = &c->procs[i];
		if (p->in_sandbox || p->pid <= 0 || p->reaped)
			continue;
		killpg(p->pid, SIGKILL);
		kill(p->pid, SIGKILL);
	}
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
	if (!failed || c->aborting)
		return;
	if (c->admitting)
		set_reason(c, "refused by %s (%s)", p->tag, spawn_strstatus(status, buf, sizeof(buf)));
	conn_abort(c, "%s %s", p->tag, spawn_strstatus(status, buf, sizeof(buf)));
}

/* The init's events: its programs started, could not start, or ended. */
static void on_sandbox_event(struct conn *c, const struct isolate_event *ev)
{
	if (ev->kind == ISOLATE_EV_SETUP_FAILED) {
		c->sb_setup_failed = true;
		log_msg(LOG_ERR, "unable to isolate the connection (%s): unable to %s: %s",
			isolate_mech_name(c->pol->mech), isolate_setup_step_name(ev->index),
			strerror(ev->value));
		set_reason(c, "unable to isolate the connection");
		if (c->res->result == QP_OK)
			c->res->result = QP_FAILED;
		conn_abort(c, "unable to isolate the connection");
		return;
	}
	if (ev->index < 0 || (size_t)ev->index >= c->sb_n)
		return;
	struct proc *p = &c->procs[c->sb_map[ev->index]];
	switch (ev->kind) {
	case ISOLATE_EV_STARTED:
		p->pid = ev->pid;
		p->started = true;
		if (++c->sb_started == c->sb_n)
			c->setup_ns = mono_ns();
		break;
	case ISOLATE_EV_START_FAILED:
		log_msg(LOG_ERR, "unable to start %s: %s", p->tag, strerror(ev->value));
		set_reason(c, "unable to start %s: %s", p->tag, strerror(ev->value));
		p->reaped = true;
		p->status = W_EXITCODE(127, 0);
		if (c->res->result == QP_OK)
			c->res->result = QP_FAILED;
		conn_abort(c, "unable to start %s", p->tag);
		break;
	case ISOLATE_EV_EXITED:
		if (!p->reaped)
			on_exit_status(c, p, ev->value);
		break;
	}
}

/* Reads the sandbox's events; at EOF, whatever it did not report ended with it. */
static void sandbox_drain(struct conn *c)
{
	struct isolate_event ev;
	int r;

	while (c->sb.events >= 0 && (r = isolate_read_event(&c->sb, &ev)) != -1) {
		if (r == 1) {
			on_sandbox_event(c, &ev);
			continue;
		}
		close(c->sb.events);
		c->sb.events = -1;
		for (size_t i = 0; i < c->sb_n; i++) {
			struct proc *p = &c->procs[c->sb_map[i]];
			if (p->reaped)
				continue;
			p->reaped = true;
			p->status = W_EXITCODE(0, SIGKILL);
			if (!c->aborting)
				conn_abort(c, "the sandbox ended before %s did", p->tag);
		}
	}
}

static void on_child(struct conn *c, pid_t pid, int status)
{
	if (pid == c->sb.pid && !c->sb_reaped) {
		c->sb_reaped = true;
		c->sb_status = status;
		if (!c->aborting && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
			char buf[96];
			log_msg(LOG_ERR, "the connection's sandbox %s", spawn_strstatus(status, buf, sizeof(buf)));
		}
		/* its events were written before it ended: all of them are there to read */
		if (c->sb.events >= 0) {
			int fl = fcntl(c->sb.events, F_GETFL);
			if (fl >= 0)
				fcntl(c->sb.events, F_SETFL, fl & ~O_NONBLOCK);
			sandbox_drain(c);
		}
		return;
	}
	struct proc *p = proc_by_pid(c, pid);
	if (p)
		on_exit_status(c, p, status);
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
		on_child(c, pid, status);
	}
}

/* Blocks until every started process has been reaped (after SIGKILL). */
static void reap_all_blocking(struct conn *c)
{
	while (c->sb.pid > 0 && !c->sb_reaped) {
		int status;
		pid_t r = waitpid(c->sb.pid, &status, 0);
		if (r == c->sb.pid) {
			on_child(c, r, status);
		} else if (r < 0 && errno != EINTR) {
			c->sb_reaped = true;
			break;
		}
	}
	if (c->sb.events >= 0)
		sandbox_drain(c);
	for (size_t i = 0; i < c->nprocs; i++) {
		struct proc *p = &c->procs[i];
		while (!p->in_sandbox && p->pid > 0 && !p->reaped) {
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

/* The sandbox is done with: its event pipe and the map of its programs. */
static void sandbox_forget(struct conn *c)
{
	if (c->sb.events >= 0)
		close(c->sb.events);
	c->sb.events = -1;
	c->sb.pid = -1;
	c->sb_reaped = false;
	free(c->sb_map);
	c->sb_map = NULL;
	c->sb_n = 0;
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

/* ---- pipe sizes and the listener's limits ---- */

/*
 * A direction that has carried next to nothing while the other one has
 * moved a megabyte is a one-way transfer's silent half (a file copy, a
 * backup, a download), and one that has carried next to nothing in its
 * first second is silent too (a connection held open, a slow service):
 * its pipes drop to one page, and the listener gives their share to the
 * connections' busy pipes. The first time it carries more, it is busy
 * for good and gets its share back.
 */
#define DIR_IDLE_OTHER (1u << 20)
#define DIR_IDLE_MAX (64u << 10)
#define DIR_IDLE_AFTER_MS 1000

/*
 * Sets data pipe FD (either end) to SIZE bytes and checks what the kernel
 * gave: once the daemon's user is over fs.pipe-user-pages-soft, growing
 * a pipe fails and new ones get two pages. That must never happen
 * silently. Returns the size it has; *BUSY when it was too full to shrink.
 */
static int set_pipe_size(struct conn *c, int fd, int size, bool *busy)
{
	int err = 0;
	long page = sysconf(_SC_PAGESIZE);
	/* none asked for: the kernel's default, 16 pages, unless it is over the limit */
	int want = size > 0 ? size : 16 * (int)(page > 0 ? page : 4096);
	if (size > 0 && fcntl(fd, F_SETPIPE_SZ, size) < 0) {
		err = errno;
		if (err == EBUSY && busy)
			*busy = true;
	}
	int got = fcntl(fd, F_GETPIPE_SZ);
	if (got < 0)
		return 0;
	if (got < want && err != EBUSY && !c->pipe_warned) {
		c->pipe_warned = true;
		log_msg(LOG_WARNING,
			"pipes of %d bytes were asked for, the kernel gave %d (%s): the daemon's user is over the kernel's limit on pipe memory (fs.pipe-user-pages-soft, shared with every process of that user), or the size is over fs.pipe-max-size; lower --pipe-memory or --pipe-size, or raise the limits",
			want, got, err ? strerror(err) : "no error");
	}
	/* the summary's pipe=: the smallest share, not the page of an idle direction */
	if ((size == c->data_pipe || (c->data_pipe > 0 && size > c->data_pipe)) &&
	    (c->res->min_pipe == 0 || got < c->res->min_pipe))
		c->res->min_pipe = got;
	return got;
}

/* The size of the Kth data pipe that carries data (counted from 0, in the order of the pipes). */
static int busy_pipe_size(const struct conn *c, size_t k)
{
	return k < (size_t)c->big_pipes && c->data_pipe > 0 && c->data_pipe <= (1 << 29) ? 2 * c->data_pipe
											  : c->data_pipe;
}

/* Whether data pipe I still has its writer and its reader (pipe 0 is ours to write, the last ours to read). */
static bool pipe_live(const struct conn *c, size_t i)
{
	bool writer = i == 0 ? c->up.to >= 0 : !c->procs[i - 1].reaped;
	bool reader = i == c->npipes - 1 ? c->down.from >= 0 : !c->procs[i].reaped;
	return writer && reader;
}

static void forget_pipes(struct conn *c)
{
	for (size_t i = 0; i < c->npipes; i++)
		if (c->pipe_path[i] >= 0)
			close(c->pipe_path[i]);
	free(c->pipe_path);
	c->pipe_path = NULL;
	c->npipes = 0;
}

/*
 * Gives every live data pipe its share: c->data_pipe bytes, the first
 * c->big_pipes of those that carry data twice that, a page to those of a
 * direction that carries nothing. The inner pipes are held
 * by filters only: the supervisor keeps an O_PATH reference to each (no
 * reader, no writer, so EOF and EPIPE stay as they were) and reopens it
 * for the moment of the change. Returns the pages the data pipes hold.
 */
static uint64_t resize_pipes(struct conn *c)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t held = 0;
	bool busy = false;
	size_t k = 0;
	for (size_t i = 0; i < c->npipes; i++) {
		if (c->pipe_path[i] < 0)
			continue;
		if (!pipe_live(c, i)) {
			close(c->pipe_path[i]);
			c->pipe_path[i] = -1;
			continue;
		}
		char path[40];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", c->pipe_path[i]);
		int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0) {
			log_sys(LOG_INFO, "unable to reopen a pipe to resize it (it keeps its size)");
			close(c->pipe_path[i]);
			c->pipe_path[i] = -1;
			continue;
		}
		enum dir_use use = c->dir_use[i < c->npipes_up ? 0 : 1];
		int got = set_pipe_size(c, fd, use == DIR_IDLE ? (int)page : busy_pipe_size(c, k++), &busy);
		close(fd);
		held += page > 0 ? (uint64_t)got / (uint64_t)page : 0;
	}
	if (busy) {
		/* data waits in it: try again, less often as long as it stays full */
		if (!c->resize_pending)
			c->resize_since_ms = mono_ms();
		c->resize_pending = true;
		c->resize_backoff_ms = c->resize_backoff_ms ? c->resize_backoff_ms * 2 : 10;
		if (c->resize_backoff_ms > 1000)
			c->resize_backoff_ms = 1000;
		c->resize_at_ms = mono_ms() + c->resize_backoff_ms;
	} else {
		c->resize_pending = false;
		c->resize_backoff_ms = 0;
	}
	return held;
}

/* The data pipes of the idle directions: the listener counts them at one page. */
static uint32_t idle_pipes(const struct conn *c)
{
	uint32_t n = 0;
	if (c->dir_use[0] == DIR_IDLE)
		n += (uint32_t)c->npipes_up;
	if (c->dir_use[1] == DIR_IDLE)
		n += (uint32_t)(c->npipes - c->npipes_up);
	return n;
}

/* Tells the listener the state, the bytes so far and what the pipes hold; never blocks. */
static void tell_listener(struct conn *c, enum limits_state state, uint64_t held, bool stuck)
{
	if (c->a->limits_fd < 0)
		return;
	struct limits_msg m = {
		.type = LIMITS_STATE,
		.state = state,
		.code = stuck,
		.held_pages = held > 0xffffffffu ? 0xffffffffu : (uint32_t)held,
		.idle_pipes = idle_pipes(c),
		.bytes_src2dst = c->up.bytes,
		.bytes_dst2src = c->down.bytes,
	};
	if (send(c->a->limits_fd, &m, sizeof(m), MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)sizeof(m)) {
		c->told_idle = m.idle_pipes;
		c->told_stuck = stuck;
		c->told_held = held;
		c->state_ms = mono_ms();
		c->state_bytes = c->up.bytes + c->down.bytes;
	}
}

/*
 * Resizes (again) and tells the listener what the pipes hold when that
 * changed. Pipes full for a moment are the normal state of a fast
 * transfer; only pipes that stayed too full to shrink for a while (a
 * reader that does not read) count as stuck, so others get less.
 */
static void apply_pipe_size(struct conn *c)
{
	uint64_t held = resize_pipes(c);
	bool stuck = c->resize_pending && mono_ms() - c->resize_since_ms >= STUCK_MS;
	if (stuck != c->told_stuck || held != c->told_held || idle_pipes(c) != c->told_idle)
		tell_listener(c, LIMITS_RUNNING, held, stuck);
}

/*
 * Whether a direction has shown itself idle or busy since the last look
 * (DIR_IDLE_OTHER, DIR_IDLE_MAX): the idle one's pipes shrink before the
 * listener hears of it, so the book never counts less than they hold.
 */
static void update_dir_use(struct conn *c, int64_t now_ms)
{
	if (!c->pipe_path || c->npipes == 0)
		return;
	uint64_t moved[2] = { c->up.bytes + c->up.discarded, c->down.bytes };
	bool late = now_ms >= c->dir_idle_at_ms;
	bool changed = false;
	for (int d = 0; d < 2; d++) {
		if (c->dir_use[d] != DIR_BUSY && moved[d] >= DIR_IDLE_MAX) {
			c->dir_use[d] = DIR_BUSY;
			changed = true;
		} else if (c->dir_use[d] == DIR_UNSEEN && (late || moved[!d] >= DIR_IDLE_OTHER)) {
			c->dir_use[d] = DIR_IDLE;
			changed = true;
		}
	}
	if (changed)
		apply_pipe_size(c);
}

/* Whether a direction's use is still to be found out (its pipes have their share meanwhile). */
static bool dir_unseen(const struct conn *c)
{
	return c->pipe_path && (c->dir_use[0] == DIR_UNSEEN || c->dir_use[1] == DIR_UNSEEN);
}

/* Messages from the listener while the connection runs: new pipe sizes. */
static void read_listener(struct conn *c)
{
	struct limits_msg m;
	bool resize = false;
	while (c->a->limits_fd >= 0) {
		if (limits_recv(c->a->limits_fd, &m) < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EBADMSG)
				continue;
			/* the listener is gone: the connection goes on with what it has */
			c->listener_gone = true;
			break;
		}
		if (m.type == LIMITS_RESIZE && m.data_pipe > 0 && m.data_pipe <= (1u << 30)) {
			c->data_pipe = (int)m.data_pipe;
			c->big_pipes = m.big_pipes <= 1024 ? (int)m.big_pipes : 0;
			resize = true;
		}
	}
	if (resize)
		apply_pipe_size(c);
}

/* The data pipes and the stderr pipes a connection of CH makes, for the listener's budget. */
static void count_pipes(const struct qp_chain *ch, uint32_t *ndata, uint32_t *naux)
{
	size_t hops = 0;
	for (size_t i = 0; i < ch->nfilters; i++)
		hops += (ch->filters[i].direction & QP_DIR_SRC2DST ? 1 : 0) +
			(ch->filters[i].direction & QP_DIR_DST2SRC ? 1 : 0);
	*ndata = (uint32_t)(hops + 2);
	/* stderr of every filter and of the connector, the sandbox's events; admission checks come first */
	size_t pipeline = hops + 1 + (hops > 0), admission = ch->nadmit ? ch->nadmit + 1 : 0;
	*naux = (uint32_t)(pipeline > admission ? pipeline : admission);
}

/*
 * Asks the listener for a slot and waits for its answer, costing nothing
 * but this process: no pipe, no child. The caller going away or a
 * terminating signal end the wait. Returns 0 when granted (c->data_pipe
 * set), -1 with the result set otherwise.
 */
static int wait_for_slot(struct conn *c)
{
	const struct supervise_args *a = c->a;
	const struct qp_chain *ch = a->chain;
	int64_t t0 = mono_ms();
	struct limits_msg m = {
		.type = LIMITS_ASK,
		.chain_max = ch->max_connections,
		.chain_max_per_source = ch->max_per_source,
		.queue_timeout_ms = ch->queue_timeout_ms,
	};
	snprintf(m.source, sizeof(m.source), "%s", a->source);
	snprintf(m.target, sizeof(m.target), "%s", a->target);
	snprintf(m.chain, sizeof(m.chain), "%s", ch->name);
	summary_bounded(m.service, sizeof(m.service), a->service, SUMMARY_FIELD_MAX);
	count_pipes(ch, &m.ndata, &m.naux);
	if (limits_send(a->limits_fd, &m) < 0) {
		log_sys(LOG_ERR, "unable to ask the listener for a slot");
		set_reason(c, "unable to ask for a slot");
		c->res->result = QP_FAILED;
		return -1;
	}
	for (;;) {
		struct pollfd pf[3] = {
			{ .fd = c->sigfd, .events = POLLIN },
			{ .fd = a->limits_fd, .events = POLLIN },
			/* only POLLHUP: the caller gone altogether (its data waits for the pipeline) */
			{ .fd = c->is_socket ? a->in_fd : -1, .events = 0 },
		};
		/* filters started ahead must not wait in a queue with it: no process but the supervisor waits */
		bool warm = a->warm && a->warm->chain;
		int r = poll(pf, 3, warm ? WARM_WAIT_MS : -1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			log_sys(LOG_ERR, "unable to poll");
			set_reason(c, "unable to poll: %s", strerror(errno));
			c->res->result = QP_FAILED;
			return -1;
		}
		if (r == 0 && warm) {
			warm_discard(a->warm);
			continue;
		}
		c->res->queued_ms = mono_ms() - t0;
		if ((pf[0].revents & POLLIN) && read_signals(c)) {
			c->res->result = QP_ABORTED;
			return -1;
		}
		if (pf[2].revents & (POLLHUP | POLLERR)) {
			c->res->result = QP_CALLER_GONE;
			set_reason(c, "the caller went away while waiting for a slot");
			return -1;
		}
		if (!(pf[1].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (limits_recv(a->limits_fd, &m) < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == EBADMSG)
				continue;
			log_msg(LOG_ERR, "the listener did not answer the request for a slot: %s",
				errno == EPIPE ? "it is gone" : strerror(errno));
			set_reason(c, "no answer from the listener");
			c->res->result = QP_FAILED;
			return -1;
		}
		/* the time it waited in a queue, as the listener counts it */
		if (m.type == LIMITS_GRANT || m.type == LIMITS_DENY)
			c->res->queued_ms = m.waited_ms;
		if (m.type == LIMITS_GRANT) {
			c->data_pipe = m.data_pipe > 0 && m.data_pipe <= (1u << 30) ? (int)m.data_pipe : a->pipe_size;
			c->big_pipes = m.data_pipe > 0 && m.big_pipes <= 1024 ? (int)m.big_pipes : 0;
			c->aux_pipe = m.aux_pipe > 0 && m.aux_pipe <= (1u << 30) ? (int)m.aux_pipe : c->aux_pipe;
			return 0;
		}
		if (m.type != LIMITS_DENY)
			continue;
		const char *held = limits_block_name((enum limits_block)m.block);
		if (m.code == LIMITS_DENY_FULL) {
			c->res->result = QP_QUEUE_FULL;
			set_reason(c, "over a limit (%s: %d) with too many connections waiting already", held, m.limit);
		} else {
			c->res->result = QP_QUEUE_TIMEOUT;
			set_reason(c, "no slot within the queue timeout (%lld.%03lld s): %s (%d) held it",
				   (long long)(m.waited_ms / 1000), (long long)(m.waited_ms % 1000), held, m.limit);
		}
		return -1;
	}
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

/*
 * Whether the caller has closed the socket altogether (not a half-close:
 * qrexec-agent shuts down only the write side when the caller's input
 * ends, and closes the socket when the call is over for it).
 */
static bool caller_gone(const struct conn *c)
{
	/*
	 * POLLHUP means both directions are shut down: proof that the caller
	 * closed only while our own write side is still open.
	 */
	if (!c->is_socket || c->down.done)
		return false;
	struct pollfd p = { .fd = c->a->in_fd, .events = 0 };
	return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
}

static void caller_gone_abort(struct conn *c, const char *how)
{
	if (c->aborting)
		return;
	if (c->res->result == QP_OK)
		c->res->result = QP_CALLER_GONE;
	conn_abort(c, "%s", how);
}

static void pump_up(struct conn *c)
{
	struct relay *r = &c->up;
	switch (relay_pump(r)) {
	case PUMP_AGAIN:
		return;
	case PUMP_EOF:
		/* a caller killed mid-upload looks like an EOF: it is not one */
		if (caller_gone(c)) {
			caller_gone_abort(c, "the caller closed the connection before the end");
			return;
		}
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
			caller_gone_abort(c, "the caller reset the connection");
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
		caller_gone_abort(c, "the caller closed the connection while answers were due");
		return;
	case PUMP_FROM_ERR:
		conn_abort(c, "unable to read from the pipeline: %s", strerror(errno));
		return;
	}
}

/* ---- phases ---- */

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
	char **argvs[64] = { NULL };
	size_t *map = calloc(n, sizeof(*map));
	c->procs = calloc(n, sizeof(*c->procs));
	if (!ip || !map || !c->procs || n > 64) {
		free(map);
		set_reason(c, n > 64 ? "too many admission checks" : "out of memory");
		goto out;
	}
	c->nprocs = n;
	for (size_t i = 0; i < n; i++) {
		const struct qp_step *s = &ch->admit[i];
		struct proc *p = &c->procs[i];
		p->pid = -1;
		p->err_fd = -1;
		snprintf(p->tag, sizeof(p->tag), "admit %s", s->name);
		argvs[i] = warm_step_argv(s);
		if (!argvs[i]) {
			free(map);
			set_reason(c, "out of memory");
			goto out;
		}
		/* no data: stdin is /dev/null, stdout joins stderr in the log */
		ip[i] = (struct isolate_proc){ s->path, argvs[i], c->env_filter[0], { c->devnull, -1, -1 } };
		map[i] = i;
	}
	c->admitting = true;
	if (start_sandbox(c, ISOLATE_ADMISSION, ip, n, map) < 0)
		goto done;

	size_t decided = 0;
	int64_t deadline = mono_ms() + timeout_ms;
	struct pollfd pf[2 + 64];
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
			set_reason(c, "%s did not decide within %d ms", c->procs[decided].tag, timeout_ms);
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
			drain_stderr(&c->procs[i]);
		if (r > 0 && (pf[1].revents & (POLLIN | POLLHUP)))
			sandbox_drain(c);
		if (r > 0 && (pf[0].revents & POLLIN))
			read_signals(c);
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
		kill_all(c);
	reap_all_blocking(c);
	for (size_t i = 0; i < n; i++) {
		drain_stderr(&c->procs[i]);
		if (c->procs[i].err_fd >= 0)
			close(c->procs[i].err_fd);
	}
	c->admitting = false;
out:
	for (size_t i = 0; i < n && i < 64; i++)
		free(argvs[i]);
	free(ip);
	free(c->procs);
	c->procs = NULL;
	c->nprocs = 0;
	sandbox_forget(c);
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
		set_pipe_size(c, pipes[i][0], busy_pipe_size(c, i), NULL);
		if (c->pipe_path) {
			c->pipe_path[i] = w->pipe_path[i];
			w->pipe_path[i] = -1;
		}
	}
	if (!c->sb_map) {
		set_reason(c, "out of memory");
		rc = -1;
		goto out;
	}
	for (size_t i = 0; i < w->n; i++) {
		size_t h = w->map[i];
		const struct hop *hp = &hops[h];
		struct proc *p = &c->procs[h];
		c->sb_map[i] = h;
		snprintf(p->tag, sizeof(p->tag), "filter %s#%zu (%s)", hp->step->name, hp->pos,
			 hp->dir == QP_DIR_SRC2DST ? "src2dst" : "dst2src");
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
			set_reason(c, "unable to start %s", p->tag);
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
	char **argvs[64] = { NULL };
	size_t *map = NULL;
	size_t n = 0;
	bool warm = false;

	if (ch->nfilters > 32) {
		set_reason(c, "too many filter processes");
		return -1;
	}
	struct hop *hops = calloc(2 * ch->nfilters + 1, sizeof(*hops));
	size_t nup = 0, nhops = hops ? warm_hops(ch, hops, &nup) : 0;
	/* pipes[k] feeds hop k (the connector is hop nup); one more at the end */
	int (*pipes)[2] = calloc(nhops + 2, sizeof(*pipes));
	c->procs = calloc(nhops + 1, sizeof(*c->procs));
	ip = calloc(nhops ? nhops : 1, sizeof(*ip));
	map = calloc(nhops ? nhops : 1, sizeof(*map));
	if (!hops || !pipes || !c->procs || !ip || !map) {
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
	if (c->a->limits_fd >= 0) {
		c->pipe_path = calloc(nhops + 2, sizeof(*c->pipe_path));
		if (!c->pipe_path) {
			set_reason(c, "out of memory");
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
		goto connector;
	}

	for (size_t i = 0; i < nhops + 2; i++) {
		if (pipe2(pipes[i], O_CLOEXEC) < 0) {
			log_sys(LOG_ERR, "unable to create a pipe");
			set_reason(c, "unable to create a pipe: %s", strerror(errno));
			goto out;
		}
		/*
		 * Every hop splices at most a pipe's worth per wake-up: larger
		 * pipes mean fewer wake-ups per byte. The size is the share of
		 * --pipe-memory the listener gave (serve), or --pipe-size.
		 */
		set_pipe_size(c, pipes[i][0], busy_pipe_size(c, i), NULL);
		/* a handle to resize it later, when more or fewer connections run (no reader, no writer) */
		if (c->pipe_path) {
			char path[40];
			snprintf(path, sizeof(path), "/proc/self/fd/%d", pipes[i][0]);
			c->pipe_path[i] = open(path, O_PATH | O_CLOEXEC);
			if (c->pipe_path[i] < 0 && i == 0)
				log_sys(LOG_INFO, "unable to keep a handle on the pipes to resize them (they keep their size)");
		}
	}

	/* every filter process in one sandbox, built once for the connection */
	for (size_t h = 0; h < nhops + 1; h++) {
		const struct hop *hp = &hops[h];
		if (!hp->step)
			continue;
		const struct qp_step *s = hp->step;
		struct proc *p = &c->procs[h];
		const char *dname = hp->dir == QP_DIR_SRC2DST ? "src2dst" : "dst2src";
		snprintf(p->tag, sizeof(p->tag), "filter %s#%zu (%s)", s->name, hp->pos, dname);
		argvs[n] = warm_step_argv(s);
		if (!argvs[n]) {
			set_reason(c, "out of memory");
			goto out;
		}
		ip[n] = (struct isolate_proc){ s->path, argvs[n], c->env_filter[hp->dir],
					       { pipes[h][0], pipes[h + 1][1], -1 } };
		map[n++] = h;
	}
	if (n > 0) {
		size_t *m = map;
		map = NULL; /* the connection's now */
		if (start_sandbox(c, ISOLATE_FILTERS, ip, n, m) < 0)
			goto out;
	}

connector:;
	/* the connector, outside the sandbox, while the sandbox's init starts the filters */
	struct proc *cp = &c->procs[nup];
	cp->is_connector = true;
	snprintf(cp->tag, sizeof(cp->tag), "connector");
	if (start_connector(c, cp, pipes[nup][0], pipes[nup + 1][1]) < 0)
		goto out;
	/* the connector takes longest to start: the filters started ahead go on once it is on its way */
	if (warm && wake_warm(c, hops) < 0)
		goto out;
	if (n == 0)
		c->setup_ns = mono_ns();

	/* the children have their copies now; only the two outer ends stay here */
	c->up.to = pipes[0][1];
	pipes[0][1] = -1;
	c->down.from = pipes[nhops + 1][0];
	pipes[nhops + 1][0] = -1;
	if (fd_set_nonblock(c->up.to, true) < 0 || fd_set_nonblock(c->down.from, true) < 0) {
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
	for (size_t i = 0; i < 64; i++)
		free(argvs[i]);
	free(map);
	free(ip);
	free(pipes);
	free(hops);
	return rc;
}

/*
 * The supervisor is a child subreaper: whatever a filter forked and left
 * behind (even after setsid(), out of reach of killpg) becomes our child
 * when its parent ends. Once the connection's own processes are reaped,
 * end and reap those too, until none is left.
 */
void supervise_end_orphans(void)
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

static void run_loop(struct conn *c)
{
	size_t maxfds = 8 + c->nprocs;
	struct pollfd *pf = calloc(maxfds, sizeof(*pf));
	/*
	 * what each pollfd stands for: -1 sigfd, -2/-3 up from/to, -4/-5 down
	 * from/to, -6 sandbox, -7 the caller's socket after its EOF, -8 the
	 * listener, >=0 proc
	 */
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
		if (c->sb.events >= 0) {
			pf[n] = (struct pollfd){ .fd = c->sb.events, .events = POLLIN };
			what[n++] = -6;
		}
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
		/*
		 * After the caller's EOF nothing is read from the socket any
		 * more, but its going away (a POLLHUP, reported whatever the
		 * events asked) must still end the connection at once.
		 */
		if (c->up.done && c->is_socket && !c->down.done) {
			pf[n] = (struct pollfd){ .fd = c->a->in_fd, .events = 0 };
			what[n++] = -7;
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
		if (c->a->limits_fd >= 0 && !c->listener_gone) {
			pf[n] = (struct pollfd){ .fd = c->a->limits_fd, .events = POLLIN };
			what[n++] = -8;
		}
		/* a direction still unseen is looked at again once the pipeline has run a second */
		if (timeout != 0 && dir_unseen(c)) {
			int64_t left = c->dir_idle_at_ms - mono_ms();
			int t = left > 0 ? (int)left : 0;
			if (timeout < 0 || t < timeout)
				timeout = t;
		}
		if (c->resize_pending && timeout != 0) {
			int64_t left = c->resize_at_ms - mono_ms();
			int t = left > 0 ? (int)left : 0;
			if (timeout < 0 || t < timeout)
				timeout = t;
		}

		if (c->idle_ms > 0 && timeout != 0) {
			int64_t left = c->active_ms + c->idle_ms - mono_ms();
			if (left <= 0) {
				conn_abort(c, "no data either way for %d.%03d s (idle_timeout)", c->idle_ms / 1000,
					   c->idle_ms % 1000);
				break;
			}
			if (timeout < 0 || left < timeout)
				timeout = left > 0x7fffffff ? 0x7fffffff : (int)left;
		}
		/* bytes moved that the book has not heard of yet: wake up to say so within the second */
		if (c->a->limits_fd >= 0 && timeout != 0 && c->up.bytes + c->down.bytes != c->state_bytes) {
			int64_t left = c->state_ms + 1000 - mono_ms();
			int t = left > 0 ? (int)left : 0;
			if (timeout < 0 || t < timeout)
				timeout = t;
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
			case -6:
				sandbox_drain(c);
				break;
			case -7:
				if (ev & (POLLHUP | POLLERR))
					caller_gone_abort(c, "the caller went away");
				break;
			case -8:
				read_listener(c);
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
			supervise_end_orphans();
		}
		if (!c->up.done && c->up.from_ready && (c->up.to_ready || c->up.discard))
			pump_up(c);
		if (!c->aborting && !c->down.done && c->down.from_ready && c->down.to_ready)
			pump_down(c);
		uint64_t moved = c->up.bytes + c->up.discarded + c->down.bytes;
		if (moved != c->moved) {
			c->moved = moved;
			c->active_ms = mono_ms();
			update_dir_use(c, c->active_ms);
		} else if (dir_unseen(c)) {
			update_dir_use(c, mono_ms());
		}
		if (c->resize_pending && mono_ms() >= c->resize_at_ms)
			apply_pipe_size(c);
		/* the bytes so far, for the listener's book: at most about once a second, when they changed */
		if (c->a->limits_fd >= 0 && c->up.bytes + c->down.bytes != c->state_bytes &&
		    mono_ms() - c->state_ms >= 1000)
			tell_listener(c, LIMITS_RUNNING, c->told_held, c->told_stuck);
	}
out:
	free(pf);
	free(what);
}

/*
 * The connection's one summary: key=value pairs in a fixed order, the
 * caller's values bounded and escaped (summary.h), so result, reason,
 * durations and byte counts are always there and the line always parses;
 * the same as journal fields of their own (QP_*).
 */
static void log_summary(struct conn *c, int64_t start_ns)
{
	const struct supervise_args *a = c->a;
	struct supervise_result *res = c->res;
	int64_t us = (mono_ns() - start_ns) / 1000;
	int64_t setup_us = c->setup_ns ? (c->setup_ns - start_ns) / 1000 : 0;
	int prio = res->result == QP_OK ? LOG_INFO : LOG_WARNING;
	char line[3072], dur[32], setup[32], queued[32], f[5][SUMMARY_FIELD_MAX * 4 + 64], n[6][24];
	size_t o = 0;

	snprintf(dur, sizeof(dur), "%lld.%06llds", (long long)(us / 1000000), (long long)(us % 1000000));
	snprintf(setup, sizeof(setup), "%lld.%06llds", (long long)(setup_us / 1000000), (long long)(setup_us % 1000000));
	o = (size_t)snprintf(line, sizeof(line), "connection %s:", a->conn_id);
	summary_add(line, sizeof(line), &o, "source", a->source, SUMMARY_FIELD_MAX);
	summary_add(line, sizeof(line), &o, "target", a->target, SUMMARY_FIELD_MAX);
	summary_add(line, sizeof(line), &o, "service", a->service, SUMMARY_FIELD_MAX);
	summary_add(line, sizeof(line), &o, "chain", a->chain->name, SUMMARY_FIELD_MAX);
	summary_add(line, sizeof(line), &o, "result", qp_result_name(res->result), SUMMARY_FIELD_MAX);
	if (res->reason[0])
		summary_add(line, sizeof(line), &o, "reason", res->reason, SUMMARY_FIELD_MAX);
	summary_add(line, sizeof(line), &o, "duration", dur, sizeof(dur));
	summary_add(line, sizeof(line), &o, "setup", setup, sizeof(setup));
	summary_add_u64(line, sizeof(line), &o, "src2dst", res->bytes_src2dst);
	summary_add_u64(line, sizeof(line), &o, "dst2src", res->bytes_dst2src);
	snprintf(queued, sizeof(queued), "%lld.%03llds", (long long)(res->queued_ms / 1000),
		 (long long)(res->queued_ms % 1000));
	summary_add(line, sizeof(line), &o, "queued", queued, sizeof(queued));
	summary_add_u64(line, sizeof(line), &o, "pipe", (uint64_t)res->min_pipe);

	snprintf(n[0], sizeof(n[0]), "%llu", (unsigned long long)res->bytes_src2dst);
	snprintf(n[1], sizeof(n[1]), "%llu", (unsigned long long)res->bytes_dst2src);
	snprintf(n[2], sizeof(n[2]), "%lld", (long long)setup_us);
	snprintf(n[3], sizeof(n[3]), "%lld", (long long)(us / 1000));
	snprintf(n[4], sizeof(n[4]), "%lld", (long long)res->queued_ms);
	snprintf(n[5], sizeof(n[5]), "%d", res->min_pipe);
	struct log_kv kv[] = {
		{ "QP_CONNECTION", a->conn_id },
		{ "QP_SOURCE", summary_bounded(f[0], sizeof(f[0]), a->source, SUMMARY_FIELD_MAX) },
		{ "QP_CHAIN", summary_bounded(f[1], sizeof(f[1]), a->chain->name, SUMMARY_FIELD_MAX) },
		{ "QP_TARGET", summary_bounded(f[2], sizeof(f[2]), a->target, SUMMARY_FIELD_MAX) },
		{ "QP_SERVICE", summary_bounded(f[3], sizeof(f[3]), a->service, SUMMARY_FIELD_MAX) },
		{ "QP_RESULT", qp_result_name(res->result) },
		{ "QP_REASON", summary_bounded(f[4], sizeof(f[4]), res->reason, SUMMARY_FIELD_MAX) },
		{ "QP_BYTES_IN", n[0] },
		{ "QP_BYTES_OUT", n[1] },
		{ "QP_SETUP_US", n[2] },
		{ "QP_DURATION_MS", n[3] },
		{ "QP_QUEUED_MS", n[4] },
		{ "QP_PIPE_SIZE", n[5] },
	};
	log_structured(prio, line, kv, sizeof(kv) / sizeof(kv[0]));
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
	c.env_filter[0] = build_env(a, QPC_DIR_ADMIT, false);
	c.env_filter[QP_DIR_SRC2DST] = build_env(a, QPC_DIR_SRC2DST, false);
	c.env_filter[QP_DIR_DST2SRC] = build_env(a, QPC_DIR_DST2SRC, false);
	c.env_connector = build_env(a, NULL, true);
	if (c.devnull < 0 || !c.env_filter[0] || !c.env_filter[1] || !c.env_filter[2] ||
	    !c.env_connector) {
		log_sys(LOG_ERR, "unable to prepare the connection");
		set_reason(&c, "unable to prepare the connection");
		res->result = QP_FAILED;
		goto out;
	}

	if (c.pol->mech == ISOLATE_NONE) {
		/*
		 * No boundary between connections works here: only programs that
		 * lock themselves down further (the built-ins) may run.
		 */
		const char *third = NULL;
		for (size_t i = 0; i < a->chain->nadmit && !third; i++)
			if (!isolate_is_builtin(a->chain->admit[i].path))
				third = a->chain->admit[i].path;
		for (size_t i = 0; i < a->chain->nfilters && !third; i++)
			if (!isolate_is_builtin(a->chain->filters[i].path))
				third = a->chain->filters[i].path;
		if (third) {
			log_msg(LOG_ERR, "chain %s runs %s, a filter that is not built in, and this system allows no isolation for it (%s); set 'isolation: seccomp-only' in the configuration to run it anyway, less isolated",
				a->chain->name, third, c.pol->detail);
			set_reason(&c, "no isolation for a third-party filter");
			res->result = QP_REFUSED;
			goto out;
		}
		builtins_only = *c.pol;
		builtins_only.mech = ISOLATE_SECCOMP_ONLY;
		c.pol = &builtins_only;
	}

	/* filters started ahead for another chain, under another isolation, or not all alive, are of no use */
	if (a->warm && a->warm->chain &&
	    (a->warm->chain != a->chain || a->warm->pol->mech != c.pol->mech || !warm_alive(a->warm)))
		warm_discard(a->warm);

	/* over a limit, wait for a slot before anything starts: no admission check, no pipe, no connector */
	c.data_pipe = a->pipe_size;
	c.aux_pipe = LIMITS_AUX_PIPE;
	if (a->limits_fd >= 0 && wait_for_slot(&c) < 0)
		goto out;

	if (run_admission(&c) < 0) {
		res->result = c.terminated ? QP_ABORTED : c.sb_setup_failed ? QP_FAILED : QP_REFUSED;
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
	c.idle_ms = a->chain->idle_timeout_ms >= 0 ? a->chain->idle_timeout_ms : a->idle_timeout_ms;
	c.active_ms = mono_ms();
	c.dir_idle_at_ms = c.active_ms + DIR_IDLE_AFTER_MS;
	if (a->limits_fd >= 0) {
		long page = sysconf(_SC_PAGESIZE);
		uint64_t held = 0;
		for (size_t i = 0; i < c.npipes && page > 0; i++)
			held += (uint64_t)(c.data_pipe > 0 ? busy_pipe_size(&c, i) : 16 * page) / (uint64_t)page;
		tell_listener(&c, LIMITS_RUNNING, held, false);
		/* a resize may have come while the pipeline started */
		read_listener(&c);
	}
	run_loop(&c);
	/* the pipes are as good as gone: the listener may give others more */
	tell_listener(&c, LIMITS_CLOSING, 0, false);
	if (c.aborting) {
		if (c.is_socket)
			shutdown(a->in_fd, SHUT_RDWR);
		reap_all_blocking(&c);
	}
	/*
	 * Whatever a filter left behind outside a PID namespace passed to us:
	 * end it (already done when every process ended normally).
	 */
	if (!c.stragglers_killed)
		supervise_end_orphans();
	if (c.up.discard && c.up.discarded > 0)
		log_msg(LOG_INFO, "the pipeline stopped reading from the source early; the rest (%llu bytes) was discarded",
			(unsigned long long)c.up.discarded);
out:
	/* what the processes said, however the connection ended: before its summary */
	for (size_t i = 0; i < c.nprocs; i++) {
		drain_stderr(&c.procs[i]);
		if (c.procs[i].err_fd >= 0)
			close(c.procs[i].err_fd);
	}
	/* whatever of the warm pipeline was not taken (the call was refused before it ran) */
	if (a->warm)
		warm_discard(a->warm);
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
	sandbox_forget(&c);
	forget_pipes(&c);
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
