/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The configuration loader: the only user of libyaml.
 *
 * The file is read into memory first (bounded), scanned once as a stream
 * of events to refuse what the document API would happily build (aliases,
 * which turn the tree into a graph; absurd nesting; several documents),
 * and only then loaded as a document, so that every node carries its
 * position for the messages.
 *
 * Errors are collected rather than printed on the spot: the walk visits
 * keys in an order that suits the semantics (filter_path before chains),
 * and the administrator wants to read the messages in file order.
 */
#include "config.h"
#include "names.h"
#include "descriptor.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

/* A chains file is a few KiB; anything near this is a mistake or an attack. */
#define CONFIG_MAX_BYTES (1024 * 1024)
/* The format itself needs 6 levels; libyaml's parser stacks grow with this. */
#define CONFIG_MAX_DEPTH 32
/* Past this, more messages only bury the first ones. */
#define CONFIG_MAX_ERRORS 100
/* Room for one quoted user string inside a message. */
#define SHOW_BUF 100

struct load_error {
	unsigned long line, column; /* 0: a problem of the whole file */
	size_t seq;
	char *text;
};

struct loader {
	const char *file;
	const char *builtin_dir;
	FILE *errf;
	char *buf;
	size_t len;
	yaml_document_t doc;
	bool have_doc;
	struct load_error *errs;
	size_t nerrs, caperrs;
	size_t total_errors;
	bool oom;
	/* false when filter_path was wrong: lookups would only add noise */
	bool filter_path_ok;
	bool dropin;          /* a file of chains.d: chains only */
	struct qp_config *cfg;
};

static const char *const placeholders[] = { "target", "service", "source", "chain" };
#define NPLACEHOLDERS (sizeof(placeholders) / sizeof(placeholders[0]))
#define PLACEHOLDER_LIST "{target}, {service}, {source}, {chain}"

/* ---- messages ---- */

__attribute__((format(printf, 4, 0)))
static void vreport(struct loader *ld, unsigned long line, unsigned long column, const char *fmt, va_list ap)
{
	ld->total_errors++;
	if (ld->nerrs >= CONFIG_MAX_ERRORS)
		return;
	if (ld->nerrs == ld->caperrs) {
		size_t cap = ld->caperrs ? ld->caperrs * 2 : 16;
		struct load_error *e = realloc(ld->errs, cap * sizeof(*e));
		if (!e) {
			ld->oom = true;
			return;
		}
		ld->errs = e;
		ld->caperrs = cap;
	}
	char *text;
	if (vasprintf(&text, fmt, ap) < 0) {
		ld->oom = true;
		return;
	}
	ld->errs[ld->nerrs++] = (struct load_error){ line, column, ld->nerrs, text };
}

__attribute__((format(printf, 4, 5)))
static void report_at(struct loader *ld, unsigned long line, unsigned long column, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(ld, line, column, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 3, 4)))
static void report(struct loader *ld, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(ld, n->start_mark.line + 1, n->start_mark.column + 1, fmt, ap);
	va_end(ap);
}

static int error_order(const void *a, const void *b)
{
	const struct load_error *x = a, *y = b;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->column != y->column)
		return x->column < y->column ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void flush_errors(struct loader *ld)
{
	if (ld->oom) {
		fprintf(ld->errf, "%s: out of memory while loading the configuration\n", ld->file);
		ld->total_errors++;
	}
	if (ld->nerrs)
		qsort(ld->errs, ld->nerrs, sizeof(*ld->errs), error_order);
	for (size_t i = 0; i < ld->nerrs; i++) {
		const struct load_error *e = &ld->errs[i];
		if (e->line)
			fprintf(ld->errf, "%s:%lu:%lu: %s\n", ld->file, e->line, e->column, e->text);
		else
			fprintf(ld->errf, "%s: %s\n", ld->file, e->text);
		free(e->text);
	}
	if (ld->total_errors > ld->nerrs + ld->oom)
		fprintf(ld->errf, "%s: %zu more errors not shown; fix the ones above first\n", ld->file,
			ld->total_errors - ld->nerrs - ld->oom);
	free(ld->errs);
	ld->errs = NULL;
	ld->nerrs = ld->caperrs = 0;
	fflush(ld->errf);
}

/*
 * A user string made safe for one message line: bounded, and with control
 * and non-ASCII bytes escaped, so a hostile file cannot forge log lines.
 */
static const char *show_bytes(char *out, size_t size, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, limit = size - 8; /* room for one escape, "..." and NUL */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (o >= limit) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			out[o++] = (char)c;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return out;
}

