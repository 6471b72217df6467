/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qrexec-proxy: a qrexec proxy and firewall. One program, six jobs:
 * serve (the socket-activated listener), exec (executable-service mode),
 * check (validate a configuration), run (one connection through a
 * chain between stdin/stdout and a command, for filter authors), policy
 * (the dom0 policy that matches the chains), links (the qrexec service
 * names of the transparent entries), status (what runs now) and reload
 * (ask a running listener to reload and wait for its verdict: systemd's
 * ExecReload=).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "argcheck.h"
#include "config.h"
#include "descriptor.h"
#include "isolate.h"
#include "links.h"
#include "connlimits.h"
#include "listener.h"
#include "log.h"
#include "pipecap.h"
#include "policy.h"
#include "reload.h"
#include "sandbox.h"
#include "status.h"
#include "supervise.h"
#include "route.h"
#include "transparent.h"
#include "unixsock.h"
#include "util.h"

#define PROG "qrexec-proxy"
#define DEFAULT_CONFIG QP_SYSCONFDIR "/qrexec-proxy/chains.yaml"
/* see the measurements in README (Performance) */
#define QP_DEFAULT_PIPE_SIZE (1024 * 1024)

/* exit codes (see qrexec-proxy(1)) */
enum {
	EXIT_REFUSED_BY_FILTER = 1,
	EXIT_USAGE = 100,
	EXIT_SYS = 111,
	EXIT_REFUSED = 126,
};

static const char usage_text[] =
	"usage: " PROG " serve [--config FILE] [--socket PATH] [--log journal|stderr|auto]\n"
	"                    [--allow-root] [--max-connections N] [--grace SECONDS]\n"
	"                    [--descriptor-timeout SECONDS] [--admit-timeout SECONDS] [--pipe-size BYTES]\n"
	"                    [--isolation auto|namespaces|landlock|seccomp-only] [--allow-peer-uid UID]...\n"
	"                    [--idle-timeout SECONDS] [--max-per-source N] [--queue-timeout SECONDS]\n"
	"                    [--max-queued N] [--max-queued-per-source N] [--pipe-memory BYTES] [--no-spare]\n"
	"       " PROG " exec [--config FILE] [--log journal|stderr|auto] [--isolation MECH] [ARG]\n"
	"       " PROG " check [--config FILE] [--isolation MECH] [--socket PATH]\n"
	"       " PROG " run [--config FILE] [--source NAME] [--target NAME] [--service NAME]\n"
	"                  [--log journal|stderr|auto] [--isolation MECH] CHAIN -- COMMAND [ARG...]\n"
	"       " PROG " policy [--config FILE] --proxy-qube NAME\n"
	"       " PROG " links [--config FILE] [--dir DIR] [--socket PATH] [--check]\n"
	"       " PROG " status [--json] [--control PATH]\n"
	"       " PROG " reload [--pid PID] [--timeout SECONDS]\n"
	"       " PROG " --help | --version\n";

