/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer: descriptor_read over a real socketpair. The promise under test
 * is the one the data stream depends on: it consumes exactly up to and
 * including the first NUL and not one byte more, and never overruns its
 * buffer. The first input byte picks the buffer's capacity (small ones reach
 * the too-long path); the rest is what the caller sends, then EOF.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "descriptor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 65536)
		return 0;
	size_t cap = 2 + (size_t)data[0] * 16;
	const uint8_t *in = data + 1;
	size_t n = size - 1;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	/* the default socket buffer holds any input of this size */
	if (n && write(sv[0], in, n) != (ssize_t)n)
		abort();
	shutdown(sv[0], SHUT_WR);

	/* exactly CAP bytes, so ASan sees any write past the end */
	char *buf = malloc(cap);
	size_t len = 0;
	enum descriptor_status st = descriptor_read(sv[1], buf, cap, 5000, &len);
	const uint8_t *nul = memchr(in, 0, n);
	size_t first = nul ? (size_t)(nul - in) : n;

	switch (st) {
	case DESC_OK:
		if (!nul || len != first || len + 1 > cap || buf[len] != '\0' || memcmp(buf, in, len))
			abort();
		break;
	case DESC_EOF:
		if (nul || n > cap - 1)
			abort();
		break;
	case DESC_TOO_LONG:
		if (first < cap - 1)
			abort();
		break;
	default:
		abort();
	}
	if (st == DESC_OK) {
		/* what follows the NUL is still in the socket, every byte of it */
		size_t rest = n - len - 1;
		char *tail = malloc(rest + 1);
		size_t got = 0;
		ssize_t r;
		while ((r = read(sv[1], tail + got, rest + 1 - got)) > 0)
			got += (size_t)r;
		if (got != rest || memcmp(tail, in + len + 1, rest))
			abort();
		free(tail);
	}
	free(buf);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
