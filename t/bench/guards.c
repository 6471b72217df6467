/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * guards: the throughput of filecopy-guard and http-allow against pass,
 * in the same run, round by round (make bench prints it after bench):
 * each filter alone between a writer and a reader on pipes of 1 MiB (what
 * the daemon gives a connection alone), the writer writing its content as
 * a sender does (write(2) of what it read), the reader splicing to
 * /dev/null. The filters' log lines go to /dev/null.
 *
 *   guards [--runs N] [--gib N] [--files N] [--quick]
 *
 * Streams: a qubes.Filecopy stream of N GiB in files of 128 MiB, and one
 * of 10,000 files of 4 KiB; N GiB of HTTP request bodies in requests of
 * 64 MiB (Content-Length), and 10,000 pipelined GET requests. For the
 * large ones, the guard's throughput as a share of pass's (the goal: at
 * least 0.9); for the small ones, also what each file or request costs
 * the guard beyond what pass costs.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *B;
static int runs = 5;
static uint64_t gib = 1;
static int nfiles = 10000;
static char zeros[1 << 20];

enum kind { FC_LARGE, FC_SMALL, HTTP_LARGE, HTTP_SMALL, N_KINDS };

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static _Noreturn void fail(const char *what)
{
	fprintf(stderr, "guards: %s: %s\n", what, strerror(errno));
	exit(111);
}

static void write_all(int fd, const void *p, size_t len)
{
	const char *c = p;
	while (len) {
		ssize_t n = write(fd, c, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fail("write");
		c += n;
		len -= (size_t)n;
	}
}

/* LEN bytes of content into FD, written as qfile-agent writes what it reads from a file */
static void content(int fd, uint64_t len)
{
	while (len) {
		size_t n = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);
		write_all(fd, zeros, n);
		len -= n;
	}
}

static size_t fc_header(char *b, const char *name, uint32_t mode, uint64_t len)
{
	uint32_t namelen = (uint32_t)strlen(name) + 1, zero = 0;
	memcpy(b, &namelen, 4);
	memcpy(b + 4, &mode, 4);
	memcpy(b + 8, &len, 8);
	for (int i = 16; i < 32; i += 4)
		memcpy(b + i, &zero, 4);
	memcpy(b + 32, name, namelen);
	return 32 + namelen;
}

/* the writer: the stream of KIND on FD; returns its length */
static uint64_t stream(enum kind k, int fd)
{
	char b[512];
	uint64_t total = 0;
	size_t n;
	switch (k) {
	case FC_LARGE:
	case FC_SMALL: {
		int count = k == FC_LARGE ? (int)(gib * 8) : nfiles;
		uint64_t size = k == FC_LARGE ? 128ULL << 20 : 4096;
		static char buf[1 << 20];
		size_t used = 0;
		for (int i = 0; i < count; i++) {
			char name[32];
			snprintf(name, sizeof(name), "file-%06d.dat", i);
			if (k == FC_LARGE) {
				n = fc_header(b, name, 0100644, size);
				if (fd >= 0) {
					write_all(fd, b, n);
					content(fd, size);
				}
				total += n + size;
				continue;
			}
			/* small files: written as a sender would, many to a write */
			if (used + 600 + size > sizeof(buf)) {
				if (fd >= 0)
					write_all(fd, buf, used);
				used = 0;
			}
			used += fc_header(buf + used, name, 0100644, size);
			memset(buf + used, 'x', (size_t)size);
			used += (size_t)size;
			total += 32 + strlen(name) + 1 + size;
		}
		memset(buf + used, 0, 32);
		used += 32;
		total += 32;
		if (fd >= 0)
			write_all(fd, buf, used);
		return total;
	}
	case HTTP_LARGE: {
		uint64_t size = 64ULL << 20;
		for (int i = 0; i < (int)(gib * 16); i++) {
			n = (size_t)snprintf(b, sizeof(b),
					     "PUT http://example.org/upload/%d HTTP/1.1\r\nHost: example.org\r\n"
					     "Content-Length: %llu\r\n\r\n", i, (unsigned long long)size);
			if (fd >= 0) {
				write_all(fd, b, n);
				content(fd, size);
			}
			total += n + size;
		}
		return total;
	}
	case HTTP_SMALL: {
		static char buf[1 << 20];
		size_t used = 0;
		for (int i = 0; i < nfiles; i++) {
			if (used + 300 > sizeof(buf)) {
				if (fd >= 0)
					write_all(fd, buf, used);
				used = 0;
			}
			n = (size_t)snprintf(buf + used, 300,
					     "GET http://deb.example.org/debian/pool/main/p/pkg-%06d.deb HTTP/1.1\r\n"
					     "Host: deb.example.org\r\nUser-Agent: Debian APT-HTTP/1.3\r\n\r\n", i);
			used += n;
			total += n;
		}
		if (fd >= 0)
			write_all(fd, buf, used);
		return total;
	}
	default:
		return 0;
	}
}

static void pipe_big(int p[2])
{
	if (pipe2(p, O_CLOEXEC) < 0)
		fail("pipe");
	for (int i = 0; i < 2; i++)
		fcntl(p[i], F_SETPIPE_SZ, 1 << 20); /* as the daemon's, for a connection alone */
}

