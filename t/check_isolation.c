/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Isolation, from the attacker's side: a filter taken over by its caller's
 * data (t/hostile-filter) owns nothing but its own connection. Each test
 * runs one attack through the real daemon, running as an unprivileged user
 * (nobody), while a neighbouring connection (the victim) is in the middle of
 * moving 16 MiB, and asserts:
 *   - no attempt reports a BREACH (the filter's own verdict, in the log);
 *   - the victim gets every byte back unchanged;
 *   - the daemon is alive, never stopped, and serves a fresh call;
 *   - the attack's connection has its summary line, and nothing of it (its
 *     filters, the orphan it leaves) outlives it;
 *   - the effect the attack aimed at did not happen, judged from outside:
 *     the daemon's limits and nice value, the admission state, the
 *     listeners the test holds for the qrexec agent and the network, the
 *     connector's own record.
 * Every test runs once per isolation mechanism (--isolation MECH), and
 * once more with the hostile filter started ahead of its call by the
 * spare supervisor (t/ahead/hostile-filter, orchestrator/warm.h): it
 * attacks before its connection exists, next to the running victim.
 *
 * Environment:
 *   QP_ISOLATION_TEST_NO_OPTION=1  serve without --isolation (today's daemon)
 *   QP_ISOLATION_TEST_MECHS=a,b    only these mechanisms (default: all)
 *   QP_ISOLATION_TEST_ONLY=a,b     only these attacks (the test names
 *                                  without "test_", e.g. proc_mem,exec)
 *   QP_ISOLATION_TEST_VERBOSE=1    every report of the filter on stderr
 *   QP_ISOLATION_TEST_USER=NAME    the daemon's user instead of nobody, or
 *                                  UID:GID (a uid no process of the machine
 *                                  has: against a daemon without isolation,
 *                                  the attacks hit every process of that uid,
 *                                  other suites' sandboxes as nobody too)
 * Needs root (to run the daemon as another user: as the test's own user
 * the attacks would hit the test, make and the login session): skipped
 * otherwise, and when that user cannot run the build tree's programs.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "timeout.h"
#include "hash.h"
#include "testutil.h"

/*
 * The mechanisms, and the daemon's option that picks one: the one place
 * to change when the option does.
 */
static const char *const mechanisms[] = { "namespaces", "landlock" };
enum { NMECH = sizeof(mechanisms) / sizeof(mechanisms[0]) };

static bool want_option(void)
{
	const char *e = getenv("QP_ISOLATION_TEST_NO_OPTION");
	return !(e && !strcmp(e, "1"));
}

/* the daemon's extra arguments for mechanism MECH, NULL-terminated, into OUT[8] */
static void isolation_args(int mech, const char **out)
{
	int n = 0;
	if (want_option()) {
		out[n++] = "--isolation";
		out[n++] = mechanisms[mech];
	}
	/* a daemon in trouble must not keep the test waiting at its end */
	out[n++] = "--grace";
	out[n++] = "2";
	out[n] = NULL;
}

/* whether NAME is in the comma-separated LIST (an unset list holds everything) */
static bool listed(const char *list, const char *name)
{
	if (!list || !*list)
		return true;
	size_t len = strlen(name);
	for (const char *p = list; *p;) {
		size_t k = strcspn(p, ",");
		if (k == len && !strncmp(p, name, len))
			return true;
		p += k + (p[k] == ',');
	}
	return false;
}

/* ---- what a test found wrong: every finding is kept, the test fails once at the end ---- */

static char findings[16384];
static size_t findings_len;
static int nfindings;

static void finding(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void finding(const char *fmt, ...)
{
	char line[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	nfindings++;
	int n = snprintf(findings + findings_len, sizeof(findings) - findings_len, "  - %s\n", line);
	if (n > 0)
		findings_len += (size_t)n;
	if (findings_len > sizeof(findings) - 1)
		findings_len = sizeof(findings) - 1;
}

/*
 * How long to wait for an event that is due. Once something has been
 * found wrong the test fails anyway, and what follows is diagnosis: short
 * waits, so that a suite run against an unprotected daemon ends soon.
 */
static int budget(int ms)
{
	return nfindings ? 3000 : wait_ms(ms);
}

/* ---- processes ---- */

static uid_t run_uid;
static gid_t run_gid;
static char run_user[64];

/*
 * /proc/PID/stat into BUF: the fields after the command name (from the
 * state letter on), or NULL; *COMM (if given) points at "(comm)".
 */
static const char *stat_fields(pid_t pid, char *buf, size_t size, const char **comm)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	ssize_t len = read(fd, buf, size - 1);
	close(fd);
	if (len <= 0)
		return NULL;
	buf[len] = '\0';
	char *rp = strrchr(buf, ')');
	if (!rp || rp[1] != ' ')
		return NULL;
	if (comm)
		*comm = strchr(buf, '(');
	return rp + 2;
}

/* the state letter of /proc/PID/stat, or 0 */
static char proc_state(pid_t pid)
{
	char buf[1024];
	const char *f = stat_fields(pid, buf, sizeof(buf), NULL);
	return f ? f[0] : 0;
}

static bool stopped(pid_t pid)
{
	char s = proc_state(pid);
	return s == 'T' || s == 't';
}

/* field 19 of /proc/PID/stat, or -100 */
static int nice_of(pid_t pid)
{
	char buf[1024];
	const char *f = stat_fields(pid, buf, sizeof(buf), NULL);
	int nice = -100;
	/* after the comm: state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
	 * utime stime cutime cstime priority(18) nice(19) */
	if (!f || sscanf(f, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %d", &nice) != 1)
		return -100;
	return nice;
}

/* the "Max open files" line of /proc/PID/limits */
static void nofile_of(pid_t pid, char *out, size_t size)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
	char *s = file_read(path), *p = strstr(s, "Max open files");
	snprintf(out, size, "%.*s", p ? (int)strcspn(p, "\n") : 0, p ? p : "");
	free(s);
}

static pid_t parent_of(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return 0;
	buf[len] = '\0';
	char *p = strrchr(buf, ')');
	int pp = 0;
	if (!p || sscanf(p + 2, "%*c %d", &pp) != 1)
		return 0;
	return (pid_t)pp;
}

/*
 * Whether PID descends from this test's process, which is a subreaper (see
 * attack_run): then whatever its daemon leaves behind, even after setsid()
 * and the death of every process in between, is found here and nowhere
 * else, and another suite's processes of the same name are left alone.
 */
static bool ours(pid_t pid)
{
	pid_t self = getpid();
	for (int depth = 0; depth < 64 && pid > 1; depth++) {
		pid = parent_of(pid);
		if (pid == self)
			return true;
	}
	return false;
}

/* the daemon under attack */
static struct daemon d;

/*
 * The live processes of this test named NAME (their comm), into OUT (at
 * most MAX). By name because in a connection's pid namespace the pids the
 * processes know are not the pids out here, and a user namespace may map
 * them to any uid.
 */
static int our_processes_named(const char *name, pid_t *out, int max)
{
	pid_t all[64];
	int n = processes_named(name, all, 64), k = 0;
	for (int i = 0; i < n && k < max; i++)
		if (ours(all[i]))
			out[k++] = all[i];
	return k;
}

/*
 * Waits up to TIMEOUT_MS for this test's processes named NAME to be gone;
 * kills those that are not and returns how many there were.
 */
/*
 * Our processes named NAME, but for those of the spare supervisor's
 * tree: the filters it started ahead for its call to come are its own,
 * not something a connection left behind.
 */
static int not_the_spares(const char *name, pid_t *out, int max)
{
	pid_t spare_tree[64];
	int ns = 0;
	pid_t spare = daemon_spare(&d);
	if (spare > 0) {
		spare_tree[ns++] = spare;
		for (int i = 0; i < ns && ns < 64; i++)
			ns += children_of_any(spare_tree[i], spare_tree + ns, 64 - ns);
	}
	int n = our_processes_named(name, out, max), k = 0;
	for (int i = 0; i < n; i++) {
		bool spares = false;
		for (int j = 0; j < ns && !spares; j++)
			spares = out[i] == spare_tree[j];
		if (!spares)
			out[k++] = out[i];
	}
	return k;
}

static int outlivers(const char *name, int timeout_ms)
{
	pid_t pids[64];
	int n;
	int64_t end = now_ms() + timeout_ms;
	while ((n = not_the_spares(name, pids, 64)) && now_ms() < end)
		poll(NULL, 0, 20);
	for (int i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	return n;
}

/* the daemon and every descendant of it, into OUT (at most MAX) */
static int daemon_tree(const struct daemon *dm, pid_t *out, int max)
{
	int n = 0;
	if (dm->pid <= 0 || !pid_alive(dm->pid))
		return 0;
	out[n++] = dm->pid;
	for (int i = 0; i < n && n < max; i++)
		n += children_of_any(out[i], out + n, max - n);
	return n;
}

/* SIGCONT to the whole tree; returns how many of it were stopped */
static int continue_tree(const struct daemon *dm)
{
	pid_t tree[256];
	int n = daemon_tree(dm, tree, 256), k = 0;
	for (int i = 0; i < n; i++) {
		k += stopped(tree[i]);
		kill(tree[i], SIGCONT);
	}
	return k;
}

/* ---- listeners: the stand-ins for what a filter must never reach ---- */

struct listeners {
	char agent_dir[128];
	char agent_sock[160];  /* the qrexec agent's socket, as far as the test can tell */
	int agent;
	int tcp;               /* 127.0.0.1, any port */
	int port;
	char abstract[64];     /* an abstract UNIX socket name */
	int abs;
};

static int listen_unix(const struct sockaddr_un *sa, socklen_t len)
{
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(s, 0);
	ck_assert_msg(bind(s, (const struct sockaddr *)sa, len) == 0, "bind: %s", strerror(errno));
	ck_assert_int_eq(listen(s, 16), 0);
	return s;
}

static void listeners_open(struct listeners *l)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	/* where a real agent's socket lives: outside any directory of the test's */
	snprintf(l->agent_dir, sizeof(l->agent_dir), "/run/qp-test-agent-%d", (int)getpid());
	snprintf(l->agent_sock, sizeof(l->agent_sock), "%s/agent.sock", l->agent_dir);
	rm_rf(l->agent_dir);
	ck_assert_msg(mkdir(l->agent_dir, 0755) == 0, "mkdir %s: %s", l->agent_dir, strerror(errno));
	memcpy(sa.sun_path, l->agent_sock, strlen(l->agent_sock) + 1);
	l->agent = listen_unix(&sa, sizeof(sa));
	/* anyone may connect, as to qrexec's own sockets: only isolation can keep a filter out */
	ck_assert_int_eq(chmod(l->agent_sock, 0777), 0);

	snprintf(l->abstract, sizeof(l->abstract), "qp-test-abstract-%d", (int)getpid());
	memset(sa.sun_path, 0, sizeof(sa.sun_path));
	memcpy(sa.sun_path + 1, l->abstract, strlen(l->abstract));
	l->abs = listen_unix(&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(l->abstract)));

	struct sockaddr_in in = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t inlen = sizeof(in);
	l->tcp = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(l->tcp, 0);
	ck_assert_int_eq(bind(l->tcp, (struct sockaddr *)&in, sizeof(in)), 0);
	ck_assert_int_eq(listen(l->tcp, 16), 0);
	ck_assert_int_eq(getsockname(l->tcp, (struct sockaddr *)&in, &inlen), 0);
	l->port = ntohs(in.sin_port);
}

/* whether someone connected to listening socket FD (it never accepts before) */
static bool was_reached(int fd)
{
	int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return false;
	close(c);
	return true;
}

static void listeners_close(struct listeners *l)
{
	close(l->agent);
	close(l->tcp);
	close(l->abs);
	unlink(l->agent_sock);
	rmdir(l->agent_dir);
}

/* ---- the victim: a neighbour in the middle of a transfer while the attack runs ---- */

enum { VICTIM_HALF = 8 << 20 };
#define VICTIM_SEED 77

struct victim {
	pid_t pid;
	int go;       /* closing it lets the victim send its second half */
	int result;   /* one line from the victim: what it got */
};

/*
 * Counts the lines of TEXT that contain both A and B (B may be NULL), and
 * copies at most MAX of them into OUT, each from A on.
 */
static int lines_with(const char *text, const char *a, const char *b, char *out, size_t size, int max)
{
	int n = 0;
	size_t len = 0;
	if (size)
		out[0] = '\0';
	for (const char *p = text; *p;) {
		size_t k = strcspn(p, "\n");
		const char *nl = p + k;
		const char *hit = memmem(p, k, a, strlen(a));
		if (hit && (!b || memmem(p, k, b, strlen(b)))) {
			/* from A on: the daemon's prefix (who logged it) is in the full log */
			if (n < max && len + k + 6 < size)
				len += (size_t)snprintf(out + len, size - len, "    %.*s\n", (int)(nl - hit), hit);
			n++;
		}
		p = *nl ? nl + 1 : nl;
	}
	return n;
}

/* whether a line of D's log holds both A and B */
static bool log_has(const char *a, const char *b)
{
	char *log = file_read(d.log);
	char dummy[1];
	bool found = lines_with(log, a, b, dummy, sizeof(dummy), 0) > 0;
	free(log);
	return found;
}

/* how many lines of D's log hold both A and B (B may be NULL) */
static int log_count(const char *a, const char *b)
{
	char *log = file_read(d.log);
	char dummy[1];
	int n = lines_with(log, a, b, dummy, sizeof(dummy), 0);
	free(log);
	return n;
}

/* waits up to MS (as it is: see budget()) for a line of D's log with A and B */
static bool log_wait(const char *a, const char *b, int ms)
{
	int64_t end = now_ms() + ms;
	while (!log_has(a, b)) {
		if (now_ms() > end)
			return false;
		poll(NULL, 0, 20);
	}
	return true;
}

/*
 * A caller of test.Echo through the chain "victim" (count, then 3 pass
 * steps) that sends half of its data and reports "ready" once that half
 * is back (the connection is up and moving), then waits for "go" before
 * sending the rest. It exits 0 only if every byte came back unchanged.
 */
static bool victim_begin(struct victim *v)
{
	int ready[2], go[2], res[2];
	ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(res, O_CLOEXEC), 0);
	v->pid = fork();
	ck_assert_int_ge(v->pid, 0);
	if (v->pid == 0) {
		close(ready[0]);
		close(go[1]);
		close(res[0]);
		signal(SIGPIPE, SIG_IGN);
		int fd = call_vm(&d, "victim", "victim-vm", "test.Echo");
		pid_t w = fork();
		if (w == 0) {
			static char buf[1 << 16];
			uint64_t seed = VICTIM_SEED;
			/* the report and "ready" are the reader's: its end must be their end */
			close(ready[1]);
			close(res[1]);
			for (int half = 0; half < 2; half++) {
				for (size_t done = 0; done < VICTIM_HALF; done += sizeof(buf)) {
					fill_random(&seed, buf, sizeof(buf));
					if (send(fd, buf, sizeof(buf), MSG_NOSIGNAL) != (ssize_t)sizeof(buf))
						_exit(1);
				}
				char c;
				if (half == 0 && read(go[0], &c, 1) < 0)
					_exit(1);
			}
			shutdown(fd, SHUT_WR);
			_exit(0);
		}
		close(go[0]);
		static char buf[1 << 16];
		uint64_t got = 0, hs = HASH_INIT;
		bool told = false, hung = false;
		for (;;) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			if (poll(&p, 1, 120000) <= 0) {
				hung = true;
				break;
			}
			ssize_t n = read(fd, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += (uint64_t)n;
			hs = hash_update(hs, buf, (size_t)n);
			if (!told && got >= VICTIM_HALF) {
				told = true;
				if (write(ready[1], "r", 1) != 1)
					_exit(4);
			}
		}
		if (hung)
			kill(w, SIGKILL);
		int st;
		waitpid(w, &st, 0);
		bool ok = got == 2ULL * VICTIM_HALF && hs == expected_hash(2ULL * VICTIM_HALF, VICTIM_SEED) &&
			  WIFEXITED(st) && WEXITSTATUS(st) == 0;
		dprintf(res[1], "got %" PRIu64 " of %llu bytes back, %s%s, its writer %s", got,
			2ULL * VICTIM_HALF,
			hs == expected_hash(got, VICTIM_SEED) ? "the bytes it sent" : "bytes it never sent",
			hung ? ", then nothing for 120 s" : "",
			WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "sent everything" : "could not send everything");
		_exit(ok ? 0 : 2);
	}
	close(ready[1]);
	close(go[0]);
	close(res[1]);
	v->go = go[1];
	v->result = res[0];
	struct pollfd p = { .fd = ready[0], .events = POLLIN };
	char c;
	bool up = poll(&p, 1, wait_ms(30000)) == 1 && read(ready[0], &c, 1) == 1;
	close(ready[0]);
	if (!up)
		finding("the victim's connection did not start");
	return up;
}

static void victim_end(struct victim *v)
{
	int st = 0;
	close(v->go);
	int64_t end = now_ms() + budget(30000);
	pid_t r;
	while ((r = waitpid(v->pid, &st, WNOHANG)) == 0 && now_ms() < end)
		poll(NULL, 0, 20);
	if (r == 0) {
		kill(v->pid, SIGKILL);
		waitpid(v->pid, &st, 0);
		finding("the victim's connection hung");
	}
	char what[256] = "";
	ssize_t n = read(v->result, what, sizeof(what) - 1);
	what[n > 0 ? n : 0] = '\0';
	close(v->result);
	if (r != 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0) && *what)
		finding("the victim was disturbed: %s", what);
	else if (r != 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
		finding("the victim was disturbed: no report, status 0x%x", (unsigned)st);
	else if (r != 0 && !log_wait("chain=victim result=ok", NULL, budget(10000)))
		finding("the victim's connection did not end with result=ok");
}

/* ---- one attack ---- */

struct attack {
	const char *chain;       /* attack-CHAIN in the configuration */
	char chain_buf[64];
	const char *mode;        /* hostile-filter's mode */
	int mech;
	struct listeners l;
	char statedir[256];
	char statefile[sizeof(((struct dirent *)0)->d_name) + 260];
	char *state_before;      /* the admission state once the victim was admitted */
	char nofile_before[256];
	int nice_before;
	struct victim v;
	pid_t caller;            /* the attack's caller */
};

/*
 * The configuration. @B@ is the build tree, @D@ the daemon's directory;
 * every attack chain is hostile-filter in the source-to-destination
 * direction (one process, one attacker), then pass.
 */
static char *config_for(const struct attack *a)
{
	static const char head[] =
		"connector: [\"@B@/t/fake-connector\", \"{target}\", \"{service}\"]\n"
		"filter_path: [\"@B@/filters\"]\n"
		"chains:\n"
		"  victim:\n"
		"    admit:\n"
		"      - name: \"@B@/filters/count\"\n"
		"        args: [\"--limit\", \"1000\", \"--interval\", \"60\"]\n"
		"    filters: [pass, pass, pass]\n"
		"  pass3:\n"
		"    filters: [pass, pass, pass]\n";
	char port[16];
	snprintf(port, sizeof(port), "%d", a->l.port);
	const struct {
		const char *chain;
		const char *args[8];
	} chains[] = {
		{ "proc-mem", { "proc-mem" } },
		{ "proc-fd", { "proc-fd" } },
		{ "kill-all", { "kill-all" } },
		{ "signal-daemon", { "signal-daemon" } },
		{ "prlimit-daemon", { "prlimit-daemon" } },
		{ "ptrace", { "ptrace" } },
		{ "connect-proxy", { "connect", "@D@/qrexec-proxy.sock" } },
		{ "connect-agent", { "connect", a->l.agent_sock } },
		{ "exec", { "exec", "FAKE_CONNECTOR_LOG=@D@/connector.log", "@B@/t/fake-connector", "exec-vm",
			    "test.Echo" } },
		{ "network", { "network", "127.0.0.1", port, a->l.abstract } },
		/* the file as count names it (window in ns); listing finds it too, if allowed */
		{ "state", { "state", a->statedir, "count.victim.60000000000" } },
		{ "orphan", { "orphan" } },
		{ "write-files", { "write-files", "@D@", a->statedir } },
	};
	size_t cap = sizeof(head) + 16384, len = 0;
	char *s = malloc(cap);
	ck_assert_ptr_nonnull(s);
	len = (size_t)snprintf(s, cap, "%s", head);
	/* attack-X: hostile-filter started with its call; attack-ahead-X: the one the spare starts ahead */
	for (int ahead = 0; ahead < 2; ahead++)
		for (size_t i = 0; i < sizeof(chains) / sizeof(chains[0]); i++) {
			len += (size_t)snprintf(s + len, cap - len,
						"  attack-%s%s:\n"
						"    filters:\n"
						"      - name: \"@B@/t/%shostile-filter\"\n"
						"        direction: src2dst\n"
						"        args: [",
						ahead ? "ahead-" : "", chains[i].chain, ahead ? "ahead/" : "");
			for (int k = 0; chains[i].args[k]; k++)
				len += (size_t)snprintf(s + len, cap - len, "%s\"%s\"", k ? ", " : "",
							chains[i].args[k]);
			len += (size_t)snprintf(s + len, cap - len, "]\n      - pass\n");
			ck_assert_uint_lt(len, cap);
		}
	return s;
}

/* the victim's admission state: count's file for the chain "victim", whatever its window suffix */
static bool find_state_file(struct attack *a)
{
	DIR *dir = opendir(a->statedir);
	struct dirent *e;
	bool found = false;
	snprintf(a->statefile, sizeof(a->statefile), "%s/count.victim.60", a->statedir);
	if (!dir)
		return false;
	while (!found && (e = readdir(dir))) {
		if (!strncmp(e->d_name, "count.victim.", 13)) {
			snprintf(a->statefile, sizeof(a->statefile), "%s/%s", a->statedir, e->d_name);
			found = true;
		}
	}
	closedir(dir);
	return found;
}

/*
 * The attack's caller: 64 KiB through the chain, from a child, so the test
 * can watch. It must not hold the victim's "go" (KEEP_OUT) open.
 */
static pid_t attack_call(const char *chain, int keep_out)
{
	char name[64];
	snprintf(name, sizeof(name), "attack-%s", chain);
	int fd = call_vm(&d, name, "attack-vm", "test.Echo");
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct xfer x;
		close(keep_out);
		call_transfer(fd, 64 * 1024, 9, 120000, &x);
		_exit(x.timed_out ? 3 : 0);
	}
	close(fd);
	return pid;
}

/*
 * Whose process PID of the daemon's tree is, when it is not the attack's
 * connection's own (a process under the attack's supervisor: its sandbox,
 * its filters, its connector, which the attacker may disturb at will):
 * "the listener", "the victim's connection", "the attack's supervisor";
 * NULL for the attack's own.
 */
static const char *whose_process(pid_t pid, const pid_t *victim_sups, int nvictim)
{
	if (pid == d.pid)
		return "the listener";
	pid_t sup = pid;
	for (int depth = 0; depth < 64; depth++) {
		pid_t pp = parent_of(sup);
		if (pp == d.pid)
			break;
		if (pp <= 1)
			return "not the daemon's";
		sup = pp;
	}
	for (int i = 0; i < nvictim; i++)
		if (victim_sups[i] == sup)
			return "the victim's connection";
	return sup == pid ? "the attack's supervisor" : NULL;
}

/* see hostile-filter's state and write-files */
static void put_marker(const char *dir)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/qp-test-marker", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	ck_assert_msg(fd >= 0, "unable to create %s: %s", path, strerror(errno));
	close(fd);
}

