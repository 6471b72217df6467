/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The supervisor's children: the connector it starts itself, the
 * sandbox whose init starts the filters and reports on them, their
 * environment, their stderr, their ends, and the connection's abort that
 * ends them all (see conn.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include "qpf-contract.h"
#include "conn.h"
#include "log.h"
#include "phases.h"
#include "spawn.h"
#include "util.h"

extern char **environ;

void conn_reason(struct conn *c, const char *fmt, ...)
{
	if (c->res->reason[0])
		return; /* the first cause is the one that matters */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->res->reason, sizeof(c->res->reason), fmt, ap);
	va_end(ap);
}

void procs_env_free(char **env)
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
char **procs_env(const struct supervise_args *a, const char *direction, bool inherit)
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
	procs_env_free(env);
	return NULL;
}

/*
 * Logs what P has of a line, within the connection's bound. END: the line
 * ends here; else it is a piece of an overlong one, and the next piece
 * keeps this one's priority (a "<N>" at its start is text, not a priority).
 */
static void flush_line(struct conn *c, struct proc *p, bool end)
{
	if (p->linelen) {
		bool first_drop;
		if (logbound_allow(&c->log, p->linelen, mono_ms(), &first_drop)) {
			p->cont_priority = 1 + log_child_line(p->tag, p->line, p->linelen, p->cont_priority - 1);
		} else {
			/* a piece of it dropped: the next is still not a line of its own */
			if (!p->cont_priority)
				p->cont_priority = 1 + LOG_NOTICE;
			if (first_drop)
				log_msg(LOG_WARNING, "the connection's processes wrote more to stderr than its bound (%u lines a second, %llu bytes in all; log_lines_per_second and log_bytes of its chain): the rest is dropped and counted (log_dropped= in the summary)",
					(unsigned)c->bounds.log_lines, (unsigned long long)c->bounds.log_bytes);
		}
		p->linelen = 0;
	}
	if (end)
		p->cont_priority = 0;
}

/* Reads what a child wrote to stderr and logs it line by line. */
void procs_drain_stderr(struct conn *c, struct proc *p)
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
			flush_line(c, p, true);
			close(p->err_fd);
			p->err_fd = -1;
			return;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				flush_line(c, p, true);
				continue;
			}
			/* an overlong line is cut into pieces rather than dropped */
			if (p->linelen == sizeof(p->line))
				flush_line(c, p, false);
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
		conn_reason(c, "unable to create a pipe");
		return -1;
	}
	if (fd_set_nonblock(ep[0], true) < 0) {
		log_sys(LOG_ERR, "unable to set up the stderr pipe of %s", p->tag);
		conn_reason(c, "unable to set up a pipe");
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
int procs_start_connector(struct conn *c, struct proc *p, int fd0, int fd1)
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
		/* what its child wrote says less than this (spawn.c): it is not logged */
		close(p->err_fd);
		p->err_fd = -1;
		log_msg(LOG_ERR, "%s '%s' could not be started: %s", p->tag, req.path, strerror(err));
		conn_reason(c, "%s '%s' could not be started: %s", p->tag, req.path, strerror(err));
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
int procs_start_sandbox(struct conn *c, enum isolate_role role, struct isolate_proc *ip, size_t n, size_t *map)
{
	int *ew = calloc(n ? n : 1, sizeof(*ew));
	int rc = -1;

	c->sb_map = map;
	c->sb_n = n;
	c->sb_started = 0;
	c->sb_reaped = false;
	if (!ew) {
		conn_reason(c, "out of memory");
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
		ran = isolate_run(prep, ip, n, &c->ib, &c->sb) == 0;
		if (!ran) {
			log_sys(LOG_DEBUG, "the prepared sandbox did not take the filters; building another");
			isolate_discard(prep);
		}
	}
	if (!ran && isolate_start(c->pol, role, ip, n, c->a->seccomp, &c->ib, &c->sb) < 0) {
		log_sys(LOG_ERR, "unable to start the connection's sandbox (%s)",
			isolate_mech_name(c->pol->mech));
		conn_reason(c, "unable to isolate the connection: %s", strerror(errno));
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

bool procs_all_reaped(const struct conn *c)
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
void procs_kill_all(struct conn *c)
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

void conn_abort(struct conn *c, const char *fmt, ...)
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
	procs_kill_all(c);
}

/*
 * WHAT (a process of the sandbox, or the sandbox's init) ended with STATUS:
 * a SIGKILL the supervisor did not send is the kernel's (the OOM killer's
 * where the count of OOM kills says so) or another process's of the
 * connection, and it ends the whole connection, result=failed. Returns
 * whether it was such a kill.
 */
static bool killed_behind_our_back(struct conn *c, const char *what, int status)
{
	if (c->aborting || !WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
		return false;
	int64_t ooms = c->a->cgroup ? cgroup_conn_oom_kills(c->a->cgroup) : -1;
	c->kernel_killed = true;
	c->res->result = QP_FAILED;
	if (ooms > 0)
		conn_reason(c, "the kernel's OOM killer ended %s (memory)", what);
	else
		conn_reason(c, "%s killed by signal 9 (SIGKILL), which its supervisor did not send", what);
	log_msg(LOG_ERR, "%s", c->res->reason);
	conn_abort(c, "%s killed", what);
	return true;
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
	phase_mark_exit(p->tag);
	if (p->is_connector) {
		c->res->connector_reaped = true;
		c->res->connector_status = status;
	}
	if (!failed || c->aborting)
		return;
	if (p->in_sandbox && killed_behind_our_back(c, p->tag, status))
		return;
	if (c->admitting)
		conn_reason(c, "refused by %s (%s)", p->tag, spawn_strstatus(status, buf, sizeof(buf)));
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
		conn_reason(c, "unable to isolate the connection");
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
		conn_reason(c, "unable to start %s: %s", p->tag, strerror(ev->value));
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
void procs_sandbox_drain(struct conn *c)
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
		phase_mark(PHASE_SANDBOX_GONE);
		if (killed_behind_our_back(c, "the connection's sandbox", status)) {
			/* said */
		} else if (!c->aborting && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
			char buf[96];
			log_msg(LOG_ERR, "the connection's sandbox %s", spawn_strstatus(status, buf, sizeof(buf)));
		}
		/* its events were written before it ended: all of them are there to read */
		if (c->sb.events >= 0) {
			int fl = fcntl(c->sb.events, F_GETFL);
			if (fl >= 0)
				fcntl(c->sb.events, F_SETFL, fl & ~O_NONBLOCK);
			procs_sandbox_drain(c);
		}
		return;
	}
	struct proc *p = proc_by_pid(c, pid);
	if (p)
		on_exit_status(c, p, status);
}

static void reap(struct conn *c)
{
	int status;
	pid_t pid;
	while ((pid = reap_any(&status)) > 0)
		on_child(c, pid, status);
}

/* Blocks until every started process has been reaped (after SIGKILL). */
void procs_reap_all(struct conn *c)
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
		procs_sandbox_drain(c);
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
void procs_sandbox_forget(struct conn *c)
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
bool procs_read_signals(struct conn *c)
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
