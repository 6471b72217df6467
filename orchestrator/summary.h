/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_SUMMARY_H
#define QP_SUMMARY_H

#include <stddef.h>
#include <stdint.h>

/* how much of a caller-controlled value (the service's argument) a log line carries */
#define SUMMARY_FIELD_MAX 256

/*
 * Appends " KEY=VALUE" (no space when *OFF is 0) to BUF at *OFF. VALUE is
 * cut after MAX bytes, with a marker saying how much was left out
 * ("...[+N bytes]"), and written bare only when it holds nothing but
 * printable ASCII other than space, '"', '\' and '='; otherwise in double
 * quotes with '"' and '\' escaped by a backslash and every other byte
 * outside printable ASCII as \xNN. So a line of these pairs parses back
 * unambiguously, and nothing a caller sends can end it or forge a pair.
 * Never writes past SIZE; a pair that does not fit is left out whole.
 */
void summary_add(char *buf, size_t size, size_t *off, const char *key, const char *value, size_t max);

/* the same for a number */
void summary_add_u64(char *buf, size_t size, size_t *off, const char *key, uint64_t value);

/* VALUE cut and escaped as summary_add does, without a key, for a journal field or a log prefix */
const char *summary_bounded(char *buf, size_t size, const char *value, size_t max);

/*
 * The fields of a connection's summary, in the order the line gives
 * them; each has its key in the line and its journal field (summary.c's
 * table): adding a field is one line there and one here.
 */
enum summary_field {
	SUMMARY_SOURCE,
	SUMMARY_TARGET,
	SUMMARY_SERVICE,
	SUMMARY_CHAIN,
	SUMMARY_RESULT,
	SUMMARY_REASON,    /* in the line only when there is one */
	SUMMARY_DURATION,  /* microseconds from accept to the end */
	SUMMARY_SETUP,     /* microseconds from accept to every process started */
	SUMMARY_SRC2DST,   /* bytes */
	SUMMARY_DST2SRC,
	SUMMARY_QUEUED,    /* microseconds waited for a slot */
	SUMMARY_PIPE,      /* bytes of the smallest data pipe */
	SUMMARY_NFIELDS,
};

/* One connection's summary: every value unknown ('-') until set. */
struct summary {
	const char *id;
	const char *text[SUMMARY_NFIELDS];  /* the text fields; NULL: unknown */
	int64_t num[SUMMARY_NFIELDS];       /* the numbers; -1: unknown */
};

/* S with ID and every field unknown. */
void summary_init(struct summary *s, const char *id);

/*
 * Logs S as "connection ID: key=value ...", every value bounded and
 * escaped, with the same values as journal fields of their own (QP_*).
 * The one way every summary is written, whoever writes it.
 */
void summary_log(int priority, const struct summary *s);

#endif
