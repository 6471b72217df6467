/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_POLICY_H
#define QP_POLICY_H

/*
 * The dom0 qrexec policy that matches a configuration (qrexec-proxy
 * policy): Qubes policy format v5, one line per rule,
 *     SERVICE ARGUMENT SOURCE TARGET ACTION [PARAM=VALUE...]
 * for /etc/qubes/policy.d/30-qrexec-proxy.policy. Only what a chain
 * allows exactly is written as a rule; what dom0 policy cannot say
 * exactly (a prefix, any argument) or what the chain leaves open (no
 * targets or no services) is written commented out, with a warning.
 */

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "config.h"

struct policy_options {
	const char *proxy_qube; /* the qube the proxy runs in (a qube name) */
	time_t date;            /* for the header, written in UTC */
};

/*
 * Writes the policy for CFG to OUT, and one line per warning to ERRF
 * ("FILE:LINE:COLUMN: warning: ..."). The output depends only on CFG and
 * O. Returns the number of warnings, or -1 with errno set (out of memory,
 * or OUT failed).
 */
int policy_write(const struct qp_config *cfg, const struct policy_options *o, FILE *out, FILE *errf);

/* Whether NAME can be the proxy qube: a qube name (a letter, then up to 30 of [A-Za-z0-9_.-]), not dom0. */
bool policy_valid_proxy_qube(const char *name);

/*
 * The places where CFG names NAME as a qube the proxy talks to: a source
 * or target of a chain, or of a transparent entry. The proxy qube must be
 * none of them, or the rules written would let it call itself through
 * the proxy. One line per place to ERRF ("FILE:LINE:COLUMN: ..."); returns
 * how many.
 */
size_t policy_proxy_qube_conflicts(const struct qp_config *cfg, const char *name, FILE *errf);

#endif
