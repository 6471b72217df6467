/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qrexec-proxy policy: the dom0 policy file that matches the chains.
 *
 * Facts of the format (qubes-core-qrexec, qrexec/policy/parser.py): a rule
 * is one line of whitespace-separated fields, SERVICE ARGUMENT SOURCE
 * TARGET ACTION [PARAM=VALUE...]; '#' starts a comment line (only at the
 * start of a line); the first rule that matches a call decides. SERVICE is
 * a name from [A-Za-z0-9_.-] (no '+') or '*'. ARGUMENT is '*' (any, and
 * the only one allowed with service '*') or '+' followed by the argument,
 * compared exactly: '+' alone is the empty argument, which is what a call
 * without an argument has. So a call of qrexec-proxy+CHAIN+TARGET+SERVICE
 * is matched by service qrexec-proxy with argument +CHAIN+TARGET+SERVICE,
 * and there is no prefix match: a chain's PREFIX* service, or SERVICE+
 * with any argument, has no exact rule towards the proxy.
 *
 * Nothing here widens a chain: only what a chain allows exactly becomes a
 * rule; the rest is written commented out (a '#' right before the first
 * field, so that removing it leaves a valid rule), with a warning.
 *
 * The file is written in blocks (the header, one per chain, the closing
 * one); each kind of line has a function of its own that adds its rules
 * and comments to the current block (caller_rules, destination_rules,
 * closing_rules): another kind of line is one more such function.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "names.h"
#include "policy.h"

/* the proxy's own service name, as /etc/qubes-rpc/qrexec-proxy names it */
#define PROXY_SERVICE "qrexec-proxy"

/* words a commented-out rule leaves for the administrator to fill in */
#define PH_TARGET "TARGET"
#define PH_SERVICE "SERVICE"
#define PH_NAME "NAME"
#define PH_ARGUMENT "ARGUMENT"

enum { F_SERVICE, F_ARGUMENT, F_SOURCE, F_TARGET, F_ACTION, NFIELDS };

/* one line of a block: a comment, or a rule (possibly commented out) */
struct item {
	char *comment;         /* text after "# "; NULL for a rule */
	char *field[NFIELDS];
	bool commented;
};

struct writer {
	const struct qp_config *cfg;
	const struct policy_options *o;
	FILE *out, *errf;
	int warnings;
	bool oom;
	struct item *items;    /* the current block */
	size_t nitems, capitems;
	char **seen;           /* every rule written so far, to write none twice */
	size_t nseen, capseen;
	size_t nblocks;        /* written so far: blocks are separated by an empty line */
};

static bool grow(void **p, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return true;
	size_t ncap = *cap ? *cap * 2 : 16;
	void *np = realloc(*p, ncap * size);
	if (!np)
		return false;
	*p = np;
	*cap = ncap;
	return true;
}

static struct item *new_item(struct writer *w)
{
	if (w->oom || !grow((void **)&w->items, &w->capitems, w->nitems, sizeof(*w->items))) {
		w->oom = true;
		return NULL;
	}
	struct item *it = &w->items[w->nitems++];
	memset(it, 0, sizeof(*it));
	return it;
}

static void comment(struct writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void comment(struct writer *w, const char *fmt, ...)
{
	struct item *it = new_item(w);
	if (!it)
		return;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&it->comment, fmt, ap) < 0) {
		it->comment = NULL;
		w->nitems--;
		w->oom = true;
	}
	va_end(ap);
}

static char *rule_key(char *const field[NFIELDS])
{
	char *k;
	if (asprintf(&k, "%s %s %s %s %s", field[F_SERVICE], field[F_ARGUMENT], field[F_SOURCE], field[F_TARGET],
		     field[F_ACTION]) < 0)
		return NULL;
	return k;
}

/*
 * A rule; ARGUMENT is the argument without its '+' ("" for none), or NULL
 * for '*'. A rule that is written already (from an earlier chain: two
 * chains to the same destination) is said in a comment instead.
 */
