/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What each key of the configuration means (see qrexec-proxy.yaml(5)):
 * the walk over the document config_yaml.c read, every value checked and
 * every problem reported at its place, then the drop-ins of chains.d
 * merged in.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_loader.h"
#include "descriptor.h"
#include "names.h"

/* ---- semantics ---- */

/* Braces are reserved: anything but a known placeholder is refused now, so it can get a meaning later. */
static void check_placeholders(struct loader *ld, const yaml_node_t *n, const char *s)
{
	for (const char *p = s; *p; p++) {
		if (*p == '}') {
			ld_report(ld, n, "connector argument '%s' has a '}' without '{'; braces are reserved for the placeholders " PLACEHOLDER_LIST,
			       SHOW(s));
			return;
		}
		if (*p != '{')
			continue;
		const char *q = strchr(p + 1, '}');
		if (!q) {
			ld_report(ld, n, "connector argument '%s' has a '{' without '}'; braces are reserved for the placeholders " PLACEHOLDER_LIST,
			       SHOW(s));
			return;
		}
		if (config_placeholder_index(p + 1, (size_t)(q - p - 1)) < 0) {
			char name[SHOW_BUF];
			ld_report(ld, n, "unknown placeholder '%s' in connector argument '%s'; use one of " PLACEHOLDER_LIST " (braces are reserved)",
			       ld_show_bytes(name, sizeof(name), p, (size_t)(q - p + 1)), SHOW(s));
			return;
		}
		p = q;
	}
}

static void get_connector(struct loader *ld, yaml_node_t *n, const char *what, char ***out, size_t *nout,
			  int *line, int *column)
{
	char **v;
	size_t count;
	if (!ld_string_list(ld, n, false, what, "an element of the connector", &v, &count))
		return;
	if (count == 0) {
		ld_report(ld, n, "%s is empty; give the program's absolute path first, then its arguments", what);
		config_free_argv(v);
		return;
	}
	bool ok = true;
	yaml_node_t *first = ld_list_item(ld, n, 0);
	if (first) {
		*line = (int)first->start_mark.line + 1;
		*column = (int)first->start_mark.column + 1;
	}
	if (v[0][0] != '/') {
		ld_report(ld, first, "the connector program '%s' must be an absolute path", SHOW(v[0]));
		ok = false;
	} else if (strpbrk(v[0], "{}")) {
		ld_report(ld, first, "the connector program '%s' cannot contain braces: placeholders are for its arguments",
		       SHOW(v[0]));
		ok = false;
	} else if (ld_executable_file(v[0]) == 0) {
		/*
		 * Absent is for check, start and reload to refuse (reach.h): a
		 * build machine has no qrexec-client-vm, and policy and links
		 * have no use for it. Present must be usable.
		 */
		ld_report(ld, first, "the connector program '%s' exists but is not an executable regular file",
		       SHOW(v[0]));
		ok = false;
	}
	for (size_t i = 1; i < count; i++) {
		size_t before = ld->total_errors;
		check_placeholders(ld, ld_list_item(ld, n, i), v[i]);
		if (ld->total_errors != before)
			ok = false;
	}
	if (!ok) {
		config_free_argv(v);
		return;
	}
	*out = v;
	*nout = count;
}

static void get_filter_path(struct loader *ld, yaml_node_t *n)
{
	struct qp_config *cfg = ld->cfg;
	if (!ld_string_list(ld, n, true, "'filter_path'", "a 'filter_path' directory", &cfg->filter_path,
			     &cfg->nfilter_path)) {
		ld->filter_path_ok = false;
		return;
	}
	for (size_t i = 0; i < cfg->nfilter_path; i++) {
		if (cfg->filter_path[i][0] != '/') {
			ld_report(ld, ld_list_item(ld, n, i),
			       "'filter_path' directory '%s' must be an absolute path", SHOW(cfg->filter_path[i]));
			ld->filter_path_ok = false;
		}
	}
}

/* Where a short name was looked for, for the "not found" message. */
static char *search_list(struct loader *ld)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	if (!f) {
		ld->oom = true;
		return NULL;
	}
	for (size_t i = 0; i < ld->cfg->nfilter_path; i++)
		fprintf(f, "%s, ", SHOW(ld->cfg->filter_path[i]));
	fprintf(f, "%s", SHOW(ld->builtin_dir));
	if (fclose(f) != 0) {
		free(text);
		ld->oom = true;
		return NULL;
	}
	return text;
}

