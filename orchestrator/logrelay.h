/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_LOGRELAY_H
#define QP_LOGRELAY_H

#include <stddef.h>

#include "log.h"

/*
 * The connection log lines of supervisors, written by the listener.
 *
 * journald attributes a line to a unit through the sender's cgroup, which
 * it looks up after the line arrives; a supervisor that logs its summary
 * and exits at once often loses that race (systemd issue 2913), and its
 * line then misses 'journalctl -u qrexec-proxy' and 'systemctl status'.
 * The listener lives as long as the service, so supervisors hand it their
 * own messages (the summary and every message of the supervisor itself,
 * not its children's stderr lines) as datagrams on a socketpair, and it
 * writes them, with the connection's fields, to wherever the log goes.
 */

/* In the listener: a datagram socketpair; FDS[0] is read by the listener, FDS[1] written by supervisors. */
int logrelay_open(int fds[2]);

/* In the listener: writes every message waiting on FD; never blocks. */
void logrelay_drain(int fd);

#endif
