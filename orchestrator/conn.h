/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_CONN_H
#define QP_CONN_H

/*
 * One connection as its supervisor holds it, shared by the supervisor's
 * files: supervise.c (the phases), procs.c (the children), slot.c (the
 * slot and the pipe sizes) and relay.c (the bytes). Nothing outside the
 * supervisor includes this.
 */
#include <stdbool.h>
#include <stdint.h>
#include "bounds.h"
#include "cgroup.h"
#include "connlimits.h"
#include "isolate.h"
#include "logbound.h"
#include "qpf-contract.h"
#include "supervise.h"

struct proc {
	pid_t pid;            /* our child (the connector), or its pid inside the sandbox (for logs) */
	bool in_sandbox;      /* started and reaped by the sandbox's init, reported by events */
	bool started;
	bool reaped;
	bool is_connector;
	int status;
	int err_fd;           /* read end of its stderr pipe, -1 once closed */
	int cont_priority;    /* 1 + the priority of the overlong line whose piece follows; 0 at a line's start */
	size_t linelen;
	char tag[128];
	char line[QPC_LINE_MAX];
};

struct relay {
	const char *name;
	int from, to;         /* -1 once closed */
	bool from_ready, to_ready;
	bool use_splice;
	bool from_is_socket;
	bool done;            /* EOF passed on */
	bool discard;         /* nobody reads the other end: drop what arrives */
	char *buf;
	size_t off, len;
	uint64_t bytes;
	uint64_t discarded;
};

/* what a direction's data pipes are given (DIR_IDLE_OTHER, DIR_IDLE_MAX) */
enum dir_use {
	DIR_UNSEEN,           /* not yet known: the share of the budget */
	DIR_IDLE,             /* has carried next to nothing (the other one did, or a second passed): one page */
	DIR_BUSY,             /* carries data: the share */
};

/*
 * A direction that has carried next to nothing while the other one has
 * moved a megabyte is a one-way transfer's silent half (a file copy, a
 * backup, a download), and one that has carried next to nothing in its
 * first second is silent too (a connection held open, a slow service):
 * its pipes drop to one page, and the listener gives their share to the
 * connections' busy pipes. The first time it carries more, it is busy
 * for good and gets its share back.
 */
#define DIR_IDLE_OTHER (1u << 20)

#define DIR_IDLE_MAX (64u << 10)

#define DIR_IDLE_AFTER_MS 1000

/*
 * A caller that closes the connection after its own EOF, with every byte
 * the destination sent delivered, may be at the normal end of its
 * protocol: a file copy's sender reads the receiver's last status and
 * exits while the receiver is still ending. The destination then has
 * this long to end without another byte before the connection is
 * caller-gone.
 */
#define CALLER_GRACE_MS 1000

