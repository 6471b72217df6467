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
 *   bench.Count+N  the same, and answers the count once as soon as N bytes
 *                  have come after the first one (before the EOF, which ends
 *                  the filters of the connection on its way here)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char buf[1 << 20];

static int null = -1;

/* reads stdin up to LIMIT bytes or EOF; the bytes read */
static uint64_t drain(uint64_t limit)
{
	uint64_t total = 0;
	if (null < 0)
		null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	while (total < limit) {
		size_t want = limit - total < sizeof(buf) ? (size_t)(limit - total) : sizeof(buf);
		ssize_t n = null >= 0 ? splice(0, NULL, null, NULL, want, 0) : -1;
		if (n == 0)
			return total;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* not a pipe: plain reads */
			n = read(0, buf, want);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return total;
		}
		total += (uint64_t)n;
	}
	return total;
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return 125;
	bool count = !strncmp(argv[2], "bench.Count", 11) && (argv[2][11] == '\0' || argv[2][11] == '+');
	uint64_t early = count && argv[2][11] == '+' ? strtoull(argv[2] + 12, NULL, 10) : 0;
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
	uint64_t n = count ? 1 : 0;
	if (early > 0) {
		n += drain(early);
		if (write(1, &n, sizeof(n)) != (ssize_t)sizeof(n))
			return 1;
	}
	n += drain(UINT64_MAX);
	if (count && write(1, &n, sizeof(n)) != (ssize_t)sizeof(n))
		return 1;
	return 0;
}
