/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Limits that queue, and pipes within a budget (orchestrator/connlimits):
 * unit tests of the listener's book over real socketpairs, then end to
 * end through the real daemon: a source at its limit waits while another
 * source is served, a chain's limits hold, the queue timeout refuses, a
 * caller that leaves the queue is gone, and 64 transfers at once keep
 * their pipes at the size the budget gives them.
 */
#include <check.h>
#include <linux/capability.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "timeout.h"
#include "connlimits.h"
#include "hash.h"
#include "testutil.h"

/* ---- the book, on its own ---- */

enum { MAXC = 16 };
static struct limits book;
static int sup[MAXC];                  /* the supervisors' ends */
static struct limits_conn *conns[MAXC];

static void book_init(int max_connections, int max_per_source, int max_queued_per_source)
{
	struct limits_opts o = {
		.max_connections = max_connections,
		.max_per_source = max_per_source,
		.max_queued = 100,
		.max_queued_per_source = max_queued_per_source,
		.queue_timeout_ms = 30000,
		.pipe_memory = 1 << 20,
		.pipe_size = 1 << 20,
	};
	ck_assert_int_eq(limits_init(&book, &o), 0);
	memset(conns, 0, sizeof(conns));
}

/* connection I in the book, accepted at NOW, with its admission channel (its supervisor's end in sup[I]) */
static void book_add(int i, int64_t now)
{
	int sv[2];
	char id[17];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	snprintf(id, sizeof(id), "%016d", i);
	conns[i] = limits_add(&book, id, 1000 + i, sv[0], now * 1000000);
	ck_assert_ptr_nonnull(conns[i]);
	sup[i] = sv[1];
}

/* connection I asks, as its supervisor would */
static void ask(int i, const char *source, const char *chain, int chain_max, int chain_per_source, int qto,
		int64_t now)
{
	book_add(i, now);
	struct limits_msg m = { .type = LIMITS_ASK, .chain_max = chain_max, .chain_max_per_source = chain_per_source,
				.queue_timeout_ms = qto, .ndata = 4, .naux = 4 };
	snprintf(m.source, sizeof(m.source), "%s", source);
	snprintf(m.chain, sizeof(m.chain), "%s", chain);
	snprintf(m.target, sizeof(m.target), "dst");
	snprintf(m.service, sizeof(m.service), "svc");
	ck_assert_int_eq(limits_send(sup[i], &m), 0);
	limits_on_readable(&book, conns[i], now);
}

/*
 * What connection I was told since last asked: its grant or refusal if it
 * got one, else the last resize, else 0; *M gets that message.
 */
static uint32_t told(int i, struct limits_msg *m)
{
	uint32_t t = 0;
	struct limits_msg x;
	while (limits_recv(sup[i], &x) == 0) {
		if (t == LIMITS_GRANT || t == LIMITS_DENY)
			continue;
		t = x.type;
		if (m)
			*m = x;
	}
	return t;
}

/* connection I's supervisor has ended */
static void gone(int i, int64_t now)
{
	close(sup[i]);
	limits_remove(&book, 1000 + i, now);
	conns[i] = NULL;
}

static void book_end(void)
{
	for (int i = 0; i < MAXC; i++)
		if (conns[i])
			close(sup[i]);
	limits_free(&book);
}

START_TEST(test_book_source_waits_others_go_first)
{
	/* a source at its limit waits; another source is not held up */
	book_init(10, 2, 8);
	ask(0, "a", "c", 0, 0, -1, 1);
	ask(1, "a", "c", 0, 0, -1, 1);
	ck_assert_uint_eq(told(0, NULL), LIMITS_GRANT);
	ck_assert_uint_eq(told(1, NULL), LIMITS_GRANT);
	ask(2, "a", "c", 0, 0, -1, 2);
	ck_assert_uint_eq(told(2, NULL), 0);
	ck_assert_int_eq(conns[2]->state, LIMITS_QUEUED);
	ck_assert_int_eq(conns[2]->block, LIMITS_BY_SOURCE);
	ask(3, "b", "c", 0, 0, -1, 3);
	ck_assert_uint_eq(told(3, NULL), LIMITS_GRANT);
	gone(0, 7);
	struct limits_msg m;
	ck_assert_uint_eq(told(2, &m), LIMITS_GRANT);
	ck_assert_int_eq(m.waited_ms, 5);
	book_end();

	/* the daemon full: a freed slot goes to the source running the fewest, then to the oldest call */
	book_init(3, 8, 8);
	for (int i = 0; i < 3; i++) {
		ask(i, "a", "c", 0, 0, -1, 1);
		ck_assert_uint_eq(told(i, NULL), LIMITS_GRANT);
	}
	ask(3, "a", "c", 0, 0, -1, 2);
	ask(4, "a", "c", 0, 0, -1, 2);
	ask(5, "b", "c", 0, 0, -1, 3);
	ck_assert_int_eq(conns[5]->block, LIMITS_BY_TOTAL);
	ck_assert_int_eq(book.queued, 3);
	ck_assert_int_eq(book.running, 3);
	gone(0, 4);
	ck_assert_uint_eq(told(5, NULL), LIMITS_GRANT);
	ck_assert_uint_eq(told(3, NULL), 0);
	gone(1, 5);
	ck_assert_uint_eq(told(3, NULL), LIMITS_GRANT);
	ck_assert_uint_eq(told(4, NULL), 0);
	gone(5, 6);
	ck_assert_uint_eq(told(4, NULL), LIMITS_GRANT);
	ck_assert_int_eq(book.queued, 0);
	book_end();
}
END_TEST


/* connection I, handed over alone: admitted before it asks (limits_pregrant) */
static void add_alone(int i, int64_t now)
{
	book_add(i, now);
	ck_assert(limits_pregrant(&book, conns[i]));
}

/* connection I, added already, asks */
static void ask_again(int i, const char *source, const char *chain, int qto, int64_t now)
{
	struct limits_msg m = { .type = LIMITS_ASK, .queue_timeout_ms = qto, .ndata = 4, .naux = 4 };
	snprintf(m.source, sizeof(m.source), "%s", source);
	snprintf(m.chain, sizeof(m.chain), "%s", chain);
	snprintf(m.target, sizeof(m.target), "dst");
	snprintf(m.service, sizeof(m.service), "svc");
	ck_assert_int_eq(limits_send(sup[i], &m), 0);
	limits_on_readable(&book, conns[i], now);
}

