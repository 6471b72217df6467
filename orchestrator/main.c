/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qrexec-proxy: a qrexec proxy and firewall. One program, nine modes:
 * serve (the socket-activated listener, listener.h), exec (executable-
 * service mode), check (validate a configuration), run (one connection
 * through a chain between stdin/stdout and a command, for filter
 * authors), policy (the dom0 policy that matches the chains), links (the
 * qrexec service names of the transparent entries), status (what runs
 * now), end (end some of the connections that run now) and reload (ask a
 * running listener to reload and wait for its verdict: systemd's
 * ExecReload=). Their options are options.c's, the
 * daemon's start-up policy startup.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "argcheck.h"
#include "bounds.h"
#include "cgroup.h"
#include "config.h"
#include "descriptor.h"
#include "end.h"
#include "isolate.h"
#include "links.h"
#include "listener.h"
#include "log.h"
#include "options.h"
#include "pipecap.h"
#include "policy.h"
#include "reload.h"
#include "route.h"
#include "startup.h"
#include "summary.h"
#include "status.h"
#include "supervise.h"
#include "transparent.h"
#include "unixsock.h"
#include "util.h"

static int cmd_serve(int argc, char **argv, struct options *o)
{
	int i = opt_parse(argc, argv, o, "config socket log allow-root max-connections grace descriptor-timeout admit-timeout pipe-size isolation allow-peer-uid idle-timeout max-per-source queue-timeout max-queued max-queued-per-source pipe-memory no-spare control connection-memory connection-tasks connection-cgroup trace-phases");
	if (i != argc)
		opt_usage("serve takes no arguments");
	log_init(PROG, o->log);
	o->lo.config_file = o->config;
	if (geteuid() == 0 && !o->allow_root)
		die_x(EXIT_USAGE, "refusing to serve as root: run it as an unprivileged user (the systemd units do), or pass --allow-root");
	enum pipecap cap = startup_keep_pipecap();
	struct bounds_opts bounds;
	char cgroup_why[320];
	startup_bounds(o, &bounds, cgroup_why, sizeof(cgroup_why));

	int fd;
	struct stat bound = { 0 };
	int n = sd_listen_fds(1);
	if (n < 0)
		die_x(EXIT_SYS, "unable to take the sockets systemd passed: %s", strerror(-n));
	if (n > 1)
		die_x(EXIT_USAGE, "systemd passed %d sockets; qrexec-proxy.socket must have exactly one ListenStream=", n);
	if (n == 0 && !o->socket)
		die_x(EXIT_USAGE, "no socket: start it from qrexec-proxy.socket or give --socket PATH");
	/*
	 * Everything that can fail on the administrator's side before the
	 * socket is bound: a bad configuration leaves no stale socket behind,
	 * and a bind error cannot hide a configuration error.
	 */
	struct qp_config *cfg = n == 1 ? startup_load_logged(o->config) : startup_load_or_die(o->config);
	struct sock_fprog prog;
	struct isolate_policy pol;
	startup_seccomp(&prog);
	startup_raise_nofile();
	startup_isolation(o, cfg, n == 1 ? NULL : o->socket, &pol);
	if (n == 0) {
		startup_argcheck_or_die(cfg, &pol, &prog);
	} else if (cfg) {
		int problems = startup_argcheck_logged(cfg, &pol, &prog);
		if (problems != 0) {
			if (problems < 0)
				log_msg(LOG_ERR, "unable to run the filters' argument checks; see above");
			else
				log_msg(LOG_ERR, "%s: %d problem%s with its programs or their arguments; see above", cfg->file,
					problems, problems == 1 ? "" : "s");
			config_free(cfg);
			cfg = NULL;
		}
	}
	if (n == 1 && !cfg)
		log_msg(LOG_ERR, "invalid configuration %s: serving the socket anyway, refusing every call until a fixed file is loaded; run '" PROG " check --config %s', then 'systemctl reload qrexec-proxy'",
			o->config, o->config);
	if (n == 1) {
		fd = SD_LISTEN_FDS_START;
		if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0)
			die_x(EXIT_USAGE, "the socket systemd passed is not a listening UNIX stream socket");
		if (o->socket)
			log_msg(LOG_NOTICE, "using the socket systemd passed; --socket %s is ignored", o->socket);
	} else {
		fd = unixsock_bind(o->socket);
		if (fd < 0)
			exit(EXIT_SYS);
		if (lstat(o->socket, &bound) < 0)
			die_sys(EXIT_SYS, "unable to stat %s", o->socket);
	}

	log_msg(pol.mech == ISOLATE_NAMESPACES || pol.mech == ISOLATE_LANDLOCK ? LOG_NOTICE : LOG_WARNING,
		"isolation: %s", pol.detail);
	startup_pipe_memory(o, cap);
	startup_bounds_log(o, cfg, &pol, &bounds, cgroup_why);
	if (cfg)
		startup_warn_unisolated(cfg, &pol);
	o->lo.serve.isolation = &pol;
	o->lo.serve.bounds = &bounds;
	o->lo.spare = !o->no_spare;
	o->lo.control_path = status_control_path(o->control, n == 1 ? NULL : o->socket);
	o->lo.peer_uids = o->peer_uids;
	o->lo.npeer_uids = o->npeer_uids;
	int rc = listener_run(fd, &cfg, &prog, &o->lo);
	/*
	 * A socket we made ourselves goes with us, but only while it is still
	 * ours: another daemon may have replaced it meanwhile. systemd's
	 * stays systemd's.
	 */
	struct stat st;
	if (n == 0) {
		if (lstat(o->socket, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == bound.st_dev &&
		    st.st_ino == bound.st_ino) {
			if (unlink(o->socket) < 0 && errno != ENOENT)
				log_sys(LOG_WARNING, "unable to remove %s", o->socket);
		} else if (errno != ENOENT) {
			log_msg(LOG_NOTICE, "%s is no longer the socket this daemon made: left alone", o->socket);
		}
	}
	config_free(cfg);
	free(prog.filter);
	return rc;
}