struct conn {
	const struct supervise_args *a;
	struct supervise_result *res;
	struct proc *procs;
	size_t nprocs;
	const struct isolate_policy *pol;
	struct bounds bounds;       /* what it may use (its chain's, else the daemon's) */
	struct isolate_bounds ib;   /* how its sandboxes are held to it: its cgroup, or rlimits */
	struct logbound log;        /* its processes' stderr */
	bool kernel_killed;         /* a process of it was killed by a SIGKILL not its supervisor's */
	struct isolate_sandbox sb;  /* the connection's sandbox (pid -1: none running) */
	bool sb_reaped;
	int sb_status;
	size_t *sb_map;       /* the sandbox's program i is procs[sb_map[i]] */
	size_t sb_n, sb_started;
	bool sb_setup_failed;
	bool admitting;       /* a failed process is a refusal, not an abort */
	int sigfd;
	int devnull;
	bool is_socket;       /* one socket both ways (serve) */
	bool out_is_socket;   /* the output is a socket: half-close with shutdown() */
	bool stragglers_killed;
	bool pipe_warned;     /* the kernel gave a data pipe less than asked: said once */
	int data_pipe;        /* bytes every data pipe is to have; 0: the kernel's default */
	int big_pipes;        /* of the data pipes that carry data, the first this many get twice that */
	int aux_pipe;         /* bytes for the stderr pipes; 0: the kernel's default */
	int *pipe_path;       /* O_PATH fds of the data pipes, to resize them; -1: none, or done with */
	size_t npipes;
	size_t npipes_up;     /* pipe_path[0 .. npipes_up - 1] carry src2dst, the rest dst2src */
	enum dir_use dir_use[2]; /* src2dst, dst2src: whether the direction's pipes get their share */
	uint32_t told_idle;   /* the data pipes the listener was last told hold one page */
	int64_t dir_idle_at_ms; /* from then on, a direction that has carried next to nothing is idle */
	bool listener_gone;   /* the admission channel is at EOF */
	bool resize_pending;  /* a data pipe was too full to shrink: again at resize_at_ms */
	int64_t resize_at_ms;
	int64_t resize_since_ms; /* when the shrink first found a pipe too full */
	int resize_backoff_ms;
	bool told_stuck;      /* the listener knows the pipes would not shrink */
	bool told_done;       /* the listener knows the caller has had both EOFs */
	bool grant_pending;   /* admitted before it asked: the grant with the pipes' size is still to come */
	bool ask_pending;     /* admitted before it asked: the request is still to be sent (slot_ask_pending) */
	uint64_t told_held;   /* the pages the listener was last told the data pipes hold */
	int64_t state_ms;     /* when the listener was last told the bytes moved */
	uint64_t state_bytes;
	bool aborting;
	bool terminated;      /* SIGTERM/SIGINT/SIGHUP arrived */
	int idle_ms;          /* no byte either way for this long ends the connection; 0: never */
	int64_t active_ms;    /* when a byte last moved (or the pipeline started) */
	uint64_t moved;       /* bytes moved both ways, as of active_ms */
	int saved_in_fl, saved_out_fl;
	int64_t setup_ns;     /* when every process of the pipeline had been started */
	int64_t caller_left_ms; /* when the caller closed after its EOF (CALLER_GRACE_MS); 0: it has not */
	const char *caller_left_how;
	struct relay up;      /* source -> pipeline */
	struct relay down;    /* pipeline -> source */
	char **env_filter[3]; /* indexed by QP_DIR_SRC2DST, QP_DIR_DST2SRC; [0] for admission */
	char **env_connector;
};

/* procs.c: the children, their environment and stderr, the abort */
void conn_reason(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void conn_abort(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char **procs_env(const struct supervise_args *a, const char *direction, bool inherit);
void procs_env_free(char **env);
void procs_drain_stderr(struct conn *c, struct proc *p);
int procs_start_connector(struct conn *c, struct proc *p, int fd0, int fd1);
int procs_start_sandbox(struct conn *c, enum isolate_role role, struct isolate_proc *ip, size_t n, size_t *map);
bool procs_all_reaped(const struct conn *c);
void procs_kill_all(struct conn *c);
void procs_sandbox_drain(struct conn *c);
void procs_reap_all(struct conn *c);
void procs_sandbox_forget(struct conn *c);
bool procs_read_signals(struct conn *c);

/* slot.c: the slot, and the pipes' share of the budget */
int slot_wait(struct conn *c);
void slot_ask_pending(struct conn *c);
int slot_set_pipe_size(struct conn *c, int fd, int size, bool *busy);
int slot_busy_pipe_size(const struct conn *c, size_t k);
void slot_forget_pipes(struct conn *c);
void slot_tell(struct conn *c, enum limits_state state, uint64_t held, bool stuck);
void slot_apply(struct conn *c);
void slot_update_dir_use(struct conn *c, int64_t now_ms);
bool slot_dir_unseen(const struct conn *c);
void slot_read_listener(struct conn *c);

/* relay.c: the bytes */
void relay_up(struct conn *c);
void relay_down(struct conn *c);
void relay_caller_gone_abort(struct conn *c, const char *how);
void relay_caller_left(struct conn *c, const char *how);
bool relay_down_ready(const struct conn *c);
void relay_caller_grace_over(struct conn *c);

#endif
