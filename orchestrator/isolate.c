/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One sandbox per connection (see isolate.h for what each mechanism
 * gives). The init of a sandbox is a fork of the supervisor, so it finds
 * every argv, environment and fd it needs already in its memory; from the
 * moment it exists it touches nothing the supervisor shares with anyone,
 * and it reports to the supervisor only through its event pipe.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/mount.h>
#include <linux/seccomp.h>

#include "fdpass.h"
#include "isolate.h"
#include "spawn.h"

/*
 * The Landlock ABI, from the kernel's (stable) interface: Debian 12's
 * headers stop at ABI 2, and the scoping of signals needs ABI 6.
 */
#define LL_CREATE_RULESET_VERSION (1U << 0)
#define LL_RULE_PATH_BENEATH 1
#define LL_FS_EXECUTE (1ULL << 0)
#define LL_FS_WRITE_FILE (1ULL << 1)
#define LL_FS_READ_FILE (1ULL << 2)
#define LL_FS_READ_DIR (1ULL << 3)
#define LL_FS_ABI1_ALL ((1ULL << 13) - 1)
#define LL_FS_REFER (1ULL << 13)
#define LL_FS_TRUNCATE (1ULL << 14)
#define LL_FS_IOCTL_DEV (1ULL << 15)
#define LL_NET_BIND_TCP (1ULL << 0)
#define LL_NET_CONNECT_TCP (1ULL << 1)
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define LL_SCOPE_SIGNAL (1ULL << 1)
/* the first ABI that scopes signals: without it a filter could signal the daemon */
#define LL_ABI_NEEDED 6

struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

struct ll_path_beneath_attr {
	uint64_t allowed_access;
	int32_t parent_fd;
} __attribute__((packed));

#ifndef QP_FILTERDIR
#define QP_FILTERDIR "/usr/libexec/qrexec-proxy/filters"
#endif

/* a filter that forks: enough for any honest one, not enough to starve the daemon */
#define SANDBOX_NPROC 256

/* the steps of the init's set-up, named in SETUP_FAILED events */
enum {
	STEP_FDS,
	STEP_MAPS,
	STEP_SYNC,
	STEP_IDS,
	STEP_PROC,
	STEP_HIDE,
	STEP_STATE,
	STEP_READONLY,
	STEP_LANDLOCK,
	STEP_LIMITS,
	STEP_SECCOMP,
	STEP_REQUEST,
	STEP_COUNT,
};

static const char *const step_names[STEP_COUNT] = {
	[STEP_FDS] = "close inherited fds",
	[STEP_MAPS] = "write the user namespace's id maps",
	[STEP_SYNC] = "wait for the id maps",
	[STEP_IDS] = "become the sandbox's user",
	[STEP_PROC] = "mount /proc",
	[STEP_HIDE] = "cover directories with an empty tmpfs",
	[STEP_STATE] = "make the state directory writable",
	[STEP_READONLY] = "make the file system read-only",
	[STEP_LANDLOCK] = "create the Landlock domain",
	[STEP_LIMITS] = "set resource limits",
	[STEP_SECCOMP] = "load the baseline seccomp policy",
	[STEP_REQUEST] = "receive the programs to start",
};

const char *isolate_setup_step_name(int step)
{
	return step >= 0 && step < STEP_COUNT ? step_names[step] : "set up";
}

const char *isolate_mech_name(enum isolate_mech m)
{
	switch (m) {
	case ISOLATE_AUTO:
		return "auto";
	case ISOLATE_NAMESPACES:
		return "namespaces";
	case ISOLATE_LANDLOCK:
		return "landlock";
	case ISOLATE_SECCOMP_ONLY:
		return "seccomp-only";
	case ISOLATE_NONE:
		return "none";
	}
	return "unknown";
}

int isolate_parse_mech(const char *s, enum isolate_mech *out)
{
	static const enum isolate_mech all[] = { ISOLATE_AUTO, ISOLATE_NAMESPACES, ISOLATE_LANDLOCK,
						 ISOLATE_SECCOMP_ONLY };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (!strcmp(s, isolate_mech_name(all[i]))) {
			*out = all[i];
			return 0;
		}
	}
	return -1;
}

bool isolate_is_builtin(const char *path)
{
	size_t n = strlen(QP_FILTERDIR);
	return !strncmp(path, QP_FILTERDIR, n) && path[n] == '/' && !strchr(path + n + 1, '/');
}

/* ---- inside the init: only what a forked child may do ---- */

struct init_ctx {
	const struct isolate_policy *pol;
	enum isolate_role role;
	const struct isolate_proc *procs;
	size_t n;
	const char *const *programs; /* every program it may start: their directories stay visible */
	size_t nprograms;
	const struct sock_fprog *seccomp;
	int events;
	int sync;
	int ctl;                     /* prepared: where the programs arrive (isolate_run); else -1 */
};