#define SHOW(s) show_bytes((char[SHOW_BUF]){ "" }, SHOW_BUF, (s), strlen(s))
#define SHOW_NODE(n)                                                                       \
	show_bytes((char[SHOW_BUF]){ "" }, SHOW_BUF, (const char *)(n)->data.scalar.value, \
		   (n)->data.scalar.length)

/* ---- nodes ---- */

static yaml_node_t *get_node(struct loader *ld, int index)
{
	return yaml_document_get_node(&ld->doc, index);
}

/* YAML's null: what "key:" with nothing after it, or "~", means. */
static bool is_null(const yaml_node_t *n)
{
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *v = (const char *)n->data.scalar.value;
	return !strcmp(v, "") || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	       !strcmp(v, "NULL");
}

static const char *describe(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_SCALAR_NODE:
		return is_null(n) ? "nothing (null)" : "a scalar";
	default:
		return "an empty node";
	}
}

static bool scalar_is(const yaml_node_t *n, const char *s)
{
	size_t len = strlen(s);
	return n->type == YAML_SCALAR_NODE && n->data.scalar.length == len &&
	       !memcmp(n->data.scalar.value, s, len);
}

/*
 * The string value of a scalar node, copied. WHAT says what the value is
 * for ("an argument of filter 'x'"). NULL when it is not a usable string
 * (reported) or memory ran out (flagged).
 */
static char *scalar_dup(struct loader *ld, const yaml_node_t *n, const char *what)
{
	if (n->type != YAML_SCALAR_NODE) {
		report(ld, n, "%s must be a string, found %s", what, describe(n));
		return NULL;
	}
	if (is_null(n)) {
		report(ld, n, "%s is missing (found null); write a value, quoted if it is \"%s\"", what,
		       SHOW_NODE(n));
		return NULL;
	}
	if (memchr(n->data.scalar.value, '\0', n->data.scalar.length)) {
		report(ld, n, "%s contains a NUL byte, which no program argument can carry", what);
		return NULL;
	}
	char *s = strndup((const char *)n->data.scalar.value, n->data.scalar.length);
	if (!s)
		ld->oom = true;
	return s;
}

struct key_spec {
	const char *name;
	bool forbidden; /* known, but not allowed here: the caller says why */
	yaml_node_t *key;
	yaml_node_t *value;
};

/*
 * Checks that N (known to be a mapping) uses only the keys in SPEC, each
 * at most once, and points SPEC's entries at their nodes. WHERE names the
 * mapping in messages ("in chain 'x'").
 */
static void get_keys(struct loader *ld, const yaml_node_t *n, struct key_spec *spec, size_t nspec,
		     const char *where)
{
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = get_node(ld, p->key), *v = get_node(ld, p->value);
		if (!k || !v)
			continue;
		if (k->type != YAML_SCALAR_NODE) {
			report(ld, k, "keys must be plain names, found %s as a key %s", describe(k), where);
			continue;
		}
		size_t i;
		for (i = 0; i < nspec; i++)
			if (scalar_is(k, spec[i].name))
				break;
		if (i == nspec) {
			char allowed[256] = "";
			for (size_t j = 0; j < nspec; j++) {
				if (spec[j].forbidden)
					continue;
				if (*allowed)
					strcat(allowed, ", ");
				strcat(allowed, spec[j].name);
			}
			report(ld, k, "unknown key '%s' %s; allowed keys: %s", SHOW_NODE(k), where, allowed);
		} else if (spec[i].key) {
			report(ld, k, "duplicate key '%s' %s (first given at line %lu)", spec[i].name, where,
			       (unsigned long)spec[i].key->start_mark.line + 1);
		} else {
			spec[i].key = k;
			spec[i].value = v;
		}
	}
}

/*
 * A list of strings (a single string too when SINGLE_OK): fills *OUT with
 * a NULL-terminated copy. Returns false after reporting when any item is
 * not a string, so that on success item i of the node is (*OUT)[i].
 */
static bool get_string_list(struct loader *ld, const yaml_node_t *n, bool single_ok, const char *what,
			    const char *item_what, char ***out, size_t *nout)
{
	*out = NULL;
	*nout = 0;
	if (single_ok && n->type == YAML_SCALAR_NODE && !is_null(n)) {
		char **v = calloc(2, sizeof(*v));
		if (!v) {
			ld->oom = true;
			return false;
		}
		v[0] = scalar_dup(ld, n, item_what);
		if (!v[0]) {
			free(v);
			return false;
		}
		*out = v;
		*nout = 1;
		return true;
	}
	if (n->type != YAML_SEQUENCE_NODE) {
		report(ld, n, "%s must be a list%s (for example [\"a\", \"b\"]), found %s", what,
		       single_ok ? " or a single string" : " of strings", describe(n));
		return false;
	}
	size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	char **v = calloc(count + 1, sizeof(*v));
	if (!v) {
		ld->oom = true;
		return false;
	}
	bool ok = true;
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *item = get_node(ld, n->data.sequence.items.start[i]);
		if (!item || !(v[i] = scalar_dup(ld, item, item_what)))
			ok = false;
	}
	if (!ok) {
		/* v has holes where items were refused: config_free_argv would stop at the first */
		for (size_t i = 0; i < count; i++)
			free(v[i]);
		free(v);
		return false;
	}
	*out = v;
	*nout = count;
	return true;
}

