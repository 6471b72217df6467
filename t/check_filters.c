/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The built-in filters as standalone programs: each test starts the real
 * binary from the build tree on real pipes (or sockets) and checks bytes,
 * exit status, timing and log lines.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "timeout.h"

struct run {
	int status;
	unsigned char *out, *err;
	size_t outlen, errlen;
	size_t written;     /* bytes of input the filter accepted */
	bool epipe;         /* writing the input failed: the filter stopped reading */
	double seconds;     /* from start to exit */
};

struct opts {
	bool hold_stdin;    /* keep stdin open (no EOF) until the filter exits */
	bool sockets;       /* socketpairs instead of pipes on 0 and 1 */
	const char *const *env; /* extra NAME=VALUE entries */
};

static const char *builddir(void)
{
	const char *d = getenv("QP_BUILDDIR");
	return d && *d ? d : ".";
}

static char *filter_path(const char *rel)
{
	char *p;
	ck_assert_int_ge(asprintf(&p, "%s/%s", builddir(), rel), 0);
	return p;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void append(unsigned char **buf, size_t *len, const void *p, size_t n)
{
	*buf = realloc(*buf, *len + n + 1);
	ck_assert_ptr_nonnull(*buf);
	memcpy(*buf + *len, p, n);
	*len += n;
	(*buf)[*len] = '\0';
}

static void make_channel(bool sockets, int fds[2])
{
	if (sockets)
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
	else
		ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
}

static char **build_env(const char *const *extra)
{
	static char *env[32];
	size_t n = 0;
	env[n++] = "PATH=/usr/bin:/bin";
	for (; extra && *extra && n < 31; extra++)
		env[n++] = (char *)*extra;
	env[n] = NULL;
	return env;
}

/* runs REL (relative to the build dir) with ARGV, feeding IN, collecting everything */
static void run_filter(const char *rel, const char *const *argv, const void *in, size_t inlen,
		       const struct opts *o, struct run *r)
{
	static const struct opts none;
	int ip[2], op[2], ep[2];
	char *path = filter_path(rel);

	if (!o)
		o = &none;
	memset(r, 0, sizeof(*r));
	signal(SIGPIPE, SIG_IGN);
	make_channel(o->sockets, ip);
	make_channel(o->sockets, op);
	ck_assert_int_eq(pipe2(ep, O_CLOEXEC), 0);
	char *args[32];
	size_t n = 0;
	args[n++] = path;
	for (; argv && *argv && n < 31; argv++)
		args[n++] = (char *)*argv;
	args[n] = NULL;
	char **env = build_env(o->env);

	double t0 = now_s();
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(ip[0], 0);
		dup2(op[1], 1);
		dup2(ep[1], 2);
		signal(SIGPIPE, SIG_DFL);
		execve(path, args, env);
		_exit(127);
	}
	close(ip[0]);
	close(op[1]);
	close(ep[1]);
	int in_fd = ip[1];
	fcntl(in_fd, F_SETFL, O_NONBLOCK);
	if (inlen == 0 && !o->hold_stdin) {
		close(in_fd);
		in_fd = -1;
	}
	int out_fd = op[0], err_fd = ep[0];
	const unsigned char *inp = in;
	char buf[65536];

	while (out_fd >= 0 || err_fd >= 0) {
		struct pollfd p[3] = {
			{ .fd = out_fd, .events = POLLIN },
			{ .fd = err_fd, .events = POLLIN },
			{ .fd = in_fd >= 0 && r->written < inlen ? in_fd : -1, .events = POLLOUT },
		};
		ck_assert_int_ge(poll(p, 3, 60000), 1);
		if (p[2].revents) {
			ssize_t w = write(in_fd, inp + r->written, inlen - r->written);
			if (w > 0) {
				r->written += (size_t)w;
			} else if (w < 0 && errno != EAGAIN) {
				r->epipe = true;
				close(in_fd);
				in_fd = -1;
			}
			if (in_fd >= 0 && r->written == inlen && !o->hold_stdin) {
				close(in_fd);
				in_fd = -1;
			}
		}
		for (int i = 0; i < 2; i++) {
			if (!p[i].revents)
				continue;
			int *fd = i == 0 ? &out_fd : &err_fd;
			ssize_t got = read(*fd, buf, sizeof(buf));
			if (got > 0) {
				if (i == 0)
					append(&r->out, &r->outlen, buf, (size_t)got);
				else
					append(&r->err, &r->errlen, buf, (size_t)got);
			} else if (got == 0 || errno != EAGAIN) {
				close(*fd);
				*fd = -1;
			}
		}
	}
	ck_assert_int_eq(waitpid(pid, &r->status, 0), pid);
	r->seconds = now_s() - t0;
	if (in_fd >= 0)
		close(in_fd);
	if (!r->out)
		append(&r->out, &r->outlen, "", 0);
	if (!r->err)
		append(&r->err, &r->errlen, "", 0);
	free(path);
}

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

static unsigned char *random_bytes(size_t n, unsigned seed)
{
	unsigned char *p = malloc(n);
	ck_assert_ptr_nonnull(p);
	uint64_t x = 0x9e3779b97f4a7c15ULL * (seed + 1);
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)(x >> 24);
	}
	/* every byte value, early, so escaping sees all of them */
	for (size_t i = 0; i < 256 && i < n; i++)
		p[i] = (unsigned char)i;
	return p;
}

#define EXITED(r, code) (WIFEXITED((r)->status) && WEXITSTATUS((r)->status) == (code))

