/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A filter taken over by its caller's data, for t/check_isolation: it tries
 * to reach beyond its own connection, then behaves (copies stdin to stdout
 * and exits 0) so that a chain through it still works.
 *
 * Built as t/ahead/hostile-filter (HOSTILE_AHEAD), it carries the kit's
 * prestart note, so a spare supervisor starts it before its call exists
 * (orchestrator/warm.h): it then attacks at once, with nothing of a
 * connection yet ("hostile: MODE: started ahead of its call" first), and
 * only then waits for its environment on fd 2, as qpf_init() would.
 *
 *   hostile-filter proc-mem            open /proc/PID/mem read-write, every PID
 *   hostile-filter proc-fd             open /proc/PID/fd/N of every other
 *                                      process; read from and write into pipes
 *   hostile-filter kill-all            kill(-1, SIGKILL) from a child
 *   hostile-filter signal-daemon       SIGSTOP and SIGTERM to every qrexec-proxy
 *   hostile-filter prlimit-daemon      lower the fd limit and the priority of
 *                                      every qrexec-proxy; renice its own uid
 *   hostile-filter ptrace              PTRACE_ATTACH and process_vm_readv of
 *                                      every other process
 *   hostile-filter connect PATH        a call as dom0 on the UNIX socket PATH
 *   hostile-filter exec [VAR=VALUE...] PATH [ARGS...]
 *                                      run PATH (say, the connector) in a child,
 *                                      with FAKE_CONNECTOR_LOG removed from the
 *                                      inherited environment and the VAR=VALUE
 *                                      given added (so a test can tell whether
 *                                      the stand-in connector got anywhere)
 *   hostile-filter network HOST PORT [ABSTRACT]
 *                                      TCP to HOST:PORT, a netlink socket, the
 *                                      journal's socket, the abstract UNIX
 *                                      socket ABSTRACT
 *   hostile-filter state DIR [FILE...] $STATE_DIRECTORY; truncate every file of
 *                                      DIR (and DIR/FILE), create DIR/hostile
 *                                      (a BREACH if DIR holds a file named
 *                                      qp-test-marker: it is the real one)
 *   hostile-filter orphan              leave a child (comm "hostile-orphan")
 *                                      in a session of its own, clear its own
 *                                      parent-death signal, then kill its
 *                                      parent and every qrexec-proxy above
 *   hostile-filter pipe-hog            take the kernel's pipe memory of its user:
 *                                      pipes grown to fs.pipe-max-size until the
 *                                      kernel refuses, then more until a new one
 *                                      gets 2 pages (the user over
 *                                      fs.pipe-user-pages-soft), held until EOF
 *   hostile-filter write-files DIR...  create DIR/hostile-write in each DIR
 *                                      (a BREACH where qp-test-marker is), and
 *                                      try /tmp, /var/tmp, /dev/shm, the
 *                                      working directory and $HOME (reported)
 *
 * What belongs to its own connection is fair game (the boundary is per
 * connection): a process whose environment has this filter's
 * QREXEC_PROXY_CONNECTION, and, inside a pid namespace of its own, every
 * process without another connection's id. Success there is "allowed",
 * never a BREACH.
 *
 * One line on stderr per attempt, which the daemon logs:
 *   hostile: MODE: BREACH DETAIL    it got something it must never get
 *   hostile: MODE: blocked DETAIL   it was stopped (with the errno text)
 *   hostile: MODE: allowed DETAIL   it worked, but that alone proves nothing:
 *                                   the test judges by the effect
 *   hostile: MODE: skipped DETAIL   nothing to try here
 * and "hostile: MODE: done" at the end. A test fails on any BREACH line.
 *
 * It runs under the supervisor's baseline seccomp policy, where denied
 * system calls fail (EPERM, EAFNOSUPPORT, ENOSYS) rather than kill: every
 * failure is reported and the attack goes on. Plain libc, no kit, no
 * sanitizer (LeakSanitizer needs the ptrace that policy denies).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/netlink.h>
#ifdef HOSTILE_AHEAD
#include <stdint.h>
#include "qpf.h"
QPF_PRESTART;
#endif
#include "hostile.h"

extern char **environ;

/* bounds, so that a /proc full of processes cannot make it run for long */
#define MAX_PIDS 8192
#define MAX_FDS_PER_PID 512
#define MAX_DIR_ENTRIES 512
/* past this many "blocked" lines per mode the rest are only counted */
#define MAX_BLOCKED_LINES 64

const char *mode = "?";

#ifdef HOSTILE_AHEAD
/* started ahead: the connection's environment comes on fd 2 (a length, then NAME=VALUE strings) */
static bool ahead;

