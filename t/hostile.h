/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_HOSTILE_H
#define QP_HOSTILE_H

/*
 * Between t/hostile-filter.c (the access attacks, the reporting) and
 * t/hostile-resources.c (the attacks by resources): one program.
 */
#include <stdbool.h>
#include <stddef.h>

/* the mode running, as the reports name it */
extern const char *mode;

/* one report line on stderr: "hostile: MODE: VERDICT ..." (BREACH, blocked, allowed, skipped) */
void say(const char *verdict, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* a "blocked" line; past a few dozen, unless IMPORTANT, only counted */
void blocked(bool important, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "hostile: MODE: done" */
void finish_mode(void);
int write_all(int fd, const char *p, size_t len);
void sleep_ms(long ms);
/* stdin to stdout until EOF: a chain through it still works; the exit code */
int copy_through(void);

#define HOSTILE_RESOURCE_MODES \
	"mem-hog-many N MIB, mem-hog-one MIB, fork-bomb, inotify, proc-views, log-flood LINES, log-forge"

/* Runs resource attack MODE with ARGS (t/hostile-resources.c); -1 when MODE is not one of them. */
int hostile_resources(const char *name, int nargs, char **args);

#endif
