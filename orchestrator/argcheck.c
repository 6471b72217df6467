/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Every step checks its own arguments before a configuration is accepted:
 * a chain that cannot work ("byte-limit ten megs", "timeout" without a
 * time, "count" without a limit) is caught by `check`, at start and on
 * reload, not by the first caller. The steps run in a sandbox like any
 * connection's, all at once, with no data.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qpf-contract.h"
#include "argcheck.h"
#include "reach.h"
#include "spawn.h"
#include "util.h"

struct job {
	const struct qp_chain *chain;
	const struct qp_step *step;
	const char *kind;       /* "filter", "admission check" */
	char **argv;
	char *envp[9];
	int err;                /* read end of its stderr, -1 once closed */
	char out[600];          /* the start of what it said */
	size_t outlen;
	bool start_failed, exited;
	int status;             /* wait status, or errno when start_failed */
};

static void job_free(struct job *j)
{
	free(j->argv);
	for (size_t i = 0; i < sizeof(j->envp) / sizeof(j->envp[0]) && j->envp[i]; i++)
		free(j->envp[i]);
	if (j->err >= 0)
		close(j->err);
}

static int job_prepare(struct job *j)
{
	const struct qp_step *s = j->step;
	j->err = -1;
	j->argv = calloc(s->nargs + 2, sizeof(*j->argv));
	if (!j->argv)
		return -1;
	j->argv[0] = s->name;
	for (size_t k = 0; k < s->nargs; k++)
		j->argv[k + 1] = s->args[k];
	/* what a step may need to parse its arguments; "check" where a name stands */
	const char *vars[][2] = {
		{ "PATH", "/usr/local/bin:/usr/bin:/bin" }, { QPC_ENV_DIRECTION, QPC_DIR_CHECK },
		{ QPC_ENV_CHAIN, j->chain->name }, { QPC_ENV_SOURCE, "check" },
		{ QPC_ENV_TARGET, "check" }, { QPC_ENV_SERVICE, "check" },
		{ QPC_ENV_CONNECTION, "0000000000000000" },
	};
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		if (asprintf(&j->envp[i], "%s=%s", vars[i][0], vars[i][1]) < 0) {
			j->envp[i] = NULL;
			return -1;
		}
	return 0;
}

static void job_read(struct job *j)
{
	char buf[4096];
	while (j->err >= 0) {
		ssize_t n = read(j->err, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			close(j->err);
			j->err = -1;
			return;
		}
		size_t room = sizeof(j->out) - 1 - j->outlen;
		size_t k = (size_t)n < room ? (size_t)n : room;
		memcpy(j->out + j->outlen, buf, k);
		j->outlen += k;
		j->out[j->outlen] = '\0';
	}
}

