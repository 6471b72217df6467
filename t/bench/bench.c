/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * make bench: qrexec-proxy against no proxy and against plain cat pipes,
 * side by side in one run, medians of several runs, printed as ratios.
 * Absolute figures are printed too, but only the ratios mean anything on a
 * shared machine. Two baselines without a proxy: "direct", the destination
 * reading the caller's socket, and "direct pipe", the caller writing into a
 * pipe the destination splices from (no proxy can beat that one).
 *
 *   bench [--runs N] [--gib N] [--connections N] [--quick] [--pipe-size N] [--pipe-memory N]
 *         [--concurrent N] [--throughput-only|--setup-only|--concurrent-only|--calls-only]
 *
 * Sections: throughput of one connection; of 64 at once against one;
 * connection set-up; one whole call, and calls at a pace; what the proxy
 * adds to a call in process starts measured in the same run (percall.c);
 * what one process start costs here (set-up is mostly process starts);
 * memory.
 *
 * Needs QP_BUILDDIR (set by make bench).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "bench.h"

const char *B;
char dir[256], sockpath[300];
static char logpath[300], confpath[300];
static pid_t daemon_pid;
int runs = 5;
static uint64_t xfer_bytes = 1ULL << 30;
int nconn = 300;
static int nconc = 64;          /* connections at once for the aggregate throughput */
static char zeros[1 << 20];
static const char *pipe_size;   /* --pipe-size for the daemon, or NULL for its default */
static const char *pipe_memory; /* --pipe-memory for the daemon, or NULL for its default */
static int throughput_only;
static int concurrent_only;
static int setup_only;
static int calls_only;

double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

_Noreturn void fail(const char *what)
{
	fprintf(stderr, "bench: %s: %s\n", what, strerror(errno));
	if (daemon_pid > 0)
		kill(daemon_pid, SIGKILL);
	exit(111);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double minimum(const double *v, int n)
{
	double m = v[0];
	for (int i = 1; i < n; i++)
		m = v[i] < m ? v[i] : m;
	return m;
}

double maximum(const double *v, int n)
{
	double m = v[0];
	for (int i = 1; i < n; i++)
		m = v[i] > m ? v[i] : m;
	return m;
}

static void write_all(int fd, const void *p, size_t len)
{
	const char *c = p;
	while (len) {
		ssize_t n = write(fd, c, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fail("write");
		}
		c += n;
		len -= (size_t)n;
	}
}

static void send_bytes(int fd, uint64_t n)
{
	while (n) {
		size_t k = n < sizeof(zeros) ? (size_t)n : sizeof(zeros);
		write_all(fd, zeros, k);
		n -= k;
	}
}

static void wait_eof(int fd)
{
	char buf[4096];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) != 0)
		if (n < 0 && errno != EINTR)
			fail("read");
}

static pid_t spawn(const char *const *argv, int in, int out)
{
	pid_t pid = fork();
	if (pid < 0)
		fail("fork");
	if (pid == 0) {
		if (in >= 0)
			dup2(in, 0);
		if (out >= 0)
			dup2(out, 1);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/* the cgroup.procs the next daemon joins before it execs (a subtree of its own to divide), or NULL */
static const char *join_procs;

/*
 * A cgroup v2 of its own for a daemon with --connection-cgroup yes (root
 * only): its cgroup.procs into PROCS, its directory into DIRP. 0, or -1
 * where there is none (no v2 hierarchy, not root).
 */
static int bench_cgroup(char *procs, size_t size, char *dirp, size_t dsize)
{
	static const char *const roots[] = { "/sys/fs/cgroup/unified", "/sys/fs/cgroup" };
	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		char probe[320];
		snprintf(probe, sizeof(probe), "%s/cgroup.subtree_control", roots[i]);
		if (access(probe, W_OK) < 0)
			continue;
		snprintf(dirp, dsize, "%s/qp-bench-%d", roots[i], (int)getpid());
		if (mkdir(dirp, 0755) < 0)
			continue;
		snprintf(procs, size, "%s/cgroup.procs", dirp);
		return 0;
	}
	return -1;
}

/* a daemon on SOCK logging to LOG, with the sandboxes of ISOLATION (NULL: the default), and EXTRA (or NULL) */
pid_t start_daemon_at(const char *sock, const char *log, const char *isolation, const char *extra)
{
	char prog[512];
	snprintf(prog, sizeof(prog), "%s/qrexec-proxy", B);
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 2);
		if (join_procs) {
			int cg = open(join_procs, O_WRONLY);
			if (cg < 0 || write(cg, "0", 1) != 1)
				_exit(126);
			close(cg);
		}
		/* every call comes from one source, bench-src: no per-source limit in the way */
		const char *argv[24] = { prog, "serve", "--config", confpath, "--socket", sock, "--log", "stderr",
					 "--allow-root", "--max-connections", "512", "--max-per-source", "512",
					 "--max-queued-per-source", "512" };
		int n = 15;
		if (pipe_size) {
			argv[n++] = "--pipe-size";
			argv[n++] = pipe_size;
		}
		if (pipe_memory) {
			argv[n++] = "--pipe-memory";
			argv[n++] = pipe_memory;
		}
		if (isolation) {
			argv[n++] = "--isolation";
			argv[n++] = isolation;
		}
		if (extra)
			argv[n++] = extra;
		argv[n] = NULL;
		execv(prog, (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		char buf[4096] = "";
		int fd = open(log, O_RDONLY);
		if (fd >= 0) {
			ssize_t n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			if (n > 0 && strstr(buf, "serving"))
				return pid;
		}
		usleep(10000);
	}
	errno = ETIMEDOUT;
	fail("starting the daemon");
	return -1;
}

static void start_daemon(void)
{
	daemon_pid = start_daemon_at(sockpath, logpath, NULL, NULL);
}

static int call_at(const char *sock, const char *chain, const char *service);

/*
 * One whole call, connect to the end of the answer, in seconds: through
 * the daemon on SOCK (CHAIN), or, with SOCK NULL, the connector called
 * directly (what a caller without the proxy would do).
 */
double whole_call(const char *sock, const char *chain)
{
	char sink[512];
	snprintf(sink, sizeof(sink), "%s/t/bench/sink", B);
	const char *argv[] = { sink, "bench-dst", "bench.First", NULL };
	pid_t p = -1;
	int fd, sv[2];
	double t0 = now();
	if (sock) {
		fd = call_at(sock, chain, "bench.First");
	} else {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
			fail("socketpair");
		p = spawn(argv, sv[1], sv[1]);
		close(sv[1]);
		fd = sv[0];
	}
	write_all(fd, "x", 1);
	shutdown(fd, SHUT_WR);
	wait_eof(fd);
	double t = now() - t0;
	close(fd);
	if (p > 0)
		waitpid(p, NULL, 0);
	return t;
}

static int call(const char *chain, const char *service)
{
	return call_at(sockpath, chain, service);
}

static int call_at(const char *sock, const char *chain, const char *service)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char desc[256];
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fail("socket");
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fail("connect");
	int len = snprintf(desc, sizeof(desc), "qrexec-proxy+%s+bench-dst+%s bench-src", chain, service);
	write_all(fd, desc, (size_t)len + 1);
	return fd;
}