static void assert_exit(const struct run *r, int code)
{
	ck_assert_msg(EXITED(r, code), "status %#x, wanted exit %d; stderr: %s", r->status, code,
		      (const char *)r->err);
}

/* ---- pass ---- */

START_TEST(pass_byte_exact)
{
	size_t n = (size_t)6 << 20;
	unsigned char *data = random_bytes(n, 1);
	struct run r;
	run_filter("filters/pass", NULL, data, n, NULL, &r);
	assert_exit(&r, 0);
	ck_assert_uint_eq(r.outlen, n);
	ck_assert(memcmp(r.out, data, n) == 0);
	ck_assert_uint_eq(r.errlen, 0);
	run_free(&r);
	free(data);
}
END_TEST

START_TEST(pass_pipe_size)
{
	size_t n = (size_t)3 << 20;
	unsigned char *data = random_bytes(n, 7);
	const char *argv[] = { "--pipe-size", "256K", NULL };
	struct run r;
	run_filter("filters/pass", argv, data, n, NULL, &r);
	assert_exit(&r, 0);
	ck_assert_uint_eq(r.outlen, n);
	ck_assert(memcmp(r.out, data, n) == 0);
	run_free(&r);
	free(data);
}
END_TEST

START_TEST(pass_sockets_fallback)
{
	/* neither end a pipe: splice fails with EINVAL and read/write takes over */
	size_t n = (size_t)3 << 20;
	unsigned char *data = random_bytes(n, 2);
	struct opts o = { .sockets = true };
	struct run r;
	run_filter("filters/pass", NULL, data, n, &o, &r);
	assert_exit(&r, 0);
	ck_assert_uint_eq(r.outlen, n);
	ck_assert(memcmp(r.out, data, n) == 0);
	run_free(&r);
	free(data);
}
END_TEST

/* ---- byte-limit ---- */

static void check_limit(const char *arg, size_t limit, size_t n)
{
	unsigned char *data = random_bytes(n, 3);
	const char *argv[] = { arg, NULL };
	struct run r;
	run_filter("filters/byte-limit", argv, data, n, NULL, &r);
	assert_exit(&r, 0);
	/* the writer got rid of everything, without a broken pipe */
	ck_assert(!r.epipe);
	ck_assert_uint_eq(r.written, n);
	size_t want = limit < n ? limit : n;
	ck_assert_uint_eq(r.outlen, want);
	ck_assert(memcmp(r.out, data, want) == 0);
	run_free(&r);
	free(data);
}

START_TEST(byte_limit_exact)
{
	check_limit("1000", 1000, 100000);
	check_limit("3K", 3072, 100000);
	check_limit("1M", 1 << 20, (size_t)4 << 20);
	check_limit("2m", 2 << 20, (size_t)3 << 20);
	check_limit("1G", (size_t)1 << 30, 5000); /* EOF first */
}
END_TEST

START_TEST(byte_limit_zero)
{
	check_limit("0", 0, (size_t)2 << 20);
	check_limit("0", 0, 0);
}
END_TEST

/* ---- timeout ---- */

START_TEST(timeout_fires)
{
	const char *argv[] = { "--seconds", "1", NULL };
	struct opts o = { .hold_stdin = true };
	struct run r;
	run_filter("filters/timeout", argv, "abc", 3, &o, &r);
	assert_exit(&r, 1);
	ck_assert(r.seconds >= 0.9 && r.seconds < 10);
	ck_assert_uint_eq(r.outlen, 3); /* what came before the end still passed */
	ck_assert_ptr_nonnull(strstr((char *)r.err, "open longer than 1 s"));
	run_free(&r);
}
END_TEST

START_TEST(timeout_idle)
{
	const char *argv[] = { "--seconds", "30", "--idle", "0.5", NULL };
	struct opts o = { .hold_stdin = true };
	struct run r;
	run_filter("filters/timeout", argv, "x", 1, &o, &r);
	assert_exit(&r, 1);
	ck_assert(r.seconds >= 0.4 && r.seconds < 10);
	ck_assert_ptr_nonnull(strstr((char *)r.err, "no data for 0.5 s"));
	run_free(&r);
}
END_TEST

START_TEST(timeout_quick_eof)
{
	size_t n = (size_t)2 << 20;
	unsigned char *data = random_bytes(n, 4);
	const char *argv[] = { "--seconds", "20", "--idle", "10", NULL };
	struct run r;
	run_filter("filters/timeout", argv, data, n, NULL, &r);
	assert_exit(&r, 0);
	ck_assert(r.seconds < 10);
	ck_assert_uint_eq(r.outlen, n);
	ck_assert(memcmp(r.out, data, n) == 0);
	run_free(&r);
	free(data);
}
END_TEST

/* ---- count ---- */

static char statedir[] = "/tmp/qp-count-XXXXXX";