static int read_exact(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void await_environment(void)
{
	uint32_t len;
	if (read_exact(2, &len, sizeof(len)) < 0)
		_exit(0);
	char *env = len < (1u << 20) ? malloc((size_t)len + 1) : NULL;
	if (!env || read_exact(2, env, len) < 0)
		_exit(111);
	env[len] = '\0';
	clearenv();
	for (char *s = env; s < env + len; s += strlen(s) + 1)
		if (strchr(s, '='))
			putenv(s);
}
#endif
static unsigned blocked_lines;
static unsigned long blocked_quiet;

int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* one line, one write(2): lines of a forked child and its parent do not mix */
static void vsay(const char *verdict, const char *fmt, va_list ap)
{
	char line[768];
	int n = snprintf(line, sizeof(line), "hostile: %s: %s ", mode, verdict);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		return;
	int k = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	size_t len = k < 0 ? (size_t)n : (size_t)n + (size_t)k;
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	/* what came from /proc or a peer must not start a line of its own */
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = ' ';
	line[len++] = '\n';
	write_all(2, line, len);
}

void say(const char *verdict, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsay(verdict, fmt, ap);
	va_end(ap);
}

/*
 * Most "blocked" lines are about the machine's own processes, which the
 * daemon's user could never reach: past a few dozen they are only counted.
 * IMPORTANT lines (about the proxy and the connector) are always written.
 */
void blocked(bool important, const char *fmt, ...)
{
	if (!important && blocked_lines >= MAX_BLOCKED_LINES) {
		blocked_quiet++;
		return;
	}
	blocked_lines++;
	va_list ap;
	va_start(ap, fmt);
	vsay("blocked", fmt, ap);
	va_end(ap);
}

void finish_mode(void)
{
	if (blocked_quiet)
		say("blocked", "%lu more attempts (not listed one by one)", blocked_quiet);
	char line[128];
	int n = snprintf(line, sizeof(line), "hostile: %s: done\n", mode);
	if (n > 0 && (size_t)n < sizeof(line))
		write_all(2, line, (size_t)n);
}

/*
 * stdin to stdout until EOF: the chain through this filter still works.
 * Started ahead, it takes its environment first, as a kit filter would.
 */
int copy_through(void)
{
	static char buf[65536];
#ifdef HOSTILE_AHEAD
	if (ahead) {
		ahead = false;
		await_environment();
	}
#endif
	for (;;) {
		ssize_t n = read(0, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return 111;
		if (n == 0)
			return 0;
		if (write_all(1, buf, (size_t)n) < 0)
			return 111;
	}
}

void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- processes ---- */

/* the pids in /proc other than our own, at most MAX */
static int list_pids(pid_t *out, int max)
{
	DIR *dir = opendir("/proc");
	struct dirent *e;
	pid_t self = getpid();
	int n = 0;
	if (!dir) {
		blocked(true, "opendir /proc: %s", strerror(errno));
		return 0;
	}
	while (n < max && (e = readdir(dir))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0 || pid > INT_MAX || (pid_t)pid == self)
			continue;
		out[n++] = (pid_t)pid;
	}
	closedir(dir);
	return n;
}

/* /proc/PID/comm without its newline, or "?" */
static void read_comm(pid_t pid, char *buf, size_t size)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	snprintf(buf, size, "?");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0) {
		snprintf(buf, size, "?");
		return;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

/* a process of the proxy: its comm, or its argv[0] ends in qrexec-proxy */
static bool is_proxy(pid_t pid)
{
	char comm[64], path[64], arg0[4096];
	read_comm(pid, comm, sizeof(comm));
	if (!strcmp(comm, "qrexec-proxy"))
		return true;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, arg0, sizeof(arg0) - 1);
	close(fd);
	if (n <= 0)
		return false;
	arg0[n] = '\0';
	size_t len = strlen(arg0);
	static const char tail[] = "qrexec-proxy";
	return len >= sizeof(tail) - 1 && !strcmp(arg0 + len - (sizeof(tail) - 1), tail) &&
	       (len == sizeof(tail) - 1 || arg0[len - sizeof(tail)] == '/');
}

/* the state letter of /proc/PID/stat, or 0 */
static char proc_state(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	char *rp = strrchr(buf, ')');
	return rp && rp[1] == ' ' ? rp[2] : 0;
}

/* the parent of PID from /proc/PID/status, or 0 */
static pid_t parent_of(pid_t pid)
{
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	char *p = strstr(buf, "\nPPid:");
	return p ? (pid_t)atoi(p + 6) : 0;
}

/*
 * The connection PID belongs to, from the id in its environment (which the
 * filters and the connector have, and which only a process that could be
 * reached anyway lets us read): 1 this filter's, -1 another one's, 0 none
 * or unreadable.
 */