/* what each mode takes, for "qrexec-proxy MODE --help" */
static const struct mode_help {
	const char *mode;
	const char *text;
} mode_help[] = {
	{ "serve",
	  "usage: " PROG " serve [OPTION...]\n"
	  "The listener: serves qrexec-proxy+CHAIN+TARGET+SERVICE calls on the socket systemd passes\n"
	  "(qrexec-proxy.socket) or on --socket PATH, one supervisor per connection.\n"
	  "  -c, --config FILE            the chains (default " QP_SYSCONFDIR "/qrexec-proxy/chains.yaml and chains.d/)\n"
	  "  -s, --socket PATH            listen on PATH when systemd passed no socket\n"
	  "  -l, --log journal|stderr|auto  where diagnostics go (auto: the journal under systemd)\n"
	  "      --allow-root             serve even as root (tests, development)\n"
	  "      --max-connections N      connections running at once (256); more wait for a slot\n"
	  "      --max-per-source N       connections running at once per source qube (8); more wait\n"
	  "      --queue-timeout S        how long a call over a limit waits, for chains without queue_timeout (30)\n"
	  "      --max-queued N           calls waiting at once (1024); past that, accepting waits\n"
	  "      --max-queued-per-source N  calls of one source waiting at once (32); more are refused\n"
	  "      --grace SECONDS          after SIGTERM, how long running connections may go on (30)\n"
	  "      --descriptor-timeout S   how long a caller has to send its descriptor (10)\n"
	  "      --admit-timeout S        how long an admission check may take (10)\n"
	  "      --idle-timeout S         end connections idle that long, for chains without idle_timeout (0: never)\n"
	  "      --pipe-size BYTES        the largest a connection's data pipe may be (1048576; 0: the kernel's)\n"
	  "      --pipe-memory BYTES      all connections' pipes together (K, M, G; default: half of\n"
	  "                               fs.pipe-user-pages-soft, 32M); shares shrink as more run\n"
	  "      --isolation MECH         auto, namespaces, landlock or seccomp-only (default: the configuration's)\n"
	  "      --allow-peer-uid UID     accept only these uids (repeatable; default: root and group qubes)\n"
	  "      --no-spare               fork each supervisor when its connection arrives, not ahead of it\n"
	  "      --control PATH           the control socket qrexec-proxy status asks (default\n"
	  "                               $RUNTIME_DIRECTORY/control, else the --socket PATH.control)\n" },
	{ "exec",
	  "usage: " PROG " exec [OPTION...] [ARG]\n"
	  "Executable-service mode: one connection on stdin/stdout; the source from QREXEC_REMOTE_DOMAIN,\n"
	  "CHAIN+TARGET+SERVICE from QREXEC_SERVICE_ARGUMENT (or ARG). Installed under another service\n"
	  "name (QREXEC_SERVICE_FULL_NAME), it serves the transparent entries for that name.\n"
	  "Logs to the journal only.\n"
	  "  -c, --config FILE            the chains\n"
	  "  -l, --log journal|stderr|auto  where diagnostics go (default: journal)\n"
	  "      --admit-timeout S        how long an admission check may take (10)\n"
	  "      --pipe-size BYTES        the size of every pipe (1048576)\n"
	  "      --isolation MECH         auto, namespaces, landlock or seccomp-only\n" },
	{ "check",
	  "usage: " PROG " check [--config FILE] [--isolation MECH] [--socket PATH]\n"
	  "Validates FILE and its chains.d (errors as FILE:LINE:COLUMN: message), tries the isolation,\n"
	  "and says what every chain will get. Warns about transparent entries that never match, and\n"
	  "about transparent services without a link to the socket (--socket, default " QP_SOCKET_PATH ")\n"
	  "in " QP_RPC_DIR_LOCAL " or " QP_RPC_DIR_SYSTEM ". Exit 0: good; 100: errors.\n" },
	{ "status",
	  "usage: " PROG " status [--json] [--control PATH | --socket PATH]\n"
	  "What the running daemon serves now: one line per connection (id, state: new, queued,\n"
	  "admitting, running or closing; source, chain, target, service, age, bytes each way),\n"
	  "then the connections running and queued per chain and per source. Root and the daemon's\n"
	  "user only.\n"
	  "      --json                   the same as one JSON object\n"
	  "      --control PATH           the daemon's control socket (default " STATUS_DEFAULT_CONTROL ")\n"
	  "  -s, --socket PATH            the daemon's --socket: its control socket is PATH.control\n" },
	{ "links",
	  "usage: " PROG " links [--config FILE] [--dir DIR] [--socket PATH] [--check]\n"
	  "Makes DIR/SERVICE a symbolic link to the socket for every service of 'transparent', removes\n"
	  "the links to the socket whose service the configuration no longer names, touches nothing\n"
	  "else, and says what it did.\n"
	  "  -c, --config FILE            the configuration\n"
	  "      --dir DIR                where the links go (default " QP_RPC_DIR_LOCAL ")\n"
	  "  -s, --socket PATH            what they point at (default " QP_SOCKET_PATH ")\n"
	  "      --check                  say what would change, change nothing\n"
	  "Exit 0: every service linked (--check: nothing to change); 1: a file that is not a link of\n"
	  "ours is in the way (--check: or something would change); 100: usage or configuration; 111.\n" },
	{ "run",
	  "usage: " PROG " run [OPTION...] CHAIN -- COMMAND [ARG...]\n"
	  "One connection through CHAIN between stdin/stdout and COMMAND (no shell), without Qubes.\n"
	  "  -c, --config FILE            the chains\n"
	  "      --source NAME, --target NAME, --service NAME   what the filters see (default: local)\n"
	  "  -l, --log journal|stderr|auto  where diagnostics go (default: stderr)\n"
	  "      --admit-timeout S, --pipe-size BYTES, --isolation MECH   as for serve\n" },
	{ "policy",
	  "usage: " PROG " policy [--config FILE] --proxy-qube NAME\n"
	  "Prints the dom0 qrexec policy (format v5) that matches the chains, for\n"
	  "/etc/qubes/policy.d/30-qrexec-proxy.policy: who may call each chain towards which target and\n"
	  "service, and that the proxy qube NAME may call each destination. What dom0 policy cannot say\n"
	  "exactly, or a chain without targets or services, is written commented out, with a warning.\n"
	  "The header has the date: SOURCE_DATE_EPOCH (seconds) sets it. Exit 0: written; 100: errors.\n"
	  "  -c, --config FILE            the chains (default " QP_SYSCONFDIR "/qrexec-proxy/chains.yaml and chains.d/)\n"
	  "  -q, --proxy-qube NAME        the qube the proxy runs in (as dom0 names it)\n" },
	{ "reload",
	  "usage: " PROG " reload [--pid PID] [--timeout SECONDS]\n"
	  "Asks the listener PID (default: $MAINPID, as systemd's ExecReload= sets it) to reload its\n"
	  "configuration and waits for its verdict. Exit 0: reloaded; 100: the new file was rejected\n"
	  "and the listener keeps the previous configuration (the journal says why); 111: no verdict.\n"
	  "  -p, --pid PID                the listener (qrexec-proxy serve)\n"
	  "      --timeout SECONDS        how long to wait for the verdict (80)\n" },
};

