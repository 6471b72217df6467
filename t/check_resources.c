/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Resources, from the attacker's side (issue 24): a filter taken over by
 * its caller's data (t/hostile-filter's resource modes) uses memory,
 * tasks, watches, the machine's views and the log instead of access. Each
 * test runs the daemon as an unprivileged user (nobody) beside a victim
 * connection in the middle of moving 16 MiB through 3 pass steps, and
 * asserts:
 *   - the listener, the spare and every supervisor survive (none killed,
 *     none logged dying), and a fresh call is served afterwards;
 *   - the victim gets every byte back unchanged;
 *   - the attack's connection ends with its summary, and nothing of it
 *     (what the filter forked) outlives it;
 *   - what the attack aimed at did not happen: no BREACH in the filter's
 *     own reports, the bound it hit is the one the daemon gives.
 *
 * What stands in for what, found at run time and printed once:
 *   - the unit's MemoryMax=: a memory-bounded group of STANDIN_MIB the
 *     daemon starts in: a cgroup v2 of the root's where the kernel offers
 *     the memory controller there (then delegated to the daemon's user, as
 *     Delegate=yes would: the daemon makes a cgroup per connection,
 *     bound=cgroup), else a cgroup v1 memory group (this project's CI
 *     machines: cgroup v1 memory is what root has; the daemon then has no
 *     cgroup to divide and bounds each process with rlimits, bound=rlimit);
 *   - Delegate=yes without controllers: a cgroup of the v2 hierarchy
 *     delegated to the daemon's user where that hierarchy has neither
 *     memory nor pids (hybrid hosts): --connection-cgroup yes, the
 *     mechanism without the bounds.
 * Under bound=rlimit the supervisor sees the kernel kill the processes it
 * started, not what a filter forked: the hog of many small processes then
 * loses its children to the OOM killer and its connection runs on
 * (harmlessly) until its caller leaves; with a cgroup it ends at once,
 * result=failed, "the kernel's OOM killer ended ...".
 *
 * Needs root (the daemon runs as another user, the groups are root's):
 * skipped otherwise. Environment:
 *   QP_RESOURCES_TEST_ONLY=a,b      only these tests (names without "test_")
 *   QP_RESOURCES_TEST_NO_OPTIONS=1  serve without --connection-* (a daemon from before them)
 *   QP_RESOURCES_TEST_VERBOSE=1     the daemon's log on stderr after each test
 *   QP_RESOURCES_TEST_KEEP=1        keep a failed test's daemon directory (its log)
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hash.h"
#include "testutil.h"

/* the memory-bounded group that stands in for MemoryMax= */
#define STANDIN_MIB 300
/* the tasks of a connection in these tests (--connection-tasks): a fork bomb in four stays light */
#define TASKS 32

static uid_t run_uid;
static gid_t run_gid;
static struct daemon d;

/* ---- findings: every one is kept, the test fails once at its end with them and the log ---- */

static char findings[8192];
static size_t findings_len;
static int nfindings;

static void finding(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void finding(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	nfindings++;
	int n = snprintf(findings + findings_len, sizeof(findings) - findings_len, "  - %s\n", line);
	if (n > 0 && (size_t)n < sizeof(findings) - findings_len)
		findings_len += (size_t)n;
}

/* once something is wrong the test fails anyway: what follows is diagnosis, with short waits */
static int budget(int ms)
{
	return nfindings ? 3000 : wait_ms(ms);
}

/* ---- the daemon's log ---- */

static int log_count(const char *a, const char *b)
{
	char *log = file_read(d.log);
	int n = 0;
	for (char *p = log; *p;) {
		size_t k = strcspn(p, "\n");
		if (memmem(p, k, a, strlen(a)) && (!b || memmem(p, k, b, strlen(b))))
			n++;
		p += k + (p[k] == '\n');
	}
	free(log);
	return n;
}

/* the first line of the log holding A and B, into OUT; whether there was one */
static bool log_line(const char *a, const char *b, char *out, size_t size)
{
	char *log = file_read(d.log);
	bool found = false;
	for (char *p = log; *p && !found;) {
		size_t k = strcspn(p, "\n");
		if (memmem(p, k, a, strlen(a)) && (!b || memmem(p, k, b, strlen(b)))) {
			snprintf(out, size, "%.*s", (int)k, p);
			found = true;
		}
		p += k + (p[k] == '\n');
	}
	free(log);
	return found;
}

static bool log_wait(const char *a, const char *b, int ms)
{
	int64_t end = now_ms() + ms;
	while (log_count(a, b) == 0) {
		if (now_ms() > end)
			return false;
		poll(NULL, 0, 20);
	}
	return true;
}

/* ---- the stand-ins (see the top) ---- */

struct cgrp {
	char dir[256];    /* "": none */
	char procs[300];
	int version;
};

static int write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t w = write(fd, text, strlen(text));
	close(fd);
	return w == (ssize_t)strlen(text) ? 0 : -1;
}

static bool has_controller(const char *file, const char *name)
{
	char *s = file_read(file);
	bool found = false;
	for (char *save = NULL, *t = strtok_r(s, " \n", &save); t && !found; t = strtok_r(NULL, " \n", &save))
		found = !strcmp(t, name);
	free(s);
	return found;
}

static bool group_make(struct cgrp *g, const char *hierarchy, const char *name, int version)
{
	snprintf(g->dir, sizeof(g->dir), "%s/%s-%d", hierarchy, name, (int)getpid());
	snprintf(g->procs, sizeof(g->procs), "%s/cgroup.procs", g->dir);
	g->version = version;
	if (mkdir(g->dir, 0755) < 0 && errno != EEXIST) {
		g->dir[0] = '\0';
		return false;
	}
	return true;
}

/* as Delegate= does: the directory and the files that divide it, the daemon's user's */
static void group_delegate(const struct cgrp *g)
{
	static const char *const files[] = { "", "/cgroup.procs", "/cgroup.subtree_control", "/cgroup.threads" };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[512];
		snprintf(path, sizeof(path), "%s%s", g->dir, files[i]);
		ck_assert_msg(chown(path, run_uid, run_gid) == 0, "chown %s: %s", path, strerror(errno));
	}
}