static char *find_filter(struct loader *ld, const yaml_node_t *n, const char *name, const char *kind)
{
	if (name[0] == '/') {
		int r = ld_executable_file(name);
		if (r < 0)
			ld_report(ld, n, "%s '%s' not found: %s", kind, SHOW(name), strerror(errno));
		else if (r == 0)
			ld_report(ld, n, "%s '%s' is not an executable regular file", kind, SHOW(name));
		if (r <= 0)
			return NULL;
		char *p = strdup(name);
		if (!p)
			ld->oom = true;
		return p;
	}
	if (strchr(name, '/')) {
		ld_report(ld, n, "%s '%s' is a relative path; give a short name (looked up in filter_path, then the built-in filters) or an absolute path",
		       kind, SHOW(name));
		return NULL;
	}
	if (!name_valid(name, NAME_CHAIN_MAX)) {
		ld_report(ld, n, "invalid %s name '%s': a short name has 1 to %d characters from [A-Za-z0-9_.-] and does not start with '-' or '.'",
		       kind, SHOW(name), NAME_CHAIN_MAX);
		return NULL;
	}
	if (!ld->filter_path_ok)
		return NULL;
	char *unusable = NULL;
	for (size_t i = 0; i <= ld->cfg->nfilter_path; i++) {
		const char *dir = i < ld->cfg->nfilter_path ? ld->cfg->filter_path[i] : ld->builtin_dir;
		char *path;
		if (asprintf(&path, "%s/%s", dir, name) < 0) {
			ld->oom = true;
			free(unusable);
			return NULL;
		}
		int r = ld_executable_file(path);
		if (r > 0) {
			free(unusable);
			return path;
		}
		if (r == 0 && !unusable)
			unusable = path;
		else
			free(path);
	}
	char *dirs = search_list(ld);
	if (dirs) {
		if (unusable)
			ld_report(ld, n, "%s '%s' not found as an executable regular file in %s (%s exists but is not one)",
			       kind, SHOW(name), dirs, SHOW(unusable));
		else
			ld_report(ld, n, "%s '%s' not found: no executable file of that name in %s", kind, SHOW(name),
			       dirs);
	}
	free(dirs);
	free(unusable);
	return NULL;
}

static void get_direction(struct loader *ld, const yaml_node_t *n, unsigned *out)
{
	if (ld_scalar_is(n, "both"))
		*out = QP_DIR_BOTH;
	else if (ld_scalar_is(n, "src2dst"))
		*out = QP_DIR_SRC2DST;
	else if (ld_scalar_is(n, "dst2src"))
		*out = QP_DIR_DST2SRC;
	else if (n->type == YAML_SCALAR_NODE)
		ld_report(ld, n, "invalid direction '%s'; use both (the default), src2dst or dst2src", SHOW_NODE(n));
	else
		ld_report(ld, n, "'direction' must be both, src2dst or dst2src, found %s", ld_describe(n));
}

/* One item of 'filters' (IS_FILTER) or of 'admit'. */
static void get_step(struct loader *ld, yaml_node_t *n, struct qp_step *step, bool is_filter, const char *chain)
{
	const char *kind = is_filter ? "filter" : "admission check";
	const char *list = is_filter ? "filters" : "admit";
	step->line = (int)n->start_mark.line + 1;
	step->column = (int)n->start_mark.column + 1;
	step->direction = QP_DIR_BOTH;
	yaml_node_t *name_node = n;
	if (n->type == YAML_MAPPING_NODE) {
		enum { K_NAME, K_ARGS, K_DIRECTION, K_COUNT };
		struct key_spec spec[K_COUNT] = {
			[K_NAME] = { "name", false, 0, 0 },
			[K_ARGS] = { "args", false, 0, 0 },
			[K_DIRECTION] = { "direction", !is_filter, 0, 0 },
		};
		char where[SHOW_BUF + 64];
		snprintf(where, sizeof(where), "in an item of '%s' of chain '%s'", list, chain);
		ld_keys(ld, n, spec, K_COUNT, where);
		if (spec[K_DIRECTION].key && !is_filter)
			ld_report(ld, spec[K_DIRECTION].key,
			       "'direction' is not allowed in 'admit' of chain '%s': an admission check sees no data, it runs once before the connection starts",
			       chain);
		name_node = spec[K_NAME].value;
		if (!name_node) {
			ld_report(ld, n, "this item of '%s' of chain '%s' has no 'name'; add 'name: FILTER'", list, chain);
		}
		if (spec[K_ARGS].value) {
			char what[SHOW_BUF + 64];
			snprintf(what, sizeof(what), "'args' of %s", kind);
			ld_string_list(ld, spec[K_ARGS].value, false, what, "an argument", &step->args, &step->nargs);
			step->args_line = (int)spec[K_ARGS].value->start_mark.line + 1;
			step->args_column = (int)spec[K_ARGS].value->start_mark.column + 1;
		}
		if (spec[K_DIRECTION].value)
			get_direction(ld, spec[K_DIRECTION].value, &step->direction);
	} else if (n->type != YAML_SCALAR_NODE) {
		ld_report(ld, n, "an item of '%s' must be a %s name or a mapping with 'name'%s, found %s", list, kind,
		       is_filter ? ", 'args' and 'direction'" : " and 'args'", ld_describe(n));
		return;
	}
	if (!step->args) {
		step->args = calloc(1, sizeof(*step->args));
		if (!step->args)
			ld->oom = true;
		step->nargs = 0;
	}
	if (!name_node)
		return;
	char what[64];
	snprintf(what, sizeof(what), "the %s name", kind);
	step->name = ld_scalar_dup(ld, name_node, what);
	if (step->name)
		step->path = find_filter(ld, name_node, step->name, kind);
}

