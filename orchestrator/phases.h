/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_PHASES_H
#define QP_PHASES_H

/*
 * When each phase of a connection happened, for `serve --trace-phases`:
 * where a call's time goes, from the listener's accept to the caller's
 * EOF and on to the summary, on the machine where it is slow. A
 * supervisor serves one connection, so the marks are the process's own;
 * with tracing off, marking costs a clock read and nothing is logged.
 */
#include <stdbool.h>
#include <stdint.h>

enum phase {
	PHASE_SPARE_FORKED,  /* a spare: when it was forked (before the accept, as a rule) */
	PHASE_SPARE_READY,   /* a spare: its sandbox built and the filters started ahead, waiting */
	PHASE_ACCEPTED,      /* the listener accepted the connection */
	PHASE_HANDED,        /* its supervisor has it (the spare received it, or was forked) */
	PHASE_ROUTED,        /* the descriptor read, the call routed */
	PHASE_SLOT,          /* the slot granted */
	PHASE_PIPELINE,      /* the filters handed over (warm) or their sandbox asked to start them */
	PHASE_CONNECTOR,     /* the connector started (vfork returned) */
	PHASE_WOKEN,         /* filters started ahead have their environment */
	PHASE_STARTED,       /* every process reported started */
	PHASE_UP_FIRST,      /* the first byte from the caller into the pipeline */
	PHASE_DOWN_FIRST,    /* the first byte of the answer to the caller */
	PHASE_UP_EOF,        /* the caller's EOF passed on to the pipeline */
	PHASE_DOWN_EOF,      /* the pipeline's EOF passed on: the caller has its EOF */
	PHASE_EXITED,        /* every process of the connection reaped */
	PHASE_SANDBOX_GONE,  /* the sandbox's init reaped (its namespaces torn down) */
	PHASE_SUMMARY,       /* the summary written */
	PHASE_COUNT,
};

/* Whether this process logs its phases (serve --trace-phases); the marks are kept either way. */
void phases_enable(bool on);
bool phases_enabled(void);

/* The first time PHASE happened: now (later marks of it are ignored); _AT: at NS (CLOCK_MONOTONIC). */
void phase_mark(enum phase p);
void phase_mark_at(enum phase p, int64_t ns);

/* A process of the connection (TAG) was seen to end: now. */
void phase_mark_exit(const char *tag);

/* With tracing on: one LOG_DEBUG line with every phase and exit, in ms after the accept. */
void phases_log(void);

#endif
