/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_CONFIG_H
#define QP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Directions a filter step runs in (bit mask). */
enum {
	QP_DIR_SRC2DST = 1,
	QP_DIR_DST2SRC = 2,
	QP_DIR_BOTH = 3,
};

/* One filter step or admission check of a chain. */
struct qp_step {
	char *name;        /* as written in the file: short name or absolute path */
	char *path;        /* resolved absolute path of the executable */
	char **args;       /* NULL-terminated; the argv after argv[0] */
	size_t nargs;
	unsigned direction; /* QP_DIR_*; QP_DIR_BOTH for admission checks */
	int line, column;   /* position of the item in the file (1-based) */
	int args_line, args_column; /* position of its 'args' (0: it has none) */
};

struct qp_chain {
	char *name;
	const char *file;   /* the file that defines it (one of the configuration's files) */
	struct qp_step *filters;
	size_t nfilters;
	struct qp_step *admit;
	size_t nadmit;
	char **connector;   /* NULL-terminated, or NULL: use the top-level one */
	size_t nconnector;
	int connector_line, connector_column; /* its program's place in the file (with connector) */
	int idle_timeout_ms; /* no byte either way for this long ends it; 0: never; -1: serve's default */
	int max_connections; /* running at once through the chain; 0: no limit of its own */
	int max_per_source;  /* running at once through the chain per source; 0: no limit of its own */
	int queue_timeout_ms; /* how long a call over a limit waits; 0: refused at once; -1: serve's default */
	/* what one connection may use (bounds.h); 0: the daemon's default */
	uint64_t memory_max;  /* bytes */
	uint32_t tasks_max;
	uint32_t cpu_weight;
	uint32_t log_lines_per_second;
	uint64_t log_bytes;

	char **sources;      /* allowlists, NULL-terminated; NULL: any (dom0 policy alone decides) */
	size_t nsources;
	char **targets;
	size_t ntargets;
	char **services;     /* SERVICE, SERVICE+ARG, SERVICE+ (any argument), PREFIX* */
	size_t nservices;
	int line, column;
};

/*
 * One entry of 'transparent': a call for SERVICE (with any argument) from
 * one of SOURCES goes to TARGET, as SERVICE+ARG, through CHAIN. The first
 * entry that matches wins (transparent.h).
 */
struct qp_transparent {
	char *service;       /* a service name, without argument */
	char **sources;      /* NULL-terminated; NULL: any source */
	size_t nsources;
	char *target;
	char *chain;         /* a chain of the configuration (checked once drop-ins are read) */
	int line, column;    /* the entry */
	int chain_line, chain_column;
};

struct qp_config {
	char *file;          /* path it was loaded from */
	char **connector;    /* NULL-terminated; never NULL after a successful load */
	size_t nconnector;
	int connector_line, connector_column; /* its program's place in the main file; 0: the default */
	char **filter_path;  /* NULL-terminated list of directories searched first */
	size_t nfilter_path;
	struct qp_chain *chains;
	size_t nchains;
	char *isolation;     /* auto, namespaces, landlock, seccomp-only; NULL: not given (auto) */
	char **files;        /* the main file, then every drop-in of chains.d that was read */
	size_t nfiles;
	struct qp_transparent *transparent; /* main file only, in file order */
	size_t ntransparent;
};

/*
 * Loads and validates FILE, and then every *.yaml of the directory
 * chains.d next to it, in name order: those may add chains, and only
 * chains (a chain defined twice is an error naming both places). Short filter names are searched in the file's
 * filter_path, then in BUILTIN_DIR (NULL: the compiled-in QP_FILTERDIR).
 * Every problem is written to ERRF as one line "FILE:LINE:COLUMN: message"
 * (all of them, not only the first). Returns the configuration, or NULL
 * when there was any error (or when FILE cannot be read: "FILE: unable to
 * open: strerror").
 */
struct qp_config *config_load(const char *file, const char *builtin_dir, FILE *errf);

void config_free(struct qp_config *cfg);

/*
 * Whether CH lets SOURCE call SERVICE (with its argument) on TARGET: each
 * allowlist the chain has must name it. NULL when it does; otherwise
 * which did not: "source", "target" or "service" (its list is that word
 * with an 's': the chain's 'sources', 'targets' or 'services').
 */
const char *config_chain_refuses(const struct qp_chain *ch, const char *source, const char *target,
				 const char *service);

/* The chain called NAME, or NULL. */
const struct qp_chain *config_chain(const struct qp_config *cfg, const char *name);

/* The connector argv template the chain uses (its own, or the top-level one). */
char *const *config_connector(const struct qp_config *cfg, const struct qp_chain *chain);

/* Placeholder values for the connector template. */
struct qp_placeholders {
	const char *target;
	const char *service;   /* DSTSERVICE[+ARG] */
	const char *source;
	const char *chain;
};

/*
 * Expands {target}, {service}, {source} and {chain} in every element of
 * TEMPLATE (anywhere inside an element). Returns a malloc'ed NULL-terminated
 * argv (free with config_free_argv) or NULL with errno set.
 */
char **config_expand_connector(char *const *template_argv, const struct qp_placeholders *ph);
void config_free_argv(char **argv);

/* The index of placeholder NAME (LEN bytes, without braces) of a connector template, or -1. */
int config_placeholder_index(const char *name, size_t len);

#endif
