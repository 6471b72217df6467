/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The sandbox's init, the code that runs inside it (see isolate.h): a
 * fork of the supervisor, so it finds every argv, environment and fd it
 * needs already in its memory. isolate_init_main() builds the boundary
 * (init_enter: fds, process group, ids, namespaces or Landlock, resource
 * limits, non-dumpable, the baseline seccomp policy), starts the programs
 * and reports on them. From the moment it exists it touches nothing the
 * supervisor shares with anyone, and it speaks to the supervisor only
 * through its event pipe.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
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
#include "isolate_init.h"
#include "spawn.h"
#include "util.h"

/* the tasks of a sandbox whose connection's bounds were not given (a trial) */
#define SANDBOX_NPROC 256

/* the steps of the init's set-up, named in SETUP_FAILED events */
enum {
	STEP_CGROUP,
	STEP_FDS,
	STEP_OOM,
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
	[STEP_CGROUP] = "join the connection's cgroup",
	[STEP_FDS] = "close inherited fds",
	[STEP_OOM] = "raise the sandbox's OOM score",
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

/*
 * The kernel's OOM killer takes the sandbox's processes, which inherit
 * this, before any of the daemon's: the highest score there is, which
 * raising needs no privilege for. The file is root's while a process is
 * non-dumpable: dumpable for the moment of the write, before the boundary
 * exists and before anything runs in the sandbox (with namespaces or
 * Landlock nothing outside can name or open the init meanwhile).
 */
static void init_oom_score(const struct init_ctx *x)
{
	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
		init_fail(x, STEP_OOM);
	int rc = write_text_file("/proc/self/oom_score_adj", "1000");
	int err = errno;
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 || rc < 0) {
		errno = rc < 0 ? err : errno;
		init_fail(x, STEP_OOM);
	}
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
		if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0 || write_text_file("/proc/self/setgroups", "deny") < 0)
			init_fail(x, STEP_MAPS);
		snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)pol->uid, (unsigned)pol->uid);
		if (write_text_file("/proc/self/uid_map", map) < 0)
			init_fail(x, STEP_MAPS);
		snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)pol->gid, (unsigned)pol->gid);
		if (write_text_file("/proc/self/gid_map", map) < 0)
			init_fail(x, STEP_MAPS);
		if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
			init_fail(x, STEP_MAPS);
	}

	/*
	 * The mounts are this namespace's alone (the copies of a less
	 * privileged mount namespace never propagate back). /proc first:
	 * mounted from inside the PID namespace, it shows the connection's
	 * processes and nothing else, and with subset=pid none of the
	 * machine's views (/proc/net, /proc/stat, /proc/loadavg: who
	 * connects, when the machine is busy). A kernel without subset=pid
	 * (before 5.8) fails the trial, and the sandbox gets an empty /proc.
	 */
	if (pol->proc_private) {
		if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "subset=pid,hidepid=invisible") < 0)
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
		/* EACCES: the sandbox's user cannot even reach it; there is nothing to hide */
		if (mount("none", h, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY,
			  "size=4k,nr_inodes=2,mode=0555") < 0 &&
		    errno != ENOENT && errno != ENOTDIR && errno != EACCES)
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
}

static int ll_allow(int ruleset, const char *path, uint64_t access)
{
	int fd = open(path, O_PATH | O_CLOEXEC);
	/* a path the sandbox's user cannot reach needs no rule: it stays out of reach */
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR || errno == EACCES ? 0 : -1;
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
	x->memory = h.memory;
	x->tasks = h.tasks;
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

/* how the init starts program I, in process group PGID */
static struct spawn_req init_spawn_req(const struct init_ctx *x, size_t i, pid_t pgid)
{
	return (struct spawn_req){
		.path = x->procs[i].path,
		.argv = x->procs[i].argv,
		.envp = x->procs[i].envp,
		.fd = { x->procs[i].fd[0], x->procs[i].fd[1], x->procs[i].fd[2] },
		.seccomp = NULL, /* inherited from the init */
		.pgid = pgid,
		.memory = x->memory,
	};
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
		struct spawn_req req = init_spawn_req(x, i, sp->pgid);
		sp->pids[i] = spawn_child(&req);
		if (sp->pids[i] < 0) {
			sp->err = errno;
			sp->failed = (long)i;
			break;
		}
		init_report(x, (int32_t)i, ISOLATE_EV_STARTED, 0, sp->pids[i]);
	}
	/* the first thread waits for this one whether its programs started or not (a fork bomb took the tasks) */
	if (!sp->done)
		return NULL;
	if (sp->failed >= 0) {
		sem_post(sp->done);
		return NULL;
	}
	/*
	 * A child's parent-death signal follows the thread that forked it:
	 * this thread lives as long as the init does, so its programs do too.
	 */
	sem_post(sp->done);
	for (;;)
		pause();
}

