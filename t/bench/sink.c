/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The destination for benchmarks, as a connector: sink TARGET SERVICE.
 *   bench.Sink     reads stdin to EOF as fast as the kernel allows, answers nothing
 *   bench.First    on the first byte, answers its CLOCK_MONOTONIC time (8 bytes),
 *                  then reads to EOF
 *   bench.Hold     reads to EOF (stays alive while the caller holds the connection)
 *   bench.Count    like bench.First, and at EOF answers how many bytes it read
 *                  (8 bytes, the first one included): the caller's proof that
 *                  every byte arrived, before any process of the connection ends
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char buf[1 << 20];

/* reads stdin to EOF; the bytes read */
static uint64_t drain(void)
{
	uint64_t total = 0;
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	for (;;) {
		ssize_t n = null >= 0 ? splice(0, NULL, null, NULL, 1 << 20, 0) : -1;
		if (n == 0)
			return total;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* not a pipe: plain reads */
			n = read(0, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return total;
		}
		total += (uint64_t)n;
	}
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return 125;
	bool count = !strcmp(argv[2], "bench.Count");
	if (count || !strcmp(argv[2], "bench.First")) {
		char c;
		if (read(0, &c, 1) != 1)
			return 1;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		int64_t t = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
		if (write(1, &t, sizeof(t)) != (ssize_t)sizeof(t))
			return 1;
	}
	uint64_t n = drain() + (count ? 1 : 0);
	if (count && write(1, &n, sizeof(n)) != (ssize_t)sizeof(n))
		return 1;
	return 0;
}
