/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A cgroup v2 per connection (see cgroup.h): found and set up once by the
 * listener, made by each supervisor for its connection (a spare's before
 * its call comes), joined by the sandboxes' inits, removed at the end.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bounds.h"
#include "cgroup.h"
#include "util.h"

/* the subtree the connections' cgroups are made in (the daemon's own cgroup at its start) */
static int base_fd = -1;
static bool have_memory, have_pids, have_cpu;

int cgroup_parse_mode(const char *s, enum cgroup_mode *out)
{
	static const struct { const char *name; enum cgroup_mode mode; } modes[] = {
		{ "auto", CGROUP_AUTO }, { "no", CGROUP_NO }, { "yes", CGROUP_YES },
	};
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcmp(s, modes[i].name)) {
			*out = modes[i].mode;
			return 0;
		}
	return -1;
}

bool cgroup_enabled(void)
{
	return base_fd >= 0;
}

bool cgroup_bounds(void)
{
	return base_fd >= 0 && have_memory && have_pids;
}

/* reads the small file NAME under DIR (an fd) into BUF; its length, or -1 */
static ssize_t read_at(int dir, const char *name, char *buf, size_t size)
{
	int fd = openat(dir, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n;
	while ((n = read(fd, buf, size - 1)) < 0 && errno == EINTR)
		;
	int err = errno;
	close(fd);
	if (n < 0) {
		errno = err;
		return -1;
	}
	buf[n] = '\0';
	return n;
}

/* the value of KEY in a "key value" file (memory.events, memory.stat, /proc/vmstat); -1 when absent */
static int64_t keyed_value(const char *text, const char *key)
{
	size_t k = strlen(key);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, key, k) && p[k] == ' ')
			return strtoll(p + k + 1, NULL, 10);
	return -1;
}

/*
 * Where the calling process's cgroup is: for the v2 hierarchy (V1 NULL)
 * or for v1's controller V1, the directory into DIR and the hierarchy's
 * mount point into ROOT. 0, or -1.
 */
static int own_cgroup(const char *v1, char *dir, size_t size, char *root, size_t rsize)
{
	char line[4096], path[PATH_MAX] = "";
	bool found = false;
	FILE *f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return -1;
	/* ID:CONTROLLERS:PATH; the v2 hierarchy is 0 with no controllers */
	while (!found && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		const char *ctrls = c1 + 1;
		if (v1) {
			for (char *save = NULL, *t = strtok_r((char *)ctrls, ",", &save); t && !found;
			     t = strtok_r(NULL, ",", &save))
				found = !strcmp(t, v1);
		} else {
			found = !strcmp(line, "0:") && !*ctrls;
		}
		if (found)
			snprintf(path, sizeof(path), "%s", c2 + 1);
	}
	fclose(f);
	if (!found)
		return -1;
	/* the mount: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS ... - FSTYPE SOURCE SUPEROPTIONS" */
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -1;
	found = false;
	while (!found && fgets(line, sizeof(line), f)) {
		char mroot[PATH_MAX], mpoint[PATH_MAX], fstype[64], super[1024] = "";
		const char *dash = strstr(line, " - ");
		if (!dash || sscanf(line, "%*s %*s %*s %4095s %4095s", mroot, mpoint) != 2 ||
		    sscanf(dash + 3, "%63s %*s %1023s", fstype, super) < 1)
			continue;
		if (v1) {
			if (strcmp(fstype, "cgroup"))
				continue;
			bool has = false;
			for (char *save = NULL, *t = strtok_r(super, ",", &save); t && !has; t = strtok_r(NULL, ",", &save))
				has = !strcmp(t, v1);
			if (!has)
				continue;
		} else if (strcmp(fstype, "cgroup2")) {
			continue;
		}
		/* a mount of a part of the hierarchy (a cgroup namespace's): the path is relative to its root */
		size_t rl = strcmp(mroot, "/") ? strlen(mroot) : 0;
		if (rl && strncmp(path, mroot, rl))
			continue;
		snprintf(root, rsize, "%s", mpoint);
		found = (size_t)snprintf(dir, size, "%s%s", mpoint, path + rl) < size;
	}
	fclose(f);
	if (found) {
		/* no trailing slash: the root cgroup is the mount point itself */
		size_t n = strlen(dir);
		while (n > 1 && dir[n - 1] == '/')
			dir[--n] = '\0';
	}
	return found ? 0 : -1;
}