static int exit_code_for(enum qp_result r, const struct supervise_result *res)
{
	if (res->connector_reaped) {
		int st = res->connector_status;
		if (WIFEXITED(st) && (WEXITSTATUS(st) != 0 || r == QP_OK))
			return WEXITSTATUS(st);
		/*
		 * Killed with the aborted connection, or by SIGPIPE because the
		 * filter that read it died first: the connection's failure, not
		 * the connector's own (which one comes first is a race).
		 */
		bool consequence = r == QP_ABORTED && (WTERMSIG(st) == SIGKILL || WTERMSIG(st) == SIGPIPE);
		if (WIFSIGNALED(st) && !consequence)
			return 128 + WTERMSIG(st);
	}
	switch (r) {
	case QP_OK:
		return 0;
	case QP_REFUSED:
		return EXIT_REFUSED;
	case QP_ABORTED:
		return EXIT_REFUSED_BY_FILTER;
	case QP_FAILED:
		return EXIT_SYS;
	case QP_CALLER_GONE:
		return EXIT_REFUSED_BY_FILTER;
	case QP_QUEUE_TIMEOUT:
	case QP_QUEUE_FULL:
		return EXIT_REFUSED; /* no queue outside serve */
	case QP_ENDED:
		return EXIT_REFUSED_BY_FILTER; /* only serve's listener ends a connection */
	}
	return EXIT_SYS;
}

static int run_one(const struct options *o, const struct qp_config *cfg, const struct qp_chain *chain,
		   char *const *connector, const char *source, const char *target, const char *service)
{
	char id[17];
	struct sock_fprog prog;
	struct supervise_result res;

	struct isolate_policy pol;
	struct bounds_opts bounds;
	struct cgroup_conn cg;
	make_connection_id(id);
	startup_seccomp(&prog);
	startup_isolation(o, cfg, NULL, &pol);
	/* one connection per process: rlimits bound it, and the OOM kills counted are the machine's */
	bounds_defaults(&bounds, o->connection_memory, o->connection_tasks, BOUNDS_RLIMIT);
	struct bounds b = bounds_of(&bounds, chain);
	cgroup_conn_create(&cg, &b);
	if (pol.mech != ISOLATE_NAMESPACES && pol.mech != ISOLATE_LANDLOCK)
		log_msg(LOG_WARNING, "isolation: %s", pol.detail);
	struct log_connection lc = { .id = id, .source = source, .target = target, .service = service,
				     .chain = chain->name };
	log_set_connection(&lc);
	struct supervise_args a = {
		.chain = chain,
		.source = source,
		.target = target,
		.service = service,
		.conn_id = id,
		.connector = connector,
		.in_fd = 0,
		.out_fd = 1,
		.seccomp = &prog,
		.isolation = &pol,
		.admit_timeout_ms = o->lo.serve.admit_timeout_ms,
		.pipe_size = o->lo.serve.pipe_size,
		.limits_fd = -1,
		.bounds = &bounds,
		.cgroup = &cg,
	};
	enum qp_result r = supervise_connection(&a, &res);
	free(prog.filter);
	return exit_code_for(r, &res);
}

