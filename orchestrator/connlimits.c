/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "connlimits.h"
#include "log.h"

#define DEFAULT_PIPE_MEMORY (32ULL << 20)

const char *limits_state_name(enum limits_state s)
{
	switch (s) {
	case LIMITS_NEW:
		return "new";
	case LIMITS_QUEUED:
		return "queued";
	case LIMITS_ADMITTING:
		return "admitting";
	case LIMITS_RUNNING:
		return "running";
	case LIMITS_CLOSING:
		return "closing";
	}
	return "unknown";
}

const char *limits_block_name(enum limits_block b)
{
	switch (b) {
	case LIMITS_FREE:
		return "none";
	case LIMITS_BY_TOTAL:
		return "max-connections";
	case LIMITS_BY_SOURCE:
		return "max-per-source";
	case LIMITS_BY_CHAIN:
		return "the chain's max_connections";
	case LIMITS_BY_CHAIN_SOURCE:
		return "the chain's max_per_source";
	}
	return "unknown";
}

/* ---- the channel ---- */

int limits_send(int fd, const struct limits_msg *m)
{
	for (;;) {
		ssize_t n = send(fd, m, sizeof(*m), MSG_NOSIGNAL);
		if (n == (ssize_t)sizeof(*m))
			return 0;
		if (n >= 0) {
			errno = EMSGSIZE;
			return -1;
		}
		if (errno != EINTR)
			return -1;
	}
}

int limits_recv(int fd, struct limits_msg *m)
{
	for (;;) {
		ssize_t n = recv(fd, m, sizeof(*m), MSG_DONTWAIT | MSG_TRUNC);
		if (n == (ssize_t)sizeof(*m)) {
			/* whatever the other side sent, the names end inside their arrays */
			m->source[sizeof(m->source) - 1] = '\0';
			m->target[sizeof(m->target) - 1] = '\0';
			m->chain[sizeof(m->chain) - 1] = '\0';
			m->service[sizeof(m->service) - 1] = '\0';
			return 0;
		}
		if (n == 0) {
			errno = EPIPE;
			return -1;
		}
		if (n > 0) {
			errno = EBADMSG;
			return -1;
		}
		if (errno != EINTR)
			return -1;
	}
}

/* ---- the pipe budget ---- */

uint64_t limits_default_pipe_memory(uint64_t *soft)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned long long pages = 0;
	*soft = 0;
	FILE *f = fopen("/proc/sys/fs/pipe-user-pages-soft", "re");
	if (f) {
		if (fscanf(f, "%llu", &pages) != 1)
			pages = 0;
		fclose(f);
	}
	if (pages == 0 || page <= 0)
		return DEFAULT_PIPE_MEMORY;
	*soft = (uint64_t)pages * (uint64_t)page;
	return *soft / 2;
}

static bool holds_pipes(const struct limits_conn *c)
{
	return c->state == LIMITS_ADMITTING || c->state == LIMITS_RUNNING;
}

/*
 * The pages every connection holding pipes would take if data pipes were
 * D pages: a connection that reported its pipes too full to shrink
 * counts with what it holds until it says they have shrunk.
 */
static uint64_t pages_needed(const struct limits *L, unsigned d)
{
	uint64_t n = 0;
	for (size_t i = 0; i < L->nconns; i++) {
		const struct limits_conn *c = L->conns[i];
		if (!holds_pipes(c))
			continue;
		/* the pipes of a direction that carries nothing hold one page */
		unsigned idle = c->nidle < c->ndata ? c->nidle : c->ndata;
		uint64_t want = (uint64_t)(c->ndata - idle) * d + idle;
		if (c->stuck && c->held_pages > want)
			want = c->held_pages;
		n += want + c->naux;
	}
	return n;
}

/* The data pipe size for now, in pages: the largest power of two that fits, at least one page. */
static unsigned pipe_pages_now(struct limits *L, bool *fits)
{
	unsigned d = 1;
	while (d * 2 <= L->max_data_pages)
		d *= 2;
	while (d > 1 && pages_needed(L, d) > L->budget_pages)
		d /= 2;
	*fits = pages_needed(L, d) <= L->budget_pages;
	return d;
}

unsigned limits_pipe_pages(const struct limits *L)
{
	return L->data_pages;
}

/*
 * What data pipes of D pages leave of the budget, handed out as pipes of
 * 2D: one to each connection in turn, as long as another fits, to the
 * pipes that carry data (a connection whose pipes would not shrink has
 * what it holds already). PLAN[i] gets how many L->conns[i] may have.
 */
