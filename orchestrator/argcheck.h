/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_ARGCHECK_H
#define QP_ARGCHECK_H

#include <stdio.h>
#include <linux/filter.h>

#include "config.h"
#include "isolate.h"

/* how long every step of a configuration together may take to say whether its arguments are good */
#define ARGCHECK_TIMEOUT_MS 2000

/*
 * Has every filter and admission check of CFG check its own arguments
 * before the configuration is accepted (check, serve, reload): each runs
 * once, with QREXEC_PROXY_DIRECTION=check, stdin and stdout on /dev/null
 * and its arguments, in a sandbox of POL under SECCOMP, all at once and
 * within ARGCHECK_TIMEOUT_MS. Exit 100: its arguments are bad, and its
 * stderr says why: a problem, to ERRF as "FILE:LINE:COLUMN: message" at
 * the step's args, as is a step that cannot be started. Anything else is
 * no verdict against the file (a filter that knows nothing of check mode
 * reads EOF and exits 0, /bin/false exits 1, a sleep runs out of time): a
 * warning to WARNINGS (NULL: none) when it is not 0. First of all, every
 * program must be one its user can run, and the state directory one the
 * admission checks can write (reach.h): if not, that is what is said,
 * and nothing runs. Returns the number of problems (0: all good), or -1
 * when the checks could not be run at all (ERRF says why).
 */
int argcheck_config(const struct qp_config *cfg, const struct isolate_policy *pol, const struct sock_fprog *seccomp,
		    FILE *errf, FILE *warnings);

#endif
