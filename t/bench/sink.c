/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The destination for benchmarks, as a connector: sink TARGET SERVICE.
 *   bench.Sink     reads stdin to EOF as fast as the kernel allows, answers nothing
 *   bench.First    on the first byte, answers its CLOCK_MONOTONIC time (8 bytes),
 *                  then reads to EOF
 *   bench.Hold     reads to EOF (stays alive while the caller holds the connection)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char buf[1 << 20];

static void drain(void)
{
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	for (;;) {
		ssize_t n = null >= 0 ? splice(0, NULL, null, NULL, 1 << 20, 0) : -1;
		if (n == 0)
			return;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* not a pipe: plain reads */
			n = read(0, buf, sizeof(buf));
			if (n <= 0)
				return;
		}
	}
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return 125;
	if (!strcmp(argv[2], "bench.First")) {
		char c;
		if (read(0, &c, 1) != 1)
			return 1;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		int64_t t = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
		if (write(1, &t, sizeof(t)) != (ssize_t)sizeof(t))
			return 1;
	}
	drain();
	return 0;
}
