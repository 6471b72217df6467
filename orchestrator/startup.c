/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The daemon's start-up policy (see startup.h). */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "argcheck.h"
#include "bounds.h"
#include "cgroup.h"
#include "connlimits.h"
#include "log.h"
#include "sandbox.h"
#include "startup.h"

struct qp_config *startup_load_or_die(const char *file)
{
	struct qp_config *cfg = config_load(file, NULL, stderr);
	if (!cfg)
		die_x(EXIT_USAGE, "invalid configuration %s; see the messages above, fix it, and run '" PROG " check --config %s'",
		      file, file);
	return cfg;
}

void startup_seccomp(struct sock_fprog *prog)
{
	if (sandbox_build(prog) < 0)
		die_sys(EXIT_SYS, "unable to build the seccomp policy");
}

/* Many pipes per connection, many connections: use the hard fd limit. */
void startup_raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Where the admission checks keep their state: systemd's StateDirectory=, else the default. */
const char *startup_state_directory(void)
{
	static char first[4096];
	const char *sd = getenv("STATE_DIRECTORY");
	if (sd && *sd) {
		/* several directories are separated by ':'; the first is ours */
		snprintf(first, sizeof(first), "%.*s", (int)strcspn(sd, ":"), sd);
		return first;
	}
	return QP_LOCALSTATEDIR "/lib/qrexec-proxy";
}

/* the directory of PATH, when it is one a sandbox must not see (not /, /etc, /usr...) */
static char *private_dir(const char *path)
{
	static const char *const shared[] = { "/", "/etc", "/usr", "/bin", "/lib", "/lib64", "/opt", NULL };
	if (!path || path[0] != '/')
		return NULL;
	char *d = strdup(path);
	if (!d)
		return NULL;
	char *slash = strrchr(d, '/');
	if (slash == d)
		slash[1] = '\0';
	else
		*slash = '\0';
	for (size_t i = 0; shared[i]; i++) {
		if (!strcmp(d, shared[i])) {
			free(d);
			return NULL;
		}
	}
	return d;
}

/*
 * The boundary around every connection's filters, decided once: the
 * mechanism asked for (--isolation, else the configuration's isolation:,
 * else the best the kernel allows), tried before it is trusted.
 */
void startup_isolation(const struct options *o, const struct qp_config *cfg, const char *socket_path,
			    struct isolate_policy *pol)
{
	enum isolate_mech want = ISOLATE_AUTO;
	/* no configuration (it did not load): the option, else the best there is */
	const char *file = cfg ? cfg->file : o->config;
	if (o->isolation_given)
		want = o->isolation;
	else if (cfg && cfg->isolation && isolate_parse_mech(cfg->isolation, &want) < 0)
		want = ISOLATE_AUTO;
	static char *hide[3];
	free(hide[0]);
	free(hide[1]);
	hide[0] = private_dir(socket_path);
	hide[1] = private_dir(file);
	if (!hide[0]) {
		hide[0] = hide[1];
		hide[1] = NULL;
	}
	if (isolate_setup(want, startup_state_directory(), (const char *const *)hide, pol) < 0)
		die_x(EXIT_USAGE, "isolation: %s; choose another with --isolation or 'isolation:' in %s", pol->detail,
		      file);
}

/*
 * Under socket activation, a configuration that does not load must not
 * take the socket down: exiting would make systemd start the service again
 * for every queued call, hit the start limit and remove the socket. The
 * listener starts without one instead, says what is wrong (FILE:LINE:COL),
 * refuses every call, and takes the fixed file on reload. Returns the
 * configuration, or NULL with every problem logged.
 */
struct qp_config *startup_load_logged(const char *file)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	if (!f)
		die_sys(EXIT_SYS, "unable to load the configuration");
	struct qp_config *cfg = config_load(file, NULL, f);
	fclose(f);
	log_lines(LOG_ERR, text);
	free(text);
	return cfg;
}

/* The steps' own argument checks: every problem logged; returns their number, -1 when they could not run. */
int startup_argcheck_logged(const struct qp_config *cfg, const struct isolate_policy *pol, const struct sock_fprog *prog)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	if (!f)
		die_sys(EXIT_SYS, "unable to check the filters' arguments");
	int problems = argcheck_config(cfg, pol, prog, f, NULL);
	fclose(f);
	log_lines(LOG_ERR, text);
	free(text);
	return problems;
}