/*
 * Everything up to the end of the attack's connection: the daemon as the
 * unprivileged user, the victim in mid-transfer, the attack through the
 * chain attack-CHAIN (hostile-filter MODE), then a wait for the attack's
 * summary line (or for the daemon to die trying). KILLS: the attack kills
 * processes, maybe the filter itself, so "done" may never be logged.
 */
/* whether PID's whole environment is QREXEC_PROXY_PRESTART=1: started ahead, its call not come yet */
static bool started_ahead(pid_t pid)
{
	static const char want[] = "QREXEC_PROXY_PRESTART=1";
	char path[64], buf[128];
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf));
	close(fd);
	return n == (ssize_t)sizeof(want) && !memcmp(buf, want, sizeof(want));
}

/* whether PID is blocked in read(2) on fd 2: waiting for its environment */
static bool waits_on_stderr(pid_t pid)
{
	char path[64], buf[128];
	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return !strncmp(buf, "0 0x2 ", 6);
}

/*
 * Whether the sandbox of SPARE (its child qp-sandbox) has lost a program
 * already (it reaped one: cminflt, the faults of reaped children, grew)
 * or has ended itself (a zombie): an attack that kills ran in it.
 */
static bool spare_sandbox_hit(pid_t spare)
{
	pid_t kids[16];
	int n = children_of_any(spare, kids, 16);
	for (int i = 0; i < n; i++) {
		char buf[1024];
		const char *comm = NULL, *f = stat_fields(kids[i], buf, sizeof(buf), &comm);
		if (!f || !comm || strncmp(comm, "(qp-sandbox)", 12))
			continue;
		char state = 0;
		unsigned long minflt = 0, cminflt = 0;
		/* after the comm: state ppid pgrp session tty tpgid flags minflt cminflt */
		if (sscanf(f, "%c %*d %*d %*d %*d %*d %*u %lu %lu", &state, &minflt, &cminflt) != 3)
			continue;
		if (state == 'Z' || cminflt > 0)
			return true;
	}
	return false;
}

