/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Filters that misbehave with their file descriptors, for t/check_faults
 * (plain POSIX, no kit, so nothing hides the fault):
 *   fault-filter close-out N    copies N bytes, closes stdout, then reads and
 *                               drops stdin to EOF and exits 0: the direction
 *                               ends downstream while upstream keeps writing
 *   fault-filter close-in N     copies N bytes, closes stdin, keeps stdout
 *                               open (silent) for a second, then exits 0:
 *                               upstream sees its reader vanish mid-stream
 *   fault-filter close-in-fail N  as close-in, but exits 4: the abort must
 *                               still tear everything down
 *   fault-filter fork-child 0   leaves a child behind (stdin and stdout
 *                               closed, stderr kept) that sleeps 10 minutes,
 *                               then copies and exits 0
 *   fault-filter fork-setsid 0  the same, but the child first tries to leave
 *                               the connection's process group and session
 * The child's pid goes to stderr ("fault-filter: child PID"), so a test can
 * check that nothing of the connection outlives it.
 */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

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

/* copies up to LIMIT bytes, or to EOF */
static void copy(unsigned long long limit, int out)
{
	static char buf[65536];
	unsigned long long done = 0;
	while (done < limit) {
		size_t want = limit - done < sizeof(buf) ? (size_t)(limit - done) : sizeof(buf);
		ssize_t n = read(0, buf, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			exit(111);
		if (n == 0)
			return;
		if (out >= 0 && write_all(out, buf, (size_t)n) < 0)
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
	if (argc != 3)
		return 100;
	if (checking())
		return 0;
	unsigned long long n = strtoull(argv[2], NULL, 10);
	if (!strcmp(argv[1], "close-out")) {
		copy(n, 1);
		close(1);
		copy(~0ULL, -1);
		return 0;
	}
	if (!strcmp(argv[1], "close-in") || !strcmp(argv[1], "close-in-fail")) {
		copy(n, 1);
		close(0);
		sleep(1);
		return strcmp(argv[1], "close-in") ? 4 : 0;
	}
	if (!strcmp(argv[1], "fork-child") || !strcmp(argv[1], "fork-setsid")) {
		int setsid_ok = 0;
		int ready[2];
		char c;
		if (pipe(ready) < 0)
			return 111;
		pid_t pid = fork();
		if (pid < 0)
			return 111;
		if (pid == 0) {
			close(0);
			close(1);
			close(ready[0]);
			if (!strcmp(argv[1], "fork-setsid"))
				setsid_ok = setsid() >= 0;
			/* a name the test can find it by, whatever pid namespace it is in */
			prctl(PR_SET_NAME, "fault-orphan", 0, 0, 0);
			fprintf(stderr, "fault-filter: child %d setsid=%d\n", (int)getpid(), setsid_ok);
			/* only now may the connection end: the test looks for this child */
			if (write(ready[1], "x", 1) != 1)
				_exit(111);
			close(ready[1]);
			sleep(600);
			_exit(0);
		}
		close(ready[1]);
		if (read(ready[0], &c, 1) != 1)
			return 111;
		close(ready[0]);
		copy(~0ULL, 1);
		return 0;
	}
	return 100;
}