static void state_setup(void)
{
	strcpy(statedir, "/tmp/qp-count-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(statedir));
}

static void state_teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", statedir);
	ck_assert_int_eq(system(cmd), 0);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int count_once(const char *limit, const char *interval, bool per_source, const char *chain,
		      const char *source)
{
	char e1[128], e2[128];
	snprintf(e1, sizeof(e1), "QREXEC_PROXY_CHAIN=%s", chain);
	snprintf(e2, sizeof(e2), "QREXEC_REMOTE_DOMAIN=%s", source);
	const char *env[] = { e1, e2, "QREXEC_PROXY_DIRECTION=admit", NULL };
	const char *argv[] = { "--limit", limit, "--interval", interval, "--state-dir", statedir,
			       per_source ? "--per-source" : NULL, NULL };
	struct opts o = { .env = env };
	struct run r;
	run_filter("filters/count", argv, NULL, 0, &o, &r);
	ck_assert_msg(WIFEXITED(r.status), "count died: %#x", r.status);
	int code = WEXITSTATUS(r.status);
	if (code == 1)
		ck_assert_ptr_nonnull(strstr((char *)r.err, "refused"));
	run_free(&r);
	return code;
}

START_TEST(count_third_refused)
{
	ck_assert_int_eq(count_once("2", "60", false, "c", "work"), 0);
	ck_assert_int_eq(count_once("2", "60", false, "c", "personal"), 0);
	ck_assert_int_eq(count_once("2", "60", false, "c", "work"), 1);
	ck_assert_int_eq(count_once("2", "60", false, "c", "work"), 1);
	/* another chain has its own count */
	ck_assert_int_eq(count_once("2", "60", false, "other", "work"), 0);
}
END_TEST

START_TEST(count_concurrent)
{
	enum { N = 20 };
	pid_t pids[N];
	char *path = filter_path("filters/count");
	for (int i = 0; i < N; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			char *argv[] = { path, "--limit", "5", "--interval", "60", "--state-dir", statedir, NULL };
			char *env[] = { "QREXEC_PROXY_CHAIN=busy", "QREXEC_REMOTE_DOMAIN=work", NULL };
			int null = open("/dev/null", O_RDWR);
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			execve(path, argv, env);
			_exit(127);
		}
	}
	int admitted = 0, refused = 0;
	for (int i = 0; i < N; i++) {
		int st;
		ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
		ck_assert(WIFEXITED(st));
		if (WEXITSTATUS(st) == 0)
			admitted++;
		else if (WEXITSTATUS(st) == 1)
			refused++;
	}
	ck_assert_int_eq(admitted, 5);
	ck_assert_int_eq(refused, N - 5);
	free(path);
}
END_TEST

START_TEST(count_per_source)
{
	ck_assert_int_eq(count_once("1", "60", true, "c", "work"), 0);
	ck_assert_int_eq(count_once("1", "60", true, "c", "work"), 1);
	ck_assert_int_eq(count_once("1", "60", true, "c", "personal"), 0);
	ck_assert_int_eq(count_once("1", "60", true, "c", "personal"), 1);
	/* the chain-wide count is kept apart */
	ck_assert_int_eq(count_once("1", "60", false, "c", "work"), 0);
}
END_TEST

START_TEST(count_expires)
{
	/*
	 * A use counts for the interval (2 s) and no longer. Whether the
	 * second call still falls inside it depends on how fast this machine
	 * runs two processes: where it did not (a stall of over 2 s), the
	 * round proves nothing and is tried again with a fresh chain.
	 */
	for (int round = 0;; round++) {
		char chain[32];
		snprintf(chain, sizeof(chain), "short%d", round);
		int64_t t0 = now_ms();
		ck_assert_int_eq(count_once("1", "2", false, chain, "work"), 0);
		int64_t t1 = now_ms();  /* the use was recorded before this */
		int second = count_once("1", "2", false, chain, "work");
		if (now_ms() - t0 >= 1800) {
			ck_assert_msg(round < 5, "two count runs took over 1.8 s five times in a row");
			continue;
		}
		ck_assert_int_eq(second, 1);
		/* the expiry is the event: wait for it, then the count starts again */
		while (now_ms() - t1 < 2100)
			poll(NULL, 0, 50);
		ck_assert_int_eq(count_once("1", "2", false, chain, "work"), 0);
		break;
	}
}
END_TEST

START_TEST(count_fails_closed)
{
	const char *env[] = { "QREXEC_PROXY_CHAIN=c", NULL };
	const char *argv[] = { "--limit", "5", "--interval", "60", "--state-dir", "/nonexistent/qp", NULL };
	struct opts o = { .env = env };
	struct run r;
	run_filter("filters/count", argv, NULL, 0, &o, &r);
	assert_exit(&r, 111);
	ck_assert_ptr_nonnull(strstr((char *)r.err, "/nonexistent/qp"));
	run_free(&r);

	/* names that could leave the directory are refused, whatever the orchestrator checked */
	const char *bad[] = { "QREXEC_PROXY_CHAIN=../x", NULL };
	const char *argv2[] = { "--limit", "5", "--interval", "60", "--state-dir", statedir, NULL };
	o.env = bad;
	run_filter("filters/count", argv2, NULL, 0, &o, &r);
	assert_exit(&r, 100);
	run_free(&r);

	o.env = NULL; /* no chain at all */
	run_filter("filters/count", argv2, NULL, 0, &o, &r);
	assert_exit(&r, 100);
	run_free(&r);
}
END_TEST

