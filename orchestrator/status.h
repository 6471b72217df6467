/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_STATUS_H
#define QP_STATUS_H

#include <stdbool.h>
#include <stdio.h>

#include "connlimits.h"
#include "spare.h"

/*
 * `qrexec-proxy status`: what runs now, asked of the running daemon over
 * a control socket of its own (never the qrexec socket). The socket is
 * mode 0600: root and the daemon's own user may connect, and the daemon
 * checks SO_PEERCRED again. The listener answers from a forked child that
 * holds a copy of its book (connlimits.h), so a client that never reads
 * blocks no connection.
 */

/* the default control socket: $RUNTIME_DIRECTORY/control under systemd, else next to SOCKET ("SOCKET.control") */
#define STATUS_DEFAULT_CONTROL "/run/qrexec-proxy/control"

/* Where serve puts its control socket (a static buffer, or PATH itself). */
const char *status_control_path(const char *path, const char *socket);

/* Binds the control socket at PATH, mode 0600 (a stale socket is replaced, never another file); the fd, or -1. */
int status_bind(const char *path);

/*
 * A client is at the control socket LFD: accepts it, checks it is root or
 * the daemon's user, and answers from a child (forked here; the caller
 * reaps it like any other child) with BOOK as it is now. The child first
 * closes the listener's fds (serve_forget_in_child).
 */
void status_serve(int lfd, const struct limits *book, const struct spare *spare);

/* Writes BOOK as text (one line per connection, then per chain and per source) or as JSON. */
void status_write(FILE *out, const struct limits *book, const struct spare *spare, bool json, int64_t now_ms);

/* The client: asks the daemon at PATH; prints its answer. The exit code. */
int status_ask(const char *path, bool json);

#endif
