/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One sandbox per connection, the supervisor's side (see isolate.h for
 * what each mechanism gives): deciding the mechanism by trying it,
 * forking the init (whose own code is isolate_init.c), writing its id
 * maps, handing a prepared one its programs, reading its events.
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
#include "isolate_init.h"
#include "util.h"
#include "spawn.h"

#ifndef QP_FILTERDIR

#define QP_FILTERDIR "/usr/libexec/qrexec-proxy/filters"

#endif

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


_Static_assert(3 * QP_MAX_PROCS <= FDPASS_MAX_FDS, "three fds of every program in one message");

/* ---- in the supervisor ---- */

static int write_maps(pid_t pid, const struct isolate_policy *pol)
{
	char path[64], map[64];
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)pol->uid, (unsigned)pol->uid);
	snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
	if (write_text_file(path, map) < 0)
		return -1;
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)pol->gid, (unsigned)pol->gid);
	snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
	return write_text_file(path, map);
}

static int sandbox_fork(const struct isolate_policy *pol, enum isolate_role role, const struct isolate_proc *procs,
			size_t n, const char *const *programs, size_t nprograms, int ctl,
			const struct sock_fprog *seccomp, const struct isolate_bounds *bounds,
			struct isolate_sandbox *sb)
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
			      .ctl = ctl, .cgroup_procs = bounds ? bounds->cgroup_procs : -1,
			      .memory = bounds ? bounds->memory : 0, .tasks = bounds ? bounds->tasks : 0 };
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
		isolate_init_main(&x, parent);
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
		  size_t n, const struct sock_fprog *seccomp, const struct isolate_bounds *bounds,
		  struct isolate_sandbox *sb)
{
	const char *programs[QP_MAX_PROCS];
	for (size_t i = 0; i < n && i < QP_MAX_PROCS; i++)
		programs[i] = procs[i].path;
	return sandbox_fork(pol, role, procs, n, programs, n, -1, seccomp, bounds, sb);
}

int isolate_prepare(const struct isolate_policy *pol, enum isolate_role role, const char *const *programs,
		    size_t nprograms, const struct sock_fprog *seccomp, int cgroup_procs, struct isolate_prepared *p)
{
	const struct isolate_bounds bounds = { .cgroup_procs = cgroup_procs };
	int sv[2];
	p->sb.pid = -1;
	p->sb.events = -1;
	p->ctl = -1;
	p->pol = pol;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	int rc = sandbox_fork(pol, role, NULL, 0, programs, nprograms, sv[1], seccomp, &bounds, &p->sb);
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

int isolate_run(struct isolate_prepared *p, const struct isolate_proc *procs, size_t n,
		const struct isolate_bounds *bounds, struct isolate_sandbox *sb)
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
	struct request_hdr h = { .n = (uint32_t)n, .len = (uint32_t)len, .memory = bounds ? bounds->memory : 0,
				 .tasks = bounds ? bounds->tasks : 0 };
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
	int rc = isolate_start(pol, role, NULL, 0, NULL, NULL, &sb);
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
	/*
	 * /sys too: its cgroup tree shows every connection's cgroup come and
	 * go (and what each uses), its block and network statistics the
	 * machine's activity; no filter needs it.
	 */
	static const char *const default_hide[] = { "/run", "/var/run", "/tmp", "/var/tmp", "/dev/shm",
						    "/dev/mqueue", "/home", "/root", "/var/lib/qrexec-proxy",
						    "/sys", NULL };
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
				 "namespaces (user, pid, mount, ipc), a private /proc of its processes only, sandbox user %u",
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
