/* SPDX-License-Identifier: GPL-2.0-or-later */
/* FNV-1a, 64 bits: enough to tell whether every byte went through unchanged. */
#ifndef QP_T_HASH_H
#define QP_T_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_INIT UINT64_C(0xcbf29ce484222325)

static inline uint64_t hash_update(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

/* deterministic bytes from a seed (xorshift64*), so both ends can agree */
static inline void fill_random(uint64_t *state, void *buf, size_t len)
{
	unsigned char *p = buf;
	uint64_t x = *state ? *state : 1;
	for (size_t i = 0; i < len; i++) {
		if ((i & 7) == 0) {
			x ^= x >> 12;
			x ^= x << 25;
			x ^= x >> 27;
		}
		p[i] = (unsigned char)((x * UINT64_C(0x2545F4914F6CDD1D)) >> (8 * (i & 7)));
	}
	*state = x;
}

#endif
