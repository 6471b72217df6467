/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Transparent mode: which entry of the configuration's 'transparent' list
 * a redirected call belongs to, and what check says about the list. The
 * loader (config.c) has already checked every name and that every chain
 * exists, so what is matched here are names qrexec lets through.
 */
#include "transparent.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static bool entry_takes_source(const struct qp_transparent *e, const char *source)
{
	if (!e->sources)
		return true;
	for (size_t i = 0; i < e->nsources; i++)
		if (!strcmp(e->sources[i], source))
			return true;
	return false;
}

const struct qp_transparent *transparent_match(const struct qp_config *cfg, const char *service, const char *source)
{
	for (size_t i = 0; cfg && i < cfg->ntransparent; i++) {
		const struct qp_transparent *e = &cfg->transparent[i];
		if (!strcmp(e->service, service) && entry_takes_source(e, source))
			return e;
	}
	return NULL;
}

const struct qp_transparent *transparent_route(const struct qp_config *cfg, const char *service,
					       const char *argument, const char *source, struct qp_call *call,
					       char **owned, const char **why)
{
	*owned = NULL;
	memset(call, 0, sizeof(*call));
	const struct qp_transparent *e = transparent_match(cfg, service, source);
	if (!e) {
		bool named = false;
		for (size_t i = 0; cfg && i < cfg->ntransparent && !named; i++)
			named = !strcmp(cfg->transparent[i].service, service);
		*why = named ? "the transparent entries for this service do not take calls from this source"
			     : "no transparent entry for this service";
		return NULL;
	}
	if (!name_argument(argument)) {
		*why = "bad character in the service argument";
		return NULL;
	}
	/*
	 * An empty argument is what qrexec sends when the caller gave none,
	 * and qrexec-daemon adds the '+' again: SERVICE alone is the same
	 * call, and reads as the proxy form does in the chain's 'services'.
	 */
	int n = *argument ? asprintf(owned, "%s+%s", service, argument) : asprintf(owned, "%s", service);
	if (n < 0) {
		*owned = NULL;
		*why = "out of memory";
		return NULL;
	}
	call->chain = e->chain;
	call->target = e->target;
	call->service = *owned;
	return e;
}

int transparent_split_full_name(char *full, char **service, char **argument, const char **why)
{
	char *plus = strchr(full, '+');
	size_t n = plus ? (size_t)(plus - full) : strlen(full);
	if (n == 0 || n > NAME_SERVICE_MAX) {
		*why = "bad service name";
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (!name_char(full[i])) {
			*why = "bad character in the service name";
			return -1;
		}
	}
	if (plus) {
		*plus = '\0';
		if (!name_argument(plus + 1)) {
			*why = "bad character in the service argument";
			return -1;
		}
	}
	*service = full;
	*argument = plus ? plus + 1 : full + n;
	return 0;
}

/* ---- check ---- */

static bool list_has(char *const *list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i], s))
			return true;
	return false;
}

/*
 * Whether a pattern of a chain's 'services' (SERVICE, SERVICE+ARG,
 * SERVICE+, PREFIX*) lets some call of SERVICE through, whatever its
 * argument.
 */
static bool pattern_admits(const char *pattern, const char *service)
{
	size_t n = strlen(service), m = strlen(pattern);
	if (m && pattern[m - 1] == '*') {
		m--;
		if (m <= n)
			return !strncmp(pattern, service, m);
		return !strncmp(pattern, service, n) && pattern[n] == '+';
	}
	return !strcmp(pattern, service) || (!strncmp(pattern, service, n) && pattern[n] == '+');
}

/* an earlier entry for the same service that takes every call from SOURCE (NULL: any source) */
static const struct qp_transparent *earlier_taking(const struct qp_config *cfg, size_t j, const char *source)
{
	const struct qp_transparent *e = &cfg->transparent[j];
	for (size_t i = 0; i < j; i++) {
		const struct qp_transparent *p = &cfg->transparent[i];
		if (strcmp(p->service, e->service))
			continue;
		if (!p->sources || (source && list_has(p->sources, p->nsources, source)))
			return p;
	}
	return NULL;
}