static void share_rest(const struct limits *L, unsigned d, bool fits, unsigned *plan)
{
	uint64_t need = pages_needed(L, d);
	uint64_t rest = fits && need < L->budget_pages ? L->budget_pages - need : 0;
	bool can = d * 2 <= L->max_data_pages;
	memset(plan, 0, L->nconns * sizeof(*plan));
	while (can && rest >= d) {
		can = false;
		for (size_t i = 0; i < L->nconns && rest >= d; i++) {
			const struct limits_conn *c = L->conns[i];
			unsigned idle = c->nidle < c->ndata ? c->nidle : c->ndata;
			if (!holds_pipes(c) || c->stuck || plan[i] >= c->ndata - idle)
				continue;
			plan[i]++;
			rest -= d;
			can = true;
		}
	}
}

/* Gives every running connection the data pipes the budget allows now; tells those whose sizes changed. */
static void rebalance(struct limits *L)
{
	bool fits;
	unsigned d = pipe_pages_now(L, &fits);
	/* without memory for the plan, no pipe is twice the size */
	unsigned *plan = calloc(L->nconns ? L->nconns : 1, sizeof(*plan));
	if (plan)
		share_rest(L, d, fits, plan);
	if (!fits && !L->over_budget)
		log_msg(LOG_WARNING,
			"pipe memory: %d connections need more than --pipe-memory (%llu KiB) even with data pipes of one page",
			L->running, (unsigned long long)L->budget_pages * L->page / 1024);
	else if (fits && L->over_budget)
		log_msg(LOG_NOTICE, "pipe memory: the connections fit in --pipe-memory again");
	L->over_budget = !fits;
	L->data_pages = d;
	for (size_t i = 0; i < L->nconns; i++) {
		struct limits_conn *c = L->conns[i];
		unsigned nbig = plan ? plan[i] : 0;
		if (!holds_pipes(c) || (c->data_pages == d && c->nbig == nbig) || c->chan < 0)
			continue;
		struct limits_msg m = {
			.type = LIMITS_RESIZE,
			.data_pipe = d * L->page,
			.big_pipes = nbig,
			.aux_pipe = LIMITS_AUX_PIPE,
		};
		/* a full channel means a supervisor that does not read: it keeps its sizes until the next change */
		if (send(c->chan, &m, sizeof(m), MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)sizeof(m)) {
			c->data_pages = d;
			c->nbig = nbig;
		}
	}
	free(plan);
}

/* ---- the book ---- */

int limits_init(struct limits *L, const struct limits_opts *o)
{
	memset(L, 0, sizeof(*L));
	L->o = *o;
	long page = sysconf(_SC_PAGESIZE);
	L->page = page > 0 ? (unsigned)page : 4096;
	uint64_t pages = o->pipe_memory / L->page;
	L->budget_pages = pages > 0x7fffffff ? 0x7fffffff : (unsigned)pages;
	/* 0: the kernel's default of 16 pages (64 KiB) */
	unsigned max = o->pipe_size > 0 ? (unsigned)((o->pipe_size + L->page - 1) / L->page) : 16;
	L->max_data_pages = max ? max : 1;
	L->data_pages = L->max_data_pages;
	return 0;
}

static void group_free(struct limits_group **g, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(g[i]);
	free(g);
}

void limits_free(struct limits *L)
{
	for (size_t i = 0; i < L->nconns; i++) {
		if (L->conns[i]->chan >= 0)
			close(L->conns[i]->chan);
		free(L->conns[i]);
	}
	free(L->conns);
	group_free(L->sources, L->nsources);
	group_free(L->chains, L->nchains);
	memset(L, 0, sizeof(*L));
}

void limits_forget_in_child(struct limits *L)
{
	limits_free(L);
}

bool limits_busy(const struct limits *L)
{
	for (size_t i = 0; i < L->nconns; i++)
		if (L->conns[i]->state == LIMITS_NEW || L->conns[i]->state == LIMITS_ADMITTING ||
		    (L->conns[i]->state == LIMITS_RUNNING && !L->conns[i]->caller_done))
			return true;
	return false;
}

bool limits_any_new(const struct limits *L)
{
	for (size_t i = 0; i < L->nconns; i++)
		if (L->conns[i]->state == LIMITS_NEW)
			return true;
	return false;
}

struct limits_conn *limits_find(const struct limits *L, pid_t pid)
{
	for (size_t i = 0; i < L->nconns; i++)
		if (L->conns[i]->pid == pid)
			return L->conns[i];
	return NULL;
}

