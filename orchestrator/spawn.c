/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/seccomp.h>

#include "spawn.h"

/* shared with the vfork child: it reports why it could not exec */
struct spawn_shared {
	const struct spawn_req *req;
	unsigned max_fd;  /* highest fd this process can have open */
	int err;
};

/* RESOURCE down to V, never up (a limit the daemon was started with stays) */
static int lower_limit(int resource, uint64_t v)
{
	struct rlimit rl;
	if (getrlimit(resource, &rl) < 0)
		return -1;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < v)
		v = rl.rlim_max;
	rl.rlim_cur = rl.rlim_max = (rlim_t)v;
	return setrlimit(resource, &rl);
}

/* only async-signal-safe calls from here on: we run on the parent's memory */
static _Noreturn void spawn_in_child(struct spawn_shared *sh, const sigset_t *empty)
{
	const struct spawn_req *r = sh->req;
	struct rlimit no_core = { 0, 0 };
	static const int reset[] = { SIGPIPE, SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT,
				     SIGALRM, SIGUSR1, SIGUSR2, SIGXFSZ };

	if (setpgid(0, r->pgid) < 0)
		goto fail;
	/*
	 * No process of a connection may outlive its supervisor: if the
	 * supervisor crashes, the kernel kills the rest.
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		goto fail;
	for (int i = 0; i < 3; i++)
		if (dup2(r->fd[i], i) < 0)
			goto fail;
	/*
	 * Everything is O_CLOEXEC already; this also catches a library's
	 * stray fd. Only up to the fd limit: nothing of ours is above it, and
	 * tools like valgrind keep their own fds there.
	 */
	if (syscall(SYS_close_range, 3U, sh->max_fd, 0U) < 0 && errno != ENOSYS)
		goto fail;
	/* an ignored SIGPIPE would survive exec and hide broken pipes from filters */
	for (size_t i = 0; i < sizeof(reset) / sizeof(reset[0]); i++)
		signal(reset[i], SIG_DFL);
	if (sigprocmask(SIG_SETMASK, empty, NULL) < 0)
		goto fail;
	if (setrlimit(RLIMIT_CORE, &no_core) < 0)
		goto fail;
	/*
	 * Without a cgroup, each process's own memory: what it allocates
	 * (RLIMIT_DATA), what it maps shared (RLIMIT_AS, twice that: a
	 * program reserves address space it never uses), what it writes to a
	 * memfd or a tmpfs (RLIMIT_FSIZE). Lowering needs no privilege.
	 */
	if (r->memory && (lower_limit(RLIMIT_DATA, r->memory) < 0 || lower_limit(RLIMIT_AS, 2 * r->memory) < 0 ||
			  lower_limit(RLIMIT_FSIZE, r->memory) < 0))
		goto fail;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		goto fail;
	if (r->seccomp && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, r->seccomp) < 0)
		goto fail;
	execve(r->path, r->argv, r->envp);
fail:
	sh->err = errno ? errno : EINVAL;
	{
		/*
		 * The parent reads sh->err; but where vfork is emulated by fork
		 * (valgrind) only this line on stderr tells what went wrong.
		 * strerrordesc_np reads a constant table: safe here, where
		 * strerror (locale, a buffer) is not.
		 */
		char msg[512] = "unable to start ";
		size_t n = strlen(msg);
		for (const char *p = r->path; *p && n < sizeof(msg) - 120; p++)
			msg[n++] = *p;
		msg[n++] = ':';
		msg[n++] = ' ';
#ifdef __GLIBC__
		const char *desc = strerrordesc_np(sh->err);
#else
		const char *desc = NULL;
#endif
		if (desc) {
			for (const char *p = desc; *p && n < sizeof(msg) - 2; p++)
				msg[n++] = *p;
		} else {
			static const char e[] = "errno ";
			for (const char *p = e; *p; p++)
				msg[n++] = *p;
			int v = sh->err;
			char digits[12];
			size_t k = 0;
			do {
				digits[k++] = (char)('0' + v % 10);
				v /= 10;
			} while (v && k < sizeof(digits));
			while (k && n < sizeof(msg) - 2)
				msg[n++] = digits[--k];
		}
		msg[n++] = '\n';
		ssize_t w = write(2, msg, n);
		(void)w;
	}
	_exit(127);
}

pid_t spawn_child(const struct spawn_req *r)
{
	struct spawn_shared sh = { .req = r, .max_fd = ~0U, .err = 0 };
	sigset_t all, old, empty;
	struct rlimit nofile;
	pid_t pid;

	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY &&
	    nofile.rlim_cur > 3 && nofile.rlim_cur <= ~0U)
		sh.max_fd = (unsigned)(nofile.rlim_cur - 1);

	/*
	 * Block every signal across vfork: a handler running in the child
	 * would run on the parent's stack and state.
	 */
	sigfillset(&all);
	sigemptyset(&empty);
	if (sigprocmask(SIG_SETMASK, &all, &old) < 0)
		return -1;
	/*
	 * SH must live in memory both sides see. To the compiler, the
	 * child's path ends in _exit and SH is a local nobody else knows:
	 * it kept the child's error in a register, never stored it, and the
	 * parent read the 0 of the initialiser (a program that could not be
	 * started looked started, then "exited 127"). Handing its address to
	 * the opaque statement makes it memory anyone may read or change.
	 */
	__asm__ __volatile__("" : : "r"(&sh) : "memory");
	pid = vfork();
	__asm__ __volatile__("" : : "r"(&sh) : "memory");
	if (pid == 0)
		spawn_in_child(&sh, &empty);
	int err = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		errno = err;
		return -1;
	}
	/*
	 * The child joined the group itself before exec; repeating it here
	 * matters only where vfork is emulated by fork (valgrind): the next
	 * child must find the group already made. EACCES: it has exec'd;
	 * EPERM: it has exec'd and made a session of its own (setsid() is the
	 * first thing some programs do), which is its right, not a failure
	 * to start; ESRCH: it has even ended already.
	 */
	if (!sh.err && setpgid(pid, r->pgid ? r->pgid : pid) < 0 && errno != EACCES && errno != ESRCH &&
	    errno != EPERM)
		sh.err = errno;
	if (sh.err) {
		int status;
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		errno = sh.err;
		return -1;
	}
	return pid;
}

const char *spawn_strstatus(int status, char *buf, size_t size)
{
	if (WIFEXITED(status))
		snprintf(buf, size, "exited %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, size, "killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(buf, size, "status 0x%x", (unsigned)status);
	return buf;
}