/* ---- throughput ---- */

static double through_proxy(const char *chain)
{
	double t0 = now();
	int fd = call(chain, "bench.Sink");
	send_bytes(fd, xfer_bytes);
	shutdown(fd, SHUT_WR);
	wait_eof(fd);
	close(fd);
	return now() - t0;
}

/* How many of the daemon's children are connections (any but the spare supervisor, "qp-spare" while it waits) */
static int connections_left(void)
{
	char path[64], comm[32];
	int n = 0, child;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)daemon_pid, (int)daemon_pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	while (fscanf(f, "%d", &child) == 1) {
		snprintf(path, sizeof(path), "/proc/%d/comm", child);
		FILE *c = fopen(path, "r");
		if (!c)
			continue; /* just gone */
		if (!fgets(comm, sizeof(comm), c) || strcmp(comm, "qp-spare\n") != 0)
			n++;
		fclose(c);
	}
	fclose(f);
	return n;
}

/*
 * Waits until the daemon is at rest: no connection's processes left. A
 * measurement that starts while the last one's 64 connections still end
 * would share the machine with their exits.
 */
static void quiesce(void)
{
	double t0 = now();
	int n;
	while ((n = connections_left()) > 0) {
		if (now() - t0 > 60) {
			fprintf(stderr, "bench: %d connections still there after 60 s\n", n);
			return;
		}
		usleep(2000);
	}
}

/*
 * N transfers at once, XFER_BYTES in all (each its share), every caller a
 * process of its own: OPEN sets one up for a share of EACH bytes (returns
 * its fd, and a helper process to wait for, or -1). Every transfer is set
 * up first, then all send at once; each waits for the destination's count
 * of the bytes it read (checked; the destination answers as soon as the
 * share is in). Only when every count is in do they end their connections
 * (FINISH: half-close, the count at EOF checked again, the end): so no
 * connection's ending (the EOF through every filter, which ends it, its
 * processes exiting, its sandbox going) shares the machine with another's
 * data. Two times from the go: *DATA to the last count in (the bytes all
 * delivered: the throughput), *END to the last connection's end.
 */
struct transfer_kind {
	int (*open)(const char *chain, uint64_t each, pid_t *helper);
	void (*finish)(int fd, pid_t helper, uint64_t sent);
};

static void read_count(int fd, uint64_t sent);

