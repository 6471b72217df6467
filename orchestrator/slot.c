/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The supervisor's side of the listener's limits (connlimits.h): the slot
 * it asks for and waits for before anything starts, and the share of the
 * pipe budget its data pipes keep to while the connection runs, as more
 * or fewer connections run and as a direction shows itself busy or idle.
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
#include "kvline.h"
#include "util.h"
#include "warm.h"

/* a pipe too full to shrink for this long counts with what it holds (connlimits.h) */
#define STUCK_MS 2000

/* a slot not granted within this long: the call waits, and the filters started ahead are ended */
#define WARM_WAIT_MS 20

/*
 * Sets data pipe FD (either end) to SIZE bytes and checks what the kernel
 * gave: once the daemon's user is over fs.pipe-user-pages-soft, growing
 * a pipe fails and new ones get two pages. That must never happen
 * silently. Returns the size it has; *BUSY when it was too full to shrink.
 */
int slot_set_pipe_size(struct conn *c, int fd, int size, bool *busy)
{
	/* the share is still to come (slot_wait): the kernel's size meanwhile, which says nothing yet */
	if (c->grant_pending && size == 0) {
		int now = fcntl(fd, F_GETPIPE_SZ);
		return now < 0 ? 0 : now;
	}
	int err = 0;
	long page = sysconf(_SC_PAGESIZE);
	/* none asked for: the kernel's default, 16 pages, unless it is over the limit */
	int want = size > 0 ? size : 16 * (int)(page > 0 ? page : 4096);
	if (size > 0 && fcntl(fd, F_SETPIPE_SZ, size) < 0) {
		err = errno;
		if (err == EBUSY && busy)
			*busy = true;
	}
	int got = fcntl(fd, F_GETPIPE_SZ);
	if (got < 0)
		return 0;
	if (got < want && err != EBUSY && !c->pipe_warned) {
		c->pipe_warned = true;
		log_msg(LOG_WARNING,
			"pipes of %d bytes were asked for, the kernel gave %d (%s): the daemon's user is over the kernel's limit on pipe memory (fs.pipe-user-pages-soft, shared with every process of that user), or the size is over fs.pipe-max-size; lower --pipe-memory or --pipe-size, or raise the limits",
			want, got, err ? strerror(err) : "no error");
	}
	/* the summary's pipe=: the smallest share, not the page of an idle direction */
	if ((size == c->data_pipe || (c->data_pipe > 0 && size > c->data_pipe)) &&
	    (c->res->min_pipe == 0 || got < c->res->min_pipe))
		c->res->min_pipe = got;
	return got;
}

/* The size of the Kth data pipe that carries data (counted from 0, in the order of the pipes). */
int slot_busy_pipe_size(const struct conn *c, size_t k)
{
	return k < (size_t)c->big_pipes && c->data_pipe > 0 && c->data_pipe <= (1 << 29) ? 2 * c->data_pipe
											  : c->data_pipe;
}

/* Whether data pipe I still has its writer and its reader (pipe 0 is ours to write, the last ours to read). */
static bool pipe_live(const struct conn *c, size_t i)
{
	bool writer = i == 0 ? c->up.to >= 0 : !c->procs[i - 1].reaped;
	bool reader = i == c->npipes - 1 ? c->down.from >= 0 : !c->procs[i].reaped;
	return writer && reader;
}

void slot_forget_pipes(struct conn *c)
{
	for (size_t i = 0; i < c->npipes; i++)
		if (c->pipe_path[i] >= 0)
			close(c->pipe_path[i]);
	free(c->pipe_path);
	c->pipe_path = NULL;
	c->npipes = 0;
}

/*
 * Gives every live data pipe its share: c->data_pipe bytes, the first
 * c->big_pipes of those that carry data twice that, a page to those of a
 * direction that carries nothing. The inner pipes are held
 * by filters only: the supervisor keeps an O_PATH reference to each (no
 * reader, no writer, so EOF and EPIPE stay as they were) and reopens it
 * for the moment of the change. Returns the pages the data pipes hold.
 */