static void init_report(const struct init_ctx *x, int32_t index, int32_t kind, int32_t value, int32_t pid)
{
	struct isolate_event ev = { index, kind, value, pid };
	/* one record is far below PIPE_BUF: written whole or not at all */
	while (write(x->events, &ev, sizeof(ev)) < 0) {
		if (errno != EINTR)
			_exit(111); /* the supervisor is gone: so is the connection */
	}
}

static _Noreturn void init_fail(const struct init_ctx *x, int step)
{
	init_report(x, step, ISOLATE_EV_SETUP_FAILED, errno ? errno : EINVAL, 0);
	_exit(111);
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

/* Closes every fd but the ones in KEEP (0, 1 and 2 too: the init says nothing). */
static int close_all_but(int *keep, size_t nkeep)
{
	struct rlimit rl;
	unsigned max = ~0U;
	/* up to the fd limit only: tools like valgrind keep their own fds above it */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur <= ~0U)
		max = (unsigned)rl.rlim_cur - 1;
	qsort(keep, nkeep, sizeof(*keep), cmp_int);
	unsigned from = 0;
	for (size_t i = 0; i <= nkeep; i++) {
		unsigned to = i < nkeep ? (unsigned)keep[i] : max + 1;
		if (to > from && syscall(SYS_close_range, from, to - 1, 0U) < 0 && errno != ENOSYS)
			return -1;
		from = to + 1;
	}
	return 0;
}

static int write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t len = strlen(text);
	ssize_t w = write(fd, text, len);
	int err = errno;
	close(fd);
	if (w != (ssize_t)len) {
		errno = w < 0 ? err : EIO;
		return -1;
	}
	return 0;
}

/* whether PATH is DIR or beneath it */
static bool path_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		n--;
	return !strncmp(path, dir, n) && (path[n] == '\0' || path[n] == '/' || n == 1);
}

/* mountinfo escapes space, tab, newline and backslash as \ooo */
static void unescape_octal(char *s)
{
	char *o = s;
	for (char *p = s; *p; p++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '7' && p[2] >= '0' && p[2] <= '7' && p[3] >= '0' &&
		    p[3] <= '7') {
			*o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
			p += 3;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
}

/*
 * Where mount_setattr(2) is missing (Linux before 5.12, or valgrind, which
 * does not know it): remount every mount read-only, one by one, keeping
 * the flags it has (a remount may not drop a flag locked by the parent
 * namespace). KEEP_RW stays writable.
 */
static int remount_all_readonly(const char *keep_rw)
{
	static const struct { unsigned long st, ms; } flags[] = {
		{ ST_NOSUID, MS_NOSUID }, { ST_NODEV, MS_NODEV }, { ST_NOEXEC, MS_NOEXEC },
		{ ST_NOATIME, MS_NOATIME }, { ST_NODIRATIME, MS_NODIRATIME }, { ST_RELATIME, MS_RELATIME },
	};
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char mp[4096];
		struct statvfs sv;
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT ... */
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
			continue;
		unescape_octal(mp);
		if (statvfs(mp, &sv) < 0)
			continue; /* covered by a later mount, or gone */
		unsigned long ms = MS_REMOUNT | MS_BIND | MS_NOSUID;
		for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
			if (sv.f_flag & flags[i].st)
				ms |= flags[i].ms;
		if (!keep_rw || strcmp(mp, keep_rw) != 0)
			ms |= MS_RDONLY;
		/*
		 * EBUSY: a file of this namespace's copy is open for writing
		 * there, which only a tool wrapping the daemon (valgrind's log
		 * of the init) can have done: that mount stays as it is.
		 */
		if (mount("none", mp, "none", ms, NULL) < 0 && errno != EACCES && errno != ENOENT && errno != EBUSY) {
			int err = errno;
			fclose(f);
			errno = err;
			return -1;
		}
	}
	fclose(f);
	return 0;
}