/*
 * The connection's tasks, where no cgroup counts them: RLIMIT_NPROC,
 * which the kernel counts per user namespace, so a fork bomb stops at its
 * own connection's count (outside a user namespace of its own, it would
 * count every process of the user's: the daemon's and every connection's).
 * The programs' memory limits are set in each of them (spawn.h), not here:
 * the init itself, a copy of the supervisor, must still start them.
 */
static void init_limits(const struct init_ctx *x)
{
	if (x->pol->mech != ISOLATE_NAMESPACES)
		return;
	rlim_t n = x->tasks ? x->tasks : SANDBOX_NPROC;
	struct rlimit nproc;
	if (getrlimit(RLIMIT_NPROC, &nproc) < 0)
		init_fail(x, STEP_LIMITS);
	if (nproc.rlim_max == RLIM_INFINITY || nproc.rlim_max > n)
		nproc.rlim_max = n;
	nproc.rlim_cur = nproc.rlim_max;
	if (setrlimit(RLIMIT_NPROC, &nproc) < 0)
		init_fail(x, STEP_LIMITS);
}

/*
 * The boundary, in the order it must be built: fds, process group, ids and
 * namespaces (or Landlock), non-dumpable, the baseline seccomp policy;
 * then, for a prepared sandbox, the programs it is to start.
 */
static void init_enter(struct init_ctx *x, pid_t parent)
{
	const struct isolate_policy *pol = x->pol;
	size_t nkeep = 3 + 3 * x->n;
	int keep[3 + 3 * QP_MAX_PROCS];
	size_t k = 0;

	/* if the supervisor dies, so does the sandbox (and, for namespaces, all inside) */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 ||
	    (pol->mech != ISOLATE_NAMESPACES && getppid() != parent))
		_exit(111);
	/*
	 * Into the connection's cgroup before anything runs: every program
	 * inherits it. Written through the supervisor's open file, which the
	 * kernel checks against the supervisor's rights (and cgroup
	 * namespace), not against the new user namespace's.
	 */
	if (x->cgroup_procs >= 0 && write(x->cgroup_procs, "0", 1) != 1)
		init_fail(x, STEP_CGROUP);
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
	init_oom_score(x);
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
	init_limits(x);
}

/*
 * Filters start all at once: half of them from a second thread, so that
 * two exec(2)s run side by side on two cores. vfork stops only the thread
 * that calls it. Returns how many started: all, or none when they are not
 * filters or fewer than two. A program that could not start ends the init.
 */
static size_t init_start_together(const struct init_ctx *x, pid_t pgid, pid_t *pids)
{
	if (x->role != ISOLATE_FILTERS || x->n < 2)
		return 0;
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
	/* the programs have their copies; holding them would keep pipes open */
	for (size_t i = 0; i < x->n; i++)
		for (int j = 0; j < 3; j++)
			close(x->procs[i].fd[j]);
	return x->n;
}

/* Admission checks run one after another: waits for program I's verdict; ends the init at a refusal. */
static void init_await_verdict(const struct init_ctx *x, size_t i, pid_t pid)
{
	for (;;) {
		int status;
		pid_t r = waitpid(-1, &status, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			_exit(111);
		if (r != pid)
			continue; /* an orphan it left */
		init_report(x, (int32_t)i, ISOLATE_EV_EXITED, status, r);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			_exit(1);
		return;
	}
}

/* Starts program I, reports it, and closes the fds no later program shares. */
static void init_start_one(const struct init_ctx *x, size_t i, pid_t pgid, pid_t *pids)
{
	struct spawn_req req = init_spawn_req(x, i, pgid);
	pids[i] = spawn_child(&req);
	if (pids[i] < 0) {
		init_report(x, (int32_t)i, ISOLATE_EV_START_FAILED, errno, 0);
		_exit(1);
	}
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
}

_Noreturn void isolate_init_main(const struct init_ctx *cx, pid_t parent)
{
	struct init_ctx local = *cx;
	struct init_ctx *x = &local;
	init_enter(x, parent);

	pid_t pgid = getpid();
	pid_t pids[QP_MAX_PROCS];
	size_t started = init_start_together(x, pgid, pids), exited = 0;
	for (size_t i = started; i < x->n && i < QP_MAX_PROCS; i++, started++) {
		init_start_one(x, i, pgid, pids);
		if (x->role == ISOLATE_ADMISSION) {
			init_await_verdict(x, i, pids[i]);
			pids[i] = 0;
			exited++;
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