/* the smallest value of FILE in DIR and its parents up to ROOT (a number; "max" is none); 0: none */
static uint64_t smallest_up(char *dir, const char *root, const char *file)
{
	uint64_t best = 0;
	size_t rl = strlen(root);
	for (;;) {
		char buf[64], path[PATH_MAX + 32];
		snprintf(path, sizeof(path), "%s/%s", dir, file);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			ssize_t n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			if (n > 0 && buf[0] >= '0' && buf[0] <= '9') {
				buf[n] = '\0';
				uint64_t v = strtoull(buf, NULL, 10);
				if (!best || v < best)
					best = v;
			}
		}
		char *slash = strrchr(dir, '/');
		if (strlen(dir) <= rl || !slash || (size_t)(slash - dir) < rl)
			break;
		*slash = '\0';
	}
	return best;
}

uint64_t cgroup_memory_limit(void)
{
	char dir[PATH_MAX], root[PATH_MAX];
	uint64_t v2 = 0, v1 = 0;
	if (own_cgroup(NULL, dir, sizeof(dir), root, sizeof(root)) == 0)
		v2 = smallest_up(dir, root, "memory.max");
	if (own_cgroup("memory", dir, sizeof(dir), root, sizeof(root)) == 0) {
		char buf[8192], path[PATH_MAX + 16];
		snprintf(path, sizeof(path), "%s/memory.stat", dir);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			ssize_t n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			if (n > 0) {
				buf[n] = '\0';
				/* v1 says "no limit" with a number near 2^63 */
				int64_t l = keyed_value(buf, "hierarchical_memory_limit");
				if (l > 0 && (uint64_t)l < (1ULL << 60))
					v1 = (uint64_t)l;
			}
		}
	}
	return !v1 || (v2 && v2 < v1) ? v2 : v1;
}

uint64_t cgroup_tasks_limit(void)
{
	char dir[PATH_MAX], root[PATH_MAX];
	uint64_t v2 = 0, v1 = 0;
	if (own_cgroup(NULL, dir, sizeof(dir), root, sizeof(root)) == 0)
		v2 = smallest_up(dir, root, "pids.max");
	if (own_cgroup("pids", dir, sizeof(dir), root, sizeof(root)) == 0)
		v1 = smallest_up(dir, root, "pids.max");
	return !v1 || (v2 && v2 < v1) ? v2 : v1;
}

/* DIR as the hierarchy names it ("/" for its root) */
static const char *shown(const char *dir, const char *root)
{
	const char *p = dir + strlen(root);
	return *p ? p : "/";
}

/* whether the only process in DIR's cgroup is this one (the daemon at its start) */
static bool alone_in(int dir)
{
	char buf[256];
	ssize_t n = read_at(dir, "cgroup.procs", buf, sizeof(buf));
	char *end;
	if (n <= 0 || strtol(buf, &end, 10) != (long)getpid())
		return false;
	return *end == '\0' || (*end == '\n' && end[1] == '\0');
}

/* whether the controller list TEXT has NAME */
static bool has_word(const char *text, const char *name)
{
	size_t k = strlen(name);
	for (const char *p = text; (p = strstr(p, name)); p += k)
		if ((p == text || p[-1] == ' ') && (p[k] == ' ' || p[k] == '\n' || !p[k]))
			return true;
	return false;
}

/* connections' cgroups a daemon before this one left (killed): empty ones go */
static void remove_stale(int dir)
{
	int fd = dup(dir);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, "conn-", 5))
			unlinkat(dir, e->d_name, AT_REMOVEDIR);
	closedir(d);
}

static int setup(enum cgroup_mode mode, char *why, size_t size, bool apply);

int cgroup_setup(enum cgroup_mode mode, char *why, size_t size)
{
	return setup(mode, why, size, true);
}

int cgroup_probe(enum cgroup_mode mode, char *why, size_t size)
{
	int r = setup(mode, why, size, false);
	bool bounding = have_memory && have_pids;
	have_memory = have_pids = have_cpu = false;
	return r == 1 && !bounding ? 0 : r;
}