size_t limits_count_new(const struct limits *L, uid_t uid, struct limits_conn **oldest)
{
	size_t n = 0;
	if (oldest)
		*oldest = NULL;
	for (size_t i = 0; i < L->nconns; i++) {
		struct limits_conn *c = L->conns[i];
		if (c->state != LIMITS_NEW || c->end_result || (uid != (uid_t)-1 && c->peer_uid != uid))
			continue;
		n++;
		if (oldest && (!*oldest || c->accepted_ns < (*oldest)->accepted_ns))
			*oldest = c;
	}
	return n;
}

struct limits_conn *limits_add(struct limits *L, const char *id, pid_t pid, int chan, int64_t now_ns)
{
	if (L->nconns == L->capconns) {
		size_t cap = L->capconns ? L->capconns * 2 : 64;
		struct limits_conn **n = realloc(L->conns, cap * sizeof(*n));
		if (!n)
			return NULL;
		L->conns = n;
		L->capconns = cap;
	}
	struct limits_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->pid = pid;
	c->chan = chan;
	c->state = LIMITS_NEW;
	c->accepted_ns = now_ns;
	c->accepted_ms = now_ns / 1000000;
	clock_gettime(CLOCK_REALTIME, &c->started);
	L->conns[L->nconns++] = c;
	return c;
}

/* The group called NAME in *ARR, made when MAKE; NULL when there is none (or no memory). */
static struct limits_group *group_get(struct limits_group ***arr, size_t *n, size_t *cap, const char *name,
				      bool make)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*arr)[i]->name, name))
			return (*arr)[i];
	if (!make)
		return NULL;
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		struct limits_group **a = realloc(*arr, nc * sizeof(*a));
		if (!a)
			return NULL;
		*arr = a;
		*cap = nc;
	}
	struct limits_group *g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	snprintf(g->name, sizeof(g->name), "%s", name);
	(*arr)[(*n)++] = g;
	return g;
}

/* Drops G from *ARR when nothing refers to it any more. */
static void group_drop_if_unused(struct limits_group **arr, size_t *n, struct limits_group *g)
{
	if (!g || g->refs)
		return;
	for (size_t i = 0; i < *n; i++) {
		if (arr[i] == g) {
			arr[i] = arr[--*n];
			free(g);
			return;
		}
	}
}

/*
 * What keeps C from running now, counting as its own source's and
 * chain's the UNKNOWN connections admitted before they said theirs.
 */
static enum limits_block blocked_with(const struct limits *L, const struct limits_conn *c, int unknown)
{
	if (L->running >= L->o.max_connections)
		return LIMITS_BY_TOTAL;
	if (c->src->running + unknown >= L->o.max_per_source)
		return LIMITS_BY_SOURCE;
	if (c->chain_max > 0 && c->chn->running + unknown >= c->chain_max)
		return LIMITS_BY_CHAIN;
	if (c->chain_max_per_source > 0) {
		int n = unknown;
		for (const struct limits_conn *o = c->src->first; o; o = o->src_next)
			if (o->chn == c->chn && o->has_slot)
				n++;
		if (n >= c->chain_max_per_source)
			return LIMITS_BY_CHAIN_SOURCE;
	}
	return LIMITS_FREE;
}

/* What keeps C from running now. */
static enum limits_block blocked(const struct limits *L, const struct limits_conn *c)
{
	return blocked_with(L, c, L->unasked);
}

static int block_limit(const struct limits *L, const struct limits_conn *c, enum limits_block b)
{
	switch (b) {
	case LIMITS_BY_TOTAL:
		return L->o.max_connections;
	case LIMITS_BY_SOURCE:
		return L->o.max_per_source;
	case LIMITS_BY_CHAIN:
		return c->chain_max;
	case LIMITS_BY_CHAIN_SOURCE:
		return c->chain_max_per_source;
	case LIMITS_FREE:
		break;
	}
	return 0;
}