static uint64_t resize_pipes(struct conn *c)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t held = 0;
	bool busy = false;
	size_t k = 0;
	for (size_t i = 0; i < c->npipes; i++) {
		if (c->pipe_path[i] < 0)
			continue;
		if (!pipe_live(c, i)) {
			close(c->pipe_path[i]);
			c->pipe_path[i] = -1;
			continue;
		}
		char path[40];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", c->pipe_path[i]);
		int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0) {
			log_sys(LOG_INFO, "unable to reopen a pipe to resize it (it keeps its size)");
			close(c->pipe_path[i]);
			c->pipe_path[i] = -1;
			continue;
		}
		enum dir_use use = c->dir_use[i < c->npipes_up ? 0 : 1];
		int got = slot_set_pipe_size(c, fd, use == DIR_IDLE ? (int)page : slot_busy_pipe_size(c, k++), &busy);
		close(fd);
		held += page > 0 ? (uint64_t)got / (uint64_t)page : 0;
	}
	if (busy) {
		/* data waits in it: try again, less often as long as it stays full */
		if (!c->resize_pending)
			c->resize_since_ms = mono_ms();
		c->resize_pending = true;
		c->resize_backoff_ms = c->resize_backoff_ms ? c->resize_backoff_ms * 2 : 10;
		if (c->resize_backoff_ms > 1000)
			c->resize_backoff_ms = 1000;
		c->resize_at_ms = mono_ms() + c->resize_backoff_ms;
	} else {
		c->resize_pending = false;
		c->resize_backoff_ms = 0;
	}
	return held;
}

/* The data pipes of the idle directions: the listener counts them at one page. */
static uint32_t idle_pipes(const struct conn *c)
{
	uint32_t n = 0;
	if (c->dir_use[0] == DIR_IDLE)
		n += (uint32_t)c->npipes_up;
	if (c->dir_use[1] == DIR_IDLE)
		n += (uint32_t)(c->npipes - c->npipes_up);
	return n;
}

/* Tells the listener the state, the bytes so far and what the pipes hold; never blocks. */
void slot_tell(struct conn *c, enum limits_state state, uint64_t held, bool stuck)
{
	if (c->a->limits_fd < 0)
		return;
	struct limits_msg m = {
		.type = LIMITS_STATE,
		.state = state,
		.code = stuck,
		.held_pages = held > 0xffffffffu ? 0xffffffffu : (uint32_t)held,
		.idle_pipes = idle_pipes(c),
		.bytes_src2dst = c->up.bytes,
		.bytes_dst2src = c->down.bytes,
		.caller_done = c->up.done && c->down.done,
	};
	if (send(c->a->limits_fd, &m, sizeof(m), MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)sizeof(m)) {
		c->told_idle = m.idle_pipes;
		c->told_stuck = stuck;
		c->told_held = held;
		c->state_ms = mono_ms();
		c->state_bytes = c->up.bytes + c->down.bytes;
	}
}

/*
 * Resizes (again) and tells the listener what the pipes hold when that
 * changed. Pipes full for a moment are the normal state of a fast
 * transfer; only pipes that stayed too full to shrink for a while (a
 * reader that does not read) count as stuck, so others get less.
 */
void slot_apply(struct conn *c)
{
	uint64_t held = resize_pipes(c);
	bool stuck = c->resize_pending && mono_ms() - c->resize_since_ms >= STUCK_MS;
	if (stuck != c->told_stuck || held != c->told_held || idle_pipes(c) != c->told_idle)
		slot_tell(c, LIMITS_RUNNING, held, stuck);
}

/*
 * Whether a direction has shown itself idle or busy since the last look
 * (DIR_IDLE_OTHER, DIR_IDLE_MAX): the idle one's pipes shrink before the
 * listener hears of it, so the book never counts less than they hold.
 */