static void get_steps(struct loader *ld, yaml_node_t *n, bool is_filter, const char *chain, struct qp_step **out,
		      size_t *nout)
{
	const char *list = is_filter ? "filters" : "admit";
	if (n->type != YAML_SEQUENCE_NODE) {
		ld_report(ld, n, "'%s' of chain '%s' must be a list (use [] for none), found %s", list, chain, ld_describe(n));
		return;
	}
	size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	*out = calloc(count ? count : 1, sizeof(**out));
	if (!*out) {
		ld->oom = true;
		return;
	}
	*nout = count;
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *item = ld_node(ld, n->data.sequence.items.start[i]);
		if (item)
			get_step(ld, item, &(*out)[i], is_filter, chain);
	}
}

/* a number of seconds (decimals allowed) from 0 to a day, as milliseconds; -1 after a report */
static int get_seconds(struct loader *ld, const yaml_node_t *n, const char *what)
{
	if (n->type != YAML_SCALAR_NODE || ld_is_null(n)) {
		ld_report(ld, n, "%s must be a number of seconds (0 to 86400), found %s", what, ld_describe(n));
		return -1;
	}
	const char *v = (const char *)n->data.scalar.value;
	char *end;
	errno = 0;
	double d = strtod(v, &end);
	if (errno || end == v || *end || !(d >= 0 && d <= 86400)) {
		ld_report(ld, n, "%s must be a number of seconds (0 to 86400), not '%s'", what, SHOW_NODE(n));
		return -1;
	}
	return (int)(d * 1000);
}

/* a whole number from 1 to 65536 (a limit on connections); 0 after a report */
static int get_limit(struct loader *ld, const yaml_node_t *n, const char *what)
{
	if (n->type != YAML_SCALAR_NODE || ld_is_null(n)) {
		ld_report(ld, n, "%s must be a whole number from 1 to 65536, found %s", what, ld_describe(n));
		return 0;
	}
	const char *v = (const char *)n->data.scalar.value;
	char *end;
	errno = 0;
	long l = strtol(v, &end, 10);
	if (errno || end == v || *end || l < 1 || l > 65536 || !(*v >= '0' && *v <= '9')) {
		ld_report(ld, n, "%s must be a whole number from 1 to 65536, not '%s'", what, SHOW_NODE(n));
		return 0;
	}
	return (int)l;
}

/* sources, targets or services of a chain: a list of names, each checked by VALID */
static void get_allowlist(struct loader *ld, yaml_node_t *n, const char *key, const char *chain,
			  bool (*valid)(const char *), const char *rule, char ***out, size_t *nout)
{
	char what[SHOW_BUF + 40], item[SHOW_BUF + 40];
	snprintf(what, sizeof(what), "'%s' of chain '%s'", key, chain);
	snprintf(item, sizeof(item), "an item of '%s'", key);
	if (!ld_string_list(ld, n, false, what, item, out, nout))
		return;
	for (size_t i = 0; i < *nout; i++) {
		if (!valid((*out)[i])) {
			yaml_node_t *it = ld_node(ld, n->data.sequence.items.start[i]);
			ld_report(ld, it ? it : n, "'%s' in %s is not %s", SHOW((*out)[i]), what, rule);
		}
	}
}