static void init_namespaces(const struct init_ctx *x)
{
	const struct isolate_policy *pol = x->pol;
	char map[64];

	if (pol->drop_to_nobody) {
		/* the supervisor (root) writes the maps: wait for it, then become nobody */
		char c;
		if (read(x->sync, &c, 1) != 1) {
			errno = EPIPE;
			init_fail(x, STEP_SYNC);
		}
		if (setgroups(0, NULL) < 0 || setresgid(pol->gid, pol->gid, pol->gid) < 0 ||
		    setresuid(pol->uid, pol->uid, pol->uid) < 0)
			init_fail(x, STEP_IDS);
	} else {
		/*
		 * Only a dumpable process may write its own maps (the files
		 * under /proc/self belong to root otherwise); the init is
		 * non-dumpable again before it runs anything.
		 */
		if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0 || write_text("/proc/self/setgroups", "deny") < 0)
			init_fail(x, STEP_MAPS);
		snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)pol->uid, (unsigned)pol->uid);
		if (write_text("/proc/self/uid_map", map) < 0)
			init_fail(x, STEP_MAPS);
		snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)pol->gid, (unsigned)pol->gid);
		if (write_text("/proc/self/gid_map", map) < 0)
			init_fail(x, STEP_MAPS);
		if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
			init_fail(x, STEP_MAPS);
	}

	/*
	 * The mounts are this namespace's alone (the copies of a less
	 * privileged mount namespace never propagate back). /proc first:
	 * mounted from inside the PID namespace, it shows the connection's
	 * processes and nothing else.
	 */
	if (pol->proc_private) {
		if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
			init_fail(x, STEP_PROC);
	} else if (mount("none", "/proc", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY,
			 "size=4k,nr_inodes=2,mode=0555") < 0) {
		init_fail(x, STEP_PROC);
	}
	struct stat st;
	bool admission = x->role == ISOLATE_ADMISSION && pol->state_dir && stat(pol->state_dir, &st) == 0;
	for (size_t i = 0; i < pol->nhide; i++) {
		const char *h = pol->hide[i];
		/* admission checks keep the state directory, wherever it is */
		if (admission && path_within(pol->state_dir, h))
			continue;
		/*
		 * Nor may a program's own directory vanish (a test tree under
		 * /tmp, a filter in /home): that directory stays, read-only.
		 * The state directory is always covered for filters (no
		 * program lives in it), and sockets need socket(2), denied.
		 */
		bool holds_program = false;
		for (size_t k = 0; k < x->nprograms; k++)
			holds_program |= path_within(x->programs[k], h);
		if (holds_program)
			continue;
		if (mount("none", h, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY,
			  "size=4k,nr_inodes=2,mode=0555") < 0 &&
		    errno != ENOENT && errno != ENOTDIR)
			init_fail(x, STEP_HIDE);
	}
	if (admission && mount(pol->state_dir, pol->state_dir, NULL, MS_BIND, NULL) < 0)
		init_fail(x, STEP_STATE);
	/* everything read-only at once, every mount below / included */
	struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID };
	if (syscall(SYS_mount_setattr, AT_FDCWD, "/", AT_RECURSIVE, &ro, sizeof(ro)) < 0) {
		if (errno != ENOSYS || remount_all_readonly(admission ? pol->state_dir : NULL) < 0)
			init_fail(x, STEP_READONLY);
	} else if (admission) {
		struct mount_attr rw = { .attr_clr = MOUNT_ATTR_RDONLY };
		if (syscall(SYS_mount_setattr, AT_FDCWD, pol->state_dir, 0, &rw, sizeof(rw)) < 0)
			init_fail(x, STEP_STATE);
	}
	/* a fork bomb in a filter stops at its own connection's count */
	struct rlimit nproc = { SANDBOX_NPROC, SANDBOX_NPROC };
	if (setrlimit(RLIMIT_NPROC, &nproc) < 0)
		init_fail(x, STEP_LIMITS);
}

static int ll_allow(int ruleset, const char *path, uint64_t access)
{
	int fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
	struct stat st;
	if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
		access &= LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV;
	struct ll_path_beneath_attr pb = { .allowed_access = access, .parent_fd = fd };
	int r = (int)syscall(SYS_landlock_add_rule, ruleset, LL_RULE_PATH_BENEATH, &pb, 0);
	int err = errno;
	close(fd);
	errno = err;
	return r;
}

static void init_landlock(const struct init_ctx *x)
{
	const struct isolate_policy *pol = x->pol;
	uint64_t fs = LL_FS_ABI1_ALL | LL_FS_REFER | LL_FS_TRUNCATE;
	if (pol->landlock_abi >= 5)
		fs |= LL_FS_IOCTL_DEV;
	struct ll_ruleset_attr attr = {
		.handled_access_fs = fs,
		.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP,
		.scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL,
	};
	const uint64_t rx = LL_FS_EXECUTE | LL_FS_READ_FILE | LL_FS_READ_DIR;
	char dir[4096];

	int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0U);
	if (rs < 0)
		init_fail(x, STEP_LANDLOCK);
	for (size_t i = 0; i < pol->nreadable; i++)
		if (ll_allow(rs, pol->readable[i], rx) < 0)
			init_fail(x, STEP_LANDLOCK);
	/* each program's own directory, wherever it was installed */
	for (size_t i = 0; i < x->nprograms; i++) {
		snprintf(dir, sizeof(dir), "%s", x->programs[i]);
		char *slash = strrchr(dir, '/');
		if (!slash || slash == dir)
			continue;
		*slash = '\0';
		if (ll_allow(rs, dir, rx) < 0)
			init_fail(x, STEP_LANDLOCK);
	}
	if (ll_allow(rs, "/dev/null", LL_FS_READ_FILE | LL_FS_WRITE_FILE | LL_FS_TRUNCATE) < 0 ||
	    ll_allow(rs, "/dev/zero", LL_FS_READ_FILE) < 0 || ll_allow(rs, "/dev/urandom", LL_FS_READ_FILE) < 0 ||
	    ll_allow(rs, "/dev/random", LL_FS_READ_FILE) < 0)
		init_fail(x, STEP_LANDLOCK);
	if (x->role == ISOLATE_ADMISSION && pol->state_dir && ll_allow(rs, pol->state_dir, fs) < 0)
		init_fail(x, STEP_LANDLOCK);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || syscall(SYS_landlock_restrict_self, rs, 0U) < 0)
		init_fail(x, STEP_LANDLOCK);
	close(rs);
}