START_TEST(count_tampered_state)
{
	/*
	 * The state directory is private, yet a file in it may be corrupt or
	 * tampered with. Numbers too large for a count of nanoseconds must be
	 * dropped like any other malformed line, not overflow (undefined
	 * behaviour, which the sanitizer build turns into a crash), and the
	 * honest line among them must still count.
	 */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char path[sizeof(statedir) + 64];
	snprintf(path, sizeof(path), "%s/count.t.60000000000", statedir); /* chain t, 60 s */
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f,
		"123456789012345678901234567890.000000000 thirty-digits\n"
		"999999999999.000000000\n"     /* seconds * 10^9 overflows */
		"9223372037.000000000\n"       /* the first second past INT64_MAX ns */
		"9223372036.999999999\n"       /* seconds * 10^9 fits, adding the nanoseconds does not */
		"9223372036.854775808\n"       /* INT64_MAX + 1 */
		"9223372036.854775807\n"       /* INT64_MAX: well-formed, from a clock set back, dropped */
		"%lld.%09ld honest\n", (long long)ts.tv_sec, ts.tv_nsec);
	ck_assert_int_eq(fclose(f), 0);

	const char *env[] = { "QREXEC_PROXY_CHAIN=t", NULL };
	const char *argv[] = { "--limit", "2", "--interval", "60", "--state-dir", statedir, NULL };
	struct opts o = { .env = env };
	struct run r;
	run_filter("filters/count", argv, NULL, 0, &o, &r);
	assert_exit(&r, 0); /* the honest line and this one: 2 */
	ck_assert_msg(strstr((char *)r.err, "dropped 5 malformed lines"), "stderr: %s", (char *)r.err);
	run_free(&r);
	ck_assert_int_eq(count_once("2", "60", false, "t", "work"), 1);

	/* the file was rewritten without them */
	char buf[4096];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	close(fd);
	ck_assert_msg(strstr(buf, " honest\n") && !strstr(buf, "9223372036") && !strstr(buf, "99999") &&
		      !strstr(buf, "thirty"), "state file: %s", buf);
}
END_TEST

/* ---- sniff ---- */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int b64val(int c)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c ? strchr(t, c) : NULL;
	return p ? (int)(p - t) : -1;
}

/* decodes one line's data into OUT; returns the number of bytes */
static size_t decode(const char *fmt, const char *p, const char *end, unsigned char *out)
{
	size_t n = 0;
	if (!strcmp(fmt, "hex")) {
		for (; p + 1 < end; p += 2) {
			ck_assert(hexval(p[0]) >= 0 && hexval(p[1]) >= 0);
			out[n++] = (unsigned char)(hexval(p[0]) << 4 | hexval(p[1]));
		}
		ck_assert(p == end);
	} else if (!strcmp(fmt, "base64")) {
		ck_assert((end - p) % 4 == 0);
		for (; p < end; p += 4) {
			int a = b64val(p[0]), b = b64val(p[1]);
			ck_assert(a >= 0 && b >= 0);
			out[n++] = (unsigned char)(a << 2 | b >> 4);
			if (p[2] != '=') {
				int c = b64val(p[2]);
				ck_assert(c >= 0);
				out[n++] = (unsigned char)((b & 15) << 4 | c >> 2);
				if (p[3] != '=') {
					int d = b64val(p[3]);
					ck_assert(d >= 0);
					out[n++] = (unsigned char)((c & 3) << 6 | d);
				}
			}
		}
	} else {
		ck_assert(*p == '"' && end[-1] == '"');
		for (p++, end--; p < end;) {
			if (*p != '\\') {
				ck_assert(*p != '"' && *p != '<');
				out[n++] = (unsigned char)*p++;
				continue;
			}
			p++;
			switch (*p) {
			case 'a': out[n++] = '\a'; p++; break;
			case 'b': out[n++] = '\b'; p++; break;
			case 't': out[n++] = '\t'; p++; break;
			case 'n': out[n++] = '\n'; p++; break;
			case 'v': out[n++] = '\v'; p++; break;
			case 'f': out[n++] = '\f'; p++; break;
			case 'r': out[n++] = '\r'; p++; break;
			case '\\': out[n++] = '\\'; p++; break;
			case '"': out[n++] = '"'; p++; break;
			case 'x':
				ck_assert(hexval(p[1]) >= 0 && hexval(p[2]) >= 0);
				out[n++] = (unsigned char)(hexval(p[1]) << 4 | hexval(p[2]));
				p += 3;
				break;
			default:
				ck_abort_msg("unknown escape \\%c", *p);
			}
		}
	}
	return n;
}