static void get_chain(struct loader *ld, yaml_node_t *key, yaml_node_t *n, struct qp_chain *chain)
{
	const char *name = chain->name ? chain->name : "?";
	char shown[SHOW_BUF];
	ld_show_bytes(shown, sizeof(shown), name, strlen(name));
	if (n->type != YAML_MAPPING_NODE) {
		ld_report(ld, n, "chain '%s' must be a mapping with a 'filters' list (and optional 'admit', 'connector'), found %s",
		       shown, ld_describe(n));
		return;
	}
	enum {
		K_FILTERS, K_ADMIT, K_CONNECTOR, K_IDLE_TIMEOUT, K_SOURCES, K_TARGETS, K_SERVICES,
		K_MAX_CONNECTIONS, K_MAX_PER_SOURCE, K_QUEUE_TIMEOUT,
		K_BOUNDS, /* CB_COUNT keys of config_bounds.c from here on */
		K_COUNT = K_BOUNDS + CB_COUNT
	};
	struct key_spec spec[K_COUNT] = {
		[K_FILTERS] = { "filters", false, 0, 0 },
		[K_ADMIT] = { "admit", false, 0, 0 },
		[K_CONNECTOR] = { "connector", false, 0, 0 },
		[K_IDLE_TIMEOUT] = { "idle_timeout", false, 0, 0 },
		[K_SOURCES] = { "sources", false, 0, 0 },
		[K_TARGETS] = { "targets", false, 0, 0 },
		[K_SERVICES] = { "services", false, 0, 0 },
		[K_MAX_CONNECTIONS] = { "max_connections", false, 0, 0 },
		[K_MAX_PER_SOURCE] = { "max_per_source", false, 0, 0 },
		[K_QUEUE_TIMEOUT] = { "queue_timeout", false, 0, 0 },
	};
	for (size_t i = 0; i < CB_COUNT; i++)
		spec[K_BOUNDS + i] = (struct key_spec){ config_bound_key((enum config_bound)i), false, 0, 0 };
	char where[SHOW_BUF + 16];
	snprintf(where, sizeof(where), "in chain '%s'", shown);
	ld_keys(ld, n, spec, sizeof(spec) / sizeof(spec[K_FILTERS]), where);
	if (spec[K_SOURCES].value)
		get_allowlist(ld, spec[K_SOURCES].value, "sources", shown, name_qube, "a qube name", &chain->sources,
			      &chain->nsources);
	if (spec[K_TARGETS].value)
		get_allowlist(ld, spec[K_TARGETS].value, "targets", shown, name_qube, "a qube name", &chain->targets,
			      &chain->ntargets);
	if (spec[K_SERVICES].value)
		get_allowlist(ld, spec[K_SERVICES].value, "services", shown, name_service_pattern,
			      "a service name (SERVICE, SERVICE+ARG, SERVICE+ for any argument, or PREFIX*)",
			      &chain->services, &chain->nservices);
	chain->idle_timeout_ms = -1;
	if (spec[K_IDLE_TIMEOUT].value) {
		char what[SHOW_BUF + 40];
		snprintf(what, sizeof(what), "'idle_timeout' of chain '%s'", shown);
		chain->idle_timeout_ms = get_seconds(ld, spec[K_IDLE_TIMEOUT].value, what);
	}
	if (spec[K_MAX_CONNECTIONS].value) {
		char what[SHOW_BUF + 40];
		snprintf(what, sizeof(what), "'max_connections' of chain '%s'", shown);
		chain->max_connections = get_limit(ld, spec[K_MAX_CONNECTIONS].value, what);
	}
	if (spec[K_MAX_PER_SOURCE].value) {
		char what[SHOW_BUF + 40];
		snprintf(what, sizeof(what), "'max_per_source' of chain '%s'", shown);
		chain->max_per_source = get_limit(ld, spec[K_MAX_PER_SOURCE].value, what);
	}
	chain->queue_timeout_ms = -1;
	if (spec[K_QUEUE_TIMEOUT].value) {
		char what[SHOW_BUF + 40];
		snprintf(what, sizeof(what), "'queue_timeout' of chain '%s'", shown);
		chain->queue_timeout_ms = get_seconds(ld, spec[K_QUEUE_TIMEOUT].value, what);
	}
	if (spec[K_FILTERS].value)
		get_steps(ld, spec[K_FILTERS].value, true, shown, &chain->filters, &chain->nfilters);
	else
		ld_report(ld, key, "chain '%s' has no 'filters' list; write 'filters: []' for a plain relay", shown);
	if (spec[K_ADMIT].value)
		get_steps(ld, spec[K_ADMIT].value, false, shown, &chain->admit, &chain->nadmit);
	yaml_node_t *bounds[CB_COUNT];
	for (size_t i = 0; i < CB_COUNT; i++)
		bounds[i] = spec[K_BOUNDS + i].value;
	config_get_bounds(ld, bounds, shown, chain);
	if (spec[K_CONNECTOR].value) {
		char what[SHOW_BUF + 32];
		snprintf(what, sizeof(what), "'connector' of chain '%s'", shown);
		get_connector(ld, spec[K_CONNECTOR].value, what, &chain->connector, &chain->nconnector,
			      &chain->connector_line, &chain->connector_column);
	}
}

struct chain_ref {
	const char *name;
	const yaml_node_t *key;
};

static int chain_ref_order(const void *a, const void *b)
{
	const struct chain_ref *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->key->start_mark.index < y->key->start_mark.index ? -1 : 1;
}