/*
 * The group that stands in for MemoryMax=: v2 where the root offers the
 * memory controller (delegated: the daemon divides it), else v1 memory.
 */
static bool standin_memory(struct cgrp *g, uint64_t limit)
{
	char num[32];
	snprintf(num, sizeof(num), "%" PRIu64, limit);
	memset(g, 0, sizeof(*g));
	if (has_controller("/sys/fs/cgroup/cgroup.subtree_control", "memory") &&
	    has_controller("/sys/fs/cgroup/cgroup.subtree_control", "pids") &&
	    group_make(g, "/sys/fs/cgroup", "qp-test-resources", 2)) {
		if (write_file(g->dir, "memory.max", num) == 0) {
			write_file(g->dir, "memory.swap.max", "0");
			group_delegate(g);
			return true;
		}
		rmdir(g->dir);
		g->dir[0] = '\0';
	}
	if (access("/sys/fs/cgroup/memory/memory.limit_in_bytes", F_OK) == 0 &&
	    group_make(g, "/sys/fs/cgroup/memory", "qp-test-resources", 1)) {
		if (write_file(g->dir, "memory.limit_in_bytes", num) == 0) {
			write_file(g->dir, "memory.memsw.limit_in_bytes", num);
			return true;
		}
		rmdir(g->dir);
		g->dir[0] = '\0';
	}
	return false;
}

/* a cgroup of a v2 hierarchy without memory and pids, delegated (a hybrid host's "unified") */
static bool standin_delegated(struct cgrp *g)
{
	memset(g, 0, sizeof(*g));
	const char *h = access("/sys/fs/cgroup/unified/cgroup.procs", F_OK) == 0 ? "/sys/fs/cgroup/unified" : NULL;
	if (!h || !group_make(g, h, "qp-test-cgroup", 2))
		return false;
	group_delegate(g);
	return true;
}

/* OOM kills in G so far; -1 when they cannot be read */
static int64_t group_oom_kills(const struct cgrp *g)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", g->dir, g->version == 2 ? "memory.events" : "memory.oom_control");
	char *s = file_read(path);
	char *p = strstr(s, "oom_kill ");
	int64_t n = p ? strtoll(p + 9, NULL, 10) : -1;
	free(s);
	return n;
}

/* removes G and whatever the daemon made in it (after the daemon is gone) */
static void group_remove(struct cgrp *g)
{
	if (!g->dir[0])
		return;
	DIR *dir = opendir(g->dir);
	struct dirent *e;
	while (dir && (e = readdir(dir))) {
		char sub[600];
		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", g->dir, e->d_name);
		for (int i = 0; i < 100 && rmdir(sub) < 0 && errno == EBUSY; i++)
			poll(NULL, 0, 20);
	}
	if (dir)
		closedir(dir);
	for (int i = 0; i < 100 && rmdir(g->dir) < 0 && errno == EBUSY; i++)
		poll(NULL, 0, 20);
	g->dir[0] = '\0';
}

/* ---- the victim: 16 MiB through 3 pass steps, the second half after the attack ---- */

enum { VICTIM_HALF = 8 << 20 };
#define VICTIM_SEED 77

struct victim {
	pid_t pid;
	int go;
	int result;
};

