/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_ROUTE_H
#define QP_ROUTE_H

/*
 * Where a call goes, decided in one sequence for every mode that takes
 * calls (serve's supervisor, exec): the service it came in under and its
 * argument, then the transparent entry (a service name other than the
 * proxy's), the chain, the chain's allowlists and the connector. Each
 * caller turns a refusal into its own form (an immediate EOF and a
 * summary, an exit code).
 */
#include "config.h"
#include "descriptor.h"

enum route_status {
	ROUTE_OK,
	ROUTE_REFUSED,  /* the call is not one to make: r->reason says why */
	ROUTE_FAILED,   /* a system call failed (out of memory): r->reason says which */
};

struct route {
	const char *source;
	struct qp_call call;          /* chain, target, service: what is known so far (NULL: not yet) */
	const struct qp_chain *chain; /* the chain, once found */
	char **connector;             /* its connector's argv, placeholders expanded */
	char *owned;                  /* a transparent call's destination service */
	char reason[512];             /* a refusal: the rule and the refused value */
};

/*
 * Routes a call for SERVICE_NAME with ARGUMENT (the proxy's own form
 * CHAIN+TARGET+SERVICE[+ARG] is split in place) from SOURCE under CFG
 * (NULL: it did not load, every call is refused). R holds the result;
 * route_free() it in every case.
 */
enum route_status route_call(const struct qp_config *cfg, const char *service_name, char *argument,
			     const char *source, struct route *r);

void route_free(struct route *r);

#endif