static void rule(struct writer *w, bool commented, const char *service, const char *argument, const char *source,
		 const char *target, const char *action)
{
	if (w->oom)
		return;
	char *f[NFIELDS] = { 0 };
	bool ok = (f[F_SERVICE] = strdup(service)) != NULL;
	if (ok)
		ok = argument ? asprintf(&f[F_ARGUMENT], "+%s", argument) >= 0 : (f[F_ARGUMENT] = strdup("*")) != NULL;
	if (!ok)
		f[F_ARGUMENT] = NULL;
	ok = ok && (f[F_SOURCE] = strdup(source)) && (f[F_TARGET] = strdup(target)) && (f[F_ACTION] = strdup(action));
	char *key = ok && !commented ? rule_key(f) : NULL;
	if (!ok || (!commented && !key))
		goto oom;
	if (key) {
		for (size_t i = 0; i < w->nseen; i++) {
			if (!strcmp(w->seen[i], key)) {
				comment(w, "(written above: %s)", key);
				free(key);
				for (int i2 = 0; i2 < NFIELDS; i2++)
					free(f[i2]);
				return;
			}
		}
		if (!grow((void **)&w->seen, &w->capseen, w->nseen, sizeof(*w->seen)))
			goto oom;
		w->seen[w->nseen++] = key;
		key = NULL;
	}
	struct item *it = new_item(w);
	if (!it)
		goto oom;
	memcpy(it->field, f, sizeof(f));
	it->commented = commented;
	return;
oom:
	free(key);
	for (int i = 0; i < NFIELDS; i++)
		free(f[i]);
	w->oom = true;
}

/* Writes the block, columns aligned within it, and empties it. */
static void flush_block(struct writer *w)
{
	size_t width[NFIELDS] = { 0 };
	if (w->nblocks++)
		fputc('\n', w->out);
	for (size_t i = 0; i < w->nitems; i++) {
		const struct item *it = &w->items[i];
		if (it->comment)
			continue;
		for (int f = 0; f < NFIELDS; f++) {
			size_t n = strlen(it->field[f]) + (f == 0 && it->commented);
			if (n > width[f])
				width[f] = n;
		}
	}
	for (size_t i = 0; i < w->nitems; i++) {
		struct item *it = &w->items[i];
		if (it->comment) {
			fprintf(w->out, "%s%s\n", *it->comment ? "# " : "#", it->comment);
			free(it->comment);
			continue;
		}
		if (it->commented)
			fputc('#', w->out);
		for (int f = 0; f < NFIELDS; f++) {
			int pad = (int)(width[f] - (f == 0 && it->commented));
			if (f < NFIELDS - 1)
				fprintf(w->out, "%-*s  ", pad, it->field[f]);
			else
				fprintf(w->out, "%s\n", it->field[f]);
			free(it->field[f]);
		}
	}
	w->nitems = 0;
}

