/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qpf: the kit the built-in qrexec-proxy filters share, and the public API
 * for authors of new filters in C. See qrexec-proxy-filter(7) for the
 * contract every filter follows; this kit only makes following it short.
 *
 * A filter's main() reads top to bottom:
 *
 *	qpf_init(argv[0]);                    program name, fds 0-2 checked
 *	... getopt_long, qpf_parse_size(), qpf_parse_seconds() ...
 *	... open whatever the filter needs (files, /dev/null) ...
 *	qpf_lockdown("flock", NULL);          seccomp: byte moving + extras
 *	struct qpf_copy c = QPF_COPY_INIT;
 *	if (qpf_copy(0, 1, &c) < 0) qpf_die_sys(111, "unable to copy");
 *	return 0;
 *
 * Everything here writes diagnostics with one write(2) per line and no
 * stdio, so it keeps working after qpf_lockdown(). Nothing installs
 * signal handlers. Functions that can fail return -1 with errno set,
 * except the qpf_die* family, which exits.
 */
#ifndef QPF_H
#define QPF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h> /* LOG_ERR, LOG_WARNING, ...: the "<N>" priorities */

#include "qpf-contract.h"

/* Exit codes of the contract (qpf-contract.h). */
enum {
	QPF_EXIT_OK = QPC_EXIT_OK,           /* this direction ended normally */
	QPF_EXIT_REFUSED = QPC_EXIT_REFUSED, /* the filter's verdict: refuse, abort the connection */
	QPF_EXIT_USAGE = QPC_EXIT_USAGE,     /* bad arguments or environment */
	QPF_EXIT_SYSTEM = QPC_EXIT_SYSTEM,   /* a system call failed */
};

/* The program name used in log lines (basename of argv[0]). */
extern const char *qpf_prog;

/*
 * Sets qpf_prog and checks that fds 0, 1 and 2 are open. A closed one is
 * reopened on /dev/null first (so that nothing the filter opens later
 * lands on fd 2 and receives log lines), then the filter dies with 100:
 * the contract promises all three.
 */
void qpf_init(const char *argv0);

/*
 * QPF_PRESTART;  (once, at file scope, in a filter whose main() calls
 * qpf_init() before anything reads the environment)
 *
 * Marks the program (an ELF note) as one the proxy may start before its
 * connection exists, so that a call does not wait for its exec(2) and
 * start-up. Such a program is started with only QREXEC_PROXY_PRESTART=1
 * in its environment; qpf_init() waits there for the connection's
 * environment (QREXEC_REMOTE_DOMAIN, QREXEC_PROXY_DIRECTION, ...), puts
 * it in place of its own, and returns; if no connection comes, the
 * program is killed before it reads a byte. Nothing else changes for it.
 */
#define QPF_PRESTART                                                         \
	__asm__(".pushsection .note.qrexec-proxy,\"a\",@note\n"                \
		".balign 4\n"                                                  \
		".long " QPC_STR(QPC_NOTE_NAMESZ) "\n"                         \
		".long " QPC_STR(QPC_NOTE_DESCSZ) "\n"                         \
		".long " QPC_STR(QPC_NOTE_TYPE) "\n"                           \
		".asciz \"" QPC_NOTE_NAME "\"\n"                               \
		".balign 4\n"                                                  \
		".ascii \"" QPC_NOTE_DESC "\"\n"                               \
		".balign 4\n"                                                  \
		".popsection\n");                                               \
	extern int qpf_prestart_note_

/*
 * QPF_PRESTART_LOCKED;  (instead of QPF_PRESTART, in a filter that locks
 * itself down with qpf_lockdown() and reads its environment, and takes
 * the time its connection started, only after that)
 *
 * The same, with more of the start-up done ahead: qpf_init() does not
 * wait, so the filter parses its arguments, opens what it needs and
 * locks itself down before its connection exists, and qpf_lockdown()
 * waits for the environment once the seccomp program is loaded. Loading
 * one costs the kernel its compilation (and, in a VM, interrupts to the
 * other cores): with this, a call does not wait for it nor share the
 * CPU with it. Nothing before qpf_lockdown() may read the environment,
 * or write to stdout. The kit's copy loops wait for the environment too
 * (qpf_wait_environment()), should the filter not lock itself down.
 */
#define QPF_PRESTART_LOCKED \
	QPF_PRESTART;       \
	const int qpf_prestart_locked = 1
/* defined (to 1) by QPF_PRESTART_LOCKED only */
extern const int qpf_prestart_locked __attribute__((weak));

/*
 * In a filter marked QPF_PRESTART_LOCKED and started ahead, waits for the
 * connection's environment if it has not come yet, and puts it in place;
 * anywhere else it returns at once. qpf_lockdown() and the copy loops
 * call it: a filter calls it itself only to read its environment without
 * them.
 */
void qpf_wait_environment(void);

/*
 * Call it once the arguments are parsed (and found good), before opening
 * anything or reading a byte: when the proxy runs the filter only to
 * check its arguments (QREXEC_PROXY_DIRECTION=check, at `qrexec-proxy
 * check`, start and reload), it exits 0 here. Bad arguments must have
 * ended the filter with 100 (qpf_usage) before it. qpf_lockdown() calls
 * it too, so a filter that locks itself down gets this for free.
 */
void qpf_args_checked(void);

/*
 * Logging to stderr, one line per call, in the sd-daemon form
 * "<PRIORITY>PROG: MESSAGE". PRIORITY is a syslog level (LOG_ERR...).
 * Control bytes in the formatted message are escaped, so a message can
 * never span lines or forge another line's prefix; long messages are cut.
 */