/* what the step said, on one line: its first line without the "<N>prog: " prefix, control bytes dropped */
static const char *job_said(struct job *j)
{
	char *p = j->out;
	if (p[0] == '<' && p[1] >= '0' && p[1] <= '7' && p[2] == '>')
		p += 3;
	char *nl = strchr(p, '\n');
	if (nl)
		*nl = '\0';
	for (char *c = p; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = ' ';
	return *p ? p : "(it said nothing)";
}

static int report(FILE *errf, FILE *warnings, struct job *j)
{
	const struct qp_step *s = j->step;
	int line = s->args_line ? s->args_line : s->line, col = s->args_line ? s->args_column : s->column;
	const char *file = j->chain->file ? j->chain->file : "?";
	char st[96];

	if (j->start_failed) {
		fprintf(errf, "%s:%d:%d: %s '%s' of chain '%s' could not be started to check its arguments: %s\n", file,
			s->line, s->column, j->kind, s->name, j->chain->name, strerror(j->status));
		return 1;
	}
	if (WIFEXITED(j->status) && WEXITSTATUS(j->status) == 100) {
		fprintf(errf, "%s:%d:%d: %s '%s' of chain '%s' rejects its arguments: %s\n", file, line, col, j->kind,
			s->name, j->chain->name, job_said(j));
		return 1;
	}
	/*
	 * Only 100 says "bad arguments". A program that knows nothing of
	 * check mode may do anything else (/bin/false as an admission check,
	 * a sleep): it is not held against the configuration.
	 */
	if (warnings && !j->exited)
		fprintf(warnings, "%s:%d:%d: warning: %s '%s' of chain '%s' did not finish checking its arguments within %d ms (it may not know check mode)\n",
			file, line, col, j->kind, s->name, j->chain->name, ARGCHECK_TIMEOUT_MS);
	else if (warnings && !(WIFEXITED(j->status) && WEXITSTATUS(j->status) == 0))
		fprintf(warnings, "%s:%d:%d: warning: %s '%s' of chain '%s' %s when asked to check its arguments (it may not know check mode)%s%s\n",
			file, line, col, j->kind, s->name, j->chain->name, spawn_strstatus(j->status, st, sizeof(st)),
			j->outlen ? ": " : "", j->outlen ? job_said(j) : "");
	return 0;
}

/* Runs JOBS[0..N) (at most QP_MAX_PROCS) in one sandbox to their end or the deadline; -1 if the sandbox could not run. */
static int run_batch(struct job *jobs, size_t n, const struct isolate_policy *pol, const struct sock_fprog *seccomp,
		     int devnull, FILE *errf)
{
	struct isolate_proc ip[QP_MAX_PROCS];
	int ew[QP_MAX_PROCS];
	struct isolate_sandbox sb;
	int rc = -1;

	for (size_t i = 0; i < n; i++)
		ew[i] = -1;
	for (size_t i = 0; i < n; i++) {
		int p[2];
		if (pipe2(p, O_CLOEXEC) < 0 || fd_set_nonblock(p[0], true) < 0) {
			fprintf(errf, "unable to create a pipe for the argument checks: %s\n", strerror(errno));
			goto out;
		}
		jobs[i].err = p[0];
		ew[i] = p[1];
		ip[i] = (struct isolate_proc){ jobs[i].step->path, jobs[i].argv, jobs[i].envp, { devnull, devnull, p[1] } };
	}
	if (isolate_start(pol, ISOLATE_FILTERS, ip, n, seccomp, NULL, &sb) < 0) {
		fprintf(errf, "unable to start a sandbox for the argument checks (%s): %s\n", isolate_mech_name(pol->mech),
			strerror(errno));
		if (sb.pid > 0)
			while (waitpid(sb.pid, NULL, 0) < 0 && errno == EINTR)
				;
		if (sb.events >= 0)
			close(sb.events);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		close(ew[i]);
		ew[i] = -1;
	}
	int64_t deadline = mono_ms() + ARGCHECK_TIMEOUT_MS;
	size_t done = 0;
	bool events_open = true, setup_failed = false;
	while (done < n && events_open) {
		struct pollfd pf[65];
		size_t k = 0;
		pf[k++] = (struct pollfd){ .fd = sb.events, .events = POLLIN };
		for (size_t i = 0; i < n; i++)
			if (jobs[i].err >= 0)
				pf[k++] = (struct pollfd){ .fd = jobs[i].err, .events = POLLIN };
		int64_t left = deadline - mono_ms();
		if (left <= 0)
			break;
		if (poll(pf, k, (int)left) < 0 && errno != EINTR)
			break;
		for (size_t i = 0; i < n; i++)
			job_read(&jobs[i]);
		struct isolate_event ev;
		int r;
		while ((r = isolate_read_event(&sb, &ev)) == 1) {
			if (ev.kind == ISOLATE_EV_SETUP_FAILED) {
				fprintf(errf, "unable to isolate the argument checks: unable to %s: %s\n",
					isolate_setup_step_name(ev.index), strerror(ev.value));
				setup_failed = true;
				continue;
			}
			if (ev.index < 0 || (size_t)ev.index >= n)
				continue;
			struct job *j = &jobs[ev.index];
			if (ev.kind == ISOLATE_EV_START_FAILED) {
				j->start_failed = true;
				j->status = ev.value;
				done++;
			} else if (ev.kind == ISOLATE_EV_EXITED && !j->exited) {
				j->exited = true;
				j->status = ev.value;
				done++;
			}
		}
		if (r == 0)
			events_open = false;
	}
	/* whatever is left has had its time; the sandbox and all in it end now */
	killpg(sb.pid, SIGKILL);
	kill(sb.pid, SIGKILL);
	while (waitpid(sb.pid, NULL, 0) < 0 && errno == EINTR)
		;
	close(sb.events);
	for (size_t i = 0; i < n; i++)
		job_read(&jobs[i]);
	rc = setup_failed ? -1 : 0;
out:
	for (size_t i = 0; i < n; i++)
		if (ew[i] >= 0)
			close(ew[i]);
	return rc;
}

int argcheck_config(const struct qp_config *cfg, const struct isolate_policy *pol, const struct sock_fprog *seccomp,
		    FILE *errf, FILE *warnings)
{
	/* programs their users cannot run are said as such, not as a sandbox that could not start them */
	int unreachable = reach_config(cfg, pol, errf, warnings);
	if (unreachable != 0)
		return unreachable;
	size_t total = 0;
	for (size_t c = 0; c < cfg->nchains; c++)
		total += cfg->chains[c].nfilters + cfg->chains[c].nadmit;
	if (total == 0)
		return 0;
	/* with no boundary available, a check is still no data: the baseline alone, as for built-ins */
	struct isolate_policy local = *pol;
	if (local.mech == ISOLATE_NONE)
		local.mech = ISOLATE_SECCOMP_ONLY;
	struct job *jobs = calloc(total, sizeof(*jobs));
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	int problems = 0;
	if (!jobs || devnull < 0) {
		fprintf(errf, "unable to prepare the argument checks: %s\n", strerror(errno));
		free(jobs);
		if (devnull >= 0)
			close(devnull);
		return -1;
	}
	size_t n = 0;
	for (size_t c = 0; c < cfg->nchains; c++) {
		const struct qp_chain *ch = &cfg->chains[c];
		for (size_t i = 0; i < ch->nfilters + ch->nadmit; i++) {
			struct job *j = &jobs[n++];
			j->chain = ch;
			j->step = i < ch->nfilters ? &ch->filters[i] : &ch->admit[i - ch->nfilters];
			j->kind = i < ch->nfilters ? "filter" : "admission check";
			if (job_prepare(j) < 0) {
				fprintf(errf, "unable to prepare the argument checks: out of memory\n");
				problems = -1;
				goto out;
			}
		}
	}
	for (size_t first = 0; first < n; first += QP_MAX_PROCS) {
		size_t k = n - first < QP_MAX_PROCS ? n - first : QP_MAX_PROCS;
		if (run_batch(jobs + first, k, &local, seccomp, devnull, errf) < 0) {
			problems = -1;
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++)
		problems += report(errf, warnings, &jobs[i]);
out:
	for (size_t i = 0; i < n; i++)
		job_free(&jobs[i]);
	free(jobs);
	close(devnull);
	return problems;
}