static void admit(struct limits *L, struct limits_conn *c, int64_t now_ms)
{
	if (c->state == LIMITS_QUEUED) {
		c->src->queued--;
		c->chn->queued--;
		L->queued--;
	}
	c->state = LIMITS_ADMITTING;
	c->block = LIMITS_FREE;
	c->behind_unasked = false;
	c->admitted_ms = now_ms;
	/* admitted before it asked (limits_pregrant): its slot is counted already, its source and chain now */
	if (!c->has_slot) {
		c->has_slot = true;
		L->running++;
	}
	c->src->running++;
	c->chn->running++;
	/* the size for the newcomer, counted in; the others are told in rebalance() */
	bool fits;
	unsigned d = pipe_pages_now(L, &fits);
	/* and its share of what that leaves: pipes of twice the size */
	unsigned nbig = 0;
	unsigned *plan = calloc(L->nconns ? L->nconns : 1, sizeof(*plan));
	if (plan) {
		share_rest(L, d, fits, plan);
		for (size_t i = 0; i < L->nconns; i++)
			if (L->conns[i] == c)
				nbig = plan[i];
		free(plan);
	}
	c->nbig = nbig;
	c->data_pages = d;
	c->held_pages = (uint64_t)d * c->ndata + (uint64_t)d * nbig;
	struct limits_msg m = {
		.type = LIMITS_GRANT,
		.data_pipe = d * L->page,
		.big_pipes = nbig,
		.aux_pipe = LIMITS_AUX_PIPE,
		.waited_ms = now_ms - c->asked_ms,
	};
	/*
	 * The supervisor waits for this message and nothing else: a failure
	 * here means it is gone (its end is closed), and the reaping gives
	 * the slot back.
	 */
	if (c->chan >= 0 && limits_send(c->chan, &m) < 0 && errno != EPIPE && errno != ECONNRESET)
		log_sys(LOG_WARNING, "connection %s: unable to grant its slot", c->id);
}

/*
 * Hands free slots to waiting connections. Each source offers its oldest
 * connection that a limit lets through; of those, the one whose source
 * runs the fewest connections goes first (then the oldest): a source that
 * holds many slots and has many more waiting cannot keep another's one
 * call waiting behind them.
 */
static void schedule(struct limits *L, int64_t now_ms)
{
	bool any = false;
	while (L->queued > 0) {
		struct limits_conn *best = NULL;
		for (size_t k = 0; k < L->nsources; k++) {
			struct limits_group *s = L->sources[k];
			if (!s->queued)
				continue;
			for (struct limits_conn *c = s->first; c; c = c->src_next) {
				if (c->state != LIMITS_QUEUED)
					continue;
				enum limits_block b = blocked(L, c);
				c->block = b;
				if (b == LIMITS_FREE) {
					if (!best || s->running < best->src->running ||
					    (s->running == best->src->running && c->seq < best->seq))
						best = c;
					break;
				}
				if (b == LIMITS_BY_TOTAL)
					goto out;
				if (b == LIMITS_BY_SOURCE)
					break;
				/* held by its chain: one of the same source through another chain may go */
			}
		}
		if (!best)
			break;
		admit(L, best, now_ms);
		any = true;
	}
out:
	if (any)
		rebalance(L);
}

static void deny(struct limits *L, struct limits_conn *c, enum limits_deny why, enum limits_block b, int64_t now_ms)
{
	if (c->state == LIMITS_QUEUED) {
		c->src->queued--;
		c->chn->queued--;
		L->queued--;
	}
	c->state = LIMITS_CLOSING;
	struct limits_msg m = {
		.type = LIMITS_DENY,
		.code = why,
		.block = b,
		.limit = block_limit(L, c, b),
		.waited_ms = now_ms - c->asked_ms,
	};
	if (c->chan >= 0 && limits_send(c->chan, &m) < 0 && errno != EPIPE && errno != ECONNRESET)
		log_sys(LOG_WARNING, "connection %s: unable to refuse it", c->id);
}

static void wait_or_refuse(struct limits *L, struct limits_conn *c, int64_t now_ms);

/* Every connection admitted before it asked has asked (or gone): those that waited on their account are looked at again. */
static void release_behind_unasked(struct limits *L, int64_t now_ms)
{
	if (L->unasked > 0)
		return;
	schedule(L, now_ms);
	for (size_t i = 0; i < L->nconns; i++) {
		struct limits_conn *c = L->conns[i];
		if (c->state == LIMITS_QUEUED && c->behind_unasked) {
			c->behind_unasked = false;
			wait_or_refuse(L, c, now_ms);
		}
	}
}

/* C, admitted before it asked, will not ask now (its supervisor is ending). */
static void forget_unasked(struct limits *L, struct limits_conn *c, int64_t now_ms)
{
	if (!c->pregranted || c->state != LIMITS_NEW)
		return;
	c->state = LIMITS_CLOSING;
	L->unasked--;
	release_behind_unasked(L, now_ms);
}

