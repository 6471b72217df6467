/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_CONTROL_H
#define QP_CONTROL_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "connlimits.h"
#include "spare.h"

/*
 * The daemon's control socket, the listener's side: `qrexec-proxy
 * status` and `qrexec-proxy end` ask over it (never over the qrexec
 * socket). The socket is mode 0600 (root and the daemon's user may
 * connect) and the peer's uid is checked again (SO_PEERCRED). A request
 * is one line, read without blocking: a client that never finishes it
 * is dropped after CONTROL_REQUEST_MS, and at most CONTROL_MAX_CLIENTS
 * wait at once. The answer is written by a forked child, so a client
 * that never reads holds up no connection:
 *
 *   status | status json           what runs now (status.h)
 *   end id ID... | end source NAME | end chain NAME
 *                                  ends those connections (end.h)
 */

#define CONTROL_MAX_CLIENTS 8
#define CONTROL_REQUEST_MAX 4096
#define CONTROL_REQUEST_MS 2000

struct control_client {
	int fd;                 /* -1: a free slot */
	uid_t uid;              /* who asks (SO_PEERCRED) */
	int64_t deadline_ms;    /* its request must be whole by then */
	size_t got;
	char req[CONTROL_REQUEST_MAX];
};

struct control {
	int lfd;                /* -1: no control socket */
	const char *path;
	struct control_client cl[CONTROL_MAX_CLIENTS];
	pid_t answering[CONTROL_MAX_CLIENTS]; /* the children writing answers; 0: a free slot */
};

/*
 * Binds the control socket at PATH (status_bind), or leaves CTL without
 * one (a warning logged). Every fd CTL holds is one the listener's
 * children give up (serve_forget_fd).
 */
void control_open(struct control *ctl, const char *path);
/* Closes CTL and removes its socket. */
void control_close(struct control *ctl);

/*
 * Whether PID is a child writing an answer (no stray of a connection's):
 * control_reaped forgets it once it has ended.
 */
bool control_answering(const struct control *ctl, pid_t pid);
bool control_reaped(struct control *ctl, pid_t pid);

/* The fds to poll, into PF (at most 1 + CONTROL_MAX_CLIENTS); their number. */
size_t control_pollfds(const struct control *ctl, struct pollfd *pf);
/* How long until a client's request is due (ms), or -1. */
int control_timeout(const struct control *ctl, int64_t now_ms);
/*
 * What PF[0..N) (as control_pollfds made them) say: clients accepted,
 * requests read, and each whole one answered, from BOOK (and SPARE, for
 * status), which `end`
 * changes (connections it ends are killed and marked: end.h).
 */
void control_on_poll(struct control *ctl, const struct pollfd *pf, size_t n, struct limits *book,
		     const struct spare *spare, int64_t now_ms);

#endif
