/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * count --limit N --interval S [--per-source] [--state-dir DIR]: an
 * admission check admitting at most N connections of a chain within any
 * S seconds. State lives in one small file per key, rewritten under
 * flock(2), so concurrent connections and restarts count exactly.
 *
 * File format, one admitted connection per line:
 *	SECONDS.NANOSECONDS [CONNECTION-ID]\n
 * in CLOCK_REALTIME, which (unlike the monotonic clock) means the same
 * thing after a reboot.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kit/lockdown.h"
#include "kit/qpf.h"

#ifndef QP_LOCALSTATEDIR
#define QP_LOCALSTATEDIR "/var"
#endif

#define LIMIT_MAX 1000000
#define NAME_MAX_LEN 255
/* the future an entry may lie in before it counts as a clock that jumped back */
#define CLOCK_SLACK_NS 1000000000LL
#define STATE_MAX (64 << 20)

struct entry {
	int64_t t;
	const char *conn; /* into the file buffer, not NUL-terminated */
	size_t connlen;
};

_Noreturn static void usage(void)
{
	printf("usage: count --limit N --interval S [--per-source] [--state-dir DIR]\n"
	      "An admission check: admits (exits 0) at most N connections of the chain\n"
	      "($QREXEC_PROXY_CHAIN) in any S seconds, refuses (exits 1) the others.\n"
	      "  -l, --limit N        connections admitted per interval (0 to %d)\n"
	      "  -i, --interval S     the sliding window, in seconds (decimals allowed)\n"
	      "  -p, --per-source     count each source qube ($QREXEC_REMOTE_DOMAIN) apart\n"
	      "  -d, --state-dir DIR  where the counts live (default: $STATE_DIRECTORY,\n"
	      "                       else " QP_LOCALSTATEDIR "/lib/qrexec-proxy)\n"
	      "  -h, --help           this text\n", LIMIT_MAX);
	exit(0);
}

/* the orchestrator already restricts names; a file name built from them must not rely on it */
static bool valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > NAME_MAX_LEN || s[0] == '.' || s[0] == '-')
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

static const char *name_from_env(const char *var)
{
	const char *v = getenv(var);
	if (!v)
		qpf_usage("%s is not set: count runs as an admission check of a chain", var);
	if (!valid_name(v))
		qpf_usage("%s is not a valid name (only A-Z a-z 0-9 _ . - allowed)", var);
	return v;
}

/*
 * "SECONDS.NANOSECONDS[ CONN]"; returns false for anything else. The file
 * may have been tampered with or corrupted, so a time that does not fit
 * the int64_t count of nanoseconds is one more malformed line: signed
 * overflow would be undefined behaviour, and in practice a wrapped value
 * that may land inside the window.
 */
static bool parse_entry(const char *p, const char *end, struct entry *e)
{
	int64_t sec = 0, nsec = 0;
	int digits = 0, ndigits = 0;
	for (; p < end && *p >= '0' && *p <= '9'; p++, digits++) {
		/* bounded after every digit, so the next sec * 10 + 9 cannot overflow */
		sec = sec * 10 + (*p - '0');
		if (sec > INT64_MAX / 1000000000)
			return false;
	}
	if (!digits || p == end || *p++ != '.')
		return false;
	for (; p < end && *p >= '0' && *p <= '9' && ndigits < 9; p++, ndigits++)
		nsec = nsec * 10 + (*p - '0');
	if (ndigits != 9 || sec > (INT64_MAX - nsec) / 1000000000)
		return false;
	e->t = sec * 1000000000 + nsec;
	e->conn = NULL;
	e->connlen = 0;
	if (p < end) {
		if (*p++ != ' ' || p == end)
			return false;
		e->conn = p;
		e->connlen = (size_t)(end - p);
	}
	return true;
}

