/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Lines of key=value pairs that a caller cannot bend: every value the
 * caller chose (the source, the service and its argument) is bounded and
 * escaped before it reaches a log line (see kvline.h).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "kvline.h"

static bool is_bare(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '=';
}

/* Writes VALUE (at most MAX bytes of it) escaped into OUT; returns the length, or SIZE if it did not fit. */
static size_t escape(char *out, size_t size, const char *value, size_t max)
{
	size_t len = strlen(value), n = len > max ? max : len, o = 0;
	bool bare = n > 0 && n == len;
	for (size_t i = 0; i < n && bare; i++)
		bare = is_bare((unsigned char)value[i]);
	if (!bare && o < size)
		out[o++] = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)value[i];
		char tmp[8];
		size_t k;
		if (bare || (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')) {
			tmp[0] = (char)c;
			k = 1;
		} else if (c == '"' || c == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)c;
			k = 2;
		} else {
			k = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02x", c);
		}
		if (o + k >= size)
			return size;
		memcpy(out + o, tmp, k);
		o += k;
	}
	if (n < len) {
		char mark[40];
		size_t k = (size_t)snprintf(mark, sizeof(mark), "...[+%zu bytes]", len - n);
		if (o + k >= size)
			return size;
		memcpy(out + o, mark, k);
		o += k;
	}
	if (!bare) {
		if (o + 1 >= size)
			return size;
		out[o++] = '"';
	}
	out[o] = '\0';
	return o;
}

const char *kvline_bounded(char *buf, size_t size, const char *value, size_t max)
{
	if (escape(buf, size, value ? value : "", max) >= size && size > 0)
		buf[0] = '\0';
	return buf;
}

const char *kvline_field(char *buf, size_t size, const char *value, size_t max)
{
	const char *v = value ? value : "";
	size_t len = strlen(v), n = len > max ? max : len, o = 0;
	if (size == 0)
		return buf;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		char tmp[8];
		size_t k = 1;
		if (c >= 0x20 && c < 0x7f)
			tmp[0] = (char)c;
		else
			k = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02x", c);
		if (o + k >= size)
			break;
		memcpy(buf + o, tmp, k);
		o += k;
	}
	if (n < len) {
		char mark[40];
		size_t k = (size_t)snprintf(mark, sizeof(mark), "...[+%zu bytes]", len - n);
		if (o + k < size) {
			memcpy(buf + o, mark, k);
			o += k;
		}
	}
	buf[o] = '\0';
	return buf;
}

void kvline_add(char *buf, size_t size, size_t *off, const char *key, const char *value, size_t max)
{
	size_t o = *off, klen = strlen(key);
	if (o + klen + 3 >= size)
		return;
	if (o)
		buf[o++] = ' ';
	memcpy(buf + o, key, klen);
	o += klen;
	buf[o++] = '=';
	size_t v = escape(buf + o, size - o, value ? value : "", max);
	if (v >= size - o) {
		buf[*off] = '\0';
		return;
	}
	*off = o + v;
}

void kvline_add_u64(char *buf, size_t size, size_t *off, const char *key, uint64_t value)
{
	char num[24];
	snprintf(num, sizeof(num), "%" PRIu64, value);
	kvline_add(buf, size, off, key, num, sizeof(num));
}