/*
 * A request for a prepared sandbox: a header, the programs' argument and
 * environment counts, then their strings (path, argv, envp of each, every
 * one NUL-terminated); the programs' fds, three each, ride along with the
 * header as SCM_RIGHTS.
 */
struct request_hdr {
	uint32_t n;
	uint32_t len; /* of what follows the header */
};
#define REQUEST_MAX (16U << 20)
_Static_assert(3 * QP_MAX_PROCS <= FDPASS_MAX_FDS, "three fds of every program in one message");

/* Takes the programs of a prepared sandbox from CTL into X. 0 at EOF (nothing to run), 1, or -1. */
static int init_receive(struct init_ctx *x, int ctl)
{
	struct request_hdr h;
	int fds[FDPASS_MAX_FDS];
	size_t nfds = 0;
	int r = fdpass_recv(ctl, &h, sizeof(h), fds, FDPASS_MAX_FDS, &nfds);
	if (r <= 0)
		return r;
	errno = EPROTO;
	if (h.n > QP_MAX_PROCS || nfds != 3 * (size_t)h.n || h.len > REQUEST_MAX)
		return -1;
	/*
	 * The init closed 0, 1 and 2: fds received land there first, where the
	 * programs' own dup2 into 0, 1 and 2 would overwrite one with another.
	 */
	for (size_t i = 0; i < nfds; i++)
		if (fds[i] < 3) {
			int moved = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
			if (moved < 0)
				return -1;
			int low = fds[i];
			for (size_t j = i; j < nfds; j++)
				if (fds[j] == low)
					fds[j] = moved;
			close(low);
		}
	uint32_t *counts = malloc(h.len + 1);
	struct isolate_proc *procs = calloc(h.n ? h.n : 1, sizeof(*procs));
	if (!counts || !procs || fdpass_read_full(ctl, counts, h.len) < 0)
		return -1;
	char *str = (char *)counts + 2 * sizeof(uint32_t) * h.n, *end = (char *)counts + h.len;
	*end = '\0';
	if ((size_t)h.len < 2 * sizeof(uint32_t) * h.n)
		return -1;
	for (uint32_t i = 0; i < h.n; i++) {
		uint32_t nargv = counts[2 * i], nenv = counts[2 * i + 1];
		char **argv = calloc((size_t)nargv + 1, sizeof(char *));
		char **envp = calloc((size_t)nenv + 1, sizeof(char *));
		if (!argv || !envp || str >= end)
			return -1;
		procs[i].path = str;
		str += strlen(str) + 1;
		for (uint32_t k = 0; k < nargv + nenv; k++) {
			if (str >= end)
				return -1;
			if (k < nargv)
				argv[k] = str;
			else
				envp[k - nargv] = str;
			str += strlen(str) + 1;
		}
		procs[i].argv = argv;
		procs[i].envp = envp;
		for (int j = 0; j < 3; j++)
			procs[i].fd[j] = fds[3 * i + (uint32_t)j];
	}
	x->procs = procs;
	x->n = h.n;
	return 1;
}

/* one of the init's two spawning threads: programs FIRST, FIRST + STRIDE, ... */
struct spawner {
	const struct init_ctx *x;
	size_t first;
	pid_t pgid;
	pid_t *pids;
	int err;
	long failed;  /* the index that could not start, or -1 */
	size_t stride;
	sem_t *done;  /* the second thread: posted when its programs started */
};

static void *spawner_run(void *arg)
{
	struct spawner *sp = arg;
	const struct init_ctx *x = sp->x;
	size_t stride = sp->stride ? sp->stride : 2;
	for (size_t i = sp->first; i < x->n && i < QP_MAX_PROCS; i += stride) {
		struct spawn_req req = {
			.path = x->procs[i].path,
			.argv = x->procs[i].argv,
			.envp = x->procs[i].envp,
			.fd = { x->procs[i].fd[0], x->procs[i].fd[1], x->procs[i].fd[2] },
			.seccomp = NULL, /* inherited from the init */
			.pgid = sp->pgid,
		};
		sp->pids[i] = spawn_child(&req);
		if (sp->pids[i] < 0) {
			sp->err = errno;
			sp->failed = (long)i;
			return NULL;
		}
		init_report(x, (int32_t)i, ISOLATE_EV_STARTED, 0, sp->pids[i]);
	}
	if (!sp->done)
		return NULL;
	/*
	 * A child's parent-death signal follows the thread that forked it:
	 * this thread lives as long as the init does, so its programs do too.
	 */
	sem_post(sp->done);
	for (;;)
		pause();
}

