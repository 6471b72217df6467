/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_TESTJOURNAL_H
#define QP_TESTJOURNAL_H

#include <sys/types.h>

/*
 * A journal of the test's own, for a daemon started with --log journal:
 * the calling process moves to a mount namespace of its own in which
 * /run/systemd/journal/socket (where libsystemd sends every entry) is a
 * datagram socket a forked collector reads. The collector writes every
 * entry to JOURNAL as its fields, "KEY=VALUE" one a line (a newline in a
 * value as \n), then an empty line, and appends each MESSAGE as a line
 * to LOG. Returns the collector's pid (it dies with the caller), or -1
 * when the namespace cannot be made (not root).
 */
pid_t journal_collector_start(const char *journal, const char *log);

#endif
