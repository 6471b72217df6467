/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the configuration loader. Every fixture is written from
 * here into a private directory, with fake filters (tiny shell scripts),
 * so the tests depend neither on the built filters nor on the machine's
 * /usr/libexec.
 */
#include "timeout.h"
#include "config.h"
#include "names.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/check_config.XXXXXX";
/* short, so that paths built from them fit PATH_MAX without truncation warnings */
#define DIR_MAX 64
static char builtin[DIR_MAX], fp1[DIR_MAX], fp2[DIR_MAX], plain_dir[DIR_MAX];

struct result {
	struct qp_config *cfg;
	char *errs;
	size_t errs_len;
	char file[PATH_MAX];
};

/* Used outside the tests too (fixtures), so no ck_assert here. */
static void write_file(const char *path, const char *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		perror(path);
		abort();
	}
	while (len) {
		ssize_t w = write(fd, data, len);
		if (w <= 0) {
			perror(path);
			abort();
		}
		data += w;
		len -= (size_t)w;
	}
	if (fchmod(fd, mode) < 0 || close(fd) < 0) {
		perror(path);
		abort();
	}
}

static void make_filter(const char *dir, const char *name, mode_t mode)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	static const char script[] = "#!/bin/sh\nexec cat\n";
	write_file(path, script, sizeof(script) - 1, mode);
}