static void get_chains(struct loader *ld, yaml_node_t *n)
{
	struct qp_config *cfg = ld->cfg;
	if (n->type != YAML_MAPPING_NODE) {
		ld_report(ld, n, "'chains' must be a mapping from chain names to chains, found %s", ld_describe(n));
		return;
	}
	size_t count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	if (count == 0) {
		ld_report(ld, n, "'chains' is empty; define at least one chain");
		return;
	}
	cfg->chains = calloc(count, sizeof(*cfg->chains));
	struct chain_ref *refs = calloc(count, sizeof(*refs));
	if (!cfg->chains || !refs) {
		free(refs);
		ld->oom = true;
		return;
	}
	size_t nrefs = 0;
	for (size_t i = 0; i < count; i++) {
		yaml_node_pair_t *p = &n->data.mapping.pairs.start[i];
		yaml_node_t *k = ld_node(ld, p->key), *v = ld_node(ld, p->value);
		if (!k || !v)
			continue;
		struct qp_chain *chain = &cfg->chains[cfg->nchains++];
		chain->line = (int)k->start_mark.line + 1;
		chain->column = (int)k->start_mark.column + 1;
		if (k->type != YAML_SCALAR_NODE) {
			ld_report(ld, k, "a chain name must be a string, found %s", ld_describe(k));
		} else if (k->data.scalar.length > NAME_CHAIN_MAX || memchr(k->data.scalar.value, '\0', k->data.scalar.length) ||
			   !name_valid((const char *)k->data.scalar.value, NAME_CHAIN_MAX)) {
			ld_report(ld, k, "invalid chain name '%s': use 1 to %d characters from [A-Za-z0-9_.-], not starting with '-' or '.'",
			       SHOW_NODE(k), NAME_CHAIN_MAX);
		} else {
			chain->name = strdup((const char *)k->data.scalar.value);
			if (!chain->name)
				ld->oom = true;
			else
				refs[nrefs++] = (struct chain_ref){ chain->name, k };
		}
		get_chain(ld, k, v, chain);
	}
	/* Sorted, so a file with thousands of chains is not quadratic. */
	if (nrefs)
		qsort(refs, nrefs, sizeof(*refs), chain_ref_order);
	for (size_t i = 1; i < nrefs; i++) {
		size_t first = i - 1;
		while (i < nrefs && !strcmp(refs[i].name, refs[first].name)) {
			ld_report(ld, refs[i].key, "duplicate chain '%s' (first defined at line %lu); chain names must be unique",
			       SHOW(refs[i].name), (unsigned long)refs[first].key->start_mark.line + 1);
			i++;
		}
	}
	free(refs);
}

static char **default_connector(struct loader *ld, size_t *n)
{
	static const char *const def[] = { QP_QREXEC_CLIENT_VM, "{target}", "{service}" };
	char **v = calloc(4, sizeof(*v));
	if (!v) {
		ld->oom = true;
		return NULL;
	}
	for (size_t i = 0; i < 3; i++) {
		if (!(v[i] = strdup(def[i]))) {
			config_free_argv(v);
			ld->oom = true;
			return NULL;
		}
	}
	*n = 3;
	return v;
}

/* isolation: how filters are kept apart (see isolate.h); one of a few names */
static void get_isolation(struct loader *ld, yaml_node_t *n)
{
	static const char *const names[] = { "auto", "namespaces", "landlock", "seccomp-only", NULL };
	if (n->type == YAML_SCALAR_NODE && !ld_is_null(n)) {
		for (size_t i = 0; names[i]; i++) {
			if (ld_scalar_is(n, names[i])) {
				if (!(ld->cfg->isolation = strdup(names[i])))
					ld->oom = true;
				return;
			}
		}
		ld_report(ld, n, "'isolation' must be auto, namespaces, landlock or seccomp-only, not '%s'", SHOW_NODE(n));
		return;
	}
	ld_report(ld, n, "'isolation' must be auto, namespaces, landlock or seccomp-only, found %s", ld_describe(n));
}

/* ---- transparent ---- */