static int cmd_exec(int argc, char **argv, struct options *o)
{
	/*
	 * The caller's argument is the caller's, never an option (a call for
	 * qrexec-proxy+-lstderr must not send the log to the caller). qrexec
	 * passes it as the last word of the command line (and in
	 * QREXEC_SERVICE_ARGUMENT): that word is taken off before the options
	 * are parsed, whether the variable is there or not, unless it is
	 * the value of the option before it (every option of exec takes one).
	 * Only a command line typed outside a call (no QREXEC_REMOTE_DOMAIN:
	 * --help) is options throughout.
	 */
	const char *env_arg = getenv("QREXEC_SERVICE_ARGUMENT");
	int nopt = argc;
	if (getenv("QREXEC_REMOTE_DOMAIN") && argc > 1 &&
	    ((env_arg && !strcmp(argv[argc - 1], env_arg)) || !opt_takes_value(argv[argc - 2])))
		nopt = argc - 1;
	int i = opt_parse(nopt, argv, o, "config log admit-timeout pipe-size isolation");
	if (nopt < argc ? i != nopt : argc - i > 1)
		opt_usage("exec takes at most one argument");
	/*
	 * An executable service's stderr travels back to the caller: nothing
	 * we say may go there, so the log goes to the journal only.
	 */
	log_init(PROG, o->log_given ? o->log : LOG_TARGET_JOURNAL);
	if (log_current_target() == LOG_TARGET_JOURNAL && !freopen("/dev/null", "w", stderr))
		exit(EXIT_SYS);
	startup_keep_pipecap();

	const char *source = getenv("QREXEC_REMOTE_DOMAIN");
	char *arg = strdup(env_arg ? env_arg : nopt < argc ? argv[nopt] : i < argc ? argv[i] : "");
	if (!arg)
		die_sys(EXIT_SYS, "out of memory");
	if (!source || !name_qube(source))
		die_x(EXIT_REFUSED, "refused: QREXEC_REMOTE_DOMAIN is missing or not a qube name");
	const char *why;
	/*
	 * Installed under a service name of its own (a transparent entry's),
	 * the program learns that name only from QREXEC_SERVICE_FULL_NAME
	 * (SERVICE+ARG): under any name but the proxy's, the configuration
	 * says where the call goes. Without the variable, the proxy's form.
	 */
	const char *full_env = getenv("QREXEC_SERVICE_FULL_NAME");
	char *full = full_env ? strdup(full_env) : NULL, *tservice = NULL, *targument = NULL;
	if (full_env && !full)
		die_sys(EXIT_SYS, "out of memory");
	if (full && transparent_split_full_name(full, &tservice, &targument, &why) < 0)
		die_x(EXIT_REFUSED, "refused: malformed QREXEC_SERVICE_FULL_NAME from %s: %s", source, why);
	bool transparent = tservice && strcmp(tservice, QP_PROXY_SERVICE) != 0;
	struct qp_config *cfg = startup_load_or_die(o->config);
	struct route r;
	enum route_status rs = route_call(cfg, transparent ? tservice : QP_PROXY_SERVICE, transparent ? targument : arg,
					  source, &r);
	if (rs == ROUTE_FAILED)
		die_x(EXIT_SYS, "%s", r.reason);
	if (rs != ROUTE_OK) {
		/* as serve's: the summary, then the exit code qrexec passes on */
		char id[17];
		make_connection_id(id);
		struct log_connection lc = { .id = id, .source = source };
		log_set_connection(&lc);
		summary_log_refused(id, source, r.call.target, r.call.service ? r.call.service : transparent ? tservice : NULL,
				    r.call.chain, r.reason, 0);
		exit(EXIT_REFUSED);
	}
	int rc = run_one(o, cfg, r.chain, r.connector, source, r.call.target, r.call.service);
	route_free(&r);
	config_free(cfg);
	free(full);
	free(arg);
	return rc;
}