static void load_bytes(struct result *r, const char *data, size_t len, const char *builtin_dir)
{
	static unsigned counter;
	snprintf(r->file, sizeof(r->file), "%s/c%d-%u.yaml", tmpdir, (int)getpid(), counter++);
	write_file(r->file, data, len, 0644);
	FILE *f = open_memstream(&r->errs, &r->errs_len);
	ck_assert_ptr_nonnull(f);
	r->cfg = config_load(r->file, builtin_dir, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* In TEXT, @FP1@, @FP2@, @BUILTIN@ and @PLAIN@ stand for the fixture directories. */
static void load(struct result *r, const char *text)
{
	const char *tokens[][2] = { { "@FP1@", fp1 }, { "@FP2@", fp2 }, { "@BUILTIN@", builtin }, { "@PLAIN@", plain_dir } };
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	ck_assert_ptr_nonnull(f);
	for (const char *p = text; *p;) {
		size_t i;
		for (i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++)
			if (!strncmp(p, tokens[i][0], strlen(tokens[i][0])))
				break;
		if (i < sizeof(tokens) / sizeof(tokens[0])) {
			fputs(tokens[i][1], f);
			p += strlen(tokens[i][0]);
		} else {
			fputc(*p++, f);
		}
	}
	ck_assert_int_eq(fclose(f), 0);
	load_bytes(r, out, len, builtin);
	free(out);
}

__attribute__((format(printf, 2, 3)))
static void loadf(struct result *r, const char *fmt, ...)
{
	char *text;
	va_list ap;
	va_start(ap, fmt);
	ck_assert_int_ge(vasprintf(&text, fmt, ap), 0);
	va_end(ap);
	load_bytes(r, text, strlen(text), builtin);
	free(text);
}

static void result_free(struct result *r)
{
	config_free(r->cfg);
	free(r->errs);
	r->cfg = NULL;
	r->errs = NULL;
}

/* True if some line of the errors is "FILE:LINE:COL: ..." and contains PHRASE. */
static bool has_error(const struct result *r, int line, int col, const char *phrase)
{
	char prefix[PATH_MAX + 64];
	if (line)
		snprintf(prefix, sizeof(prefix), "%s:%d:%d: ", r->file, line, col);
	else
		snprintf(prefix, sizeof(prefix), "%s: ", r->file);
	for (const char *l = r->errs; l && *l;) {
		const char *end = strchr(l, '\n');
		size_t len = end ? (size_t)(end - l) : strlen(l);
		if (len >= strlen(prefix) && !strncmp(l, prefix, strlen(prefix))) {
			char *line_copy = strndup(l, len);
			bool found = strstr(line_copy, phrase) != NULL;
			free(line_copy);
			if (found)
				return true;
		}
		l += len + (end != NULL);
	}
	return false;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;
	for (; s && *s; s++)
		n += *s == '\n';
	return n;
}

#define assert_error(r, line, col, phrase)                                                                \
	do {                                                                                              \
		ck_assert_msg((r)->cfg == NULL, "the load should have failed");                           \
		ck_assert_msg(has_error((r), (line), (col), (phrase)), "no error \"%s:%d:%d: ...%s...\" in:\n%s", \
			      (r)->file, (line), (col), (phrase), (r)->errs);                             \
	} while (0)

#define assert_ok(r) ck_assert_msg((r)->cfg != NULL && (r)->errs_len == 0, "unexpected errors:\n%s", (r)->errs)

/* Loads TEXT, expects exactly one error at LINE:COL containing PHRASE. */
#define assert_one_error(text, line, col, phrase)                                                        \
	do {                                                                                             \
		struct result r_;                                                                        \
		load(&r_, (text));                                                                 \
		assert_error(&r_, (line), (col), (phrase));                                              \
		ck_assert_msg(count_lines(r_.errs) == 1, "expected exactly one error, got:\n%s", r_.errs); \
		result_free(&r_);                                                                        \
	} while (0)

/* ---- good files ---- */

START_TEST(test_all_forms)
{
	struct result r;
	load(&r,
	     "# every form the format has\n"
	     "connector: [/bin/sh, -c, 'exec \"$0\" \"$@\"', \"{target}\", \"x{service}y\", \"{source}{chain}\"]\n"
	     "filter_path: [@FP1@, @FP2@]\n"
	     "chains:\n"
	     "  one-way:\n"
	     "    filters:\n"
	     "      - pass\n"
	     "      - name: byte-limit\n"
	     "        args: [\"0\"]\n"
	     "        direction: dst2src\n"
	     "      - {name: timeout, args: [--seconds, 5, --idle, 1.5], direction: src2dst}\n"
	     "      - name: @BUILTIN@/sniff\n"
	     "        direction: both\n"
	     "    admit:\n"
	     "      - name: count\n"
	     "        args: [--limit, \"10\", --interval, 60, --per-source]\n"
	     "      - custom2\n"
	     "    connector: [/bin/true, \"{chain}\"]\n"
	     "  relay:\n"
	     "    filters: []\n"
	     "  Weird_name.1-x:\n"
	     "    filters: [custom]\n");
	assert_ok(&r);
	const struct qp_config *c = r.cfg;
	ck_assert_str_eq(c->file, r.file);
	ck_assert_uint_eq(c->nconnector, 6);
	ck_assert_str_eq(c->connector[0], "/bin/sh");
	ck_assert_str_eq(c->connector[2], "exec \"$0\" \"$@\"");
	ck_assert_str_eq(c->connector[4], "x{service}y");
	ck_assert_ptr_null(c->connector[6]);
	ck_assert_uint_eq(c->nfilter_path, 2);
	ck_assert_str_eq(c->filter_path[0], fp1);
	ck_assert_str_eq(c->filter_path[1], fp2);
	ck_assert_ptr_null(c->filter_path[2]);
	ck_assert_uint_eq(c->nchains, 3);

	const struct qp_chain *ch = config_chain(c, "one-way");
	ck_assert_ptr_eq(ch, &c->chains[0]);
	ck_assert_int_eq(ch->line, 5);
	ck_assert_int_eq(ch->column, 3);
	ck_assert_uint_eq(ch->nfilters, 4);
	const struct qp_step *s = ch->filters;
	char want[PATH_MAX];

	/* pass is both in fp1 and the builtin dir: filter_path comes first */
	ck_assert_str_eq(s[0].name, "pass");
	snprintf(want, sizeof(want), "%s/pass", fp1);
	ck_assert_str_eq(s[0].path, want);
	ck_assert_uint_eq(s[0].nargs, 0);
	ck_assert_ptr_nonnull(s[0].args);
	ck_assert_ptr_null(s[0].args[0]);
	ck_assert_uint_eq(s[0].direction, QP_DIR_BOTH);
	ck_assert_int_eq(s[0].line, 7);
	ck_assert_int_eq(s[0].column, 9);

	ck_assert_str_eq(s[1].name, "byte-limit");
	snprintf(want, sizeof(want), "%s/byte-limit", builtin);
	ck_assert_str_eq(s[1].path, want);
	ck_assert_uint_eq(s[1].nargs, 1);
	ck_assert_str_eq(s[1].args[0], "0");
	ck_assert_ptr_null(s[1].args[1]);
	ck_assert_uint_eq(s[1].direction, QP_DIR_DST2SRC);
	ck_assert_int_eq(s[1].line, 8);
	ck_assert_int_eq(s[1].column, 9);

	/* any scalar becomes a string, exactly as written */
	ck_assert_uint_eq(s[2].nargs, 4);
	ck_assert_str_eq(s[2].args[1], "5");
	ck_assert_str_eq(s[2].args[3], "1.5");
	ck_assert_uint_eq(s[2].direction, QP_DIR_SRC2DST);

	snprintf(want, sizeof(want), "%s/sniff", builtin);
	ck_assert_str_eq(s[3].name, want);
	ck_assert_str_eq(s[3].path, want);
	ck_assert_uint_eq(s[3].direction, QP_DIR_BOTH);

	ck_assert_uint_eq(ch->nadmit, 2);
	ck_assert_str_eq(ch->admit[0].name, "count");
	ck_assert_uint_eq(ch->admit[0].nargs, 5);
	ck_assert_str_eq(ch->admit[0].args[3], "60");
	ck_assert_str_eq(ch->admit[0].args[4], "--per-source");
	ck_assert_uint_eq(ch->admit[0].direction, QP_DIR_BOTH);
	snprintf(want, sizeof(want), "%s/custom2", fp2);
	ck_assert_str_eq(ch->admit[1].path, want);

	ck_assert_uint_eq(ch->nconnector, 2);
	ck_assert_str_eq(ch->connector[0], "/bin/true");
	ck_assert_ptr_eq(config_connector(c, ch), ch->connector);

	const struct qp_chain *relay = config_chain(c, "relay");
	ck_assert_ptr_nonnull(relay);
	ck_assert_uint_eq(relay->nfilters, 0);
	ck_assert_uint_eq(relay->nadmit, 0);
	ck_assert_ptr_null(relay->connector);
	ck_assert_ptr_eq(config_connector(c, relay), c->connector);

	const struct qp_chain *w = config_chain(c, "Weird_name.1-x");
	ck_assert_ptr_nonnull(w);
	snprintf(want, sizeof(want), "%s/custom", fp1);
	ck_assert_str_eq(w->filters[0].path, want);

	ck_assert_ptr_null(config_chain(c, "nope"));
	ck_assert_ptr_null(config_chain(c, ""));
	ck_assert_ptr_null(config_chain(c, NULL));
	result_free(&r);
}
END_TEST

START_TEST(test_defaults)
{
	struct result r;
	load(&r, "chains:\n  a:\n    filters: []\n");
	assert_ok(&r);
	ck_assert_uint_eq(r.cfg->nconnector, 3);
	ck_assert_str_eq(r.cfg->connector[0], QP_QREXEC_CLIENT_VM);
	ck_assert_str_eq(r.cfg->connector[1], "{target}");
	ck_assert_str_eq(r.cfg->connector[2], "{service}");
	ck_assert_ptr_null(r.cfg->connector[3]);
	ck_assert_uint_eq(r.cfg->nfilter_path, 0);
	ck_assert_uint_eq(r.cfg->nchains, 1);
	const struct qp_chain *a = config_chain(r.cfg, "a");
	ck_assert_ptr_null(a->connector);
	ck_assert_ptr_eq(config_connector(r.cfg, a), r.cfg->connector);
	ck_assert_ptr_eq(config_connector(r.cfg, NULL), r.cfg->connector);
	/* no limits of its own: serve's apply */
	ck_assert_int_eq(a->max_connections, 0);
	ck_assert_int_eq(a->max_per_source, 0);
	ck_assert_int_eq(a->queue_timeout_ms, -1);
	result_free(&r);
}
END_TEST

START_TEST(test_limits)
{
	struct result r;
	load(&r, "chains:\n  a:\n    filters: []\n    max_connections: 4\n    max_per_source: 1\n    queue_timeout: 2.5\n"
		 "  b:\n    filters: []\n    queue_timeout: 0\n    max_connections: 65536\n");
	assert_ok(&r);
	const struct qp_chain *a = config_chain(r.cfg, "a"), *b = config_chain(r.cfg, "b");
	ck_assert_int_eq(a->max_connections, 4);
	ck_assert_int_eq(a->max_per_source, 1);
	ck_assert_int_eq(a->queue_timeout_ms, 2500);
	ck_assert_int_eq(b->queue_timeout_ms, 0);
	ck_assert_int_eq(b->max_connections, 65536);
	ck_assert_int_eq(b->max_per_source, 0);
	result_free(&r);
	assert_one_error("chains:\n  a:\n    filters: []\n    max_connections: 0\n", 4, 22,
			 "'max_connections' of chain 'a' must be a whole number from 1 to 65536, not '0'");
	assert_one_error("chains:\n  a:\n    filters: []\n    max_connections: 2.5\n", 4, 22, "not '2.5'");
	assert_one_error("chains:\n  a:\n    filters: []\n    max_per_source: -3\n", 4, 21,
			 "'max_per_source' of chain 'a' must be a whole number from 1 to 65536, not '-3'");
	assert_one_error("chains:\n  a:\n    filters: []\n    max_per_source: [1]\n", 4, 21, "found a list");
	assert_one_error("chains:\n  a:\n    filters: []\n    max_per_source: 65537\n", 4, 21, "not '65537'");
	assert_one_error("chains:\n  a:\n    filters: []\n    queue_timeout: forever\n", 4, 20,
			 "'queue_timeout' of chain 'a' must be a number of seconds (0 to 86400), not 'forever'");
	assert_one_error("chains:\n  a:\n    filters: []\n    max_queued: 3\n", 4, 5,
			 "allowed keys: filters, admit, connector, idle_timeout, sources, targets, services, max_connections, max_per_source, queue_timeout");
}
END_TEST

START_TEST(test_bounds)
{
	/* what one connection may use (bounds.h): sizes with K, M, G; 0 stands for the daemon's default */
	struct result r;
	load(&r, "chains:\n  a:\n    filters: []\n    memory_max: 256M\n    tasks_max: 32\n    cpu_weight: 50\n"
		 "    log_lines_per_second: 1000\n    log_bytes: 1G\n"
		 "  b:\n    filters: []\n    memory_max: 1048576\n    log_bytes: 64k\n"
		 "  c:\n    filters: []\n");
	assert_ok(&r);
	const struct qp_chain *a = config_chain(r.cfg, "a"), *b = config_chain(r.cfg, "b"), *c = config_chain(r.cfg, "c");
	ck_assert_uint_eq(a->memory_max, 256ULL << 20);
	ck_assert_uint_eq(a->tasks_max, 32);
	ck_assert_uint_eq(a->cpu_weight, 50);
	ck_assert_uint_eq(a->log_lines_per_second, 1000);
	ck_assert_uint_eq(a->log_bytes, 1ULL << 30);
	ck_assert_uint_eq(b->memory_max, 1ULL << 20);
	ck_assert_uint_eq(b->log_bytes, 64ULL << 10);
	ck_assert_uint_eq(c->memory_max + c->tasks_max + c->cpu_weight + c->log_lines_per_second + c->log_bytes, 0);
	result_free(&r);
	assert_one_error("chains:\n  a:\n    filters: []\n    memory_max: 1MB\n", 4, 17,
			 "'memory_max' of chain 'a' must be a size from 1M to 1024G (K, M, G: powers of 1024), not '1MB'");
	assert_one_error("chains:\n  a:\n    filters: []\n    memory_max: 512K\n", 4, 17, "not '512K'");
	assert_one_error("chains:\n  a:\n    filters: []\n    memory_max: 2048G\n", 4, 17, "not '2048G'");
	assert_one_error("chains:\n  a:\n    filters: []\n    tasks_max: 0\n", 4, 16,
			 "'tasks_max' of chain 'a' must be a whole number from 1 to 65536, not '0'");
	assert_one_error("chains:\n  a:\n    filters: []\n    cpu_weight: 10001\n", 4, 17,
			 "'cpu_weight' of chain 'a' must be a whole number from 1 to 10000 (100: the default), not '10001'");
	assert_one_error("chains:\n  a:\n    filters: []\n    log_lines_per_second: [1]\n", 4, 27, "found a list");
	assert_one_error("chains:\n  a:\n    filters: []\n    log_bytes: -1\n", 4, 16, "not '-1'");
	/* its sandbox must be able to start: the init (two tasks) and every filter process */
	assert_one_error("chains:\n  a:\n    filters: [@BUILTIN@/pass, @BUILTIN@/pass]\n    tasks_max: 5\n", 4, 16,
			 "'tasks_max' of chain 'a' is 5, less than its sandbox needs to start (6: its init, two, and 4 filter processes)");
}
END_TEST

START_TEST(test_filter_path_single_string)
{
	struct result r;
	load(&r, "filter_path: @FP2@\nchains: {a: {filters: [custom2, pass]}}\n");
	assert_ok(&r);
	ck_assert_uint_eq(r.cfg->nfilter_path, 1);
	ck_assert_str_eq(r.cfg->filter_path[0], fp2);
	char want[PATH_MAX];
	snprintf(want, sizeof(want), "%s/pass", builtin); /* not in fp2: falls back to the builtin dir */
	ck_assert_str_eq(r.cfg->chains[0].filters[1].path, want);
	result_free(&r);
}
END_TEST

START_TEST(test_filter_path_order)
{
	struct result r;
	/* fp2 first: its "pass" is not executable, so the search goes on to fp1 */
	load(&r, "filter_path: [@FP2@, @FP1@]\nchains: {a: {filters: [pass]}}\n");
	assert_ok(&r);
	char want[PATH_MAX];
	snprintf(want, sizeof(want), "%s/pass", fp1);
	ck_assert_str_eq(r.cfg->chains[0].filters[0].path, want);
	result_free(&r);
}
END_TEST

START_TEST(test_builtin_default_dir)
{
	struct result r;
	const char *text = "chains: {a: {filters: [no-such-filter-xyz]}}\n";
	load_bytes(&r, text, strlen(text), NULL);
	assert_error(&r, 1, 24, "not found");
	ck_assert_msg(strstr(r.errs, QP_FILTERDIR), "the message should name %s:\n%s", QP_FILTERDIR, r.errs);
	result_free(&r);
}
END_TEST

START_TEST(test_many_chains)
{
	/* thousands of chains: no quadratic duplicate check, every one found */
	size_t n = 5000;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	fprintf(f, "chains:\n");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "  c%zu: {filters: [pass]}\n", i);
	fclose(f);
	struct result r;
	load_bytes(&r, text, len, builtin);
	free(text);
	assert_ok(&r);
	ck_assert_uint_eq(r.cfg->nchains, n);
	ck_assert_ptr_nonnull(config_chain(r.cfg, "c4999"));
	result_free(&r);
}
END_TEST

START_TEST(test_example_files)
{
	/* The shipped examples must load; the fake builtin dir has every built-in filter's name. */
	const char *srcdir = getenv("QP_SRCDIR");
	if (!srcdir)
		srcdir = getenv("srcdir");
	if (!srcdir)
		srcdir = ".";
	const char *files[] = { "conf/chains.yaml", "conf/examples/one-way.yaml", "conf/examples/custom.yaml",
				"conf/examples/transparent.yaml", "conf/examples/filecopy-guard.yaml",
				"conf/examples/updates-proxy.yaml" };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", srcdir, files[i]);
		char *errs = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&errs, &len);
		struct qp_config *cfg = config_load(path, builtin, f);
		fclose(f);
		ck_assert_msg(cfg != NULL, "%s does not load:\n%s", path, errs);
		ck_assert_uint_gt(cfg->nchains, 0);
		config_free(cfg);
		free(errs);
	}
}
END_TEST