static _Noreturn void usage(const char *msg)
{
	if (msg)
		fprintf(stderr, PROG ": %s\n", msg);
	fputs(usage_text, stderr);
	exit(EXIT_USAGE);
}

static int parse_seconds_ms(const char *s, const char *opt)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || v < 0 || v > 86400) {
		fprintf(stderr, PROG ": %s takes a number of seconds (0 to 86400), not '%s'\n", opt, s);
		exit(EXIT_USAGE);
	}
	return (int)(v * 1000);
}

static int parse_count(const char *s, const char *opt, long lo, long hi)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, PROG ": %s takes a whole number from %ld to %ld, not '%s'\n", opt, lo, hi, s);
		exit(EXIT_USAGE);
	}
	return (int)v;
}

/* a size in bytes, with an optional K, M or G (powers of 1024), from 64 KiB to 1 TiB */
static uint64_t parse_bytes(const char *s, const char *opt)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	int shift = 0;
	if (*end == 'K' || *end == 'k')
		shift = 10;
	else if (*end == 'M' || *end == 'm')
		shift = 20;
	else if (*end == 'G' || *end == 'g')
		shift = 30;
	if (shift)
		end++;
	if (errno || end == s || *end || s[0] == '-' || v > (1ULL << 40) >> shift ||
	    (v << shift) < (64ULL << 10)) {
		fprintf(stderr, PROG ": %s takes a size from 64K to 1024G (K, M, G: powers of 1024), not '%s'\n", opt, s);
		exit(EXIT_USAGE);
	}
	return (uint64_t)v << shift;
}