static _Noreturn void init_main(const struct init_ctx *cx, pid_t parent)
{
	struct init_ctx local = *cx;
	struct init_ctx *x = &local;
	const struct isolate_policy *pol = x->pol;
	size_t nkeep = 3 + 3 * x->n;
	int keep[3 + 3 * QP_MAX_PROCS];
	size_t k = 0;

	/* if the supervisor dies, so does the sandbox (and, for namespaces, all inside) */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 ||
	    (pol->mech != ISOLATE_NAMESPACES && getppid() != parent))
		_exit(111);
	if (nkeep <= sizeof(keep) / sizeof(keep[0])) {
		keep[k++] = x->events;
		if (x->sync >= 0)
			keep[k++] = x->sync;
		if (x->ctl >= 0)
			keep[k++] = x->ctl;
		for (size_t i = 0; i < x->n; i++)
			for (int j = 0; j < 3; j++)
				keep[k++] = x->procs[i].fd[j];
		if (close_all_but(keep, k) < 0)
			init_fail(x, STEP_FDS);
	}
	/* its own process group, which the programs join: one killpg ends them */
	setpgid(0, 0);
	prctl(PR_SET_NAME, "qp-sandbox", 0, 0, 0);

	if (pol->mech == ISOLATE_NAMESPACES) {
		init_namespaces(x);
	} else if (pol->drop_to_nobody) {
		if (setgroups(0, NULL) < 0 || setresgid(pol->gid, pol->gid, pol->gid) < 0 ||
		    setresuid(pol->uid, pol->uid, pol->uid) < 0)
			init_fail(x, STEP_IDS);
	}
	/* a change of credentials clears the parent-death signal: set it again */
	if (pol->drop_to_nobody && prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		init_fail(x, STEP_IDS);
	if (pol->mech == ISOLATE_LANDLOCK)
		init_landlock(x);
	if (pol->mech != ISOLATE_NAMESPACES) {
		/* orphans of the programs come here, not to the supervisor, while the init lives */
		prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	}
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		init_fail(x, STEP_LIMITS);
	if (x->seccomp && (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
			   prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, x->seccomp) < 0))
		init_fail(x, STEP_SECCOMP);
	if (x->sync >= 0)
		close(x->sync);
	if (x->ctl >= 0) {
		/* set up before its connection is known; now wait for the programs to start */
		int r = init_receive(x, x->ctl);
		if (r == 0)
			_exit(0); /* not needed after all */
		if (r < 0)
			init_fail(x, STEP_REQUEST);
		close(x->ctl);
	}

	pid_t pgid = getpid();
	pid_t pids[QP_MAX_PROCS];
	size_t started = 0, exited = 0;
	if (x->role == ISOLATE_FILTERS && x->n >= 2) {
		/*
		 * Filters start all at once: half of them from a second thread,
		 * so that two exec(2)s run side by side on two cores. vfork
		 * stops only the thread that calls it.
		 */
		sem_t done;
		struct spawner sp[2] = { { x, 0, pgid, pids, 0, -1, 2, NULL }, { x, 1, pgid, pids, 0, -1, 2, &done } };
		pthread_t t;
		bool threaded = sem_init(&done, 0, 0) == 0 && pthread_create(&t, NULL, spawner_run, &sp[1]) == 0;
		if (!threaded)
			sp[0].stride = 1;
		spawner_run(&sp[0]);
		while (threaded && sem_wait(&done) < 0 && errno == EINTR)
			;
		for (int h = 0; h < 2; h++)
			if (sp[h].failed >= 0) {
				init_report(x, (int32_t)sp[h].failed, ISOLATE_EV_START_FAILED, sp[h].err, 0);
				_exit(1);
			}
		started = x->n;
		/* the programs have their copies; holding them would keep pipes open */
		for (size_t i = 0; i < x->n; i++)
			for (int j = 0; j < 3; j++)
				close(x->procs[i].fd[j]);
	}
	for (size_t i = started; i < x->n && i < QP_MAX_PROCS; i++) {
		struct spawn_req req = {
			.path = x->procs[i].path,
			.argv = x->procs[i].argv,
			.envp = x->procs[i].envp,
			.fd = { x->procs[i].fd[0], x->procs[i].fd[1], x->procs[i].fd[2] },
			.seccomp = NULL, /* inherited from the init */
			.pgid = pgid,
		};
		pids[i] = spawn_child(&req);
		if (pids[i] < 0) {
			init_report(x, (int32_t)i, ISOLATE_EV_START_FAILED, errno, 0);
			_exit(1);
		}
		started++;
		init_report(x, (int32_t)i, ISOLATE_EV_STARTED, 0, pids[i]);
		/* the program has its copies; holding them would keep pipes open */
		for (int j = 0; j < 3; j++) {
			int fd = x->procs[i].fd[j];
			bool later = false;
			for (size_t m = i + 1; m < x->n; m++)
				for (int q = 0; q < 3; q++)
					later |= x->procs[m].fd[q] == fd;
			if (!later)
				close(fd);
		}
		if (x->role != ISOLATE_ADMISSION)
			continue;
		/* admission checks run one after another: wait for this one's verdict */
		for (;;) {
			int status;
			pid_t r = waitpid(-1, &status, 0);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				_exit(111);
			if (r != pids[i])
				continue; /* an orphan it left */
			exited++;
			init_report(x, (int32_t)i, ISOLATE_EV_EXITED, status, r);
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				_exit(1);
			break;
		}
	}
	while (exited < started) {
		int status;
		pid_t r = waitpid(-1, &status, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			_exit(111);
		}
		for (size_t i = 0; i < started; i++) {
			if (pids[i] == r) {
				pids[i] = 0;
				exited++;
				init_report(x, (int32_t)i, ISOLATE_EV_EXITED, status, r);
			}
		}
	}
	/*
	 * Namespaces: the kernel ends whatever the programs left behind when
	 * the PID namespace's init exits. Otherwise their orphans pass to the
	 * supervisor, a subreaper too, which ends them with the connection.
	 */
	_exit(0);
}

