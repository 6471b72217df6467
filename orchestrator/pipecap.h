/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_PIPECAP_H
#define QP_PIPECAP_H

#include <stdbool.h>

/*
 * CAP_SYS_RESOURCE for the daemon's own pipes, and for nothing it starts.
 *
 * The kernel charges every pipe to the user that creates it, and once that
 * user is over fs.pipe-user-pages-soft it gives each new pipe of an
 * unprivileged process two pages and lets none grow. Filters run as the
 * daemon's user: a filter that fills that allowance with pipes of its own
 * would shrink every other connection's pipes. With CAP_SYS_RESOURCE the
 * supervisors' pipes are sized as the budget says whatever the user holds
 * (fs/pipe.c: pipe_is_unprivileged_user()).
 */
enum pipecap {
	PIPECAP_ROOT,    /* the daemon is root: exempt, and its filters run as nobody */
	PIPECAP_KEPT,    /* CAP_SYS_RESOURCE effective here, in no program started */
	PIPECAP_NONE,    /* not granted: the daemon's pipes share the user's allowance */
};

/*
 * Empties the ambient set, so that no program the daemon execs (filters,
 * connector) gets any capability; and, where capset is allowed (the
 * unit's SystemCallFilter=~@privileged refuses it), keeps CAP_SYS_RESOURCE
 * alone in the permitted and effective sets and empties the inheritable
 * one. Call once, before anything is forked. Leaves a root daemon's
 * capabilities alone. Sets *OUT to what the daemon has; returns 0, or -1
 * with errno set when the ambient set could not be emptied (the daemon
 * must not go on: its children would inherit it).
 */
int pipecap_keep(enum pipecap *out);

/* a phrase for the start-up log line */
const char *pipecap_describe(enum pipecap c);

#endif