static void check_sniff(const char *fmt)
{
	size_t n = 300000;
	unsigned char *data = random_bytes(n, 5);
	/* a forged log line and header in the data */
	static const char forged[] = "\n<0>sniff: src2dst offset=0 length=3 text=\"abc\"\n";
	memcpy(data + 1000, forged, strlen(forged));
	const char *env[] = {
		"QREXEC_PROXY_DIRECTION=src2dst", "QREXEC_REMOTE_DOMAIN=work",
		"QREXEC_PROXY_TARGET=vault", "QREXEC_PROXY_CHAIN=sniffed",
		"QREXEC_PROXY_SERVICE=my.Service+arg\n<0>forged", "QREXEC_PROXY_CONNECTION=42",
		NULL,
	};
	const char *argv[] = { "--format", fmt, NULL };
	struct opts o = { .env = env };
	struct run r;
	run_filter("filters/sniff", argv, data, n, &o, &r);
	assert_exit(&r, 0);
	ck_assert_uint_eq(r.outlen, n);
	ck_assert(memcmp(r.out, data, n) == 0);

	unsigned char *back = calloc(n, 1), *seen = calloc(n, 1), *tmp = malloc(4096);
	ck_assert(back && seen && tmp);
	char key[32];
	snprintf(key, sizeof(key), " %s=", fmt);
	size_t lines = 0;
	for (char *line = (char *)r.err; line < (char *)r.err + r.errlen;) {
		char *nl = memchr(line, '\n', (size_t)((char *)r.err + r.errlen - line));
		ck_assert_ptr_nonnull(nl);
		*nl = '\0';
		lines++;
		ck_assert_uint_lt((size_t)(nl - line), 1024);
		for (char *c = line; c < nl; c++)
			ck_assert_msg((unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7f,
				      "raw byte %#x in a log line", (unsigned char)*c);
		ck_assert_msg(!strncmp(line, "<6>sniff: src2dst source=work target=vault chain=sniffed service=",
				       strlen("<6>sniff: src2dst source=work target=vault chain=sniffed service=")),
			      "line: %s", line);
		ck_assert_ptr_null(strchr(line + 3, '<'));
		char *d = strstr(line, key);
		if (!d) {
			ck_assert_ptr_nonnull(strstr(line, " end offset="));
			line = nl + 1;
			continue;
		}
		unsigned long long off;
		size_t len;
		char *ofs = strstr(line, " offset=");
		ck_assert_ptr_nonnull(ofs);
		ck_assert_int_eq(sscanf(ofs, " offset=%llu length=%zu", &off, &len), 2);
		ck_assert_uint_le(off + len, n);
		size_t got = decode(fmt, d + strlen(key), nl, tmp);
		ck_assert_uint_eq(got, len);
		memcpy(back + off, tmp, len);
		memset(seen + off, 1, len);
		line = nl + 1;
	}
	ck_assert_uint_gt(lines, 100);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(seen[i], "byte %zu not logged", i);
	ck_assert(memcmp(back, data, n) == 0);
	free(back);
	free(seen);
	free(tmp);
	run_free(&r);
	free(data);
}

START_TEST(sniff_text) { check_sniff("text"); }
END_TEST
START_TEST(sniff_hex) { check_sniff("hex"); }
END_TEST
START_TEST(sniff_base64) { check_sniff("base64"); }
END_TEST

/* ---- streamline ---- */

START_TEST(streamline_byte_exact)
{
	size_t n = (size_t)1 << 20;
	unsigned char *data = random_bytes(n, 6);
	const char *argv[] = { "--buffer-size", "64K", "--max-read-delay", "0.002",
			       "--max-write-delay", "0.002", NULL };
	struct run r;
	run_filter("filters/streamline", argv, data, n, NULL, &r);
	assert_exit(&r, 0);
	ck_assert_uint_eq(r.outlen, n);
	ck_assert(memcmp(r.out, data, n) == 0);
	run_free(&r);

	/* the default settings, a short input: EOF flushes a partial buffer */
	run_filter("filters/streamline", NULL, "short", 5, NULL, &r);
	assert_exit(&r, 0);
	ck_assert_uint_eq(r.outlen, 5);
	ck_assert(memcmp(r.out, "short", 5) == 0);
	run_free(&r);
	free(data);
}
END_TEST

/* ---- arguments ---- */

static const char *const *const bad_args[] = {
	(const char *const[]){ "filters/pass", "extra", NULL },
	(const char *const[]){ "filters/pass", "--bogus", NULL },
	(const char *const[]){ "filters/pass", "--pipe-size", "0", NULL },
	(const char *const[]){ "filters/byte-limit", NULL },
	(const char *const[]){ "filters/byte-limit", "1X", NULL },
	(const char *const[]){ "filters/byte-limit", "-5", NULL },
	(const char *const[]){ "filters/byte-limit", "99999999999999999999", NULL },
	(const char *const[]){ "filters/byte-limit", "1", "2", NULL },
	(const char *const[]){ "filters/timeout", NULL },
	(const char *const[]){ "filters/timeout", "--seconds", "0", NULL },
	(const char *const[]){ "filters/timeout", "--seconds", "abc", NULL },
	(const char *const[]){ "filters/timeout", "--idle", "-1", NULL },
	(const char *const[]){ "filters/timeout", "--seconds", NULL },
	(const char *const[]){ "filters/count", NULL },
	(const char *const[]){ "filters/count", "--limit", "2", NULL },
	(const char *const[]){ "filters/count", "--limit", "x", "--interval", "5", NULL },
	(const char *const[]){ "filters/count", "--limit", "2", "--interval", "0", NULL },
	(const char *const[]){ "filters/sniff", "--format", "rot13", NULL },
	(const char *const[]){ "filters/sniff", "x", NULL },
	(const char *const[]){ "filters/streamline", "--buffer-size", "0", NULL },
	(const char *const[]){ "filters/streamline", "--max-read-delay", "-1", NULL },
	(const char *const[]){ "filters/streamline", "--max-write-delay", "soon", NULL },
	(const char *const[]){ "filters/filecopy-guard", "--max-files", "x", NULL },
	(const char *const[]){ "filters/filecopy-guard", "--deny-name", "a/b", NULL },
	(const char *const[]){ "filters/http-allow", NULL },
	(const char *const[]){ "filters/http-allow", "--allow-host", "a*.org", NULL },
	(const char *const[]){ "filters/http-allow", "--allow-host", "a.org", "--allow-port", "0", NULL },
	(const char *const[]){ "doc/examples/line-allowlist", NULL },
};

START_TEST(bad_arguments)
{
	const char *const *a = bad_args[_i];
	char *path = filter_path(a[0]);
	int in[2];
	ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
	ck_assert_int_eq(write(in[1], "0123456789", 10), 10);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char *env[] = { "QREXEC_PROXY_CHAIN=c", NULL };
		int null = open("/dev/null", O_WRONLY);
		dup2(in[0], 0);
		dup2(null, 1);
		dup2(null, 2);
		a++;
		char *argv[8] = { path };
		for (int i = 1; *a && i < 7; i++)
			argv[i] = (char *)*a++;
		execve(path, argv, env);
		_exit(127);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 100, "%s: status %#x", bad_args[_i][0], st);
	/* nothing was read: the data is still in the pipe */
	char buf[16];
	close(in[1]);
	ck_assert_int_eq(read(in[0], buf, sizeof(buf)), 10);
	close(in[0]);
	free(path);
}
END_TEST

