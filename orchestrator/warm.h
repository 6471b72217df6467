/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_WARM_H
#define QP_WARM_H

/*
 * The warm pipeline: a spare supervisor (spare.h) starts the filters of
 * the chain its connection will most likely ask for (the chain of the
 * last call) before that connection exists, in the sandbox it prepared
 * for it, so that a call pays neither their exec(2) nor their start-up.
 *
 * Only programs built with the filter kit that carry its note (the
 * "prestart" ELF note of qpf.c) are started ahead: started with only
 * QREXEC_PROXY_PRESTART=1 in their environment, such a program waits in
 * qpf_init() for its real environment, which the supervisor writes on
 * its stderr (a socket, not a pipe, for these) once the connection is
 * known and admitted: a 32-bit length, then NAME=VALUE strings each
 * ended by a NUL. At EOF instead it exits 0. A program without the note
 * is never started ahead: it gets its environment at exec, as always.
 *
 * The pipes are made at the kernel's default size and resized to the
 * connection's share when it is admitted. A pipeline that does not fit
 * the call (another chain, another isolation, a call that has to wait
 * for a slot) is discarded: its sandbox is killed with every program in
 * it, none of which saw any data.
 */

#include <stdbool.h>
#include <stddef.h>

#include "qpf-contract.h"
#include "config.h"
#include "isolate.h"
#include "pipeline.h"


/* Whether the program at PATH carries the kit's prestart note. */
bool warm_capable(const char *path);

struct warm {
	const struct qp_chain *chain;  /* NULL: nothing warm */
	const struct isolate_policy *pol;
	struct isolate_sandbox sb;     /* its init runs the filters, each waiting for its environment */
	size_t nhops, nup;
	struct hop *hops;              /* nhops + 1 */
	int (*pipes)[2];               /* nhops + 2 pipes, pipes[k] feeding hop k; both ends held */
	int *pipe_path;                /* an O_PATH handle of each (-1: none), to resize it later */
	size_t n;                      /* programs in the sandbox */
	size_t *map;                   /* program i is hop map[i] */
	int *env_fd;                   /* per program: our end of its stderr socket */
};

/*
 * Starts the filters of CH in the prepared sandbox PREP (which this
 * takes) under BOUNDS (CH's), if CH has filters and every one carries the note. 0 when W
 * holds a warm pipeline, -1 when it does not (PREP is then untouched).
 */
int warm_prepare(struct warm *w, const struct qp_chain *ch, struct isolate_prepared *prep,
		 const struct isolate_bounds *bounds);

/*
 * Hands a program started ahead its environment ENV (NULL-terminated)
 * over FD, our end of its stderr socket. 0, or -1 when it did not take
 * it all at once (it is then of no use).
 */
int warm_send_fd(int fd, char *const *env);

/* The bytes warm_send_fd() sends for ENV, without the length before them. */
size_t warm_env_size(char *const *env);

/*
 * Whether everything W started still runs: its sandbox's init, and every
 * program (its stderr socket not hung up). A program that died waiting
 * (the OOM killer, say) would fail the call that takes the pipeline.
 */
bool warm_alive(struct warm *w);

/* Kills what W started and closes what it holds (anything already taken must be set to -1). */
void warm_discard(struct warm *w);

#endif
