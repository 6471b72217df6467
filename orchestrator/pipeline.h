/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_PIPELINE_H
#define QP_PIPELINE_H

/*
 * A chain as processes and pipes, the same for a pipeline started when
 * its call comes (supervise.c) and one started ahead of it (warm.c): the
 * hops in the order data passes them, each step's argv, the pipes between
 * them and the tag each process is logged under.
 */
#include <stddef.h>

#include "config.h"
#include "isolate.h"

/* a chain's filters: each may run in both directions, two programs of one sandbox */
#define QP_MAX_FILTERS (QP_MAX_PROCS / 2)

/* one process of a pipeline: a filter in one direction, or the connector (step NULL) */
struct hop {
	const struct qp_step *step;
	unsigned dir;  /* QP_DIR_SRC2DST or QP_DIR_DST2SRC; 0 for the connector */
	size_t pos;    /* 1-based position in the chain */
};

/*
 * The processes of CH in the order data passes them: the src2dst
 * filters, the connector, the dst2src filters (the chain reversed).
 * HOPS has room for 2 * nfilters + 1. Returns the number of filter hops;
 * *NUP is the connector's index.
 */
size_t pipeline_hops(const struct qp_chain *ch, struct hop *hops, size_t *nup);

/* argv of a step: its name, then its args (pointers into the step). NULL: out of memory. */
char **pipeline_step_argv(const struct qp_step *s);

/* "filter NAME#POS (DIRECTION)", the tag a filter's lines and failures are logged under */
void pipeline_hop_tag(char *buf, size_t size, const struct hop *hp);

/*
 * Makes the N pipes of a pipeline with NHOPS filter hops (N = NHOPS + 2;
 * pipes[k] feeds hop k), close-on-exec, at the kernel's default size;
 * PATHS (may be NULL) gets an O_PATH handle of each, which can reopen
 * the pipe to resize it without being a reader or a writer (-1 where
 * none could be had). Returns 0, or -1 with errno, every pipe closed.
 */
int pipeline_make_pipes(int (*pipes)[2], size_t n, int *paths);

/* Closes every end of the N pipes still open (-1: closed) and marks them closed. */
void pipeline_close_pipes(int (*pipes)[2], size_t n);

#endif
