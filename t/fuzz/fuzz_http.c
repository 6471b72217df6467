/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer: the HTTP proxy request parser and http-allow's rules over an
 * arbitrary connection, fed in pieces of arbitrary sizes. What a filter
 * would forward must be exactly the connection's bytes up to where it
 * stops, and every request let through must name an allowed host and port.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct http_parser p;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	static char h1[] = "example.org", h2[] = "*.debian.org", h3[] = "127.0.0.1";
	static int once;
	if (!once) {
		once = 1;
		if (http_pattern_check(h1) || http_pattern_check(h2) || http_pattern_check(h3))
			abort();
	}
	static const char *const hosts[] = { h1, h2, h3 };
	static const unsigned ports[] = { 80, 443 };
	static const char *const prefixes[] = { "/debian/" };
	struct http_rules r = { hosts, 3, ports, 2, prefixes, (data[0] & 1) ? 1 : 0 };
	size_t piece = (size_t)(data[0] >> 1) + 1;
	data++;
	size_t len = size - 1;

	http_init(&p);
	size_t off = 0, forwarded = 0;
	while (off < len) {
		size_t n = len - off < piece ? len - off : piece;
		size_t used;
		enum http_event ev = http_feed(&p, data + off, n, &used);
		if (used > n)
			abort();
		off += used;
		if (ev == HTTP_PASS) {
			forwarded += used;
		} else if (ev == HTTP_REQUEST) {
			char why[160];
			if (http_check(&r, &p.req, why, sizeof(why)))
				break;
			if (p.req.port != 80 && p.req.port != 443)
				abort();
			http_accept(&p);
			size_t l;
			const char *line = http_held(&p, &l);
			if (l > HTTP_LINE_MAX || forwarded + l != off || memcmp(line, data + forwarded, l))
				abort();
			forwarded += l;
		} else if (ev == HTTP_HELD) {
			size_t l;
			const char *line = http_held(&p, &l);
			if (l < 2 || l > HTTP_LINE_MAX || forwarded + l != off || memcmp(line, data + forwarded, l) ||
			    line[l - 2] != '\r' || line[l - 1] != '\n')
				abort();
			forwarded += l;
		} else if (ev == HTTP_BAD) {
			if (!p.error || !*p.error)
				abort();
			break;
		}
	}
	(void)http_eof(&p);
	return 0;
}