bool limits_pregrant(struct limits *L, struct limits_conn *c)
{
	if (L->nconns != 1 || L->conns[0] != c || c->state != LIMITS_NEW || c->has_slot || L->running != 0)
		return false;
	c->pregranted = true;
	c->has_slot = true;
	c->admitted_ms = c->accepted_ms;
	L->running++;
	L->unasked++;
	return true;
}

static void on_ask(struct limits *L, struct limits_conn *c, const struct limits_msg *m, int64_t now_ms)
{
	if (c->state != LIMITS_NEW)
		return; /* one request per connection */
	memcpy(c->source, m->source, sizeof(c->source));
	memcpy(c->target, m->target, sizeof(c->target));
	memcpy(c->chain, m->chain, sizeof(c->chain));
	snprintf(L->last_chain, sizeof(L->last_chain), "%.*s", (int)sizeof(c->chain) - 1, c->chain);
	memcpy(c->service, m->service, sizeof(c->service));
	c->chain_max = m->chain_max > 0 ? m->chain_max : 0;
	c->chain_max_per_source = m->chain_max_per_source > 0 ? m->chain_max_per_source : 0;
	c->queue_timeout_ms = m->queue_timeout_ms >= 0 ? m->queue_timeout_ms : L->o.queue_timeout_ms;
	c->ndata = m->ndata < 1024 ? m->ndata : 1024;
	c->naux = m->naux < 1024 ? m->naux : 1024;
	c->asked_ms = now_ms;
	c->src = group_get(&L->sources, &L->nsources, &L->capsources, c->source, true);
	if (c->src)
		c->src->refs++;
	c->chn = group_get(&L->chains, &L->nchains, &L->capchains, c->chain, true);
	if (c->chn)
		c->chn->refs++;
	if (!c->src || !c->chn) {
		log_msg(LOG_ERR, "connection %s: out of memory for the book of limits", c->id);
		if (c->src)
			c->src->refs--;
		if (c->chn)
			c->chn->refs--;
		group_drop_if_unused(L->sources, &L->nsources, c->src);
		group_drop_if_unused(L->chains, &L->nchains, c->chn);
		c->src = c->chn = NULL;
		/* the supervisor sees its channel end and gives up */
		close(c->chan);
		c->chan = -1;
		forget_unasked(L, c, now_ms);
		c->state = LIMITS_CLOSING;
		return;
	}
	c->seq = L->next_seq++;
	if (c->src->last)
		c->src->last->src_next = c;
	else
		c->src->first = c;
	c->src->last = c;
	if (c->pregranted) {
		/* admitted when it came, alone: it runs already, and now the book knows whose it is */
		L->unasked--;
		admit(L, c, now_ms);
		rebalance(L);
		release_behind_unasked(L, now_ms);
		return;
	}
	c->state = LIMITS_QUEUED;
	c->src->queued++;
	c->chn->queued++;
	L->queued++;
	c->deadline_ms = now_ms + c->queue_timeout_ms;
	schedule(L, now_ms);
	if (c->state != LIMITS_QUEUED)
		return;
	wait_or_refuse(L, c, now_ms);
}

/* C, queued, could not be admitted: it waits (and is told so in the log), or is refused at once. */
static void wait_or_refuse(struct limits *L, struct limits_conn *c, int64_t now_ms)
{
	/* it has to wait (a call ahead of it may have ended the search before it was looked at) */
	c->block = blocked(L, c);
	/*
	 * Held only by connections that have not said their source and chain
	 * yet, which they do as soon as their descriptor is read: it is
	 * looked at again then (release_behind_unasked), not refused nor said
	 * to wait on a limit that may well not be its own.
	 */
	if (c->block != LIMITS_FREE && L->unasked > 0 && blocked_with(L, c, 0) == LIMITS_FREE) {
		c->behind_unasked = true;
		return;
	}
	if (c->block == LIMITS_FREE)
		c->block = LIMITS_BY_SOURCE; /* free but behind older calls of its source */
	if (c->queue_timeout_ms == 0) {
		deny(L, c, LIMITS_DENY_TIMEOUT, c->block, now_ms);
	} else if (c->src->queued > L->o.max_queued_per_source || L->queued > L->o.max_queued) {
		deny(L, c, LIMITS_DENY_FULL, c->block, now_ms);
	} else {
		struct log_connection lc = { .id = c->id, .source = c->source, .target = c->target,
					     .service = c->service, .chain = c->chain };
		log_set_connection(&lc);
		log_msg(LOG_INFO, "connection %s: waits for a slot: %s (%d) is reached; %d of source %s waiting",
			c->id, limits_block_name(c->block), block_limit(L, c, c->block), c->src->queued, c->source);
		log_set_connection(NULL);
	}
}