/* the names of the programs the sandbox of SPARE runs now (its child qp-sandbox's children) */
static int spare_programs(pid_t spare, char names[][32], int max)
{
	char path[96];
	pid_t kids[16], progs[64];
	int nk = children_of_any(spare, kids, 16), np = 0;
	for (int i = 0; i < nk && np < 64; i++)
		np += children_of_any(kids[i], progs + np, 64 - np);
	int n = 0;
	for (int i = 0; i < np && n < max; i++) {
		snprintf(path, sizeof(path), "/proc/%d/comm", (int)progs[i]);
		FILE *f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(names[n], 32, f)) {
			names[n][strcspn(names[n], "\n")] = '\0';
			n++;
		}
		fclose(f);
	}
	return n;
}

/*
 * For an attack from a filter started ahead of its call: a call of the
 * chain (the attack runs in it as in any other test) makes it the chain
 * the next spare starts ahead; then that spare's hostile-filter runs its
 * attack with no call yet, next to the victim, and ends up waiting for
 * its environment (or dead of its own attack). The spare may have been
 * forked before the listener heard which chain that call was for (a
 * loaded machine): then it runs another chain's filters, and a second
 * call takes it. Whether it got there within the deadline.
 */
static bool prime_ahead(struct attack *a)
{
	char summary[96];
	snprintf(summary, sizeof(summary), "chain=attack-%s result=", a->chain);
	int64_t end = now_ms() + budget(20000);
	for (int attempt = 0; attempt < 5 && now_ms() < end; attempt++) {
		int before = log_count(summary, NULL);
		pid_t first = attack_call(a->chain, a->v.go);
		while (log_count(summary, NULL) <= before && now_ms() < end)
			poll(NULL, 0, 20);
		int st;
		while (waitpid(first, &st, WNOHANG) == 0 && now_ms() < end)
			poll(NULL, 0, 20);
		if (pid_alive(first)) {
			kill(first, SIGKILL);
			waitpid(first, &st, 0);
		}
		pid_t seen = 0;
		bool other = false;
		while (now_ms() < end && !other) {
			pid_t pids[32];
			int n = processes_named("hostile-filter", pids, 32);
			for (int i = 0; i < n; i++)
				if (started_ahead(pids[i])) {
					seen = pids[i];
					if (waits_on_stderr(pids[i]))
						return true;
				}
			if (seen && !pid_alive(seen))
				return true;
			pid_t spare = daemon_spare(&d);
			/* one that killed its own sandbox may be gone before it was ever seen */
			if (spare > 0 && spare_sandbox_hit(spare))
				return true;
			/* the spare runs another chain's filters (all started: hostile-filter starts first) */
			char names[16][32];
			int np = spare > 0 ? spare_programs(spare, names, 16) : 0;
			other = np >= 2;
			for (int i = 0; i < np; i++)
				other &= strcmp(names[i], "hostile-filter") != 0;
			if (!other)
				poll(NULL, 0, 20);
		}
	}
	return false;
}

