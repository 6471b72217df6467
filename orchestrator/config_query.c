/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The configuration at run time: a chain by name, its connector, its allowlists (see config.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

const struct qp_chain *config_chain(const struct qp_config *cfg, const char *name)
{
	if (!cfg || !name)
		return NULL;
	for (size_t i = 0; i < cfg->nchains; i++)
		if (cfg->chains[i].name && !strcmp(cfg->chains[i].name, name))
			return &cfg->chains[i];
	return NULL;
}

char *const *config_connector(const struct qp_config *cfg, const struct qp_chain *chain)
{
	if (chain && chain->connector)
		return chain->connector;
	return cfg ? cfg->connector : NULL;
}

/* ---- expansion ---- */

static const char *const placeholders[] = { "target", "service", "source", "chain" };
#define NPLACEHOLDERS (sizeof(placeholders) / sizeof(placeholders[0]))

int config_placeholder_index(const char *name, size_t len)
{
	for (size_t i = 0; i < NPLACEHOLDERS; i++)
		if (strlen(placeholders[i]) == len && !memcmp(placeholders[i], name, len))
			return (int)i;
	return -1;
}


static const char *placeholder_value(const struct qp_placeholders *ph, int index)
{
	switch (index) {
	case 0:
		return ph->target;
	case 1:
		return ph->service;
	case 2:
		return ph->source;
	case 3:
		return ph->chain;
	default:
		return NULL;
	}
}

/*
 * One element, in two passes (measure, then copy) so that nothing is ever
 * written past what was measured. Values are not expanded again: a target
 * called "{source}" stays that.
 */
static char *expand_one(const char *s, const struct qp_placeholders *ph)
{
	size_t len = 0;
	for (int pass = 0; pass < 2; pass++) {
		char *out = NULL;
		if (pass == 1 && !(out = malloc(len + 1)))
			return NULL;
		size_t o = 0;
		for (const char *p = s; *p; p++) {
			const char *add = p;
			size_t addlen = 1;
			if (*p == '}') {
				free(out);
				errno = EINVAL;
				return NULL;
			}
			if (*p == '{') {
				const char *q = strchr(p + 1, '}');
				int idx = q ? config_placeholder_index(p + 1, (size_t)(q - p - 1)) : -1;
				add = idx >= 0 ? placeholder_value(ph, idx) : NULL;
				if (!add) {
					free(out);
					errno = EINVAL;
					return NULL;
				}
				addlen = strlen(add);
				p = q;
			}
			if (pass == 0) {
				if (addlen > SIZE_MAX - 1 - len) {
					errno = ENOMEM;
					return NULL;
				}
				len += addlen;
			} else {
				memcpy(out + o, add, addlen);
				o += addlen;
			}
		}
		if (pass == 1) {
			out[o] = '\0';
			return out;
		}
	}
	return NULL;
}

char **config_expand_connector(char *const *template_argv, const struct qp_placeholders *ph)
{
	if (!template_argv || !ph || !template_argv[0]) {
		errno = EINVAL;
		return NULL;
	}
	size_t n = 0;
	while (template_argv[n])
		n++;
	char **argv = calloc(n + 1, sizeof(*argv));
	if (!argv)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (!(argv[i] = expand_one(template_argv[i], ph))) {
			int e = errno;
			config_free_argv(argv);
			errno = e;
			return NULL;
		}
	}
	return argv;
}

void config_free_argv(char **argv)
{
	if (!argv)
		return;
	for (char **p = argv; *p; p++)
		free(*p);
	free(argv);
}

/* SERVICE[+ARG] against one pattern of a chain's services */
static bool service_matches(const char *pattern, const char *service)
{
	size_t n = strlen(pattern);
	if (n && pattern[n - 1] == '*')
		return !strncmp(service, pattern, n - 1);
	if (n && pattern[n - 1] == '+')
		return !strncmp(service, pattern, n - 1) && (service[n - 1] == '\0' || service[n - 1] == '+');
	return !strcmp(service, pattern);
}

const char *config_chain_refuses(const struct qp_chain *ch, const char *source, const char *target,
				 const char *service)
{
	bool ok = !ch->sources;
	for (size_t i = 0; !ok && i < ch->nsources; i++)
		ok = !strcmp(ch->sources[i], source);
	if (!ok)
		return "source";
	ok = !ch->targets;
	for (size_t i = 0; !ok && i < ch->ntargets; i++)
		ok = !strcmp(ch->targets[i], target);
	if (!ok)
		return "target";
	ok = !ch->services;
	for (size_t i = 0; !ok && i < ch->nservices; i++)
		ok = service_matches(ch->services[i], service);
	return ok ? NULL : "service";
}
