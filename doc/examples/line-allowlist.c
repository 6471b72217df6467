/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * line-allowlist PATTERN...: an example of a third-party qrexec-proxy
 * filter, in plain POSIX C without the built-ins' kit, to show that the
 * contract is only stdin, stdout, stderr, argv and the exit code.
 *
 * It copies stdin to stdout line by line, as long as every line (without
 * its newline) matches one of the fnmatch(3) PATTERNs. On the first line
 * that matches none, or that is longer than 4096 bytes or holds a NUL,
 * it logs which line and exits 1: the proxy then tears the connection
 * down, and that line never reaches the other side. A last line without
 * a newline is checked and passed the same way.
 *
 *	printf 'GET a\nGET b\n' | ./line-allowlist 'GET *'
 *	cc -std=c11 -Wall -o line-allowlist line-allowlist.c
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LINE_MAX_LEN 4096

static const char *prog = "line-allowlist";

/* one write(2) per log line: the proxy reads stderr line by line, "<N>" is the priority */
static void logline(int priority, const char *msg, unsigned long lineno)
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "<%d>%s: line %lu: %s\n", priority, prog, lineno, msg);
	if (n > 0)
		(void)!write(2, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

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

static int allowed(const char *line, size_t len, char **patterns)
{
	if (memchr(line, '\0', len))
		return 0; /* fnmatch would see only what precedes the NUL */
	for (; *patterns; patterns++)
		if (fnmatch(*patterns, line, 0) == 0)
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	static char buf[LINE_MAX_LEN + 2];
	size_t have = 0;
	unsigned long lineno = 0;
	int eof = 0;

	if (argc > 1 && !strcmp(argv[1], "--help")) {
		printf("usage: %s PATTERN...\n"
		       "Passes lines matching one of the fnmatch(3) PATTERNs, exits 1 on the first other line.\n",
		       prog);
		return 0;
	}
	if (argc < 2 || argv[1][0] == '-') {
		fprintf(stderr, "<3>%s: usage: %s PATTERN...\n", prog, prog);
		return 100;
	}
	/* asked only whether its arguments are good (qrexec-proxy check, start, reload): they are */
	const char *direction = getenv("QREXEC_PROXY_DIRECTION");
	if (direction && !strcmp(direction, "check"))
		return 0;

	while (!eof || have) {
		char *nl = memchr(buf, '\n', have);
		if (!nl && !eof && have <= LINE_MAX_LEN) {
			/* read(2) returns what the pipe holds: an interactive peer is not kept waiting */
			ssize_t n = read(0, buf + have, sizeof(buf) - 1 - have);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				logline(3, "unable to read", lineno + 1);
				return 111;
			}
			if (n == 0)
				eof = 1;
			have += (size_t)n;
			continue;
		}
		size_t len = nl ? (size_t)(nl - buf) : have;
		lineno++;
		if (len > LINE_MAX_LEN) {
			logline(4, "longer than 4096 bytes: refused", lineno);
			return 1;
		}
		buf[len] = '\0'; /* the newline, or the byte past the data */
		if (!allowed(buf, len, argv + 1)) {
			/* the content is untrusted: it is not quoted in the log */
			logline(4, "matches no pattern: refused", lineno);
			return 1;
		}
		if (nl)
			buf[len] = '\n';
		size_t whole = nl ? len + 1 : len;
		if (write_all(1, buf, whole) < 0) {
			logline(3, "unable to write", lineno);
			return 111;
		}
		memmove(buf, buf + whole, have - whole);
		have -= whole;
	}
	close(1); /* EOF for the next hop now, not only once this process is gone */
	return 0;
}
