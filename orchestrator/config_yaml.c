/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reading a configuration file: the only user of libyaml.
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
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_loader.h"

/* ---- messages ---- */

void ld_vreport(struct loader *ld, unsigned long line, unsigned long column, const char *fmt, va_list ap)
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

void ld_report_at(struct loader *ld, unsigned long line, unsigned long column, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ld_vreport(ld, line, column, fmt, ap);
	va_end(ap);
}

void ld_report(struct loader *ld, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ld_vreport(ld, n->start_mark.line + 1, n->start_mark.column + 1, fmt, ap);
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

void ld_flush_errors(struct loader *ld)
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
const char *ld_show_bytes(char *out, size_t size, const char *s, size_t len)
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


/* ---- nodes ---- */

yaml_node_t *ld_node(struct loader *ld, int index)
{
	return yaml_document_get_node(&ld->doc, index);
}

/* YAML's null: what "key:" with nothing after it, or "~", means. */
bool ld_is_null(const yaml_node_t *n)
{
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *v = (const char *)n->data.scalar.value;
	return !strcmp(v, "") || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	       !strcmp(v, "NULL");
}

const char *ld_describe(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_SCALAR_NODE:
		return ld_is_null(n) ? "nothing (null)" : "a scalar";
	default:
		return "an empty node";
	}
}

bool ld_scalar_is(const yaml_node_t *n, const char *s)
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
char *ld_scalar_dup(struct loader *ld, const yaml_node_t *n, const char *what)
{
	if (n->type != YAML_SCALAR_NODE) {
		ld_report(ld, n, "%s must be a string, found %s", what, ld_describe(n));
		return NULL;
	}
	if (ld_is_null(n)) {
		ld_report(ld, n, "%s is missing (found null); write a value, quoted if it is \"%s\"", what,
		       SHOW_NODE(n));
		return NULL;
	}
	if (memchr(n->data.scalar.value, '\0', n->data.scalar.length)) {
		ld_report(ld, n, "%s contains a NUL byte, which no program argument can carry", what);
		return NULL;
	}
	char *s = strndup((const char *)n->data.scalar.value, n->data.scalar.length);
	if (!s)
		ld->oom = true;
	return s;
}


/*
 * Checks that N (known to be a mapping) uses only the keys in SPEC, each
 * at most once, and points SPEC's entries at their nodes. WHERE names the
 * mapping in messages ("in chain 'x'").
 */
void ld_keys(struct loader *ld, const yaml_node_t *n, struct key_spec *spec, size_t nspec,
		     const char *where)
{
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = ld_node(ld, p->key), *v = ld_node(ld, p->value);
		if (!k || !v)
			continue;
		if (k->type != YAML_SCALAR_NODE) {
			ld_report(ld, k, "keys must be plain names, found %s as a key %s", ld_describe(k), where);
			continue;
		}
		size_t i;
		for (i = 0; i < nspec; i++)
			if (ld_scalar_is(k, spec[i].name))
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
			ld_report(ld, k, "unknown key '%s' %s; allowed keys: %s", SHOW_NODE(k), where, allowed);
		} else if (spec[i].key) {
			ld_report(ld, k, "duplicate key '%s' %s (first given at line %lu)", spec[i].name, where,
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
bool ld_string_list(struct loader *ld, const yaml_node_t *n, bool single_ok, const char *what,
			    const char *item_what, char ***out, size_t *nout)
{
	*out = NULL;
	*nout = 0;
	if (single_ok && n->type == YAML_SCALAR_NODE && !ld_is_null(n)) {
		char **v = calloc(2, sizeof(*v));
		if (!v) {
			ld->oom = true;
			return false;
		}
		v[0] = ld_scalar_dup(ld, n, item_what);
		if (!v[0]) {
			free(v);
			return false;
		}
		*out = v;
		*nout = 1;
		return true;
	}
	if (n->type != YAML_SEQUENCE_NODE) {
		ld_report(ld, n, "%s must be a list%s (for example [\"a\", \"b\"]), found %s", what,
		       single_ok ? " or a single string" : " of strings", ld_describe(n));
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
		yaml_node_t *item = ld_node(ld, n->data.sequence.items.start[i]);
		if (!item || !(v[i] = ld_scalar_dup(ld, item, item_what)))
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

yaml_node_t *ld_list_item(struct loader *ld, yaml_node_t *n, size_t i)
{
	if (n->type != YAML_SEQUENCE_NODE)
		return n;
	return ld_node(ld, n->data.sequence.items.start[i]);
}

/* ---- files ---- */

/* 1: an executable regular file; 0: something else is there; -1: nothing */
int ld_executable_file(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return -1;
	if (!S_ISREG(st.st_mode) || faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) < 0)
		return 0;
	return 1;
}

const char *ld_file_kind(mode_t mode)
{
	return S_ISFIFO(mode) ? "a FIFO" : S_ISCHR(mode) ? "a character device" :
	       S_ISBLK(mode) ? "a block device" : S_ISSOCK(mode) ? "a socket" : "an unknown type";
}

int ld_read_file(struct loader *ld)
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
			ld->file, ld_file_kind(st.st_mode));
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

void ld_parser_error(struct loader *ld, const yaml_parser_t *p)
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
			ld_report_at(ld, line, column, "not valid text: %s (byte 0x%02x); the file must be UTF-8 text",
				  problem, (unsigned)p->problem_value & 0xff);
		else
			ld_report_at(ld, line, column, "not valid text: %s; the file must be UTF-8 text", problem);
		return;
	}
	default:
		if (p->context)
			ld_report_at(ld, p->problem_mark.line + 1, p->problem_mark.column + 1,
				  "YAML syntax error: %s (%s that starts at line %lu, column %lu)", problem,
				  p->context, (unsigned long)p->context_mark.line + 1,
				  (unsigned long)p->context_mark.column + 1);
		else
			ld_report_at(ld, p->problem_mark.line + 1, p->problem_mark.column + 1,
				  "YAML syntax error: %s", problem);
		return;
	}
}

/*
 * Event pass over the whole stream before the document is built. Returns
 * true when the document API may be used on it.
 */
bool ld_prescan(struct loader *ld)
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
			ld_parser_error(ld, &p);
			ok = false;
			break;
		}
		unsigned long line = ev.start_mark.line + 1, column = ev.start_mark.column + 1;
		switch (ev.type) {
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1) {
				ld_report_at(ld, line, column,
					  "a second YAML document starts here; the file must hold exactly one (remove this '---' and what follows, or merge the two)");
				ok = false;
				done = true;
			}
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (++depth > CONFIG_MAX_DEPTH) {
				ld_report_at(ld, line, column,
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
				ld_report_at(ld, line, column,
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
		ld_report_at(ld, 1, 1, "the file is empty; expected a mapping with at least a 'chains' key");
		ok = false;
	}
	yaml_parser_delete(&p);
	return ok;
}
