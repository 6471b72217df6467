/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_TESTUTIL_H
#define QP_TESTUTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* a qrexec-proxy serve under test, in its own temporary directory */
struct daemon {
	pid_t pid;
	char dir[256];
	char sock[300];
	char config[300];
	char log[300];
	char connlog[300];   /* what the fake connector recorded */
	char journal[300];   /* daemon_start_journal: its journal entries */
	pid_t collector;     /* daemon_start_journal: the process that writes them */
};

const char *builddir(void);
const char *srcdir(void);

/* writes BODY to PATH with @B@ replaced by the build dir and @S@ by the source dir */
void write_config(const char *path, const char *body);
/* a temporary directory, removed by the caller with rm_rf */
void make_tmpdir(char *out, size_t size);
void rm_rf(const char *dir);

void daemon_start(struct daemon *d, const char *config_body, const char *const *extra_args);
/*
 * daemon_start, but the daemon runs as UID/GID (no supplementary groups)
 * when that is not the test's own user: its directory is that user's (mode
 * 0755, to bind its socket there), the configuration and the log stay the
 * test's (readable), the connector's log is the user's. --allow-root only
 * when UID is 0; --isolation $QP_TEST_ISOLATION, as daemon_start, unless
 * EXTRA_ARGS names a mechanism. The daemon is killed if the test's process
 * ends first.
 * In CONFIG_BODY, @D@ stands for the daemon's directory (as well as @B@ and
 * @S@, see write_config), so a chain can name the daemon's own socket.
 */
void daemon_start_as(struct daemon *d, const char *config_body, const char *const *extra_args, uid_t uid,
		     gid_t gid);
/*
 * daemon_start_as, with capability CAP (e.g. CAP_SYS_RESOURCE) ambient as
 * systemd's AmbientCapabilities= gives it, when UID is not the test's own
 * user (root only); -1 for none.
 */
void daemon_start_as_cap(struct daemon *d, const char *config_body, const char *const *extra_args, uid_t uid,
			 gid_t gid, int cap);
/* or'ed into CAP: capset fails with EPERM in the daemon, as under the unit's SystemCallFilter=~@privileged */
#define DAEMON_CAPSET_REFUSED 0x100
/*
 * The cgroup.procs files (NULL-terminated, at most 4; NULL: none) that
 * the next daemon_start* joins before it drops privileges and execs: a
 * memory-bounded group standing in for the unit's MemoryMax=, a subtree
 * delegated to the daemon's user. Cleared once that daemon has started.
 */
void daemon_join_cgroups(const char *const *procs_files);
/*
 * daemon_start, logging to the journal (--log journal) as under systemd,
 * with a journal of the test's own: the test's process moves to a mount
 * namespace of its own, where /run/systemd/journal/socket is a socket a
 * collector (a child) reads. Every entry goes to d->journal as its fields,
 * one "KEY=VALUE" a line (a newline in a value as \n), then an empty line;
 * its MESSAGE also to d->log, so that the waits on the log work as with
 * daemon_start. Returns false, having started nothing, where no mount
 * namespace can be made (not root).
 */
bool daemon_start_journal(struct daemon *d, const char *config_body, const char *const *extra_args);
/*
 * Waits up to wait_ms(TIMEOUT_MS) for an entry of D's journal that has
 * every one of FIELDS (NULL-terminated): "KEY=VALUE" is a field as it is,
 * "KEY=VALUE*" one whose value starts with VALUE. Returns the entry
 * (malloc'ed, its lines), or NULL.
 */
char *journal_wait_entry(const struct daemon *d, const char *const *fields, int timeout_ms);
/* The number of entries of D's journal that have every one of FIELDS, now. */
int journal_count(const struct daemon *d, const char *const *fields);

/* SIGTERM, wait; returns the daemon's wait status */
int daemon_stop(struct daemon *d);
/* waits up to TIMEOUT_MS for NEEDLE to appear in FILE */
bool file_wait_for(const char *file, const char *needle, int timeout_ms);
char *file_read(const char *file);
/* number of lines of FILE that contain NEEDLE */
int file_count(const char *file, const char *needle);
/* waits up to TIMEOUT_MS for at least N such lines; returns the count */
int file_wait_count(const char *file, const char *needle, int n, int timeout_ms);