/* ---- errors, one kind at a time, with their positions ---- */

START_TEST(test_err_unknown_keys)
{
	assert_one_error("chains: {a: {filters: []}}\nfilters: []\n", 2, 1, "unknown key 'filters' at the top level");
	assert_one_error("chains:\n  a:\n    filters: []\n    admits: []\n", 4, 5,
			 "unknown key 'admits' in chain 'a'; allowed keys: filters, admit, connector");
	assert_one_error("chains:\n  a:\n    filters:\n      - name: pass\n        arg: [x]\n", 5, 9,
			 "unknown key 'arg' in an item of 'filters' of chain 'a'");
	assert_one_error("chains:\n  a:\n    filters: []\n    admit:\n      - {name: count, direction: both}\n", 5, 23,
			 "'direction' is not allowed in 'admit'");
	assert_one_error("chains:\n  a:\n    filters: []\n    admit:\n      - {name: count, foo: 1}\n", 5, 23,
			 "allowed keys: name, args");
}
END_TEST

START_TEST(test_err_wrong_types)
{
	assert_one_error("chains:\n  a:\n    filters:\n      - name: pass\n        args: 5\n", 5, 15,
			 "'args' of filter must be a list of strings");
	assert_one_error("chains:\n  a:\n    filters: {}\n", 3, 14, "'filters' of chain 'a' must be a list (use [] for none), found a mapping");
	assert_one_error("chains:\n  a:\n    filters:\n", 3, 13, "found nothing (null)");
	assert_one_error("chains:\n  a:\n    filters: [[pass]]\n", 3, 15, "an item of 'filters' must be a filter name or a mapping");
	assert_one_error("chains:\n  a:\n    filters: [{name: {x: y}}]\n", 3, 22, "the filter name must be a string, found a mapping");
	assert_one_error("chains:\n  a:\n    filters: [{name: pass, args: [a, {b: c}]}]\n", 3, 38, "an argument must be a string, found a mapping");
	assert_one_error("chains:\n  a:\n    filters: [{name: pass, args: [a, ~]}]\n", 3, 38, "an argument is missing (found null)");
	assert_one_error("chains:\n  a:\n    filters:\n      -\n", 4, 8, "the filter name is missing");
	assert_one_error("chains:\n  a:\n    filters: [{args: [a]}]\n", 3, 15, "has no 'name'");
	assert_one_error("chains:\n  a:\n    filters: [{name: pass, direction: [both]}]\n", 3, 39, "'direction' must be both, src2dst or dst2src, found a list");
	assert_one_error("chains:\n  a:\n    filters: [{name: pass, direction: up}]\n", 3, 39, "invalid direction 'up'");
	assert_one_error("chains:\n  a: [pass]\n", 2, 6, "chain 'a' must be a mapping with a 'filters' list");
	assert_one_error("chains:\n  a:\n", 2, 5, "chain 'a' must be a mapping");
	assert_one_error("chains: [a]\n", 1, 9, "'chains' must be a mapping from chain names to chains, found a list");
	assert_one_error("chains: {}\n", 1, 9, "'chains' is empty; define at least one chain");
	assert_one_error("- chains\n", 1, 1, "the configuration must be a mapping");
	assert_one_error("just a string\n", 1, 1, "the configuration must be a mapping");
	assert_one_error("connector: {a: b}\nchains: {a: {filters: []}}\n", 1, 12, "'connector' must be a list of strings");
	assert_one_error("filter_path: {a: b}\nchains: {a: {filters: []}}\n", 1, 14, "'filter_path' must be a list or a single string");
	assert_one_error("? [a]\n: 1\nchains: {a: {filters: []}}\n", 1, 3, "keys must be plain names, found a list");
	assert_one_error("chains:\n  ? [a]\n  : {filters: []}\n", 2, 5, "a chain name must be a string, found a list");
	assert_one_error("chains: {a: {filters: [\"pa\\0ss\"]}}\n", 1, 24, "contains a NUL byte");
	assert_one_error("isolation: jail\nchains: {a: {filters: []}}\n", 1, 12,
			 "'isolation' must be auto, namespaces, landlock or seccomp-only, not 'jail'");
	assert_one_error("isolation: [auto]\nchains: {a: {filters: []}}\n", 1, 12, "'isolation' must be auto");
	assert_one_error("chains:\n  a:\n    filters: []\n    idle_timeout: soon\n", 4, 19,
			 "'idle_timeout' of chain 'a' must be a number of seconds (0 to 86400), not 'soon'");
	assert_one_error("chains:\n  a:\n    filters: []\n    idle_timeout: -1\n", 4, 19, "0 to 86400");
}
END_TEST