static bool victim_begin(struct victim *v)
{
	int ready[2], go[2], res[2];
	ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(res, O_CLOEXEC), 0);
	v->pid = fork();
	ck_assert_int_ge(v->pid, 0);
	if (v->pid == 0) {
		close(ready[0]);
		close(go[1]);
		close(res[0]);
		signal(SIGPIPE, SIG_IGN);
		int fd = call_vm(&d, "victim", "victim-vm", "test.Echo");
		pid_t w = fork();
		if (w == 0) {
			static char buf[1 << 16];
			uint64_t seed = VICTIM_SEED;
			close(ready[1]);
			close(res[1]);
			for (int half = 0; half < 2; half++) {
				for (size_t done = 0; done < VICTIM_HALF; done += sizeof(buf)) {
					fill_random(&seed, buf, sizeof(buf));
					if (send(fd, buf, sizeof(buf), MSG_NOSIGNAL) != (ssize_t)sizeof(buf))
						_exit(1);
				}
				char c;
				if (half == 0 && read(go[0], &c, 1) < 0)
					_exit(1);
			}
			shutdown(fd, SHUT_WR);
			_exit(0);
		}
		close(go[0]);
		static char buf[1 << 16];
		uint64_t got = 0, hs = HASH_INIT;
		bool told = false;
		for (;;) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			if (poll(&p, 1, 180000) <= 0)
				break;
			ssize_t n = read(fd, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += (uint64_t)n;
			hs = hash_update(hs, buf, (size_t)n);
			if (!told && got >= VICTIM_HALF) {
				told = true;
				if (write(ready[1], "r", 1) != 1)
					_exit(4);
			}
		}
		int st;
		kill(w, SIGKILL);
		waitpid(w, &st, 0);
		bool ok = got == 2ULL * VICTIM_HALF && hs == expected_hash(2ULL * VICTIM_HALF, VICTIM_SEED);
		dprintf(res[1], "got %" PRIu64 " of %llu bytes back, %s", got, 2ULL * VICTIM_HALF,
			hs == expected_hash(got, VICTIM_SEED) ? "the bytes it sent" : "bytes it never sent");
		_exit(ok ? 0 : 2);
	}
	close(ready[1]);
	close(go[0]);
	close(res[1]);
	v->go = go[1];
	v->result = res[0];
	struct pollfd p = { .fd = ready[0], .events = POLLIN };
	char c;
	bool up = poll(&p, 1, wait_ms(30000)) == 1 && read(ready[0], &c, 1) == 1;
	close(ready[0]);
	if (!up)
		finding("the victim's connection did not start");
	return up;
}

