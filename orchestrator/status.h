/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_STATUS_H
#define QP_STATUS_H

#include <stdbool.h>
#include <stdio.h>

#include "connlimits.h"
#include "spare.h"

/*
 * `qrexec-proxy status`: what runs now, asked of the running daemon over
 * its control socket (control.h), never the qrexec socket: the answer is
 * written from the listener's book (connlimits.h).
 */

/* the default control socket: $RUNTIME_DIRECTORY/control under systemd, else next to SOCKET ("SOCKET.control") */
#define STATUS_DEFAULT_CONTROL "/run/qrexec-proxy/control"

/* Where serve puts its control socket (a static buffer, or PATH itself). */
const char *status_control_path(const char *path, const char *socket);

/* Binds the control socket at PATH, mode 0600 (a stale socket is replaced, never another file); the fd, or -1. */
int status_bind(const char *path);

/* Writes BOOK as text (one line per connection, then per chain and per source) or as JSON. */
void status_write(FILE *out, const struct limits *book, const struct spare *spare, bool json, int64_t now_ms);

/* The client: asks the daemon at PATH; prints its answer. The exit code. */
int status_ask(const char *path, bool json);

#endif
