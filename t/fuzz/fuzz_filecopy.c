/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer: the qubes.Filecopy parser and filecopy-guard's rules over an
 * arbitrary stream, fed in pieces of arbitrary sizes, as the filter feeds
 * them. What it forwards must be exactly the stream up to where it stops,
 * and the parser must never read past what it was given.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "filecopy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fc_parser p;
static struct fc_totals t;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	/* the first byte picks the rules, the second the piece size */
	static const struct fc_name_rule names[] = { { false, "*.exe" }, { true, "*" } };
	struct fc_rules r = FC_RULES_INIT;
	r.no_symlinks = data[0] & 1;
	r.no_directories = data[0] & 2;
	r.safe_names = data[0] & 4;
	r.no_executables = data[0] & 8;
	r.no_special_modes = data[0] & 16;
	if (data[0] & 32) {
		r.max_files = 3;
		r.max_bytes = 100;
		r.max_depth = 2;
		r.max_name_length = 20;
	}
	if (data[0] & 64) {
		r.names = names;
		r.n_names = 2;
	}
	size_t piece = (size_t)data[1] + 1;
	data += 2;
	size_t len = size - 2;

	fc_init(&p);
	memset(&t, 0, sizeof(t));
	size_t off = 0, forwarded = 0;
	while (off < len) {
		size_t n = len - off < piece ? len - off : piece;
		size_t used;
		enum fc_event ev = fc_feed(&p, data + off, n, &used);
		if (used > n)
			abort();
		if (ev == FC_CONTENT) {
			forwarded += used;
		} else if (ev == FC_ENTRY) {
			char why[160];
			if (fc_check(&r, &t, &p.e, why, sizeof(why)))
				break;
			struct iovec iov[3];
			int k = fc_held(&p, iov);
			size_t held = 0;
			for (int i = 0; i < k; i++)
				held += iov[i].iov_len;
			/* the held bytes are the stream's own, just before this point */
			if (forwarded + held != off + used || held > off + used)
				abort();
			for (int i = 0, at = (int)forwarded; i < k; at += (int)iov[i].iov_len, i++)
				if (memcmp(iov[i].iov_base, data + at, iov[i].iov_len))
					abort();
			forwarded += held;
			fc_accept(&p);
		} else if (ev == FC_END) {
			forwarded += 32;
		} else if (ev == FC_MALFORMED) {
			if (!p.error || !*p.error)
				abort();
			break;
		}
		off += used;
		if (ev != FC_MORE && ev != FC_CONTENT && used == 0 && ev != FC_ENTRY)
			break;
	}
	const char *why = fc_eof(&p);
	(void)why;
	/* the name checks on their own, on the raw bytes */
	char *s = malloc(len + 1);
	if (!s)
		abort();
	memcpy(s, data, len);
	s[len] = '\0';
	const char *a = fc_safe_name(s);
	char *slash = strchr(s, '\n');
	if (slash) {
		*slash = '\0';
		fc_safe_symlink(s, slash + 1);
	}
	/* a safe name never climbs out or names the top */
	if (!a && (s[0] == '/' || !strcmp(s, "..") || !strncmp(s, "../", 3) || strstr(s, "/../")))
		abort();
	free(s);
	return 0;
}