START_TEST(test_err_missing)
{
	assert_one_error("connector: [/bin/true]\n", 1, 1, "missing key 'chains'");
	assert_one_error("chains:\n  a:\n    admit: []\n", 2, 3, "chain 'a' has no 'filters' list; write 'filters: []' for a plain relay");
}
END_TEST

START_TEST(test_err_duplicates)
{
	assert_one_error("chains: {a: {filters: []}}\nchains: {b: {filters: []}}\n", 2, 1,
			 "duplicate key 'chains' at the top level (first given at line 1)");
	assert_one_error("chains:\n  a:\n    filters: []\n    filters: [pass]\n", 4, 5, "duplicate key 'filters' in chain 'a'");
	assert_one_error("chains:\n  a:\n    filters: [{name: pass, name: pass}]\n", 3, 28, "duplicate key 'name'");
	assert_one_error("chains:\n  a: {filters: []}\n  b: {filters: []}\n  a: {filters: []}\n", 4, 3,
			 "duplicate chain 'a' (first defined at line 2)");
	/* quoting does not make another name */
	assert_one_error("chains:\n  a: {filters: []}\n  \"a\": {filters: []}\n", 3, 3, "duplicate chain 'a'");

	struct result r;
	load(&r, "chains:\n  a: {filters: []}\n  a: {filters: []}\n  a: {filters: []}\n");
	assert_error(&r, 3, 3, "duplicate chain 'a' (first defined at line 2)");
	assert_error(&r, 4, 3, "duplicate chain 'a' (first defined at line 2)");
	ck_assert_uint_eq(count_lines(r.errs), 2);
	result_free(&r);
}
END_TEST

START_TEST(test_err_chain_names)
{
	const char *bad[] = { "-a", ".a", "a b", "a/b", "a+b", "\"\"", "é", "\"a\\tb\"" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[128];
		snprintf(text, sizeof(text), "chains:\n  %s: {filters: []}\n", bad[i]);
		assert_one_error(text, 2, 3, "invalid chain name");
	}
	/* 255 bytes is the limit */
	char name[300], text[400];
	memset(name, 'x', 255);
	name[255] = '\0';
	struct result r;
	loadf(&r, "chains:\n  %s: {filters: []}\n", name);
	assert_ok(&r);
	result_free(&r);
	memset(name, 'x', 256);
	name[256] = '\0';
	snprintf(text, sizeof(text), "chains:\n  %s: {filters: []}\n", name);
	assert_one_error(text, 2, 3, "invalid chain name 'xxxxx");
}
END_TEST