static char *read_state(int fd, size_t *len)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		qpf_die_sys(QPF_EXIT_SYSTEM, "unable to stat the state file");
	if (st.st_size > STATE_MAX)
		qpf_die(QPF_EXIT_SYSTEM, "the state file is larger than %d bytes: refusing to trust it", STATE_MAX);
	size_t cap = (size_t)st.st_size + 1, n = 0;
	char *buf = malloc(cap);
	if (!buf)
		qpf_die_sys(QPF_EXIT_SYSTEM, "unable to allocate");
	for (;;) {
		if (n == cap) {
			/* it grew since fstat: someone ignores the lock; fail closed */
			qpf_die(QPF_EXIT_SYSTEM, "the state file changed under the lock");
		}
		ssize_t r = pread(fd, buf + n, cap - n, (off_t)n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			qpf_die_sys(QPF_EXIT_SYSTEM, "unable to read the state file");
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*len = n;
	return buf;
}

static void pwrite_all(int fd, const char *p, size_t len, off_t off)
{
	while (len) {
		ssize_t w = pwrite(fd, p, len, off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			qpf_die_sys(QPF_EXIT_SYSTEM, "unable to write the state file");
		}
		p += w;
		len -= (size_t)w;
		off += w;
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "limit", required_argument, NULL, 'l' },
		{ "interval", required_argument, NULL, 'i' },
		{ "per-source", no_argument, NULL, 'p' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *interval_arg = NULL, *dir = NULL;
	uint64_t limit = 0;
	int64_t interval = 0;
	bool have_limit = false, per_source = false;
	int ch;

	qpf_init(argv[0]);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":l:i:pd:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			if (qpf_parse_size(optarg, &limit) < 0 || limit > LIMIT_MAX)
				qpf_usage("--limit: not a number from 0 to %d: %s", LIMIT_MAX, optarg);
			have_limit = true;
			break;
		case 'i':
			if (qpf_parse_seconds(optarg, &interval) < 0 || interval <= 0)
				qpf_usage("--interval: not a positive number of seconds: %s", optarg);
			interval_arg = optarg;
			break;
		case 'p':
			per_source = true;
			break;
		case 'd':
			dir = optarg;
			break;
		case 'h':
			usage();
		case ':':
			qpf_usage("%s needs a value", argv[optind - 1]);
		default:
			qpf_usage("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		qpf_usage("no arguments expected, got %s", argv[optind]);
	if (!have_limit || !interval_arg)
		qpf_usage("--limit and --interval are required");
	/* the arguments are good: a check ends here, before any state is opened or counted */
	qpf_args_checked();

	const char *chain = name_from_env("QREXEC_PROXY_CHAIN");
	const char *source = per_source ? name_from_env("QREXEC_REMOTE_DOMAIN") : NULL;
	/* with it, two count steps of one chain sharing a window count a connection once */
	const char *conn = getenv("QREXEC_PROXY_CONNECTION");
	if (conn && !valid_name(conn))
		conn = NULL;

	char dirbuf[4096];
	if (!dir) {
		const char *sd = getenv("STATE_DIRECTORY");
		if (sd && *sd) {
			/* systemd lists several StateDirectory= entries separated by ':' */
			size_t n = strcspn(sd, ":");
			if (n >= sizeof(dirbuf))
				qpf_usage("STATE_DIRECTORY is too long");
			memcpy(dirbuf, sd, n);
			dirbuf[n] = '\0';
			dir = dirbuf;
		} else {
			dir = QP_LOCALSTATEDIR "/lib/qrexec-proxy";
		}
	}

	/* the window is part of the key: two steps with different windows must not prune each other */
	char path[4096 + 2 * NAME_MAX_LEN + 64];
	int pn = snprintf(path, sizeof(path), "%s/count.%s%s%s.%lld", dir, chain,
			  source ? "@" : "", source ? source : "", (long long)interval);
	if (pn < 0 || (size_t)pn >= sizeof(path))
		qpf_usage("the state directory name is too long");

	/* fail closed: without the state there is no count, so no admission */
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		qpf_die_sys(QPF_EXIT_SYSTEM, "unable to open the state file %s (does the state directory exist and is it writable?)", path);
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR)
			qpf_die_sys(QPF_EXIT_SYSTEM, "unable to lock %s", path);
	}
	qpf_lockdown(QPF_LOCKDOWN_COUNT);

	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;

	size_t len;
	char *state = read_state(fd, &len);
	/* the output: kept lines plus ours, at most one line per kept byte plus one */
	size_t outcap = len + 64 + (conn ? strlen(conn) : 0);
	char *out = malloc(outcap);
	if (!out)
		qpf_die_sys(QPF_EXIT_SYSTEM, "unable to allocate");
	size_t outlen = 0, kept = 0, bad = 0;
	bool rewrite = len > 0 && state[len - 1] != '\n';
	bool counted = false;

	for (char *p = state; p < state + len;) {
		char *nl = memchr(p, '\n', (size_t)(state + len - p));
		char *end = nl ? nl : state + len;
		struct entry e;
		if (!parse_entry(p, end, &e)) {
			bad++;
			rewrite = true;
		} else if (e.t <= now - interval || e.t > now + CLOCK_SLACK_NS) {
			/* expired, or from a clock since set back */
			rewrite = true;
		} else {
			if (conn && e.connlen == strlen(conn) && !memcmp(e.conn, conn, e.connlen))
				counted = true;
			else
				kept++;
			memcpy(out + outlen, p, (size_t)(end - p));
			outlen += (size_t)(end - p);
			out[outlen++] = '\n';
		}
		p = end + 1;
	}
	if (bad)
		qpf_log(LOG_WARNING, "%s: dropped %zu malformed lines", path, bad);

	bool admit = kept < limit;
	size_t from = outlen;
	if (admit && !counted) {
		int n = snprintf(out + outlen, outcap - outlen, "%lld.%09lld%s%s\n",
				 (long long)(now / 1000000000), (long long)(now % 1000000000),
				 conn ? " " : "", conn ? conn : "");
		if (n > 0 && (size_t)n < outcap - outlen)
			outlen += (size_t)n;
	}
	if (rewrite) {
		/* in place under the lock; a crash here at worst leaves old lines, counted again */
		pwrite_all(fd, out, outlen, 0);
		if (ftruncate(fd, (off_t)outlen) < 0)
			qpf_die_sys(QPF_EXIT_SYSTEM, "unable to truncate the state file");
	} else if (outlen > from) {
		pwrite_all(fd, out + from, outlen - from, (off_t)len);
	}
	/* exit releases the lock only after the data is in the file */
	if (!admit)
		qpf_refuse("chain %s%s%s: %zu connections in the last %s s, the limit is %llu",
			   chain, source ? " from " : "", source ? source : "", kept, interval_arg,
			   (unsigned long long)limit);
	qpf_log(LOG_DEBUG, "admitted: %zu of %llu in the last %s s", kept + 1,
		(unsigned long long)limit, interval_arg);
	return 0;
}