static void victim_end(struct victim *v)
{
	int st = 0;
	if (v->pid <= 0)
		return;
	close(v->go);
	int64_t end = now_ms() + budget(60000);
	pid_t r;
	while ((r = waitpid(v->pid, &st, WNOHANG)) == 0 && now_ms() < end)
		poll(NULL, 0, 20);
	if (r == 0) {
		kill(v->pid, SIGKILL);
		waitpid(v->pid, &st, 0);
		finding("the victim's connection hung");
	}
	char what[256] = "";
	ssize_t n = read(v->result, what, sizeof(what) - 1);
	what[n > 0 ? n : 0] = '\0';
	close(v->result);
	if (r != 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
		finding("the victim was disturbed: %s", *what ? what : "no report");
	else if (r != 0 && !log_wait("chain=victim result=ok", NULL, budget(10000)))
		finding("the victim's connection did not end with result=ok");
	v->pid = 0;
}

/* ---- one attack ---- */

struct run {
	struct cgrp standin;    /* MemoryMax='s stand-in; dir "": none */
	struct cgrp delegated;  /* a v2 cgroup delegated to the daemon without controllers; dir "": none */
	struct victim v;
	int hold[2];             /* closing hold[1] lets the attack's callers end */
	pid_t callers[8];
	int ncallers;
	int supervisor_deaths;   /* "supervisor ... signal" lines before the attack */
	pid_t listener;
};

/* the configuration: the victim, a fresh chain, and attack-NAME for each hostile mode given */
static char *config_for(const char *const *attacks)
{
	size_t cap = 8192, len = 0;
	char *s = malloc(cap);
	ck_assert_ptr_nonnull(s);
	len = (size_t)snprintf(s, cap,
			       "connector: [\"@B@/t/fake-connector\", \"{target}\", \"{service}\"]\n"
			       "filter_path: [\"@B@/filters\"]\n"
			       "chains:\n"
			       "  victim: {filters: [pass, pass, pass]}\n"
			       "  pass3: {filters: [pass, pass, pass]}\n");
	/* "NAME MODE ARGS...", space-separated */
	for (size_t i = 0; attacks && attacks[i]; i++) {
		char *copy = strdup(attacks[i]), *save = NULL;
		char *name = strtok_r(copy, " ", &save);
		char *first = strtok_r(NULL, " ", &save);
		/* "NAME /PATH": that program as the chain's filter, both ways; else hostile-filter's MODE ARGS */
		if (first && first[0] == '/') {
			len += (size_t)snprintf(s + len, cap - len, "  attack-%s: {filters: [\"%s\"]}\n", name, first);
			free(copy);
			continue;
		}
		len += (size_t)snprintf(s + len, cap - len,
					"  attack-%s:\n"
					"    filters:\n"
					"      - name: \"@B@/t/hostile-filter\"\n"
					"        direction: src2dst\n"
					"        args: [\"%s\"",
					name, first ? first : "");
		for (char *a = strtok_r(NULL, " ", &save); a; a = strtok_r(NULL, " ", &save))
			len += (size_t)snprintf(s + len, cap - len, ", \"%s\"", a);
		len += (size_t)snprintf(s + len, cap - len, "]\n      - pass\n");
		free(copy);
		ck_assert_uint_lt(len, cap);
	}
	return s;
}

/*
 * The daemon as nobody, in the stand-ins asked for (STANDIN: MemoryMax='s;
 * DELEGATED: a controller-less v2 subtree), with EXTRA args; the victim
 * halfway through. False when something is missing (the test then skips).
 */
static bool run_begin(struct run *r, const char *const *attacks, const char *const *extra, bool standin,
		      bool delegated)
{
	memset(r, 0, sizeof(*r));
	findings_len = 0;
	findings[0] = '\0';
	nfindings = 0;
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	const char *join[3] = { NULL };
	int nj = 0;
	if (standin) {
		if (!standin_memory(&r->standin, (uint64_t)STANDIN_MIB << 20))
			return false;
		join[nj++] = r->standin.procs;
	}
	if (delegated) {
		if (!standin_delegated(&r->delegated))
			return false;
		join[nj++] = r->delegated.procs;
	}
	daemon_join_cgroups(nj ? join : NULL);
	/* QP_RESOURCES_TEST_NO_OPTIONS=1: a daemon from before these options (the attacks, undefended) */
	const char *no = getenv("QP_RESOURCES_TEST_NO_OPTIONS");
	bool options = !(no && !strcmp(no, "1"));
	const char *args[24] = { "--grace", "2", "--connection-tasks", "32" };
	int n = options ? 4 : 2;
	for (int i = 0; extra && extra[i] && n < 22; i++)
		if (options || strncmp(extra[i], "--connection-", 13))
			args[n++] = extra[i];
		else
			i++;
	args[n] = NULL;
	char *config = config_for(attacks);
	daemon_start_as(&d, config, args, run_uid, run_gid);
	free(config);
	r->listener = d.pid;
	victim_begin(&r->v);
	/* after the victim: its processes must not hold the attack's callers back */
	ck_assert_int_eq(pipe2(r->hold, O_CLOEXEC), 0);
	r->supervisor_deaths = log_count(": supervisor ", "signal");
	return true;
}

/*
 * An attack's caller: 64 KiB through attack-NAME, then it waits until the
 * test lets it go (closes hold[1]) before its EOF, and reads to the end.
 */
static void attack_call(struct run *r, const char *name)
{
	char chain[64];
	snprintf(chain, sizeof(chain), "attack-%s", name);
	int fd = call_vm(&d, chain, "attack-vm", "test.Echo");
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(r->v.go);
		close(r->hold[1]);
		signal(SIGPIPE, SIG_IGN);
		static char buf[1 << 16];
		uint64_t seed = 9;
		fill_random(&seed, buf, sizeof(buf));
		send(fd, buf, sizeof(buf), MSG_NOSIGNAL);
		char c;
		while (read(r->hold[0], &c, 1) > 0)
			;
		shutdown(fd, SHUT_WR);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		while (poll(&p, 1, 120000) == 1 && read(fd, buf, sizeof(buf)) > 0)
			;
		_exit(0);
	}
	close(fd);
	r->callers[r->ncallers++] = pid;
}

/* waits for NEEDLE (hostile's own report) in the log, a finding when it does not come */
static void expect_report(const char *needle, int ms)
{
	if (!log_wait(needle, NULL, budget(ms)))
		finding("the attack did not report \"%s\"", needle);
}

/* the processes of this test named NAME (which descend from it: a subreaper) */
static int ours_named(const char *name)
{
	pid_t pids[512];
	return processes_named(name, pids, 512);
}

/* lets the callers go, waits for each attack's summary (COUNT of attack-NAME) and their ends */
static void attacks_end(struct run *r, const char *name, int count)
{
	close(r->hold[1]);
	r->hold[1] = -1;
	char summary[96];
	snprintf(summary, sizeof(summary), "chain=attack-%s result=", name);
	if (file_wait_count(d.log, summary, count, budget(60000)) < count)
		finding("%d attack connections had no summary (\"%s\")", count - log_count(summary, NULL), summary);
	for (int i = 0; i < r->ncallers; i++) {
		int64_t end = now_ms() + budget(30000);
		int st;
		while (waitpid(r->callers[i], &st, WNOHANG) == 0 && now_ms() < end)
			poll(NULL, 0, 20);
		if (pid_alive(r->callers[i])) {
			kill(r->callers[i], SIGKILL);
			waitpid(r->callers[i], &st, 0);
			finding("an attack's caller got no EOF");
		}
	}
}

