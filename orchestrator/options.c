/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The command line of qrexec-proxy (see options.h). */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "status.h"
#include "links.h"

const char opt_usage_text[] =
	"usage: " PROG " serve [--config FILE] [--socket PATH] [--log journal|stderr|auto]\n"
	"                    [--allow-root] [--max-connections N] [--grace SECONDS]\n"
	"                    [--descriptor-timeout SECONDS] [--admit-timeout SECONDS] [--pipe-size BYTES]\n"
	"                    [--isolation auto|namespaces|landlock|seccomp-only] [--allow-peer-uid UID]...\n"
	"                    [--idle-timeout SECONDS] [--max-per-source N] [--queue-timeout SECONDS]\n"
	"                    [--max-queued N] [--max-queued-per-source N] [--pipe-memory BYTES] [--no-spare]\n"
	"                    [--connection-memory BYTES] [--connection-tasks N] [--connection-cgroup auto|no|yes]\n"
	"                    [--trace-phases]\n"
	"       " PROG " exec [--config FILE] [--log journal|stderr|auto] [--isolation MECH] [ARG]\n"
	"       " PROG " check [--config FILE] [--isolation MECH] [--socket PATH]\n"
	"       " PROG " run [--config FILE] [--source NAME] [--target NAME] [--service NAME]\n"
	"                  [--log journal|stderr|auto] [--isolation MECH] CHAIN -- COMMAND [ARG...]\n"
	"       " PROG " policy [--config FILE] --proxy-qube NAME\n"
	"       " PROG " links [--config FILE] [--dir DIR] [--socket PATH] [--check]\n"
	"       " PROG " status [--json] [--control PATH | --socket PATH]\n"
	"       " PROG " end [--control PATH | --socket PATH] ID... | --source NAME | --chain NAME\n"
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
	  "      --connection-memory BYTES  what one connection's processes may use (K, M, G; default: a\n"
	  "                               quarter of the service's memory limit, else of the machine's)\n"
	  "      --connection-tasks N     processes and threads of one connection (64)\n"
	  "      --connection-cgroup auto|no|yes  a cgroup per connection where the daemon has a delegated\n"
	  "                               cgroup v2 subtree with memory and pids (auto), never, or always\n"
	  "      --trace-phases           log (debug) when each phase of every connection happened\n"
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
	{ "end",
	  "usage: " PROG " end [--control PATH | --socket PATH] ID... | --source NAME | --chain NAME\n"
	  "Ends connections of the running daemon: those with these ids (as status shows them), every\n"
	  "one from the source qube NAME, or every one through chain NAME, whether running, queued or\n"
	  "admitting. Their filters, admission checks and connector are killed and the caller's socket\n"
	  "closed; each gets one summary, result=ended reason=\"ended by uid N\". Prints what it ended.\n"
	  "Root and the daemon's user only. Exit 0: ended at least one; 1: nothing matched.\n"
	  "      --source NAME            every connection from the qube NAME\n"
	  "      --chain NAME             every connection through the chain NAME\n"
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

_Noreturn void opt_usage(const char *msg)
{
	if (msg)
		fprintf(stderr, PROG ": %s\n", msg);
	fputs(opt_usage_text, stderr);
	exit(EXIT_USAGE);
}

int opt_seconds_ms(const char *s, const char *opt)
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

int opt_count(const char *s, const char *opt, long lo, long hi)
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
uint64_t opt_bytes(const char *s, const char *opt)
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

enum { OPT_CONFIG = 'c', OPT_SOCKET = 's', OPT_LOG = 'l', OPT_ALLOW_ROOT = 256, OPT_MAX,
       OPT_GRACE, OPT_DESC_TIMEOUT, OPT_ADMIT_TIMEOUT, OPT_PIPE_SIZE, OPT_SOURCE, OPT_TARGET, OPT_SERVICE,
       OPT_ISOLATION, OPT_ALLOW_PEER_UID, OPT_IDLE_TIMEOUT, OPT_NO_SPARE, OPT_DIR, OPT_CHECK,
       OPT_MAX_PER_SOURCE, OPT_QUEUE_TIMEOUT, OPT_MAX_QUEUED, OPT_MAX_QUEUED_PER_SOURCE, OPT_PIPE_MEMORY,
       OPT_CONTROL, OPT_JSON, OPT_TIMEOUT, OPT_CONN_MEMORY, OPT_CONN_TASKS, OPT_CONN_CGROUP, OPT_CHAIN,
       OPT_TRACE_PHASES, OPT_PID = 'p', OPT_PROXY_QUBE = 'q', OPT_HELP = 'h' };

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
	{ "chain", required_argument, NULL, OPT_CHAIN },
	{ "target", required_argument, NULL, OPT_TARGET },
	{ "service", required_argument, NULL, OPT_SERVICE },
	{ "isolation", required_argument, NULL, OPT_ISOLATION },
	{ "allow-peer-uid", required_argument, NULL, OPT_ALLOW_PEER_UID },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
	{ "no-spare", no_argument, NULL, OPT_NO_SPARE },
	{ "trace-phases", no_argument, NULL, OPT_TRACE_PHASES },
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
	{ "connection-memory", required_argument, NULL, OPT_CONN_MEMORY },
	{ "connection-tasks", required_argument, NULL, OPT_CONN_TASKS },
	{ "connection-cgroup", required_argument, NULL, OPT_CONN_CGROUP },
	{ "pid", required_argument, NULL, OPT_PID },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};