/* One item of 'transparent'; its chain is looked up once every file is read. */
static void get_transparent_entry(struct loader *ld, yaml_node_t *n, struct qp_transparent *e, size_t index)
{
	e->line = (int)n->start_mark.line + 1;
	e->column = (int)n->start_mark.column + 1;
	if (n->type != YAML_MAPPING_NODE) {
		ld_report(ld, n, "item %zu of 'transparent' must be a mapping with 'service', 'target', 'chain' and optional 'sources', found %s",
		       index + 1, ld_describe(n));
		return;
	}
	enum { K_SERVICE, K_SOURCES, K_TARGET, K_CHAIN, K_COUNT };
	struct key_spec spec[K_COUNT] = {
		[K_SERVICE] = { "service", false, 0, 0 },
		[K_SOURCES] = { "sources", false, 0, 0 },
		[K_TARGET] = { "target", false, 0, 0 },
		[K_CHAIN] = { "chain", false, 0, 0 },
	};
	char where[64];
	snprintf(where, sizeof(where), "in item %zu of 'transparent'", index + 1);
	ld_keys(ld, n, spec, K_COUNT, where);
	static const char *const required[K_COUNT] = {
		[K_SERVICE] = "service: SERVICE (the qrexec service name dom0 redirects here)",
		[K_TARGET] = "target: QUBE (where the calls go)",
		[K_CHAIN] = "chain: CHAIN (what they go through)",
	};
	for (size_t i = 0; i < K_COUNT; i++)
		if (required[i] && !spec[i].value)
			ld_report(ld, n, "item %zu of 'transparent' has no '%s'; add '%s'", index + 1, spec[i].name, required[i]);

	if (spec[K_SERVICE].value && (e->service = ld_scalar_dup(ld, spec[K_SERVICE].value, "'service' of a transparent entry"))) {
		if (strchr(e->service, '+'))
			ld_report(ld, spec[K_SERVICE].value, "'service' '%s' has an argument; give the service name alone (a call's argument is passed on unchanged)",
			       SHOW(e->service));
		else if (!name_valid(e->service, NAME_SERVICE_MAX))
			ld_report(ld, spec[K_SERVICE].value, "invalid service name '%s': use 1 to %d characters from [A-Za-z0-9_.-], not starting with '-' or '.'",
			       SHOW(e->service), NAME_SERVICE_MAX);
		else if (!strcmp(e->service, QP_PROXY_SERVICE))
			ld_report(ld, spec[K_SERVICE].value, "'" QP_PROXY_SERVICE "' cannot be transparent: its calls name their chain and target themselves (" QP_PROXY_SERVICE "+CHAIN+TARGET+SERVICE)");
	}
	if (spec[K_SOURCES].value && ld_string_list(ld, spec[K_SOURCES].value, false, "'sources' of a transparent entry", "an item of 'sources'",
					     &e->sources, &e->nsources)) {
		if (e->nsources == 0)
			ld_report(ld, spec[K_SOURCES].value, "'sources' is empty, so the entry would match no call; remove 'sources' to match any source");
		for (size_t i = 0; i < e->nsources; i++)
			if (!name_qube(e->sources[i]))
				ld_report(ld, ld_list_item(ld, spec[K_SOURCES].value, i), "'%s' in 'sources' of a transparent entry is not a qube name",
				       SHOW(e->sources[i]));
	}
	if (spec[K_TARGET].value && (e->target = ld_scalar_dup(ld, spec[K_TARGET].value, "'target' of a transparent entry")) &&
	    !name_qube(e->target))
		ld_report(ld, spec[K_TARGET].value, "'target' '%s' is not a qube name (a letter, then up to 30 of [A-Za-z0-9_.-])",
		       SHOW(e->target));
	if (spec[K_CHAIN].value) {
		e->chain_line = (int)spec[K_CHAIN].value->start_mark.line + 1;
		e->chain_column = (int)spec[K_CHAIN].value->start_mark.column + 1;
		if ((e->chain = ld_scalar_dup(ld, spec[K_CHAIN].value, "'chain' of a transparent entry")) &&
		    !name_valid(e->chain, NAME_CHAIN_MAX))
			ld_report(ld, spec[K_CHAIN].value, "invalid chain name '%s' in a transparent entry", SHOW(e->chain));
	}
}

static void get_transparent(struct loader *ld, yaml_node_t *n)
{
	struct qp_config *cfg = ld->cfg;
	if (n->type != YAML_SEQUENCE_NODE) {
		ld_report(ld, n, "'transparent' must be a list of entries (service, sources, target, chain), found %s",
		       ld_describe(n));
		return;
	}
	size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	cfg->transparent = calloc(count ? count : 1, sizeof(*cfg->transparent));
	if (!cfg->transparent) {
		ld->oom = true;
		return;
	}
	cfg->ntransparent = count;
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *item = ld_node(ld, n->data.sequence.items.start[i]);
		if (item)
			get_transparent_entry(ld, item, &cfg->transparent[i], i);
	}
}

/* Every transparent entry names a chain, which may come from chains.d: checked once all files are read. */
static int check_transparent_chains(const struct qp_config *cfg, FILE *errf)
{
	int errors = 0;
	for (size_t i = 0; i < cfg->ntransparent; i++) {
		const struct qp_transparent *e = &cfg->transparent[i];
		if (!config_chain(cfg, e->chain)) {
			fprintf(errf, "%s:%d:%d: no chain '%s' for the transparent entry of '%s'; define it under 'chains' (here or in chains.d)\n",
				cfg->file, e->chain_line, e->chain_column, e->chain, e->service);
			errors++;
		}
	}
	return errors;
}