static struct qp_config *load_or_die(const char *file)
{
	struct qp_config *cfg = config_load(file, NULL, stderr);
	if (!cfg)
		die_x(EXIT_USAGE, "invalid configuration %s; see the messages above, fix it, and run '" PROG " check --config %s'",
		      file, file);
	return cfg;
}

static void build_sandbox(struct sock_fprog *prog)
{
	if (sandbox_build(prog) < 0)
		die_sys(EXIT_SYS, "unable to build the seccomp policy");
}

/* Many pipes per connection, many connections: use the hard fd limit. */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

enum { OPT_CONFIG = 'c', OPT_SOCKET = 's', OPT_LOG = 'l', OPT_ALLOW_ROOT = 256, OPT_MAX,
       OPT_GRACE, OPT_DESC_TIMEOUT, OPT_ADMIT_TIMEOUT, OPT_PIPE_SIZE, OPT_SOURCE, OPT_TARGET, OPT_SERVICE,
       OPT_ISOLATION, OPT_ALLOW_PEER_UID, OPT_IDLE_TIMEOUT, OPT_NO_SPARE, OPT_DIR, OPT_CHECK,
       OPT_MAX_PER_SOURCE, OPT_QUEUE_TIMEOUT, OPT_MAX_QUEUED, OPT_MAX_QUEUED_PER_SOURCE, OPT_PIPE_MEMORY,
       OPT_CONTROL, OPT_JSON, OPT_TIMEOUT, OPT_PID = 'p', OPT_PROXY_QUBE = 'q', OPT_HELP = 'h' };

static const struct option long_opts[] = {
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "socket", required_argument, NULL, OPT_SOCKET },
	{ "log", required_argument, NULL, OPT_LOG },
	{ "allow-root", no_argument, NULL, OPT_ALLOW_ROOT },
	{ "max-connections", required_argument, NULL, OPT_MAX },
	{ "grace", required_argument, NULL, OPT_GRACE },
	{ "descriptor-timeout", required_argument, NULL, OPT_DESC_TIMEOUT },
	{ "admit-timeout", required_argument, NULL, OPT_ADMIT_TIMEOUT },
	{ "pipe-size", required_argument, NULL, OPT_PIPE_SIZE },
	{ "source", required_argument, NULL, OPT_SOURCE },
	{ "target", required_argument, NULL, OPT_TARGET },
	{ "service", required_argument, NULL, OPT_SERVICE },
	{ "isolation", required_argument, NULL, OPT_ISOLATION },
	{ "allow-peer-uid", required_argument, NULL, OPT_ALLOW_PEER_UID },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
	{ "no-spare", no_argument, NULL, OPT_NO_SPARE },
	{ "control", required_argument, NULL, OPT_CONTROL },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "proxy-qube", required_argument, NULL, OPT_PROXY_QUBE },
	{ "dir", required_argument, NULL, OPT_DIR },
	{ "check", no_argument, NULL, OPT_CHECK },
	{ "max-per-source", required_argument, NULL, OPT_MAX_PER_SOURCE },
	{ "queue-timeout", required_argument, NULL, OPT_QUEUE_TIMEOUT },
	{ "max-queued", required_argument, NULL, OPT_MAX_QUEUED },
	{ "max-queued-per-source", required_argument, NULL, OPT_MAX_QUEUED_PER_SOURCE },
	{ "pipe-memory", required_argument, NULL, OPT_PIPE_MEMORY },
	{ "pid", required_argument, NULL, OPT_PID },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