START_TEST(test_err_filter_names)
{
	struct result r;
	assert_one_error("chains: {a: {filters: [-pass]}}\n", 1, 24, "invalid filter name '-pass'");
	assert_one_error("chains: {a: {filters: [\"pa ss\"]}}\n", 1, 24, "invalid filter name");
	assert_one_error("chains: {a: {filters: [./pass]}}\n", 1, 24, "filter './pass' is a relative path");
	assert_one_error("chains: {a: {filters: [sub/pass]}}\n", 1, 24, "is a relative path");
	assert_one_error("chains: {a: {filters: [/nonexistent/pass]}}\n", 1, 24, "filter '/nonexistent/pass' not found: No such file");
	assert_one_error("chains: {a: {filters: [/tmp]}}\n", 1, 24, "'/tmp' is not an executable regular file");
	assert_one_error("chains: {a: {filters: []}, b: {filters: [], admit: [nope]}}\n", 1, 53,
			 "admission check 'nope' not found");

	load(&r, "chains: {a: {filters: [nope]}}\n");
	assert_error(&r, 1, 24, "filter 'nope' not found: no executable file of that name in ");
	ck_assert_msg(strstr(r.errs, builtin), "the builtin dir should be named:\n%s", r.errs);
	result_free(&r);

	/* every directory searched is named, in order */
	load(&r, "filter_path: [@FP1@, @FP2@]\nchains: {a: {filters: [nope]}}\n");
	char want[4 * DIR_MAX];
	snprintf(want, sizeof(want), "in %s, %s, %s", fp1, fp2, builtin);
	assert_error(&r, 2, 24, want);
	result_free(&r);

	/* found but unusable: say so */
	load(&r, "filter_path: @PLAIN@\nchains: {a: {filters: [noexec]}}\n");
	snprintf(want, sizeof(want), "(%s/noexec exists but is not one)", plain_dir);
	assert_error(&r, 2, 24, want);
	result_free(&r);

	/* a filter_path mistake is reported once, not again for every filter */
	load(&r, "filter_path: [relative/dir]\nchains: {a: {filters: [nope, nope2]}}\n");
	assert_error(&r, 1, 15, "'filter_path' directory 'relative/dir' must be an absolute path");
	ck_assert_uint_eq(count_lines(r.errs), 1);
	result_free(&r);
}
END_TEST

START_TEST(test_err_connector)
{
	assert_one_error("connector: []\nchains: {a: {filters: []}}\n", 1, 12, "'connector' is empty; give the program's absolute path first");
	assert_one_error("connector: [qrexec-client-vm, x]\nchains: {a: {filters: []}}\n", 1, 13,
			 "the connector program 'qrexec-client-vm' must be an absolute path");
	assert_one_error("connector: /bin/true\nchains: {a: {filters: []}}\n", 1, 12, "'connector' must be a list of strings");
	assert_one_error("connector: [/tmp, x]\nchains: {a: {filters: []}}\n", 1, 13, "exists but is not an executable regular file");
	assert_one_error("connector: [/bin/true, \"{targte}\"]\nchains: {a: {filters: []}}\n", 1, 24,
			 "unknown placeholder '{targte}' in connector argument '{targte}'; use one of {target}, {service}, {source}, {chain}");
	assert_one_error("connector: [/bin/true, \"a{b\"]\nchains: {a: {filters: []}}\n", 1, 24, "has a '{' without '}'");
	assert_one_error("connector: [/bin/true, \"a}b\"]\nchains: {a: {filters: []}}\n", 1, 24, "has a '}' without '{'");
	assert_one_error("connector: [/bin/true, \"{}\"]\nchains: {a: {filters: []}}\n", 1, 24, "unknown placeholder '{}'");
	assert_one_error("connector: [/bin/true, \"{{target}}\"]\nchains: {a: {filters: []}}\n", 1, 24, "unknown placeholder '{{target}'");
	assert_one_error("connector: [\"/usr/lib/{target}\"]\nchains: {a: {filters: []}}\n", 1, 13, "cannot contain braces");
	assert_one_error("chains:\n  a:\n    filters: []\n    connector: [x]\n", 4, 17,
			 "the connector program 'x' must be an absolute path");
	assert_one_error("chains:\n  a:\n    filters: []\n    connector: []\n", 4, 16, "'connector' of chain 'a' is empty");
	/* absent is fine: a build machine has no qrexec-client-vm */
	struct result r;
	load(&r, "connector: [/nonexistent/qrexec-client-vm, \"{target}\", \"{service}\"]\nchains: {a: {filters: []}}\n");
	assert_ok(&r);
	result_free(&r);
}
END_TEST

START_TEST(test_err_files)
{
	struct result r;
	assert_one_error("", 1, 1, "the file is empty");
	assert_one_error("# only a comment\n\n", 1, 1, "the file is empty");
	assert_one_error("---\n", 2, 1, "the configuration must be a mapping with at least a 'chains' key, found nothing");
	assert_one_error("chains: {a: {filters: []}}\n---\nchains: {b: {filters: []}}\n", 2, 1, "a second YAML document");

	char *errs = NULL;
	size_t len = 0;
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/does-not-exist.yaml", tmpdir);
	FILE *f = open_memstream(&errs, &len);
	ck_assert_ptr_null(config_load(path, builtin, f));
	fclose(f);
	char want[PATH_MAX + 128];
	snprintf(want, sizeof(want), "%s: unable to open: No such file or directory\n", path);
	ck_assert_str_eq(errs, want);
	free(errs);

	f = open_memstream(&errs, &len);
	ck_assert_ptr_null(config_load(tmpdir, builtin, f));
	fclose(f);
	snprintf(want, sizeof(want), "%s: unable to open: Is a directory\n", tmpdir);
	ck_assert_str_eq(errs, want);
	free(errs);

	/* over the size limit */
	size_t big = 2 * 1024 * 1024;
	char *text = malloc(big);
	memset(text, '#', big);
	load_bytes(&r, text, big, builtin);
	free(text);
	assert_error(&r, 0, 0, "file too large");
	result_free(&r);
}
END_TEST