static void concurrent(const struct transfer_kind *k, const char *chain, int n, double *data, double *end)
{
	uint64_t each = xfer_bytes / (uint64_t)n;
	pid_t *kids = calloc((size_t)n, sizeof(pid_t));
	int go[2], ready[2], times[2], release[2];
	if (!kids || pipe(go) < 0 || pipe(ready) < 0 || pipe(times) < 0 || pipe(release) < 0)
		fail("concurrent");
	quiesce();
	for (int i = 0; i < n; i++) {
		kids[i] = fork();
		if (kids[i] < 0)
			fail("fork");
		if (kids[i] == 0) {
			char c;
			pid_t helper = -1;
			double t;
			close(go[1]);
			close(ready[0]);
			close(times[0]);
			close(release[1]);
			int fd = k->open(chain, each, &helper);
			write_all(ready[1], "r", 1);
			if (read(go[0], &c, 1) != 0)
				_exit(1);
			send_bytes(fd, each);
			read_count(fd, each);
			/* 8 bytes: one write, never mixed with another caller's */
			t = now();
			write_all(times[1], &t, sizeof(t));
			if (read(release[0], &c, 1) != 0)
				_exit(1);
			k->finish(fd, helper, each);
			t = now();
			write_all(times[1], &t, sizeof(t));
			_exit(0);
		}
	}
	close(go[0]);
	close(ready[1]);
	close(times[1]);
	close(release[0]);
	for (int i = 0; i < n; i++) {
		char c;
		if (read(ready[0], &c, 1) != 1) {
			errno = EIO;
			fail("a concurrent caller's set-up");
		}
	}
	close(ready[0]);
	double t0 = now(), last[2] = { t0, t0 };
	close(go[1]);
	for (int phase = 0; phase < 2; phase++) {
		for (int i = 0; i < n; i++) {
			double t;
			if (read(times[0], &t, sizeof(t)) != (ssize_t)sizeof(t)) {
				errno = EIO;
				fail("a concurrent caller");
			}
			last[phase] = t > last[phase] ? t : last[phase];
		}
		if (phase == 0)
			close(release[1]);
	}
	for (int i = 0; i < n; i++) {
		int st;
		if (waitpid(kids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			errno = EIO;
			fail("a concurrent caller");
		}
	}
	close(times[0]);
	free(kids);
	double scale = (double)xfer_bytes / (double)(each * (uint64_t)n);
	*data = (last[0] - t0) * scale;
	*end = (last[1] - t0) * scale;
}

/* the destination's count of the bytes it read: SENT and the first one */
static void read_count(int fd, uint64_t sent)
{
	uint64_t got = 0;
	for (size_t k = 0; k < sizeof(got);) {
		ssize_t r = read(fd, (char *)&got + k, sizeof(got) - k);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			_exit(1);
		k += (size_t)r;
	}
	if (got != sent + 1) {
		fprintf(stderr, "bench: the destination read %llu bytes, not %llu\n", (unsigned long long)got,
			(unsigned long long)sent + 1);
		_exit(1);
	}
}

/* through the daemon: set up once its first byte is answered by the destination */
static int open_proxy(const char *chain, uint64_t each, pid_t *helper)
{
	int64_t t;
	char service[64];
	*helper = -1;
	snprintf(service, sizeof(service), "bench.Count+%llu", (unsigned long long)each);
	int fd = call(chain, service);
	write_all(fd, "x", 1);
	for (size_t got = 0; got < sizeof(t);) {
		ssize_t k = read(fd, (char *)&t + got, sizeof(t) - got);
		if (k <= 0)
			_exit(1);
		got += (size_t)k;
	}
	return fd;
}

static void finish_proxy(int fd, pid_t helper, uint64_t sent)
{
	(void)helper;
	shutdown(fd, SHUT_WR);
	read_count(fd, sent);
	wait_eof(fd);
}

/* no proxy: the caller's socket straight into a destination of its own */
static int open_direct(const char *chain, uint64_t each, pid_t *helper)
{
	char sink[512], service[64];
	int sv[2];
	int64_t t;
	(void)chain;
	snprintf(sink, sizeof(sink), "%s/t/bench/sink", B);
	snprintf(service, sizeof(service), "bench.Count+%llu", (unsigned long long)each);
	const char *argv[] = { sink, "bench-dst", service, NULL };
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		_exit(1);
	*helper = spawn(argv, sv[1], sv[1]);
	close(sv[1]);
	write_all(sv[0], "x", 1);
	for (size_t got = 0; got < sizeof(t);) {
		ssize_t k = read(sv[0], (char *)&t + got, sizeof(t) - got);
		if (k <= 0)
			_exit(1);
		got += (size_t)k;
	}
	return sv[0];
}

static void finish_direct(int fd, pid_t helper, uint64_t sent)
{
	shutdown(fd, SHUT_WR);
	read_count(fd, sent);
	close(fd);
	waitpid(helper, NULL, 0);
}

static const struct transfer_kind via_proxy = { open_proxy, finish_proxy };
static const struct transfer_kind via_direct = { open_direct, finish_direct };

/* the same transfer with no proxy: the caller's socket straight into the destination */
static double through_direct(void)
{
	char sink[512];
	int sv[2];
	snprintf(sink, sizeof(sink), "%s/t/bench/sink", B);
	const char *argv[] = { sink, "bench-dst", "bench.Sink", NULL };
	double t0 = now();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		fail("socketpair");
	pid_t p = spawn(argv, sv[1], -1);
	close(sv[1]);
	send_bytes(sv[0], xfer_bytes);
	close(sv[0]);
	waitpid(p, NULL, 0);
	return now() - t0;
}

/*
 * The same transfer with no proxy, into a pipe the destination splices
 * from: the fastest a destination can take bytes here (the direct socket
 * above makes it read(2), a copy the proxy's pipes avoid). The pipe gets
 * the daemon's pipe size (1 MiB unless --pipe-size), so only the proxy's
 * hops differ.
 */
static double through_direct_pipe(void)
{
	char sink[512];
	int p[2];
	snprintf(sink, sizeof(sink), "%s/t/bench/sink", B);
	const char *argv[] = { sink, "bench-dst", "bench.Sink", NULL };
	double t0 = now();
	if (pipe2(p, O_CLOEXEC) < 0)
		fail("pipe");
	int size = pipe_size ? atoi(pipe_size) : 1 << 20;
	if (size > 0)
		fcntl(p[1], F_SETPIPE_SZ, size);
	pid_t c = spawn(argv, p[0], -1);
	close(p[0]);
	send_bytes(p[1], xfer_bytes);
	close(p[1]);
	waitpid(c, NULL, 0);
	return now() - t0;
}

/* the same transfer through N plain cat processes */
static double through_cats(int n)
{
	char sink[512];
	int sv[2];
	pid_t pids[16];
	snprintf(sink, sizeof(sink), "%s/t/bench/sink", B);
	const char *sargv[] = { sink, "bench-dst", "bench.Sink", NULL };
	const char *cargv[] = { "/bin/cat", NULL };
	double t0 = now();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		fail("socketpair");
	int in = sv[1];
	for (int i = 0; i < n; i++) {
		int p[2];
		if (pipe2(p, O_CLOEXEC) < 0)
			fail("pipe");
		pids[i] = spawn(cargv, in, p[1]);
		close(in);
		close(p[1]);
		in = p[0];
	}
	pid_t s = spawn(sargv, in, -1);
	close(in);
	send_bytes(sv[0], xfer_bytes);
	close(sv[0]);
	waitpid(s, NULL, 0);
	for (int i = 0; i < n; i++)
		waitpid(pids[i], NULL, 0);
	return now() - t0;
}

/*
 * The median over rounds of FAST[r] / SLOW[r] (times: the faster one's
 * time over the slower one's, i.e. the throughput ratio SLOW/FAST), with
 * its range, into OUT ("0.72 (0.65-0.80)").
 */
static const char *ratio(const double *base, const double *t, int n, char *out)
{
	double v[32];
	for (int r = 0; r < n && r < 32; r++)
		v[r] = base[r] / t[r];
	double m = median(v, n);
	/* median() sorted v */
	snprintf(out, 40, "%.2f (%.2f-%.2f)", m, v[0], v[n - 1]);
	return out;
}

static void loadavg(char *out, size_t size)
{
	FILE *f = fopen("/proc/loadavg", "r");
	out[0] = '\0';
	if (f) {
		if (!fgets(out, (int)size, f))
			out[0] = '\0';
		fclose(f);
	}
	out[strcspn(out, " ")] = '\0';
}

/* ---- set-up ---- */

/* connect to first byte at the destination, in seconds */
static double first_byte(const char *chain)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t t0 = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec, t1 = 0;
	int fd = call(chain, "bench.First");
	write_all(fd, "x", 1);
	shutdown(fd, SHUT_WR);
	size_t got = 0;
	while (got < sizeof(t1)) {
		ssize_t n = read(fd, (char *)&t1 + got, sizeof(t1) - got);
		if (n <= 0)
			fail("reading the first-byte time");
		got += (size_t)n;
	}
	wait_eof(fd);
	close(fd);
	return (double)(t1 - t0) / 1e9;
}