/* connects to the daemon and sends DESCRIPTOR and its NUL */
int call_open(const struct daemon *d, const char *descriptor);
/* full VM descriptor "qrexec-proxy+CHAIN+TARGET+SERVICE SOURCE" */
int call_vm(const struct daemon *d, const char *chain, const char *target, const char *service);

struct xfer {
	uint64_t sent, sent_hash;
	uint64_t recv, recv_hash;
	int writer_status;     /* wait status of the writing process */
	bool timed_out;
};

/*
 * Sends NBYTES deterministic bytes from SEED on FD (from a child process,
 * then shuts down the write side, after DELAY_MS when given), while reading
 * everything that comes back until EOF or TIMEOUT_MS. Closes FD.
 */
void call_transfer(int fd, uint64_t nbytes, uint64_t seed, int timeout_ms, struct xfer *x);
/* the hash of NBYTES deterministic bytes from SEED */
uint64_t expected_hash(uint64_t nbytes, uint64_t seed);

/*
 * The deadline for waiting on an event that is due: MS, but never less than
 * a generous floor (60 s; QP_TEST_WAIT_MS). Every wait in the suite uses it.
 */
int wait_ms(int ms);
/* waits up to wait_ms(TIMEOUT_MS) for PID to be gone; returns whether it is */
bool wait_gone(pid_t pid, int timeout_ms);

/* CLOCK_MONOTONIC in milliseconds */
int64_t now_ms(void);

/*
 * The end of a test with a daemon: stops D if it runs (it must exit 0, or
 * the test fails showing its log) and removes its directory.
 */
void daemon_teardown(struct daemon *d);
/* waits up to wait_ms(0) until D has no child left: no supervisor, hence no process of a connection */
void assert_no_children_of(const struct daemon *d);
/* the daemon's spare supervisor (comm "qp-spare"), or 0; _wait: once there is one (0 past the deadline) */
pid_t daemon_spare(const struct daemon *d);
pid_t daemon_wait_spare(const struct daemon *d);
/* what D answers `status --json` (over its control socket, SOCK.control), malloc'ed; NULL when it gave nothing */
char *daemon_status_json(const struct daemon *d);
/*
 * Waits up to wait_ms(0) until D's spare is set up with the filters of
 * CHAIN started ahead (as `status --json` reports it); CHAIN NULL: with
 * none started ahead. Whether it is.
 */
bool daemon_wait_spare_ahead(const struct daemon *d, const char *chain);
/* waits up to wait_ms(0) for NEEDLE in D's log; fails showing the log */
void assert_daemon_log(const struct daemon *d, const char *needle);
/* a refused call: EOF within wait_ms(0) and nothing before it; closes FD */
void assert_refused(int fd);
/* waits up to wait_ms(0) for PID to be gone */
void assert_gone(pid_t pid);

/* one run of qrexec-proxy in a mode other than serve */
struct proxy_run {
	int status;               /* its wait status */
	uint64_t out_len, out_hash;
	char *err;                /* all of its stderr, NUL-terminated */
	size_t err_len;
};
/*
 * Runs qrexec-proxy ARGS, with ENV (NAME=VALUE entries, may be NULL) added to
 * its environment and NBYTES deterministic bytes from SEED on its stdin, to
 * its exit; hashes what it writes. Free with proxy_run_free().
 */
void proxy_run(const char *const *args, const char *const *env, uint64_t nbytes, uint64_t seed,
	       struct proxy_run *r);
void proxy_run_free(struct proxy_run *r);
/* its exit code, or -1 if it was killed */
int proxy_run_exit(const struct proxy_run *r);

/*
 * Runs qrexec-proxy ARGS (stdin /dev/null) to its exit, with ENV
 * (NAME=VALUE entries, may be NULL) added: its standard output,
 * NUL-terminated (the caller frees it), its exit code in *RC (-1: killed)
 * and, when ERR is not NULL, its standard error in *ERR (freed too).
 */
char *proxy_capture(const char *const *args, const char *const *env, int *rc, char **err);

/*
 * The pids of live processes whose parent is PPID, but for the daemon's
 * spare supervisor (comm "qp-spare", waiting for the next connection);
 * _any: that one too.
 */
int children_of(pid_t ppid, pid_t *out, int max);
int children_of_any(pid_t ppid, pid_t *out, int max);
bool pid_alive(pid_t pid);
/*
 * The live processes whose comm is NAME, in whatever PID namespace they
 * run (found by name: a pid a sandboxed process logs means nothing here).
 */
int processes_named(const char *name, pid_t *out, int max);

#endif