/* the checks every test shares (see the top), the clean-up, and the one verdict */
static void run_end(struct run *r)
{
	victim_end(&r->v);
	if (r->hold[1] >= 0)
		attacks_end(r, "-", 0);
	if (!pid_alive(r->listener))
		finding("the listener is gone");
	if (log_count(": supervisor ", "signal") > r->supervisor_deaths)
		finding("a supervisor was killed (see the log)");
	if (pid_alive(d.pid) && daemon_wait_spare(&d) <= 0)
		finding("the daemon has no spare supervisor after the attack");
	if (pid_alive(d.pid)) {
		struct xfer x;
		int fd = call_vm(&d, "pass3", "fresh-vm", "test.Echo");
		call_transfer(fd, 1 << 20, 5, budget(30000), &x);
		if (x.timed_out || x.recv != x.sent || x.recv_hash != x.sent_hash)
			finding("a fresh call after the attack failed: %" PRIu64 " of %" PRIu64 " bytes back", x.recv, x.sent);
	}
	static const char *const left[] = { "hostile-filter", "hostile-hog", "hostile-bomb" };
	for (size_t i = 0; i < sizeof(left) / sizeof(left[0]); i++) {
		int64_t end = now_ms() + budget(30000);
		int n;
		while ((n = ours_named(left[i])) > 0 && now_ms() < end)
			poll(NULL, 0, 50);
		if (n)
			finding("%d processes named %s outlived their connection", n, left[i]);
	}
	int status = daemon_stop(&d);
	if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		finding("the daemon ended with status 0x%x on SIGTERM", (unsigned)status);
	if (log_count("hostile:", "BREACH"))
		finding("%d BREACH lines in the log", log_count("hostile:", "BREACH"));
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	group_remove(&r->standin);
	group_remove(&r->delegated);
	if (nfindings || getenv("QP_RESOURCES_TEST_VERBOSE")) {
		char *log = file_read(d.log);
		size_t len = strlen(log);
		fprintf(stderr, "==== %d findings:\n%s---- the daemon's log %s (its end):\n%s\n====\n", nfindings, findings,
			d.log, log + (len > 12000 ? len - 12000 : 0));
		free(log);
	}
	if (!nfindings || !getenv("QP_RESOURCES_TEST_KEEP"))
		rm_rf(d.dir);
	ck_assert_msg(nfindings == 0, "%s(the daemon's log is on stderr)", findings);
}

/* the number after NEEDLE in hostile's report, or -1 */
static long reported(const char *needle)
{
	char line[1024];
	if (!log_line(needle, NULL, line, sizeof(line)))
		return -1;
	const char *p = strstr(line, needle) + strlen(needle);
	return strtol(p, NULL, 10);
}

/* ---- memory ---- */

/* the daemon's connections are bound by cgroup or by rlimits here: from its start-up line */
static bool bound_by_cgroup(void)
{
	return log_count("resources: ", "bound by its cgroup") > 0;
}

START_TEST(test_memory_many)
{
	/* children of 2 * STANDIN / (TASKS - 8) MiB each: twice what the group holds, in all */
	const long n = TASKS - 8, mib = 2 * STANDIN_MIB / n + 1;
	char attack[64];
	snprintf(attack, sizeof(attack), "many mem-hog-many %ld %ld", n, mib);
	struct run r;
	if (!run_begin(&r, (const char *const[]){ attack, NULL }, NULL, true, false)) {
		printf("check_resources: memory_many: SKIP: no memory-bounded group to stand in for MemoryMax=\n");
		return;
	}
	int64_t ooms = group_oom_kills(&r.standin);
	attack_call(&r, "many");
	expect_report("hostile: mem-hog-many: allowed ", 60000);
	/* every child has touched its memory, or been killed trying */
	pid_t hog[1];
	if (processes_named("hostile-hog", hog, 1) == 1) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/oom_score_adj", (int)hog[0]);
		char *adj = file_read(path);
		if (*adj && atoi(adj) != 1000)
			finding("a process a filter forked runs at oom_score_adj %d, not 1000", atoi(adj));
		free(adj);
	}
	if (bound_by_cgroup()) {
		/* its own cgroup's OOM: the whole connection at once, and why */
		if (!log_wait("chain=attack-many result=failed reason=\"the kernel's OOM killer ended", NULL, budget(60000)))
			finding("the hog's connection did not end with result=failed, the OOM killer named");
	} else {
		/* no cgroup: the group's OOM killer chose the hog's children, nothing of the daemon's */
		int64_t end = now_ms() + budget(60000);
		while (group_oom_kills(&r.standin) <= ooms && now_ms() < end)
			poll(NULL, 0, 50);
		if (group_oom_kills(&r.standin) <= ooms)
			finding("no OOM kill in the stand-in group: the attack did not exhaust it");
	}
	attacks_end(&r, "many", 1);
	run_end(&r);
}
END_TEST