static void warn(struct writer *w, const struct qp_chain *ch, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void warn(struct writer *w, const struct qp_chain *ch, const char *fmt, ...)
{
	va_list ap;
	fprintf(w->errf, "%s:%d:%d: warning: chain '%s': ", ch->file ? ch->file : w->cfg->file, ch->line, ch->column,
		ch->name);
	va_start(ap, fmt);
	vfprintf(w->errf, fmt, ap);
	va_end(ap);
	fputc('\n', w->errf);
	w->warnings++;
}

/*
 * One entry of a chain's services, as policy can say it. CALL is the
 * SERVICE[+ARG] of the one call that it allows exactly and that a rule
 * can name (NULL: none); TEMPLATE, the example of a call a rule cannot
 * cover (NULL: none needed), with NAME or ARGUMENT to fill in.
 */
enum svc_kind {
	SVC_EXACT,   /* SERVICE or SERVICE+ARG */
	SVC_ANY_ARG, /* SERVICE+ (any argument, or none) */
	SVC_PREFIX,  /* PREFIX* */
};

struct svc {
	enum svc_kind kind;
	char *base;      /* the entry without its trailing '+' or '*' */
	char *template;  /* or NULL */
};

static int svc_parse(const char *entry, struct svc *s)
{
	size_t n = strlen(entry);
	memset(s, 0, sizeof(*s));
	s->kind = n && entry[n - 1] == '*' ? SVC_PREFIX : n && entry[n - 1] == '+' ? SVC_ANY_ARG : SVC_EXACT;
	if (s->kind != SVC_EXACT)
		n--;
	if (!(s->base = strndup(entry, n)))
		return -1;
	int r = 0;
	if (s->kind == SVC_ANY_ARG)
		r = asprintf(&s->template, "%s+" PH_ARGUMENT, s->base);
	else if (s->kind == SVC_PREFIX)
		r = asprintf(&s->template, "%s%s", s->base, strchr(s->base, '+') ? PH_ARGUMENT : PH_NAME);
	if (r < 0) {
		s->template = NULL;
		free(s->base);
		return -1;
	}
	return 0;
}

static void svc_free(struct svc *s)
{
	free(s->base);
	free(s->template);
}

/*
 * The rule by which the proxy qube calls SERVICE[+ARG] (CALL) in TARGET:
 * the service and its exact argument ('+' alone: none); ANY_ARGUMENT: '*'.
 */
static void destination_rule(struct writer *w, bool commented, const char *call, bool any_argument, const char *target)
{
	const char *plus = strchr(call, '+');
	char *service = strndup(call, plus ? (size_t)(plus - call) : strlen(call));
	if (!service) {
		w->oom = true;
		return;
	}
	rule(w, commented, service, any_argument ? NULL : plus ? plus + 1 : "", w->o->proxy_qube, target, "allow");
	free(service);
}

/* The chain's lists, or one placeholder where it has none. */
struct lists {
	char *const *sources, *const *targets, *const *services;
	size_t nsources, ntargets, nservices;
	bool open; /* no targets or no services: every rule commented out */
};

static const char *const anyvm[] = { "@anyvm" };
static const char *const ph_target[] = { PH_TARGET };
static const char *const ph_service[] = { PH_SERVICE };

/* Who may call the chain: its sources (or @anyvm), for every target and service, on the proxy qube. */
static void caller_rules(struct writer *w, const struct qp_chain *ch, const struct lists *l)
{
	if (ch->sources)
		comment(w, "who may use it: its sources, towards each of its targets and services");
	else
		comment(w, "who may use it: any qube (@anyvm): the chain has no 'sources'");
	for (size_t s = 0; s < l->nservices && !w->oom; s++) {
		struct svc sv;
		if (svc_parse(l->services[s], &sv) < 0) {
			w->oom = true;
			return;
		}
		if (sv.kind == SVC_ANY_ARG) {
			comment(w, "'%s' is %s with any argument, and dom0 policy compares arguments exactly:",
				l->services[s], sv.base);
			comment(w, "the call without one is allowed; add a rule for each argument (as commented out)");
		} else if (sv.kind == SVC_PREFIX) {
			comment(w, "'%s' is every service that starts with %s, and dom0 policy has no prefix", l->services[s],
				sv.base);
			comment(w, "match: add a rule for each service (as commented out)");
		}
		for (size_t t = 0; t < l->ntargets; t++) {
			for (size_t c = 0; c < l->nsources; c++) {
				char *arg = NULL;
				if (sv.kind != SVC_PREFIX) {
					if (asprintf(&arg, "%s+%s+%s", ch->name, l->targets[t], sv.base) < 0)
						goto oom;
					rule(w, l->open, PROXY_SERVICE, arg, l->sources[c], w->o->proxy_qube, "allow");
					free(arg);
				}
				if (sv.template) {
					if (asprintf(&arg, "%s+%s+%s", ch->name, l->targets[t], sv.template) < 0)
						goto oom;
					rule(w, true, PROXY_SERVICE, arg, l->sources[c], w->o->proxy_qube, "allow");
					free(arg);
				}
			}
		}
		svc_free(&sv);
		continue;
oom:
		svc_free(&sv);
		w->oom = true;
		return;
	}
}

/* Where the chain leads: the proxy qube calls each service in each target. */
static void destination_rules(struct writer *w, const struct lists *l)
{
	comment(w, "where it leads: %s calls each service in each target", w->o->proxy_qube);
	for (size_t s = 0; s < l->nservices && !w->oom; s++) {
		struct svc sv;
		if (svc_parse(l->services[s], &sv) < 0) {
			w->oom = true;
			return;
		}
		for (size_t t = 0; t < l->ntargets; t++) {
			switch (sv.kind) {
			case SVC_EXACT:
				destination_rule(w, l->open, sv.base, false, l->targets[t]);
				break;
			case SVC_ANY_ARG:
				/* SERVICE+ is SERVICE with any argument: '*' says exactly that */
				if (!strchr(sv.base, '+')) {
					destination_rule(w, l->open, sv.base, true, l->targets[t]);
					break;
				}
				destination_rule(w, l->open, sv.base, false, l->targets[t]);
				destination_rule(w, true, sv.template, false, l->targets[t]);
				break;
			case SVC_PREFIX:
				destination_rule(w, true, sv.template, false, l->targets[t]);
				break;
			}
		}
		svc_free(&sv);
	}
}

/*
 * A transparent entry: the caller's own call (SERVICE towards TARGET) is
 * redirected to the proxy qube, and the proxy qube may make it on.
 */
static void transparent_block(struct writer *w, const struct qp_transparent *t)
{
	char redirect[64];
	snprintf(redirect, sizeof(redirect), "allow target=%s", w->o->proxy_qube);
	comment(w, "transparent %s (%s:%d): calls of %s in %s go to %s instead, and on through chain %s",
		t->service, w->cfg->file, t->line, t->service, t->target, w->o->proxy_qube, t->chain);
	if (!t->sources)
		comment(w, "from any qube (@anyvm): the entry has no 'sources'");
	else
		comment(w, "from its sources: the callers change nothing");
	for (size_t c = 0; c < (t->sources ? t->nsources : 1) && !w->oom; c++)
		rule(w, false, t->service, NULL, t->sources ? t->sources[c] : "@anyvm", t->target, redirect);
	comment(w, "and %s makes the call on: the destination sees %s as its caller", w->o->proxy_qube,
		w->o->proxy_qube);
	rule(w, false, t->service, NULL, w->o->proxy_qube, t->target, "allow");
}

/*
 * Nothing else reaches the proxy in this qube: the calls no chain allows
 * are refused here, before a later file could allow them.
 */
static void closing_rules(struct writer *w)
{
	comment(w, "any other call of %s in %s is refused here, whatever later files say;", PROXY_SERVICE,
		w->o->proxy_qube);
	comment(w, "exceptions belong in a file that sorts before this one");
	rule(w, false, PROXY_SERVICE, NULL, "@anyvm", w->o->proxy_qube, "deny");
}

static void header(struct writer *w)
{
	char date[64];
	struct tm tm;
	if (!gmtime_r(&w->o->date, &tm) || !strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(date, sizeof(date), "@%lld", (long long)w->o->date);
	comment(w, "/etc/qubes/policy.d/30-qrexec-proxy.policy: dom0 qrexec policy (format v5)");
	comment(w, "for the qrexec-proxy in qube %s, written by qrexec-proxy %s", w->o->proxy_qube, PACKAGE_VERSION);
	comment(w, "on %s from:", date);
	for (size_t i = 0; i < w->cfg->nfiles; i++)
		comment(w, "    %s", w->cfg->files[i]);
	if (!w->cfg->nfiles)
		comment(w, "    %s", w->cfg->file);
	comment(w, "%s", "");
	comment(w, "Write it again rather than edit it: change the chains in %s, then run there", w->o->proxy_qube);
	comment(w, "    qrexec-proxy policy --config %s --proxy-qube %s", w->cfg->file, w->o->proxy_qube);
	comment(w, "A caller asks for %s+CHAIN+TARGET+SERVICE[+ARG] in %s. Each chain has the", PROXY_SERVICE,
		w->o->proxy_qube);
	comment(w, "rules that let its sources call it, then those that let %s reach its", w->o->proxy_qube);
	comment(w, "destinations. A rule commented out with '#' right before its first word is one");
	comment(w, "that dom0 policy cannot say exactly, or one that a chain leaves open: fill in");
	comment(w, "%s, %s, %s or %s, then remove the '#'.", PH_TARGET, PH_SERVICE, PH_NAME, PH_ARGUMENT);
}

static void chain_block(struct writer *w, const struct qp_chain *ch)
{
	struct lists l = {
		.sources = ch->sources ? ch->sources : (char *const *)anyvm,
		.nsources = ch->sources ? ch->nsources : 1,
		.targets = ch->targets ? ch->targets : (char *const *)ph_target,
		.ntargets = ch->targets ? ch->ntargets : 1,
		.services = ch->services ? ch->services : (char *const *)ph_service,
		.nservices = ch->services ? ch->nservices : 1,
		.open = !ch->targets || !ch->services,
	};
	comment(w, "chain %s (%s:%d)", ch->name, ch->file ? ch->file : w->cfg->file, ch->line);
	if (l.open) {
		comment(w, "The chain has no %s:",
			!ch->targets && !ch->services ? "'targets' and no 'services'" : !ch->targets ? "'targets'" : "'services'");
		comment(w, "it forwards whatever dom0 policy lets its callers name. Its rules are left for");
		comment(w, "you to complete, or add the lists to the chain and write this file again.");
		if (!ch->targets)
			warn(w, ch, "no 'targets': its rules are written commented out, with %s to fill in", PH_TARGET);
		if (!ch->services)
			warn(w, ch, "no 'services': its rules are written commented out, with %s to fill in", PH_SERVICE);
	} else {
		for (size_t s = 0; s < ch->nservices; s++) {
			size_t n = strlen(ch->services[s]);
			if (ch->services[s][n - 1] == '*')
				warn(w, ch, "service '%s' is a prefix, which dom0 policy cannot match: its rules are written commented out, with %s to fill in",
				     ch->services[s], strchr(ch->services[s], '+') ? PH_ARGUMENT : PH_NAME);
			else if (ch->services[s][n - 1] == '+')
				warn(w, ch, "service '%s' takes any argument, which dom0 policy cannot match: only the call without an argument is allowed; rules for the others are written commented out",
				     ch->services[s]);
		}
	}
	caller_rules(w, ch, &l);
	destination_rules(w, &l);
}

int policy_write(const struct qp_config *cfg, const struct policy_options *o, FILE *out, FILE *errf)
{
	struct writer w = { .cfg = cfg, .o = o, .out = out, .errf = errf ? errf : stderr };
	header(&w);
	if (!w.oom)
		flush_block(&w);
	for (size_t c = 0; c < cfg->nchains && !w.oom; c++) {
		chain_block(&w, &cfg->chains[c]);
		if (!w.oom)
			flush_block(&w);
	}
	for (size_t i = 0; i < cfg->ntransparent && !w.oom; i++) {
		transparent_block(&w, &cfg->transparent[i]);
		if (!w.oom)
			flush_block(&w);
	}
	if (!w.oom) {
		closing_rules(&w);
		if (!w.oom)
			flush_block(&w);
	}
	for (size_t i = 0; i < w.nitems; i++) {
		free(w.items[i].comment);
		for (int f = 0; f < NFIELDS; f++)
			free(w.items[i].field[f]);
	}
	free(w.items);
	for (size_t i = 0; i < w.nseen; i++)
		free(w.seen[i]);
	free(w.seen);
	if (w.oom) {
		errno = ENOMEM;
		return -1;
	}
	if (ferror(out)) {
		errno = EIO;
		return -1;
	}
	return w.warnings;
}

bool policy_valid_proxy_qube(const char *name)
{
	return name_qube(name) && strcmp(name, "dom0") != 0;
}

static bool names(char *const *list, size_t n, const char *name)
{
	for (size_t i = 0; list && i < n; i++)
		if (!strcmp(list[i], name))
			return true;
	return false;
}

size_t policy_proxy_qube_conflicts(const struct qp_config *cfg, const char *name, FILE *errf)
{
	size_t n = 0;
	for (size_t c = 0; c < cfg->nchains; c++) {
		const struct qp_chain *ch = &cfg->chains[c];
		const char *file = ch->file ? ch->file : cfg->file;
		const char *as = names(ch->sources, ch->nsources, name) ? "a source" :
				 names(ch->targets, ch->ntargets, name) ? "a target" : NULL;
		if (as) {
			fprintf(errf, "%s:%d:%d: '%s' is %s of chain '%s'\n", file, ch->line, ch->column, name, as, ch->name);
			n++;
		}
	}
	for (size_t i = 0; i < cfg->ntransparent; i++) {
		const struct qp_transparent *e = &cfg->transparent[i];
		const char *as = names(e->sources, e->nsources, name) ? "a source" :
				 e->target && !strcmp(e->target, name) ? "the target" : NULL;
		if (as) {
			fprintf(errf, "%s:%d:%d: '%s' is %s of the transparent entry of '%s'\n", cfg->file, e->line,
				e->column, name, as, e->service);
			n++;
		}
	}
	return n;
}