struct setup {
	double conn_per_s;
	double first_ms;
};

static struct setup measure_setup(const char *chain, int callers, int total)
{
	struct setup r = { 0, 0 };
	int per = total / callers;
	int pfd[2];
	if (pipe(pfd) < 0)
		fail("pipe");
	double t0 = now();
	pid_t *workers = calloc((size_t)callers, sizeof(pid_t));
	for (int c = 0; c < callers; c++) {
		if ((workers[c] = fork()) == 0) {
			close(pfd[0]);
			for (int i = 0; i < per; i++) {
				double fb = first_byte(chain);
				write_all(pfd[1], &fb, sizeof(fb));
			}
			_exit(0);
		}
	}
	close(pfd[1]);
	double *v = calloc((size_t)total, sizeof(double));
	int n = 0;
	double fb;
	while (n < total && read(pfd[0], &fb, sizeof(fb)) == (ssize_t)sizeof(fb))
		v[n++] = fb;
	/* not wait(): the daemon is a child of ours too */
	for (int c = 0; c < callers; c++)
		waitpid(workers[c], NULL, 0);
	free(workers);
	double el = now() - t0;
	close(pfd[0]);
	r.conn_per_s = n / el;
	r.first_ms = n ? median(v, n) * 1000 : 0;
	free(v);
	return r;
}

/* ---- process start ---- */

/* median time of starting PROG [ARG] with stdin and stdout on /dev/null and waiting for its exit, in us */
double start_us(const char *prog, const char *arg, int n)
{
	double *v = calloc((size_t)n, sizeof(double));
	const char *argv[] = { prog, arg, NULL };
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (!v || null < 0)
		fail("start_us");
	for (int i = 0; i < n; i++) {
		double t0 = now();
		pid_t p = spawn(argv, null, null);
		waitpid(p, NULL, 0);
		v[i] = (now() - t0) * 1e6;
	}
	double m = median(v, n);
	close(null);
	free(v);
	return m;
}

#if defined(__x86_64__) || defined(__i386__)
/*
 * One CPUID, in us. In a VM every CPUID traps to the hypervisor (Xen, so
 * Qubes, always intercepts it); glibc runs dozens of them at every process
 * start to size its caches (init_cpu_features, handle_amd/handle_intel),
 * static binaries included.
 */
static double cpuid_us(void)
{
	unsigned a, b, c, d, sink = 0;
	double t0 = now();
	for (int i = 0; i < 2000; i++) {
		__cpuid_count(0x8000001d, (unsigned)i & 3, a, b, c, d);
		sink += a ^ b ^ c ^ d;
	}
	double t = (now() - t0) * 1e6 / 2000;
	return sink == 0xffffffff ? t + 1 : t;
}
#else
static double cpuid_us(void)
{
	return 0;
}
#endif

/* ---- memory ---- */

/* CPU time of the whole machine so far (user, nice, system, irq, softirq), in clock ticks */
static long cpu_ticks(void)
{
	long u = 0, n = 0, sy = 0, idle = 0, io = 0, irq = 0, sirq = 0;
	FILE *f = fopen("/proc/stat", "r");
	if (!f)
		return 0;
	if (fscanf(f, "cpu %ld %ld %ld %ld %ld %ld %ld", &u, &n, &sy, &idle, &io, &irq, &sirq) != 7)
		u = n = sy = irq = sirq = 0;
	fclose(f);
	return u + n + sy + irq + sirq;
}

static long status_kb(pid_t pid, const char *field)
{
	char path[64], line[256];
	long v = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, strlen(field)))
			v = atol(line + strlen(field) + 1);
	fclose(f);
	return v;
}

static long pss_kb(pid_t pid)
{
	char path[64], line[256];
	long v = -1;
	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "Pss:", 4))
			v = atol(line + 4);
	fclose(f);
	return v;
}

/* every descendant of PID, PID included: RSS and PSS summed, and how many */
static void tree_mem(pid_t pid, long *rss, long *pss, int *nproc)
{
	char path[64];
	*rss += status_kb(pid, "VmRSS");
	*pss += pss_kb(pid);
	(*nproc)++;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	int child;
	while (fscanf(f, "%d", &child) == 1)
		tree_mem(child, rss, pss, nproc);
	fclose(f);
}