static const char *const helps[] = {
	"filters/pass", "filters/byte-limit", "filters/timeout", "filters/count",
	"filters/sniff", "filters/streamline", "filters/filecopy-guard", "filters/http-allow",
	"doc/examples/line-allowlist",
};

START_TEST(help)
{
	const char *argv[] = { "--help", NULL };
	struct run r;
	run_filter(helps[_i], argv, NULL, 0, NULL, &r);
	assert_exit(&r, 0);
	ck_assert_ptr_nonnull(strstr((char *)r.out, "usage:"));
	run_free(&r);
}
END_TEST

/* ---- the lock-down ---- */

static const char *const forbidden[] = { "open", "socket", "execve", "renice-parent", "renice-group" };
/* the kit's lock-down (libseccomp at run time) and the built-ins' (precompiled) */
static const char *const misbehaving[] = { "t/filter-misbehave", "t/filter-misbehave-builtin" };
#define N_FORBIDDEN (int)(sizeof(forbidden) / sizeof(forbidden[0]))

START_TEST(lockdown_kills)
{
	const char *prog = misbehaving[_i / N_FORBIDDEN];
	const char *argv[] = { forbidden[_i % N_FORBIDDEN], NULL };
	struct run r;
	run_filter(prog, argv, NULL, 0, NULL, &r);
	ck_assert_msg(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGSYS,
		      "%s %s: status %#x, stderr %s", prog, argv[0], r.status, (char *)r.err);
	run_free(&r);
}
END_TEST

START_TEST(lockdown_allows_copying)
{
	const char *argv[] = { "copy", NULL };
	struct run r;
	run_filter(misbehaving[_i], argv, "data", 4, NULL, &r);
	assert_exit(&r, 0);
	ck_assert_uint_eq(r.outlen, 4);
	ck_assert_mem_eq(r.out, "data", 4);
	run_free(&r);
}
END_TEST

/* ---- the example third-party filter ---- */

START_TEST(example_line_allowlist)
{
	const char *argv[] = { "GET *", "QUIT", NULL };
	static const char ok[] = "GET /a\nGET /b\nQUIT";
	struct run r;
	run_filter("doc/examples/line-allowlist", argv, ok, strlen(ok), NULL, &r);
	assert_exit(&r, 0);
	ck_assert_str_eq((char *)r.out, ok);
	run_free(&r);

	static const char bad[] = "GET /a\nDELETE /b\nGET /c\n";
	run_filter("doc/examples/line-allowlist", argv, bad, strlen(bad), NULL, &r);
	assert_exit(&r, 1);
	ck_assert_str_eq((char *)r.out, "GET /a\n");
	ck_assert_ptr_nonnull(strstr((char *)r.err, "line 2"));
	run_free(&r);
}
END_TEST

/* ---- the end of the input: EOF for the next hop before the exit ---- */

/* the kit's filters (not the plain-POSIX example, the last) also yield the CPU for what is left: qpf_done() */
static const char *const *const closers[] = {
	(const char *const[]){ "filters/pass", NULL },
	(const char *const[]){ "filters/byte-limit", "1G", NULL },
	(const char *const[]){ "filters/timeout", "--seconds", "600", NULL },
	(const char *const[]){ "filters/sniff", NULL },
	(const char *const[]){ "filters/streamline", "--max-read-delay", "0", "--max-write-delay", "0", NULL },
	(const char *const[]){ "doc/examples/uppercase", NULL },
	(const char *const[]){ "doc/examples/line-allowlist", "*", NULL },
};

/* waits for the traced PID to stop at EVENT (a PTRACE_EVENT_*), passing on any signal on the way */
static void trace_until(pid_t pid, int event)
{
	for (;;) {
		int st;
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		ck_assert_msg(WIFSTOPPED(st), "the filter ended (status %#x) before its exit was traced", st);
		if (st >> 8 == (SIGTRAP | (event << 8)))
			return;
		int sig = WSTOPSIG(st) == SIGTRAP || WSTOPSIG(st) == SIGSTOP ? 0 : WSTOPSIG(st);
		ck_assert_int_eq(ptrace(PTRACE_CONT, pid, NULL, (void *)(long)sig), 0);
	}
}

/*
 * At the end of its input a filter closes its output at once: the next
 * hop (in the end the caller) sees EOF then, not once the process has
 * exited and been torn down. Traced, the filter stops at the start of
 * its exit, before the kernel closes its fds: EOF must be there already.
 */