void limits_on_readable(struct limits *L, struct limits_conn *c, int64_t now_ms)
{
	while (c->chan >= 0) {
		struct limits_msg m;
		if (limits_recv(c->chan, &m) < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EBADMSG)
				continue;
			/*
			 * EOF (or an error): the supervisor is ending. A waiting one
			 * leaves its queue now, so no slot goes to it.
			 */
			close(c->chan);
			c->chan = -1;
			if (c->state == LIMITS_QUEUED) {
				c->src->queued--;
				c->chn->queued--;
				L->queued--;
				c->state = LIMITS_CLOSING;
			}
			forget_unasked(L, c, now_ms);
			return;
		}
		switch (m.type) {
		case LIMITS_ASK:
			on_ask(L, c, &m, now_ms);
			break;
		case LIMITS_STATE:
			if (m.caller_done && !c->caller_done)
				L->last_done_ms = now_ms;
			c->caller_done |= m.caller_done != 0;
			if (holds_pipes(c)) {
				bool was_stuck = c->stuck;
				uint64_t was_held = c->held_pages;
				unsigned was_idle = c->nidle;
				if (m.state == LIMITS_RUNNING || m.state == LIMITS_CLOSING)
					c->state = (enum limits_state)m.state;
				c->bytes_src2dst = m.bytes_src2dst;
				c->bytes_dst2src = m.bytes_dst2src;
				c->held_pages = m.held_pages;
				c->stuck = m.code != 0;
				c->nidle = m.idle_pipes < c->ndata ? m.idle_pipes : c->ndata;
				/*
				 * A closing connection's pipes are as good as gone, and one
				 * whose pipes would not shrink counts with what it holds:
				 * either changes what the others may have.
				 */
				if (c->state == LIMITS_CLOSING || c->stuck != was_stuck || c->nidle != was_idle ||
				    (c->stuck && c->held_pages != was_held))
					rebalance(L);
			}
			break;
		default:
			break;
		}
	}
}

void limits_remove(struct limits *L, pid_t pid, int64_t now_ms)
{
	size_t i;
	for (i = 0; i < L->nconns; i++)
		if (L->conns[i]->pid == pid)
			break;
	if (i == L->nconns)
		return;
	struct limits_conn *c = L->conns[i];
	L->conns[i] = L->conns[--L->nconns];
	bool had_slot = c->has_slot;
	/* admitted before it asked, and gone without asking: no source nor chain counts it */
	if (c->pregranted && c->state == LIMITS_NEW)
		L->unasked--;
	if (c->state == LIMITS_QUEUED) {
		c->src->queued--;
		c->chn->queued--;
		L->queued--;
	}
	if (had_slot) {
		if (c->src)
			c->src->running--;
		if (c->chn)
			c->chn->running--;
		L->running--;
	}
	if (c->src) {
		struct limits_conn **pp = &c->src->first, *prev = NULL;
		while (*pp && *pp != c) {
			prev = *pp;
			pp = &(*pp)->src_next;
		}
		if (*pp) {
			*pp = c->src_next;
			if (c->src->last == c)
				c->src->last = prev;
		}
		c->src->refs--;
		c->chn->refs--;
		group_drop_if_unused(L->sources, &L->nsources, c->src);
		group_drop_if_unused(L->chains, &L->nchains, c->chn);
	}
	if (c->chan >= 0)
		close(c->chan);
	free(c);
	if (had_slot) {
		release_behind_unasked(L, now_ms);
		schedule(L, now_ms);
		rebalance(L);
	}
}

int limits_expire(struct limits *L, int64_t now_ms)
{
	int64_t next = -1;
	for (size_t i = 0; i < L->nconns && L->queued > 0; i++) {
		struct limits_conn *c = L->conns[i];
		if (c->state != LIMITS_QUEUED || c->behind_unasked)
			continue;
		if (c->deadline_ms <= now_ms) {
			deny(L, c, LIMITS_DENY_TIMEOUT, c->block, now_ms);
			continue;
		}
		int64_t left = c->deadline_ms - now_ms;
		if (next < 0 || left < next)
			next = left;
	}
	return next < 0 ? -1 : next > 0x7fffffff ? 0x7fffffff : (int)next;
}