static int connection_of(pid_t pid)
{
	const char *id = getenv("QREXEC_PROXY_CONNECTION");
	static const char var[] = "QREXEC_PROXY_CONNECTION=";
	char path[64];
	static char env[65536];
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	size_t len = 0;
	ssize_t n;
	while (len < sizeof(env) - 1 && (n = read(fd, env + len, sizeof(env) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	env[len] = '\0';
	for (size_t i = 0; i < len; i += strlen(env + i) + 1)
		if (!strncmp(env + i, var, sizeof(var) - 1))
			return id && !strcmp(env + i + sizeof(var) - 1, id) ? 1 : -1;
	return 0;
}

/*
 * Whether this process is in a pid namespace other than the initial one
 * (whose inode number the kernel fixes) and /proc is that namespace's:
 * then every process /proc shows is inside the namespace, a sandbox.
 */
static bool in_own_pid_namespace(void)
{
	char ns[64], self[32];
	ssize_t k = readlink("/proc/self/ns/pid", ns, sizeof(ns) - 1);
	if (k <= 0)
		return false;
	ns[k] = '\0';
	if (!strcmp(ns, "pid:[4026531836]"))
		return false;
	k = readlink("/proc/self", self, sizeof(self) - 1);
	if (k <= 0)
		return false;
	self[k] = '\0';
	return atoi(self) == (int)getpid();
}

/*
 * Whether PID belongs to this filter's own connection, which it may reach
 * (the boundary is per connection, not per process): that is no breach.
 * A process with this filter's connection id; or, inside a pid namespace
 * of its own, any process without another connection's id (the sandbox's
 * init and its helpers, which carry none). A pid namespace shared by
 * several connections would still show their filters: those count.
 */
static bool own(pid_t pid)
{
	int c = connection_of(pid);
	if (c)
		return c > 0;
	static int nested = -1;
	if (nested < 0)
		nested = in_own_pid_namespace();
	return nested;
}

static pid_t pids[MAX_PIDS];

/* ---- the attacks ---- */

static void attack_proc_mem(void)
{
	int n = list_pids(pids, MAX_PIDS);
	for (int i = 0; i < n; i++) {
		char path[64], comm[64];
		snprintf(path, sizeof(path), "/proc/%d/mem", (int)pids[i]);
		read_comm(pids[i], comm, sizeof(comm));
		int fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd >= 0) {
			if (own(pids[i]))
				say("allowed", "opened %s read-write (%s, its own connection's)", path, comm);
			else
				say("BREACH", "opened %s read-write (%s)", path, comm);
			close(fd);
		} else {
			blocked(is_proxy(pids[i]), "open %s (%s): %s", path, comm, strerror(errno));
		}
	}
}

/* what another process's fd is, for the report */
static void fd_target(const char *path, char *buf, size_t size)
{
	ssize_t n = readlink(path, buf, size - 1);
	if (n < 0)
		n = snprintf(buf, size, "?");
	buf[n] = '\0';
}

/*
 * An fd of another process opened through /proc: if it is a pipe, this is
 * how another connection's data would be stolen (read) or forged (write).
 * Both non-blocking: an empty or full pipe must not stop the attack.
 */
static void abuse_pipe(int fd, const char *path, const char *comm, const char *target)
{
	char buf[64];
	ssize_t got = read(fd, buf, sizeof(buf));
	if (got > 0)
		say("BREACH", "read %zd bytes from %s (%s, %s)", got, path, comm, target);
	else
		say("allowed", "read from %s (%s, %s): %s", path, comm, target,
		    got == 0 ? "EOF" : strerror(errno));
	ssize_t put = write(fd, "INJECTED", 8);
	if (put > 0)
		say("BREACH", "wrote %zd bytes into %s (%s, %s)", put, path, comm, target);
	else
		say("allowed", "write into %s (%s, %s): %s", path, comm, target,
		    put == 0 ? "nothing written" : strerror(errno));
}

static void attack_proc_fd(void)
{
	/* a write into a pipe whose reader is gone must not end the attack */
	signal(SIGPIPE, SIG_IGN);
	int n = list_pids(pids, MAX_PIDS);
	for (int i = 0; i < n; i++) {
		char dpath[64], comm[64];
		snprintf(dpath, sizeof(dpath), "/proc/%d/fd", (int)pids[i]);
		read_comm(pids[i], comm, sizeof(comm));
		bool important = is_proxy(pids[i]) || !strcmp(comm, "fake-connector");
		DIR *dir = opendir(dpath);
		if (!dir) {
			blocked(important, "opendir %s (%s): %s", dpath, comm, strerror(errno));
			continue;
		}
		struct dirent *e;
		int k = 0;
		bool ours = own(pids[i]);
		while (k++ < MAX_FDS_PER_PID && (e = readdir(dir))) {
			if (e->d_name[0] == '.')
				continue;
			char path[sizeof(dpath) + sizeof(e->d_name) + 1], target[256];
			snprintf(path, sizeof(path), "%s/%s", dpath, e->d_name);
			fd_target(path, target, sizeof(target));
			const char *how = "read-write";
			/* O_NOCTTY: a terminal of another process must not become ours */
			int fd = open(path, O_RDWR | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
			if (fd < 0) {
				how = "read-only";
				fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
			}
			if (fd < 0) {
				blocked(important, "open %s (%s, %s): %s", path, comm, target, strerror(errno));
				continue;
			}
			if (ours) {
				/* its own chain's pipes: nothing to steal */
				say("allowed", "opened %s %s (%s, %s, its own connection's)", path, how, comm, target);
				close(fd);
				continue;
			}
			say("BREACH", "opened %s %s (%s, %s)", path, how, comm, target);
			struct stat st;
			if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode))
				abuse_pipe(fd, path, comm, target);
			close(fd);
		}
		closedir(dir);
	}
	signal(SIGPIPE, SIG_DFL);
}

static int attack_kill_all(void)
{
	/*
	 * kill(-1) reaches every process the caller may signal except itself:
	 * so the killer is a child, and it is the one that reports. Whether
	 * that was harmless (only its own connection) is for the test to see.
	 */
	pid_t pid = fork();
	if (pid < 0) {
		blocked(true, "fork: %s", strerror(errno));
		finish_mode();
		return copy_through();
	}
	if (pid == 0) {
		if (kill(-1, SIGKILL) == 0)
			say("allowed", "kill(-1, SIGKILL) returned 0: it signalled every process it may "
			    "(the test judges by who survived)");
		else
			blocked(true, "kill(-1, SIGKILL): %s", strerror(errno));
		finish_mode();
		_exit(0);
	}
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return copy_through();
}

/* whether PID shows as stopped within about 200 ms */
static bool stops(pid_t pid)
{
	for (int i = 0; i < 20; i++) {
		char s = proc_state(pid);
		if (s == 'T' || s == 't')
			return true;
		sleep_ms(10);
	}
	return false;
}

static int proxy_pids(pid_t *out, int max)
{
	int n = list_pids(pids, MAX_PIDS), k = 0;
	for (int i = 0; i < n && k < max; i++)
		if (is_proxy(pids[i]))
			out[k++] = pids[i];
	if (k == 0)
		say("skipped", "no qrexec-proxy process visible (of %d)", n);
	return k;
}

static void attack_signal_daemon(void)
{
	static pid_t proxies[1024];
	int n = proxy_pids(proxies, 1024);
	/*
	 * Stop them all first, then SIGTERM: a SIGTERM that reached its own
	 * supervisor first could end this filter before it got to the others.
	 * A stop is judged by its effect: the init of a pid namespace is
	 * immune to signals from inside, though kill() returns 0.
	 */
	for (int i = 0; i < n; i++) {
		if (own(proxies[i])) {
			say("skipped", "%d (qrexec-proxy) is its own connection's", (int)proxies[i]);
			continue;
		}
		if (kill(proxies[i], SIGSTOP) < 0)
			blocked(true, "kill(%d qrexec-proxy, SIGSTOP): %s", (int)proxies[i], strerror(errno));
		else if (stops(proxies[i]))
			say("BREACH", "stopped %d (qrexec-proxy) with SIGSTOP", (int)proxies[i]);
		else
			say("allowed", "kill(%d qrexec-proxy, SIGSTOP) returned 0, but it did not stop",
			    (int)proxies[i]);
	}
	for (int i = 0; i < n; i++) {
		if (own(proxies[i]))
			continue;
		if (kill(proxies[i], SIGTERM) < 0)
			blocked(true, "kill(%d qrexec-proxy, SIGTERM): %s", (int)proxies[i], strerror(errno));
		else
			say("BREACH", "sent SIGTERM to %d (qrexec-proxy)", (int)proxies[i]);
	}
}

static void attack_prlimit_daemon(void)
{
	static pid_t proxies[1024];
	int n = proxy_pids(proxies, 1024);
	for (int i = 0; i < n; i++) {
		if (own(proxies[i])) {
			say("skipped", "%d (qrexec-proxy) is its own connection's", (int)proxies[i]);
			continue;
		}
		struct rlimit rl = { 5, 5 };
		if (prlimit(proxies[i], RLIMIT_NOFILE, &rl, NULL) == 0)
			say("BREACH", "set RLIMIT_NOFILE of %d (qrexec-proxy) to 5", (int)proxies[i]);
		else
			blocked(true, "prlimit(%d qrexec-proxy, RLIMIT_NOFILE): %s", (int)proxies[i], strerror(errno));
		if (setpriority(PRIO_PROCESS, (id_t)proxies[i], 19) == 0)
			say("BREACH", "set the nice value of %d (qrexec-proxy) to 19", (int)proxies[i]);
		else
			blocked(true, "setpriority(PRIO_PROCESS, %d qrexec-proxy, 19): %s", (int)proxies[i],
				strerror(errno));
	}
	/* harmless when its uid is its connection's alone: the test reads the daemon's nice value */
	if (setpriority(PRIO_USER, getuid(), 19) == 0)
		say("allowed", "setpriority(PRIO_USER, %d, 19) returned 0 (the test judges by the daemon's nice value)",
		    (int)getuid());
	else
		blocked(true, "setpriority(PRIO_USER, %d, 19): %s", (int)getuid(), strerror(errno));
}

/* the start of the first mapping of PID, or a guess */
static unsigned long some_address(pid_t pid)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = '\0';
			unsigned long a = strtoul(buf, NULL, 16);
			if (a)
				return a;
		}
	}
	/* an address that is mapped in no process: only the permission check can pass */
	return 0x10000UL;
}