START_TEST(eof_before_exit)
{
	const char *const *argv = closers[_i];
	int ip[2], op[2], ep[2];
	ck_assert_int_eq(pipe2(ip, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(op, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(ep, O_CLOEXEC), 0);
	char *path = filter_path(argv[0]);
	char **env = build_env(NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(ip[0], 0);
		dup2(op[1], 1);
		dup2(ep[1], 2);
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0 || raise(SIGSTOP) < 0)
			_exit(126);
		execve(path, (char *const *)argv, env);
		_exit(127);
	}
	close(ip[0]);
	close(op[1]);
	close(ep[1]);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFSTOPPED(st), "status %#x: no ptrace here?", st);
	ck_assert_int_eq(ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)(long)(PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL)), 0);
	ck_assert_int_eq(ptrace(PTRACE_CONT, pid, NULL, NULL), 0);
	ck_assert_int_eq(write(ip[1], "hello\n", 6), 6);
	close(ip[1]);
	trace_until(pid, PTRACE_EVENT_EXIT);
	/* stopped at its exit: whatever it wrote is there, and EOF after it only if it closed fd 1 itself */
	char buf[64];
	size_t got = 0;
	fcntl(op[0], F_SETFL, O_NONBLOCK);
	ssize_t n;
	while ((n = read(op[0], buf + got, sizeof(buf) - got)) > 0)
		got += (size_t)n;
	int err = errno;
	ck_assert_msg(got == 6 && (!memcmp(buf, "hello\n", 6) || !memcmp(buf, "HELLO\n", 6)),
		      "%s passed %zu bytes", argv[0], got);
	ck_assert_msg(n == 0, "%s is exiting with its output still open (read: %s)", argv[0],
		      n < 0 ? strerror(err) : "data");
	/* field 19 of /proc/PID/stat: the nice value its exit runs at */
	char statpath[64], stat[1024];
	snprintf(statpath, sizeof(statpath), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(statpath, "re");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(stat, sizeof(stat), f));
	fclose(f);
	const char *p = strrchr(stat, ')');
	int nice = 0;
	ck_assert_int_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %d", &nice), 1);
	bool kit = _i != (int)(sizeof(closers) / sizeof(closers[0])) - 1;
	ck_assert_msg(!kit || nice == 19, "%s exits at nice %d, not 19 (qpf_done)", argv[0], nice);
	ck_assert_int_eq(ptrace(PTRACE_CONT, pid, NULL, NULL), 0);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: status %#x", argv[0], st);
	close(op[0]);
	close(ep[0]);
	free(path);
}
END_TEST

/* ---- started ahead (QPF_PRESTART_LOCKED): locked down before the connection, which comes later ---- */

struct ahead {
	pid_t pid;
	int in, out, err; /* our ends: its stdin, stdout, and the socket on its fd 2 */
};

/* starts REL with ARGV as the proxy starts a filter ahead: QREXEC_PROXY_PRESTART=1 alone, a socket on fd 2 */
static void start_ahead(const char *rel, const char *const *argv, struct ahead *a)
{
	int ip[2], op[2], sv[2];
	ck_assert_int_eq(pipe2(ip, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(op, O_CLOEXEC), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	char *path = filter_path(rel);
	char *args[16];
	size_t n = 0;
	args[n++] = path;
	for (; argv && *argv && n < 15; argv++)
		args[n++] = (char *)*argv;
	args[n] = NULL;
	static char *const env[] = { "QREXEC_PROXY_PRESTART=1", NULL };
	a->pid = fork();
	ck_assert_int_ge(a->pid, 0);
	if (a->pid == 0) {
		dup2(ip[0], 0);
		dup2(op[1], 1);
		dup2(sv[1], 2);
		execve(path, args, env);
		_exit(127);
	}
	close(ip[0]);
	close(op[1]);
	close(sv[1]);
	a->in = ip[1];
	a->out = op[0];
	a->err = sv[0];
	free(path);
}

/* the number of seccomp programs PID has loaded (Seccomp_filters in /proc/PID/status), -1 if unknown */
static int seccomp_filters(pid_t pid)
{
	char path[64], line[256];
	int n = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "Seccomp_filters:", 16))
			n = atoi(line + 16);
	fclose(f);
	return n;
}

/* waits until the filter has locked itself down, its environment still to come */
static void wait_locked_ahead(const struct ahead *a)
{
	/* a generous floor (60 s, QP_TEST_WAIT_MS to change it), as everywhere in the suite */
	const char *w = getenv("QP_TEST_WAIT_MS");
	int64_t end = (int64_t)(now_s() * 1000) + (w && atoi(w) > 0 ? atoi(w) : 60000);
	while (seccomp_filters(a->pid) < 1 && (int64_t)(now_s() * 1000) < end)
		poll(NULL, 0, 10);
	ck_assert_msg(seccomp_filters(a->pid) >= 1, "started ahead, the filter did not lock itself down before its call");
	struct pollfd p = { .fd = a->out, .events = POLLIN };
	ck_assert_int_eq(poll(&p, 1, 0), 0);
}

/* what the supervisor writes on the filter's fd 2: a 32-bit length, then NAME=VALUE strings each ended by a NUL */
static void send_environment(int fd, const char *const *env)
{
	char buf[1024];
	uint32_t len = 0;
	for (const char *const *e = env; *e; e++) {
		size_t l = strlen(*e) + 1;
		ck_assert_uint_lt(sizeof(len) + len + l, sizeof(buf));
		memcpy(buf + sizeof(len) + len, *e, l);
		len += (uint32_t)l;
	}
	memcpy(buf, &len, sizeof(len));
	ck_assert_int_eq(write(fd, buf, sizeof(len) + len), (ssize_t)(sizeof(len) + len));
}

/* feeds IN, then EOF; collects stdout and what it logged; returns its exit status */
static int finish_ahead(struct ahead *a, const char *in, unsigned char **out, size_t *outlen, char **log)
{
	size_t n = strlen(in);
	ck_assert_int_eq(write(a->in, in, n), (ssize_t)n);
	close(a->in);
	*out = NULL;
	*outlen = 0;
	unsigned char *err = NULL;
	size_t errlen = 0;
	char buf[4096];
	ssize_t got;
	while ((got = read(a->out, buf, sizeof(buf))) > 0)
		append(out, outlen, buf, (size_t)got);
	shutdown(a->err, SHUT_WR);
	while ((got = read(a->err, buf, sizeof(buf))) > 0)
		append(&err, &errlen, buf, (size_t)got);
	if (!*out)
		append(out, outlen, "", 0);
	if (!err)
		append(&err, &errlen, "", 0);
	*log = (char *)err;
	int st;
	ck_assert_int_eq(waitpid(a->pid, &st, 0), a->pid);
	close(a->out);
	close(a->err);
	return st;
}