static yaml_node_t *list_item(struct loader *ld, yaml_node_t *n, size_t i)
{
	if (n->type != YAML_SEQUENCE_NODE)
		return n;
	return get_node(ld, n->data.sequence.items.start[i]);
}

/* ---- files ---- */

/* 1: an executable regular file; 0: something else is there; -1: nothing */
static int executable_file(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return -1;
	if (!S_ISREG(st.st_mode) || faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) < 0)
		return 0;
	return 1;
}

static const char *file_kind(mode_t mode)
{
	return S_ISFIFO(mode) ? "a FIFO" : S_ISCHR(mode) ? "a character device" :
	       S_ISBLK(mode) ? "a block device" : S_ISSOCK(mode) ? "a socket" : "an unknown type";
}

static int read_config_file(struct loader *ld)
{
	/*
	 * O_NONBLOCK: a FIFO at the path would otherwise block open() until
	 * a writer came, and with it the listener's reload (SIGHUP) forever.
	 * Only a regular file is read, so the flag is then cleared.
	 */
	int fd = open(ld->file, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		fprintf(ld->errf, "%s: unable to open: %s\n", ld->file, strerror(errno));
		return -1;
	}
	struct stat st;
	int bad = fstat(fd, &st) < 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : 0;
	if (bad) {
		errno = bad;
		fprintf(ld->errf, "%s: unable to open: %s\n", ld->file, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		/* a FIFO or a device may block every read, or never come to an end */
		fprintf(ld->errf, "%s: not a regular file (%s); the configuration must be a regular file\n",
			ld->file, file_kind(st.st_mode));
		close(fd);
		return -1;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		fprintf(ld->errf, "%s: unable to read: %s\n", ld->file, strerror(errno));
		close(fd);
		return -1;
	}
	size_t cap = 4096;
	ld->buf = malloc(cap);
	if (!ld->buf)
		goto nomem;
	for (;;) {
		if (ld->len == cap) {
			if (cap > CONFIG_MAX_BYTES) {
				fprintf(ld->errf,
					"%s: file too large (over %d bytes); a chains file is a few kilobytes: is this the right file?\n",
					ld->file, CONFIG_MAX_BYTES);
				goto fail;
			}
			char *b = realloc(ld->buf, cap * 2);
			if (!b)
				goto nomem;
			ld->buf = b;
			cap *= 2;
		}
		ssize_t r = read(fd, ld->buf + ld->len, cap - ld->len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fprintf(ld->errf, "%s: unable to read: %s\n", ld->file, strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		ld->len += (size_t)r;
	}
	if (ld->len > CONFIG_MAX_BYTES) {
		fprintf(ld->errf,
			"%s: file too large (over %d bytes); a chains file is a few kilobytes: is this the right file?\n",
			ld->file, CONFIG_MAX_BYTES);
		goto fail;
	}
	close(fd);
	return 0;
nomem:
	fprintf(ld->errf, "%s: unable to read: %s\n", ld->file, strerror(ENOMEM));
fail:
	close(fd);
	free(ld->buf);
	ld->buf = NULL;
	return -1;
}

/* ---- syntax ---- */

static void report_parser_error(struct loader *ld, const yaml_parser_t *p)
{
	const char *problem = p->problem ? p->problem : "unknown problem";
	switch (p->error) {
	case YAML_MEMORY_ERROR:
		ld->oom = true;
		return;
	case YAML_READER_ERROR: {
		/* The reader has no mark, only a byte offset. */
		unsigned long line = 1, column = 1;
		for (size_t i = 0; i < p->problem_offset && i < ld->len; i++) {
			if (ld->buf[i] == '\n') {
				line++;
				column = 1;
			} else {
				column++;
			}
		}
		if (p->problem_value != -1)
			report_at(ld, line, column, "not valid text: %s (byte 0x%02x); the file must be UTF-8 text",
				  problem, (unsigned)p->problem_value & 0xff);
		else
			report_at(ld, line, column, "not valid text: %s; the file must be UTF-8 text", problem);
		return;
	}
	default:
		if (p->context)
			report_at(ld, p->problem_mark.line + 1, p->problem_mark.column + 1,
				  "YAML syntax error: %s (%s that starts at line %lu, column %lu)", problem,
				  p->context, (unsigned long)p->context_mark.line + 1,
				  (unsigned long)p->context_mark.column + 1);
		else
			report_at(ld, p->problem_mark.line + 1, p->problem_mark.column + 1,
				  "YAML syntax error: %s", problem);
		return;
	}
}

/*
 * Event pass over the whole stream before the document is built. Returns
 * true when the document API may be used on it.
 */
static bool prescan(struct loader *ld)
{
	yaml_parser_t p;
	if (!yaml_parser_initialize(&p)) {
		ld->oom = true;
		return false;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)ld->buf, ld->len);
	bool ok = true, done = false, seen_alias = false;
	int depth = 0, docs = 0;
	while (!done) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&p, &ev)) {
			report_parser_error(ld, &p);
			ok = false;
			break;
		}
		unsigned long line = ev.start_mark.line + 1, column = ev.start_mark.column + 1;
		switch (ev.type) {
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1) {
				report_at(ld, line, column,
					  "a second YAML document starts here; the file must hold exactly one (remove this '---' and what follows, or merge the two)");
				ok = false;
				done = true;
			}
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (++depth > CONFIG_MAX_DEPTH) {
				report_at(ld, line, column,
					  "nesting deeper than %d levels; the format needs no more than 6",
					  CONFIG_MAX_DEPTH);
				ok = false;
				done = true;
			}
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		case YAML_ALIAS_EVENT:
			/*
			 * A graph, not a tree: exponential walks ("billion laughs") and
			 * shared nodes. Said once: every other alias is the same mistake.
			 */
			if (!seen_alias)
				report_at(ld, line, column,
					  "aliases (*%s) are not supported; write the value out in full",
					  SHOW((const char *)ev.data.alias.anchor));
			seen_alias = true;
			ok = false;
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	if (ok && docs == 0) {
		report_at(ld, 1, 1, "the file is empty; expected a mapping with at least a 'chains' key");
		ok = false;
	}
	yaml_parser_delete(&p);
	return ok;
}