/* a main file and its chains.d in a directory of their own under the fixture */
static struct qp_config *load_with_dropins(const char *name, const char *main_text, const char *const *dropins,
					   char **errs)
{
	char dir[PATH_MAX], path[PATH_MAX + 64];
	size_t len;
	snprintf(dir, sizeof(dir), "%s/%s", tmpdir, name);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/chains.d", dir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	for (size_t i = 0; dropins[i]; i += 2) {
		snprintf(path, sizeof(path), "%s/chains.d/%s", dir, dropins[i]);
		write_file(path, dropins[i + 1], strlen(dropins[i + 1]), 0644);
	}
	snprintf(path, sizeof(path), "%s/chains.yaml", dir);
	write_file(path, main_text, strlen(main_text), 0644);
	FILE *f = open_memstream(errs, &len);
	ck_assert_ptr_nonnull(f);
	struct qp_config *cfg = config_load(path, builtin, f);
	ck_assert_int_eq(fclose(f), 0);
	return cfg;
}

START_TEST(test_dropins)
{
	/* chains.d/\*.yaml add chains, in name order; other files are not read */
	static const char *const drops[] = {
		"20-b.yaml", "chains:\n  b:\n    filters: [/bin/cat]\n",
		"10-a.yaml", "# a package's chain\nchains:\n  a:\n    targets: [vault]\n    filters: []\n",
		"30-c.yaml.dpkg-old", "chains: {c: {filters: []}}\n",
		".hidden.yaml", "chains: {h: {filters: []}}\n",
		NULL,
	};
	char *errs = NULL;
	struct qp_config *cfg = load_with_dropins("dropins", "chains:\n  main:\n    filters: []\n", drops, &errs);
	ck_assert_msg(cfg, "%s", errs);
	ck_assert_uint_eq(cfg->nchains, 3);
	ck_assert_str_eq(cfg->chains[0].name, "main");
	ck_assert_str_eq(cfg->chains[1].name, "a");
	ck_assert_str_eq(cfg->chains[2].name, "b");
	ck_assert_ptr_nonnull(strstr(cfg->chains[1].file, "/chains.d/10-a.yaml"));
	ck_assert_int_eq(cfg->chains[1].line, 3);
	ck_assert_uint_eq(cfg->nfiles, 3);
	ck_assert_ptr_null(config_chain(cfg, "c"));
	ck_assert_ptr_null(config_chain(cfg, "h"));
	/* a drop-in's chain uses the main file's connector */
	ck_assert_ptr_eq(config_connector(cfg, &cfg->chains[1]), cfg->connector);
	config_free(cfg);
	free(errs);
}
END_TEST

START_TEST(test_dropin_errors)
{
	/* the same chain twice: an error at the second place, naming the first */
	static const char *const twice[] = { "50-x.yaml", "chains:\n  main:\n    filters: []\n", NULL };
	char *errs = NULL;
	ck_assert_ptr_null(load_with_dropins("twice", "chains:\n  main:\n    filters: []\n", twice, &errs));
	ck_assert_msg(strstr(errs, "/twice/chains.d/50-x.yaml:2:3: chain 'main' is defined twice: here and at ") &&
			      strstr(errs, "/twice/chains.yaml:2:3"),
		      "%s", errs);
	free(errs);
	/* only chains in a drop-in */
	static const char *const keys[] = { "10-k.yaml", "connector: [/bin/cat]\nchains: {k: {filters: []}}\n", NULL };
	errs = NULL;
	ck_assert_ptr_null(load_with_dropins("keys", "chains:\n  main:\n    filters: []\n", keys, &errs));
	ck_assert_msg(strstr(errs, "/keys/chains.d/10-k.yaml:1:1: 'connector' may not be given in a drop-in file"), "%s",
		      errs);
	free(errs);
	/* and its own errors at its own lines */
	static const char *const bad[] = { "10-bad.yaml", "chains:\n  bad:\n    filters: [no-such-filter]\n", NULL };
	errs = NULL;
	ck_assert_ptr_null(load_with_dropins("bad", "chains:\n  main:\n    filters: []\n", bad, &errs));
	ck_assert_msg(strstr(errs, "/bad/chains.d/10-bad.yaml:3:15: filter 'no-such-filter' not found"), "%s", errs);
	free(errs);
}
END_TEST

START_TEST(test_err_not_regular)
{
	/*
	 * A FIFO at the configuration path would block open() until some
	 * writer came, and the listener's reload with it: it is refused at
	 * once. The alarm turns a return of the hang into a quick failure
	 * rather than the tcase timeout.
	 */
	char fifo[PATH_MAX], link[PATH_MAX];
	snprintf(fifo, sizeof(fifo), "%s/fifo%d.yaml", tmpdir, (int)getpid());
	snprintf(link, sizeof(link), "%s/link%d.yaml", tmpdir, (int)getpid());
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	ck_assert_int_eq(symlink(fifo, link), 0);
	const char *paths[] = { fifo, link, "/dev/null" };
	const char *kinds[] = { "a FIFO", "a FIFO", "a character device" };
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		char *errs = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&errs, &len);
		ck_assert_ptr_nonnull(f);
		alarm(10);
		ck_assert_ptr_null(config_load(paths[i], builtin, f));
		alarm(0);
		fclose(f);
		char want[PATH_MAX + 128];
		snprintf(want, sizeof(want), "%s: not a regular file (%s); the configuration must be a regular file\n",
			 paths[i], kinds[i]);
		ck_assert_str_eq(errs, want);
		free(errs);
	}
	unlink(link);
	unlink(fifo);
}
END_TEST

START_TEST(test_multiple_errors)
{
	struct result r;
	load(&r,
	     "bogus: 1\n"                                   /* 1 */
	     "chains:\n"                                    /* 2 */
	     "  -bad:\n"                                    /* 3 */
	     "    filters: [pass]\n"                        /* 4 */
	     "  good:\n"                                    /* 5 */
	     "    filters:\n"                               /* 6 */
	     "      - nope\n"                               /* 7 */
	     "      - {name: pass, args: 5}\n"              /* 8 */
	     "      - {name: pass, direction: sideways}\n"  /* 9 */
	     "  other:\n"                                   /* 10 */
	     "    filters: []\n"                            /* 11 */
	     "    connector: [/bin/true, \"{x}\"]\n"        /* 12 */
	     "connector: [relative]\n");                    /* 13 */
	assert_error(&r, 1, 1, "unknown key 'bogus'");
	assert_error(&r, 3, 3, "invalid chain name '-bad'");
	assert_error(&r, 7, 9, "filter 'nope' not found");
	assert_error(&r, 8, 28, "'args' of filter must be a list");
	assert_error(&r, 9, 33, "invalid direction 'sideways'");
	assert_error(&r, 12, 28, "unknown placeholder '{x}'");
	assert_error(&r, 13, 13, "must be an absolute path");
	ck_assert_uint_eq(count_lines(r.errs), 7);
	/* in file order, although filter_path and connector are read before the chains */
	int last = 0;
	for (const char *l = r.errs; *l; l = strchr(l, '\n') + 1) {
		int line = atoi(l + strlen(r.file) + 1);
		ck_assert_int_ge(line, last);
		last = line;
	}
	result_free(&r);
}
END_TEST

