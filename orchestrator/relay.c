/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Moving bytes between the caller's fds and the two ends of the pipeline:
 * splice where the kernel allows, a copy through user space where it
 * does not, counted per direction, with half-close passed on exactly.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include "conn.h"
#include "log.h"
#include "phases.h"

/* how much one splice() or read() asks for */
#define RELAY_CHUNK (1 << 20)

/* fallback copy buffer when splice does not apply (ttys, files) */
#define RELAY_BUF (1 << 16)

/* pumps per wake-up before the other fds get a turn */
#define RELAY_ROUNDS 16

enum pump_result {
	PUMP_AGAIN,
	PUMP_EOF,
	PUMP_TO_GONE,   /* writing failed: nobody reads the other end any more */
	PUMP_FROM_ERR,  /* reading failed */
};

static enum pump_result relay_pump(struct relay *r)
{
	for (int round = 0; round < RELAY_ROUNDS; round++) {
		if (r->use_splice && !r->discard && r->len == r->off) {
			ssize_t n = splice(r->from, NULL, r->to, NULL, RELAY_CHUNK,
					   SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
			if (n > 0) {
				r->bytes += (uint64_t)n;
				continue;
			}
			if (n == 0 && r->from_is_socket) {
				/*
				 * EOF from the source closes the destination's input
				 * for good: make sure it is one, and not a splice that
				 * found no room, before acting on it.
				 */
				char b;
				ssize_t k = recv(r->from, &b, 1, MSG_PEEK | MSG_DONTWAIT);
				if (k > 0) {
					r->to_ready = false;
					return PUMP_AGAIN;
				}
				if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
					r->from_ready = false;
					return PUMP_AGAIN;
				}
				if (k < 0)
					return PUMP_FROM_ERR;
				return PUMP_EOF;
			}
			if (n == 0)
				return PUMP_EOF;
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				/* either side may be the one not ready: poll both */
				r->from_ready = r->to_ready = false;
				return PUMP_AGAIN;
			}
			if (errno == EPIPE || errno == ECONNRESET)
				return PUMP_TO_GONE;
			if (errno != EINVAL && errno != ENOSYS && errno != EBADF)
				return PUMP_FROM_ERR;
			/* a tty or another kind of fd: copy through user space */
			r->use_splice = false;
		}
		if (!r->buf) {
			r->buf = malloc(RELAY_BUF);
			if (!r->buf)
				return PUMP_FROM_ERR;
		}
		if (r->off == r->len) {
			ssize_t n = read(r->from, r->buf, RELAY_BUF);
			if (n == 0)
				return PUMP_EOF;
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN) {
					r->from_ready = false;
					return PUMP_AGAIN;
				}
				return PUMP_FROM_ERR;
			}
			r->off = 0;
			r->len = (size_t)n;
		}
		if (r->discard) {
			/* nobody reads the other end: drop it, keep the sender going */
			r->discarded += r->len - r->off;
			r->off = r->len;
			continue;
		}
		ssize_t w = write(r->to, r->buf + r->off, r->len - r->off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				r->to_ready = false;
				return PUMP_AGAIN;
			}
			return PUMP_TO_GONE;
		}
		r->off += (size_t)w;
		r->bytes += (uint64_t)w;
	}
	return PUMP_AGAIN;
}

/* The source's stream ended: EOF goes down the pipeline. */
static void up_finish(struct conn *c)
{
	struct relay *r = &c->up;
	if (r->to >= 0) {
		close(r->to);
		r->to = -1;
	}
	r->done = true;
	phase_mark(PHASE_UP_EOF);
}

/* The pipeline's stream towards the source ended: half-close the caller. */
static void down_finish(struct conn *c)
{
	struct relay *r = &c->down;
	if (r->from >= 0) {
		close(r->from);
		r->from = -1;
	}
	/*
	 * A socket may be shared with the input (qrexec-agent hands some
	 * services one socket as stdin and stdout): closing our fd would not
	 * be an EOF, shutting down the write side is.
	 */
	if (c->out_is_socket && shutdown(r->to, SHUT_WR) < 0 && errno != ENOTCONN)
		log_sys(LOG_WARNING, "unable to shut down the socket for writing");
	/* keep the fd occupied so no later open() lands on it */
	if (!c->is_socket && dup2(c->devnull, r->to) < 0)
		log_sys(LOG_WARNING, "unable to close the output");
	r->done = true;
	phase_mark(PHASE_DOWN_EOF);
}

/*
 * Whether the caller has closed the socket altogether (not a half-close:
 * qrexec-agent shuts down only the write side when the caller's input
 * ends, and closes the socket when the call is over for it).
 */
static bool caller_gone(const struct conn *c)
{
	/*
	 * POLLHUP means both directions are shut down: proof that the caller
	 * closed only while our own write side is still open.
	 */
	if (!c->is_socket || c->down.done)
		return false;
	struct pollfd p = { .fd = c->a->in_fd, .events = 0 };
	return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
}

void relay_caller_gone_abort(struct conn *c, const char *how)
{
	if (c->aborting)
		return;
	if (c->res->result == QP_OK)
		c->res->result = QP_CALLER_GONE;
	conn_abort(c, "%s", how);
}

void relay_up(struct conn *c)
{
	struct relay *r = &c->up;
	enum pump_result pr = relay_pump(r);
	if (r->bytes)
		phase_mark(PHASE_UP_FIRST);
	switch (pr) {
	case PUMP_AGAIN:
		return;
	case PUMP_EOF:
		/* a caller killed mid-upload looks like an EOF: it is not one */
		if (caller_gone(c)) {
			relay_caller_gone_abort(c, "the caller closed the connection before the end");
			return;
		}
		up_finish(c);
		return;
	case PUMP_TO_GONE:
		/*
		 * The first step stopped reading before the source was done.
		 * Keep reading and dropping, so the caller is never blocked;
		 * whether that ends the connection is up to the processes.
		 */
		close(r->to);
		r->to = -1;
		r->discard = true;
		r->to_ready = true;
		return;
	case PUMP_FROM_ERR:
		if (errno == ECONNRESET)
			relay_caller_gone_abort(c, "the caller reset the connection");
		else
			conn_abort(c, "unable to read from the source: %s", strerror(errno));
		return;
	}
}

void relay_down(struct conn *c)
{
	struct relay *r = &c->down;
	enum pump_result pr = relay_pump(r);
	if (r->bytes)
		phase_mark(PHASE_DOWN_FIRST);
	switch (pr) {
	case PUMP_AGAIN:
		return;
	case PUMP_EOF:
		down_finish(c);
		return;
	case PUMP_TO_GONE:
		relay_caller_gone_abort(c, "the caller closed the connection while answers were due");
		return;
	case PUMP_FROM_ERR:
		conn_abort(c, "unable to read from the pipeline: %s", strerror(errno));
		return;
	}
}