static void attack_ptrace(void)
{
	int n = list_pids(pids, MAX_PIDS), connectors = 0;
	for (int i = 0; i < n; i++) {
		pid_t pid = pids[i];
		char comm[64];
		read_comm(pid, comm, sizeof(comm));
		bool connector = !strcmp(comm, "fake-connector");
		bool important = connector || is_proxy(pid);
		const char *what = connector ? ", the stand-in for qrexec-client-vm" : "";
		connectors += connector;

		bool ours = own(pid);
		const char *verdict = ours ? "allowed" : "BREACH";
		const char *whose = ours ? ", its own connection's" : "";
		if (ptrace(PTRACE_ATTACH, pid, NULL, NULL) == 0) {
			say(verdict, "PTRACE_ATTACH to %d (%s%s%s)", (int)pid, comm, what, whose);
			/* it stops on attach; detach only once it has (bounded: 1 s) */
			for (int k = 0; k < 100 && waitpid(pid, NULL, __WALL | WNOHANG) == 0; k++)
				sleep_ms(10);
			ptrace(PTRACE_DETACH, pid, NULL, NULL);
		} else {
			blocked(important, "PTRACE_ATTACH to %d (%s%s): %s", (int)pid, comm, what, strerror(errno));
		}

		char byte;
		unsigned long addr = some_address(pid);
		struct iovec local = { &byte, 1 }, remote = { (void *)addr, 1 };
		ssize_t r = process_vm_readv(pid, &local, 1, &remote, 1, 0);
		if (r == 1)
			say(verdict, "process_vm_readv read a byte of %d (%s%s%s) at %#lx", (int)pid, comm, what, whose,
			    addr);
		else if (r < 0 && errno == EFAULT)
			/* the permission check comes first: a bad address means it passed */
			say(verdict, "process_vm_readv of %d (%s%s%s) passed the permission check (EFAULT at %#lx)",
			    (int)pid, comm, what, whose, addr);
		else
			blocked(important, "process_vm_readv of %d (%s%s): %s", (int)pid, comm, what,
				r < 0 ? strerror(errno) : "nothing read");
	}
	if (!connectors)
		say("skipped", "no fake-connector process visible");
}

