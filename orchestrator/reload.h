/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_RELOAD_H
#define QP_RELOAD_H

#include <stdbool.h>
#include <sys/signalfd.h>
#include <sys/types.h>

/*
 * 'systemctl reload' with a verdict. systemd 252 has no Type=notify-reload
 * and takes the exit status of ExecReload= as the reload's outcome, so
 * ExecReload= runs 'qrexec-proxy reload --pid $MAINPID': it sends SIGHUP
 * with sigqueue(2) and a value of its own, and the daemon, seeing that
 * value, answers the sender with RELOAD_REPLY_SIGNAL carrying the number of
 * chains now loaded, or -1 when it kept the previous configuration. A
 * plain SIGHUP (kill -HUP) reloads as before and gets no answer. No file,
 * no shell: the kernel carries both the question and the answer, and
 * tells the daemon who asked (ssi_pid).
 */

#define RELOAD_SIGNAL_VALUE 0x71707268 /* "qprh" */
#define RELOAD_REPLY_SIGNAL (SIGRTMIN + 2)
#define RELOAD_REJECTED (-1)

/* In the daemon: whether SI, a SIGHUP read from a signalfd, asks for a verdict. */
bool reload_wants_verdict(const struct signalfd_siginfo *si);
/* In the daemon: answers the sender of SI: chains loaded (>= 0) or RELOAD_REJECTED. */
void reload_send_verdict(const struct signalfd_siginfo *si, int verdict);

/*
 * In 'qrexec-proxy reload': asks PID to reload and waits up to TIMEOUT_MS
 * for its verdict. Returns 0 and the verdict in *VERDICT, or -1 with errno
 * set (ETIMEDOUT: no answer in time; ESRCH: no such process).
 */
int reload_request(pid_t pid, int timeout_ms, int *verdict);

#endif