struct options {
	const char *config;
	const char *socket;
	enum log_target log;
	bool log_given;
	bool allow_root;
	bool no_spare;
	const char *control;  /* serve, status: the control socket */
	bool json;            /* status --json */
	struct listener_opts lo;
	const char *source, *target, *service;
	const char *proxy_qube;
	const char *pid;
	int timeout_ms;
	bool isolation_given;
	enum isolate_mech isolation;
	uid_t peer_uids[LISTENER_MAX_PEER_UIDS];
	size_t npeer_uids;
	const char *dir;     /* links */
	bool check_only;     /* links --check */
	bool pipe_memory_given;
};

/* Options are shared by the subcommands; each checks it got only its own. */
static int parse_options(int argc, char **argv, struct options *o, const char *allowed)
{
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+c:s:l:q:p:h", long_opts, NULL)) != -1) {
		const char *name = NULL;
		for (const struct option *lo = long_opts; lo->name; lo++)
			if (lo->val == c)
				name = lo->name;
		if (c == '?')
			usage(NULL);
		if (c == OPT_HELP) {
			for (size_t m = 0; m < sizeof(mode_help) / sizeof(mode_help[0]); m++) {
				if (!strcmp(argv[0], mode_help[m].mode)) {
					fputs(mode_help[m].text, stdout);
					exit(0);
				}
			}
			fputs(usage_text, stdout);
			exit(0);
		}
		if (name && !strstr(allowed, name)) {
			fprintf(stderr, PROG ": --%s does not apply to '%s'\n", name, argv[0]);
			usage(NULL);
		}
		switch (c) {
		case OPT_CONFIG:
			o->config = optarg;
			break;
		case OPT_SOCKET:
			o->socket = optarg;
			break;
		case OPT_LOG:
			if (log_parse_target(optarg, &o->log) < 0)
				usage("--log takes journal, stderr or auto");
			o->log_given = true;
			break;
		case OPT_ALLOW_ROOT:
			o->allow_root = true;
			break;
		case OPT_MAX:
			o->lo.max_connections = parse_count(optarg, "--max-connections", 1, 65536);
			break;
		case OPT_GRACE:
			o->lo.grace_ms = parse_seconds_ms(optarg, "--grace");
			break;
		case OPT_DESC_TIMEOUT:
			o->lo.serve.descriptor_timeout_ms = parse_seconds_ms(optarg, "--descriptor-timeout");
			break;
		case OPT_ADMIT_TIMEOUT:
			o->lo.serve.admit_timeout_ms = parse_seconds_ms(optarg, "--admit-timeout");
			break;
		case OPT_PIPE_SIZE:
			o->lo.serve.pipe_size = parse_count(optarg, "--pipe-size", 0, 1 << 30);
			break;
		case OPT_SOURCE:
			o->source = optarg;
			break;
		case OPT_TARGET:
			o->target = optarg;
			break;
		case OPT_SERVICE:
			o->service = optarg;
			break;
		case OPT_ISOLATION:
			if (isolate_parse_mech(optarg, &o->isolation) < 0)
				usage("--isolation takes auto, namespaces, landlock or seccomp-only");
			o->isolation_given = true;
			break;
		case OPT_PROXY_QUBE:
			o->proxy_qube = optarg;
			break;
		case OPT_PID:
			o->pid = optarg;
			break;
		case OPT_TIMEOUT:
			o->timeout_ms = parse_seconds_ms(optarg, "--timeout");
			break;
		case OPT_IDLE_TIMEOUT:
			o->lo.serve.idle_timeout_ms = parse_seconds_ms(optarg, "--idle-timeout");
			break;
		case OPT_NO_SPARE:
			o->no_spare = true;
			break;
		case OPT_CONTROL:
			o->control = optarg;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_DIR:
			o->dir = optarg;
			break;
		case OPT_CHECK:
			o->check_only = true;
			break;
		case OPT_MAX_PER_SOURCE:
			o->lo.max_per_source = parse_count(optarg, "--max-per-source", 1, 65536);
			break;
		case OPT_QUEUE_TIMEOUT:
			o->lo.queue_timeout_ms = parse_seconds_ms(optarg, "--queue-timeout");
			break;
		case OPT_MAX_QUEUED:
			o->lo.max_queued = parse_count(optarg, "--max-queued", 0, 65536);
			break;
		case OPT_MAX_QUEUED_PER_SOURCE:
			o->lo.max_queued_per_source = parse_count(optarg, "--max-queued-per-source", 0, 65536);
			break;
		case OPT_PIPE_MEMORY:
			o->lo.pipe_memory = parse_bytes(optarg, "--pipe-memory");
			o->pipe_memory_given = true;
			break;
		case OPT_ALLOW_PEER_UID:
			if (o->npeer_uids == LISTENER_MAX_PEER_UIDS)
				usage("too many --allow-peer-uid");
			o->peer_uids[o->npeer_uids++] = (uid_t)parse_count(optarg, "--allow-peer-uid", 0, 0x7fffffff);
			break;
		default:
			usage(NULL);
		}
	}
	return optind;
}

