/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_ISOLATE_H
#define QP_ISOLATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/filter.h>

/*
 * The boundary between connections. Every connection's filters (and,
 * apart, its admission checks) run inside a sandbox built once for the
 * connection: one process, the sandbox's init, forked by the supervisor,
 * that sets the boundary up and then starts the programs inside it.
 *
 *  - namespaces: the init is PID 1 of new user, PID, mount and IPC
 *    namespaces. Inside, the file system is read-only, /proc shows only
 *    the connection's own processes, and /run, /tmp, /var/tmp, /dev/shm,
 *    /dev/mqueue, /home, /root, the state directory and the proxy's own
 *    directories are empty. Nothing outside can be named, let alone
 *    signalled, traced or opened through /proc; when the init ends, the
 *    kernel ends everything left inside.
 *  - landlock: where user namespaces are switched off. The init creates a
 *    Landlock domain of its own (ABI 6 or later): read and execute only
 *    beneath the system directories and the programs' own, no /proc at
 *    all, no writes but /dev/null, signals and abstract sockets scoped to
 *    the domain, ptrace (hence /proc/PID/mem) of nothing outside it.
 *  - seccomp-only: no boundary beyond the baseline seccomp policy. Weaker;
 *    only when the administrator asks for it (isolation: seccomp-only).
 *
 * In every mechanism the baseline seccomp policy applies on top (no
 * sockets at all, no ptrace, no mount, no namespaces, no other process's
 * limits or priority), and the listener, the supervisors and the init are
 * non-dumpable.
 */
enum isolate_mech {
	ISOLATE_AUTO,          /* a request: namespaces, else landlock, else none */
	ISOLATE_NAMESPACES,
	ISOLATE_LANDLOCK,
	ISOLATE_SECCOMP_ONLY,
	ISOLATE_NONE,          /* the result of auto when nothing works: third-party filters are refused */
};

#define ISOLATE_MAX_PATHS 32
/* the programs one sandbox starts (a chain of QP_MAX_PROCS / 2 filters, each both ways) */
#define QP_MAX_PROCS 64

struct isolate_policy {
	enum isolate_mech mech;
	bool proc_private;       /* namespaces: a /proc of its own (else an empty one) */
	bool drop_to_nobody;     /* the daemon runs as root: the sandbox runs as nobody */
	uid_t uid;               /* who the sandboxed programs are */
	gid_t gid;
	int landlock_abi;
	const char *state_dir;   /* admission checks' state: theirs alone, hidden from filters */
	const char *hide[ISOLATE_MAX_PATHS];   /* empty in every sandbox (namespaces) */
	size_t nhide;
	const char *readable[ISOLATE_MAX_PATHS]; /* read and execute (landlock) */
	size_t nreadable;
	char detail[256];        /* what was found, for the start-up log line */
};

const char *isolate_mech_name(enum isolate_mech m);
int isolate_parse_mech(const char *s, enum isolate_mech *out);

/*
 * Decides the mechanism for REQUESTED (ISOLATE_AUTO: the best one the
 * kernel allows here) by trying it: a trial sandbox is built. HIDE lists
 * extra directories no sandbox may see (the socket's, the configuration's),
 * NULL-terminated. Returns 0, or -1 when REQUESTED is a mechanism that does
 * not work here (POL->detail says why).
 */
int isolate_setup(enum isolate_mech requested, const char *state_dir, const char *const *hide,
		  struct isolate_policy *pol);

/* Whether PATH is a built-in filter (they lock themselves down further). */
bool isolate_is_builtin(const char *path);

/* One program to start inside a sandbox. */
struct isolate_proc {
	const char *path;
	char *const *argv;
	char *const *envp;
	int fd[3];               /* become its 0, 1 and 2 */
};

enum isolate_role {
	ISOLATE_FILTERS,         /* start every program at once */
	ISOLATE_ADMISSION,       /* one after another; stop at the first that does not exit 0; state dir writable */
};