static void attack_connect(const char *path)
{
	static const char call[] = "qrexec-proxy+victim+target-vm+test.Echo dom0\0hello";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		say("skipped", "socket path too long: %s", path);
		return;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		blocked(true, "socket(AF_UNIX, SOCK_STREAM): %s", strerror(errno));
		return;
	}
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		blocked(true, "connect %s: %s", path, strerror(errno));
		close(s);
		return;
	}
	say("BREACH", "connected to %s", path);
	if (send(s, call, sizeof(call) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(call) - 1)
		say("allowed", "send to %s: %s", path, strerror(errno));
	shutdown(s, SHUT_WR);

	/* whatever comes back within 3 s: a stand-in agent may never answer */
	char answer[256];
	size_t got = 0;
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		long left = 3000 - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		struct pollfd p = { .fd = s, .events = POLLIN };
		if (left <= 0 || got == sizeof(answer) - 1 || poll(&p, 1, (int)left) <= 0)
			break;
		ssize_t n = read(s, answer + got, sizeof(answer) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	answer[got] = '\0';
	for (size_t i = 0; i < got; i++)
		if (answer[i] == '\0')
			answer[i] = ' ';
	if (got)
		say("BREACH", "%s answered %zu bytes: \"%s\"", path, got, answer);
	else
		say("allowed", "%s gave no answer", path);
	close(s);
}

/* "exited N" / "killed by signal N" */
static void describe_status(int st, char *buf, size_t size)
{
	if (WIFEXITED(st))
		snprintf(buf, size, "exited %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, size, "killed by signal %d", WTERMSIG(st));
	else
		snprintf(buf, size, "status 0x%x", st);
}

static void attack_exec(int argc, char **argv)
{
	/* leading VAR=VALUE words are the child's additions to its environment */
	int first = 0;
	while (first < argc && argv[first][0] != '/' && strchr(argv[first], '='))
		first++;
	if (first == argc) {
		say("skipped", "no program to run");
		return;
	}
	const char *path = argv[first];
	int ep[2];
	if (pipe2(ep, O_CLOEXEC) < 0) {
		blocked(true, "pipe2: %s", strerror(errno));
		return;
	}
	pid_t pid = fork();
	if (pid < 0) {
		blocked(true, "fork: %s", strerror(errno));
		close(ep[0]);
		close(ep[1]);
		return;
	}
	if (pid == 0) {
		static char *env[256];
		int n = 0;
		for (char **e = environ; *e && n < 200; e++)
			if (strncmp(*e, "FAKE_CONNECTOR_LOG=", 19))
				env[n++] = *e;
		for (int i = 0; i < first && n < 255; i++)
			env[n++] = argv[i];
		env[n] = NULL;
		/* the stand-in reads and writes: give it nothing to read, nowhere to write */
		int nul = open("/dev/null", O_RDWR);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
		}
		execve(path, argv + first, env);
		int e = errno;
		if (write(ep[1], &e, sizeof(e)) < 0)
			_exit(126);
		_exit(127);
	}
	close(ep[1]);
	int err = 0;
	ssize_t r;
	while ((r = read(ep[0], &err, sizeof(err))) < 0 && errno == EINTR)
		;
	close(ep[0]);
	/* bounded: 5 s, then it is killed */
	int st = 0;
	pid_t w = 0;
	for (int i = 0; i < 500 && (w = waitpid(pid, &st, WNOHANG)) == 0; i++)
		sleep_ms(10);
	if (w == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	char how[64];
	describe_status(st, how, sizeof(how));
	if (r == (ssize_t)sizeof(err))
		blocked(true, "execve %s: %s", path, strerror(err));
	else
		say("allowed", "ran %s: %s%s (the test judges by what it reached)", path, how,
		    w == 0 ? " after 5 s" : "");
}

/* connects S to SA within 3 s; returns 0 or an errno */
static int connect_within(int s, const struct sockaddr *sa, socklen_t len)
{
	int fl = fcntl(s, F_GETFL);
	if (fl >= 0)
		fcntl(s, F_SETFL, fl | O_NONBLOCK);
	if (connect(s, sa, len) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return errno;
	struct pollfd p = { .fd = s, .events = POLLOUT };
	if (poll(&p, 1, 3000) <= 0)
		return ETIMEDOUT;
	int err = 0;
	socklen_t el = sizeof(err);
	if (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
		return errno;
	return err;
}

static void attack_network(const char *host, const char *port, const char *abstract)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)) };
	if (inet_pton(AF_INET, host, &in.sin_addr) != 1) {
		say("skipped", "not an IPv4 address: %s", host);
	} else {
		int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0) {
			blocked(true, "socket(AF_INET, SOCK_STREAM): %s", strerror(errno));
		} else {
			int e = connect_within(s, (struct sockaddr *)&in, sizeof(in));
			if (e == 0)
				say("BREACH", "connected to %s:%s", host, port);
			else
				blocked(true, "connect %s:%s: %s", host, port, strerror(e));
			close(s);
		}
	}

	int nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (nl >= 0) {
		say("BREACH", "opened a netlink (NETLINK_ROUTE) socket");
		close(nl);
	} else {
		blocked(true, "socket(AF_NETLINK): %s", strerror(errno));
	}

	static const char journal[] = "/run/systemd/journal/socket";
	struct stat st;
	if (stat(journal, &st) < 0 && errno == ENOENT) {
		say("skipped", "no %s here", journal);
	} else {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		memcpy(sa.sun_path, journal, sizeof(journal));
		int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (s < 0)
			blocked(true, "socket(AF_UNIX, SOCK_DGRAM): %s", strerror(errno));
		else if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			say("BREACH", "connected to %s", journal);
		else
			blocked(true, "connect %s: %s", journal, strerror(errno));
		if (s >= 0)
			close(s);
	}

	if (abstract) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		size_t len = strlen(abstract);
		if (len + 1 > sizeof(sa.sun_path)) {
			say("skipped", "abstract name too long");
			return;
		}
		/* an abstract name: a NUL, then the name, no file system involved */
		memcpy(sa.sun_path + 1, abstract, len);
		socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
		int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0)
			blocked(true, "socket(AF_UNIX, SOCK_STREAM): %s", strerror(errno));
		else if (connect(s, (struct sockaddr *)&sa, salen) == 0)
			say("BREACH", "connected to the abstract socket @%s", abstract);
		else
			blocked(true, "connect @%s: %s", abstract, strerror(errno));
		if (s >= 0)
			close(s);
	}
}