/* Where the admission checks keep their state: systemd's StateDirectory=, else the default. */
static const char *state_directory(void)
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
static void setup_isolation(const struct options *o, const struct qp_config *cfg, const char *socket_path,
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
	if (isolate_setup(want, state_directory(), (const char *const *)hide, pol) < 0)
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
static struct qp_config *load_logged(const char *file)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	if (!f)
		die_sys(EXIT_SYS, "unable to load the configuration");
	struct qp_config *cfg = config_load(file, NULL, f);
	fclose(f);
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		log_msg(LOG_ERR, "%s", line);
	free(text);
	return cfg;
}

/* The steps' own argument checks: every problem logged; returns their number, -1 when they could not run. */
static int argcheck_logged(const struct qp_config *cfg, const struct isolate_policy *pol, const struct sock_fprog *prog)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	if (!f)
		die_sys(EXIT_SYS, "unable to check the filters' arguments");
	int problems = argcheck_config(cfg, pol, prog, f, NULL);
	fclose(f);
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		log_msg(LOG_ERR, "%s", line);
	free(text);
	return problems;
}

/* The steps' own argument checks at start: every problem logged, and none may remain. */
static void argcheck_or_die(const struct qp_config *cfg, const struct isolate_policy *pol, const struct sock_fprog *prog)
{
	int problems = argcheck_logged(cfg, pol, prog);
	if (problems < 0)
		die_x(EXIT_SYS, "unable to run the filters' argument checks; see above");
	if (problems > 0)
		die_x(EXIT_USAGE, "invalid configuration %s: %d step%s rejected %s arguments; see above, fix it, and run '" PROG " check --config %s'",
		      cfg->file, problems, problems == 1 ? "" : "s", problems == 1 ? "its" : "their", cfg->file);
}

/* Refuses, at start, to pretend: says which chains cannot run without isolation. */
static void warn_unisolated(const struct qp_config *cfg, const struct isolate_policy *pol)
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
static void check_pipe_memory(struct options *o, enum pipecap cap)
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
static enum pipecap keep_pipecap(void)
{
	enum pipecap cap;
	if (pipecap_keep(&cap) < 0)
		die_x(EXIT_SYS, "unable to drop the capabilities the programs it starts would inherit: %s", strerror(errno));
	return cap;
}