/* the qrexec service directories, or what QREXEC_PROXY_RPC_DIRS says instead (tests) */
static void check_links(const struct qp_config *cfg, const char *socket)
{
	const char *env = getenv(QP_RPC_DIRS_ENV);
	char *copy = env ? strdup(env) : NULL;
	const char *dirs[16] = { QP_RPC_DIR_LOCAL, QP_RPC_DIR_SYSTEM, NULL };
	if (env && !copy)
		die_sys(EXIT_SYS, "out of memory");
	if (copy) {
		size_t n = 0;
		char *save = NULL;
		for (char *d = strtok_r(copy, ":", &save); d && n < 15; d = strtok_r(NULL, ":", &save))
			dirs[n++] = d;
		dirs[n] = NULL;
	}
	links_warnings(cfg, dirs, socket, stderr);
	free(copy);
}

static int cmd_check(int argc, char **argv, struct options *o)
{
	int i = opt_parse(argc, argv, o, "config isolation socket max-connections max-queued connection-memory connection-tasks connection-cgroup");
	if (i != argc)
		opt_usage("check takes no arguments");
	struct qp_config *cfg = config_load(o->config, NULL, stderr);
	if (!cfg)
		return EXIT_USAGE; /* a configuration error, as everywhere else */
	struct isolate_policy pol;
	struct sock_fprog prog;
	startup_isolation(o, cfg, NULL, &pol);
	startup_seccomp(&prog);
	int problems = argcheck_config(cfg, &pol, &prog, stderr, stderr);
	free(prog.filter);
	if (problems != 0) {
		config_free(cfg);
		return problems < 0 ? EXIT_SYS : EXIT_USAGE;
	}
	printf("%s: ok: %zu chains\n", o->config, cfg->nchains);
	printf("isolation here: %s\n", pol.detail);
	/* what serve would find if started here (under the unit, its MemoryMax= and Delegate= decide) */
	char cgroup_why[320];
	struct bounds_opts bounds;
	int kind = cgroup_probe(o->cgroup, cgroup_why, sizeof(cgroup_why));
	bounds_defaults(&bounds, o->connection_memory, o->connection_tasks, kind > 0 ? BOUNDS_CGROUP : BOUNDS_RLIMIT);
	printf("resources here: %s; %s\n", bounds.detail, cgroup_why);
	for (size_t c = 0; c < cfg->nchains; c++) {
		const struct qp_chain *ch = &cfg->chains[c];
		const char *third = NULL;
		for (size_t k = 0; k < ch->nfilters + ch->nadmit && !third; k++) {
			const struct qp_step *s = k < ch->nfilters ? &ch->filters[k] : &ch->admit[k - ch->nfilters];
			if (!isolate_is_builtin(s->path))
				third = s->path;
		}
		const char *iso = isolate_mech_name(pol.mech);
		if (pol.mech == ISOLATE_NONE)
			iso = third ? "none: every call refused (a third-party filter needs isolation)"
				    : "built-in filters only, under their own lock-down";
		printf("  %s: %zu filters, %zu admission checks; isolation: %s\n    bound: ", ch->name, ch->nfilters,
		       ch->nadmit, iso);
		bounds_describe(stdout, &bounds, ch, pol.mech == ISOLATE_NAMESPACES);
		putchar('\n');
		if (ch->log_bytes == 0 && ch->log_lines_per_second == 0)
			for (size_t k = 0; k < ch->nfilters; k++)
				if (!strcmp(ch->filters[k].name, "sniff"))
					fprintf(stderr, "%s:%d:%d: warning: chain '%s' runs sniff, which logs all its data, with the default stderr bound (%u lines a second, %u bytes): set log_lines_per_second and log_bytes for it\n",
						cfg->file, ch->line, ch->column, ch->name, (unsigned)BOUNDS_DEFAULT_LOG_LINES,
						(unsigned)BOUNDS_DEFAULT_LOG_BYTES);
		/* a warning, not an error: dom0 policy may be what restricts it */
		if (!ch->targets)
			fprintf(stderr, "%s:%d:%d: warning: chain '%s' has no 'targets': it forwards to any qube dom0 policy lets its callers name\n",
				cfg->file, ch->line, ch->column, ch->name);
		if (!ch->services)
			fprintf(stderr, "%s:%d:%d: warning: chain '%s' has no 'services': it forwards any service dom0 policy lets its callers name\n",
				cfg->file, ch->line, ch->column, ch->name);
	}
	uint64_t need;
	if (!bounds_tasks_fit(cfg, &bounds, o->lo.max_connections, o->lo.max_queued, QP_UNIT_TASKS_MAX, &need))
		fprintf(stderr, "%s: warning: at worst the daemon may need %llu tasks (--max-connections %d, --max-queued %d, --connection-tasks %u, the chains' tasks_max), more than the unit's TasksMax=%d: raise it (systemctl edit qrexec-proxy) or lower those\n",
			cfg->file, (unsigned long long)need, o->lo.max_connections, o->lo.max_queued,
			(unsigned)bounds.dflt.tasks, QP_UNIT_TASKS_MAX);
	else
		printf("tasks at worst: %llu, under the unit's TasksMax=%d\n", (unsigned long long)need, QP_UNIT_TASKS_MAX);
	if (cfg->ntransparent) {
		printf("%zu transparent entries:\n", cfg->ntransparent);
		transparent_describe(cfg, stdout);
		fflush(stdout);
		transparent_warnings(cfg, stderr);
		check_links(cfg, o->socket ? o->socket : QP_SOCKET_PATH);
	}
	config_free(cfg);
	return 0;
}

