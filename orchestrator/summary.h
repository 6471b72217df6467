/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_SUMMARY_H
#define QP_SUMMARY_H

#include <stddef.h>
#include <stdint.h>

#include "kvline.h"

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
	SUMMARY_BOUND,     /* what held its memory and tasks: cgroup or rlimit (bounds.h) */
	SUMMARY_LOG_DROPPED, /* stderr lines over its bound, not logged (only when some were) */
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

/*
 * The summary of connection ID refused before anything started, after
 * DURATION_US: result=refused, REASON, and the names known so far (NULL:
 * not known yet, '-'), no byte moved.
 */
void summary_log_refused(const char *id, const char *source, const char *target, const char *service,
			 const char *chain, const char *reason, int64_t duration_us);

#endif
