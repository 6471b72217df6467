/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_LOGBOUND_H
#define QP_LOGBOUND_H

/*
 * How much one connection's processes may log (bounds.h: the chain's
 * log_lines_per_second and log_bytes): at most so many lines in any
 * second and so many bytes in all. A flood from one connection must not
 * fill the journal, nor push other connections' summaries past the
 * journal's rate limit; what is dropped is counted for the summary
 * (log_dropped=).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct logbound {
	uint32_t per_second;
	uint64_t bytes_left;
	int64_t window_ms;    /* when the current second began */
	uint32_t in_window;   /* lines logged in it */
	uint64_t dropped;     /* lines not logged */
	bool said;            /* the drops were announced (once) */
};

void logbound_init(struct logbound *lb, uint32_t lines_per_second, uint64_t bytes);

/*
 * Whether a line of LEN bytes may be logged at NOW_MS; counts it, or its
 * drop. *FIRST_DROP: this is the first line dropped (to say so, once).
 */
bool logbound_allow(struct logbound *lb, size_t len, int64_t now_ms, bool *first_drop);

#endif
