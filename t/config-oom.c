/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Allocation failure injection for config_load: the Nth allocation fails,
 * for every N until a load runs without any failure, and each time the
 * load must fail cleanly (or succeed, where libc absorbs the failure) and
 * leave no block behind. Out of memory is the one error path the Check
 * tests cannot reach.
 *
 * malloc is replaced in this program, so it cannot run under the
 * sanitizers (which replace it too): it skips there.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

static bool in_yaml_load;

/*
 * libyaml 0.2.5 itself loses a block when an allocation fails inside
 * yaml_parser_load; linked with --wrap so those cases can be told apart
 * (defined in every build: the link always redirects to it).
 */
int __real_yaml_parser_load(yaml_parser_t *parser, yaml_document_t *document);
int __wrap_yaml_parser_load(yaml_parser_t *parser, yaml_document_t *document);
int __wrap_yaml_parser_load(yaml_parser_t *parser, yaml_document_t *document)
{
	in_yaml_load = true;
	int r = __real_yaml_parser_load(parser, document);
	in_yaml_load = false;
	return r;
}

#ifdef QP_SANITIZERS
int main(void)
{
	puts("SKIP: allocation failure injection replaces malloc, which the sanitizers own");
	return 77;
}
#else

void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t n);
void __libc_free(void *p);

void *malloc(size_t n);
void *calloc(size_t n, size_t size);
void *realloc(void *p, size_t n);
void free(void *p);

static long fail_at = -1, calls, live;
static bool failed_in_yaml_load;

static bool should_fail(void)
{
	if (fail_at < 0 || calls++ != fail_at)
		return false;
	failed_in_yaml_load = in_yaml_load;
	errno = ENOMEM;
	return true;
}

void *malloc(size_t n)
{
	void *p = should_fail() ? NULL : __libc_malloc(n);
	live += p != NULL;
	return p;
}

void *calloc(size_t n, size_t size)
{
	void *p = should_fail() ? NULL : __libc_calloc(n, size);
	live += p != NULL;
	return p;
}

void *realloc(void *old, size_t n)
{
	if (should_fail())
		return NULL;
	void *p = __libc_realloc(old, n);
	if (p && !old)
		live++;
	return p;
}

void free(void *p)
{
	live -= p != NULL;
	__libc_free(p);
}

static char dir[] = "/tmp/config-oom.XXXXXX";

static const char bad_text[] =
	"bogus: 1\n"
	"connector: [/bin/true, \"{x}\"]\n"
	"filter_path: [/nonexistent, rel]\n"
	"chains:\n"
	"  -bad: {filters: [pass]}\n"
	"  a:\n"
	"    filters: [nope, {name: pass, args: [x, {y: z}, w]}, {name: pass, direction: x}, [x]]\n"
	"    admit: [{name: count, direction: both}]\n"
	"  a: {filters: []}\n";
static const char transparent_text[] =
	"chains:\n"
	"  a: {filters: []}\n"
	"transparent:\n"
	"  - {service: s, target: t, chain: a, sources: [w, v]}\n"
	"  - {service: s+x, target: -t, chain: nope, sources: [w, -x], bogus: 1}\n"
	"  - {service: qrexec-proxy, chain: a, sources: []}\n"
	"  - x\n";
static const char syntax_text[] = "chains:\n  a: {filters: [pass]\n";
static const char alias_text[] = "x: &a [pass]\nchains: {a: {filters: *a}}\n";

static int write_text(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0 || chmod(path, mode) < 0) {
		perror(path);
		return -1;
	}
	return 0;
}

/* Returns the number of problems found with FILE. */
static int run(const char *file, const char *builtin, FILE *devnull)
{
	int problems = 0;
	for (long i = 0;; i++) {
		long before = live;
		calls = 0;
		failed_in_yaml_load = false;
		fail_at = i;
		struct qp_config *cfg = config_load(file, builtin, devnull);
		bool injected = calls > i;
		fail_at = -1;
		config_free(cfg);
		if (live != before && !failed_in_yaml_load) {
			printf("FAIL: %s: %ld blocks lost when allocation %ld fails\n", file, live - before, i);
			problems++;
		}
		if (!injected) {
			printf("PASS: %s: %ld allocation failures, no leak (%s)\n", file, i,
			       cfg ? "loads" : "refused");
			return problems;
		}
	}
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 99;
	}
	char builtin[64], path[PATH_MAX];
	snprintf(builtin, sizeof(builtin), "%s/builtin", dir);
	if (mkdir(builtin, 0755) < 0) {
		perror(builtin);
		return 99;
	}
	const char *filters[] = { "pass", "byte-limit", "timeout", "count", "sniff", "streamline" };
	for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", builtin, filters[i]);
		if (write_text(path, "#!/bin/sh\nexec cat\n", 0755) < 0)
			return 99;
	}
	FILE *devnull = fopen("/dev/null", "w");
	if (!devnull)
		return 99;
	/* unbuffered: stdio must not allocate inside the measured window */
	setvbuf(devnull, NULL, _IONBF, 0);

	int problems = 0;
	const char *texts[][2] = { { "bad.yaml", bad_text }, { "syntax.yaml", syntax_text }, { "alias.yaml", alias_text },
				   { "transparent.yaml", transparent_text } };
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, texts[i][0]);
		if (write_text(path, texts[i][1], 0644) < 0)
			return 99;
		problems += run(path, builtin, devnull);
		unlink(path);
	}
	const char *srcdir = getenv("QP_SRCDIR");
	snprintf(path, sizeof(path), "%s/conf/chains.yaml", srcdir ? srcdir : ".");
	problems += run(path, builtin, devnull);
	snprintf(path, sizeof(path), "%s/conf/examples/transparent.yaml", srcdir ? srcdir : ".");
	problems += run(path, builtin, devnull);

	for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", builtin, filters[i]);
		unlink(path);
	}
	rmdir(builtin);
	rmdir(dir);
	fclose(devnull);
	printf("%s: config-oom\n", problems ? "FAIL" : "PASS");
	return problems ? 1 : 0;
}
#endif