START_TEST(test_memory_one)
{
	/*
	 * One process touching twice the group: the default bound (a quarter
	 * of the group) stops it (rlimit: its own allocation fails; cgroup: the
	 * OOM killer ends its connection), then with --connection-memory past
	 * the group (the OOM killer of the group itself takes it, never the
	 * daemon), the connection ends, the OOM killer named.
	 */
	char attack[64];
	snprintf(attack, sizeof(attack), "one mem-hog-one %d", 2 * STANDIN_MIB);
	for (int round = 0; round < 2; round++) {
		struct run r;
		const char *const big[] = { "--connection-memory", "1G", NULL };
		if (!run_begin(&r, (const char *const[]){ attack, NULL }, round ? big : NULL, true, false)) {
			printf("check_resources: memory_one: SKIP: no memory-bounded group to stand in for MemoryMax=\n");
			return;
		}
		attack_call(&r, "one");
		if (round == 0 && !bound_by_cgroup()) {
			expect_report("hostile: mem-hog-one: allowed holds ", 60000);
			long held = reported("hostile: mem-hog-one: allowed holds ");
			if (held > STANDIN_MIB / 4)
				finding("the hog held %ld MiB, past the default bound (a quarter of %d MiB)", held,
					STANDIN_MIB);
		} else if (!log_wait("chain=attack-one result=failed reason=\"the kernel's OOM killer ended ", NULL,
				     budget(60000))) {
			finding("round %d: the hog's connection did not end with result=failed, the OOM killer named", round);
		}
		attacks_end(&r, "one", 1);
		run_end(&r);
	}
}
END_TEST

START_TEST(test_python_filter)
{
	/*
	 * The default bound (a quarter of the stand-in's 300 MiB) leaves an
	 * ordinary filter written in Python room to run: a line filter with
	 * a few modules and threads moves 1 MiB unchanged.
	 */
	const char *py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : NULL;
	if (!py) {
		printf("check_resources: python_filter: SKIP: no /usr/bin/python3\n");
		return;
	}
	char dir[256], script[300], attack[400];
	make_tmpdir(dir, sizeof(dir));
	ck_assert_int_eq(chmod(dir, 0755), 0);
	snprintf(script, sizeof(script), "%s/py-filter", dir);
	FILE *f = fopen(script, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "#!%s\n"
		   "import sys, hashlib, json, re, threading\n"
		   "threading.Thread(target=lambda: None).start()\n"
		   "h = hashlib.sha256()\n"
		   "for chunk in iter(lambda: sys.stdin.buffer.read(65536), b''):\n"
		   "    h.update(chunk)\n"
		   "    sys.stdout.buffer.write(chunk)\n"
		   "sys.stdout.buffer.flush()\n"
		   "sys.stderr.write('py-filter: ' + h.hexdigest()[:8] + '\\n')\n", py);
	fclose(f);
	ck_assert_int_eq(chmod(script, 0755), 0);
	snprintf(attack, sizeof(attack), "py %s", script);
	struct run r;
	if (!run_begin(&r, (const char *const[]){ attack, NULL }, NULL, true, false)) {
		printf("check_resources: python_filter: SKIP: no memory-bounded group to stand in for MemoryMax=\n");
		rm_rf(dir);
		return;
	}
	struct xfer x;
	int fd = call_vm(&d, "attack-py", "py-vm", "test.Echo");
	call_transfer(fd, 1 << 20, 17, budget(60000), &x);
	if (x.timed_out || x.recv != x.sent || x.recv_hash != x.sent_hash)
		finding("a Python filter under the default bound: %" PRIu64 " of %" PRIu64 " bytes back", x.recv, x.sent);
	if (!log_wait("chain=attack-py result=ok", NULL, budget(10000)))
		finding("the Python filter's connection did not end with result=ok");
	run_end(&r);
	rm_rf(dir);
}
END_TEST

/* ---- tasks ---- */

START_TEST(test_fork_bomb)
{
	/* four connections forking at once: each stops at its bound, and nothing of them is left */
	struct run r;
	ck_assert(run_begin(&r, (const char *const[]){ "bomb fork-bomb", NULL }, NULL, false, false));
	for (int i = 0; i < 4; i++)
		attack_call(&r, "bomb");
	if (file_wait_count(d.log, "hostile: fork-bomb: allowed ", 4, budget(60000)) < 4)
		finding("not every fork bomb reported how far it got");
	char *log = file_read(d.log);
	int seen = 0;
	for (char *p = log; (p = strstr(p, "hostile: fork-bomb: allowed ")); p++) {
		long n = strtol(p + strlen("hostile: fork-bomb: allowed "), NULL, 10);
		seen++;
		/* the bound counts the sandbox's init (two tasks), the bomb, pass */
		if (n <= 0 || n > TASKS)
			finding("a fork bomb got %ld processes, its bound is %d tasks", n, TASKS);
	}
	free(log);
	if (seen < 4)
		finding("%d of 4 fork bombs reported", seen);
	attacks_end(&r, "bomb", 4);
	run_end(&r);
}
END_TEST

/* ---- watching the others ---- */