/*
 * Runs attack CHAIN (hostile-filter's MODE) under the mechanism and the
 * way of starting that loop index LOOP says: mechanism LOOP / 2; with its call
 * (odd LOOP: started ahead of it by the spare, chain ahead-CHAIN).
 */
static void attack_run(struct attack *a, const char *chain_name, const char *mode, int loop, bool kills)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->chain_buf, sizeof(a->chain_buf), "%s%s", loop % 2 ? "ahead-" : "", chain_name);
	const char *chain = a->chain_buf;
	int mech = loop / 2;
	a->chain = chain;
	a->mode = mode;
	a->mech = mech;
	findings_len = 0;
	findings[0] = '\0';
	nfindings = 0;

	/* the orphans of the daemon's tree come here, not to init: see ours() */
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);

	listeners_open(&a->l);
	/* the admission state: the daemon's user's, named as systemd's StateDirectory= would */
	make_tmpdir(a->statedir, sizeof(a->statedir));
	ck_assert_int_eq(chown(a->statedir, run_uid, run_gid), 0);
	ck_assert_int_eq(chmod(a->statedir, 0700), 0);
	setenv("STATE_DIRECTORY", a->statedir, 1);

	char *config = config_for(a);
	const char *extra[8];
	isolation_args(mech, extra);
	daemon_start_as(&d, config, extra, run_uid, run_gid);
	free(config);
	/* how the filter tells these directories from empty stand-ins a sandbox may put over them */
	put_marker(d.dir);
	put_marker(a->statedir);

	a->state_before = strdup("");
	if (!victim_begin(&a->v))
		return; /* nothing to attack: the test fails at its end, without waiting any longer */
	free(a->state_before);
	if (!find_state_file(a))
		finding("the victim's admission (count) left no state in %s", a->statedir);
	a->state_before = file_read(a->statefile);
	nofile_of(d.pid, a->nofile_before, sizeof(a->nofile_before));
	a->nice_before = nice_of(d.pid);

	char summary[96], done[96], ahead_line[96];
	snprintf(summary, sizeof(summary), "chain=attack-%s result=", chain);
	snprintf(done, sizeof(done), "hostile: %s: done", mode);
	snprintf(ahead_line, sizeof(ahead_line), "hostile: %s: started ahead of its call", mode);
	bool ahead = !strncmp(chain, "ahead-", 6);
	if (ahead && !prime_ahead(a))
		finding("no hostile-filter started ahead of its call waited for its environment");
	int summaries_before = log_count(summary, NULL), done_before = log_count(done, NULL);

	/* the supervisors there are before the attack's: the victim's (and the spare, which takes the call) */
	pid_t victim_sups[16];
	int nvictim = children_of(d.pid, victim_sups, 16);
	a->caller = attack_call(chain, a->v.go);

	/*
	 * The listener's "supervisor PID killed by signal N" line, and not a
	 * summary that says a signal was one "its supervisor did not send":
	 * written between the loop's two reads, that summary was once taken
	 * for a supervisor's death under six busy loops.
	 */
	int sup_deaths = log_count(": supervisor ", "signal");
	int64_t end = now_ms() + wait_ms(20000), stopped_since = 0;
	for (;;) {
		if (log_count(summary, NULL) > summaries_before)
			break;
		if (!pid_alive(d.pid)) {
			finding("the daemon died during the attack");
			break;
		}
		/* a supervisor killed: its summary will never come */
		if (log_count(": supervisor ", "signal") > sup_deaths) {
			finding("a supervisor died during the attack (see the log)");
			break;
		}
		/*
		 * Stopped (SIGSTOP): continued after a moment (the attacker may
		 * check its effect), or nothing would ever end; a finding unless
		 * it was a process inside the attack's own connection.
		 */
		pid_t tree[256];
		int n = daemon_tree(&d, tree, 256), k = 0;
		for (int i = 0; i < n; i++)
			k += stopped(tree[i]);
		if (k && !stopped_since)
			stopped_since = now_ms();
		if (stopped_since && now_ms() - stopped_since > 500) {
			char what[512] = "";
			size_t wl = 0;
			int outside = 0;
			for (int i = 0; i < n; i++) {
				if (!stopped(tree[i]))
					continue;
				const char *whose = whose_process(tree[i], victim_sups, nvictim);
				if (!whose)
					continue;
				outside++;
				int w = snprintf(what + wl, sizeof(what) - wl, "%s%d (%s)", wl ? ", " : "",
						 (int)tree[i], whose);
				if (w > 0 && (size_t)w < sizeof(what) - wl)
					wl += (size_t)w;
			}
			continue_tree(&d);
			if (outside)
				finding("the attack stopped %d processes outside its connection: %s", outside, what);
			stopped_since = 0;
		}
		if (now_ms() > end) {
			finding("the attack's connection did not end (no \"%s\")", summary);
			break;
		}
		poll(NULL, 0, 20);
	}
	if (nfindings || stopped_since)
		continue_tree(&d);
	/* an attack that kills may take its own reporter with it, even where it is contained */
	if (!kills && log_count(done, NULL) <= done_before && !nfindings)
		finding("the attack did not finish (no \"%s\")", done);
	/* the call ran through the filter started ahead: what it said before its call is logged with the call */
	if (ahead && !log_has(ahead_line, NULL))
		finding("the call did not run through the filter started ahead (no \"%s\")", ahead_line);

	/* the caller has its EOF by now, unless the connection is wedged */
	int st = 0;
	pid_t r;
	int64_t cend = now_ms() + budget(10000);
	while ((r = waitpid(a->caller, &st, WNOHANG)) == 0 && now_ms() < cend)
		poll(NULL, 0, 20);
	if (r == 0) {
		kill(a->caller, SIGKILL);
		waitpid(a->caller, &st, 0);
		finding("the attack's caller got no EOF");
	}
}