START_TEST(test_book_admitted_before_asking)
{
	/* one per source: the first call, alone, runs before it says whose it is */
	book_init(10, 1, 8);
	add_alone(0, 1);
	ck_assert_int_eq(book.running, 1);
	ck_assert_int_eq(book.unasked, 1);
	ck_assert_uint_eq(told(0, NULL), 0);
	/* meanwhile any other call may be of its source: b's waits (not refused, though it would not wait), a's too */
	ask(1, "b", "c", 0, 0, 0, 2);
	ck_assert_uint_eq(told(1, NULL), 0);
	ck_assert_int_eq(conns[1]->state, LIMITS_QUEUED);
	ask(2, "a", "c", 0, 0, 1000, 2);
	ck_assert_uint_eq(told(2, NULL), 0);
	ck_assert_int_eq(limits_expire(&book, 3000), -1);
	/* it asks, as a's: it is granted (its pipes' share), b's goes, a's waits on its source now */
	struct limits_msg m;
	ask_again(0, "a", "c", -1, 4000);
	ck_assert_uint_eq(told(0, &m), LIMITS_GRANT);
	ck_assert_uint_gt(m.data_pipe, 0);
	ck_assert_int_eq(book.unasked, 0);
	ck_assert_uint_eq(told(1, NULL), LIMITS_GRANT);
	ck_assert_uint_eq(told(2, NULL), 0);
	ck_assert_int_eq(conns[2]->block, LIMITS_BY_SOURCE);
	ck_assert_int_eq(book.running, 2);
	/* a's first ends: its second goes */
	gone(0, 4001);
	ck_assert_uint_eq(told(2, NULL), LIMITS_GRANT);
	book_end();

	/* not alone: never admitted ahead */
	book_init(10, 8, 8);
	ask(0, "a", "c", 0, 0, -1, 1);
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	conns[1] = limits_add(&book, "0000000000000001", 1001, sv[0], 1000000);
	sup[1] = sv[1];
	ck_assert(!limits_pregrant(&book, conns[1]));
	ck_assert_int_eq(book.running, 1);
	book_end();

	/* the daemon full for sure: refused at once as ever */
	book_init(1, 8, 8);
	add_alone(0, 1);
	ask(1, "b", "c", 0, 0, 0, 2);
	ck_assert_uint_eq(told(1, &m), LIMITS_DENY);
	ck_assert_uint_eq(m.block, LIMITS_BY_TOTAL);
	book_end();

	/* one that goes without asking (refused before) frees what waited on it */
	book_init(2, 1, 8);
	add_alone(0, 1);
	ask(1, "b", "c", 0, 0, 0, 2);
	ck_assert_uint_eq(told(1, NULL), 0);
	close(sup[0]);
	limits_on_readable(&book, conns[0], 3);
	ck_assert_int_eq(book.unasked, 0);
	ck_assert_uint_eq(told(1, NULL), LIMITS_GRANT);
	limits_remove(&book, 1000, 4);
	conns[0] = NULL;
	ck_assert_int_eq(book.running, 1);
	book_end();
}
END_TEST

START_TEST(test_book_chain_limits)
{
	book_init(100, 100, 8);
	/* chain x: 2 at once in all, 1 per source */
	ask(0, "a", "x", 2, 1, -1, 1);
	ck_assert_uint_eq(told(0, NULL), LIMITS_GRANT);
	ask(1, "a", "x", 2, 1, -1, 1);
	ck_assert_int_eq(conns[1]->block, LIMITS_BY_CHAIN_SOURCE);
	/* the same source through another chain is not held behind it */
	ask(2, "a", "y", 0, 0, -1, 1);
	ck_assert_uint_eq(told(2, NULL), LIMITS_GRANT);
	ask(3, "b", "x", 2, 1, -1, 1);
	ck_assert_uint_eq(told(3, NULL), LIMITS_GRANT);
	ask(4, "c", "x", 2, 1, -1, 1);
	ck_assert_int_eq(conns[4]->block, LIMITS_BY_CHAIN);
	/* a's x ends: c (running none) goes before a's second */
	gone(0, 2);
	ck_assert_uint_eq(told(4, NULL), LIMITS_GRANT);
	ck_assert_uint_eq(told(1, NULL), 0);
	gone(3, 3);
	ck_assert_uint_eq(told(1, NULL), LIMITS_GRANT);
	book_end();
}
END_TEST

START_TEST(test_book_timeouts_and_full_queues)
{
	book_init(1, 8, 2);
	ask(0, "a", "c", 0, 0, -1, 0);
	ck_assert_uint_eq(told(0, NULL), LIMITS_GRANT);
	/* queue_timeout 0: refused at once */
	struct limits_msg m;
	ask(1, "b", "c", 0, 0, 0, 10);
	ck_assert_uint_eq(told(1, &m), LIMITS_DENY);
	ck_assert_uint_eq(m.code, LIMITS_DENY_TIMEOUT);
	ck_assert_uint_eq(m.block, LIMITS_BY_TOTAL);
	ck_assert_int_eq(m.limit, 1);
	/* b may have two waiting, not three */
	ask(2, "b", "c", 0, 0, 500, 10);
	ask(3, "b", "c", 0, 0, 1000, 10);
	ask(4, "b", "c", 0, 0, 1000, 10);
	ck_assert_uint_eq(told(2, NULL), 0);
	ck_assert_uint_eq(told(3, NULL), 0);
	ck_assert_uint_eq(told(4, &m), LIMITS_DENY);
	ck_assert_uint_eq(m.code, LIMITS_DENY_FULL);
	/* deadlines */
	ck_assert_int_eq(limits_expire(&book, 100), 410);
	ck_assert_int_eq(limits_expire(&book, 510), 500);
	ck_assert_uint_eq(told(2, &m), LIMITS_DENY);
	ck_assert_uint_eq(m.code, LIMITS_DENY_TIMEOUT);
	ck_assert_int_eq(m.waited_ms, 500);
	ck_assert_uint_eq(told(3, NULL), 0);
	/* a waiting supervisor that goes away leaves the queue: the slot is not given to it */
	close(sup[3]);
	limits_on_readable(&book, conns[3], 600);
	conns[3] = NULL;
	ck_assert_int_eq(book.queued, 0);
	ck_assert_int_eq(limits_expire(&book, 700), -1);
	book_end();
}
END_TEST

START_TEST(test_book_pipe_shares)
{
	/* 1 MiB for pipes; 4 data pipes and 4 pages of others per connection */
	book_init(100, 100, 8);
	unsigned page = book.page;
	unsigned budget = (1u << 20) / page;
	struct limits_msg m;
	ask(0, "a", "c", 0, 0, -1, 1);
	ck_assert_uint_eq(told(0, &m), LIMITS_GRANT);
	/* alone: the largest power of two of pages that fits */
	unsigned d = 1;
	while (d * 2 <= 256 && 4 * d * 2 + 4 <= budget)
		d *= 2;
	ck_assert_uint_eq(m.data_pipe, d * page);
	ck_assert_uint_eq(m.aux_pipe, LIMITS_AUX_PIPE);
	/* a second: both get half; the first is told */
	ask(1, "b", "c", 0, 0, -1, 1);
	ck_assert_uint_eq(told(1, &m), LIMITS_GRANT);
	ck_assert_uint_eq(m.data_pipe, d / 2 * page);
	ck_assert_uint_eq(told(0, &m), LIMITS_RESIZE);
	ck_assert_uint_eq(m.data_pipe, d / 2 * page);
	ck_assert_uint_eq(limits_pipe_pages(&book), d / 2);
	/* the first says its pipes are too full to shrink: the others make room */
	struct limits_msg st = { .type = LIMITS_STATE, .state = LIMITS_RUNNING, .code = 1, .held_pages = budget - 56 };
	ck_assert_int_eq(limits_send(sup[0], &st), 0);
	limits_on_readable(&book, conns[0], 2);
	ck_assert_uint_eq(told(1, &m), LIMITS_RESIZE);
	ck_assert_uint_lt(m.data_pipe, d / 2 * page);
	/* it has shrunk after all; then it ends: the other grows back to all of it */
	st.code = 0;
	st.held_pages = 2 * d;
	ck_assert_int_eq(limits_send(sup[0], &st), 0);
	limits_on_readable(&book, conns[0], 3);
	ck_assert_uint_eq(told(1, &m), LIMITS_RESIZE);
	ck_assert_uint_eq(m.data_pipe, d / 2 * page);
	gone(0, 4);
	ck_assert_uint_eq(told(1, &m), LIMITS_RESIZE);
	ck_assert_uint_eq(m.data_pipe, d * page);
	/* what a status command reads */
	ck_assert_uint_eq(book.nconns, 1);
	ck_assert_str_eq(book.conns[0]->source, "b");
	ck_assert_str_eq(book.conns[0]->chain, "c");
	ck_assert_str_eq(book.conns[0]->target, "dst");
	ck_assert_str_eq(limits_state_name(book.conns[0]->state), "admitting");
	book_end();
}
END_TEST

/* the sizes connection I was last given (its grant or a resize since), in pages: data pipes, and how many twice that */
static void sizes_of(int i, unsigned *d, unsigned *nbig)
{
	struct limits_msg x;
	while (limits_recv(sup[i], &x) == 0) {
		if (x.type != LIMITS_GRANT && x.type != LIMITS_RESIZE)
			continue;
		*d = x.data_pipe / book.page;
		*nbig = x.big_pipes;
	}
}