static void watch_under(const char *mech, const char *mode)
{
	struct run r;
	char attack[64];
	snprintf(attack, sizeof(attack), "watch %s", mode);
	ck_assert(run_begin(&r, (const char *const[]){ attack, NULL }, (const char *const[]){ "--isolation", mech, NULL },
			    false, false));
	attack_call(&r, "watch");
	char done[64];
	snprintf(done, sizeof(done), "hostile: %s: done", mode);
	expect_report(done, 60000);
	attacks_end(&r, "watch", 1);
	run_end(&r);
}

START_TEST(test_inotify)
{
	/* inotify and fanotify on the filters' directory and /usr/bin: refused (EPERM), under each mechanism */
	watch_under(_i ? "landlock" : "namespaces", "inotify");
}
END_TEST

START_TEST(test_proc_views)
{
	/* /proc/net, /proc/stat, /proc/loadavg, /sys/fs/cgroup, sysinfo: absent, under each mechanism */
	watch_under(_i ? "landlock" : "namespaces", "proc-views");
}
END_TEST

/* ---- the log ---- */

START_TEST(test_log_flood)
{
	/*
	 * 200,000 lines as fast as a filter can: the log grows by at most
	 * the bound (64 KiB of its lines, with the daemon's prefix on each),
	 * the victim's summary is there, the flood's says what it dropped.
	 */
	struct run r;
	ck_assert(run_begin(&r, (const char *const[]){ "flood log-flood 200000", NULL }, NULL, false, false));
	struct stat before;
	ck_assert_int_eq(stat(d.log, &before), 0);
	attack_call(&r, "flood");
	attacks_end(&r, "flood", 1);
	struct stat after;
	ck_assert_int_eq(stat(d.log, &after), 0);
	int lines = log_count("hostile: log-flood: line ", NULL);
	/* each line: at most 200 bytes of prefix ("<5>qrexec-proxy[ID]: filter ...#1 (src2dst): ") and text */
	long grown = (long)(after.st_size - before.st_size);
	if (grown > (64 << 10) + 200L * lines + 8192)
		finding("the log grew by %ld bytes for %d flood lines: more than the bound", grown, lines);
	if (lines > 2000)
		finding("%d flood lines logged", lines);
	char line[2048];
	if (!log_line("chain=attack-flood result=", NULL, line, sizeof(line)) || !strstr(line, " log_dropped="))
		finding("the flood's summary has no log_dropped=: %s", line);
	if (!log_count("wrote more to stderr than its bound", NULL))
		finding("the daemon did not say that it drops the flood's lines");
	run_end(&r);
}
END_TEST

START_TEST(test_log_forge)
{
	/* <0> from a filter, a 10,000-byte line of "<0>" pieces, C1 controls: none of it forges anything */
	struct run r;
	ck_assert(run_begin(&r, (const char *const[]){ "forge log-forge", NULL }, NULL, false, false));
	attack_call(&r, "forge");
	attacks_end(&r, "forge", 1);
	char line[4096];
	if (!log_line("emergency from a filter", NULL, line, sizeof(line)))
		finding("the <0> line is not in the log");
	else if (line[0] != '<' || line[1] < '3' || line[1] > '7')
		finding("a filter's <0> line was logged at a priority above err: %.80s", line);
	/* the long line: every piece at the first one's priority (err), "<0>" kept as text in the others */
	char *log = file_read(d.log);
	int pieces = 0, forged = 0;
	for (char *p = log; *p;) {
		size_t k = strcspn(p, "\n");
		if (memmem(p, k, "hostile-forged-piece", 20)) {
			pieces++;
			if (p[0] != '<' || p[1] < '3' || p[1] > '7')
				forged++;
		}
		p += k + (p[k] == '\n');
	}
	free(log);
	if (pieces < 9)
		finding("the 10,000-byte line came in %d pieces", pieces);
	if (forged)
		finding("%d pieces of the long line were logged at a forged priority", forged);
	if (log_count("hostile-forged-piece", NULL) && log_count("): <0>hostile-forged-piece", NULL) < pieces - 1)
		finding("the pieces after the first lost their \"<0>\" text (read as a priority)");
	if (!log_line("c1-utf8:", NULL, line, sizeof(line)))
		finding("the C1 line is not in the log");
	else if (!strstr(line, "c1-utf8:\\xc2\\x9b31m c1-raw:\\x9b31m"))
		finding("C1 controls were not escaped: %s", line);
	run_end(&r);
}
END_TEST

/* ---- the mechanism: a cgroup per connection ---- */