/* ---- in the supervisor ---- */

static int write_maps(pid_t pid, const struct isolate_policy *pol)
{
	char path[64], map[64];
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)pol->uid, (unsigned)pol->uid);
	snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
	if (write_text(path, map) < 0)
		return -1;
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)pol->gid, (unsigned)pol->gid);
	snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
	return write_text(path, map);
}

static int sandbox_fork(const struct isolate_policy *pol, enum isolate_role role, const struct isolate_proc *procs,
			size_t n, const char *const *programs, size_t nprograms, int ctl,
			const struct sock_fprog *seccomp, struct isolate_sandbox *sb)
{
	int ev[2], sync[2] = { -1, -1 };
	pid_t parent = getpid();
	bool maps_by_parent = pol->mech == ISOLATE_NAMESPACES && pol->drop_to_nobody;

	sb->pid = -1;
	sb->events = -1;
	if (n > QP_MAX_PROCS || pol->mech == ISOLATE_NONE) {
		errno = n > QP_MAX_PROCS ? E2BIG : EPERM;
		return -1;
	}
	if (pipe2(ev, O_CLOEXEC) < 0)
		return -1;
	/* records of 16 bytes: one page is plenty, and pipe memory is budgeted (connlimits.h) */
	fcntl(ev[0], F_SETPIPE_SZ, 4096);
	if (maps_by_parent && pipe2(sync, O_CLOEXEC) < 0) {
		int err = errno;
		close(ev[0]);
		close(ev[1]);
		errno = err;
		return -1;
	}
	struct init_ctx x = { .pol = pol, .role = role, .procs = procs, .n = n, .programs = programs,
			      .nprograms = nprograms, .seccomp = seccomp, .events = ev[1], .sync = sync[0],
			      .ctl = ctl };
	pid_t pid;
	if (pol->mech == ISOLATE_NAMESPACES)
		/*
		 * clone as fork does, straight into the new namespaces: the
		 * child is PID 1 there. No UTS namespace: the host name is
		 * all it holds, and a filter cannot change the system's
		 * (that takes CAP_SYS_ADMIN over its owner, the initial user
		 * namespace; the baseline policy denies sethostname too), so
		 * the unit can forbid creating one (RestrictNamespaces=).
		 */
		pid = (pid_t)syscall(SYS_clone,
				     (unsigned long)(CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | SIGCHLD),
				     NULL, NULL, NULL, 0UL);
	else
		pid = fork();
	if (pid == 0) {
		close(ev[0]);
		if (sync[1] >= 0)
			close(sync[1]);
		init_main(&x, parent);
	}
	int err = errno;
	close(ev[1]);
	if (sync[0] >= 0)
		close(sync[0]);
	if (pid < 0) {
		close(ev[0]);
		if (sync[1] >= 0)
			close(sync[1]);
		errno = err;
		return -1;
	}
	sb->pid = pid;
	sb->events = ev[0];
	if (maps_by_parent) {
		int rc = write_maps(pid, pol);
		err = errno;
		if (rc == 0 && write(sync[1], "m", 1) != 1) {
			rc = -1;
			err = errno;
		}
		close(sync[1]);
		if (rc < 0) {
			kill(pid, SIGKILL);
			errno = err;
			return -1; /* the caller reaps it */
		}
	}
	int fl = fcntl(sb->events, F_GETFL);
	if (fl >= 0)
		fcntl(sb->events, F_SETFL, fl | O_NONBLOCK);
	return 0;
}

int isolate_start(const struct isolate_policy *pol, enum isolate_role role, const struct isolate_proc *procs,
		  size_t n, const struct sock_fprog *seccomp, struct isolate_sandbox *sb)
{
	const char *programs[QP_MAX_PROCS];
	for (size_t i = 0; i < n && i < QP_MAX_PROCS; i++)
		programs[i] = procs[i].path;
	return sandbox_fork(pol, role, procs, n, programs, n, -1, seccomp, sb);
}