/* stops the daemon (and whatever of it is left) within a bounded time; returns its wait status or -1 */
static int daemon_end(void)
{
	int status = -1;
	if (d.pid <= 0)
		return -1;
	pid_t tree[256];
	int n = daemon_tree(&d, tree, 256);
	continue_tree(&d);
	kill(d.pid, SIGTERM);
	int64_t end = now_ms() + budget(10000);
	pid_t r;
	while ((r = waitpid(d.pid, &status, WNOHANG)) == 0 && now_ms() < end)
		poll(NULL, 0, 20);
	if (r == 0) {
		finding("the daemon did not stop on SIGTERM");
		kill(d.pid, SIGKILL);
		waitpid(d.pid, &status, 0);
	}
	/*
	 * Supervisors and filters of a daemon killed early must not wait for
	 * the next test: those it had, and whatever else came to this
	 * subreaper (every process the test started has ended by now).
	 */
	for (int i = 1; i < n; i++)
		if (pid_alive(tree[i]))
			kill(tree[i], SIGKILL);
	DIR *dir = opendir("/proc");
	struct dirent *e;
	while (dir && (e = readdir(dir))) {
		pid_t pid = (pid_t)atoi(e->d_name);
		if (pid > 1 && pid_alive(pid) && ours(pid))
			kill(pid, SIGKILL);
	}
	if (dir)
		closedir(dir);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	d.pid = 0;
	return status;
}