START_TEST(ahead_locked_then_environment)
{
	/* sniff reads its environment for every log line: the one that came after the lock-down */
	static const char *const argv[] = { "--format", "text", NULL };
	struct ahead a;
	start_ahead("filters/sniff", argv, &a);
	wait_locked_ahead(&a);
	static const char *const env[] = { "PATH=/usr/bin:/bin", "QREXEC_REMOTE_DOMAIN=vm-early",
					   "QREXEC_PROXY_DIRECTION=src2dst", "QREXEC_PROXY_CHAIN=c",
					   "QREXEC_PROXY_TARGET=t", "QREXEC_PROXY_SERVICE=s",
					   "QREXEC_PROXY_CONNECTION=0123", NULL };
	send_environment(a.err, env);
	unsigned char *out;
	size_t outlen;
	char *log;
	int st = finish_ahead(&a, "started ahead\n", &out, &outlen, &log);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x; log: %s", st, log);
	ck_assert_str_eq((char *)out, "started ahead\n");
	ck_assert_msg(strstr(log, "src2dst source=vm-early target=t chain=c service=s conn=0123"), "log: %s", log);
	free(out);
	free(log);
}
END_TEST

START_TEST(ahead_timeout_counts_from_its_call)
{
	/* a timeout started ahead waited longer than its time for its call: its time starts with the call */
	static const char *const argv[] = { "--seconds", "1", NULL };
	struct ahead a;
	double t0 = now_s();
	start_ahead("filters/timeout", argv, &a);
	wait_locked_ahead(&a);
	/* the spare's wait, longer than --seconds: the condition under test, not a wait for an event */
	while (now_s() - t0 < 1.5)
		poll(NULL, 0, 50);
	static const char *const env[] = { "PATH=/usr/bin:/bin", "QREXEC_PROXY_DIRECTION=src2dst", NULL };
	send_environment(a.err, env);
	unsigned char *out;
	size_t outlen;
	char *log;
	int st = finish_ahead(&a, "in time\n", &out, &outlen, &log);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x; log: %s", st, log);
	ck_assert_str_eq((char *)out, "in time\n");
	free(out);
	free(log);
}
END_TEST

static Suite *filters_suite(void)
{
	Suite *s = suite_create("filters");
	TCase *tc;

	tc = tcase_create("pass");
	tcase_set_timeout(tc, test_timeout(120));
	tcase_add_test(tc, pass_byte_exact);
	tcase_add_test(tc, pass_pipe_size);
	tcase_add_test(tc, pass_sockets_fallback);
	suite_add_tcase(s, tc);

	tc = tcase_create("byte-limit");
	tcase_set_timeout(tc, test_timeout(120));
	tcase_add_test(tc, byte_limit_exact);
	tcase_add_test(tc, byte_limit_zero);
	suite_add_tcase(s, tc);

	tc = tcase_create("timeout");
	tcase_set_timeout(tc, test_timeout(120));
	tcase_add_test(tc, timeout_fires);
	tcase_add_test(tc, timeout_idle);
	tcase_add_test(tc, timeout_quick_eof);
	suite_add_tcase(s, tc);

	tc = tcase_create("count");
	tcase_set_timeout(tc, test_timeout(120));
	tcase_add_checked_fixture(tc, state_setup, state_teardown);
	tcase_add_test(tc, count_third_refused);
	tcase_add_test(tc, count_concurrent);
	tcase_add_test(tc, count_per_source);
	tcase_add_test(tc, count_expires);
	tcase_add_test(tc, count_fails_closed);
	tcase_add_test(tc, count_tampered_state);
	suite_add_tcase(s, tc);

	tc = tcase_create("sniff");
	tcase_set_timeout(tc, test_timeout(120));
	tcase_add_test(tc, sniff_text);
	tcase_add_test(tc, sniff_hex);
	tcase_add_test(tc, sniff_base64);
	suite_add_tcase(s, tc);

	tc = tcase_create("streamline");
	tcase_set_timeout(tc, test_timeout(120));
	tcase_add_test(tc, streamline_byte_exact);
	suite_add_tcase(s, tc);

	tc = tcase_create("arguments");
	tcase_set_timeout(tc, test_timeout(120));
	tcase_add_loop_test(tc, bad_arguments, 0, (int)(sizeof(bad_args) / sizeof(bad_args[0])));
	tcase_add_loop_test(tc, help, 0, (int)(sizeof(helps) / sizeof(helps[0])));
	suite_add_tcase(s, tc);

	tc = tcase_create("lockdown");
	tcase_set_timeout(tc, test_timeout(60));
	tcase_add_loop_test(tc, lockdown_kills, 0, 2 * N_FORBIDDEN);
	tcase_add_loop_test(tc, lockdown_allows_copying, 0, 2);
	suite_add_tcase(s, tc);

	tc = tcase_create("end");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, eof_before_exit, 0, (int)(sizeof(closers) / sizeof(closers[0])));
	suite_add_tcase(s, tc);

	tc = tcase_create("ahead");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, ahead_locked_then_environment);
	tcase_add_test(tc, ahead_timeout_counts_from_its_call);
	suite_add_tcase(s, tc);

	tc = tcase_create("example");
	tcase_set_timeout(tc, test_timeout(60));
	tcase_add_test(tc, example_line_allowlist);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(filters_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
