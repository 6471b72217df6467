/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one line per connection, as key=value pairs that a caller cannot
 * bend: every value the caller chose (source, service and its argument)
 * is bounded and escaped before it reaches a log line.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "summary.h"

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

const char *summary_bounded(char *buf, size_t size, const char *value, size_t max)
{
	if (escape(buf, size, value ? value : "", max) >= size && size > 0)
		buf[0] = '\0';
	return buf;
}

void summary_add(char *buf, size_t size, size_t *off, const char *key, const char *value, size_t max)
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

void summary_add_u64(char *buf, size_t size, size_t *off, const char *key, uint64_t value)
{
	char num[24];
	snprintf(num, sizeof(num), "%" PRIu64, value);
	summary_add(buf, size, off, key, num, sizeof(num));
}

/* how a field is written: as text, a count, or microseconds as seconds */
enum summary_kind {
	SUMMARY_TEXT,
	SUMMARY_COUNT,
	SUMMARY_SECONDS_US, /* "1.234567s" in the line */
	SUMMARY_SECONDS_MS, /* "1.234s" in the line */
};

static const struct summary_def {
	const char *key;     /* in the line */
	const char *journal; /* the journal field */
	enum summary_kind kind;
	int64_t journal_unit; /* microseconds per unit of the journal field (times) */
	bool only_if_known;   /* left out of the line when unknown or empty */
} summary_defs[SUMMARY_NFIELDS] = {
	[SUMMARY_SOURCE] = { "source", "QP_SOURCE", SUMMARY_TEXT, 0, false },
	[SUMMARY_TARGET] = { "target", "QP_TARGET", SUMMARY_TEXT, 0, false },
	[SUMMARY_SERVICE] = { "service", "QP_SERVICE", SUMMARY_TEXT, 0, false },
	[SUMMARY_CHAIN] = { "chain", "QP_CHAIN", SUMMARY_TEXT, 0, false },
	[SUMMARY_RESULT] = { "result", "QP_RESULT", SUMMARY_TEXT, 0, false },
	[SUMMARY_REASON] = { "reason", "QP_REASON", SUMMARY_TEXT, 0, true },
	[SUMMARY_DURATION] = { "duration", "QP_DURATION_MS", SUMMARY_SECONDS_US, 1000, false },
	[SUMMARY_SETUP] = { "setup", "QP_SETUP_US", SUMMARY_SECONDS_US, 1, false },
	[SUMMARY_SRC2DST] = { "src2dst", "QP_BYTES_IN", SUMMARY_COUNT, 0, false },
	[SUMMARY_DST2SRC] = { "dst2src", "QP_BYTES_OUT", SUMMARY_COUNT, 0, false },
	[SUMMARY_QUEUED] = { "queued", "QP_QUEUED_MS", SUMMARY_SECONDS_MS, 1000, false },
	[SUMMARY_PIPE] = { "pipe", "QP_PIPE_SIZE", SUMMARY_COUNT, 0, false },
};

void summary_init(struct summary *s, const char *id)
{
	s->id = id;
	for (size_t i = 0; i < SUMMARY_NFIELDS; i++) {
		s->text[i] = NULL;
		s->num[i] = -1;
	}
}

/* field F of S as it reads in the line (OUT, at most SIZE bytes); NULL when unknown */
static const char *line_value(const struct summary *s, enum summary_field f, char *out, size_t size)
{
	const struct summary_def *d = &summary_defs[f];
	int64_t v = s->num[f];
	if (d->kind == SUMMARY_TEXT)
		return s->text[f];
	if (v < 0)
		return NULL;
	if (d->kind == SUMMARY_COUNT)
		snprintf(out, size, "%lld", (long long)v);
	else if (d->kind == SUMMARY_SECONDS_US)
		snprintf(out, size, "%lld.%06llds", (long long)(v / 1000000), (long long)(v % 1000000));
	else
		snprintf(out, size, "%lld.%03llds", (long long)(v / 1000000), (long long)(v % 1000000 / 1000));
	return out;
}

void summary_log(int priority, const struct summary *s)
{
	char line[3072], text[SUMMARY_NFIELDS][SUMMARY_FIELD_MAX * 4 + 64], num[SUMMARY_NFIELDS][32];
	struct log_kv kv[SUMMARY_NFIELDS + 1];
	size_t o = (size_t)snprintf(line, sizeof(line), "connection %s:", s->id), nkv = 0;

	kv[nkv++] = (struct log_kv){ "QP_CONNECTION", s->id };
	for (size_t f = 0; f < SUMMARY_NFIELDS; f++) {
		const struct summary_def *d = &summary_defs[f];
		char shown[32];
		const char *v = line_value(s, (enum summary_field)f, shown, sizeof(shown));
		if (!(d->only_if_known && (!v || !*v)))
			summary_add(line, sizeof(line), &o, d->key, v ? v : "-", SUMMARY_FIELD_MAX);
		if (d->kind == SUMMARY_TEXT) {
			kv[nkv++] = (struct log_kv){ d->journal,
						     summary_bounded(text[f], sizeof(text[f]),
								     v ? v : (d->only_if_known ? "" : "-"),
								     SUMMARY_FIELD_MAX) };
		} else if (s->num[f] >= 0) {
			int64_t j = d->journal_unit > 0 ? s->num[f] / d->journal_unit : s->num[f];
			snprintf(num[f], sizeof(num[f]), "%lld", (long long)j);
			kv[nkv++] = (struct log_kv){ d->journal, num[f] };
		}
	}
	log_structured(priority, line, kv, nkv);
}
