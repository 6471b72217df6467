/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A misbehaving filter for tests (plain POSIX, no kit):
 *   test-filter crash-after N    copies N bytes, then abort()s
 *   test-filter exit-after N C   copies N bytes, then exits C without reading more
 *   test-filter hang             never reads
 *   test-filter stderr-flood N   writes N lines to stderr, then copies
 *   test-filter env              writes its environment and fds (one per line) then copies
 *   test-filter try-socket       tries an AF_INET socket; exits 3 if it was allowed, then copies
 *   test-filter prefix STR       writes STR, then copies
 *   test-filter setsid-first     calls setsid() before anything else, then copies
 *   test-filter linger FILE      copies, closes its stdout at EOF, then waits until FILE exists
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

extern char **environ;

static int write_all(int fd, const char *p, size_t len)
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

/* copies up to LIMIT bytes (0: no limit); returns 0 at EOF, 1 at the limit */
static int copy(unsigned long long limit)
{
	static char buf[65536];
	unsigned long long done = 0;
	for (;;) {
		size_t want = sizeof(buf);
		if (limit) {
			if (done >= limit)
				return 1;
			if (limit - done < want)
				want = (size_t)(limit - done);
		}
		ssize_t n = read(0, buf, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			exit(111);
		if (n == 0)
			return 0;
		if (write_all(1, buf, (size_t)n) < 0)
			exit(111);
		done += (unsigned long long)n;
	}
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
		return 100;
	if (checking())
		return 0;
	const char *mode = argv[1];
	if (!strcmp(mode, "crash-after") && argc == 3) {
		copy(strtoull(argv[2], NULL, 10));
		fprintf(stderr, "test-filter: crashing on purpose\n");
		abort();
	} else if (!strcmp(mode, "exit-after") && argc == 4) {
		copy(strtoull(argv[2], NULL, 10));
		return atoi(argv[3]);
	} else if (!strcmp(mode, "hang")) {
		for (;;)
			pause();
	} else if (!strcmp(mode, "stderr-flood") && argc == 3) {
		long n = atol(argv[2]);
		for (long i = 0; i < n; i++)
			fprintf(stderr, "flood line %ld with some padding to make it longer than usual\n", i);
		fflush(stderr);
	} else if (!strcmp(mode, "env")) {
		char line[4096];
		for (char **e = environ; *e; e++) {
			int len = snprintf(line, sizeof(line), "env %s\n", *e);
			write_all(1, line, (size_t)len);
		}
		for (int fd = 0; fd < 64; fd++) {
			if (fcntl(fd, F_GETFD) >= 0) {
				int len = snprintf(line, sizeof(line), "fd %d\n", fd);
				write_all(1, line, (size_t)len);
			}
		}
	} else if (!strcmp(mode, "try-socket")) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		if (s >= 0)
			return 3;
		fprintf(stderr, "test-filter: socket(AF_INET) refused: %s\n", strerror(errno));
	} else if (!strcmp(mode, "setsid-first")) {
		/* its own session: the right of any program, not a failure to start */
		if (setsid() < 0) {
			fprintf(stderr, "test-filter: setsid: %s\n", strerror(errno));
			return 4;
		}
	} else if (!strcmp(mode, "prefix") && argc == 3) {
		write_all(1, argv[2], strlen(argv[2]));
	} else if (!strcmp(mode, "linger") && argc == 3) {
		/* its direction is over for the next hop, and its process is not: the test says when it goes */
		copy(0);
		close(1);
		fprintf(stderr, "test-filter: lingering\n");
		for (int i = 0; i < 60000 && access(argv[2], F_OK) < 0; i++)
			usleep(10000);
		return 0;
	} else {
		return 100;
	}
	copy(0);
	return 0;
}