/* ExecReload=: SIGHUP to the listener, and its verdict as the exit status */
static int cmd_reload(int argc, char **argv, struct options *o)
{
	int i = opt_parse(argc, argv, o, "pid timeout");
	if (i != argc)
		opt_usage("reload takes no arguments");
	const char *arg = o->pid ? o->pid : getenv("MAINPID");
	if (!arg || !*arg)
		opt_usage("reload needs --pid PID, or MAINPID in the environment (systemd's ExecReload= sets it)");
	pid_t pid = (pid_t)opt_count(arg, "--pid", 1, 0x7fffffff);
	int verdict;
	if (reload_request(pid, o->timeout_ms ? o->timeout_ms : 80000, &verdict) < 0) {
		if (errno == ETIMEDOUT)
			die_x(EXIT_SYS, "process %d gave no verdict on the reload: is it qrexec-proxy serve?", (int)pid);
		die_sys(EXIT_SYS, "unable to ask process %d to reload", (int)pid);
	}
	if (verdict == RELOAD_REJECTED) {
		log_msg(LOG_ERR, "configuration rejected: the listener keeps the previous one; the journal says why (journalctl -u qrexec-proxy), '" PROG " check' too");
		return EXIT_USAGE;
	}
	log_msg(LOG_NOTICE, "configuration reloaded: %d chains", verdict);
	return 0;
}

/* execve() needs a path: look COMMAND up in PATH as a shell would, without a shell */
static char *find_command(const char *cmd)
{
	if (strchr(cmd, '/'))
		return strdup(cmd);
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	char *copy = strdup(path), *save = NULL;
	if (!copy)
		return NULL;
	for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		char *full;
		if (asprintf(&full, "%s/%s", dir, cmd) < 0)
			break;
		struct stat st;
		if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && access(full, X_OK) == 0) {
			free(copy);
			return full;
		}
		free(full);
	}
	free(copy);
	return NULL;
}

