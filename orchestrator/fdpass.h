/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_FDPASS_H
#define QP_FDPASS_H

#include <stddef.h>

/*
 * Passing fds between processes of the daemon, in one place: a header of
 * a fixed size with the fds riding along (SCM_RIGHTS), then an optional
 * body. A supervisor hands the programs of a connection to its sandbox's
 * init this way.
 */

/* the most fds one message carries: three for each of 64 programs */
#define FDPASS_MAX_FDS (3 * 64)

/*
 * Sends HDR (HDRLEN bytes) with NFDS fds, then BODY (BODYLEN bytes, may be
 * 0) on SOCK, restarting after EINTR and short writes. FLAGS go to every
 * send (MSG_DONTWAIT: never block; MSG_NOSIGNAL is always added). 0, or
 * -1 with errno (EAGAIN: the peer's queue is full; EPIPE: it is gone).
 */
int fdpass_send(int sock, const void *hdr, size_t hdrlen, const void *body, size_t bodylen, const int *fds,
		size_t nfds, int flags);

/*
 * Receives a header of exactly HDRLEN bytes and the fds that came with it
 * (close-on-exec) into FDS, at most MAXFDS, their number in *NFDS. One
 * strictness for every caller: control data cut short (MSG_CTRUNC),
 * anything but SCM_RIGHTS, more fds than MAXFDS or a header cut short are
 * refused with EPROTO, and every fd that did arrive is closed. Returns 1,
 * 0 at EOF before the first byte, or -1 with errno.
 */
int fdpass_recv(int sock, void *hdr, size_t hdrlen, int *fds, size_t maxfds, size_t *nfds);

/* Reads exactly LEN bytes (a body after fdpass_recv). 0, or -1 with errno (EPIPE at EOF). */
int fdpass_read_full(int fd, void *buf, size_t len);

#endif
