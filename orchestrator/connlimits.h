/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_CONNLIMITS_H
#define QP_CONNLIMITS_H

/*
 * Admission of connections under limits, and the pipe-memory budget.
 *
 * The listener keeps the book: every supervisor it forks gets one end of
 * a socketpair of its own (the admission channel); the listener keeps the
 * other. Only once the supervisor has read the descriptor are the source
 * and the chain known, so it asks for a slot over that channel
 * (LIMITS_ASK, with the chain's limits) and waits, holding no process but
 * itself and no pipe, until the listener grants one (LIMITS_GRANT, with
 * the size its pipes may have) or refuses (LIMITS_DENY: waited past the
 * queue timeout, or too many waiting). A slot is given back when the
 * supervisor has ended (reaped by the listener), so a supervisor that dies
 * cannot keep one.
 *
 * The channel is a socketpair created close-on-exec by the listener; the
 * sandbox's init closes every fd but its programs' before it starts any,
 * and children get fds 0-2 only: no filter and no connector ever holds
 * either end, so none can ask, grant or read anything on it.
 *
 * Limits (all must allow it for a connection to run): the daemon's
 * max_connections; per source max_per_source (all chains together); per
 * chain the chain's max_connections, and per source within the chain the
 * chain's max_per_source. A connection over a limit waits, in arrival
 * order among those of its source that a limit lets through, up to its
 * queue timeout. When a slot frees, it goes to the source that runs the
 * fewest connections (then to the oldest request), so a source with many
 * waiting cannot hold up another's call.
 *
 * Pipes: every running connection's data pipes get the same size, the
 * largest power of two of pages (at most --pipe-size) for which all of
 * them, with the small pipes for stderr, fit in --pipe-memory; what that
 * leaves of the budget goes, one pipe at a time and one connection after
 * the other, to data pipes of twice that size (the kernel sizes pipes in
 * powers of two of pages, so without them up to half the budget would
 * lie unused). When more run, the listener sends running supervisors the
 * new, smaller sizes (LIMITS_RESIZE), and larger ones when fewer run.
 *
 * The book (struct limits) is meant to be read by a status command: every
 * connection with its source, chain, target, service, state, start and
 * bytes; every source and chain with its counts. It is only ever touched
 * by the listener's process.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <sys/types.h>

#define LIMITS_NAME_MAX 256        /* chain names (NAME_CHAIN_MAX + 1) */
#define LIMITS_QUBE_MAX 32         /* qube names (31 bytes) + 1 */
#define LIMITS_SERVICE_MAX 1088    /* the service, bounded and escaped as in the summary */
#define LIMITS_AUX_PIPE 4096       /* stderr and event pipes: one page each */

struct limits_opts {
	int max_connections;       /* running at once, in all */
	int max_per_source;        /* running at once per source, all chains together */
	int max_queued;            /* waiting at once, in all; more are refused at once */
	int max_queued_per_source; /* waiting at once per source */
	int queue_timeout_ms;      /* for chains without queue_timeout */
	uint64_t pipe_memory;      /* bytes for all the pipes of all connections */
	int pipe_size;             /* the largest a data pipe may be (bytes; 0: the kernel's default) */
};

enum limits_state {
	LIMITS_NEW,                /* accepted; its supervisor reads the descriptor */
	LIMITS_QUEUED,             /* asked for a slot; waiting */
	LIMITS_ADMITTING,          /* has a slot: admission checks, starting the pipeline */
	LIMITS_RUNNING,            /* the pipeline runs */
	LIMITS_CLOSING,            /* the pipeline has ended, or it was refused: its supervisor ends */
};

/* What held a connection back (in a refusal, and in the book). */
enum limits_block {
	LIMITS_FREE,
	LIMITS_BY_TOTAL,           /* the daemon's max_connections */
	LIMITS_BY_SOURCE,          /* the daemon's max_per_source */
	LIMITS_BY_CHAIN,           /* the chain's max_connections */
	LIMITS_BY_CHAIN_SOURCE,    /* the chain's max_per_source */
};

enum limits_deny {
	LIMITS_DENY_TIMEOUT = 1,   /* waited its queue timeout */
	LIMITS_DENY_FULL,          /* too many waiting already (max_queued, max_queued_per_source) */
};

/* ---- the channel ---- */