static int cmd_run(int argc, char **argv, struct options *o)
{
	int i = opt_parse(argc, argv, o, "config source target service log admit-timeout pipe-size isolation");
	log_init(PROG, o->log_given ? o->log : LOG_TARGET_STDERR);
	startup_keep_pipecap();
	if (i >= argc)
		opt_usage("run needs a CHAIN and a COMMAND");
	const char *chain_name = argv[i++];
	if (i < argc && !strcmp(argv[i], "--"))
		i++;
	if (i >= argc)
		opt_usage("run needs a COMMAND after the chain (CHAIN -- COMMAND [ARG...])");
	if (!name_qube(o->source))
		die_x(EXIT_USAGE, "--source '%s' is not a valid qube name", o->source);
	if (!name_qube(o->target))
		die_x(EXIT_USAGE, "--target '%s' is not a valid qube name", o->target);

	struct qp_config *cfg = startup_load_or_die(o->config);
	const struct qp_chain *chain = config_chain(cfg, chain_name);
	if (!chain)
		die_x(EXIT_USAGE, "no chain '%s' in %s", chain_name, o->config);
	const char *which = config_chain_refuses(chain, o->source, o->target, o->service);
	if (which)
		die_x(EXIT_REFUSED, "refused: chain '%s' from %s to %s for %s: the %s is not in the chain's %ss", chain_name,
		      o->source, o->target, o->service, which, which);
	char *path = find_command(argv[i]);
	if (!path)
		die_x(127, "%s: command not found", argv[i]);
	size_t n = (size_t)(argc - i);
	char **connector = calloc(n + 1, sizeof(*connector));
	if (!connector)
		die_sys(EXIT_SYS, "out of memory");
	connector[0] = path;
	for (size_t k = 1; k < n; k++)
		connector[k] = argv[i + (int)k];
	int rc = run_one(o, cfg, chain, connector, o->source, o->target, o->service);
	free(connector);
	free(path);
	config_free(cfg);
	return rc;
}

/*
 * The date in the header: SOURCE_DATE_EPOCH where it is set (reproducible
 * output, as for builds), else now.
 */
static time_t policy_date(void)
{
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	if (!sde || !*sde)
		return time(NULL);
	char *end;
	errno = 0;
	long long v = strtoll(sde, &end, 10);
	if (errno || *end || v < 0 || (long long)(time_t)v != v)
		die_x(EXIT_USAGE, "SOURCE_DATE_EPOCH must be a number of seconds since 1970, not '%s'", sde);
	return (time_t)v;
}

static int cmd_policy(int argc, char **argv, struct options *o)
{
	int i = opt_parse(argc, argv, o, "config proxy-qube");
	if (i != argc)
		opt_usage("policy takes no arguments");
	if (!o->proxy_qube)
		opt_usage("policy needs --proxy-qube NAME, the qube the proxy runs in");
	if (!policy_valid_proxy_qube(o->proxy_qube))
		die_x(EXIT_USAGE, "--proxy-qube '%s' is not a qube name (a letter, then up to 30 of A-Z a-z 0-9 _ . -; not dom0)",
		      o->proxy_qube);
	struct policy_options po = { .proxy_qube = o->proxy_qube, .date = policy_date() };
	struct qp_config *cfg = startup_load_or_die(o->config);
	if (policy_proxy_qube_conflicts(cfg, o->proxy_qube, stderr))
		die_x(EXIT_USAGE,
		      "--proxy-qube '%s' is also a qube the chains name (above): the rules would let it call itself through "
		      "the proxy; give the name of the qube the proxy runs in, and keep that qube out of every chain's "
		      "sources and targets",
		      o->proxy_qube);
	/* whole or not at all: a policy cut short would still parse in dom0 */
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	if (!m)
		die_sys(EXIT_SYS, "unable to write the policy");
	int n = policy_write(cfg, &po, m, stderr);
	if (fclose(m) == EOF || n < 0)
		die_sys(EXIT_SYS, "unable to write the policy");
	if (fwrite(text, 1, len, stdout) != len || fflush(stdout) == EOF)
		die_sys(EXIT_SYS, "unable to write the policy to standard output");
	free(text);
	if (n > 0)
		fprintf(stderr, PROG ": %d warning%s: read the rules commented out in the policy before you install it\n", n,
			n == 1 ? "" : "s");
	config_free(cfg);
	return 0;
}

/* the control socket status and end ask: --control, else next to --socket, else the default */
static const char *control_path(const struct options *o, const char *mode)
{
	if (o->control && o->socket) {
		fprintf(stderr, PROG ": %s takes --control or --socket, not both\n", mode);
		opt_usage(NULL);
	}
	const char *path = o->control ? o->control : o->socket ? status_control_path(NULL, o->socket) : STATUS_DEFAULT_CONTROL;
	if (!path)
		die_x(EXIT_USAGE, "--socket %s: the path is too long", o->socket);
	return path;
}