START_TEST(test_syntax_errors)
{
	assert_one_error("chains:\n  a: {filters: [pass]\n", 3, 1, "YAML syntax error: did not find expected ',' or '}'");
	assert_one_error("chains:\n\ta: {}\n", 2, 1, "YAML syntax error: found character that cannot start any token");
	assert_one_error("chains:\n  a:\n    filters: []\n   admit: []\n", 4, 4, "YAML syntax error: did not find expected key");
	assert_one_error("chains: \"unterminated\n", 2, 1, "YAML syntax error: found unexpected end of stream");
	assert_one_error("chains: {a: {filters: []}}\n  x: 1\n", 2, 3, "YAML syntax error: did not find expected key");
	assert_one_error("chains:\n  \x80: x\n", 2, 3, "not valid text: invalid leading UTF-8 octet (byte 0x80)");
	assert_one_error("chains: {a: {filters: [pass]}}\n\x01\n", 2, 1, "not valid text: control characters are not allowed");
}
END_TEST

/* ---- hostile input ---- */

START_TEST(test_deep_nesting)
{
	struct result r;
	size_t n = 1000000;
	char *text = malloc(n + 16);
	memcpy(text, "chains: ", 8);
	memset(text + 8, '[', n);
	load_bytes(&r, text, n + 8, builtin);
	assert_error(&r, 1, 40, "nesting deeper than 32 levels");
	ck_assert_uint_eq(count_lines(r.errs), 1);
	result_free(&r);
	free(text);

	/* block style, in a place the format expects a list */
	FILE *f = open_memstream(&text, &n);
	fprintf(f, "chains:\n  a:\n    filters:\n");
	for (int i = 0; i < 100; i++)
		fprintf(f, "%*s- \n", 6 + 2 * i, "");
	fclose(f);
	load_bytes(&r, text, n, builtin);
	assert_error(&r, 33, 65, "nesting deeper than 32 levels");
	result_free(&r);
	free(text);
}
END_TEST

START_TEST(test_huge_scalars)
{
	struct result r;
	size_t n = 900000;
	char *huge = malloc(n + 1);
	memset(huge, 'a', n);
	huge[n] = '\0';
	/* as an argument: allowed, kept whole */
	loadf(&r, "chains: {a: {filters: [{name: pass, args: [%s]}]}}\n", huge);
	assert_ok(&r);
	ck_assert_uint_eq(strlen(r.cfg->chains[0].filters[0].args[0]), n);
	result_free(&r);
	/* as a name: refused, and the message stays short */
	loadf(&r, "chains: {a: {filters: [%s]}}\n", huge);
	assert_error(&r, 1, 24, "invalid filter name 'aaaa");
	ck_assert_uint_lt(r.errs_len, 600);
	result_free(&r);
	loadf(&r, "chains:\n  ? %s\n  : {filters: []}\n", huge);
	assert_error(&r, 2, 5, "invalid chain name 'aaaa");
	ck_assert_uint_lt(r.errs_len, 600);
	result_free(&r);
	free(huge);
}
END_TEST

START_TEST(test_garbage)
{
	unsigned seed = 12345;
	for (int round = 0; round < 200; round++) {
		size_t n = (size_t)(rand_r(&seed) % 4096);
		char *data = malloc(n + 1);
		for (size_t i = 0; i < n; i++)
			data[i] = (char)(rand_r(&seed) & 0xff);
		/* half of the rounds: garbage after a valid start, to get deeper into the parser */
		if (round % 2 && n > 10)
			memcpy(data, "chains:\n  ", 10);
		struct result r;
		load_bytes(&r, data, n, builtin);
		free(data);
		ck_assert_ptr_null(r.cfg);
		ck_assert_uint_gt(r.errs_len, 0);
		/* every line is a well-formed message without control bytes */
		for (const char *l = r.errs; *l; l = strchr(l, '\n') + 1) {
			ck_assert(!strncmp(l, r.file, strlen(r.file)));
			for (const char *c = l; *c != '\n'; c++)
				ck_assert_msg((unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7f, "raw byte 0x%02x in:\n%s",
					      (unsigned char)*c, r.errs);
		}
		result_free(&r);
	}
}
END_TEST

START_TEST(test_aliases)
{
	assert_one_error("x: &f [pass]\nchains: {a: {filters: *f}}\n", 2, 23, "aliases (*f) are not supported");
	/* billion laughs: refused before anything is expanded */
	struct result r;
	load(&r, "a: &a [x, x, x, x, x, x, x, x, x]\n"
		 "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
		 "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
		 "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
		 "chains: {a: {filters: *d}}\n");
	assert_error(&r, 2, 8, "aliases (*a) are not supported");
	ck_assert_uint_eq(count_lines(r.errs), 1); /* once is enough */
	result_free(&r);
	assert_one_error("chains: {a: {filters: *nope}}\n", 1, 23, "aliases (*nope) are not supported");
}
END_TEST

START_TEST(test_error_cap)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	fprintf(f, "chains:\n");
	for (int i = 0; i < 300; i++)
		fprintf(f, "  -c%d: {filters: []}\n", i);
	fclose(f);
	struct result r;
	load_bytes(&r, text, len, builtin);
	free(text);
	ck_assert_ptr_null(r.cfg);
	ck_assert_uint_eq(count_lines(r.errs), 101);
	assert_error(&r, 0, 0, "200 more errors not shown");
	result_free(&r);
}
END_TEST

/* ---- names and expansion ---- */

START_TEST(test_valid_name)
{
	ck_assert(name_valid("a", 255));
	ck_assert(name_valid("A-Z_a.z-09", 255));
	ck_assert(name_valid("0", 1));
	ck_assert(name_valid("a.", 2));
	ck_assert(name_valid("a-", 2));
	ck_assert(name_valid("_x", 2));
	ck_assert(!name_valid("", 255));
	ck_assert(!name_valid(NULL, 255));
	ck_assert(!name_valid("-a", 255));
	ck_assert(!name_valid(".a", 255));
	ck_assert(!name_valid(".", 255));
	ck_assert(!name_valid("..", 255));
	ck_assert(!name_valid("a b", 255));
	ck_assert(!name_valid("a+b", 255));
	ck_assert(!name_valid("a/b", 255));
	ck_assert(!name_valid("a\nb", 255));
	ck_assert(!name_valid("\xc3\xa9", 255));
	ck_assert(!name_valid("ab", 1));
	ck_assert(!name_valid("a", 0));
	char s[300];
	memset(s, 'x', sizeof(s) - 1);
	s[sizeof(s) - 1] = '\0';
	s[255] = '\0';
	ck_assert(name_valid(s, 255));
	s[255] = 'x';
	ck_assert(!name_valid(s, 255));
	/* no read past MAX + 1 bytes: an unterminated buffer is fine */
	char unterminated[4] = { 'a', 'b', 'c', 'd' };
	ck_assert(!name_valid(unterminated, 3));
}
END_TEST