START_TEST(test_cgroup)
{
	/*
	 * A subtree delegated to the daemon: it moves to "daemon", each
	 * connection's sandbox runs in conn-PID (its supervisor's), status
	 * shows it, and it is gone once the connection is.
	 */
	struct run r;
	const char *const extra[] = { "--connection-cgroup", "yes", NULL };
	struct cgrp probe;
	bool v2_bounds = standin_memory(&probe, (uint64_t)STANDIN_MIB << 20) && probe.version == 2;
	group_remove(&probe);
	if (!run_begin(&r, (const char *const[]){ "hold mem-hog-many 4 1", NULL }, extra, v2_bounds, !v2_bounds)) {
		printf("check_resources: cgroup: SKIP: no cgroup v2 hierarchy to delegate to the daemon\n");
		return;
	}
	const struct cgrp *g = v2_bounds ? &r.standin : &r.delegated;
	char path[600];
	snprintf(path, sizeof(path), "%s/daemon/cgroup.procs", g->dir);
	char *procs = file_read(path);
	char self[32];
	snprintf(self, sizeof(self), "%d\n", (int)d.pid);
	if (!strstr(procs, self))
		finding("the listener is not in %s", path);
	free(procs);
	attack_call(&r, "hold");
	expect_report("hostile: mem-hog-many: allowed ", 60000);
	/* the victim's and the attack's connections: a cgroup each, holding their sandboxes */
	int conns = 0;
	DIR *dir = opendir(g->dir);
	struct dirent *e;
	while (dir && (e = readdir(dir)))
		if (!strncmp(e->d_name, "conn-", 5)) {
			snprintf(path, sizeof(path), "%s/%s/cgroup.procs", g->dir, e->d_name);
			char *p = file_read(path);
			conns += *p != '\0';
			free(p);
		}
	if (dir)
		closedir(dir);
	if (conns < 2)
		finding("%d connection cgroups hold processes, expected the victim's and the attack's", conns);
	/* status: a connection's memory and tasks where it has a cgroup */
	char cmd[700], out[8192] = "";
	snprintf(cmd, sizeof(cmd), "%s/qrexec-proxy status --socket %s", builddir(), d.sock);
	FILE *p = popen(cmd, "r");
	size_t got = p ? fread(out, 1, sizeof(out) - 1, p) : 0;
	out[got] = '\0';
	if (!p || pclose(p) != 0 || !strstr(out, "MEMORY") || !strstr(out, "TASKS"))
		finding("status shows no MEMORY and TASKS: %s", out);
	attacks_end(&r, "hold", 1);
	if (!log_wait("chain=attack-hold result=", v2_bounds ? " bound=cgroup" : " bound=rlimit", budget(10000)))
		finding("the attack's summary does not say bound=%s", v2_bounds ? "cgroup" : "rlimit");
	victim_end(&r.v);
	/* every connection has ended: only the spare's cgroup is left */
	int64_t end = now_ms() + budget(30000);
	int left;
	do {
		left = 0;
		dir = opendir(g->dir);
		while (dir && (e = readdir(dir)))
			left += !strncmp(e->d_name, "conn-", 5);
		if (dir)
			closedir(dir);
		if (left > 1)
			poll(NULL, 0, 50);
	} while (left > 1 && now_ms() < end);
	if (left > 1)
		finding("%d connection cgroups left once the connections ended (the spare's is one)", left);
	run_end(&r);
}
END_TEST

/* ---- the suite ---- */

static bool listed(const char *list, const char *name)
{
	if (!list || !*list)
		return true;
	size_t len = strlen(name);
	for (const char *p = list; *p;) {
		size_t k = strcspn(p, ",");
		if (k == len && !strncmp(p, name, len))
			return true;
		p += k + (p[k] == ',');
	}
	return false;
}

int main(void)
{
	if (geteuid() != 0) {
		printf("check_resources: SKIP: needs root (the daemon runs as nobody; the groups are root's)\n");
		return 77;
	}
	struct passwd *pw = getpwnam("nobody");
	if (!pw) {
		printf("check_resources: SKIP: no user nobody\n");
		return 77;
	}
	run_uid = pw->pw_uid;
	run_gid = pw->pw_gid;
	struct cgrp g;
	if (standin_memory(&g, (uint64_t)STANDIN_MIB << 20))
		printf("check_resources: MemoryMax= stands in as a cgroup v%d memory group of %d MiB (%s)%s\n", g.version,
		       STANDIN_MIB, g.dir,
		       g.version == 2 ? ", delegated to the daemon: a cgroup per connection, bound=cgroup"
				      : "; the daemon has no cgroup v2 subtree with memory and pids here: bound=rlimit");
	else
		printf("check_resources: no memory-bounded group here: the memory tests skip\n");
	group_remove(&g);

	const struct {
		const char *name;
		const TTest *test;
		int loops;
	} tests[] = {
		{ "memory_many", test_memory_many, 1 }, { "memory_one", test_memory_one, 1 },
		{ "python_filter", test_python_filter, 1 },
		{ "fork_bomb", test_fork_bomb, 1 },     { "inotify", test_inotify, 2 },
		{ "proc_views", test_proc_views, 2 },   { "log_flood", test_log_flood, 1 },
		{ "log_forge", test_log_forge, 1 },     { "cgroup", test_cgroup, 1 },
	};
	const char *only = getenv("QP_RESOURCES_TEST_ONLY");
	Suite *s = suite_create("resources");
	TCase *tc = tcase_create("resources");
	tcase_set_timeout(tc, 600);
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		if (listed(only, tests[i].name))
			tcase_add_loop_test(tc, tests[i].test, 0, tests[i].loops);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