int isolate_prepare(const struct isolate_policy *pol, enum isolate_role role, const char *const *programs,
		    size_t nprograms, const struct sock_fprog *seccomp, struct isolate_prepared *p)
{
	int sv[2];
	p->sb.pid = -1;
	p->sb.events = -1;
	p->ctl = -1;
	p->pol = pol;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	int rc = sandbox_fork(pol, role, NULL, 0, programs, nprograms, sv[1], seccomp, &p->sb);
	int err = errno;
	close(sv[1]);
	if (rc < 0) {
		close(sv[0]);
		isolate_discard(p);
		errno = err;
		return -1;
	}
	p->ctl = sv[0];
	return 0;
}

int isolate_run(struct isolate_prepared *p, const struct isolate_proc *procs, size_t n, struct isolate_sandbox *sb)
{
	if (p->ctl < 0 || n > QP_MAX_PROCS) {
		errno = n > QP_MAX_PROCS ? E2BIG : EBADF;
		return -1;
	}
	size_t len = 2 * sizeof(uint32_t) * n;
	for (size_t i = 0; i < n; i++) {
		len += strlen(procs[i].path) + 1;
		for (char *const *a = procs[i].argv; *a; a++)
			len += strlen(*a) + 1;
		for (char *const *e = procs[i].envp; *e; e++)
			len += strlen(*e) + 1;
	}
	if (len > REQUEST_MAX) {
		errno = E2BIG;
		return -1;
	}
	struct request_hdr h = { (uint32_t)n, (uint32_t)len };
	char *body = malloc(len ? len : 1);
	if (!body)
		return -1;
	uint32_t *counts = (uint32_t *)(void *)body;
	char *str = body + 2 * sizeof(uint32_t) * n;
	int fds[3 * QP_MAX_PROCS];
	for (size_t i = 0; i < n; i++) {
		uint32_t na = 0, ne = 0;
		size_t l = strlen(procs[i].path) + 1;
		memcpy(str, procs[i].path, l);
		str += l;
		for (char *const *a = procs[i].argv; *a; a++, na++) {
			l = strlen(*a) + 1;
			memcpy(str, *a, l);
			str += l;
		}
		for (char *const *e = procs[i].envp; *e; e++, ne++) {
			l = strlen(*e) + 1;
			memcpy(str, *e, l);
			str += l;
		}
		memcpy(&counts[2 * i], &na, sizeof(na));
		memcpy(&counts[2 * i + 1], &ne, sizeof(ne));
		for (int j = 0; j < 3; j++)
			fds[3 * i + (size_t)j] = procs[i].fd[j];
	}
	int rc = fdpass_send(p->ctl, &h, sizeof(h), body, len, fds, 3 * n, 0);
	int err = errno;
	free(body);
	close(p->ctl);
	p->ctl = -1;
	if (rc < 0) {
		errno = err;
		return -1;
	}
	*sb = p->sb;
	p->sb.pid = -1;
	p->sb.events = -1;
	return 0;
}