/* The steps' own argument checks at start: every problem logged, and none may remain. */
void startup_argcheck_or_die(const struct qp_config *cfg, const struct isolate_policy *pol, const struct sock_fprog *prog)
{
	int problems = startup_argcheck_logged(cfg, pol, prog);
	if (problems < 0)
		die_x(EXIT_SYS, "unable to run the filters' argument checks; see above");
	if (problems > 0)
		die_x(EXIT_USAGE, "invalid configuration %s: %d problem%s with its programs or their arguments; see above, fix it, and run '" PROG " check --config %s'",
		      cfg->file, problems, problems == 1 ? "" : "s", cfg->file);
}

/* Refuses, at start, to pretend: says which chains cannot run without isolation. */
void startup_warn_unisolated(const struct qp_config *cfg, const struct isolate_policy *pol)
{
	if (pol->mech != ISOLATE_NONE)
		return;
	log_msg(LOG_WARNING, "no isolation mechanism works here (%s): only the built-in filters run", pol->detail);
	for (size_t c = 0; c < cfg->nchains; c++) {
		const struct qp_chain *ch = &cfg->chains[c];
		for (size_t i = 0; i < ch->nfilters + ch->nadmit; i++) {
			const struct qp_step *s = i < ch->nfilters ? &ch->filters[i] : &ch->admit[i - ch->nfilters];
			if (!isolate_is_builtin(s->path)) {
				log_msg(LOG_WARNING, "chain %s will refuse every call: it runs %s, which is not built in; set 'isolation: seccomp-only' to run it with the weaker isolation",
					ch->name, s->path);
				break;
			}
		}
	}
}

/*
 * The pipes' budget: pipe memory is charged to the user that creates the
 * pipe (the daemon's), and once that user is over fs.pipe-user-pages-soft
 * the kernel gives every new pipe two pages and refuses to grow one.
 */
void startup_pipe_memory(struct options *o, enum pipecap cap)
{
	uint64_t soft;
	uint64_t dflt = limits_default_pipe_memory(&soft);
	if (!o->pipe_memory_given)
		o->lo.pipe_memory = dflt;
	if (soft && o->lo.pipe_memory > soft && cap == PIPECAP_NONE)
		log_msg(LOG_WARNING,
			"--pipe-memory %llu KiB is more than the kernel lets this user have in pipes (fs.pipe-user-pages-soft: %llu KiB): under load, pipes will fall to two pages",
			(unsigned long long)(o->lo.pipe_memory >> 10), (unsigned long long)(soft >> 10));
	log_msg(LOG_INFO, "pipe memory: %llu KiB for all connections, data pipes of at most %d bytes, sized %s%s",
		(unsigned long long)(o->lo.pipe_memory >> 10), o->lo.serve.pipe_size, pipecap_describe(cap),
		soft ? "" : " (the kernel's per-user limit could not be read)");
}

/* before anything is forked: no filter, check or connector may inherit a capability */
enum pipecap startup_keep_pipecap(void)
{
	enum pipecap cap;
	if (pipecap_keep(&cap) < 0)
		die_x(EXIT_SYS, "unable to drop the capabilities the programs it starts would inherit: %s", strerror(errno));
	return cap;
}

void startup_bounds(const struct options *o, struct bounds_opts *b, char *cgroup_why, size_t size)
{
	int r = cgroup_setup(o->cgroup, cgroup_why, size);
	if (r < 0)
		die_x(EXIT_USAGE, "--connection-cgroup yes: no cgroup per connection: %s", cgroup_why);
	bounds_defaults(b, o->connection_memory, o->connection_tasks, cgroup_bounds() ? BOUNDS_CGROUP : BOUNDS_RLIMIT);
}

void startup_bounds_log(const struct options *o, const struct qp_config *cfg, const struct isolate_policy *pol,
			const struct bounds_opts *b, const char *cgroup_why)
{
	log_msg(LOG_NOTICE, "resources: %s; %s%s", b->detail, cgroup_why,
		b->kind == BOUNDS_RLIMIT && pol->mech != ISOLATE_NAMESPACES
			? "; tasks are not counted per connection without a user namespace of its own"
			: "");
	uint64_t limit = cgroup_tasks_limit(), need = 0;
	if (!bounds_tasks_fit(cfg, b, o->lo.max_connections, o->lo.max_queued, limit, &need))
		log_msg(LOG_WARNING,
			"the service may run %llu tasks (pids.max: TasksMax= of the unit) and this configuration may need %llu at worst (--max-connections, --max-queued, --connection-tasks, the chains' tasks_max): raise TasksMax= or lower those",
			(unsigned long long)limit, (unsigned long long)need);
}
