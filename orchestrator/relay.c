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
#include <sys/ioctl.h>
#include <sys/socket.h>
#include "conn.h"
#include "log.h"
#include "util.h"
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
	if (c->out_is_socket && shutdown(r->to, SHUT_WR) < 0 && errno != ENOTCONN && errno != EPIPE)
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

/* Whether bytes from the pipeline wait that the caller has not had. */
static bool undelivered(const struct conn *c)
{
	const struct relay *r = &c->down;
	int n = 0;
	return r->len > r->off || (r->from >= 0 && ioctl(r->from, FIONREAD, &n) == 0 && n > 0);
}

void relay_caller_left(struct conn *c, const char *how)
{
	if (c->aborting || c->caller_left_ms)
		return;
	/* before its own EOF, or with answers it never had, it left in the middle */
	if (!c->up.done || undelivered(c)) {
		relay_caller_gone_abort(c, how);
		return;
	}
	c->caller_left_ms = mono_ms();
	c->caller_left_how = how;
}

bool relay_down_ready(const struct conn *c)
{
	return !c->down.done && c->down.from_ready && (c->down.to_ready || c->caller_left_ms);
}

void relay_caller_grace_over(struct conn *c)
{
	char how[200];
	snprintf(how, sizeof(how), "%s, and the destination had not ended %d.%03d s later", c->caller_left_how,
		 CALLER_GRACE_MS / 1000, CALLER_GRACE_MS % 1000);
	relay_caller_gone_abort(c, how);
}

/*
 * The caller has left (relay_caller_left): any byte the pipeline still
 * sends is one it cannot have; the end of the stream, with none, is the
 * destination ending as it should.
 */
static void down_after_caller(struct conn *c)
{
	struct relay *r = &c->down;
	struct pollfd p = { .fd = r->from, .events = POLLIN };
	bool hup = poll(&p, 1, 0) == 1 && (p.revents & POLLHUP);
	if (undelivered(c)) {
		relay_caller_gone_abort(c, c->caller_left_how);
		return;
	}
	if (hup) {
		down_finish(c);
		return;
	}
	r->from_ready = false;
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
		up_finish(c);
		/*
		 * Gone with its EOF: a caller killed mid-upload looks the same
		 * as one that sent everything and exited (qrexec-agent shuts
		 * down and closes together). The destination decides: it ends
		 * within the grace with nothing more to say, or it is caller-gone.
		 */
		if (caller_gone(c))
			relay_caller_left(c, "the caller closed the connection before the end");
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
	if (c->caller_left_ms) {
		down_after_caller(c);
		return;
	}
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
		/*
		 * Writing failed; splice from an empty pipe at its end fails so
		 * too (EPIPE before EOF): only bytes left undelivered make it
		 * the caller's leaving in the middle.
		 */
		relay_caller_left(c, "the caller closed the connection while answers were due");
		if (c->caller_left_ms)
			down_after_caller(c);
		return;
	case PUMP_FROM_ERR:
		conn_abort(c, "unable to read from the pipeline: %s", strerror(errno));
		return;
	}
}
