/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_END_H
#define QP_END_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "connlimits.h"
#include "summary.h"

/*
 * `qrexec-proxy end`: an administrator ends connections of the running
 * daemon (a stuck call, every call of a compromised qube) without
 * restarting it. The client asks over the control socket (control.h),
 * with the same peer check as status; the listener ends each connection
 * the request names by killing its supervisor (SIGKILL): its connector,
 * sandbox and filters die with it (PR_SET_PDEATHSIG; what a filter left
 * behind comes to the listener, a subreaper, which ends it), the
 * caller's socket, which only the supervisor held, closes, and a queued
 * one leaves its queue. Since the supervisor cannot write its summary,
 * the listener writes it when it reaps it, from its book.
 *
 * The listener drops a connection the same way when one local peer has
 * too many that have sent no descriptor (listener.c).
 */

/*
 * Ends C: its supervisor is killed, and once it is reaped, its summary
 * says RESULT (a qp_result name) and REASON. A connection that is
 * closing already (its supervisor writes its own summary) is left alone:
 * false.
 */
bool end_connection(struct limits_conn *c, const char *result, const char *reason);

/*
 * The supervisor of C, which end_connection ended, has been reaped with
 * STATUS: its summary, when it did not end by itself first. Whether it
 * wrote one.
 */
bool end_summary(const struct limits_conn *c, int status);

/*
 * The summary of connection C as the book knows it (source, target,
 * service, chain, duration, bytes as last reported), with RESULT and
 * REASON: for a supervisor that cannot write its own.
 */
void end_book_summary(struct summary *s, const struct limits_conn *c, const char *result, const char *reason);

/*
 * The daemon's side of a request "end id ID...", "end source NAME" or
 * "end chain NAME" (ARGS: what follows "end "), from the client uid UID:
 * ends every connection it names with reason "ended by uid UID", and
 * writes to OUT one line per connection: "ended ID STATE SOURCE CHAIN
 * TARGET SERVICE" ('-' for what is not known yet), "closing ID" (ending
 * already), "unknown ID"; or "error: ..." for a malformed request; then
 * "matched N". Returns N, how many it ended.
 */
int end_apply(struct limits *book, const char *args, uid_t uid, FILE *out);

/* What to end: by connection ids, by source, or by chain. */
enum end_by {
	END_BY_ID,
	END_BY_SOURCE,
	END_BY_CHAIN,
};

/*
 * The client: asks the daemon at PATH to end the connections NAMES[0..N)
 * name (ids, or one source or chain); prints what it ended. Exit 0: it
 * ended at least one; 1: nothing matched; 100: usage; 111: no answer.
 */
int end_ask(const char *path, enum end_by by, char *const *names, size_t n);

#endif