START_TEST(test_expand)
{
	const struct qp_placeholders ph = { .target = "work", .service = "qubes.Filecopy+x", .source = "vault", .chain = "c1" };
	char *const tmpl[] = { "/usr/bin/prog", "{target}", "{service}", "--from={source}/{chain}",
			       "{target}{target}", "plain", "", NULL };
	char **argv = config_expand_connector(tmpl, &ph);
	ck_assert_ptr_nonnull(argv);
	ck_assert_str_eq(argv[0], "/usr/bin/prog");
	ck_assert_str_eq(argv[1], "work");
	ck_assert_str_eq(argv[2], "qubes.Filecopy+x");
	ck_assert_str_eq(argv[3], "--from=vault/c1");
	ck_assert_str_eq(argv[4], "workwork");
	ck_assert_str_eq(argv[5], "plain");
	ck_assert_str_eq(argv[6], "");
	ck_assert_ptr_null(argv[7]);
	ck_assert_ptr_ne(argv[5], tmpl[5]); /* copies, not the template's strings */
	config_free_argv(argv);

	/* values are not expanded again, and may be empty */
	const struct qp_placeholders odd = { .target = "{source}", .service = "", .source = "s", .chain = "}" };
	char *const t2[] = { "/p", "{target}", "<{service}>", "{chain}", NULL };
	argv = config_expand_connector(t2, &odd);
	ck_assert_ptr_nonnull(argv);
	ck_assert_str_eq(argv[1], "{source}");
	ck_assert_str_eq(argv[2], "<>");
	ck_assert_str_eq(argv[3], "}");
	config_free_argv(argv);

	config_free_argv(NULL);
}
END_TEST

START_TEST(test_expand_errors)
{
	const struct qp_placeholders ph = { .target = "t", .service = "s", .source = "src", .chain = "c" };
	const struct qp_placeholders partial = { .target = "t", .service = "s", .source = NULL, .chain = "c" };
	char *const unknown[] = { "/p", "{nope}", NULL };
	char *const open_brace[] = { "/p", "a{target", NULL };
	char *const close_brace[] = { "/p", "a}", NULL };
	char *const uses_source[] = { "/p", "{source}", NULL };
	char *const empty[] = { NULL };
	errno = 0;
	ck_assert_ptr_null(config_expand_connector(unknown, &ph));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(config_expand_connector(open_brace, &ph));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(config_expand_connector(close_brace, &ph));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(config_expand_connector(uses_source, &partial));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(config_expand_connector(empty, &ph));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(config_expand_connector(NULL, &ph));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(config_expand_connector(unknown, NULL));
	ck_assert_int_eq(errno, EINVAL);
	/* a placeholder the template does not use may be NULL */
	char *const no_source[] = { "/p", "{target}", NULL };
	char **argv = config_expand_connector(no_source, &partial);
	ck_assert_ptr_nonnull(argv);
	config_free_argv(argv);
}
END_TEST

START_TEST(test_expand_loaded_default)
{
	struct result r;
	load(&r, "chains: {a: {filters: []}}\n");
	assert_ok(&r);
	const struct qp_placeholders ph = { .target = "work", .service = "qubes.Gpg", .source = "vault", .chain = "a" };
	char **argv = config_expand_connector(config_connector(r.cfg, config_chain(r.cfg, "a")), &ph);
	ck_assert_ptr_nonnull(argv);
	ck_assert_str_eq(argv[0], QP_QREXEC_CLIENT_VM);
	ck_assert_str_eq(argv[1], "work");
	ck_assert_str_eq(argv[2], "qubes.Gpg");
	ck_assert_ptr_null(argv[3]);
	config_free_argv(argv);
	result_free(&r);
}
END_TEST

/* ---- fixture directory ---- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void make_dir(char *out, const char *name)
{
	snprintf(out, DIR_MAX, "%s/%s", tmpdir, name);
	if (mkdir(out, 0755) < 0) {
		perror(out);
		exit(1);
	}
}

static void make_fixtures(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		exit(1);
	}
	make_dir(builtin, "builtin");
	make_dir(fp1, "fp1");
	make_dir(fp2, "fp2");
	make_dir(plain_dir, "plain");
	const char *builtins[] = { "pass", "byte-limit", "timeout", "count", "sniff", "streamline",
				   "filecopy-guard", "http-allow" };
	for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
		make_filter(builtin, builtins[i], 0755);
	make_filter(fp1, "pass", 0755);
	make_filter(fp1, "custom", 0755);
	make_filter(fp2, "custom2", 0755);
	make_filter(fp2, "pass", 0644);
	make_filter(plain_dir, "noexec", 0644);
	make_dir((char[DIR_MAX]){ "" }, "fp1/dir-not-file");
}

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("good");
	tcase_set_timeout(tc, test_timeout(60));
	tcase_add_test(tc, test_all_forms);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_bounds);
	tcase_add_test(tc, test_filter_path_single_string);
	tcase_add_test(tc, test_filter_path_order);
	tcase_add_test(tc, test_builtin_default_dir);
	tcase_add_test(tc, test_many_chains);
	tcase_add_test(tc, test_example_files);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_set_timeout(tc, test_timeout(60));
	tcase_add_test(tc, test_err_unknown_keys);
	tcase_add_test(tc, test_err_wrong_types);
	tcase_add_test(tc, test_err_missing);
	tcase_add_test(tc, test_err_duplicates);
	tcase_add_test(tc, test_err_chain_names);
	tcase_add_test(tc, test_err_filter_names);
	tcase_add_test(tc, test_err_connector);
	tcase_add_test(tc, test_err_files);
	tcase_add_test(tc, test_err_not_regular);
	tcase_add_test(tc, test_dropins);
	tcase_add_test(tc, test_dropin_errors);
	tcase_add_test(tc, test_multiple_errors);
	tcase_add_test(tc, test_syntax_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile");
	tcase_set_timeout(tc, test_timeout(120));
	tcase_add_test(tc, test_deep_nesting);
	tcase_add_test(tc, test_huge_scalars);
	tcase_add_test(tc, test_garbage);
	tcase_add_test(tc, test_aliases);
	tcase_add_test(tc, test_error_cap);
	suite_add_tcase(s, tc);

	tc = tcase_create("names");
	tcase_add_test(tc, test_valid_name);
	tcase_add_test(tc, test_expand);
	tcase_add_test(tc, test_expand_errors);
	tcase_add_test(tc, test_expand_loaded_default);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	make_fixtures();
	SRunner *sr = srunner_create(config_suite());
	srunner_set_fork_status(sr, CK_FORK_GETENV);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