/*
 * The checks every attack shares, the clean-up, and the one verdict with
 * every finding and the log (without the filter's long list of blocked
 * attempts).
 */
static void attack_finish(struct attack *a)
{
	char summary[96];
	snprintf(summary, sizeof(summary), "chain=attack-%s result=", a->chain);
	if (!log_has("connection ", summary))
		finding("the attack's connection has no summary line (\"%s\")", summary);

	victim_end(&a->v);

	bool alive = pid_alive(d.pid) && !stopped(d.pid);
	if (!alive) {
		finding("the daemon is %s after the attack", pid_alive(d.pid) ? "stopped" : "gone");
	} else {
		struct xfer x;
		int fd = call_vm(&d, "pass3", "fresh-vm", "test.Echo");
		call_transfer(fd, 1 << 20, 5, budget(20000), &x);
		if (x.timed_out || x.recv != x.sent || x.recv_hash != x.sent_hash)
			finding("a fresh call after the attack failed: %" PRIu64 " of %" PRIu64 " bytes back%s", x.recv,
				x.sent, x.timed_out ? ", then it hung" : "");
	}

	int n = outlivers("hostile-orphan", budget(0));
	if (n)
		finding("%d processes named hostile-orphan outlived the attack's connection (killed now)", n);
	n = outlivers("hostile-filter", budget(0));
	if (n)
		finding("%d processes named hostile-filter outlived the attack's connection (killed now)", n);
	n = outlivers("fake-connector", budget(0));
	if (n)
		finding("%d fake-connector processes outlived every connection (killed now)", n);

	bool was_alive = pid_alive(d.pid);
	int status = daemon_end();
	if (was_alive && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		finding("the daemon ended with status 0x%x on SIGTERM", (unsigned)status);

	char *log = file_read(d.log);
	static char breaches[8192];
	int nb = lines_with(log, "hostile:", "BREACH", breaches, sizeof(breaches), 40);
	if (nb)
		finding("%d BREACH lines in the log, among them:\n%s", nb, breaches);

	/* the log without the filter's blocked attempts, for the failure message */
	size_t cap = strlen(log) + 1, len = 0;
	char *shown = malloc(cap);
	ck_assert_ptr_nonnull(shown);
	for (const char *p = log; *p;) {
		size_t k = strcspn(p, "\n");
		bool noise = memmem(p, k, "hostile: ", 9) && memmem(p, k, ": blocked ", 10);
		if (!noise) {
			memcpy(shown + len, p, k);
			len += k;
			shown[len++] = '\n';
		}
		p += k + (p[k] == '\n');
	}
	shown[len] = '\0';
	const char *verbose = getenv("QP_ISOLATION_TEST_VERBOSE");
	if (verbose && !strcmp(verbose, "1")) {
		static char lines[1 << 17];
		lines_with(log, "hostile: ", NULL, lines, sizeof(lines), 2000);
		fprintf(stderr, "==== %s under %s: what the filter reported:\n%s", a->chain, mechanisms[a->mech],
			lines);
		fflush(stderr);
	}
	free(log);

	listeners_close(&a->l);
	rm_rf(a->statedir);
	rm_rf(d.dir);
	free(a->state_before);
	a->state_before = NULL;

	/*
	 * Check carries a failure's message in a small buffer: the findings go
	 * there (cut short), the log to stderr (the test's .log under make check).
	 */
	if (nfindings) {
		bool cut = len > 16000;
		fprintf(stderr, "==== %s under %s%s: %d findings:\n%s---- daemon log%s:\n%s==== end of %s\n\n",
			a->chain, mechanisms[a->mech], want_option() ? "" : " (no --isolation option)", nfindings,
			findings, cut ? " (its end, blocked attempts left out)" : " (blocked attempts left out)",
			cut ? shown + len - 16000 : shown, a->chain);
		fflush(stderr);
	}
	free(shown);
	if (findings_len > 3000)
		memcpy(findings + 2990, "...\n", 5);
	ck_assert_msg(nfindings == 0, "%s under %s%s:\n%s(the daemon's log is on stderr)", a->chain,
		      mechanisms[a->mech], want_option() ? "" : " (no --isolation option)", findings);
}

/* ---- the attacks ---- */

START_TEST(test_proc_mem)
{
	/* /proc/PID/mem of the daemon or another connection: its memory, read and write */
	struct attack a;
	attack_run(&a, "proc-mem", "proc-mem", _i, false);
	attack_finish(&a);
}
END_TEST

START_TEST(test_proc_fd)
{
	/*
	 * /proc/PID/fd/N of another process: the pipes of the victim's
	 * filters, read (stolen data) and written (forged data). The victim's
	 * hash shows it even if the filter miscounted.
	 */
	struct attack a;
	attack_run(&a, "proc-fd", "proc-fd", _i, false);
	attack_finish(&a);
}
END_TEST

START_TEST(test_kill_all)
{
	/* kill(-1, SIGKILL): at most its own connection may die of it */
	struct attack a;
	attack_run(&a, "kill-all", "kill-all", _i, true);
	attack_finish(&a);
}
END_TEST

START_TEST(test_signal_daemon)
{
	/* SIGSTOP and SIGTERM to every qrexec-proxy it can find */
	struct attack a;
	attack_run(&a, "signal-daemon", "signal-daemon", _i, false);
	attack_finish(&a);
}
END_TEST

START_TEST(test_prlimit_daemon)
{
	/* the daemon starved of fds and CPU: its limits and nice value must not change */
	struct attack a;
	attack_run(&a, "prlimit-daemon", "prlimit-daemon", _i, false);
	char nofile[256];
	nofile_of(d.pid, nofile, sizeof(nofile));
	if (pid_alive(d.pid) && strcmp(nofile, a.nofile_before))
		finding("the daemon's fd limit changed: \"%s\", was \"%s\"", nofile, a.nofile_before);
	int nice = nice_of(d.pid);
	if (pid_alive(d.pid) && nice != a.nice_before)
		finding("the daemon's nice value changed: %d, was %d", nice, a.nice_before);
	attack_finish(&a);
}
END_TEST

START_TEST(test_ptrace)
{
	/* ptrace and process_vm_readv of the daemon, the victim's filters, the connectors */
	struct attack a;
	attack_run(&a, "ptrace", "ptrace", _i, false);
	attack_finish(&a);
}
END_TEST

START_TEST(test_connect_proxy)
{
	/* the proxy's own socket, calling as dom0: no such call may reach a destination */
	struct attack a;
	attack_run(&a, "connect-proxy", "connect", _i, false);
	if (log_has("source=dom0", NULL))
		finding("a call from the filter, as source dom0, was served");
	if (file_count(d.connlog, "start target-vm "))
		finding("the filter's call as dom0 started a connector to target-vm");
	attack_finish(&a);
}
END_TEST

START_TEST(test_connect_agent)
{
	/* a UNIX socket anyone may connect to, where the qrexec agent's would be */
	struct attack a;
	attack_run(&a, "connect-agent", "connect", _i, false);
	if (was_reached(a.l.agent))
		finding("the filter connected to %s (the stand-in for the qrexec agent)", a.l.agent_sock);
	attack_finish(&a);
}
END_TEST

START_TEST(test_exec)
{
	/*
	 * Running the connector itself (as qrexec-client-vm) to call whatever
	 * it likes: the stand-in records each start it gets to.
	 */
	struct attack a;
	attack_run(&a, "exec", "exec", _i, false);
	if (file_count(d.connlog, "start exec-vm "))
		finding("the connector, run by the filter, started (\"start exec-vm\" in %s)", d.connlog);
	attack_finish(&a);
}
END_TEST

START_TEST(test_network)
{
	/* TCP to 127.0.0.1, netlink, the journal, an abstract UNIX socket */
	struct attack a;
	attack_run(&a, "network", "network", _i, false);
	if (was_reached(a.l.tcp))
		finding("the filter connected to 127.0.0.1:%d", a.l.port);
	if (was_reached(a.l.abs))
		finding("the filter connected to the abstract socket @%s", a.l.abstract);
	attack_finish(&a);
}
END_TEST

START_TEST(test_state)
{
	/* the admission state (count's): neither its location, nor its files */
	struct attack a;
	attack_run(&a, "state", "state", _i, false);
	char *now = file_read(a.statefile);
	if (strcmp(now, a.state_before))
		finding("the admission state %s changed: %zu bytes, was %zu", a.statefile, strlen(now),
			strlen(a.state_before));
	free(now);
	char extra[300];
	snprintf(extra, sizeof(extra), "%s/hostile", a.statedir);
	if (access(extra, F_OK) == 0)
		finding("the filter created %s", extra);
	attack_finish(&a);
}
END_TEST

START_TEST(test_orphan)
{
	/*
	 * A child in a session of its own, then the supervisor killed (and
	 * every qrexec-proxy above it): the connection must still be logged,
	 * and nothing of it may survive.
	 */
	struct attack a;
	attack_run(&a, "orphan", "orphan", _i, true);
	attack_finish(&a);
}
END_TEST

START_TEST(test_write_files)
{
	/* the daemon's directory and the admission state: no file of the filter's there */
	struct attack a;
	attack_run(&a, "write-files", "write-files", _i, false);
	const char *dirs[] = { d.dir, a.statedir };
	for (size_t i = 0; i < 2; i++) {
		char path[400];
		snprintf(path, sizeof(path), "%s/hostile-write", dirs[i]);
		if (access(path, F_OK) == 0)
			finding("the filter created %s", path);
	}
	attack_finish(&a);
}
END_TEST

/* ---- the suite ---- */

/*
 * Whether the daemon's user can run what the tests start: the build tree
 * must be readable by it (it is not, under a home directory of mode 0700).
 */
static bool user_can_run(char *why, size_t size)
{
	static const char *const progs[] = { "qrexec-proxy", "t/hostile-filter", "t/ahead/hostile-filter",
					     "t/fake-connector", "filters/pass", "filters/count" };
	int p[2];
	if (pipe(p) < 0)
		return false;
	pid_t pid = fork();
	if (pid < 0)
		return false;
	if (pid == 0) {
		close(p[0]);
		if (setgroups(0, NULL) < 0 || setgid(run_gid) < 0 || setuid(run_uid) < 0) {
			dprintf(p[1], "unable to become %s: %s", run_user, strerror(errno));
			_exit(1);
		}
		for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
			char path[1024];
			snprintf(path, sizeof(path), "%s/%s", builddir(), progs[i]);
			if (access(path, X_OK) < 0) {
				dprintf(p[1], "%s (uid %d) cannot run %s: %s", run_user, (int)run_uid, path,
					strerror(errno));
				_exit(1);
			}
		}
		_exit(0);
	}
	close(p[1]);
	ssize_t n = read(p[0], why, size - 1);
	why[n > 0 ? n : 0] = '\0';
	close(p[0]);
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static Suite *isolation_suite(void)
{
	const struct {
		const char *name;
		const TTest *const *test;
	} tests[] = {
		{ "proc_mem", &test_proc_mem },
		{ "proc_fd", &test_proc_fd },
		{ "kill_all", &test_kill_all },
		{ "signal_daemon", &test_signal_daemon },
		{ "prlimit_daemon", &test_prlimit_daemon },
		{ "ptrace", &test_ptrace },
		{ "connect_proxy", &test_connect_proxy },
		{ "connect_agent", &test_connect_agent },
		{ "exec", &test_exec },
		{ "network", &test_network },
		{ "state", &test_state },
		{ "orphan", &test_orphan },
		{ "write_files", &test_write_files },
	};
	const char *only = getenv("QP_ISOLATION_TEST_ONLY");
	const char *mechs = getenv("QP_ISOLATION_TEST_MECHS");
	Suite *s = suite_create("isolation");
	/* one test case per mechanism; the loop index tells a test which one it runs under */
	for (int m = 0; m < NMECH; m++) {
		if (!listed(mechs, mechanisms[m]))
			continue;
		TCase *tc = tcase_create(mechanisms[m]);
		/* waits are bounded one by one (wait_ms); this only catches what is not */
		tcase_set_timeout(tc, test_timeout(180));
		/* each attack twice: from a filter started with its call, and from one the spare started ahead */
		for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
			if (listed(only, tests[i].name))
				tcase_add_loop_test(tc, *tests[i].test, 2 * m, 2 * m + 2);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(void)
{
	if (geteuid() != 0) {
		printf("check_isolation: SKIP: needs root, to run the daemon as another user "
		       "(as your own, the attacks would hit your own processes)\n");
		return 77;
	}
	const char *user = getenv("QP_ISOLATION_TEST_USER");
	if (!user || !*user)
		user = "nobody";
	struct passwd *pw = getpwnam(user);
	unsigned long u, g;
	char c;
	if (pw) {
		run_uid = pw->pw_uid;
		run_gid = pw->pw_gid;
	} else if (sscanf(user, "%lu:%lu%c", &u, &g, &c) == 2 && u < 65536 * 65536UL && g < 65536 * 65536UL) {
		/* a uid no one else uses: nothing else on the machine is in reach of a breach */
		run_uid = (uid_t)u;
		run_gid = (gid_t)g;
	} else {
		printf("check_isolation: SKIP: no user %s\n", user);
		return 77;
	}
	if (run_uid == 0) {
		printf("check_isolation: SKIP: %s is root: the daemon must run unprivileged\n", user);
		return 77;
	}
	snprintf(run_user, sizeof(run_user), "%s", user);
	char why[1024];
	if (!user_can_run(why, sizeof(why))) {
		printf("check_isolation: SKIP: the daemon runs as %s, and %s; "
		       "build in a directory every user can read\n", run_user, why);
		return 77;
	}
	if (!want_option())
		printf("check_isolation: QP_ISOLATION_TEST_NO_OPTION=1: serving without --isolation\n");

	SRunner *sr = srunner_create(isolation_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