void slot_update_dir_use(struct conn *c, int64_t now_ms)
{
	if (!c->pipe_path || c->npipes == 0)
		return;
	uint64_t moved[2] = { c->up.bytes + c->up.discarded, c->down.bytes };
	bool late = now_ms >= c->dir_idle_at_ms;
	bool changed = false;
	for (int d = 0; d < 2; d++) {
		if (c->dir_use[d] != DIR_BUSY && moved[d] >= DIR_IDLE_MAX) {
			c->dir_use[d] = DIR_BUSY;
			changed = true;
		} else if (c->dir_use[d] == DIR_UNSEEN && (late || moved[!d] >= DIR_IDLE_OTHER)) {
			c->dir_use[d] = DIR_IDLE;
			changed = true;
		}
	}
	if (changed)
		slot_apply(c);
}

/* Whether a direction's use is still to be found out (its pipes have their share meanwhile). */
bool slot_dir_unseen(const struct conn *c)
{
	return c->pipe_path && (c->dir_use[0] == DIR_UNSEEN || c->dir_use[1] == DIR_UNSEEN);
}

/* Messages from the listener while the connection runs: new pipe sizes. */
void slot_read_listener(struct conn *c)
{
	struct limits_msg m;
	bool resize = false;
	while (c->a->limits_fd >= 0) {
		if (limits_recv(c->a->limits_fd, &m) < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EBADMSG)
				continue;
			/* the listener is gone: the connection goes on with what it has */
			c->listener_gone = true;
			break;
		}
		/* the grant of a connection admitted before it asked: its pipes' share, as a resize */
		bool grant = m.type == LIMITS_GRANT && c->grant_pending;
		if ((m.type == LIMITS_RESIZE || grant) && m.data_pipe > 0 && m.data_pipe <= (1u << 30)) {
			c->data_pipe = (int)m.data_pipe;
			c->big_pipes = m.big_pipes <= 1024 ? (int)m.big_pipes : 0;
			resize = true;
		}
		if (grant) {
			c->grant_pending = false;
			if (m.aux_pipe > 0 && m.aux_pipe <= (1u << 30))
				c->aux_pipe = (int)m.aux_pipe;
		}
	}
	if (resize)
		slot_apply(c);
}

/* The data pipes and the stderr pipes a connection of CH makes, for the listener's budget. */
static void count_pipes(const struct qp_chain *ch, uint32_t *ndata, uint32_t *naux)
{
	size_t hops = 0;
	for (size_t i = 0; i < ch->nfilters; i++)
		hops += (ch->filters[i].direction & QP_DIR_SRC2DST ? 1 : 0) +
			(ch->filters[i].direction & QP_DIR_DST2SRC ? 1 : 0);
	*ndata = (uint32_t)(hops + 2);
	/* stderr of every filter and of the connector, the sandbox's events; admission checks come first */
	size_t pipeline = hops + 1 + (hops > 0), admission = ch->nadmit ? ch->nadmit + 1 : 0;
	*naux = (uint32_t)(pipeline > admission ? pipeline : admission);
}

/* The request for a slot: who calls what, the chain's limits, the pipes it makes. 0, or -1 with errno. */
static int slot_ask(struct conn *c)
{
	const struct supervise_args *a = c->a;
	const struct qp_chain *ch = a->chain;
	struct limits_msg m = {
		.type = LIMITS_ASK,
		.chain_max = ch->max_connections,
		.chain_max_per_source = ch->max_per_source,
		.queue_timeout_ms = ch->queue_timeout_ms,
	};
	snprintf(m.source, sizeof(m.source), "%s", a->source);
	snprintf(m.target, sizeof(m.target), "%s", a->target);
	snprintf(m.chain, sizeof(m.chain), "%s", ch->name);
	kvline_bounded(m.service, sizeof(m.service), a->service, KVLINE_FIELD_MAX);
	count_pipes(ch, &m.ndata, &m.naux);
	return limits_send(a->limits_fd, &m);
}

void slot_ask_pending(struct conn *c)
{
	if (!c->ask_pending)
		return;
	c->ask_pending = false;
	/* admitted already: should the request not go, the connection runs on with the pipes it has */
	if (slot_ask(c) < 0)
		log_sys(LOG_WARNING, "unable to tell the listener whose the connection is");
}

