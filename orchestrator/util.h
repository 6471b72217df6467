/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_UTIL_H
#define QP_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* milliseconds / nanoseconds on CLOCK_MONOTONIC */
int64_t mono_ms(void);
int64_t mono_ns(void);

int fd_set_nonblock(int fd, bool on);
/* makes sure 0, 1 and 2 are open (on /dev/null) so no pipe lands on them */
int fds_ensure_std(void);
/* a random connection id, 16 hex digits */
void make_connection_id(char out[17]);
/* joins ARGV with spaces into BUF for log lines (truncated with "...") */
const char *argv_string(char *const *argv, char *buf, size_t size);

/* writes TEXT to the existing file PATH in one write(2) (a /proc file); 0, or -1 with errno */
int write_text_file(const char *path, const char *text);
/* the same for NAME relative to the directory fd DIR (a cgroup's files) */
int write_text_at(int dir, const char *name, const char *text);

/* closes both fds of a pair (a pipe, a socketpair), keeping errno */
void close_pair(int fds[2]);

/*
 * Reaps one child that has ended, if any (waitpid(-1, WNOHANG), restarted
 * after EINTR): its pid with *STATUS, or 0 when none has ended (or none is left).
 */
pid_t reap_any(int *status);

#endif
