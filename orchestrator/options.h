/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_OPTIONS_H
#define QP_OPTIONS_H

/*
 * The command line of qrexec-proxy: every mode's options and help text,
 * parsed by one getopt_long over one table (each mode says which options
 * it takes), and the exit codes of the program.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroup.h"
#include "isolate.h"
#include "listener.h"
#include "log.h"

#define PROG "qrexec-proxy"
#define DEFAULT_CONFIG QP_SYSCONFDIR "/qrexec-proxy/chains.yaml"
/* see the measurements in doc/performance.md */
#define QP_DEFAULT_PIPE_SIZE (1024 * 1024)

/* exit codes (see qrexec-proxy(1)) */
enum {
	EXIT_REFUSED_BY_FILTER = 1,
	EXIT_USAGE = 100,
	EXIT_SYS = 111,
	EXIT_REFUSED = 126,
};

struct options {
	const char *config;
	const char *socket;
	enum log_target log;
	bool log_given;
	bool allow_root;
	bool no_spare;
	const char *control;  /* serve, status: the control socket */
	bool json;            /* status --json */
	struct listener_opts lo;
	const char *source, *target, *service;
	bool source_given;    /* end --source */
	const char *chain;    /* end --chain */
	const char *proxy_qube;
	const char *pid;
	int timeout_ms;
	bool isolation_given;
	enum isolate_mech isolation;
	uid_t peer_uids[LISTENER_MAX_PEER_UIDS];
	size_t npeer_uids;
	const char *dir;     /* links */
	bool check_only;     /* links --check */
	bool pipe_memory_given;
	uint64_t connection_memory; /* --connection-memory; 0: the default (bounds.h) */
	uint32_t connection_tasks;  /* --connection-tasks; 0: the default */
	enum cgroup_mode cgroup;    /* --connection-cgroup */
};

/* the usage of every mode on stdout (--help) */
extern const char opt_usage_text[];

/* MSG (may be NULL) and the usage on stderr; exit 100. */
_Noreturn void opt_usage(const char *msg);

/* A number of seconds (0 to 86400, decimals allowed) as milliseconds; exits 100 otherwise. */
int opt_seconds_ms(const char *s, const char *opt);

/* A whole number from LO to HI; exits 100 otherwise. */
int opt_count(const char *s, const char *opt, long lo, long hi);

/* A size in bytes, with an optional K, M or G (powers of 1024), from 64 KiB to 1 TiB; exits 100 otherwise. */
uint64_t opt_bytes(const char *s, const char *opt);

/* Whether WORD is an option given apart from its value ("--config", "-c"): the next word is that value. */
bool opt_takes_value(const char *word);

/*
 * Parses ARGV (ARGV[0] the mode) into O: options are shared by the modes,
 * and each takes only those named in ALLOWED (space-separated long
 * names); --help prints the mode's help. Returns the index of the first
 * argument that is not an option.
 */
int opt_parse(int argc, char **argv, struct options *o, const char *allowed);

#endif