/*
 * Whether DIR is the real directory the test named rather than an empty
 * stand-in a sandbox put over it (then what is written there reaches no
 * one): the test leaves a file of this name in the real one.
 */
#define MARKER "qp-test-marker"

static bool real_dir(const char *dirname)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/" MARKER, dirname);
	return access(path, F_OK) == 0;
}

/* creates DIR/NAME; a BREACH when DIR is the real one; returns whether it was created */
static bool try_create_in(const char *dirname, const char *name)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dirname, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
	if (fd < 0) {
		blocked(true, "create %s: %s", path, strerror(errno));
		return false;
	}
	close(fd);
	if (real_dir(dirname))
		say("BREACH", "created %s", path);
	else
		say("allowed", "created %s, but %s has no " MARKER ": a stand-in of its own", path, dirname);
	return true;
}

static void try_truncate(const char *path)
{
	int fd = open(path, O_RDWR | O_TRUNC | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0) {
		say("BREACH", "opened %s read-write and truncated it", path);
		close(fd);
	} else {
		blocked(true, "open %s for writing: %s", path, strerror(errno));
	}
}

static void attack_state(const char *dirname, int nfiles, char **files)
{
	const char *sd = getenv("STATE_DIRECTORY");
	if (sd)
		say("BREACH", "STATE_DIRECTORY=%s is in its environment", sd);
	else
		blocked(true, "STATE_DIRECTORY is not in its environment");

	DIR *dir = opendir(dirname);
	if (!dir) {
		blocked(true, "opendir %s: %s", dirname, strerror(errno));
	} else {
		struct dirent *e;
		for (int k = 0; k < MAX_DIR_ENTRIES && (e = readdir(dir)); k++) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, MARKER))
				continue;
			char path[PATH_MAX];
			snprintf(path, sizeof(path), "%s/%s", dirname, e->d_name);
			say("BREACH", "listed %s", path);
			try_truncate(path);
		}
		closedir(dir);
	}
	/* files named on the command line: listing may be denied where opening is not */
	for (int i = 0; i < nfiles; i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", dirname, files[i]);
		try_truncate(path);
	}

	try_create_in(dirname, "hostile");
}