static void get_root(struct loader *ld, yaml_node_t *root)
{
	struct qp_config *cfg = ld->cfg;
	if (root->type != YAML_MAPPING_NODE) {
		ld_report(ld, root, "the configuration must be a mapping with at least a 'chains' key, found %s",
		       ld_describe(root));
		return;
	}
	/* a drop-in adds chains, and only chains: the rest is the main file's to say */
	enum { K_CONNECTOR, K_FILTER_PATH, K_CHAINS, K_ISOLATION, K_TRANSPARENT, K_COUNT };
	struct key_spec spec[K_COUNT] = {
		[K_CONNECTOR] = { "connector", ld->dropin, 0, 0 },
		[K_FILTER_PATH] = { "filter_path", ld->dropin, 0, 0 },
		[K_CHAINS] = { "chains", false, 0, 0 },
		[K_ISOLATION] = { "isolation", ld->dropin, 0, 0 },
		[K_TRANSPARENT] = { "transparent", ld->dropin, 0, 0 },
	};
	ld_keys(ld, root, spec, K_COUNT, ld->dropin ? "in a drop-in file (chains.d: only 'chains')" : "at the top level");
	if (ld->dropin) {
		for (size_t i = 0; i < K_COUNT; i++)
			if (spec[i].forbidden && spec[i].key)
				ld_report(ld, spec[i].key, "'%s' may not be given in a drop-in file; it belongs in the main file",
				       spec[i].name);
		if (spec[K_CHAINS].value)
			get_chains(ld, spec[K_CHAINS].value);
		else
			ld_report(ld, root, "missing key 'chains'; a drop-in file adds chains under 'chains:'");
		return;
	}
	if (spec[K_ISOLATION].value)
		get_isolation(ld, spec[K_ISOLATION].value);
	/* filter_path first, whatever the order in the file: lookups depend on it. */
	if (spec[K_FILTER_PATH].value)
		get_filter_path(ld, spec[K_FILTER_PATH].value);
	if (spec[K_CONNECTOR].value)
		get_connector(ld, spec[K_CONNECTOR].value, "'connector'", &cfg->connector, &cfg->nconnector,
			      &cfg->connector_line, &cfg->connector_column);
	else
		cfg->connector = default_connector(ld, &cfg->nconnector);
	if (spec[K_CHAINS].value)
		get_chains(ld, spec[K_CHAINS].value);
	else
		ld_report(ld, root, "missing key 'chains'; define at least one chain under 'chains:'");
	if (spec[K_TRANSPARENT].value)
		get_transparent(ld, spec[K_TRANSPARENT].value);
}

static char **dup_argv(char *const *v)
{
	size_t n = 0;
	while (v[n])
		n++;
	char **d = calloc(n + 1, sizeof(*d));
	for (size_t i = 0; d && i < n; i++) {
		if (!(d[i] = strdup(v[i]))) {
			for (size_t k = 0; k < i; k++)
				free(d[k]);
			free(d);
			return NULL;
		}
	}
	return d;
}

static struct qp_config *load_one(const char *file, const char *builtin_dir, FILE *errf, const struct qp_config *main_cfg);

/* the drop-in files next to FILE: DIR/chains.d/\*.yaml, in name order, like dom0's policy.d */
static bool is_dropin(const struct dirent *e)
{
	size_t n = strlen(e->d_name);
	return e->d_name[0] != '.' && n > 5 && !strcmp(e->d_name + n - 5, ".yaml");
}

static int dropin_filter(const struct dirent *e)
{
	return is_dropin(e);
}

/* Adds the chains of DROP (from FILE) to CFG; a chain defined twice is an error naming both places. */
static int merge_dropin(struct qp_config *cfg, struct qp_config *drop, const char *file, FILE *errf)
{
	int errors = 0;
	char *name = strdup(file);
	char **files = realloc(cfg->files, (cfg->nfiles + 1) * sizeof(*files));
	if (files)
		cfg->files = files;
	struct qp_chain *chains = realloc(cfg->chains, (cfg->nchains + drop->nchains) * sizeof(*chains));
	if (!name || !files || !chains) {
		free(name);
		fprintf(errf, "%s: out of memory while loading the configuration\n", file);
		return 1;
	}
	cfg->chains = chains;
	cfg->files[cfg->nfiles++] = name;
	for (size_t i = 0; i < drop->nchains; i++) {
		struct qp_chain *c = &drop->chains[i];
		const struct qp_chain *prev = config_chain(cfg, c->name);
		if (prev) {
			fprintf(errf, "%s:%d:%d: chain '%s' is defined twice: here and at %s:%d:%d; chain names must be unique across the main file and chains.d\n",
				file, c->line, c->column, c->name, prev->file, prev->line, prev->column);
			errors++;
		}
		c->file = name;
		cfg->chains[cfg->nchains++] = *c;
	}
	/* the chains are cfg's now */
	free(drop->chains);
	drop->chains = NULL;
	drop->nchains = 0;
	return errors;
}

struct qp_config *config_load(const char *file, const char *builtin_dir, FILE *errf)
{
	errf = errf ? errf : stderr;
	struct qp_config *cfg = load_one(file, builtin_dir, errf, NULL);
	if (!cfg)
		return NULL;
	cfg->files = calloc(1, sizeof(*cfg->files));
	if (!cfg->files || !(cfg->files[0] = strdup(file))) {
		fprintf(errf, "%s: out of memory while loading the configuration\n", file);
		config_free(cfg);
		return NULL;
	}
	cfg->nfiles = 1;
	for (size_t i = 0; i < cfg->nchains; i++)
		cfg->chains[i].file = cfg->files[0];