void isolate_discard(struct isolate_prepared *p)
{
	if (p->ctl >= 0)
		close(p->ctl);
	p->ctl = -1;
	if (p->sb.pid > 0) {
		kill(p->sb.pid, SIGKILL);
		while (waitpid(p->sb.pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	p->sb.pid = -1;
	if (p->sb.events >= 0)
		close(p->sb.events);
	p->sb.events = -1;
}

int isolate_read_event(struct isolate_sandbox *sb, struct isolate_event *ev)
{
	for (;;) {
		ssize_t r = read(sb->events, ev, sizeof(*ev));
		if (r == (ssize_t)sizeof(*ev))
			return 1;
		if (r == 0)
			return 0;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		/* records are written whole: a short one means a broken init */
		errno = EPROTO;
		return 0;
	}
}

/* ---- deciding the mechanism ---- */

static void add_path(const char **list, size_t *n, const char *p)
{
	if (!p || !*p || !strcmp(p, "/") || *n >= ISOLATE_MAX_PATHS)
		return;
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(list[i], p))
			return;
	list[(*n)++] = p;
}

/* Builds an empty sandbox and waits for it: 0 when the set-up worked, else -1 and why. */
static int trial(const struct isolate_policy *pol, char *why, size_t size)
{
	struct isolate_sandbox sb;
	/* an admission sandbox exercises every step, the state directory included */
	enum isolate_role role = pol->state_dir ? ISOLATE_ADMISSION : ISOLATE_FILTERS;
	int rc = isolate_start(pol, role, NULL, 0, NULL, &sb);
	int err = errno;
	if (rc < 0 && sb.pid < 0) {
		snprintf(why, size, "%s", strerror(err));
		return -1;
	}
	int status = 0;
	while (sb.pid > 0 && waitpid(sb.pid, &status, 0) < 0 && errno == EINTR)
		;
	struct isolate_event ev;
	int fl = fcntl(sb.events, F_GETFL);
	fcntl(sb.events, F_SETFL, fl & ~O_NONBLOCK);
	bool failed = rc < 0;
	snprintf(why, size, "%s", rc < 0 ? strerror(err) : "");
	while (isolate_read_event(&sb, &ev) == 1) {
		if (ev.kind == ISOLATE_EV_SETUP_FAILED) {
			snprintf(why, size, "unable to %s: %s", isolate_setup_step_name(ev.index), strerror(ev.value));
			failed = true;
		}
	}
	close(sb.events);
	if (!failed && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		snprintf(why, size, "the trial sandbox ended with status 0x%x", (unsigned)status);
		failed = true;
	}
	return failed ? -1 : 0;
}

int isolate_setup(enum isolate_mech requested, const char *state_dir, const char *const *hide,
		  struct isolate_policy *pol)
{
	static const char *const default_hide[] = { "/run", "/var/run", "/tmp", "/var/tmp", "/dev/shm",
						    "/dev/mqueue", "/home", "/root", "/var/lib/qrexec-proxy",
						    NULL };
	static const char *const default_readable[] = { "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64",
							"/libx32", "/etc", "/opt", QP_FILTERDIR, NULL };
	char why_ns[200] = "", why_ll[200] = "";

	memset(pol, 0, sizeof(*pol));
	pol->state_dir = state_dir && *state_dir ? state_dir : NULL;
	if (geteuid() == 0) {
		/* never let a filter be root, in a namespace or not */
		struct passwd *pw = getpwnam("nobody");
		pol->drop_to_nobody = true;
		pol->uid = pw ? pw->pw_uid : 65534;
		pol->gid = pw ? pw->pw_gid : 65534;
	} else {
		pol->uid = geteuid();
		pol->gid = getegid();
	}
	for (size_t i = 0; default_hide[i]; i++)
		add_path(pol->hide, &pol->nhide, default_hide[i]);
	add_path(pol->hide, &pol->nhide, pol->state_dir);
	for (size_t i = 0; hide && hide[i]; i++)
		add_path(pol->hide, &pol->nhide, hide[i]);
	for (size_t i = 0; default_readable[i]; i++)
		add_path(pol->readable, &pol->nreadable, default_readable[i]);

	if (requested == ISOLATE_SECCOMP_ONLY) {
		pol->mech = ISOLATE_SECCOMP_ONLY;
		snprintf(pol->detail, sizeof(pol->detail),
			 "seccomp-only, as the configuration asks: filters are NOT isolated from each other");
		return 0;
	}
	if (requested == ISOLATE_AUTO || requested == ISOLATE_NAMESPACES) {
		pol->mech = ISOLATE_NAMESPACES;
		pol->proc_private = true;
		if (trial(pol, why_ns, sizeof(why_ns)) == 0) {
			snprintf(pol->detail, sizeof(pol->detail),
				 "namespaces (user, pid, mount, ipc), a private /proc, sandbox user %u",
				 (unsigned)pol->uid);
			return 0;
		}
		/* /proc cannot be mounted where parts of it are covered (ProtectKernelTunables=): an empty one */
		pol->proc_private = false;
		char why2[200];
		if (trial(pol, why2, sizeof(why2)) == 0) {
			snprintf(pol->detail, sizeof(pol->detail),
				 "namespaces (user, pid, mount, ipc), no /proc (%s), sandbox user %u", why_ns,
				 (unsigned)pol->uid);
			return 0;
		}
	}
	if (requested == ISOLATE_AUTO || requested == ISOLATE_LANDLOCK) {
		long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
		pol->landlock_abi = abi > 0 ? (int)abi : 0;
		pol->mech = ISOLATE_LANDLOCK;
		if (pol->landlock_abi < LL_ABI_NEEDED)
			snprintf(why_ll, sizeof(why_ll), "Landlock ABI %d, %d needed (Linux 6.12)", pol->landlock_abi,
				 LL_ABI_NEEDED);
		else if (trial(pol, why_ll, sizeof(why_ll)) == 0) {
			snprintf(pol->detail, sizeof(pol->detail), "landlock (ABI %d)%s%s, sandbox user %u",
				 pol->landlock_abi, requested == ISOLATE_AUTO ? "; user namespaces: " : "",
				 requested == ISOLATE_AUTO ? why_ns : "", (unsigned)pol->uid);
			return 0;
		}
	}
	if (requested != ISOLATE_AUTO) {
		snprintf(pol->detail, sizeof(pol->detail), "%s does not work here: %s", isolate_mech_name(requested),
			 requested == ISOLATE_NAMESPACES ? why_ns : why_ll);
		return -1;
	}
	pol->mech = ISOLATE_NONE;
	snprintf(pol->detail, sizeof(pol->detail), "none: user namespaces: %s; landlock: %s", why_ns, why_ll);
	return 0;
}