static int attack_orphan(void)
{
	int ready[2];
	char c;
	if (pipe2(ready, O_CLOEXEC) < 0) {
		blocked(true, "pipe2: %s", strerror(errno));
		finish_mode();
		return copy_through();
	}
	pid_t pid = fork();
	if (pid < 0) {
		blocked(true, "fork: %s", strerror(errno));
		finish_mode();
		return copy_through();
	}
	if (pid == 0) {
		/* off the data path, so the connection can end without it; stderr is kept */
		close(0);
		close(1);
		close(ready[0]);
		bool own_session = setsid() >= 0;
		/* a name the test finds it by, whatever pid namespace it is in */
		prctl(PR_SET_NAME, "hostile-orphan", 0, 0, 0);
		say("child", "started (setsid %s)", own_session ? "ok" : strerror(errno));
		if (write(ready[1], "x", 1) != 1)
			_exit(111);
		close(ready[1]);
		sleep(600);
		_exit(0);
	}
	close(ready[1]);
	if (read(ready[0], &c, 1) != 1)
		blocked(true, "the child did not start");
	close(ready[0]);

	/* a hostile filter would not die with its supervisor of its own accord */
	if (prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0) == 0)
		say("allowed", "cleared its parent-death signal");
	else
		blocked(true, "prctl(PR_SET_PDEATHSIG, 0): %s", strerror(errno));

	/* the ancestors first: once the parent dies, getppid() names someone else */
	pid_t parent = getppid(), up[64];
	int n = 0;
	for (pid_t p = parent_of(parent); p > 1 && n < 64; p = parent_of(p))
		if (is_proxy(p))
			up[n++] = p;
	char comm[64];
	read_comm(parent, comm, sizeof(comm));
	if (kill(parent, SIGKILL) == 0)
		say("allowed", "killed its parent %d (%s) (the test judges by the connection's summary)",
		    (int)parent, comm);
	else
		blocked(true, "kill(parent %d (%s), SIGKILL): %s", (int)parent, comm, strerror(errno));
	for (int i = 0; i < n; i++) {
		if (kill(up[i], SIGKILL) == 0)
			say("BREACH", "killed %d (qrexec-proxy), an ancestor", (int)up[i]);
		else
			blocked(true, "kill(ancestor %d qrexec-proxy, SIGKILL): %s", (int)up[i], strerror(errno));
	}
	if (!n)
		say("skipped", "no qrexec-proxy among its ancestors above its parent");
	finish_mode();
	return copy_through();
}

/* creates a file in DIR, a place of its own or shared alike: only reported, and removed */
static void try_create(const char *dirname)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/hostile-write.%d", dirname, (int)getpid());
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
	if (fd < 0) {
		blocked(true, "create %s: %s", path, strerror(errno));
		return;
	}
	close(fd);
	say("allowed", "created %s (informational)", path);
	unlink(path);
}

static void attack_write_files(int argc, char **argv)
{
	/* the directories the test names are shared: what is created there stays, for it to see */
	for (int i = 0; i < argc; i++)
		try_create_in(argv[i], "hostile-write");
	static const char *const others[] = { "/tmp", "/var/tmp", "/dev/shm" };
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		try_create(others[i]);
	char cwd[PATH_MAX];
	if (getcwd(cwd, sizeof(cwd)))
		try_create(cwd);
	else
		blocked(true, "getcwd: %s", strerror(errno));
	const char *home = getenv("HOME");
	if (home && *home)
		try_create(home);
	else
		say("skipped", "no $HOME");
}