/*
 * Asks the listener for a slot and waits for its answer, costing nothing
 * but this process: no pipe, no child. The caller going away or a
 * terminating signal end the wait. Returns 0 when granted (c->data_pipe
 * set), -1 with the result set otherwise.
 */
int slot_wait(struct conn *c)
{
	const struct supervise_args *a = c->a;
	int64_t t0 = mono_ms();
	struct limits_msg m;
	/*
	 * Admitted when it came, alone in the book: no limit can hold it, so
	 * it goes on at once, and asks (which tells the book whose it is)
	 * once its pipeline has started (slot_ask_pending): the listener
	 * woken earlier would take the CPU from that start. Its pipes keep
	 * the kernel's size until the grant that answers the request says
	 * their share (slot_read_listener), moments later.
	 */
	if (a->pregranted) {
		c->data_pipe = 0;
		c->big_pipes = 0;
		c->grant_pending = true;
		c->ask_pending = true;
		c->res->queued_ms = 0;
		return 0;
	}
	if (slot_ask(c) < 0) {
		log_sys(LOG_ERR, "unable to ask the listener for a slot");
		conn_reason(c, "unable to ask for a slot");
		c->res->result = QP_FAILED;
		return -1;
	}
	for (;;) {
		struct pollfd pf[3] = {
			{ .fd = c->sigfd, .events = POLLIN },
			{ .fd = a->limits_fd, .events = POLLIN },
			/* only POLLHUP: the caller gone altogether (its data waits for the pipeline) */
			{ .fd = c->is_socket ? a->in_fd : -1, .events = 0 },
		};
		/* filters started ahead must not wait in a queue with it: no process but the supervisor waits */
		bool warm = a->warm && a->warm->chain;
		int r = poll(pf, 3, warm ? WARM_WAIT_MS : -1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			log_sys(LOG_ERR, "unable to poll");
			conn_reason(c, "unable to poll: %s", strerror(errno));
			c->res->result = QP_FAILED;
			return -1;
		}
		if (r == 0 && warm) {
			warm_discard(a->warm);
			continue;
		}
		c->res->queued_ms = mono_ms() - t0;
		if ((pf[0].revents & POLLIN) && procs_read_signals(c)) {
			c->res->result = QP_ABORTED;
			return -1;
		}
		if (pf[2].revents & (POLLHUP | POLLERR)) {
			c->res->result = QP_CALLER_GONE;
			conn_reason(c, "the caller went away while waiting for a slot");
			return -1;
		}
		if (!(pf[1].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (limits_recv(a->limits_fd, &m) < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == EBADMSG)
				continue;
			log_msg(LOG_ERR, "the listener did not answer the request for a slot: %s",
				errno == EPIPE ? "it is gone" : strerror(errno));
			conn_reason(c, "no answer from the listener");
			c->res->result = QP_FAILED;
			return -1;
		}
		/* the time it waited in a queue, as the listener counts it */
		if (m.type == LIMITS_GRANT || m.type == LIMITS_DENY)
			c->res->queued_ms = m.waited_ms;
		if (m.type == LIMITS_GRANT) {
			c->data_pipe = m.data_pipe > 0 && m.data_pipe <= (1u << 30) ? (int)m.data_pipe : a->pipe_size;
			c->big_pipes = m.data_pipe > 0 && m.big_pipes <= 1024 ? (int)m.big_pipes : 0;
			c->aux_pipe = m.aux_pipe > 0 && m.aux_pipe <= (1u << 30) ? (int)m.aux_pipe : c->aux_pipe;
			return 0;
		}
		if (m.type != LIMITS_DENY)
			continue;
		const char *held = limits_block_name((enum limits_block)m.block);
		if (m.code == LIMITS_DENY_FULL) {
			c->res->result = QP_QUEUE_FULL;
			conn_reason(c, "over a limit (%s: %d) with too many connections waiting already", held, m.limit);
		} else {
			c->res->result = QP_QUEUE_TIMEOUT;
			conn_reason(c, "no slot within the queue timeout (%lld.%03lld s): %s (%d) held it",
				   (long long)(m.waited_ms / 1000), (long long)(m.waited_ms % 1000), held, m.limit);
		}
		return -1;
	}
}
