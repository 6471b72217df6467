/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_CONFIG_LOADER_H
#define QP_CONFIG_LOADER_H

/*
 * Between the two halves of the configuration loader: config_yaml.c reads
 * a file into a YAML document and reports problems at FILE:LINE:COLUMN
 * (every message collected, printed in file order); config.c says what
 * each key means. Nothing else includes this.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <yaml.h>

#include "config.h"

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

struct key_spec {
	const char *name;
	bool forbidden; /* known, but not allowed here: the caller says why */
	yaml_node_t *key;
	yaml_node_t *value;
};

#define SHOW(s) ld_show_bytes((char[SHOW_BUF]){ "" }, SHOW_BUF, (s), strlen(s))
#define SHOW_NODE(n)                                                                       \
	ld_show_bytes((char[SHOW_BUF]){ "" }, SHOW_BUF, (const char *)(n)->data.scalar.value, \
		   (n)->data.scalar.length)

#define PLACEHOLDER_LIST "{target}, {service}, {source}, {chain}"

void ld_vreport(struct loader *ld, unsigned long line, unsigned long column, const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));
void ld_report_at(struct loader *ld, unsigned long line, unsigned long column, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void ld_report(struct loader *ld, const yaml_node_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void ld_flush_errors(struct loader *ld);
const char *ld_show_bytes(char *out, size_t size, const char *s, size_t len);
yaml_node_t *ld_node(struct loader *ld, int index);
bool ld_is_null(const yaml_node_t *n);
const char *ld_describe(const yaml_node_t *n);
bool ld_scalar_is(const yaml_node_t *n, const char *s);
char *ld_scalar_dup(struct loader *ld, const yaml_node_t *n, const char *what);
void ld_keys(struct loader *ld, const yaml_node_t *n, struct key_spec *spec, size_t nspec,
		const char *where);
bool ld_string_list(struct loader *ld, const yaml_node_t *n, bool single_ok, const char *what,
		const char *item_what, char ***out, size_t *nout);
yaml_node_t *ld_list_item(struct loader *ld, yaml_node_t *n, size_t i);
int ld_executable_file(const char *path);
const char *ld_file_kind(mode_t mode);
int ld_read_file(struct loader *ld);
void ld_parser_error(struct loader *ld, const yaml_parser_t *p);
bool ld_prescan(struct loader *ld);

/* a chain's resource keys (config_bounds.c), in the order of bounds.h */
enum config_bound { CB_MEMORY_MAX, CB_TASKS_MAX, CB_CPU_WEIGHT, CB_LOG_LINES, CB_LOG_BYTES, CB_COUNT };
const char *config_bound_key(enum config_bound k);
/* Reads the values given (NULL: not given) into CH, after its filters (tasks_max must let them start). */
void config_get_bounds(struct loader *ld, yaml_node_t *const values[CB_COUNT], const char *chain,
		       struct qp_chain *ch);

#endif
