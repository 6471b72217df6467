/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A stand-in for qrexec-client-vm TARGET SERVICE[+ARG]: it sets its fds 0
 * and 1 non-blocking as the real one does, exits 126 when "refused" and 127
 * when "not found", and appends what it received to $FAKE_CONNECTOR_LOG:
 *   "start TARGET SERVICE PID" then "end PID IN_BYTES IN_HASH".
 * Services:
 *   test.Echo            copies input to output
 *   test.Hash            reads all input, then answers "LEN HASH\n" (half-close)
 *   test.Upper           echo, but the answer is prefixed "dst:" (tells directions apart)
 *   test.Generate+N      writes N deterministic bytes (seed 42), then reads input to EOF
 *   test.Refused         exits 126 at once;  test.NotFound  exits 127 at once
 *   test.Die+N           echoes N bytes, then dies by SIGKILL
 *   test.Sleep+S         sleeps S seconds, then echoes
 *   test.Exit+N          reads input to EOF, exits N
 *   test.Status+MS       as test.Hash, then ends MS milliseconds after its answer, writing nothing
 *                        more: a file copy's receiver (its sender reads the status and exits at once)
 *   test.Ack+MS          the same, but its input ends at its first newline (as a file copy's at its
 *                        end marker), not at EOF: its sender may close without a shutdown first
 *   test.Pipes           echo, and records the smallest and largest sizes its stdin and stdout
 *                        pipes had while it read (F_GETPIPE_SZ): "pipes PID MIN_IN MIN_OUT MAX_IN MAX_OUT"
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hash.h"

static uint64_t in_bytes, in_hash = HASH_INIT;
static bool track_pipes;
static int pipe_min[2] = { -1, -1 }, pipe_max[2] = { -1, -1 };

static void note_pipes(void)
{
	for (int fd = 0; fd < 2; fd++) {
		int sz = fcntl(fd, F_GETPIPE_SZ);
		if (sz < 0)
			continue;
		if (pipe_min[fd] < 0 || sz < pipe_min[fd])
			pipe_min[fd] = sz;
		if (sz > pipe_max[fd])
			pipe_max[fd] = sz;
	}
}

static void record(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void record(const char *fmt, ...)
{
	const char *log = getenv("FAKE_CONNECTOR_LOG");
	char line[512];
	va_list ap;
	if (!log)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* a long service name is cut, and the line still ends where it should */
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (write(fd, line, (size_t)n) < 0)
			perror("fake-connector: write log");
		close(fd);
	}
}

static void wait_fd(int fd, short ev)
{
	struct pollfd p = { .fd = fd, .events = ev };
	poll(&p, 1, -1);
}

static ssize_t read_some(void *buf, size_t len)
{
	for (;;) {
		ssize_t n = read(0, buf, len);
		if (n >= 0) {
			in_hash = hash_update(in_hash, buf, (size_t)n);
			in_bytes += (uint64_t)n;
			return n;
		}
		if (errno == EAGAIN)
			wait_fd(0, POLLIN);
		else if (errno != EINTR)
			return -1;
	}
}

static int write_all(const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(1, p, len);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EAGAIN) {
			wait_fd(1, POLLOUT);
		} else if (n < 0 && errno != EINTR) {
			return -1;
		}
	}
	return 0;
}

static void finish(int code)
{
	record("end %d %" PRIu64 " %016" PRIx64 "\n", (int)getpid(), in_bytes, in_hash);
	exit(code);
}

static void echo(uint64_t limit, const char *prefix)
{
	static char buf[1 << 16];
	uint64_t done = 0;
	if (prefix && write_all(prefix, strlen(prefix)) < 0)
		finish(1);
	for (;;) {
		size_t want = sizeof(buf);
		if (limit && limit - done < want)
			want = (size_t)(limit - done);
		if (limit && want == 0)
			return;
		ssize_t n = read_some(buf, want);
		if (n < 0)
			finish(1);
		if (track_pipes)
			note_pipes();
		if (n == 0)
			return;
		if (write_all(buf, (size_t)n) < 0)
			finish(1);
		done += (uint64_t)n;
	}
}

static void drain(void)
{
	static char buf[1 << 16];
	while (read_some(buf, sizeof(buf)) > 0)
		;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: fake-connector TARGET SERVICE[+ARG]\n");
		return 125;
	}
	const char *target = argv[1], *service = argv[2];
	const char *arg = strchr(service, '+');
	long n = arg ? strtol(arg + 1, NULL, 10) : 0;

	record("start %s %s %d\n", target, service, (int)getpid());
	fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
	fcntl(1, F_SETFL, fcntl(1, F_GETFL) | O_NONBLOCK);
	/* the real client may pass remote stderr on; so does this one */
	fprintf(stderr, "fake-connector: calling %s in %s\n", service, target);

	if (!strncmp(service, "test.Echo", 9)) {
		echo(0, NULL);
	} else if (!strncmp(service, "test.Pipes", 10)) {
		track_pipes = true;
		echo(0, NULL);
		record("pipes %d %d %d %d %d\n", (int)getpid(), pipe_min[0], pipe_min[1], pipe_max[0], pipe_max[1]);
	} else if (!strncmp(service, "test.Upper", 10)) {
		echo(0, "dst:");
	} else if (!strncmp(service, "test.Hash", 9)) {
		drain();
		char line[64];
		int len = snprintf(line, sizeof(line), "%" PRIu64 " %016" PRIx64 "\n", in_bytes, in_hash);
		write_all(line, (size_t)len);
	} else if (!strncmp(service, "test.Status", 11) || !strncmp(service, "test.Ack", 8)) {
		if (service[5] == 'S') {
			drain();
		} else {
			char c = 0;
			while (c != '\n' && read_some(&c, 1) == 1)
				;
		}
		char line[64];
		int len = snprintf(line, sizeof(line), "%" PRIu64 " %016" PRIx64 "\n", in_bytes, in_hash);
		write_all(line, (size_t)len);
		poll(NULL, 0, (int)n);
	} else if (!strncmp(service, "test.Generate", 13)) {
		static char buf[1 << 16];
		uint64_t seed = 42, left = (uint64_t)n;
		while (left) {
			size_t k = left < sizeof(buf) ? (size_t)left : sizeof(buf);
			fill_random(&seed, buf, k);
			if (write_all(buf, k) < 0)
				finish(1);
			left -= k;
		}
		close(1);
		drain();
	} else if (!strncmp(service, "test.Refused", 12)) {
		finish(126);
	} else if (!strncmp(service, "test.NotFound", 13)) {
		finish(127);
	} else if (!strncmp(service, "test.Die", 8)) {
		echo((uint64_t)n, NULL);
		record("die %d\n", (int)getpid());
		raise(SIGKILL);
	} else if (!strncmp(service, "test.Sleep", 10)) {
		sleep((unsigned)n);
		echo(0, NULL);
	} else if (!strncmp(service, "test.Exit", 9)) {
		drain();
		finish((int)n);
	} else {
		finish(127);
	}
	finish(0);
}