/*
 * The kernel sizes pipes in powers of two of pages: with one size for
 * all, up to half the budget would lie unused. What is left goes to pipes
 * of twice the size, spread over the connections, within the budget.
 */
START_TEST(test_book_pipe_rest)
{
	book_init(100, 100, 8);
	unsigned budget = (1u << 20) / book.page; /* 4 data pipes and 4 pages of others each */
	unsigned d[MAXC] = { 0 }, nbig[MAXC] = { 0 };
	for (int n = 1; n <= 12; n++) {
		char src[8];
		snprintf(src, sizeof(src), "s%d", n - 1);
		ask(n - 1, src, "c", 0, 0, -1, n);
		uint64_t used = 0;
		unsigned least = 1000, most = 0;
		for (int i = 0; i < n; i++) {
			sizes_of(i, &d[i], &nbig[i]);
			ck_assert_uint_eq(d[i], d[0]);
			ck_assert_uint_le(nbig[i], 4);
			/* the book says what it told */
			ck_assert_uint_eq(conns[i]->data_pages, d[i]);
			ck_assert_uint_eq(conns[i]->nbig, nbig[i]);
			used += 4 * d[i] + nbig[i] * d[i] + 4;
			least = nbig[i] < least ? nbig[i] : least;
			most = nbig[i] > most ? nbig[i] : most;
		}
		ck_assert_msg(used <= budget, "%d connections: %llu pages of %u", n, (unsigned long long)used, budget);
		/* nothing left over that would make one more pipe twice the size (within --pipe-size) */
		if (2 * d[0] <= 256 && least < 4)
			ck_assert_msg(budget - used < d[0], "%d connections: %llu pages of %u used, pipes of %u", n,
				      (unsigned long long)used, budget, d[0]);
		/* spread evenly */
		ck_assert_uint_le(most - least, 1);
	}
	/* one of them turns out a one-way transfer: two of its pipes hold a page, and get no more */
	struct limits_msg st = { .type = LIMITS_STATE, .state = LIMITS_RUNNING, .idle_pipes = 2, .held_pages = 2 * d[0] + 2 };
	ck_assert_int_eq(limits_send(sup[0], &st), 0);
	limits_on_readable(&book, conns[0], 20);
	sizes_of(0, &d[0], &nbig[0]);
	ck_assert_uint_le(nbig[0], 2);
	/* all but one end: it has the largest pipes --pipe-size allows that fit, and what is left on top */
	for (int i = 1; i < 12; i++)
		gone(i, 30 + i);
	sizes_of(0, &d[0], &nbig[0]);
	ck_assert_uint_eq(d[0], 64);          /* 2 * 64 + 2 + 4 fits, 2 * 128 + 6 does not */
	ck_assert_uint_eq(nbig[0], 1);        /* 2 * 64 + 64 + 6 fits, + 64 does not */
	book_end();
}
END_TEST

START_TEST(test_book_idle_direction_pipes)
{
	/* 1 MiB for pipes; 4 data pipes (2 each way) and 4 pages of others per connection */
	book_init(100, 100, 8);
	unsigned page = book.page, budget = (1u << 20) / page;
	struct limits_msg m;
	ask(0, "a", "c", 0, 0, -1, 1);
	ck_assert_uint_eq(told(0, &m), LIMITS_GRANT);
	ask(1, "b", "c", 0, 0, -1, 1);
	ck_assert_uint_eq(told(0, &m), LIMITS_RESIZE);
	unsigned both = m.data_pipe / page;
	ck_assert_uint_eq(told(1, &m), LIMITS_GRANT);
	ck_assert_uint_eq(m.data_pipe / page, both);
	ck_assert_uint_le(2 * (4 * both + 4), budget);
	/* the first is a one-way transfer: its 2 silent pipes hold a page each, the busy ones get more */
	struct limits_msg st = { .type = LIMITS_STATE, .state = LIMITS_RUNNING, .idle_pipes = 2, .held_pages = 2 * both + 2 };
	ck_assert_int_eq(limits_send(sup[0], &st), 0);
	limits_on_readable(&book, conns[0], 2);
	/* (2d + 2 + 4) + (4d + 4) pages: the largest power of two that fits */
	unsigned d = 1;
	while (d * 2 <= 256 && 6 * d * 2 + 10 <= budget)
		d *= 2;
	ck_assert_uint_gt(d, both);
	ck_assert_uint_eq(told(0, &m), LIMITS_RESIZE);
	ck_assert_uint_eq(m.data_pipe / page, d);
	ck_assert_uint_eq(told(1, &m), LIMITS_RESIZE);
	ck_assert_uint_eq(m.data_pipe / page, d);
	/* an idle count past its data pipes is taken as all of them, never more */
	st.idle_pipes = 1000;
	ck_assert_int_eq(limits_send(sup[1], &st), 0);
	limits_on_readable(&book, conns[1], 3);
	ck_assert_uint_eq(conns[1]->nidle, 4);
	/* the silent direction starts to carry data: back to an equal share */
	st.idle_pipes = 0;
	st.held_pages = 4 * d;
	ck_assert_int_eq(limits_send(sup[0], &st), 0);
	limits_on_readable(&book, conns[0], 4);
	ck_assert_int_eq(limits_send(sup[1], &st), 0);
	limits_on_readable(&book, conns[1], 4);
	ck_assert_uint_eq(told(0, &m), LIMITS_RESIZE);
	ck_assert_uint_eq(m.data_pipe / page, both);
	ck_assert_uint_eq(told(1, &m), LIMITS_RESIZE);
	ck_assert_uint_eq(m.data_pipe / page, both);
	book_end();
}
END_TEST

/* ---- end to end ---- */

static const char config_body[] =
	"connector: [\"@B@/t/fake-connector\", \"{target}\", \"{service}\"]\n"
	"filter_path: [\"@B@/filters\"]\n"
	"chains:\n"
	"  pass1: {filters: [pass]}\n"
	"  direct: {filters: []}\n"
	"  lim2: {filters: [pass], max_connections: 2}\n"
	"  lim1ps: {filters: [], max_per_source: 1}\n"
	"  quick: {filters: [], max_connections: 1, queue_timeout: 1}\n"
	"  nowait: {filters: [], max_connections: 1, queue_timeout: 0}\n"
	"  env:\n"
	"    max_connections: 1\n"
	"    filters:\n"
	"      - name: \"@B@/t/test-filter\"\n"
	"        args: [env]\n"
	"        direction: src2dst\n";

static struct daemon d;

static int open_call(const char *chain, const char *source, const char *tag)
{
	char desc[256];
	snprintf(desc, sizeof(desc), "qrexec-proxy+%s+target-vm+test.Echo+%s %s", chain, tag, source);
	return call_open(&d, desc);
}

/* one byte there and back, within the deadline */
static bool roundtrip(int fd, char c)
{
	char r = 0;
	if (send(fd, &c, 1, MSG_NOSIGNAL) != 1)
		return false;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, wait_ms(0)) != 1)
		return false;
	return read(fd, &r, 1) == 1 && r == c;
}

/* a running call: its first byte has come back */
static int open_running(const char *chain, const char *source, const char *tag)
{
	int fd = open_call(chain, source, tag);
	ck_assert_msg(roundtrip(fd, 'x'), "call %s through %s from %s: no echo", tag, chain, source);
	return fd;
}

/* whether the connector of the call tagged TAG has been started */
static bool started(const char *tag)
{
	char needle[64];
	snprintf(needle, sizeof(needle), "test.Echo+%s ", tag);
	return file_count(d.connlog, needle) > 0;
}

