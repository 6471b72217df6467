/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_SPARE_H
#define QP_SPARE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/filter.h>

#include "config.h"
#include "connlimits.h"
#include "serve.h"

/*
 * A supervisor forked before its connection arrives: the fork, and the
 * sandbox its filters will run in, cost the caller nothing when it comes.
 * The listener keeps one spare. While it is there, the spare accepts the
 * next connection itself (the listener does not accept then): the call
 * does not wait for the listener to wake, accept and hand it over. The
 * spare checks the peer as the listener would and tells the listener it
 * took the connection (SPARE_TOOK on its control socket), which puts it
 * in the book and accepts again; the next spare is forked once no
 * connection is being set up or runs for a caller that still waits for
 * its EOF, or, while one does, once none has come for SPARE_BUSY_MS
 * (under a burst of calls, each but the first gets a supervisor forked on
 * accept, as without a spare). A spare holds the configuration of the
 * moment it was forked: on reload it is replaced.
 */
/*
 * While a connection is being set up or runs for its caller, how long
 * after the last accept the next spare waits: its fork, sandbox and
 * filters' execs would take the CPU from that call, which on a slow
 * machine lasts longer than its set-up (the proxy's part of an ordinary
 * call is over well within it). Past that, a long transfer or a slow
 * destination does not keep the next call from finding a spare.
 */
#define SPARE_BUSY_MS 20
/*
 * How long after a caller has had its EOF the next spare waits (when
 * nothing else keeps it): on a busy machine its fork, sandbox and
 * filters' execs would otherwise keep that caller from the CPU it needs
 * to take the EOF (measured with one core taken by other work, 100 ms
 * apart: 1.9 ms more per call without the wait).
 */
#define SPARE_EOF_MS 1
/* past that, how much longer it waits for accepted connections to name their chain (warm.h) */
#define SPARE_HINT_WAIT_MS 50
/* how long a dropped spare may take to end what it started before it is killed */
#define SPARE_DROP_MS 1000

/* what goes over the spare's control socket: one message per send (SEQPACKET) */
enum spare_msg_type {
	SPARE_ALONE = 1,  /* listener -> spare: the book holds no connection */
	SPARE_TOOK,       /* spare -> listener: it accepted connection ID at START_NS from peer UID (ALONE: told so before) */
	SPARE_READY,      /* spare -> listener: set up; CHAIN: the chain whose filters it started ahead ("": none),
			     ALONE 1 when its sandbox is prepared */
};

struct spare_msg {
	uint32_t type;
	uint32_t alone;
	int64_t start_ns;
	uint32_t uid;
	char id[17];
	char chain[LIMITS_NAME_MAX];
};

struct spare {
	pid_t pid;        /* -1: none */
	int ctl;          /* the listener's end of its control socket (SEQPACKET) */
	int chan;         /* the listener's end of its admission channel (connlimits.h) */
	bool alone_told;  /* it knows the book holds no connection (spare_tell_alone) */
	char hint[LIMITS_NAME_MAX]; /* the chain it was asked to start ahead ("": none) */
	/* what it said once set up (SPARE_READY), for status and for replacing a stale one: */
	bool ready;
	bool prepared;              /* its sandbox is built */
	char warm[LIMITS_NAME_MAX]; /* the chain whose filters run ahead in it ("": none) */
};

/* A connection the spare took: its supervisor now, to be put in the book. */
struct spare_took {
	pid_t pid;
	int chan;         /* the listener's end of its admission channel, the caller's now */
	char id[17];
	int64_t start_ns; /* when it was accepted (CLOCK_MONOTONIC) */
	bool alone;       /* it took it knowing the book empty: admitted before it asks (limits_pregrant) */
	uid_t peer_uid;   /* the local peer that connected (SO_PEERCRED) */
};

/* Whether the peer on FD, accepted as connection ID, may call the proxy (a refusal is logged); *UID: who it is. */
typedef bool spare_peer_check(void *arg, int fd, const char *id, uid_t *uid);

/*
 * Forks a spare (serve_fork) serving connections under X's configuration,
 * with an admission channel of its own, that accepts its connection on
 * LISTEN_FD once it is ready and lets through the peers CHECK(ARG)
 * allows. HINT: the chain of the last call (NULL or "": none), whose
 * filters the spare starts ahead if it can (warm.h); with one chain in the
 * configuration, that one. 0, or -1 with errno (then the listener accepts
 * and forks per connection as before).
 */
int spare_start(struct spare *s, const struct serve_ctx *x, const char *hint, int listen_fd,
		spare_peer_check *check, void *arg);

/*
 * The book holds no connection, and cannot gain one while the spare is
 * there (only the spare accepts then): the connection it takes is alone,
 * admitted before it asks (limits_pregrant), and its supervisor need not
 * wait for its slot. Said once; a spare told nothing asks and waits.
 */
void spare_tell_alone(struct spare *s);

/*
 * The spare's control socket is readable: if it took a connection, *T
 * says which, the spare is forgotten (no spare now) and 1 is returned; 0
 * when there was nothing else (or it is gone, reaped later). That it is
 * set up, and which chain's filters it started ahead, is noted in S
 * (s->ready, s->warm).
 */
int spare_read(struct spare *s, struct spare_took *t);

/*
 * Ends the spare and reaps it (reload, stop). Returns 1 with *T when it
 * had taken a connection meanwhile (it serves it: the caller puts it in
 * the book), else 0.
 */
int spare_drop(struct spare *s, struct spare_took *t);

/* Whether PID is the spare; if so, it has ended (reaped by the caller) and is forgotten. */
bool spare_reaped(struct spare *s, pid_t pid);

#endif