/* ---- semantics ---- */

static int placeholder_index(const char *name, size_t len)
{
	for (size_t i = 0; i < NPLACEHOLDERS; i++)
		if (strlen(placeholders[i]) == len && !memcmp(placeholders[i], name, len))
			return (int)i;
	return -1;
}

/* Braces are reserved: anything but a known placeholder is refused now, so it can get a meaning later. */
static void check_placeholders(struct loader *ld, const yaml_node_t *n, const char *s)
{
	for (const char *p = s; *p; p++) {
		if (*p == '}') {
			report(ld, n, "connector argument '%s' has a '}' without '{'; braces are reserved for the placeholders " PLACEHOLDER_LIST,
			       SHOW(s));
			return;
		}
		if (*p != '{')
			continue;
		const char *q = strchr(p + 1, '}');
		if (!q) {
			report(ld, n, "connector argument '%s' has a '{' without '}'; braces are reserved for the placeholders " PLACEHOLDER_LIST,
			       SHOW(s));
			return;
		}
		if (placeholder_index(p + 1, (size_t)(q - p - 1)) < 0) {
			char name[SHOW_BUF];
			report(ld, n, "unknown placeholder '%s' in connector argument '%s'; use one of " PLACEHOLDER_LIST " (braces are reserved)",
			       show_bytes(name, sizeof(name), p, (size_t)(q - p + 1)), SHOW(s));
			return;
		}
		p = q;
	}
}