/* the end of a call: half-close, the rest of the echo, EOF */
static void end_call(int fd)
{
	char buf[256];
	shutdown(fd, SHUT_WR);
	struct pollfd p = { .fd = fd, .events = POLLIN };
	for (;;) {
		ck_assert_int_eq(poll(&p, 1, wait_ms(0)), 1);
		ssize_t n = read(fd, buf, sizeof(buf));
		ck_assert_int_ge(n, 0);
		if (n == 0)
			break;
	}
	close(fd);
}

/* waits for the summary of the call tagged TAG; returns it (malloc'ed) */
static char *summary_with(const char *needle)
{
	int64_t end = now_ms() + wait_ms(0);
	for (;;) {
		char *log = file_read(d.log);
		for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
			if (strstr(line, needle) && strstr(line, " result=")) {
				char *r = strdup(line);
				free(log);
				return r;
			}
		}
		free(log);
		ck_assert_msg(now_ms() < end, "no summary with %s", needle);
		poll(NULL, 0, 20);
	}
}

static char *summary_of(const char *tag)
{
	char needle[64];
	snprintf(needle, sizeof(needle), "service=test.Echo+%s ", tag);
	return summary_with(needle);
}

static void assert_summary(const char *tag, const char *want)
{
	char *s = summary_of(tag);
	ck_assert_msg(strstr(s, want), "summary of %s: want %s: %s", tag, want, s);
	free(s);
}

START_TEST(test_source_at_its_limit_waits_others_served)
{
	static const char *const extra[] = { "--max-per-source", "2", NULL };
	daemon_start(&d, config_body, extra);
	/* a baseline: one call's set-up on an idle daemon */
	int64_t t = now_ms();
	int c0 = open_running("pass1", "idle-vm", "c0");
	int64_t alone_ms = now_ms() - t;
	end_call(c0);

	int a1 = open_running("pass1", "a-vm", "a1");
	int a2 = open_running("pass1", "a-vm", "a2");
	int a3 = open_call("pass1", "a-vm", "a3");
	ck_assert_int_eq(send(a3, "y", 1, MSG_NOSIGNAL), 1);
	ck_assert_int_eq(file_wait_count(d.log, "waits for a slot: max-per-source (2)", 1, 0), 1);
	int a4 = open_call("pass1", "a-vm", "a4");
	ck_assert_int_eq(file_wait_count(d.log, "waits for a slot", 2, 0), 2);

	/* another source: served while a's wait, in about the time of a call alone */
	t = now_ms();
	int b1 = open_running("pass1", "b-vm", "b1");
	int64_t b_ms = now_ms() - t;
	ck_assert(!started("a3") && !started("a4"));
	printf("limits: set-up alone %lld ms; another source's while one waits at its limit %lld ms\n",
	       (long long)alone_ms, (long long)b_ms);
	end_call(b1);

	/* a slot of a's frees: its waiting calls run, in the order they came */
	end_call(a1);
	char y = 0;
	struct pollfd p = { .fd = a3, .events = POLLIN };
	ck_assert_int_eq(poll(&p, 1, wait_ms(0)), 1);
	ck_assert_int_eq(read(a3, &y, 1), 1);
	ck_assert_int_eq(y, 'y');
	ck_assert(!started("a4"));
	end_call(a2);
	ck_assert(roundtrip(a4, 'z'));
	end_call(a3);
	end_call(a4);
	assert_summary("a3", "result=ok");
	assert_summary("a4", "result=ok");
	char *s = summary_of("a3");
	ck_assert_msg(!strstr(s, "queued=0.000s"), "a3 waited: %s", s);
	free(s);
	assert_summary("b1", "queued=0.000s");
	daemon_teardown(&d);
}
END_TEST

