/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one summary per connection (see summary.h): its fields declared
 * once, written as a key=value line (kvline.h) and as journal fields.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "kvline.h"
#include "log.h"
#include "summary.h"
#include "supervise.h"

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
	[SUMMARY_BOUND] = { "bound", "QP_BOUND", SUMMARY_TEXT, 0, false },
	[SUMMARY_LOG_DROPPED] = { "log_dropped", "QP_LOG_DROPPED", SUMMARY_COUNT, 0, true },
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

void summary_log_refused(const char *id, const char *source, const char *target, const char *service,
			 const char *chain, const char *reason, int64_t duration_us)
{
	struct summary s;
	summary_init(&s, id);
	s.text[SUMMARY_SOURCE] = source;
	s.text[SUMMARY_TARGET] = target;
	s.text[SUMMARY_SERVICE] = service;
	s.text[SUMMARY_CHAIN] = chain;
	s.text[SUMMARY_RESULT] = qp_result_name(QP_REFUSED);
	s.text[SUMMARY_REASON] = reason;
	s.num[SUMMARY_DURATION] = duration_us;
	s.num[SUMMARY_SRC2DST] = 0;
	s.num[SUMMARY_DST2SRC] = 0;
	summary_log(LOG_WARNING, &s);
}

void summary_log(int priority, const struct summary *s)
{
	char line[3072], text[SUMMARY_NFIELDS][KVLINE_FIELD_MAX * 4 + 64], num[SUMMARY_NFIELDS][32];
	struct log_kv kv[SUMMARY_NFIELDS + 1];
	size_t o = (size_t)snprintf(line, sizeof(line), "connection %s:", s->id), nkv = 0;

	kv[nkv++] = (struct log_kv){ "QP_CONNECTION", s->id };
	for (size_t f = 0; f < SUMMARY_NFIELDS; f++) {
		const struct summary_def *d = &summary_defs[f];
		char shown[32];
		const char *v = line_value(s, (enum summary_field)f, shown, sizeof(shown));
		if (!(d->only_if_known && (!v || !*v)))
			kvline_add(line, sizeof(line), &o, d->key, v ? v : "-", KVLINE_FIELD_MAX);
		if (d->kind == SUMMARY_TEXT) {
			kv[nkv++] = (struct log_kv){ d->journal,
						     kvline_field(text[f], sizeof(text[f]),
								  v ? v : (d->only_if_known ? "" : "-"),
								  KVLINE_FIELD_MAX) };
		} else if (s->num[f] >= 0) {
			int64_t j = d->journal_unit > 0 ? s->num[f] / d->journal_unit : s->num[f];
			snprintf(num[f], sizeof(num[f]), "%lld", (long long)j);
			kv[nkv++] = (struct log_kv){ d->journal, num[f] };
		}
	}
	log_structured(priority, line, kv, nkv);
}