static int cmd_status(int argc, char **argv, struct options *o)
{
	int i = opt_parse(argc, argv, o, "control socket json");
	if (i != argc)
		opt_usage("status takes no arguments");
	return status_ask(control_path(o, "status"), o->json);
}

static int cmd_end(int argc, char **argv, struct options *o)
{
	int i = opt_parse(argc, argv, o, "control socket source chain");
	const char *path = control_path(o, "end");
	int ways = (i < argc) + o->source_given + (o->chain != NULL);
	if (ways != 1)
		opt_usage("end takes connection ids, or --source NAME, or --chain NAME (one of them)");
	if (o->source_given)
		return end_ask(path, END_BY_SOURCE, (char *const[]){ (char *)o->source }, 1);
	if (o->chain)
		return end_ask(path, END_BY_CHAIN, (char *const[]){ (char *)o->chain }, 1);
	return end_ask(path, END_BY_ID, argv + i, (size_t)(argc - i));
}

static int cmd_links(int argc, char **argv, struct options *o)
{
	int i = opt_parse(argc, argv, o, "config dir socket check");
	if (i != argc)
		opt_usage("links takes no arguments");
	struct links_opts lo = {
		.dir = o->dir ? o->dir : QP_RPC_DIR_LOCAL,
		.socket = o->socket ? o->socket : QP_SOCKET_PATH,
		.check_only = o->check_only,
	};
	if (lo.socket[0] != '/')
		die_x(EXIT_USAGE, "--socket takes an absolute path: qrexec-agent follows the link from %s", lo.dir);
	struct qp_config *cfg = config_load(o->config, NULL, stderr);
	if (!cfg)
		return EXIT_USAGE;
	int rc = links_sync(cfg, &lo, stdout, stderr);
	config_free(cfg);
	return rc;
}

int main(int argc, char **argv)
{
	struct options o = {
		.config = DEFAULT_CONFIG,
		.log = LOG_TARGET_AUTO,
		.lo = { .max_connections = 256, .max_per_source = 8, .max_queued = 1024, .max_queued_per_source = 32,
			.queue_timeout_ms = 30000, .grace_ms = 30000,
			.serve = { .descriptor_timeout_ms = 10000, .admit_timeout_ms = 10000,
				   .pipe_size = QP_DEFAULT_PIPE_SIZE } },
		.source = "local",
		.target = "local",
		.service = "local",
	};

	log_init(PROG, LOG_TARGET_STDERR);
	if (argc < 2)
		opt_usage(NULL);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(opt_usage_text, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		puts(PROG " " PACKAGE_VERSION);
		return 0;
	}
	/* a closed 0, 1 or 2 would let a pipe land there and leak into a child's stdio */
	if (fds_ensure_std() < 0)
		die_sys(EXIT_SYS, "unable to open /dev/null");
	/*
	 * Nothing of the daemon (the policy in its memory, its fds) may be
	 * read or changed through /proc or ptrace by a process of the same
	 * user: every process forked from here is non-dumpable too.
	 */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		die_sys(EXIT_SYS, "unable to make the process non-dumpable");
	const char *cmd = argv[1];
	argc--;
	argv++;
	int rc;
	if (!strcmp(cmd, "serve"))
		rc = cmd_serve(argc, argv, &o);
	else if (!strcmp(cmd, "exec"))
		rc = cmd_exec(argc, argv, &o);
	else if (!strcmp(cmd, "check"))
		rc = cmd_check(argc, argv, &o);
	else if (!strcmp(cmd, "run"))
		rc = cmd_run(argc, argv, &o);
	else if (!strcmp(cmd, "policy"))
		rc = cmd_policy(argc, argv, &o);
	else if (!strcmp(cmd, "status"))
		rc = cmd_status(argc, argv, &o);
	else if (!strcmp(cmd, "end"))
		rc = cmd_end(argc, argv, &o);
	else if (!strcmp(cmd, "links"))
		rc = cmd_links(argc, argv, &o);
	else if (!strcmp(cmd, "reload"))
		rc = cmd_reload(argc, argv, &o);
	else
		opt_usage("unknown command");
	return rc;
}