void qpf_log(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void qpf_vlog(int priority, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* same, appending ": strerror(errno)" */
void qpf_log_sys(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "<3>PROG: fatal: MESSAGE" and exit(code) */
_Noreturn void qpf_die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* same, appending ": strerror(errno)" */
_Noreturn void qpf_die_sys(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "<4>PROG: refused: MESSAGE" and exit(1): a policy verdict, not an error */
_Noreturn void qpf_refuse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "<3>PROG: usage: MESSAGE", a hint to try --help, and exit(100) */
_Noreturn void qpf_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Parses a byte count: decimal digits with an optional suffix K, M or G
 * (case-insensitive, powers of 1024). Returns -1 (EINVAL or ERANGE) for
 * anything else, including signs, spaces and overflow.
 */
int qpf_parse_size(const char *s, uint64_t *out);

/*
 * Parses seconds as a decimal: "5", "0.25", ".5" (at most 9 decimals,
 * at most 10^9 seconds) into nanoseconds. No sign, no exponent.
 */
int qpf_parse_seconds(const char *s, int64_t *ns_out);

/* CLOCK_MONOTONIC in nanoseconds */
int64_t qpf_now_ns(void);

/* Sleeps NS nanoseconds (restarting after stops); NS <= 0 returns at once. */
void qpf_sleep_ns(int64_t ns);

/* A uniformly random value in [0, max] from getrandom(2); -1 on failure. */
int qpf_random_below(uint64_t max, uint64_t *out);

/* write(2) until everything is written; -1 on error */
int qpf_write_all(int fd, const void *buf, size_t len);

/*
 * The copy loop. Moves bytes from IN to OUT with splice(2) when the
 * kernel allows (one side a pipe), with read/write through a large buffer
 * otherwise (a splice that fails with EINVAL switches to it for good).
 * Fds stay blocking: O_NONBLOCK belongs to the open file description,
 * which the process at the other end may share.
 *
 * limit:     stop after this many bytes (QPF_NO_LIMIT: until EOF).
 * deadline:  CLOCK_MONOTONIC time (qpf_now_ns()) at which to give up; 0: none.
 * idle:      give up when no byte moved for this long (ns); 0: none.
 * copied:    bytes moved so far (read it after the call; it accumulates).
 *
 * With a deadline or idle timeout the loop waits in poll(2) and moves at
 * most what a ready pipe accepts without blocking, so a stalled reader
 * downstream cannot hold it past its time.
 *
 * Returns the reason it stopped (>= 0), or -1 with errno on error (EPIPE
 * only if SIGPIPE is ignored: by default a vanished reader kills the
 * filter, which is the right outcome in a pipeline).
 *
 * OUT stays open. Once nothing more is to be written, close it at once
 * (close(1)): the next hop, and in the end the caller, see EOF then, not
 * only once this process has exited and been torn down, which would put
 * every filter's exit on the path to the caller's EOF.
 */
#define QPF_NO_LIMIT UINT64_MAX
struct qpf_copy {
	uint64_t limit;
	int64_t deadline;
	int64_t idle;
	uint64_t copied;
};
#define QPF_COPY_INIT { .limit = QPF_NO_LIMIT, .deadline = 0, .idle = 0, .copied = 0 }
enum qpf_copy_end {
	QPF_END_EOF,      /* IN reached end of file */
	QPF_END_LIMIT,    /* limit bytes moved (EOF may or may not follow) */
	QPF_END_DEADLINE, /* the deadline passed */
	QPF_END_IDLE,     /* nothing moved for idle ns */
};
int qpf_copy(int in, int out, struct qpf_copy *c);

/*
 * The filter's work for its call is done: what is left of it (closing
 * its output, its exit and teardown, a last log line) takes the CPU from
 * nothing that still carries the call (the next hop, which the close
 * wakes, the connector starting, the hops of the answer). It lowers the
 * process's priority to the least (nice 19; the lock-down allows that for
 * this process only). Then close(1), and return from main().
 */
void qpf_done(void);

/*
 * Reads IN to its end and throws the data away, so the writer upstream is
 * never blocked nor killed by a broken pipe. NULLFD, if not -1, is an fd
 * open on /dev/null (opened before the lock-down): data then goes there
 * with splice(2) and never enters user space. *discarded (may be NULL)
 * counts the bytes. Returns 0 at EOF, -1 on error.
 */
int qpf_discard(int in, int nullfd, uint64_t *discarded);

/*
 * The lock-down: a seccomp filter whose default action kills the process,
 * allowing only what moving bytes needs (read, write, readv, writev,
 * splice, tee, poll, ppoll, clock_gettime, clock_nanosleep, nanosleep,
 * brk, mmap, munmap, mremap, madvise, close, fcntl, getrandom, exit,
 * exit_group, rt_sigreturn, restart_syscall) plus the system calls named
 * in the NULL-terminated argument list ("flock", "pwrite64"...; names
 * this architecture lacks are skipped). Sets no-new-privs. Call it after
 * parsing arguments and opening files, before reading a byte of data.
 * Dies with 111 if the filter cannot be loaded.
 */
void qpf_lockdown(const char *extra, ...);

/*
 * Escaping for logs: writes an escaped copy of SRC into DST (at most DSTLEN
 * bytes, always NUL-terminated) and returns how many bytes of SRC it
 * covered. Printable ASCII stays as is except '\\', '"' and '<'; \a \b \t
 * \n \v \f \r use C escapes, every other byte \xHH (exactly two hex digits).
 */
size_t qpf_escape(char *dst, size_t dstlen, const void *src, size_t srclen);

#endif
