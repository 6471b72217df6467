/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_SPARE_H
#define QP_SPARE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/filter.h>

#include "config.h"
#include "serve.h"

/*
 * A supervisor forked before its connection arrives: the fork, and the
 * sandbox its filters will run in, cost the caller nothing when it comes.
 * The listener keeps one spare; on accept it hands the connection's fd to
 * it (SCM_RIGHTS over a socketpair), and forks the next one once no
 * connection is being set up or runs for a caller that still waits for
 * its EOF, or, while one does, once none has come for SPARE_BUSY_MS
 * (under a burst of calls, each gets a supervisor forked on accept, as
 * without a spare). A spare holds the configuration of the moment it was
 * forked: on reload it is replaced.
 */
/*
 * While a connection is being set up or runs for its caller, how long
 * after the last accept the next spare waits: its fork, sandbox and
 * filters' execs would take the CPU from that call, which on a slow
 * machine lasts longer than its set-up (the proxy's part of an ordinary
 * call is over well within it). Past that, a long transfer or a slow
 * destination does not keep the next call from finding a spare.
 */
#define SPARE_BUSY_MS 20
/* past that, how much longer it waits for accepted connections to name their chain (warm.h) */
#define SPARE_HINT_WAIT_MS 50
/* how long a dropped spare may take to end what it started before it is killed */
#define SPARE_DROP_MS 1000

struct spare {
	pid_t pid;   /* -1: none */
	int ctl;     /* the listener's end of the socketpair the connection is handed over */
	int chan;    /* the listener's end of its admission channel (connlimits.h) */
};

/*
 * Forks a spare (serve_fork) serving connections under X's configuration,
 * with an admission channel of its own. HINT: the chain of the last call
 * (NULL or "": none), whose filters the spare starts ahead if it can
 * (warm.h); with one chain in the configuration, that one. 0, or -1 with
 * errno (then the listener forks per connection as before).
 */
int spare_start(struct spare *s, const struct serve_ctx *x, const char *hint);

/*
 * Hands connection FD (its ID and accept time START_NS) to the spare;
 * ALONE: it is the only connection in the book, admitted before it asks
 * (limits_pregrant), so the spare does not wait for its slot. Returns the
 * spare's pid, now a supervisor of that connection, with the listener's
 * end of its admission channel in *CHAN (the caller's now), or -1 when
 * there is no spare or it did not take it (the caller still owns FD).
 */
pid_t spare_take(struct spare *s, int fd, const char *id, int64_t start_ns, bool alone, int *chan);

/* Ends the spare and reaps it (reload, stop). */
void spare_drop(struct spare *s);

/* Whether PID is the spare; if so, it has ended (reaped by the caller) and is forgotten. */
bool spare_reaped(struct spare *s, pid_t pid);

#endif