/* What the init reports about the programs, in order, on sb->events. */
enum isolate_event_kind {
	ISOLATE_EV_STARTED = 1,  /* value: unused; pid: its pid inside */
	ISOLATE_EV_START_FAILED, /* value: errno */
	ISOLATE_EV_EXITED,       /* value: wait status */
	ISOLATE_EV_SETUP_FAILED, /* value: errno; index: the step of the set-up that failed */
};

struct isolate_event {
	int32_t index;           /* into the programs given to isolate_start */
	int32_t kind;
	int32_t value;
	int32_t pid;
};

/*
 * What bounds one sandbox (bounds.h decides which): the connection's
 * cgroup, which its init joins before anything runs in it, or rlimits.
 */
struct isolate_bounds {
	int cgroup_procs;        /* the cgroup.procs of the connection's cgroup (cgroup.h); -1: none */
	uint64_t memory;         /* RLIMIT_DATA and RLIMIT_FSIZE of every program, RLIMIT_AS twice that; 0: none */
	uint32_t tasks;          /* RLIMIT_NPROC in the sandbox's user namespace (namespaces only); 0: none */
};

struct isolate_sandbox {
	pid_t pid;               /* the init, a child of the caller; -1 when none */
	int events;              /* read end of the event pipe (non-blocking, close-on-exec) */
};

/*
 * Forks the init of a new sandbox under POL, bounded by BOUNDS (NULL:
 * none), and has it start PROCS (their fds are duplicated into it; the
 * caller closes its own copies after the call). The init loads SECCOMP
 * (the baseline) for itself, so every program inherits it. The caller
 * reaps the init like any child and reads events from sb->events until
 * EOF. Returns 0, or -1 with errno.
 */
int isolate_start(const struct isolate_policy *pol, enum isolate_role role, const struct isolate_proc *procs,
		  size_t n, const struct sock_fprog *seccomp, const struct isolate_bounds *bounds,
		  struct isolate_sandbox *sb);

/*
 * A sandbox built before its programs are known: the slow part (new
 * namespaces, mounts, Landlock, seccomp) is done while the connection's
 * descriptor is read and its connector starts, and only the programs are
 * started once the chain is known.
 */
struct isolate_prepared {
	struct isolate_sandbox sb;
	int ctl;                          /* where the programs go; -1 once sent or discarded */
	const struct isolate_policy *pol; /* what it was built under */
};
/*
 * Forks the init of a sandbox under POL, as isolate_start does, that sets
 * itself up and then waits for isolate_run. PROGRAMS are every path it
 * may be asked to start (their directories stay visible in it);
 * CGROUP_PROCS, the connection's cgroup it joins (-1: none). 0, or -1
 * with errno (P is then empty).
 */
int isolate_prepare(const struct isolate_policy *pol, enum isolate_role role, const char *const *programs,
		    size_t nprograms, const struct sock_fprog *seccomp, int cgroup_procs, struct isolate_prepared *p);
/*
 * Has the prepared init start PROCS (their fds are passed to it; the
 * caller closes its own copies after the call) under the rlimits of
 * BOUNDS (NULL: none; its cgroup is the one the sandbox was prepared in);
 * SB becomes the sandbox, as from isolate_start. -1 with errno when the
 * request could not be sent (the init is gone): P is then to be discarded.
 */
int isolate_run(struct isolate_prepared *p, const struct isolate_proc *procs, size_t n,
		const struct isolate_bounds *bounds, struct isolate_sandbox *sb);
/* Ends a prepared sandbox that was not run (or whose run failed) and reaps it; harmless when empty. */
void isolate_discard(struct isolate_prepared *p);
/* Reads one event; 1 when one was read, 0 at EOF, -1 with EAGAIN when none is there yet. */
int isolate_read_event(struct isolate_sandbox *sb, struct isolate_event *ev);

/* A name for the step of the set-up in an ISOLATE_EV_SETUP_FAILED event. */
const char *isolate_setup_step_name(int step);

#endif