/* one stream of KIND through PROG ARGS; seconds from the first byte written to the last byte read */
static double through(enum kind k, const char *const *argv, uint64_t expect)
{
	int in[2], out[2];
	pipe_big(in);
	pipe_big(out);
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (null < 0)
		fail("/dev/null");
	double t0 = now();
	pid_t filter = fork();
	if (filter == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(null, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	pid_t writer = fork();
	if (writer == 0) {
		close(in[0]);
		stream(k, in[1]);
		_exit(0);
	}
	close(in[0]);
	close(in[1]);
	close(out[1]);
	uint64_t got = 0;
	for (;;) {
		ssize_t n = splice(out[0], NULL, null, NULL, 1 << 20, SPLICE_F_MOVE);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail("splice");
		if (n == 0)
			break;
		got += (uint64_t)n;
	}
	double t = now() - t0;
	int st;
	waitpid(writer, &st, 0);
	waitpid(filter, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || got != expect) {
		fprintf(stderr, "guards: %s: status %#x, %llu of %llu bytes\n", argv[0], st, (unsigned long long)got,
			(unsigned long long)expect);
		exit(1);
	}
	close(out[0]);
	close(null);
	return t;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	double s[64];
	memcpy(s, v, sizeof(double) * (size_t)n);
	qsort(s, (size_t)n, sizeof(double), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static double lowest(const double *v, int n)
{
	double m = v[0];
	for (int i = 1; i < n; i++)
		m = v[i] < m ? v[i] : m;
	return m;
}

static double highest(const double *v, int n)
{
	double m = v[0];
	for (int i = 1; i < n; i++)
		m = v[i] > m ? v[i] : m;
	return m;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--runs") && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--gib") && i + 1 < argc)
			gib = (uint64_t)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--files") && i + 1 < argc)
			nfiles = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--quick"))
			runs = 3;
		else {
			fprintf(stderr, "usage: guards [--runs N] [--gib N] [--files N] [--quick]\n");
			return 100;
		}
	}
	if (runs < 1 || runs > 64 || gib < 1 || nfiles < 1)
		return 100;
	B = getenv("QP_BUILDDIR");
	if (!B)
		B = ".";
	signal(SIGPIPE, SIG_IGN);
	char pass[512], fc[512], http[512];
	snprintf(pass, sizeof(pass), "%s/filters/pass", B);
	snprintf(fc, sizeof(fc), "%s/filters/filecopy-guard", B);
	snprintf(http, sizeof(http), "%s/filters/http-allow", B);
	const char *pass_argv[] = { pass, NULL };
	const char *fc_argv[] = { fc, "--safe-names", "--no-symlinks", "--no-executables", "--no-directories",
				  "--max-files", "1000000", "--max-bytes", "100G", "--deny-name", "*.exe", NULL };
	const char *http_argv[] = { http, "--allow-host", "*.example.org", "--allow-host", "example.org",
				    "--allow-host", "deb.debian.org", NULL };
	static const char *const names[N_KINDS] = {
		[FC_LARGE] = "filecopy, files of 128 MiB",
		[FC_SMALL] = "filecopy, files of 4 KiB",
		[HTTP_LARGE] = "http, bodies of 64 MiB",
		[HTTP_SMALL] = "http, GET requests",
	};
	printf("\nthe guards against pass (each alone between pipes of 1 MiB; %d rounds, medians)\n", runs);
	printf("  %-42s %10s %10s   %-20s %s\n", "stream", "pass", "guard", "guard/pass (min-max)",
	       "per file or request: guard (pass)");
	for (int k = 0; k < N_KINDS; k++) {
		uint64_t bytes = stream((enum kind)k, -1);
		int items = k == FC_LARGE ? (int)gib * 8 : k == HTTP_LARGE ? (int)gib * 16 : nfiles;
		const char *const *gargv = k <= FC_SMALL ? fc_argv : http_argv;
		double tp[64], tg[64], ratio[64];
		for (int r = 0; r < runs; r++) {
			/* alternate who goes first, so neither always finds the caches warm */
			if (r % 2) {
				tg[r] = through((enum kind)k, gargv, bytes);
				tp[r] = through((enum kind)k, pass_argv, bytes);
			} else {
				tp[r] = through((enum kind)k, pass_argv, bytes);
				tg[r] = through((enum kind)k, gargv, bytes);
			}
			ratio[r] = tp[r] / tg[r];
		}
		double mp = median(tp, runs), mg = median(tg, runs);
		char extra[128] = "";
		if (k == FC_SMALL || k == HTTP_SMALL)
			snprintf(extra, sizeof(extra), "%.2f us (%.2f us), %.0f/s", mg / items * 1e6, mp / items * 1e6,
				 items / mg);
		char what[80];
		snprintf(what, sizeof(what), "%s: %d, %.0f MiB", names[k], items, bytes / 1048576.0);
		printf("  %-42s %5.2f GB/s %5.2f GB/s   %.2f (%.2f-%.2f)     %s\n", what, bytes / mp / 1e9,
		       bytes / mg / 1e9, median(ratio, runs), lowest(ratio, runs), highest(ratio, runs), extra);
	}
	return 0;
}