static void bench_throughput(void)
{
	/* throughput: every configuration once per round, so drift hits all alike */
	static const char *const chains[] = { "pass0", "pass1", "pass3", "pass6", "sniff", "byte-limit",
					       "streamline" };
	static const int steps[] = { 0, 1, 3, 6, 1, 1, 1 };
	enum { NCH = 7 };
	double tp[NCH][32], td[32], tdp[32], tc[7][32];
	for (int r = 0; r < runs && r < 32; r++) {
		td[r] = through_direct();
		tdp[r] = through_direct_pipe();
		for (int i = 0; i < NCH; i++) {
			/* sniff logs every byte as hex: a tenth of the data keeps it to seconds */
			uint64_t save = xfer_bytes;
			if (!strcmp(chains[i], "sniff"))
				xfer_bytes /= 16;
			tp[i][r] = through_proxy(chains[i]);
			if (!strcmp(chains[i], "sniff")) {
				tp[i][r] *= 16;
				xfer_bytes = save;
			}
		}
		for (int n = 1; n <= 6; n++)
			if (n == 1 || n == 3 || n == 6)
				tc[n][r] = through_cats(n);
	}
	/*
	 * Ratios are taken per round (the two transfers ran seconds apart)
	 * and then their median, with the smallest and largest in brackets:
	 * load from other work drifts over a run, and a ratio of medians
	 * would compare transfers made minutes apart.
	 */
	double gbs = (double)xfer_bytes / 1e9;
	char r1[40], r2[40], r3[40];
	printf("throughput, one connection     GB/s   vs direct (min-max)   vs as many cat hops   vs direct pipe\n");
	printf("  direct (no proxy)          %6.2f   1.00                                        %s\n", gbs / median(td, runs),
	       ratio(tdp, td, runs, r3));
	printf("  direct pipe (no proxy)     %6.2f   %-20s                        1.00\n", gbs / median(tdp, runs),
	       ratio(td, tdp, runs, r1));
	for (int i = 0; i < NCH; i++) {
		int n = steps[i];
		r2[0] = '\0';
		if (n == 1 || n == 3 || n == 6)
			ratio(tc[n], tp[i], runs, r2);
		printf("  %-10s (%d step%s) %*s%6.2f   %-20s  %-20s  %s%s\n", chains[i], n, n == 1 ? "" : "s",
		       n == 1 ? 7 : 6, "", gbs / median(tp[i], runs), ratio(td, tp[i], runs, r1), r2,
		       ratio(tdp, tp[i], runs, r3), !strcmp(chains[i], "sniff") ? "  (1/16 of the data, scaled)" : "");
	}
	for (int n = 1; n <= 6; n++)
		if (n == 1 || n == 3 || n == 6)
			printf("  %d cat hop%s (no proxy)%*s%6.2f   %s\n", n, n == 1 ? "" : "s", n == 1 ? 7 : 6, "",
			       gbs / median(tc[n], runs), ratio(td, tc[n], runs, r1));
}

/*
 * Many connections moving data at once against one: the daemon keeps its
 * pipes within --pipe-memory, each connection's share shrinking as more
 * run, and the aggregate must hold up (issue 10: at least 0.9 of one).
 * The aggregate is the bytes over the time to the destinations' counts of
 * them (every connection still open); the line after it is the time to
 * the last connection's end, all of them ended together once every count
 * is in (the EOF through the filters, processes exiting, sandboxes going,
 * summaries): a fixed cost per connection that the calls-at-a-pace table
 * measures on its own. Each measurement starts with the daemon at rest.
 * One connection and NCONC at once alternate in every round.
 */