/* qrexec-proxy ARGS; its standard output, NUL-terminated (the caller frees it), and its exit code in *RC */
static char *run_capture(const char *const *args, int *rc)
{
	char prog[512];
	snprintf(prog, sizeof(prog), "%s/qrexec-proxy", getenv("QP_BUILDDIR"));
	const char *argv[16] = { prog };
	int n = 1;
	for (int i = 0; args[i] && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execv(prog, (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	size_t cap = 65536, len = 0;
	char *out = malloc(cap);
	ck_assert_ptr_nonnull(out);
	ssize_t r;
	while ((r = read(p[0], out + len, cap - 1 - len)) > 0)
		len += (size_t)r;
	out[len] = '\0';
	close(p[0]);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	*rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	return out;
}

START_TEST(test_status_shows_queued_and_running)
{
	static const char *const extra[] = { "--max-per-source", "1", NULL };
	daemon_start(&d, config_body, extra);
	int a1 = open_running("pass1", "a-vm", "a1");
	/* some bytes each way, which the supervisor reports to the book about once a second */
	for (int i = 0; i < 5; i++)
		ck_assert(roundtrip(a1, 'b'));
	int a2 = open_call("pass1", "a-vm", "a2");
	ck_assert_int_eq(file_wait_count(d.log, "waits for a slot", 1, 0), 1);

	const char *text_args[] = { "status", "--socket", d.sock, NULL };
	const char *json_args[] = { "status", "--socket", d.sock, "--json", NULL };
	char *out = NULL;
	int rc = -1;
	for (int64_t end = now_ms() + wait_ms(0); now_ms() < end; poll(NULL, 0, 100)) {
		free(out);
		out = run_capture(json_args, &rc);
		if (rc == 0 && strstr(out, "\"state\":\"queued\"") && strstr(out, "\"bytes_src2dst\":6,\"bytes_dst2src\":6"))
			break;
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_msg(strstr(out, "\"running\":1,\"queued\":1,"), "%s", out);
	ck_assert_msg(strstr(out, "\"state\":\"running\",\"source\":\"a-vm\",\"chain\":\"pass1\",\"target\":\"target-vm\",\"service\":\"test.Echo+a1\""), "%s", out);
	ck_assert_msg(strstr(out, "\"bytes_src2dst\":6,\"bytes_dst2src\":6"), "the running call's bytes: %s", out);
	ck_assert_msg(strstr(out, "\"state\":\"queued\",\"source\":\"a-vm\",\"chain\":\"pass1\",\"target\":\"target-vm\",\"service\":\"test.Echo+a2\""), "%s", out);
	ck_assert_msg(strstr(out, "\"waiting_for\":"), "%s", out);
	ck_assert_msg(strstr(out, "\"chains\":[{\"name\":\"pass1\",\"running\":1,\"queued\":1}]"), "%s", out);
	ck_assert_msg(strstr(out, "\"sources\":[{\"name\":\"a-vm\",\"running\":1,\"queued\":1}]"), "%s", out);
	free(out);

	out = run_capture(text_args, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_msg(strstr(out, "CONNECTION") && strstr(out, "test.Echo+a1") && strstr(out, "test.Echo+a2"), "%s", out);
	ck_assert_msg(strstr(out, "1 running, 1 queued"), "%s", out);
	free(out);

	/* only root and the daemon's own user may ask: the socket is 0600 */
	char control[400];
	snprintf(control, sizeof(control), "%s.control", d.sock);
	struct stat st;
	ck_assert_int_eq(stat(control, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	/* and a process of another user (nobody, as sandboxes of a root daemon run) cannot even connect */
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(2);
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		if (strlen(control) >= sizeof(sa.sun_path))
			_exit(4);
		memcpy(sa.sun_path, control, strlen(control) + 1);
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0)
			_exit(3);
		_exit(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno == EACCES ? 0 : 1);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "another user reached the control socket (status 0x%x)",
		      (unsigned)status);

	/* the calls go on as before: the daemon answered without holding anything up */
	ck_assert(roundtrip(a1, 'c'));
	end_call(a1);
	ck_assert(roundtrip(a2, 'd'));
	end_call(a2);
	daemon_teardown(&d);
}
END_TEST

START_TEST(test_chain_limits_hold)
{
	daemon_start(&d, config_body, NULL);
	int x = open_running("lim2", "x-vm", "x");
	int y = open_running("lim2", "y-vm", "y");
	int z = open_call("lim2", "z-vm", "z");
	ck_assert_int_eq(file_wait_count(d.log, "waits for a slot: the chain's max_connections (2)", 1, 0), 1);
	/* other chains are not held, not even for the same source */
	int z2 = open_running("pass1", "z-vm", "z2");
	ck_assert(!started("z"));
	end_call(z2);
	end_call(x);
	ck_assert(roundtrip(z, 'z'));

	/* max_per_source: one per source through lim1ps; other sources go on */
	int p1 = open_running("lim1ps", "x-vm", "p1");
	int p2 = open_call("lim1ps", "x-vm", "p2");
	ck_assert_int_eq(file_wait_count(d.log, "waits for a slot: the chain's max_per_source (1)", 1, 0), 1);
	int p3 = open_running("lim1ps", "y-vm", "p3");
	ck_assert(!started("p2"));
	end_call(p1);
	ck_assert(roundtrip(p2, 'p'));
	end_call(p2);
	end_call(p3);
	end_call(y);
	end_call(z);
	assert_summary("z", "result=ok");
	assert_summary("p2", "result=ok");
	daemon_teardown(&d);
}
END_TEST

START_TEST(test_queue_timeout_refuses)
{
	static const char *const extra[] = { "--max-queued-per-source", "1", NULL };
	daemon_start(&d, config_body, extra);
	int h = open_running("quick", "x-vm", "h");
	/* waits its second, then the caller sees EOF and nothing else */
	int64_t t = now_ms();
	int q = open_call("quick", "y-vm", "q");
	assert_refused(q);
	int64_t waited = now_ms() - t;
	ck_assert_msg(waited >= 900, "refused after %lld ms, before its queue timeout", (long long)waited);
	assert_summary("q", "result=queue-timeout");
	ck_assert(!started("q"));

	/* queue_timeout: 0 refuses at once */
	int n0 = open_running("nowait", "x-vm", "n0");
	int n1 = open_call("nowait", "y-vm", "n1");
	assert_refused(n1);
	assert_summary("n1", "result=queue-timeout");

	/* y may have one call waiting, not two */
	int w1 = open_call("quick", "y-vm", "w1");
	ck_assert_int_eq(file_wait_count(d.log, "waits for a slot", 2, 0), 2);
	int w2 = open_call("quick", "y-vm", "w2");
	assert_refused(w2);
	assert_summary("w2", "result=queue-full");
	assert_refused(w1);
	assert_summary("w1", "result=queue-timeout");
	ck_assert(!started("w1") && !started("w2"));
	end_call(h);
	end_call(n0);
	daemon_teardown(&d);
}
END_TEST

START_TEST(test_caller_gone_while_waiting)
{
	static const char *const extra[] = { "--max-per-source", "1", NULL };
	daemon_start(&d, config_body, extra);
	int a1 = open_running("direct", "a-vm", "g1");
	int a2 = open_call("direct", "a-vm", "g2");
	ck_assert_int_eq(file_wait_count(d.log, "waits for a slot", 1, 0), 1);
	close(a2);
	assert_summary("g2", "result=caller-gone");
	assert_summary("g2", "waiting for a slot");
	/* its place is not given to it: the next one runs */
	end_call(a1);
	int a3 = open_running("direct", "a-vm", "g3");
	end_call(a3);
	ck_assert(!started("g2"));
	daemon_teardown(&d);
}
END_TEST

START_TEST(test_filters_never_hold_the_channel)
{
	daemon_start(&d, config_body, NULL);
	/* env is limited to one: the second waits, then runs; neither filter sees more than 0-2 */
	int e1 = open_call("env", "a-vm", "e1");
	int64_t end = now_ms() + wait_ms(0);
	while (!started("e1") && now_ms() < end)
		poll(NULL, 0, 20);
	ck_assert(started("e1"));
	int e2 = open_call("env", "b-vm", "e2");
	ck_assert_int_eq(file_wait_count(d.log, "waits for a slot", 1, 0), 1);
	for (int k = 0; k < 2; k++) {
		int fd = k == 0 ? e1 : e2;
		static char buf[65536];
		size_t got = 0;
		ssize_t n;
		shutdown(fd, SHUT_WR);
		while ((n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
			got += (size_t)n;
		buf[got] = '\0';
		close(fd);
		ck_assert_msg(strstr(buf, "fd 0\nfd 1\nfd 2\n") && !strstr(buf, "fd 3\n"), "%s", buf);
	}
	daemon_teardown(&d);
}
END_TEST

/* ---- pipes within the budget ---- */

static bool under_valgrind(void)
{
	const char *w = getenv("QP_DAEMON_WRAPPER");
	return w && *w;
}

/* whether UID can run the build's programs and read the configuration */
static bool can_run_as(uid_t uid, gid_t gid)
{
	pid_t pid = fork();
	if (pid == 0) {
		char prog[512];
		snprintf(prog, sizeof(prog), "%s/qrexec-proxy", builddir());
		if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
			_exit(1);
		_exit(access(prog, X_OK) == 0 ? 0 : 1);
	}
	int st;
	return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* the size of the pipe on fd FD of process PID, or -1 */
static int pipe_size_of(pid_t pid, int fd)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
	int p = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (p < 0)
		return -1;
	int sz = fcntl(p, F_GETPIPE_SZ);
	close(p);
	return sz;
}

/* the pid of the connector of the call whose service is SERVICE (from its "start" line) */
static pid_t connector_of(const char *service)
{
	char needle[128];
	snprintf(needle, sizeof(needle), "start target-vm %s ", service);
	ck_assert(file_wait_for(d.connlog, needle, wait_ms(0)));
	char *log = file_read(d.connlog);
	char *at = strstr(log, needle);
	pid_t pid = at ? (pid_t)atoi(at + strlen(needle)) : -1;
	free(log);
	ck_assert_int_gt(pid, 0);
	return pid;
}

/*
 * A one-way transfer: once one direction has moved a megabyte and the
 * other next to nothing, the silent direction's pipes hold one page and
 * the busy direction's get the share they leave, both ways round. The
 * budget (1 MiB) gives pass1's 4 data pipes 32 pages each while both
 * count; 64 each for the 2 busy ones, and what that leaves makes one of
 * them 128 (so: at least 64). The data is checked byte for byte.
 */
START_TEST(test_one_way_gives_the_idle_direction_one_page)
{
	const char *extra[] = { "--pipe-memory", "1M", NULL };
	daemon_start(&d, config_body, extra);
	long page = sysconf(_SC_PAGESIZE);
	unsigned budget = (1u << 20) / (unsigned)page, both = 1, one_way = 1;
	while (both * 2 <= 256 && 4 * both * 2 + 4 <= budget)
		both *= 2;
	while (one_way * 2 <= 256 && 2 * one_way * 2 + 2 + 4 <= budget)
		one_way *= 2;
	ck_assert_uint_gt(one_way, both);
	static char buf[256 * 1024];

	/* upload: the answer's pipes (the connector's stdout) drop to a page */
	int fd = call_open(&d, "qrexec-proxy+pass1+target-vm+test.Hash+up src-up");
	pid_t conn = connector_of("test.Hash+up");
	uint64_t seed = 7, sent = 0, h = HASH_INIT;
	int64_t end = now_ms() + wait_ms(0);
	int in = -1, out = -1;
	for (;;) {
		fill_random(&seed, buf, sizeof(buf));
		for (size_t off = 0; off < sizeof(buf);) {
			ssize_t k = write(fd, buf + off, sizeof(buf) - off);
			ck_assert_int_gt(k, 0);
			off += (size_t)k;
		}
		h = hash_update(h, buf, sizeof(buf));
		sent += sizeof(buf);
		in = pipe_size_of(conn, 0);
		out = pipe_size_of(conn, 1);
		if (in >= (int)(one_way * page) && out == (int)page)
			break;
		ck_assert_msg(now_ms() < end, "after %llu bytes up: pipes of %d (in) and %d (out) bytes, want at least %ld and %ld",
			      (unsigned long long)sent, in, out, (long)(one_way * page), page);
	}
	shutdown(fd, SHUT_WR);
	char answer[64] = "", want[64];
	size_t got = 0;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ck_assert_int_eq(poll(&p, 1, wait_ms(0)), 1);
		ssize_t k = read(fd, answer + got, sizeof(answer) - 1 - got);
		ck_assert_int_ge(k, 0);
		if (k == 0)
			break;
		got += (size_t)k;
	}
	close(fd);
	snprintf(want, sizeof(want), "%llu %016llx\n", (unsigned long long)sent, (unsigned long long)h);
	ck_assert_str_eq(answer, want);
	char *s = summary_with("service=test.Hash+up ");
	ck_assert_msg(strstr(s, " result=ok"), "%s", s);
	free(s);

	/* download: the question's pipes (the connector's stdin) drop to a page */
	fd = call_open(&d, "qrexec-proxy+pass1+target-vm+test.Generate+1000000000 src-down");
	conn = connector_of("test.Generate+1000000000");
	uint64_t gseed = 42, recvd = 0;
	static char expect[sizeof(buf)];
	end = now_ms() + wait_ms(0);
	for (;;) {
		size_t have = 0;
		while (have < sizeof(buf)) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			ck_assert_int_eq(poll(&p, 1, wait_ms(0)), 1);
			ssize_t k = read(fd, buf + have, sizeof(buf) - have);
			ck_assert_int_gt(k, 0);
			have += (size_t)k;
		}
		fill_random(&gseed, expect, sizeof(expect));
		ck_assert_msg(!memcmp(buf, expect, sizeof(buf)), "the answer differs after %llu bytes",
			      (unsigned long long)recvd);
		recvd += sizeof(buf);
		in = pipe_size_of(conn, 0);
		out = pipe_size_of(conn, 1);
		if (in == (int)page && out >= (int)(one_way * page))
			break;
		ck_assert_msg(now_ms() < end, "after %llu bytes down: pipes of %d (in) and %d (out) bytes, want %ld and at least %ld",
			      (unsigned long long)recvd, in, out, page, (long)(one_way * page));
	}
	close(fd);
	/* the summary's pipe= is the smallest share a busy pipe had, never the idle page */
	s = summary_with("service=test.Generate+1000000000 ");
	ck_assert_msg(!strstr(s, " pipe=4096"), "%s", s);
	free(s);
	ck_assert_int_eq(file_count(d.log, "the kernel gave"), 0);
	printf("limits: one-way transfers under a budget of 1M: the busy direction's pipes %u bytes, the idle one's %ld (both counted: %u)\n",
	       one_way * (unsigned)page, page, both * (unsigned)page);
	daemon_teardown(&d);
}
END_TEST

/*
 * A connection that moves nothing in its first second (held open, a slow
 * service) keeps one page per data pipe, and gets its share back once
 * data moves: a silent caller does not shrink everybody else's pipes.
 */
START_TEST(test_silent_connection_holds_one_page)
{
	const char *extra[] = { "--pipe-memory", "1M", NULL };
	daemon_start(&d, config_body, extra);
	long page = sysconf(_SC_PAGESIZE);
	unsigned budget = (1u << 20) / (unsigned)page, both = 1;
	while (both * 2 <= 256 && 4 * both * 2 + 4 <= budget)
		both *= 2;
	int fd = open_running("pass1", "src-silent", "silent");
	pid_t conn = connector_of("test.Echo+silent");
	int64_t end = now_ms() + wait_ms(0);
	int in, out;
	while ((in = pipe_size_of(conn, 0)) != (int)page || (out = pipe_size_of(conn, 1)) != (int)page) {
		ck_assert_msg(now_ms() < end, "a silent connection's pipes: %d and %d bytes, want %ld", in,
			      pipe_size_of(conn, 1), page);
		poll(NULL, 0, 20);
	}
	/* data again, both ways: echoed intact, and the pipes back at their share */
	static char buf[16384], back[16384];
	uint64_t seed = 11, moved = 0;
	end = now_ms() + wait_ms(0);
	for (;;) {
		fill_random(&seed, buf, sizeof(buf));
		ck_assert_int_eq(send(fd, buf, sizeof(buf), MSG_NOSIGNAL), (ssize_t)sizeof(buf));
		for (size_t got = 0; got < sizeof(back);) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			ck_assert_int_eq(poll(&p, 1, wait_ms(0)), 1);
			ssize_t k = read(fd, back + got, sizeof(back) - got);
			ck_assert_int_gt(k, 0);
			got += (size_t)k;
		}
		ck_assert(!memcmp(buf, back, sizeof(buf)));
		moved += sizeof(buf);
		in = pipe_size_of(conn, 0);
		out = pipe_size_of(conn, 1);
		/* at least the share: what the budget has left over makes some pipes twice that */
		if (in >= (int)(both * page) && out >= (int)(both * page))
			break;
		ck_assert_msg(now_ms() < end, "after %llu bytes each way: pipes of %d and %d bytes, want at least %ld",
			      (unsigned long long)moved, in, out, (long)(both * page));
	}
	end_call(fd);
	assert_summary("silent", "result=ok");
	printf("limits: a silent connection held pages of %ld bytes, and got %u back with data\n", page, both * (unsigned)page);
	daemon_teardown(&d);
}
END_TEST

START_TEST(test_64_transfers_keep_budgeted_pipes)
{
	enum { N = 64 };
	const uint64_t each = under_valgrind() ? 256 * 1024 : 4 << 20;
	/*
	 * The daemon unprivileged, so the kernel's soft limit on pipe memory
	 * applies: as a uid of its own when the test is root (nothing else
	 * charges pipes to it), else as the test's user, with a smaller
	 * budget, leaving room for other suites running at the same time.
	 */
	uid_t uid = geteuid();
	gid_t gid = getegid();
	if (uid == 0) {
		uid = 64977;
		gid = 64977;
		if (!can_run_as(uid, gid)) {
			printf("limits: SKIP test_64_transfers_keep_budgeted_pipes: uid %u cannot run the build's programs\n",
			       (unsigned)uid);
			return;
		}
	}
	/*
	 * Under valgrind every process of the daemon (130 here: the listener,
	 * the spare, a supervisor and a sandbox init per connection) holds a
	 * pipe of valgrind's own (its lock, 64 KiB), charged to the same user:
	 * 8 MiB the budget does not know of. With half the budget the kernel's
	 * limit (fs.pipe-user-pages-soft, 64 MiB) keeps the headroom it has
	 * without valgrind for the moment between a grant and the running
	 * supervisors' shrinking to the new share (connlimits.h), which under
	 * valgrind and six busy loops lasted long enough to reach the limit.
	 */
	int budget_mib = (geteuid() == 0 ? 32 : 8) / (under_valgrind() ? 2 : 1);
	char budget[16];
	snprintf(budget, sizeof(budget), "%dM", budget_mib);
	uint64_t budget_bytes = (uint64_t)budget_mib << 20;
	const char *extra[] = { "--pipe-memory", budget, NULL };
	daemon_start_as(&d, config_body, extra, uid, gid);

	/* every one set up first (its first byte back), then all send at once */
	int fds[N];
	for (int i = 0; i < N; i++) {
		char src[32], tag[16];
		snprintf(src, sizeof(src), "src-%d", i);
		snprintf(tag, sizeof(tag), "p%d", i);
		char desc[256];
		snprintf(desc, sizeof(desc), "qrexec-proxy+pass1+target-vm+test.Pipes %s", src);
		fds[i] = call_open(&d, desc);
		ck_assert(roundtrip(fds[i], 'x'));
	}
	pid_t kids[N];
	for (int i = 0; i < N; i++) {
		kids[i] = fork();
		ck_assert_int_ge(kids[i], 0);
		if (kids[i] == 0) {
			struct xfer x;
			call_transfer(fds[i], each, 500 + (uint64_t)i, 240000, &x);
			_exit(!x.timed_out && x.writer_status == 0 && x.recv == each && x.recv_hash == x.sent_hash ? 0 : 1);
		}
		close(fds[i]);
	}
	int ok = 0;
	for (int i = 0; i < N; i++) {
		int st;
		waitpid(kids[i], &st, 0);
		ok += WIFEXITED(st) && WEXITSTATUS(st) == 0;
	}
	ck_assert_int_eq(ok, N);
	ck_assert_int_eq(file_wait_count(d.connlog, "pipes ", N, 0), N);
	ck_assert_int_eq(file_wait_count(d.log, "result=ok", N, 0), N);

	/*
	 * The budget with all 64 running: pass1 makes 4 data pipes and 4 of
	 * one page (stderr of its 2 filters and the connector, the sandbox's
	 * events); data pipes get the largest power of two of pages that fits.
	 */
	long page = sysconf(_SC_PAGESIZE);
	uint64_t budget_pages = budget_bytes / (uint64_t)page;
	uint64_t dp = 256;
	while (dp > 1 && (uint64_t)N * (4 * dp + 4) > budget_pages)
		dp /= 2;
	int floor = (int)(dp * (uint64_t)page);
	char *conn = file_read(d.connlog);
	int lines = 0, smallest = 1 << 30, largest = 0;
	for (char *l = strtok(conn, "\n"); l; l = strtok(NULL, "\n")) {
		int pid, min_in, min_out, max_in, max_out;
		if (sscanf(l, "pipes %d %d %d %d %d", &pid, &min_in, &min_out, &max_in, &max_out) != 5)
			continue;
		lines++;
		largest = max_in > largest ? max_in : largest;
		largest = max_out > largest ? max_out : largest;
		/*
		 * Carrying data, every pipe had at least the budget's share for
		 * 64 at once. (Smaller for a moment is right: a direction that
		 * carried nothing in the pipeline's first second holds a page
		 * until data comes, as under valgrind while the 64 are set up.)
		 */
		ck_assert_msg(max_in >= floor && max_out >= floor, "pipes of at most %d and %d bytes, the budget gives %d: %s",
			      max_in, max_out, floor, l);
		ck_assert_int_le(max_in, 1 << 20);
		ck_assert_int_le(max_out, 1 << 20);
	}
	free(conn);
	ck_assert_int_eq(lines, N);
	/*
	 * And never below it when given a share (the summary's pipe=), never
	 * the kernel's 2 pages of a user over its limit. On a loaded machine
	 * a share may dip for a moment: pipes that turned busy at the share
	 * of the moment and filled before they could shrink count with what
	 * they hold (connlimits.h), and the others get less until they do.
	 * The pipes' sizes while data moved (above) must be the share all the same.
	 */
	bool idle = test_load_scale() <= 1;
	char *log = file_read(d.log);
	lines = 0;
	for (char *l = strtok(log, "\n"); l; l = strtok(NULL, "\n")) {
		char *at = strstr(l, " pipe=");
		if (!strstr(l, "result=ok") || !at)
			continue;
		lines++;
		int p = atoi(at + 6);
		smallest = p < smallest ? p : smallest;
		ck_assert_msg(p >= (idle ? floor : page), "a share of %d bytes, the budget gives %d: %s", p, floor, l);
	}
	free(log);
	ck_assert_int_eq(lines, N);
	ck_assert_int_eq(file_count(d.log, "the kernel gave"), 0);
	printf("limits: %d transfers of %llu bytes at once under a budget of %s: pipes %d to %d bytes (the share of 64: %d)\n",
	       N, (unsigned long long)each, budget, smallest, largest, floor);
	daemon_teardown(&d);
}
END_TEST

/*
 * The attack on what the connections share beyond the confinement: a
 * filter that takes its user's pipe memory (t/hostile-filter pipe-hog),
 * with the daemon unprivileged so that the kernel's soft limit applies
 * (as a uid of its own: only when the test runs as root, since it pushes
 * that user over the limit). What holds: another connection's data
 * arrives whole, its supervisor says the kernel gave its pipes less than
 * asked (never silent), and once the hog's connection has ended, the next
 * connection has its share again. (What does not: the pipes of the
 * connections made meanwhile are 2 pages; see qrexec-proxy-filter(7).)
 */
static const char config_hog[] =
	"connector: [\"@B@/t/fake-connector\", \"{target}\", \"{service}\"]\n"
	"filter_path: [\"@B@/filters\"]\n"
	"chains:\n"
	"  pass1: {filters: [pass]}\n"
	"  hog:\n"
	"    filters:\n"
	"      - name: \"@B@/t/hostile-filter\"\n"
	"        args: [pipe-hog]\n"
	"        direction: src2dst\n";

static void transfer_whole(int fd, uint64_t n, uint64_t seed)
{
	struct xfer x;
	call_transfer(fd, n, seed, wait_ms(0), &x);
	ck_assert_msg(!x.timed_out && x.writer_status == 0 && x.recv == n && x.recv_hash == x.sent_hash,
		      "a transfer of %llu bytes: %llu back, %s, writer %d", (unsigned long long)n,
		      (unsigned long long)x.recv, x.recv_hash == x.sent_hash ? "same hash" : "another hash",
		      x.writer_status);
	close(fd);
}

/*
 * The hog's attack, then another connection while it holds its pipes, then
 * one after its end. CAP: the daemon runs with CAP_SYS_RESOURCE ambient
 * (the unit's AmbientCapabilities=), or without (-1). False when the test
 * cannot run here (said).
 */
static bool pipe_hog_attack(const char *test, int cap)
{
	unsigned long soft = 0;
	FILE *f = fopen("/proc/sys/fs/pipe-user-pages-soft", "re");
	if (f) {
		if (fscanf(f, "%lu", &soft) != 1)
			soft = 0;
		fclose(f);
	}
	uid_t uid = 64977;
	gid_t gid = 64977;
	bool bounded = cap >= 0 && prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 1;
	if (geteuid() != 0 || soft == 0 || bounded || !can_run_as(uid, gid)) {
		printf("limits: SKIP %s: %s\n", test,
		       geteuid() != 0 ? "not root (the hog would take the test user's own pipe memory)"
		       : soft == 0    ? "no soft limit on pipe memory"
		       : bounded      ? "the capability is not in this machine's bounding set (a container's, or a VM's)"
				      : "uid 64977 cannot run the build's programs");
		return false;
	}
	const char *extra[] = { "--pipe-memory", "8M", NULL };
	daemon_start_as_cap(&d, config_hog, extra, uid, gid, cap);
	long page = sysconf(_SC_PAGESIZE);
	ck_assert_int_eq(file_count(d.log, "sized with CAP_SYS_RESOURCE"), cap >= 0);

	/* the hog runs its attack before it passes a byte: its echo means it is done */
	int hog = call_open(&d, "qrexec-proxy+hog+target-vm+test.Echo+hog src-hog");
	ck_assert(roundtrip(hog, 'h'));
	ck_assert(file_wait_for(d.log, "hostile: pipe-hog: done", wait_ms(0)));
	ck_assert_msg(file_count(d.log, "pipe-hog: allowed") == 1 && file_count(d.log, "over the limit (new pipes get 2 pages)") == 1,
		      "the hog did not get its user over fs.pipe-user-pages-soft (%lu pages)", soft);
	/* the daemon's exemption is not the filter's */
	ck_assert_int_eq(file_count(d.log, "pipe-hog: blocked a pipe past fs.pipe-max-size"), 1);
	ck_assert_int_eq(file_count(d.log, "BREACH"), 0);
	int said = file_count(d.log, "the kernel gave");

	/* another connection meanwhile: the data whole; its pipes short and said, or whole with the capability */
	transfer_whole(call_open(&d, "qrexec-proxy+pass1+target-vm+test.Pipes src-during"), 4 << 20, 91);
	char *sum = summary_with("source=src-during ");
	ck_assert_msg(strstr(sum, " result=ok"), "%s", sum);
	char *at = strstr(sum, " pipe=");
	ck_assert_ptr_nonnull(at);
	if (cap >= 0) {
		ck_assert_msg(atol(at + 6) > 2 * page, "during the hog, with CAP_SYS_RESOURCE: %s", sum);
		ck_assert_int_eq(file_count(d.log, "the kernel gave"), said);
	} else {
		ck_assert_int_gt(file_count(d.log, "the kernel gave"), said);
	}
	free(sum);

	/* the hog's connection ends: its pipes go with it */
	end_call(hog);
	sum = summary_with("source=src-hog ");
	free(sum);
	said = file_count(d.log, "the kernel gave");
	transfer_whole(call_open(&d, "qrexec-proxy+pass1+target-vm+test.Pipes src-after"), 4 << 20, 92);
	sum = summary_with("source=src-after ");
	ck_assert_msg(strstr(sum, " result=ok"), "%s", sum);
	at = strstr(sum, " pipe=");
	ck_assert_ptr_nonnull(at);
	ck_assert_msg(atol(at + 6) > 2 * page, "after the hog: %s", sum);
	free(sum);
	ck_assert_int_eq(file_count(d.log, "the kernel gave"), said);
	daemon_teardown(&d);
	return true;
}

/* the capability set FIELD ("CapEff:") of process PID, from /proc/PID/status */
static unsigned long long caps_of(pid_t pid, const char *field)
{
	char path[64], line[256];
	unsigned long long v = ~0ULL;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, strlen(field)))
			v = strtoull(line + strlen(field), NULL, 16);
	fclose(f);
	ck_assert_msg(v != ~0ULL, "no %s in %s", field, path);
	return v;
}

static void assert_caps(pid_t pid, const char *who, unsigned long long want)
{
	static const char *const sets[] = { "CapPrm:", "CapEff:", "CapInh:", "CapAmb:" };
	for (size_t i = 0; i < 4; i++) {
		unsigned long long w = i < 2 ? want : 0, got = caps_of(pid, sets[i]);
		ck_assert_msg(got == w, "%s (pid %d): %s %016llx, not %016llx", who, (int)pid, sets[i], got, w);
	}
}

static void programs_get_no_capability(bool capset_refused)
{
	uid_t uid = 64977;
	gid_t gid = 64977;
	if (geteuid() != 0 || !can_run_as(uid, gid)) {
		printf("limits: SKIP test_programs_started_get_no_capability: %s\n",
		       geteuid() != 0 ? "not root" : "uid 64977 cannot run the build's programs");
		return;
	}
	int cap = prctl(PR_CAPBSET_READ, CAP_SYS_RESOURCE, 0, 0, 0) == 1 ? CAP_SYS_RESOURCE : CAP_NET_BIND_SERVICE;
	unsigned long long bit = 1ULL << cap;
	daemon_start_as_cap(&d, config_hog, NULL, uid, gid, cap | (capset_refused ? DAEMON_CAPSET_REFUSED : 0));
	ck_assert_int_eq(file_count(d.log, "sized with CAP_SYS_RESOURCE"), cap == CAP_SYS_RESOURCE);
	if (!capset_refused) {
		assert_caps(d.pid, "the daemon", cap == CAP_SYS_RESOURCE ? bit : 0);
	} else {
		/* what it could not drop stays with it (permitted, effective, inheritable), but none is ambient */
		ck_assert_uint_eq(caps_of(d.pid, "CapPrm:"), bit);
		ck_assert_uint_eq(caps_of(d.pid, "CapAmb:"), 0);
	}
	int fd = call_open(&d, "qrexec-proxy+pass1+target-vm+test.Echo+caps src-caps");
	ck_assert(roundtrip(fd, 'c'));
	pid_t conn = connector_of("test.Echo+caps");
	if (!capset_refused) {
		assert_caps(conn, "the connector", 0);
	} else {
		/* the inheritable set it could not empty passes through execve, but grants nothing by itself */
		ck_assert_uint_eq(caps_of(conn, "CapPrm:"), 0);
		ck_assert_uint_eq(caps_of(conn, "CapEff:"), 0);
		ck_assert_uint_eq(caps_of(conn, "CapAmb:"), 0);
	}
	end_call(fd);
	daemon_teardown(&d);
	printf("limits: started with %s ambient%s, the daemon kept %s, the connector it started had no capability\n",
	       cap == CAP_SYS_RESOURCE ? "CAP_SYS_RESOURCE" : "CAP_NET_BIND_SERVICE",
	       capset_refused ? " and capset refused (the unit's SystemCallFilter)" : "",
	       cap == CAP_SYS_RESOURCE ? "CAP_SYS_RESOURCE alone" : capset_refused ? "what it could not drop, in no ambient set" : "none");
}

/*
 * Started with an ambient capability, as systemd's AmbientCapabilities=
 * gives one: the daemon keeps CAP_SYS_RESOURCE (its pipes past the
 * per-user limit) and nothing else, in no inheritable or ambient set, so
 * the connector it starts has none. (Where this machine's bounding set
 * has no CAP_SYS_RESOURCE, CAP_NET_BIND_SERVICE stands in: it is dropped.)
 * Under the unit, capset itself is refused (SystemCallFilter=~@privileged):
 * what the connector inherits is still nothing.
 */
START_TEST(test_programs_started_get_no_capability)
{
	programs_get_no_capability(false);
	programs_get_no_capability(true);
}
END_TEST

START_TEST(test_filter_pipe_hog_is_said_and_ends_with_its_connection)
{
	if (pipe_hog_attack("test_filter_pipe_hog_is_said_and_ends_with_its_connection", -1))
		printf("limits: a filter took its user's pipe memory; meanwhile a connection's data arrived whole, its pipes' shortfall logged; after it, pipes at their share again\n");
}
END_TEST

START_TEST(test_filter_pipe_hog_leaves_other_pipes_whole_with_cap_sys_resource)
{
	if (pipe_hog_attack("test_filter_pipe_hog_leaves_other_pipes_whole_with_cap_sys_resource", CAP_SYS_RESOURCE))
		printf("limits: with CAP_SYS_RESOURCE, a filter that took its user's pipe memory left another connection's pipes at their share, and could not use the capability itself\n");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("limits");
	TCase *tc = tcase_create("book");
	tcase_add_test(tc, test_book_source_waits_others_go_first);
	tcase_add_test(tc, test_book_admitted_before_asking);
	tcase_add_test(tc, test_book_chain_limits);
	tcase_add_test(tc, test_book_timeouts_and_full_queues);
	tcase_add_test(tc, test_book_pipe_shares);
	tcase_add_test(tc, test_book_pipe_rest);
	tcase_add_test(tc, test_book_idle_direction_pipes);
	suite_add_tcase(s, tc);
	tc = tcase_create("serve");
	tcase_set_timeout(tc, test_timeout(600));
	tcase_add_test(tc, test_source_at_its_limit_waits_others_served);
	tcase_add_test(tc, test_chain_limits_hold);
	tcase_add_test(tc, test_status_shows_queued_and_running);
	tcase_add_test(tc, test_queue_timeout_refuses);
	tcase_add_test(tc, test_caller_gone_while_waiting);
	tcase_add_test(tc, test_filters_never_hold_the_channel);
	tcase_add_test(tc, test_one_way_gives_the_idle_direction_one_page);
	tcase_add_test(tc, test_silent_connection_holds_one_page);
	tcase_add_test(tc, test_64_transfers_keep_budgeted_pipes);
	tcase_add_test(tc, test_filter_pipe_hog_is_said_and_ends_with_its_connection);
	tcase_add_test(tc, test_filter_pipe_hog_leaves_other_pipes_whole_with_cap_sys_resource);
	tcase_add_test(tc, test_programs_started_get_no_capability);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