static void get_connector(struct loader *ld, yaml_node_t *n, const char *what, char ***out, size_t *nout)
{
	char **v;
	size_t count;
	if (!get_string_list(ld, n, false, what, "an element of the connector", &v, &count))
		return;
	if (count == 0) {
		report(ld, n, "%s is empty; give the program's absolute path first, then its arguments", what);
		config_free_argv(v);
		return;
	}
	bool ok = true;
	yaml_node_t *first = list_item(ld, n, 0);
	if (v[0][0] != '/') {
		report(ld, first, "the connector program '%s' must be an absolute path", SHOW(v[0]));
		ok = false;
	} else if (strpbrk(v[0], "{}")) {
		report(ld, first, "the connector program '%s' cannot contain braces: placeholders are for its arguments",
		       SHOW(v[0]));
		ok = false;
	} else if (executable_file(v[0]) == 0) {
		/* Absent is fine (a build machine has no qrexec-client-vm); present must be usable. */
		report(ld, first, "the connector program '%s' exists but is not an executable regular file",
		       SHOW(v[0]));
		ok = false;
	}
	for (size_t i = 1; i < count; i++) {
		size_t before = ld->total_errors;
		check_placeholders(ld, list_item(ld, n, i), v[i]);
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
	if (!get_string_list(ld, n, true, "'filter_path'", "a 'filter_path' directory", &cfg->filter_path,
			     &cfg->nfilter_path)) {
		ld->filter_path_ok = false;
		return;
	}
	for (size_t i = 0; i < cfg->nfilter_path; i++) {
		if (cfg->filter_path[i][0] != '/') {
			report(ld, list_item(ld, n, i),
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
		int r = executable_file(name);
		if (r < 0)
			report(ld, n, "%s '%s' not found: %s", kind, SHOW(name), strerror(errno));
		else if (r == 0)
			report(ld, n, "%s '%s' is not an executable regular file", kind, SHOW(name));
		if (r <= 0)
			return NULL;
		char *p = strdup(name);
		if (!p)
			ld->oom = true;
		return p;
	}
	if (strchr(name, '/')) {
		report(ld, n, "%s '%s' is a relative path; give a short name (looked up in filter_path, then the built-in filters) or an absolute path",
		       kind, SHOW(name));
		return NULL;
	}
	if (!name_valid(name, NAME_CHAIN_MAX)) {
		report(ld, n, "invalid %s name '%s': a short name has 1 to %d characters from [A-Za-z0-9_.-] and does not start with '-' or '.'",
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
		int r = executable_file(path);
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
			report(ld, n, "%s '%s' not found as an executable regular file in %s (%s exists but is not one)",
			       kind, SHOW(name), dirs, SHOW(unusable));
		else
			report(ld, n, "%s '%s' not found: no executable file of that name in %s", kind, SHOW(name),
			       dirs);
	}
	free(dirs);
	free(unusable);
	return NULL;
}

static void get_direction(struct loader *ld, const yaml_node_t *n, unsigned *out)
{
	if (scalar_is(n, "both"))
		*out = QP_DIR_BOTH;
	else if (scalar_is(n, "src2dst"))
		*out = QP_DIR_SRC2DST;
	else if (scalar_is(n, "dst2src"))
		*out = QP_DIR_DST2SRC;
	else if (n->type == YAML_SCALAR_NODE)
		report(ld, n, "invalid direction '%s'; use both (the default), src2dst or dst2src", SHOW_NODE(n));
	else
		report(ld, n, "'direction' must be both, src2dst or dst2src, found %s", describe(n));
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
		struct key_spec spec[] = { { "name", false, 0, 0 }, { "args", false, 0, 0 },
					   { "direction", !is_filter, 0, 0 } };
		char where[SHOW_BUF + 64];
		snprintf(where, sizeof(where), "in an item of '%s' of chain '%s'", list, chain);
		get_keys(ld, n, spec, 3, where);
		if (spec[2].key && !is_filter)
			report(ld, spec[2].key,
			       "'direction' is not allowed in 'admit' of chain '%s': an admission check sees no data, it runs once before the connection starts",
			       chain);
		name_node = spec[0].value;
		if (!name_node) {
			report(ld, n, "this item of '%s' of chain '%s' has no 'name'; add 'name: FILTER'", list, chain);
		}
		if (spec[1].value) {
			char what[SHOW_BUF + 64];
			snprintf(what, sizeof(what), "'args' of %s", kind);
			get_string_list(ld, spec[1].value, false, what, "an argument", &step->args, &step->nargs);
			step->args_line = (int)spec[1].value->start_mark.line + 1;
			step->args_column = (int)spec[1].value->start_mark.column + 1;
		}
		if (spec[2].value)
			get_direction(ld, spec[2].value, &step->direction);
	} else if (n->type != YAML_SCALAR_NODE) {
		report(ld, n, "an item of '%s' must be a %s name or a mapping with 'name'%s, found %s", list, kind,
		       is_filter ? ", 'args' and 'direction'" : " and 'args'", describe(n));
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
	step->name = scalar_dup(ld, name_node, what);
	if (step->name)
		step->path = find_filter(ld, name_node, step->name, kind);
}

static void get_steps(struct loader *ld, yaml_node_t *n, bool is_filter, const char *chain, struct qp_step **out,
		      size_t *nout)
{
	const char *list = is_filter ? "filters" : "admit";
	if (n->type != YAML_SEQUENCE_NODE) {
		report(ld, n, "'%s' of chain '%s' must be a list (use [] for none), found %s", list, chain, describe(n));
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
		yaml_node_t *item = get_node(ld, n->data.sequence.items.start[i]);
		if (item)
			get_step(ld, item, &(*out)[i], is_filter, chain);
	}
}

/* a number of seconds (decimals allowed) from 0 to a day, as milliseconds; -1 after a report */
static int get_seconds(struct loader *ld, const yaml_node_t *n, const char *what)
{
	if (n->type != YAML_SCALAR_NODE || is_null(n)) {
		report(ld, n, "%s must be a number of seconds (0 to 86400), found %s", what, describe(n));
		return -1;
	}
	const char *v = (const char *)n->data.scalar.value;
	char *end;
	errno = 0;
	double d = strtod(v, &end);
	if (errno || end == v || *end || !(d >= 0 && d <= 86400)) {
		report(ld, n, "%s must be a number of seconds (0 to 86400), not '%s'", what, SHOW_NODE(n));
		return -1;
	}
	return (int)(d * 1000);
}

/* a whole number from 1 to 65536 (a limit on connections); 0 after a report */
static int get_limit(struct loader *ld, const yaml_node_t *n, const char *what)
{
	if (n->type != YAML_SCALAR_NODE || is_null(n)) {
		report(ld, n, "%s must be a whole number from 1 to 65536, found %s", what, describe(n));
		return 0;
	}
	const char *v = (const char *)n->data.scalar.value;
	char *end;
	errno = 0;
	long l = strtol(v, &end, 10);
	if (errno || end == v || *end || l < 1 || l > 65536 || !(*v >= '0' && *v <= '9')) {
		report(ld, n, "%s must be a whole number from 1 to 65536, not '%s'", what, SHOW_NODE(n));
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
	if (!get_string_list(ld, n, false, what, item, out, nout))
		return;
	for (size_t i = 0; i < *nout; i++) {
		if (!valid((*out)[i])) {
			yaml_node_t *it = get_node(ld, n->data.sequence.items.start[i]);
			report(ld, it ? it : n, "'%s' in %s is not %s", SHOW((*out)[i]), what, rule);
		}
	}
}

static void get_chain(struct loader *ld, yaml_node_t *key, yaml_node_t *n, struct qp_chain *chain)
{
	const char *name = chain->name ? chain->name : "?";
	char shown[SHOW_BUF];
	show_bytes(shown, sizeof(shown), name, strlen(name));
	if (n->type != YAML_MAPPING_NODE) {
		report(ld, n, "chain '%s' must be a mapping with a 'filters' list (and optional 'admit', 'connector'), found %s",
		       shown, describe(n));
		return;
	}
	struct key_spec spec[] = { { "filters", false, 0, 0 }, { "admit", false, 0, 0 }, { "connector", false, 0, 0 },
				   { "idle_timeout", false, 0, 0 }, { "sources", false, 0, 0 }, { "targets", false, 0, 0 },
				   { "services", false, 0, 0 }, { "max_connections", false, 0, 0 },
				   { "max_per_source", false, 0, 0 }, { "queue_timeout", false, 0, 0 } };
	char where[SHOW_BUF + 16];
	snprintf(where, sizeof(where), "in chain '%s'", shown);
	get_keys(ld, n, spec, sizeof(spec) / sizeof(spec[0]), where);
	if (spec[4].value)
		get_allowlist(ld, spec[4].value, "sources", shown, name_qube, "a qube name", &chain->sources,
			      &chain->nsources);
	if (spec[5].value)
		get_allowlist(ld, spec[5].value, "targets", shown, name_qube, "a qube name", &chain->targets,
			      &chain->ntargets);
	if (spec[6].value)
		get_allowlist(ld, spec[6].value, "services", shown, name_service_pattern,
			      "a service name (SERVICE, SERVICE+ARG, SERVICE+ for any argument, or PREFIX*)",
			      &chain->services, &chain->nservices);
	chain->idle_timeout_ms = -1;
	if (spec[3].value) {
		char what[SHOW_BUF + 40];
		snprintf(what, sizeof(what), "'idle_timeout' of chain '%s'", shown);
		chain->idle_timeout_ms = get_seconds(ld, spec[3].value, what);
	}
	if (spec[7].value) {
		char what[SHOW_BUF + 40];
		snprintf(what, sizeof(what), "'max_connections' of chain '%s'", shown);
		chain->max_connections = get_limit(ld, spec[7].value, what);
	}
	if (spec[8].value) {
		char what[SHOW_BUF + 40];
		snprintf(what, sizeof(what), "'max_per_source' of chain '%s'", shown);
		chain->max_per_source = get_limit(ld, spec[8].value, what);
	}
	chain->queue_timeout_ms = -1;
	if (spec[9].value) {
		char what[SHOW_BUF + 40];
		snprintf(what, sizeof(what), "'queue_timeout' of chain '%s'", shown);
		chain->queue_timeout_ms = get_seconds(ld, spec[9].value, what);
	}
	if (spec[0].value)
		get_steps(ld, spec[0].value, true, shown, &chain->filters, &chain->nfilters);
	else
		report(ld, key, "chain '%s' has no 'filters' list; write 'filters: []' for a plain relay", shown);
	if (spec[1].value)
		get_steps(ld, spec[1].value, false, shown, &chain->admit, &chain->nadmit);
	if (spec[2].value) {
		char what[SHOW_BUF + 32];
		snprintf(what, sizeof(what), "'connector' of chain '%s'", shown);
		get_connector(ld, spec[2].value, what, &chain->connector, &chain->nconnector);
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
		report(ld, n, "'chains' must be a mapping from chain names to chains, found %s", describe(n));
		return;
	}
	size_t count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	if (count == 0) {
		report(ld, n, "'chains' is empty; define at least one chain");
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
		yaml_node_t *k = get_node(ld, p->key), *v = get_node(ld, p->value);
		if (!k || !v)
			continue;
		struct qp_chain *chain = &cfg->chains[cfg->nchains++];
		chain->line = (int)k->start_mark.line + 1;
		chain->column = (int)k->start_mark.column + 1;
		if (k->type != YAML_SCALAR_NODE) {
			report(ld, k, "a chain name must be a string, found %s", describe(k));
		} else if (k->data.scalar.length > NAME_CHAIN_MAX || memchr(k->data.scalar.value, '\0', k->data.scalar.length) ||
			   !name_valid((const char *)k->data.scalar.value, NAME_CHAIN_MAX)) {
			report(ld, k, "invalid chain name '%s': use 1 to %d characters from [A-Za-z0-9_.-], not starting with '-' or '.'",
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
			report(ld, refs[i].key, "duplicate chain '%s' (first defined at line %lu); chain names must be unique",
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
	if (n->type == YAML_SCALAR_NODE && !is_null(n)) {
		for (size_t i = 0; names[i]; i++) {
			if (scalar_is(n, names[i])) {
				if (!(ld->cfg->isolation = strdup(names[i])))
					ld->oom = true;
				return;
			}
		}
		report(ld, n, "'isolation' must be auto, namespaces, landlock or seccomp-only, not '%s'", SHOW_NODE(n));
		return;
	}
	report(ld, n, "'isolation' must be auto, namespaces, landlock or seccomp-only, found %s", describe(n));
}

/* ---- transparent ---- */

/* One item of 'transparent'; its chain is looked up once every file is read. */
static void get_transparent_entry(struct loader *ld, yaml_node_t *n, struct qp_transparent *e, size_t index)
{
	e->line = (int)n->start_mark.line + 1;
	e->column = (int)n->start_mark.column + 1;
	if (n->type != YAML_MAPPING_NODE) {
		report(ld, n, "item %zu of 'transparent' must be a mapping with 'service', 'target', 'chain' and optional 'sources', found %s",
		       index + 1, describe(n));
		return;
	}
	struct key_spec spec[] = { { "service", false, 0, 0 }, { "sources", false, 0, 0 }, { "target", false, 0, 0 },
				   { "chain", false, 0, 0 } };
	char where[64];
	snprintf(where, sizeof(where), "in item %zu of 'transparent'", index + 1);
	get_keys(ld, n, spec, 4, where);
	static const char *const required[] = { "service: SERVICE (the qrexec service name dom0 redirects here)", NULL,
						"target: QUBE (where the calls go)", "chain: CHAIN (what they go through)" };
	for (size_t i = 0; i < 4; i++)
		if (required[i] && !spec[i].value)
			report(ld, n, "item %zu of 'transparent' has no '%s'; add '%s'", index + 1, spec[i].name, required[i]);

	if (spec[0].value && (e->service = scalar_dup(ld, spec[0].value, "'service' of a transparent entry"))) {
		if (strchr(e->service, '+'))
			report(ld, spec[0].value, "'service' '%s' has an argument; give the service name alone (a call's argument is passed on unchanged)",
			       SHOW(e->service));
		else if (!name_valid(e->service, NAME_SERVICE_MAX))
			report(ld, spec[0].value, "invalid service name '%s': use 1 to %d characters from [A-Za-z0-9_.-], not starting with '-' or '.'",
			       SHOW(e->service), NAME_SERVICE_MAX);
		else if (!strcmp(e->service, QP_PROXY_SERVICE))
			report(ld, spec[0].value, "'" QP_PROXY_SERVICE "' cannot be transparent: its calls name their chain and target themselves (" QP_PROXY_SERVICE "+CHAIN+TARGET+SERVICE)");
	}
	if (spec[1].value && get_string_list(ld, spec[1].value, false, "'sources' of a transparent entry", "an item of 'sources'",
					     &e->sources, &e->nsources)) {
		if (e->nsources == 0)
			report(ld, spec[1].value, "'sources' is empty, so the entry would match no call; remove 'sources' to match any source");
		for (size_t i = 0; i < e->nsources; i++)
			if (!name_qube(e->sources[i]))
				report(ld, list_item(ld, spec[1].value, i), "'%s' in 'sources' of a transparent entry is not a qube name",
				       SHOW(e->sources[i]));
	}
	if (spec[2].value && (e->target = scalar_dup(ld, spec[2].value, "'target' of a transparent entry")) &&
	    !name_qube(e->target))
		report(ld, spec[2].value, "'target' '%s' is not a qube name (a letter, then up to 30 of [A-Za-z0-9_.-])",
		       SHOW(e->target));
	if (spec[3].value) {
		e->chain_line = (int)spec[3].value->start_mark.line + 1;
		e->chain_column = (int)spec[3].value->start_mark.column + 1;
		if ((e->chain = scalar_dup(ld, spec[3].value, "'chain' of a transparent entry")) &&
		    !name_valid(e->chain, NAME_CHAIN_MAX))
			report(ld, spec[3].value, "invalid chain name '%s' in a transparent entry", SHOW(e->chain));
	}
}

static void get_transparent(struct loader *ld, yaml_node_t *n)
{
	struct qp_config *cfg = ld->cfg;
	if (n->type != YAML_SEQUENCE_NODE) {
		report(ld, n, "'transparent' must be a list of entries (service, sources, target, chain), found %s",
		       describe(n));
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
		yaml_node_t *item = get_node(ld, n->data.sequence.items.start[i]);
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
		report(ld, root, "the configuration must be a mapping with at least a 'chains' key, found %s",
		       describe(root));
		return;
	}
	/* a drop-in adds chains, and only chains: the rest is the main file's to say */
	struct key_spec spec[] = { { "connector", ld->dropin, 0, 0 }, { "filter_path", ld->dropin, 0, 0 },
				   { "chains", false, 0, 0 }, { "isolation", ld->dropin, 0, 0 },
				   { "transparent", ld->dropin, 0, 0 } };
	get_keys(ld, root, spec, 5, ld->dropin ? "in a drop-in file (chains.d: only 'chains')" : "at the top level");
	if (ld->dropin) {
		for (size_t i = 0; i < 5; i++)
			if (spec[i].forbidden && spec[i].key)
				report(ld, spec[i].key, "'%s' may not be given in a drop-in file; it belongs in the main file",
				       spec[i].name);
		if (spec[2].value)
			get_chains(ld, spec[2].value);
		else
			report(ld, root, "missing key 'chains'; a drop-in file adds chains under 'chains:'");
		return;
	}
	if (spec[3].value)
		get_isolation(ld, spec[3].value);
	/* filter_path first, whatever the order in the file: lookups depend on it. */
	if (spec[1].value)
		get_filter_path(ld, spec[1].value);
	if (spec[0].value)
		get_connector(ld, spec[0].value, "'connector'", &cfg->connector, &cfg->nconnector);
	else
		cfg->connector = default_connector(ld, &cfg->nconnector);
	if (spec[2].value)
		get_chains(ld, spec[2].value);
	else
		report(ld, root, "missing key 'chains'; define at least one chain under 'chains:'");
	if (spec[4].value)
		get_transparent(ld, spec[4].value);
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
	if (read_config_file(&ld) < 0)
		return NULL;
	if (prescan(&ld)) {
		yaml_parser_t p;
		if (!yaml_parser_initialize(&p)) {
			ld.oom = true;
		} else {
			yaml_parser_set_input_string(&p, (const unsigned char *)ld.buf, ld.len);
			if (!yaml_parser_load(&p, &ld.doc))
				report_parser_error(&ld, &p);
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
				report_at(&ld, 1, 1, "the file is empty; expected a mapping with at least a 'chains' key");
			else
				get_root(&ld, root);
		}
		yaml_document_delete(&ld.doc);
	}
	free(ld.buf);
	flush_errors(&ld);
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
				int idx = q ? placeholder_index(p + 1, (size_t)(q - p - 1)) : -1;
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