static void bench_concurrent(void)
{
	static const char *const chains[] = { "pass1", "pass3" };
	double one[2][2][32], many[2][2][32], done[2][32], dmany[2][32];
	for (int r = 0; r < runs && r < 32; r++) {
		concurrent(&via_direct, NULL, 1, &done[0][r], &done[1][r]);
		concurrent(&via_direct, NULL, nconc, &dmany[0][r], &dmany[1][r]);
		for (int i = 0; i < 2; i++) {
			concurrent(&via_proxy, chains[i], 1, &one[i][0][r], &one[i][1][r]);
			concurrent(&via_proxy, chains[i], nconc, &many[i][0][r], &many[i][1][r]);
		}
	}
	double gbs = (double)xfer_bytes / 1e9;
	char r1[40], r2[40];
	printf("\nthroughput, %d connections at once (%.2f GiB in all)   GB/s   vs one connection (min-max)\n", nconc,
	       (double)xfer_bytes / (1 << 30));
	printf("  direct one connection (no proxy)                %6.2f\n", gbs / median(done[0], runs));
	printf("  direct %3d at once, aggregate (no proxy)        %6.2f   %s\n", nconc, gbs / median(dmany[0], runs),
	       ratio(done[0], dmany[0], runs, r1));
	for (int i = 0; i < 2; i++) {
		printf("  %-6s one connection                          %6.2f\n", chains[i], gbs / median(one[i][0], runs));
		printf("  %-6s %3d at once, aggregate                  %6.2f   %s\n", chains[i], nconc,
		       gbs / median(many[i][0], runs), ratio(one[i][0], many[i][0], runs, r1));
		printf("  %-6s %3d at once, endings included           %6.2f   %s\n", chains[i], nconc,
		       gbs / median(many[i][1], runs), ratio(one[i][1], many[i][1], runs, r2));
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "runs", required_argument, NULL, 'r' },
		{ "gib", required_argument, NULL, 'g' },
		{ "connections", required_argument, NULL, 'c' },
		{ "quick", no_argument, NULL, 'q' },
		{ "pipe-size", required_argument, NULL, 'p' },
		{ "pipe-memory", required_argument, NULL, 'm' },
		{ "concurrent", required_argument, NULL, 'C' },
		{ "throughput-only", no_argument, NULL, 't' },
		{ "setup-only", no_argument, NULL, 's' },
		{ "concurrent-only", no_argument, NULL, 'o' },
		{ "calls-only", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'r':
			runs = atoi(optarg);
			break;
		case 'g':
			xfer_bytes = (uint64_t)(atof(optarg) * (1 << 30));
			break;
		case 'c':
			nconn = atoi(optarg);
			break;
		case 'p':
			pipe_size = optarg;
			break;
		case 'm':
			pipe_memory = optarg;
			break;
		case 'C':
			nconc = atoi(optarg);
			if (nconc < 1 || nconc > 1024) {
				fprintf(stderr, "bench: --concurrent takes 1 to 1024\n");
				return 100;
			}
			break;
		case 't':
			throughput_only = 1;
			break;
		case 's':
			setup_only = 1;
			break;
		case 'o':
			concurrent_only = throughput_only = 1;
			break;
		case 'k':
			calls_only = 1;
			break;
		case 'q':
			runs = 3;
			xfer_bytes = 256ULL << 20;
			nconn = 96;
			break;
		case 'h':
			printf("usage: bench [--runs N] [--gib N] [--connections N] [--quick] [--pipe-size N] [--pipe-memory N]\n"
			       "             [--concurrent N] [--throughput-only|--setup-only|--concurrent-only|--calls-only]\n"
			       "Run it with make bench (BENCH_ARGS=...) or with QP_BUILDDIR set to the build directory.\n"
			       "  --runs N          rounds; medians are taken over them (default 5)\n"
			       "  --gib N           GiB per transfer (default 1)\n"
			       "  --connections N   connections per set-up measurement (default 300)\n"
			       "  --quick           3 rounds, 256 MiB, 96 connections\n"
			       "  --pipe-size N     the daemon's --pipe-size\n"
			       "  --pipe-memory N   the daemon's --pipe-memory\n"
			       "  --concurrent N    connections at once for the aggregate throughput (default 64)\n"
			       "  --concurrent-only that aggregate against one connection, nothing else\n"
			       "  --calls-only      what the proxy adds to a call, in ms and in process starts, nothing else\n");
			return 0;
		default:
			fprintf(stderr, "usage: bench [--runs N] [--gib N] [--connections N] [--quick] [--pipe-size N] [--pipe-memory N] [--concurrent N] [--throughput-only|--setup-only|--concurrent-only|--calls-only]\n");
			return 100;
		}
	}
	B = getenv("QP_BUILDDIR");
	if (!B) {
		fprintf(stderr, "bench: QP_BUILDDIR is not set (run it with make bench)\n");
		return 100;
	}
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "/tmp/qp-bench.XXXXXX");
	if (!mkdtemp(dir))
		fail("mkdtemp");
	snprintf(sockpath, sizeof(sockpath), "%s/s", dir);
	snprintf(logpath, sizeof(logpath), "%s/daemon.log", dir);
	snprintf(confpath, sizeof(confpath), "%s/chains.yaml", dir);
	FILE *f = fopen(confpath, "w");
	if (!f)
		fail("config");
	fprintf(f,
		"connector: [\"%s/t/bench/sink\", \"{target}\", \"{service}\"]\n"
		"filter_path: [\"%s/filters\"]\n"
		"chains:\n"
		"  pass0: {filters: []}\n"
		"  pass1: {filters: [pass]}\n"
		"  pass3: {filters: [pass, pass, pass]}\n"
		"  pass6: {filters: [pass, pass, pass, pass, pass, pass]}\n"
		"  sniff: {filters: [{name: sniff, args: [--format, hex]}]}\n"
		"  byte-limit: {filters: [{name: byte-limit, args: [\"1024G\"]}]}\n"
		"  streamline: {filters: [{name: streamline, args: [--max-read-delay, \"0\", --max-write-delay, \"0\"]}]}\n",
		B, B);
	fclose(f);
	start_daemon();

	char load[64];
	loadavg(load, sizeof(load));
	printf("qrexec-proxy bench: %d runs each, medians; %.2f GiB per transfer; daemon pipe size %s, pipe memory %s; load average %s\n\n",
	       runs, (double)xfer_bytes / (1 << 30), pipe_size ? pipe_size : "default",
	       pipe_memory ? pipe_memory : "default", load);

	if (calls_only) {
		bench_percall();
		goto done;
	}
	if (!setup_only) {
		if (!concurrent_only)
			bench_throughput();
		bench_concurrent();
	}

	if (throughput_only)
		goto done;

	/* set-up */
	printf("\nconnection set-up                         conn/s   connect to first byte at the destination (ms, median)\n");
	static const char *const sc[] = { "pass0", "pass1", "pass3", "pass6" };
	for (int i = 0; i < 4; i++) {
		double cps[32], fb[32], cps32[32], fb32[32];
		for (int r = 0; r < runs && r < 32; r++) {
			struct setup s = measure_setup(sc[i], 1, nconn / 3);
			cps[r] = s.conn_per_s;
			fb[r] = s.first_ms;
			s = measure_setup(sc[i], 32, (nconn / 32) * 32);
			cps32[r] = s.conn_per_s;
			fb32[r] = s.first_ms;
		}
		printf("  %-6s sequential                     %7.0f   %6.2f\n", sc[i], median(cps, runs), median(fb, runs));
		printf("  %-6s 32 callers at once             %7.0f   %6.2f\n", sc[i], median(cps32, runs),
		       median(fb32, runs));
	}

	/*
	 * What the proxy adds to one call, and what of it the isolation is:
	 * a second daemon with sandboxes of seccomp-only, side by side with
	 * the default one (namespaces here), and the connector called
	 * directly. Rounds interleave the three so load hits them alike.
	 */
	{
		char sock2[320], log2[320];
		snprintf(sock2, sizeof(sock2), "%s/s2", dir);
		snprintf(log2, sizeof(log2), "%s/daemon2.log", dir);
		pid_t d2 = start_daemon_at(sock2, log2, "seccomp-only", NULL);
		char sock3[320], log3[320];
		snprintf(sock3, sizeof(sock3), "%s/s3", dir);
		snprintf(log3, sizeof(log3), "%s/daemon3.log", dir);
		pid_t d3 = start_daemon_at(sock3, log3, NULL, "--no-spare");
		/* the same calls with a cgroup per connection (made, joined, removed), where the bench can give one */
		char sock4[320], log4[320], cgprocs[400], cgdir[320];
		snprintf(sock4, sizeof(sock4), "%s/s4", dir);
		snprintf(log4, sizeof(log4), "%s/daemon4.log", dir);
		pid_t d4 = -1;
		if (bench_cgroup(cgprocs, sizeof(cgprocs), cgdir, sizeof(cgdir)) == 0) {
			join_procs = cgprocs;
			d4 = start_daemon_at(sock4, log4, NULL, "--connection-cgroup=yes");
			join_procs = NULL;
		}
		int per = nconn / 3 > 20 ? nconn / 3 : 20;
		double *v = calloc((size_t)per, sizeof(double));
		double dir_ms[32], iso_ms[32], sec_ms[32], ovh[32], iso_cost[32], nospare_ms[32], p0_ms[32];
		double gdir_ms[32], giso_ms[32], gnospare_ms[32], govh[32];
		enum { NGAPS = 4 };
		static const int gaps_us[NGAPS] = { 1000, 2000, 5000, 10000 };
		double pdir_ms[NGAPS][32], piso_ms[NGAPS][32], povh[NGAPS][32], cpu_dir[32], cpu_iso[32];
		double pcg_ms[NGAPS][32], pcg_cost[NGAPS][32];
		if (!v)
			fail("calloc");
		for (int r = 0; r < runs && r < 32; r++) {
			for (int k = 0; k < per; k++)
				v[k] = whole_call(NULL, NULL);
			dir_ms[r] = median(v, per) * 1000;
			for (int k = 0; k < per; k++)
				v[k] = whole_call(sockpath, "pass3");
			iso_ms[r] = median(v, per) * 1000;
			for (int k = 0; k < per; k++)
				v[k] = whole_call(sock2, "pass3");
			sec_ms[r] = median(v, per) * 1000;
			for (int k = 0; k < per; k++)
				v[k] = whole_call(sock3, "pass3");
			nospare_ms[r] = median(v, per) * 1000;
			for (int k = 0; k < per; k++)
				v[k] = whole_call(sockpath, "pass0");
			p0_ms[r] = median(v, per) * 1000;
			ovh[r] = iso_ms[r] - dir_ms[r];
			iso_cost[r] = iso_ms[r] - sec_ms[r];
			/*
			 * Calls at a pace, a gap between the end of one and the
			 * start of the next: what one call costs once the work the
			 * last one left (its ending, the next spare) is done. Calls
			 * from qubes come far apart, each with its own round trip
			 * through dom0's policy.
			 */
			for (int gi = 0; gi < NGAPS; gi++) {
				for (int k = 0; k < per; k++) {
					v[k] = whole_call(NULL, NULL);
					usleep((useconds_t)gaps_us[gi]);
				}
				pdir_ms[gi][r] = median(v, per) * 1000;
				for (int k = 0; k < per; k++) {
					v[k] = whole_call(sockpath, "pass3");
					usleep((useconds_t)gaps_us[gi]);
				}
				piso_ms[gi][r] = median(v, per) * 1000;
				povh[gi][r] = piso_ms[gi][r] - pdir_ms[gi][r];
				pcg_ms[gi][r] = pcg_cost[gi][r] = 0;
				if (d4 > 0) {
					for (int k = 0; k < per; k++) {
						v[k] = whole_call(sock4, "pass3");
						usleep((useconds_t)gaps_us[gi]);
					}
					pcg_ms[gi][r] = median(v, per) * 1000;
					pcg_cost[gi][r] = pcg_ms[gi][r] - piso_ms[gi][r];
				}
			}
			gdir_ms[r] = pdir_ms[NGAPS - 1][r];
			giso_ms[r] = piso_ms[NGAPS - 1][r];
			/* the CPU one call takes, every process of the machine counted: back to back, 2 cores bound it */
			long c0 = cpu_ticks();
			for (int k = 0; k < per; k++)
				whole_call(NULL, NULL);
			long c1 = cpu_ticks();
			for (int k = 0; k < per; k++)
				whole_call(sockpath, "pass3");
			long c2 = cpu_ticks();
			double tick_ms = 1000.0 / (double)sysconf(_SC_CLK_TCK);
			cpu_dir[r] = (double)(c1 - c0) * tick_ms / per;
			cpu_iso[r] = (double)(c2 - c1) * tick_ms / per;
			for (int k = 0; k < per; k++) {
				v[k] = whole_call(sock3, "pass3");
				usleep(10000);
			}
			gnospare_ms[r] = median(v, per) * 1000;
			govh[r] = giso_ms[r] - gdir_ms[r];
		}
		free(v);
		kill(d2, SIGTERM);
		waitpid(d2, NULL, 0);
		kill(d3, SIGTERM);
		waitpid(d3, NULL, 0);
		char cgwhy[300] = "";
		if (d4 > 0) {
			kill(d4, SIGTERM);
			waitpid(d4, NULL, 0);
			FILE *cf = fopen(log4, "r");
			char cline[512];
			while (cf && fgets(cline, sizeof(cline), cf))
				if (strstr(cline, "resources: ") && strrchr(cline, ';'))
					sscanf(strrchr(cline, ';') + 2, "%299[^\n]", cgwhy);
			if (cf)
				fclose(cf);
			char sub[400];
			snprintf(sub, sizeof(sub), "%s/daemon", cgdir);
			rmdir(sub);
			rmdir(cgdir);
		}
		char isol[200] = "";
		FILE *lf = fopen(logpath, "r");
		char line[512];
		while (lf && fgets(line, sizeof(line), lf))
			if (strstr(line, "isolation: ") && sscanf(strstr(line, "isolation: ") + 11, "%199[^\n]", isol) == 1)
				break;
		if (lf)
			fclose(lf);
		printf("\none whole call, connect to the end of the answer (ms; median of %d calls per round, median of rounds)\n",
		       per);
		printf("  the connector called directly (no proxy)                %6.2f\n", median(dir_ms, runs));
		printf("  pass3 through the proxy, isolated                       %6.2f   overhead %.2f ms (range %.2f-%.2f)\n",
		       median(iso_ms, runs), median(ovh, runs), minimum(ovh, runs), maximum(ovh, runs));
		printf("  pass3 through the proxy, isolation seccomp-only         %6.2f\n", median(sec_ms, runs));
		printf("  the isolation alone (per call)                          %6.2f   (%s)\n", median(iso_cost, runs),
		       isol);
		printf("  pass3, isolated, without the spare supervisor           %6.2f\n", median(nospare_ms, runs));
		printf("  pass0 (no filter) through the proxy                     %6.2f\n", median(p0_ms, runs));
		printf("  calls 10 ms apart: directly %.2f, pass3 %.2f (overhead %.2f ms, range %.2f-%.2f), pass3 without the spare %.2f\n",
		       median(gdir_ms, runs), median(giso_ms, runs), median(govh, runs), minimum(govh, runs),
		       maximum(govh, runs), median(gnospare_ms, runs));
		printf("\ncalls at a pace: the gap from the end of one call to the start of the next (ms, medians)\n");
		printf("  gap       directly   pass3   overhead (range)%s\n",
		       d4 > 0 ? "      pass3, a cgroup per connection   its cost (range)" : "");
		printf("  none      %8.2f %7.2f   %.2f (%.2f-%.2f)\n", median(dir_ms, runs), median(iso_ms, runs),
		       median(ovh, runs), minimum(ovh, runs), maximum(ovh, runs));
		for (int gi = 0; gi < NGAPS; gi++) {
			printf("  %2d ms     %8.2f %7.2f   %.2f (%.2f-%.2f)", gaps_us[gi] / 1000, median(pdir_ms[gi], runs),
			       median(piso_ms[gi], runs), median(povh[gi], runs), minimum(povh[gi], runs),
			       maximum(povh[gi], runs));
			if (d4 > 0)
				printf("      %7.2f                     %.2f (%.2f-%.2f)", median(pcg_ms[gi], runs),
				       median(pcg_cost[gi], runs), minimum(pcg_cost[gi], runs), maximum(pcg_cost[gi], runs));
			putchar('\n');
		}
		if (d4 > 0)
			printf("  the cgroup per connection (--connection-cgroup yes): %s\n", cgwhy);
		else
			printf("  (no cgroup v2 subtree the bench could give a daemon here: no per-connection cgroup measured)\n");
		printf("  CPU per call, back to back, every process counted (/proc/stat): directly %.2f ms, pass3 %.2f ms:\n"
		       "  on %ld cores, calls back to back take at least %.2f ms each\n",
		       median(cpu_dir, runs), median(cpu_iso, runs), sysconf(_SC_NPROCESSORS_ONLN),
		       median(cpu_iso, runs) / (double)sysconf(_SC_NPROCESSORS_ONLN));
	}
	bench_percall();

	/* what one process start costs, against which the set-up figures read */
	{
		char pass[512], kit[512];
		snprintf(pass, sizeof(pass), "%s/filters/pass", B);
		snprintf(kit, sizeof(kit), "%s/t/filter-misbehave", B);
		double tp1 = start_us(pass, NULL, 300), tk = access(kit, X_OK) == 0 ? start_us(kit, "copy", 300) : 0;
		double tt = start_us("/bin/true", NULL, 300), cu = cpuid_us();
		printf("\nprocess start (spawn, exit, wait; median of 300)\n");
		printf("  filters/pass (built-in: %-5s, precompiled lock-down)       %6.0f us\n", QP_FILTER_LIBC, tp1);
		if (tk > 0)
			printf("  t/filter-misbehave (the installed kit: glibc, libseccomp)  %6.0f us\n", tk);
		printf("  /bin/true (dynamic, glibc only)                            %6.0f us\n", tt);
		if (cu > 0)
			printf("  one CPUID instruction                                      %6.2f us (glibc runs dozens per process start)\n", cu);
	}

	/* memory of one held connection of a 3-step chain */
	int fd = call("pass3", "bench.Hold");
	write_all(fd, "x", 1);
	usleep(300000);
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)daemon_pid, (int)daemon_pid);
	f = fopen(path, "r");
	int sup = 0;
	if (!f || fscanf(f, "%d", &sup) != 1)
		fail("finding the supervisor");
	fclose(f);
	long rss = 0, pss = 0;
	int nproc = 0;
	tree_mem(sup, &rss, &pss, &nproc);
	close(fd);
	usleep(300000);
	printf("\nmemory\n");
	printf("  one 3-step connection: %d processes, RSS %ld KiB summed, PSS %ld KiB summed\n", nproc, rss, pss);

	/* the daemon after 10 and after 10,000 connections */
	int total = nconn * 33 > 10000 ? 10000 : nconn * 33;
	for (int i = 0; i < 10; i++)
		first_byte("pass0");
	long rss10 = status_kb(daemon_pid, "VmRSS");
	int nfd10 = 0;
	measure_setup("pass0", 8, total - 10);
	usleep(200000);
	long rssN = status_kb(daemon_pid, "VmRSS");
	printf("  daemon RSS after 10 connections: %ld KiB; after %d: %ld KiB (ratio %.2f)\n", rss10, total, rssN,
	       (double)rssN / (double)rss10);
	(void)nfd10;

done:
	loadavg(load, sizeof(load));
	printf("\nload average at the end: %s (other work on the machine shows in the ranges)\n", load);
	kill(daemon_pid, SIGTERM);
	waitpid(daemon_pid, NULL, 0);
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench: could not remove %s\n", dir);
	return 0;
}