static size_t shadow_warnings(const struct qp_config *cfg, size_t j, FILE *out)
{
	const struct qp_transparent *e = &cfg->transparent[j];
	const struct qp_transparent *all = earlier_taking(cfg, j, NULL);
	if (all) {
		fprintf(out, "%s:%d:%d: warning: this transparent entry for '%s' never matches: the entry at line %d takes every call for '%s' first\n",
			cfg->file, e->line, e->column, e->service, all->line, e->service);
		return 1;
	}
	if (!e->sources)
		return 0;
	size_t taken = 0;
	for (size_t k = 0; k < e->nsources; k++)
		if (earlier_taking(cfg, j, e->sources[k]))
			taken++;
	if (taken && taken == e->nsources) {
		fprintf(out, "%s:%d:%d: warning: this transparent entry for '%s' never matches: earlier entries take the calls of all its sources first\n",
			cfg->file, e->line, e->column, e->service);
		return 1;
	}
	for (size_t k = 0; k < e->nsources; k++) {
		const struct qp_transparent *p = earlier_taking(cfg, j, e->sources[k]);
		if (p)
			fprintf(out, "%s:%d:%d: warning: source '%s' never reaches this transparent entry for '%s': the entry at line %d takes its calls first\n",
				cfg->file, e->line, e->column, e->sources[k], e->service, p->line);
	}
	return taken;
}

/* the chain's allowlists apply to transparent calls too: say when they refuse all of an entry's */
static size_t allowlist_warnings(const struct qp_config *cfg, const struct qp_transparent *e, FILE *out)
{
	const struct qp_chain *ch = config_chain(cfg, e->chain);
	size_t n = 0;
	if (!ch)
		return 0;
	if (ch->targets && !list_has(ch->targets, ch->ntargets, e->target)) {
		fprintf(out, "%s:%d:%d: warning: every call of this transparent entry is refused: its target '%s' is not in the 'targets' of chain '%s' (%s:%d:%d)\n",
			cfg->file, e->line, e->column, e->target, ch->name, ch->file, ch->line, ch->column);
		n++;
	}
	for (size_t k = 0; ch->sources && k < e->nsources; k++) {
		if (!list_has(ch->sources, ch->nsources, e->sources[k])) {
			fprintf(out, "%s:%d:%d: warning: calls from '%s' of this transparent entry are refused: '%s' is not in the 'sources' of chain '%s' (%s:%d:%d)\n",
				cfg->file, e->line, e->column, e->sources[k], e->sources[k], ch->name, ch->file, ch->line,
				ch->column);
			n++;
		}
	}
	bool admits = !ch->services;
	for (size_t k = 0; !admits && k < ch->nservices; k++)
		admits = pattern_admits(ch->services[k], e->service);
	if (!admits) {
		fprintf(out, "%s:%d:%d: warning: every call of this transparent entry is refused: the 'services' of chain '%s' (%s:%d:%d) let no call of '%s' through\n",
			cfg->file, e->line, e->column, ch->name, ch->file, ch->line, ch->column, e->service);
		n++;
	}
	return n;
}

size_t transparent_warnings(const struct qp_config *cfg, FILE *out)
{
	size_t n = 0;
	for (size_t j = 0; j < cfg->ntransparent; j++) {
		n += shadow_warnings(cfg, j, out);
		n += allowlist_warnings(cfg, &cfg->transparent[j], out);
	}
	return n;
}

void transparent_describe(const struct qp_config *cfg, FILE *out)
{
	for (size_t i = 0; i < cfg->ntransparent; i++) {
		const struct qp_transparent *e = &cfg->transparent[i];
		fprintf(out, "  transparent %s from ", e->service);
		if (!e->sources)
			fputs("any source", out);
		for (size_t k = 0; k < e->nsources; k++)
			fprintf(out, "%s%s", k ? ", " : "", e->sources[k]);
		fprintf(out, " -> %s through %s\n", e->target, e->chain);
	}
}
