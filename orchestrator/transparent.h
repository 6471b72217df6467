/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_TRANSPARENT_H
#define QP_TRANSPARENT_H

#include <stddef.h>
#include <stdio.h>

#include "config.h"
#include "descriptor.h"

/*
 * Transparent mode. dom0 policy can redirect an ordinary call to the proxy
 * qube (SERVICE * SOURCE TARGET allow target=PROXY), whose agent then hands
 * the proxy "SERVICE+ARG SOURCE" and nothing of the target the caller asked
 * for. Where such a call goes, and through which chain, is the
 * configuration's 'transparent' list: the first entry that names SERVICE
 * and takes calls from SOURCE.
 */

/* The first entry for SERVICE that takes calls from SOURCE, or NULL. */
const struct qp_transparent *transparent_match(const struct qp_config *cfg, const char *service, const char *source);

/*
 * The call a transparent descriptor stands for: CALL gets the matching
 * entry's chain and target, and as destination service SERVICE+ARGUMENT
 * (ARGUMENT unchanged; SERVICE alone when it is empty, which is the same
 * call to qrexec), in *OWNED, which the caller frees after CALL's last use.
 * Returns the entry, or NULL with *WHY (static text): no entry matches, the
 * argument holds what qrexec never lets through, or memory ran out.
 */
const struct qp_transparent *transparent_route(const struct qp_config *cfg, const char *service,
					       const char *argument, const char *source, struct qp_call *call,
					       char **owned, const char **why);

/*
 * Splits FULL, qrexec's QREXEC_SERVICE_FULL_NAME (SERVICE+ARG, modified in
 * place), with the checks a descriptor gets: a service name of qrexec's
 * characters and length, an argument of [A-Za-z0-9_.+-]. No '+': no
 * argument. Returns 0, or -1 with *WHY.
 */
int transparent_split_full_name(char *full, char **service, char **argument, const char **why);

/*
 * What check says about the list, as "FILE:LINE:COLUMN: warning: ..." lines
 * on OUT: an entry that an earlier one always takes first, a source of an
 * entry that an earlier entry takes first, an entry whose chain's
 * allowlists refuse every call it would make. Returns how many.
 */
size_t transparent_warnings(const struct qp_config *cfg, FILE *out);

/* One line per entry, for check: "  transparent SERVICE from SOURCES -> TARGET through CHAIN". */
void transparent_describe(const struct qp_config *cfg, FILE *out);

#endif