bool opt_takes_value(const char *word)
{
	if (word[0] != '-' || !word[1])
		return false;
	if (word[1] != '-')
		/* a short option alone ("-c"), its value apart */
		return !word[2] && strchr("cslqp", word[1]) != NULL;
	for (const struct option *lo = long_opts; lo->name; lo++)
		if (!strcmp(word + 2, lo->name))
			return lo->has_arg == required_argument;
	return false;
}

/* whether NAME is one of the space-separated words of ALLOWED (not a part of one: "source" of "max-per-source") */
static bool opt_allowed(const char *allowed, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = allowed; (p = strstr(p, name)); p += n)
		if ((p == allowed || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

/* Options are shared by the subcommands; each checks it got only its own. */
int opt_parse(int argc, char **argv, struct options *o, const char *allowed)
{
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+c:s:l:q:p:h", long_opts, NULL)) != -1) {
		const char *name = NULL;
		for (const struct option *lo = long_opts; lo->name; lo++)
			if (lo->val == c)
				name = lo->name;
		if (c == '?')
			opt_usage(NULL);
		if (c == OPT_HELP) {
			for (size_t m = 0; m < sizeof(mode_help) / sizeof(mode_help[0]); m++) {
				if (!strcmp(argv[0], mode_help[m].mode)) {
					fputs(mode_help[m].text, stdout);
					exit(0);
				}
			}
			fputs(opt_usage_text, stdout);
			exit(0);
		}
		if (name && !opt_allowed(allowed, name)) {
			fprintf(stderr, PROG ": --%s does not apply to '%s'\n", name, argv[0]);
			opt_usage(NULL);
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
				opt_usage("--log takes journal, stderr or auto");
			o->log_given = true;
			break;
		case OPT_ALLOW_ROOT:
			o->allow_root = true;
			break;
		case OPT_MAX:
			o->lo.max_connections = opt_count(optarg, "--max-connections", 1, 65536);
			break;
		case OPT_GRACE:
			o->lo.grace_ms = opt_seconds_ms(optarg, "--grace");
			break;
		case OPT_DESC_TIMEOUT:
			o->lo.serve.descriptor_timeout_ms = opt_seconds_ms(optarg, "--descriptor-timeout");
			break;
		case OPT_ADMIT_TIMEOUT:
			o->lo.serve.admit_timeout_ms = opt_seconds_ms(optarg, "--admit-timeout");
			break;
		case OPT_PIPE_SIZE:
			o->lo.serve.pipe_size = opt_count(optarg, "--pipe-size", 0, 1 << 30);
			break;
		case OPT_SOURCE:
			o->source = optarg;
			o->source_given = true;
			break;
		case OPT_CHAIN:
			o->chain = optarg;
			break;
		case OPT_TARGET:
			o->target = optarg;
			break;
		case OPT_SERVICE:
			o->service = optarg;
			break;
		case OPT_ISOLATION:
			if (isolate_parse_mech(optarg, &o->isolation) < 0)
				opt_usage("--isolation takes auto, namespaces, landlock or seccomp-only");
			o->isolation_given = true;
			break;
		case OPT_PROXY_QUBE:
			o->proxy_qube = optarg;
			break;
		case OPT_PID:
			o->pid = optarg;
			break;
		case OPT_TIMEOUT:
			o->timeout_ms = opt_seconds_ms(optarg, "--timeout");
			break;
		case OPT_IDLE_TIMEOUT:
			o->lo.serve.idle_timeout_ms = opt_seconds_ms(optarg, "--idle-timeout");
			break;
		case OPT_NO_SPARE:
			o->no_spare = true;
			break;
		case OPT_TRACE_PHASES:
			o->lo.serve.trace_phases = true;
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
			o->lo.max_per_source = opt_count(optarg, "--max-per-source", 1, 65536);
			break;
		case OPT_QUEUE_TIMEOUT:
			o->lo.queue_timeout_ms = opt_seconds_ms(optarg, "--queue-timeout");
			break;
		case OPT_MAX_QUEUED:
			o->lo.max_queued = opt_count(optarg, "--max-queued", 0, 65536);
			break;
		case OPT_MAX_QUEUED_PER_SOURCE:
			o->lo.max_queued_per_source = opt_count(optarg, "--max-queued-per-source", 0, 65536);
			break;
		case OPT_PIPE_MEMORY:
			o->lo.pipe_memory = opt_bytes(optarg, "--pipe-memory");
			o->pipe_memory_given = true;
			break;
		case OPT_CONN_MEMORY:
			o->connection_memory = opt_bytes(optarg, "--connection-memory");
			break;
		case OPT_CONN_TASKS:
			o->connection_tasks = (uint32_t)opt_count(optarg, "--connection-tasks", 4, 65536);
			break;
		case OPT_CONN_CGROUP:
			if (cgroup_parse_mode(optarg, &o->cgroup) < 0)
				opt_usage("--connection-cgroup takes auto, no or yes");
			break;
		case OPT_ALLOW_PEER_UID:
			if (o->npeer_uids == LISTENER_MAX_PEER_UIDS)
				opt_usage("too many --allow-peer-uid");
			o->peer_uids[o->npeer_uids++] = (uid_t)opt_count(optarg, "--allow-peer-uid", 0, 0x7fffffff);
			break;
		default:
			opt_usage(NULL);
		}
	}
	return optind;
}