static int cmd_serve(int argc, char **argv, struct options *o)
{
	int i = parse_options(argc, argv, o, "config socket log allow-root max-connections grace descriptor-timeout admit-timeout pipe-size isolation allow-peer-uid idle-timeout max-per-source queue-timeout max-queued max-queued-per-source pipe-memory no-spare control");
	if (i != argc)
		usage("serve takes no arguments");
	log_init(PROG, o->log);
	o->lo.config_file = o->config;
	if (geteuid() == 0 && !o->allow_root)
		die_x(EXIT_USAGE, "refusing to serve as root: run it as an unprivileged user (the systemd units do), or pass --allow-root");
	enum pipecap cap = keep_pipecap();

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
	struct qp_config *cfg = n == 1 ? load_logged(o->config) : load_or_die(o->config);
	struct sock_fprog prog;
	struct isolate_policy pol;
	build_sandbox(&prog);
	raise_nofile();
	setup_isolation(o, cfg, n == 1 ? NULL : o->socket, &pol);
	if (n == 0) {
		argcheck_or_die(cfg, &pol, &prog);
	} else if (cfg) {
		int problems = argcheck_logged(cfg, &pol, &prog);
		if (problems != 0) {
			if (problems < 0)
				log_msg(LOG_ERR, "unable to run the filters' argument checks; see above");
			else
				log_msg(LOG_ERR, "%s: %d step%s rejected %s arguments; see above", cfg->file, problems,
					problems == 1 ? "" : "s", problems == 1 ? "its" : "their");
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
	check_pipe_memory(o, cap);
	if (cfg)
		warn_unisolated(cfg, &pol);
	o->lo.serve.isolation = &pol;
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
		if (WIFSIGNALED(st) && !(r == QP_ABORTED && WTERMSIG(st) == SIGKILL))
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
	make_connection_id(id);
	build_sandbox(&prog);
	setup_isolation(o, cfg, NULL, &pol);
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
	};
	enum qp_result r = supervise_connection(&a, &res);
	free(prog.filter);
	return exit_code_for(r, &res);
}

static int cmd_exec(int argc, char **argv, struct options *o)
{
	/*
	 * The caller's argument is the caller's, never an option (a call for
	 * qrexec-proxy+-lstderr must not send the log to the caller): when
	 * qrexec passed it (QREXEC_SERVICE_ARGUMENT) and it ends the command
	 * line, it is taken off before the options are parsed.
	 */
	const char *env_arg = getenv("QREXEC_SERVICE_ARGUMENT");
	int nopt = argc;
	if (env_arg && argc > 1 && !strcmp(argv[argc - 1], env_arg))
		nopt = argc - 1;
	int i = parse_options(nopt, argv, o, "config log admit-timeout pipe-size isolation");
	if (nopt - i > 1 || (nopt < argc && nopt - i > 0))
		usage("exec takes at most one argument");
	/*
	 * An executable service's stderr travels back to the caller: nothing
	 * we say may go there, so the log goes to the journal only.
	 */
	log_init(PROG, o->log_given ? o->log : LOG_TARGET_JOURNAL);
	if (log_current_target() == LOG_TARGET_JOURNAL && !freopen("/dev/null", "w", stderr))
		exit(EXIT_SYS);
	keep_pipecap();

	const char *source = getenv("QREXEC_REMOTE_DOMAIN");
	char *arg = strdup(env_arg ? env_arg : i < argc ? argv[i] : "");
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
	struct qp_config *cfg = load_or_die(o->config);
	struct route r;
	enum route_status rs = route_call(cfg, transparent ? tservice : QP_PROXY_SERVICE, transparent ? targument : arg,
					  source, &r);
	if (rs == ROUTE_FAILED)
		die_x(EXIT_SYS, "%s", r.reason);
	if (rs != ROUTE_OK)
		die_x(EXIT_REFUSED, "refused: call from %s: %s", source, r.reason);
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
	int i = parse_options(argc, argv, o, "config isolation socket");
	if (i != argc)
		usage("check takes no arguments");
	struct qp_config *cfg = config_load(o->config, NULL, stderr);
	if (!cfg)
		return EXIT_USAGE; /* a configuration error, as everywhere else */
	struct isolate_policy pol;
	struct sock_fprog prog;
	setup_isolation(o, cfg, NULL, &pol);
	build_sandbox(&prog);
	int problems = argcheck_config(cfg, &pol, &prog, stderr, stderr);
	free(prog.filter);
	if (problems != 0) {
		config_free(cfg);
		return problems < 0 ? EXIT_SYS : EXIT_USAGE;
	}
	printf("%s: ok: %zu chains\n", o->config, cfg->nchains);
	printf("isolation here: %s\n", pol.detail);
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
		printf("  %s: %zu filters, %zu admission checks; isolation: %s\n", ch->name, ch->nfilters, ch->nadmit,
		       iso);
		/* a warning, not an error: dom0 policy may be what restricts it */
		if (!ch->targets)
			fprintf(stderr, "%s:%d:%d: warning: chain '%s' has no 'targets': it forwards to any qube dom0 policy lets its callers name\n",
				cfg->file, ch->line, ch->column, ch->name);
		if (!ch->services)
			fprintf(stderr, "%s:%d:%d: warning: chain '%s' has no 'services': it forwards any service dom0 policy lets its callers name\n",
				cfg->file, ch->line, ch->column, ch->name);
	}
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
	int i = parse_options(argc, argv, o, "pid timeout");
	if (i != argc)
		usage("reload takes no arguments");
	const char *arg = o->pid ? o->pid : getenv("MAINPID");
	if (!arg || !*arg)
		usage("reload needs --pid PID, or MAINPID in the environment (systemd's ExecReload= sets it)");
	pid_t pid = (pid_t)parse_count(arg, "--pid", 1, 0x7fffffff);
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
	int i = parse_options(argc, argv, o, "config source target service log admit-timeout pipe-size isolation");
	log_init(PROG, o->log_given ? o->log : LOG_TARGET_STDERR);
	keep_pipecap();
	if (i >= argc)
		usage("run needs a CHAIN and a COMMAND");
	const char *chain_name = argv[i++];
	if (i < argc && !strcmp(argv[i], "--"))
		i++;
	if (i >= argc)
		usage("run needs a COMMAND after the chain (CHAIN -- COMMAND [ARG...])");
	if (!name_qube(o->source))
		die_x(EXIT_USAGE, "--source '%s' is not a valid qube name", o->source);
	if (!name_qube(o->target))
		die_x(EXIT_USAGE, "--target '%s' is not a valid qube name", o->target);

	struct qp_config *cfg = load_or_die(o->config);
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
	int i = parse_options(argc, argv, o, "config proxy-qube");
	if (i != argc)
		usage("policy takes no arguments");
	if (!o->proxy_qube)
		usage("policy needs --proxy-qube NAME, the qube the proxy runs in");
	if (!policy_valid_proxy_qube(o->proxy_qube))
		die_x(EXIT_USAGE, "--proxy-qube '%s' is not a qube name (a letter, then up to 30 of A-Z a-z 0-9 _ . -; not dom0)",
		      o->proxy_qube);
	struct policy_options po = { .proxy_qube = o->proxy_qube, .date = policy_date() };
	struct qp_config *cfg = load_or_die(o->config);
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

static int cmd_status(int argc, char **argv, struct options *o)
{
	int i = parse_options(argc, argv, o, "control socket json");
	if (i != argc)
		usage("status takes no arguments");
	if (o->control && o->socket)
		usage("status takes --control or --socket, not both");
	const char *path = o->control ? o->control : o->socket ? status_control_path(NULL, o->socket) : STATUS_DEFAULT_CONTROL;
	if (!path)
		die_x(EXIT_USAGE, "--socket %s: the path is too long", o->socket);
	return status_ask(path, o->json);
}

static int cmd_links(int argc, char **argv, struct options *o)
{
	int i = parse_options(argc, argv, o, "config dir socket check");
	if (i != argc)
		usage("links takes no arguments");
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
		usage(NULL);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage_text, stdout);
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
	else if (!strcmp(cmd, "links"))
		rc = cmd_links(argc, argv, &o);
	else if (!strcmp(cmd, "reload"))
		rc = cmd_reload(argc, argv, &o);
	else
		usage("unknown command");
	return rc;
}
