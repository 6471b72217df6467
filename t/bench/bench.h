/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_BENCH_H
#define QP_BENCH_H

/* What the files of make bench share (bench.c has them). */
#include <sys/types.h>

extern const char *B;       /* the build directory */
extern char dir[256];       /* the bench's scratch directory */
extern char sockpath[300];  /* the default daemon's socket */
extern int runs;
extern int nconn;

double now(void);
_Noreturn void fail(const char *what);
/* sorts V */
double median(double *v, int n);
double minimum(const double *v, int n);
double maximum(const double *v, int n);
/* a daemon on SOCK logging to LOG, with the sandboxes of ISOLATION (NULL: the default), and EXTRA (or NULL) */
pid_t start_daemon_at(const char *sock, const char *log, const char *isolation, const char *extra);
/* one whole call, connect to the end of the answer, in seconds; SOCK NULL: the connector called directly */
double whole_call(const char *sock, const char *chain);
/* median time of starting PROG [ARG] and waiting for its exit, in us */
double start_us(const char *prog, const char *arg, int n);

/* percall.c: what a call costs, against one process start measured in the same run */
void bench_percall(void);

#endif