	char *dir = strdup(file), *slash, *dpath = NULL;
	if (!dir) {
		config_free(cfg);
		return NULL;
	}
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	if (asprintf(&dpath, "%s/chains.d", slash ? (*dir ? dir : "/") : ".") < 0) {
		free(dir);
		config_free(cfg);
		return NULL;
	}
	free(dir);
	struct dirent **list = NULL;
	int n = scandir(dpath, &list, dropin_filter, alphasort);
	int errors = 0;
	if (n < 0 && errno != ENOENT && errno != ENOTDIR) {
		fprintf(errf, "%s: unable to read the drop-in directory: %s\n", dpath, strerror(errno));
		errors++;
	}
	for (int i = 0; i < n; i++) {
		char *path = NULL;
		if (asprintf(&path, "%s/%s", dpath, list[i]->d_name) < 0) {
			errors++;
		} else {
			struct qp_config *drop = load_one(path, builtin_dir, errf, cfg);
			if (!drop)
				errors++;
			else
				errors += merge_dropin(cfg, drop, path, errf);
			config_free(drop);
			free(path);
		}
		free(list[i]);
	}
	free(list);
	free(dpath);
	errors += check_transparent_chains(cfg, errf);
	if (errors) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

/* One file: the main one (MAIN_CFG NULL), or a drop-in that borrows MAIN_CFG's filter_path. */
static struct qp_config *load_one(const char *file, const char *builtin_dir, FILE *errf, const struct qp_config *main_cfg)
{
	struct loader ld = {
		.file = file,
		.builtin_dir = builtin_dir ? builtin_dir : QP_FILTERDIR,
		.errf = errf ? errf : stderr,
		.filter_path_ok = true,
		.dropin = main_cfg != NULL,
	};
	if (ld_read_file(&ld) < 0)
		return NULL;
	if (ld_prescan(&ld)) {
		yaml_parser_t p;
		if (!yaml_parser_initialize(&p)) {
			ld.oom = true;
		} else {
			yaml_parser_set_input_string(&p, (const unsigned char *)ld.buf, ld.len);
			if (!yaml_parser_load(&p, &ld.doc))
				ld_parser_error(&ld, &p);
			else
				ld.have_doc = true;
			yaml_parser_delete(&p);
		}
	}
	if (ld.have_doc) {
		yaml_node_t *root = yaml_document_get_root_node(&ld.doc);
		ld.cfg = calloc(1, sizeof(*ld.cfg));
		if (!ld.cfg || !(ld.cfg->file = strdup(file))) {
			ld.oom = true;
		} else if (main_cfg && main_cfg->filter_path && !(ld.cfg->filter_path = dup_argv(main_cfg->filter_path))) {
			ld.oom = true;
		} else {
			/* a drop-in looks short filter names up where the main file says */
			if (main_cfg)
				ld.cfg->nfilter_path = main_cfg->nfilter_path;
			if (!root)
				ld_report_at(&ld, 1, 1, "the file is empty; expected a mapping with at least a 'chains' key");
			else
				get_root(&ld, root);
		}
		yaml_document_delete(&ld.doc);
	}
	free(ld.buf);
	ld_flush_errors(&ld);
	if (ld.total_errors || ld.oom || !ld.cfg) {
		config_free(ld.cfg);
		return NULL;
	}
	return ld.cfg;
}

static void free_steps(struct qp_step *steps, size_t n)
{
	if (!steps)
		return;
	for (size_t i = 0; i < n; i++) {
		free(steps[i].name);
		free(steps[i].path);
		config_free_argv(steps[i].args);
	}
	free(steps);
}

void config_free(struct qp_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->nchains; i++) {
		struct qp_chain *c = &cfg->chains[i];
		free(c->name);
		free_steps(c->filters, c->nfilters);
		free_steps(c->admit, c->nadmit);
		config_free_argv(c->connector);
		config_free_argv(c->sources);
		config_free_argv(c->targets);
		config_free_argv(c->services);
	}
	free(cfg->chains);
	for (size_t i = 0; i < cfg->ntransparent; i++) {
		struct qp_transparent *e = &cfg->transparent[i];
		free(e->service);
		config_free_argv(e->sources);
		free(e->target);
		free(e->chain);
	}
	free(cfg->transparent);
	free(cfg->isolation);
	for (size_t i = 0; i < cfg->nfiles; i++)
		free(cfg->files[i]);
	free(cfg->files);
	config_free_argv(cfg->connector);
	config_free_argv(cfg->filter_path);
	free(cfg->file);
	free(cfg);
}