enum limits_msg_type {
	LIMITS_ASK = 1,            /* supervisor -> listener: source, chain..., the chain's limits, pipes */
	LIMITS_GRANT,              /* listener -> supervisor: run; data_pipe, big_pipes, aux_pipe, waited_ms */
	LIMITS_DENY,               /* listener -> supervisor: refused; code (limits_deny), block, limit, waited_ms */
	LIMITS_RESIZE,             /* listener -> supervisor: data pipes now data_pipe bytes (big_pipes of them twice that) */
	LIMITS_STATE,              /* supervisor -> listener: state (RUNNING or CLOSING), bytes so far,
				      held_pages, idle_pipes, code 1 while its pipes are too full to shrink */
	LIMITS_SPARE_READY,        /* spare -> listener: set up; chain: the chain whose filters it started
				      ahead ("": none), code 1 when its sandbox is prepared */
};

struct limits_msg {
	uint32_t type;
	uint32_t code;
	uint32_t block;
	int32_t limit;
	int32_t chain_max;         /* ASK: the chain's max_connections, 0: none */
	int32_t chain_max_per_source; /* ASK: 0: none */
	int32_t queue_timeout_ms;  /* ASK: -1: the daemon's */
	uint32_t ndata, naux;      /* ASK: data pipes and other pipes the connection makes */
	uint32_t data_pipe, aux_pipe; /* GRANT, RESIZE: bytes */
	uint32_t big_pipes;        /* GRANT, RESIZE: how many of the data pipes that carry data get 2 * data_pipe */
	uint32_t state;            /* STATE */
	uint32_t held_pages;       /* STATE: pages its data pipes hold now (code 1: too full to shrink) */
	uint32_t idle_pipes;       /* STATE: data pipes of a direction that carries nothing: one page each */
	int64_t waited_ms;         /* GRANT, DENY */
	uint64_t bytes_src2dst, bytes_dst2src; /* STATE */
	uint32_t caller_done;      /* STATE: 1 once the caller has had both EOFs (what remains is the processes' ends) */
	char source[LIMITS_QUBE_MAX];
	char target[LIMITS_QUBE_MAX];
	char chain[LIMITS_NAME_MAX];
	char service[LIMITS_SERVICE_MAX];
};

/*
 * The supervisor's side. Each returns 0, or -1 with errno (EPIPE or
 * ECONNRESET: the listener is gone). limits_recv returns 0 with *M filled,
 * or -1 with EAGAIN when no message is there (FD is non-blocking), or -1
 * with EPIPE at EOF.
 */
int limits_send(int fd, const struct limits_msg *m);
int limits_recv(int fd, struct limits_msg *m);

/* ---- the book (listener) ---- */

struct limits_group;

struct limits_conn {
	char id[17];
	pid_t pid;                 /* its supervisor */
	int chan;                  /* the listener's end of the channel; -1 once at EOF */
	enum limits_state state;
	enum limits_block block;   /* while queued: what holds it */
	bool has_slot;             /* admitted: counts against the limits until its supervisor has ended */
	uint64_t seq;              /* order of the requests */
	char source[LIMITS_QUBE_MAX];
	char target[LIMITS_QUBE_MAX];
	char chain[LIMITS_NAME_MAX];
	char service[LIMITS_SERVICE_MAX];
	struct timespec started;   /* CLOCK_REALTIME at accept, for display */
	int64_t accepted_ns;       /* CLOCK_MONOTONIC */
	int64_t accepted_ms, asked_ms, admitted_ms, deadline_ms; /* CLOCK_MONOTONIC */
	int chain_max, chain_max_per_source, queue_timeout_ms;
	unsigned ndata, naux;
	unsigned nidle;            /* of its data pipes, those its supervisor keeps at one page (idle direction) */
	unsigned data_pages;       /* the size its data pipes were last given, in pages */
	unsigned nbig;             /* how many of them were given twice that */
	uint64_t held_pages;       /* what its data pipes hold, as it last said */
	bool stuck;                /* its pipes were too full to shrink to data_pages */
	uint64_t bytes_src2dst, bytes_dst2src; /* as last reported (at most about once a second) */
	uid_t peer_uid;            /* the local peer that connected (SO_PEERCRED) */
	const char *end_result;    /* the listener ended it (end.h): its summary's result; NULL: it did not */
	char end_reason[128];
	bool caller_done;          /* its caller has had both EOFs: it no longer counts as busy (limits_busy) */
	bool pregranted;           /* admitted before it asked (limits_pregrant): its source and chain come later */
	bool behind_unasked;       /* waits only because of connections admitted before they asked (see there) */
	struct limits_group *src, *chn;
	struct limits_conn *src_next; /* the source's connections, in the order they asked */
};

