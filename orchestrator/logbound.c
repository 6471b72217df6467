/* SPDX-License-Identifier: GPL-2.0-or-later */
/* One connection's log lines, bounded per second and in bytes (see logbound.h). */
#include "logbound.h"

void logbound_init(struct logbound *lb, uint32_t lines_per_second, uint64_t bytes)
{
	*lb = (struct logbound){ .per_second = lines_per_second, .bytes_left = bytes, .window_ms = -1 };
}

bool logbound_allow(struct logbound *lb, size_t len, int64_t now_ms, bool *first_drop)
{
	*first_drop = false;
	if (lb->window_ms < 0 || now_ms - lb->window_ms >= 1000) {
		lb->window_ms = now_ms;
		lb->in_window = 0;
	}
	if (lb->in_window < lb->per_second && len <= lb->bytes_left) {
		lb->in_window++;
		lb->bytes_left -= len;
		return true;
	}
	/* once the bytes are spent, nothing more: no short line slips through after a long one was dropped */
	lb->bytes_left = len > lb->bytes_left ? 0 : lb->bytes_left;
	lb->dropped++;
	*first_drop = !lb->said;
	lb->said = true;
	return false;
}
