/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_LOG_H
#define QP_LOG_H

#include <stddef.h>
#include <syslog.h>

enum log_target {
	LOG_TARGET_AUTO,
	LOG_TARGET_STDERR,
	LOG_TARGET_JOURNAL,
};

/* PROG prefixes every stderr line; the journal gets it as SYSLOG_IDENTIFIER. */
void log_init(const char *prog, enum log_target target);
int log_parse_target(const char *s, enum log_target *out);
enum log_target log_current_target(void);

/*
 * Attach a connection to every message that follows (until log_set_connection
 * is called again): the id goes into the stderr prefix and, with the other
 * fields, into journal fields QREXEC_PROXY_*. NULL clears it.
 */
struct log_connection {
	const char *id;
	const char *source;
	const char *target;
	const char *service;
	const char *chain;
};
void log_set_connection(const struct log_connection *c);

void log_msg(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* like log_msg, with ": strerror(errno)" appended */
void log_sys(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * One line of a child's stderr: TAG names the child ("filter pass (src2dst)").
 * PRIORITY -1: a leading "<N>" (sd-daemon priority prefix, 0..7) sets it,
 * never above LOG_ERR (a filter cannot log an emergency); else the
 * priority of the line this one continues (a piece of an overlong line,
 * whose "<N>" is text). Controls (C0, DEL, C1, raw or in UTF-8) and bytes
 * that are not UTF-8 are escaped as \xNN, so a child can neither forge
 * other log lines nor drive a terminal. Returns the priority it used.
 */
int log_child_line(const char *tag, const char *line, size_t len, int priority);

/*
 * MSG as one entry, with KV as journal fields of their own (KEY=VALUE,
 * values already bounded by the caller); on stderr, MSG alone.
 */
struct log_kv {
	const char *key;
	const char *value;
};
void log_structured(int priority, const char *msg, const struct log_kv *kv, size_t n);

/*
 * From now on, the processes this one forks hand their own messages to
 * it over FD (logrelay.h) instead of writing them; this one keeps writing
 * its own. -1: every process writes its own.
 */
void log_set_relay(int fd);

/* TEXT (modified), one message per line at PRIORITY: what a loader wrote to a memory stream */
void log_lines(int priority, char *text);

_Noreturn void die_x(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
_Noreturn void die_sys(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