/* a source or a chain */
struct limits_group {
	char name[LIMITS_NAME_MAX];
	int running;               /* admitted (ADMITTING, RUNNING, CLOSING after a grant) */
	int queued;
	int refs;                  /* connections that name it; dropped at 0 */
	struct limits_conn *first, *last; /* sources only: its connections, in the order they asked */
};

struct limits {
	struct limits_opts o;
	struct limits_conn **conns; /* every supervisor, in no particular order */
	size_t nconns, capconns;
	struct limits_group **sources, **chains;
	size_t nsources, nchains;
	size_t capsources, capchains;
	int running, queued;
	int unasked;               /* admitted before they asked (limits_pregrant), and not asked yet */
	uint64_t next_seq;
	unsigned page;             /* bytes */
	unsigned budget_pages;
	unsigned max_data_pages;   /* from pipe_size */
	unsigned data_pages;       /* the size every running connection's data pipes get now */
	bool over_budget;          /* even pipes of one page do not fit: said once until it passes */
	char last_chain[LIMITS_NAME_MAX]; /* of the last request for a slot: what the next spare warms (warm.h) */
	int64_t last_done_ms;      /* when a caller last had both EOFs (limits_conn.caller_done) */
};

int limits_init(struct limits *L, const struct limits_opts *o);
void limits_free(struct limits *L);

/*
 * A new supervisor PID for connection ID with its channel CHAN (which the
 * book owns from now on: closed when the connection is removed), accepted
 * at NOW_NS (CLOCK_MONOTONIC). Returns the entry, or NULL (out of memory;
 * CHAN is not taken).
 */
struct limits_conn *limits_add(struct limits *L, const char *id, pid_t pid, int chan, int64_t now_ns);

/*
 * C, just added, is the only connection in the book: whatever source and
 * chain its descriptor names, no limit can hold it back, so it is
 * admitted now, before it asks (its supervisor does not wait for the
 * answer; the grant that follows its request brings its pipes' size).
 * Until it has asked, any of the others may be of its source and chain:
 * they wait rather than pass a limit it might make them pass, but are
 * neither refused nor told they wait on its account. Returns whether C was
 * admitted so (false: it is not alone).
 */
bool limits_pregrant(struct limits *L, struct limits_conn *c);

/*
 * Whether a connection is being set up or runs (one that waits for a slot
 * or ends does not count, nor one whose caller has had both EOFs: what
 * remains of it, its processes' ends, is off its caller's path).
 */
bool limits_busy(const struct limits *L);

/* Whether a connection has not asked for its slot yet (its descriptor is being read). */
bool limits_any_new(const struct limits *L);

/*
 * How many connections have not asked for their slot yet (NEW): in all,
 * or, with UID not (uid_t)-1, of that local peer; *OLDEST (when not NULL)
 * gets the one of them accepted first, or NULL.
 */
size_t limits_count_new(const struct limits *L, uid_t uid, struct limits_conn **oldest);

/* The connection whose supervisor is PID, or NULL. */
struct limits_conn *limits_find(const struct limits *L, pid_t pid);

/* Reads and acts on every message waiting on C's channel. */
void limits_on_readable(struct limits *L, struct limits_conn *c, int64_t now_ms);

/* The supervisor PID has ended: its slot (or place in a queue) goes to the next. */
void limits_remove(struct limits *L, pid_t pid, int64_t now_ms);

/* Refuses whoever waited too long; returns how long until the next deadline (ms), -1: none. */
int limits_expire(struct limits *L, int64_t now_ms);

/*
 * In a freshly forked supervisor: closes every channel end the book holds
 * (the listener's ends of other connections) and frees the book.
 */
void limits_forget_in_child(struct limits *L);

const char *limits_state_name(enum limits_state s);
const char *limits_block_name(enum limits_block b);

/*
 * The size running connections' data pipes have now, in pages: the
 * largest power of two, at most --pipe-size, for which every running
 * connection's data pipes and its pipes of one page for stderr fit in
 * --pipe-memory (a connection whose full pipes would not shrink counts
 * with what it holds); at least one page.
 */
unsigned limits_pipe_pages(const struct limits *L);

/*
 * The default --pipe-memory: half the kernel's per-user soft limit on
 * pipe memory (fs.pipe-user-pages-soft, 64 MiB unless changed), which
 * leaves room for the pipes of filters and connectors of the same user;
 * 32 MiB when that limit cannot be read (systemd's ProcSubset=pid hides
 * /proc/sys) or is 0 (none). *SOFT gets the limit in bytes, 0 if unknown.
 */
uint64_t limits_default_pipe_memory(uint64_t *soft);

#endif