/* cgroup_setup, or with APPLY false only the checks (check: what serve would find here) */
static int setup(enum cgroup_mode mode, char *why, size_t size, bool apply)
{
	char dir[PATH_MAX], root[PATH_MAX], ctrl[256];
	if (mode == CGROUP_NO) {
		snprintf(why, size, "none (--connection-cgroup no)");
		return 0;
	}
	if (own_cgroup(NULL, dir, sizeof(dir), root, sizeof(root)) < 0) {
		snprintf(why, size, "no cgroup v2 hierarchy (a cgroup v1 host)");
		return mode == CGROUP_YES ? -1 : 0;
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || faccessat(fd, "cgroup.procs", W_OK, AT_EACCESS) < 0 ||
	    faccessat(fd, "cgroup.subtree_control", W_OK, AT_EACCESS) < 0 || faccessat(fd, ".", W_OK, AT_EACCESS) < 0) {
		snprintf(why, size, "its cgroup %s is not delegated to it (Delegate=yes in the unit gives it one)",
			 shown(dir, root));
		goto none;
	}
	if (!alone_in(fd)) {
		snprintf(why, size, "its cgroup %s holds other processes than the daemon (start it in one of its own)",
			 shown(dir, root));
		goto none;
	}
	if (read_at(fd, "cgroup.controllers", ctrl, sizeof(ctrl)) < 0)
		ctrl[0] = '\0';
	have_memory = has_word(ctrl, "memory");
	have_pids = has_word(ctrl, "pids");
	have_cpu = has_word(ctrl, "cpu");
	if ((!have_memory || !have_pids) && mode != CGROUP_YES) {
		snprintf(why, size, "its cgroup %s has no %s controller", shown(dir, root),
			 !have_memory ? "memory" : "pids");
		goto none;
	}
	if (!apply) {
		snprintf(why, size, "a cgroup per connection in %s%s", shown(dir, root),
			 have_memory && have_pids ? "" : " (without the memory and pids controllers: rlimits bound them)");
		close(fd);
		return 1;
	}
	/*
	 * A cgroup that gives its children controllers may hold no process
	 * itself: the daemon (and every supervisor it forks) moves to a leaf.
	 */
	if ((mkdirat(fd, "daemon", 0755) < 0 && errno != EEXIST)) {
		snprintf(why, size, "unable to make %s/daemon: %s", shown(dir, root), strerror(errno));
		goto none;
	}
	int leaf = openat(fd, "daemon", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int moved = leaf >= 0 ? write_text_at(leaf, "cgroup.procs", "0") : -1;
	int err = errno;
	if (leaf >= 0)
		close(leaf);
	if (moved < 0) {
		snprintf(why, size, "unable to move the daemon into %s/daemon: %s", shown(dir, root), strerror(err));
		unlinkat(fd, "daemon", AT_REMOVEDIR);
		goto none;
	}
	static const char *const enable[] = { "+memory", "+pids", "+cpu" };
	bool *have[] = { &have_memory, &have_pids, &have_cpu };
	for (size_t i = 0; i < 3; i++)
		if (*have[i] && write_text_at(fd, "cgroup.subtree_control", enable[i]) < 0) {
			*have[i] = false;
			if (mode != CGROUP_YES && i < 2) {
				snprintf(why, size, "unable to enable %s for the connections in %s: %s", enable[i] + 1,
					 shown(dir, root), strerror(errno));
				goto none;
			}
		}
	remove_stale(fd);
	base_fd = fd;
	snprintf(why, size, "a cgroup per connection in %s%s", shown(dir, root),
		 cgroup_bounds() ? "" : " (without the memory and pids controllers: rlimits bound them)");
	return 1;
none:
	if (fd >= 0)
		close(fd);
	have_memory = have_pids = have_cpu = false;
	return mode == CGROUP_YES ? -1 : 0;
}

static int64_t machine_oom_kills(void)
{
	char buf[16384];
	int fd = open("/proc/vmstat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return keyed_value(buf, "oom_kill");
}

static int64_t oom_kills_now(const struct cgroup_conn *cg)
{
	char buf[512];
	if (cg->dir >= 0 && have_memory) {
		if (read_at(cg->dir, "memory.events", buf, sizeof(buf)) < 0)
			return -1;
		return keyed_value(buf, "oom_kill");
	}
	return machine_oom_kills();
}

int cgroup_conn_limit(struct cgroup_conn *cg, const struct bounds *b)
{
	char num[32];
	if (cg->dir < 0 || (cg->memory == b->memory && cg->tasks == b->tasks && cg->cpu_weight == b->cpu_weight))
		return 0;
	if (have_memory) {
		snprintf(num, sizeof(num), "%" PRIu64, b->memory);
		if (write_text_at(cg->dir, "memory.max", num) < 0)
			return -1;
		/* RAM only: a connection may not push the machine into swap either (absent without swap accounting) */
		if (write_text_at(cg->dir, "memory.swap.max", "0") < 0 && errno != ENOENT)
			return -1;
		/* an OOM kill ends every process of the connection, never half a pipeline */
		if (write_text_at(cg->dir, "memory.oom.group", "1") < 0)
			return -1;
	}
	if (have_pids) {
		snprintf(num, sizeof(num), "%" PRIu32, b->tasks);
		if (write_text_at(cg->dir, "pids.max", num) < 0)
			return -1;
	}
	if (have_cpu) {
		snprintf(num, sizeof(num), "%" PRIu32, b->cpu_weight);
		if (write_text_at(cg->dir, "cpu.weight", num) < 0)
			return -1;
	}
	cg->memory = b->memory;
	cg->tasks = b->tasks;
	cg->cpu_weight = b->cpu_weight;
	return 0;
}

int cgroup_conn_create(struct cgroup_conn *cg, const struct bounds *b)
{
	*cg = (struct cgroup_conn){ .dir = -1, .procs = -1 };
	snprintf(cg->name, sizeof(cg->name), "conn-%d", (int)getpid());
	if (base_fd >= 0) {
		/* one of a supervisor with the same pid before, killed before it removed it */
		if (mkdirat(base_fd, cg->name, 0755) < 0 &&
		    (errno != EEXIST || unlinkat(base_fd, cg->name, AT_REMOVEDIR) < 0 || mkdirat(base_fd, cg->name, 0755) < 0))
			return -1;
		cg->dir = openat(base_fd, cg->name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		cg->procs = cg->dir >= 0 ? openat(cg->dir, "cgroup.procs", O_WRONLY | O_CLOEXEC) : -1;
		if (cg->procs < 0 || cgroup_conn_limit(cg, b) < 0) {
			int err = errno;
			cgroup_conn_remove(cg);
			errno = err;
			return -1;
		}
	}
	return 0;
}

void cgroup_conn_mark(struct cgroup_conn *cg)
{
	int64_t k = oom_kills_now(cg);
	cg->oom_start = k > 0 ? (uint64_t)k : 0;
}

int64_t cgroup_conn_oom_kills(const struct cgroup_conn *cg)
{
	int64_t k = oom_kills_now(cg);
	if (k < 0)
		return -1;
	return (uint64_t)k > cg->oom_start ? k - (int64_t)cg->oom_start : 0;
}

void cgroup_conn_remove(struct cgroup_conn *cg)
{
	if (cg->procs >= 0)
		close(cg->procs);
	cg->procs = -1;
	if (cg->dir < 0)
		return;
	/*
	 * Its processes are reaped by now; what a filter left behind outside
	 * a PID namespace is killed here (cgroup.kill, Linux 5.14), and the
	 * kernel may take a moment to let the last ones go.
	 */
	for (int i = 0; i < 200 && unlinkat(base_fd, cg->name, AT_REMOVEDIR) < 0 && errno == EBUSY; i++) {
		if (i == 0)
			write_text_at(cg->dir, "cgroup.kill", "1");
		poll(NULL, 0, 1);
	}
	close(cg->dir);
	cg->dir = -1;
}

int cgroup_usage(pid_t supervisor, uint64_t *memory, uint64_t *tasks)
{
	char name[64], buf[64];
	/* without the controllers a connection's cgroup counts nothing */
	if (base_fd < 0 || !(have_memory || have_pids))
		return -1;
	snprintf(name, sizeof(name), "conn-%d/cgroup.procs", (int)supervisor);
	if (faccessat(base_fd, name, F_OK, 0) < 0)
		return -1;
	snprintf(name, sizeof(name), "conn-%d/memory.current", (int)supervisor);
	*memory = have_memory && read_at(base_fd, name, buf, sizeof(buf)) > 0 ? strtoull(buf, NULL, 10) : 0;
	snprintf(name, sizeof(name), "conn-%d/pids.current", (int)supervisor);
	*tasks = have_pids && read_at(base_fd, name, buf, sizeof(buf)) > 0 ? strtoull(buf, NULL, 10) : 0;
	return 0;
}
