/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Where a call goes (see route.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"
#include "kvline.h"
#include "transparent.h"

static enum route_status refused(struct route *r, enum route_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static enum route_status refused(struct route *r, enum route_status st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
	return st;
}

/* a value the caller chose, as a reason may quote it: bounded and escaped */
static const char *shown(char *buf, size_t size, const char *v)
{
	return kvline_bounded(buf, size, v ? v : "", 64);
}

enum route_status route_call(const struct qp_config *cfg, const char *service_name, char *argument,
			     const char *source, struct route *r)
{
	const char *why;
	char v[300], w[300];

	memset(r, 0, sizeof(*r));
	r->source = source;
	bool proxy_form = !strcmp(service_name, QP_PROXY_SERVICE);
	if (proxy_form && argument_parse(argument, &r->call, &why) < 0) {
		memset(&r->call, 0, sizeof(r->call));
		return refused(r, ROUTE_REFUSED, "malformed argument: %s", why);
	}
	/*
	 * No configuration: it did not load at start (socket activation
	 * keeps the socket). The call is still read and named, so the
	 * caller sees a clean EOF and the log says who was refused.
	 */
	if (!cfg)
		return refused(r, ROUTE_REFUSED, "the configuration did not load; fix it, then reload");
	/* any other service name was redirected here by dom0: the configuration says where it goes */
	if (!proxy_form &&
	    !transparent_route(cfg, service_name, argument, source, &r->call, &r->owned, &why))
		return refused(r, r->owned || strcmp(why, "out of memory") ? ROUTE_REFUSED : ROUTE_FAILED,
			       "call for %s from %s: %s", shown(v, sizeof(v), service_name), source, why);
	r->chain = config_chain(cfg, r->call.chain);
	if (!r->chain)
		return refused(r, ROUTE_REFUSED, "no chain '%s' in the configuration",
			       shown(v, sizeof(v), r->call.chain));
	/* where the chain may lead: checked before any admission check or filter runs */
	const char *which = config_chain_refuses(r->chain, source, r->call.target, r->call.service);
	if (which) {
		const char *value = !strcmp(which, "source") ? source
				    : !strcmp(which, "target") ? r->call.target
							       : r->call.service;
		return refused(r, ROUTE_REFUSED, "%s '%s' is not in chain '%s' %ss", which,
			       shown(v, sizeof(v), value), shown(w, sizeof(w), r->chain->name), which);
	}
	struct qp_placeholders ph = {
		.target = r->call.target, .service = r->call.service, .source = source, .chain = r->call.chain,
	};
	r->connector = config_expand_connector(config_connector(cfg, r->chain), &ph);
	if (!r->connector)
		return refused(r, ROUTE_FAILED, "unable to prepare the connector: out of memory");
	return ROUTE_OK;
}

void route_free(struct route *r)
{
	config_free_argv(r->connector);
	r->connector = NULL;
	free(r->owned);
	r->owned = NULL;
}