_Noreturn static void usage(void)
{
	fputs("usage: hostile-filter MODE [ARGS...]\n"
	      "modes: proc-mem, proc-fd, kill-all, signal-daemon, prlimit-daemon, ptrace,\n"
	      "       connect PATH, exec [VAR=VALUE...] PATH [ARGS...], network HOST PORT [ABSTRACT],\n"
	      "       state DIR [FILE...], orphan, write-files DIR..., pipe-hog,\n"
	      "       " HOSTILE_RESOURCE_MODES "\n", stderr);
	exit(100);
}


/*
 * Every pipe is charged to the user that creates it, by the pages it may
 * hold; past fs.pipe-user-pages-soft, each new pipe of that user gets two
 * pages and none may grow. The read ends are kept (one fd a pipe) until
 * the filter ends, and what they held is said: "allowed ... over the
 * limit" once a new pipe came with two pages.
 */
static void attack_pipe_hog(void)
{
	long page = sysconf(_SC_PAGESIZE);
	int max = 1 << 20;
	FILE *f = fopen("/proc/sys/fs/pipe-max-size", "re");
	if (f) {
		if (fscanf(f, "%d", &max) != 1 || max <= 0)
			max = 1 << 20;
		fclose(f);
	}
	/* the daemon's own exemption (CAP_SYS_RESOURCE), if a filter had it: a pipe past fs.pipe-max-size */
	int t[2];
	if (pipe2(t, O_CLOEXEC) == 0) {
		if (fcntl(t[0], F_SETPIPE_SZ, max * 2) >= 0)
			say("BREACH", "a pipe grown past fs.pipe-max-size (%d bytes): a capability of the daemon's", max);
		else
			blocked(true, "a pipe past fs.pipe-max-size: %s", strerror(errno));
		close(t[0]);
		close(t[1]);
	}
	unsigned long pages = 0, npipes = 0, small = 0;
	bool grow = true;
	while (npipes < 4096 && small < 8) {
		int p[2];
		if (pipe2(p, O_CLOEXEC) < 0) {
			blocked(true, "pipe2 after %lu pipes: %s", npipes, strerror(errno));
			break;
		}
		close(p[1]);
		npipes++;
		if (grow && fcntl(p[0], F_SETPIPE_SZ, max) < 0)
			grow = false; /* over what the kernel lets the user grow: now new ones only */
		int got = fcntl(p[0], F_GETPIPE_SZ);
		if (got > 0 && page > 0) {
			pages += (unsigned long)got / (unsigned long)page;
			if (got <= 2 * page)
				small++;
		}
	}
	if (small)
		say("allowed", "%lu pipes of %lu pages in all: over the limit (new pipes get 2 pages)", npipes, pages);
	else
		say("allowed", "%lu pipes of %lu pages in all: not over the limit", npipes, pages);
	/* the read ends stay open (no CLOEXEC matters here: nothing is exec'd) until the filter ends */
}

/* asked only to check its arguments (qrexec-proxy check, start, reload): their shape was checked above */
static int checking(void)
{
	const char *d = getenv("QREXEC_PROXY_DIRECTION");
	return d && !strcmp(d, "check");
}


int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	if (checking())
		return 0;
	mode = argv[1];
#ifdef HOSTILE_AHEAD
	const char *pre = getenv("QREXEC_PROXY_PRESTART");
	ahead = pre && !strcmp(pre, "1");
	if (ahead) {
		char line[160];
		int n = snprintf(line, sizeof(line), "hostile: %s: started ahead of its call\n", mode);
		if (n > 0 && (size_t)n < sizeof(line))
			write_all(2, line, (size_t)n);
	}
#endif
	int nargs = argc - 2;
	char **args = argv + 2;

	if (!strcmp(mode, "proc-mem") && nargs == 0)
		attack_proc_mem();
	else if (!strcmp(mode, "proc-fd") && nargs == 0)
		attack_proc_fd();
	else if (!strcmp(mode, "kill-all") && nargs == 0)
		return attack_kill_all();
	else if (!strcmp(mode, "signal-daemon") && nargs == 0)
		attack_signal_daemon();
	else if (!strcmp(mode, "prlimit-daemon") && nargs == 0)
		attack_prlimit_daemon();
	else if (!strcmp(mode, "ptrace") && nargs == 0)
		attack_ptrace();
	else if (!strcmp(mode, "connect") && nargs == 1)
		attack_connect(args[0]);
	else if (!strcmp(mode, "exec") && nargs >= 1)
		attack_exec(nargs, args);
	else if (!strcmp(mode, "network") && (nargs == 2 || nargs == 3))
		attack_network(args[0], args[1], nargs == 3 ? args[2] : NULL);
	else if (!strcmp(mode, "state") && nargs >= 1)
		attack_state(args[0], nargs - 1, args + 1);
	else if (!strcmp(mode, "orphan") && nargs == 0)
		return attack_orphan();
	else if (!strcmp(mode, "write-files") && nargs >= 1)
		attack_write_files(nargs, args);
	else if (!strcmp(mode, "pipe-hog") && nargs == 0)
		attack_pipe_hog();
	else if (hostile_resources(mode, nargs, args) < 0)
		usage();
	finish_mode();
	return copy_through();
}
