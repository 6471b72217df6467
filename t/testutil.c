/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hash.h"
#include "testjournal.h"
#include "testutil.h"
#include "timeout.h"

const char *builddir(void)
{
	const char *b = getenv("QP_BUILDDIR");
	return b ? b : ".";
}

const char *srcdir(void)
{
	const char *s = getenv("QP_SRCDIR");
	return s ? s : ".";
}

int wait_ms(int ms)
{
	/*
	 * A deadline only bounds how long a test waits for an event that is
	 * due; the event ends the wait. So every deadline is at least a
	 * generous floor (60 s, QP_TEST_WAIT_MS to change it) that valgrind
	 * on a 2-core machine stays far inside, and grows with the machine's
	 * load (six busy loops on two cores make every process four times
	 * slower).
	 */
	static int floor_ms = -1;
	if (floor_ms < 0) {
		const char *e = getenv("QP_TEST_WAIT_MS");
		floor_ms = e && atoi(e) > 0 ? atoi(e) : 60000;
	}
	double t = (ms > floor_ms ? ms : floor_ms) * test_load_scale();
	return t > 0x7fffffff ? 0x7fffffff : (int)t;
}

bool wait_gone(pid_t pid, int timeout_ms)
{
	int64_t end = now_ms() + wait_ms(timeout_ms);
	while (pid_alive(pid) && now_ms() < end)
		poll(NULL, 0, 10);
	return !pid_alive(pid);
}

int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void write_config(const char *path, const char *body)
{
	FILE *f = fopen(path, "w");
	ck_assert_msg(f, "unable to write %s", path);
	for (const char *p = body; *p; p++) {
		if (!strncmp(p, "@B@", 3)) {
			fputs(builddir(), f);
			p += 2;
		} else if (!strncmp(p, "@S@", 3)) {
			fputs(srcdir(), f);
			p += 2;
		} else {
			fputc(*p, f);
		}
	}
	ck_assert_int_eq(fclose(f), 0);
}

void make_tmpdir(char *out, size_t size)
{
	const char *base = getenv("TMPDIR");
	snprintf(out, size, "%s/qp-test.XXXXXX", base ? base : "/tmp");
	ck_assert_msg(mkdtemp(out), "mkdtemp: %s", strerror(errno));
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void rm_rf(const char *dir)
{
	/* QP_KEEP_TMP=1 keeps logs and configs of a failed run for inspection */
	if (getenv("QP_KEEP_TMP"))
		return;
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *file_read(const char *file)
{
	FILE *f = fopen(file, "r");
	if (!f)
		return strdup("");
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	size_t n;
	while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len < 2) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
	}
	buf[len] = '\0';
	fclose(f);
	return buf;
}

bool file_wait_for(const char *file, const char *needle, int timeout_ms)
{
	int64_t end = now_ms() + wait_ms(timeout_ms);
	do {
		char *s = file_read(file);
		bool found = strstr(s, needle) != NULL;
		free(s);
		if (found)
			return true;
		poll(NULL, 0, 20);
	} while (now_ms() < end);
	return false;
}

int file_count(const char *file, const char *needle)
{
	char *s = file_read(file);
	int n = 0;
	char *save = NULL;
	for (char *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (strstr(line, needle))
			n++;
	free(s);
	return n;
}

int file_wait_count(const char *file, const char *needle, int n, int timeout_ms)
{
	int64_t end = now_ms() + wait_ms(timeout_ms);
	int k;
	while ((k = file_count(file, needle)) < n && now_ms() < end)
		poll(NULL, 0, 20);
	return k;
}

/*
 * What systemd's AmbientCapabilities= does for a User=: CAP (a capability
 * number) permitted, inheritable and ambient across setuid and execve.
 */
static void grant_ambient(int cap)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct c[_LINUX_CAPABILITY_U32S_3] = { { 0, 0, 0 } };
	c[cap / 32].permitted = c[cap / 32].inheritable = c[cap / 32].effective = 1U << (cap % 32);
	if (syscall(SYS_capset, &h, c) < 0 || prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0) {
		dprintf(2, "testutil: unable to grant capability %d: %s\n", cap, strerror(errno));
		_exit(94);
	}
}

/* capset fails with EPERM from here on, through execve: the unit's SystemCallFilter=~@privileged */
static void refuse_capset(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_capset, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
		dprintf(2, "testutil: unable to refuse capset: %s\n", strerror(errno));
		_exit(93);
	}
}

static char join_cgroups[4][512];

void daemon_join_cgroups(const char *const *procs_files)
{
	bool more = procs_files != NULL;
	for (size_t i = 0; i < 4; i++) {
		more = more && procs_files[i];
		snprintf(join_cgroups[i], sizeof(join_cgroups[i]), "%s", more ? procs_files[i] : "");
	}
}

/* in the daemon's child, as root still: into every cgroup daemon_join_cgroups() named */
static void join_named_cgroups(void)
{
	for (size_t i = 0; i < 4 && join_cgroups[i][0]; i++) {
		int fd = open(join_cgroups[i], O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, "0", 1) != 1) {
			dprintf(2, "testutil: unable to join the cgroup of %s: %s\n", join_cgroups[i], strerror(errno));
			_exit(92);
		}
		close(fd);
	}
}

/*
 * The daemon's side of the fork: stderr to its log (opened before any
 * privilege is dropped, so the log stays the test's), stdin and stdout on
 * /dev/null, then, when DROP, the user UID/GID with no supplementary
 * groups (with capability CAP ambient when CAP >= 0, capset refused too
 * with DAEMON_CAPSET_REFUSED in it), and the exec (under
 * $QP_DAEMON_WRAPPER when set).
 */
/*
 * $QP_DAEMON_WRAPPER with @RUN@ replaced by a directory of this daemon's
 * own (mode 1777, made here, before the daemon's user is taken): the
 * wrapper's per-process files (valgrind's --log-file=DIR/@RUN@/vg.%p)
 * then never meet a file another daemon's process left under the same
 * pid, which on a busy machine (pid_max 32768) comes round within a run,
 * and which another user's process may not overwrite. NULL: no wrapper.
 */
static char *wrapper_for_this_daemon(void)
{
	const char *wrap = getenv("QP_DAEMON_WRAPPER");
	if (!wrap || !*wrap)
		return NULL;
	char *w = strdup(wrap);
	char *at = w ? strstr(w, "@RUN@") : NULL;
	if (!at)
		return w;
	/* the directory the template names: from the start of its word to the placeholder */
	char *start = at;
	while (start > w && start[-1] != ' ' && start[-1] != '=')
		start--;
	char run[64], dir[512];
	snprintf(run, sizeof(run), "%d-%lld", (int)getpid(), (long long)now_ms());
	snprintf(dir, sizeof(dir), "%.*s%s", (int)(at - start), start, run);
	if (mkdir(dir, 01777) < 0 || chmod(dir, 01777) < 0)
		_exit(93);
	char *out = NULL;
	if (asprintf(&out, "%.*s%s%s", (int)(at - w), w, run, at + 5) < 0)
		_exit(93);
	free(w);
	return out;
}

static _Noreturn void daemon_exec(const struct daemon *d, const char *prog, const char **argv, bool drop, uid_t uid,
				  gid_t gid, int cap)
{
	bool refused = cap >= 0 && (cap & DAEMON_CAPSET_REFUSED);
	cap = cap >= 0 ? cap & ~DAEMON_CAPSET_REFUSED : cap;
	char *wrap = wrapper_for_this_daemon();
	int fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || dup2(fd, 2) < 0)
		_exit(99);
	int nul = open("/dev/null", O_RDWR);
	dup2(nul, 0);
	dup2(nul, 1);
	setenv("FAKE_CONNECTOR_LOG", d->connlog, 1);
	join_named_cgroups();
	if (drop) {
		pid_t parent = getppid();
		if (cap >= 0 && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
			_exit(94);
		if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
			dprintf(2, "testutil: unable to become uid %d gid %d: %s\n", (int)uid, (int)gid,
				strerror(errno));
			_exit(96);
		}
		/*
		 * A failed check ends the test's process at once, with no
		 * teardown: the daemon must not outlive it. (Set after setuid,
		 * which clears it.)
		 */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(95);
		if (cap >= 0)
			grant_ambient(cap);
		if (refused)
			refuse_capset();
	}
	if (wrap && *wrap) {
		/* e.g. "valgrind --error-exitcode=99 ..." split on spaces */
		char *w = strdup(wrap), *save = NULL;
		const char *wargv[64];
		int k = 0;
		for (char *t = strtok_r(w, " ", &save); t && k < 20; t = strtok_r(NULL, " ", &save))
			wargv[k++] = t;
		for (int i = 0; argv[i]; i++)
			wargv[k++] = argv[i];
		wargv[k] = NULL;
		execvp(wargv[0], (char *const *)wargv);
		_exit(98);
	}
	execv(prog, (char *const *)argv);
	_exit(97);
}

/* D's directory and the paths in it, with CONFIG_BODY written */
static void daemon_prepare(struct daemon *d, const char *config_body)
{
	memset(d, 0, sizeof(*d));
	make_tmpdir(d->dir, sizeof(d->dir));
	snprintf(d->sock, sizeof(d->sock), "%s/qrexec-proxy.sock", d->dir);
	snprintf(d->config, sizeof(d->config), "%s/chains.yaml", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/daemon.log", d->dir);
	snprintf(d->connlog, sizeof(d->connlog), "%s/connector.log", d->dir);
	snprintf(d->journal, sizeof(d->journal), "%s/journal", d->dir);
	write_config(d->config, config_body);
}

/* serve as root on D's socket, logging to LOG, with EXTRA_ARGS; returns once it serves */
static void daemon_launch(struct daemon *d, const char *log, const char *const *extra_args)
{
	char prog[512];
	snprintf(prog, sizeof(prog), "%s/qrexec-proxy", builddir());
	const char *argv[40] = { prog, "serve", "--config", d->config, "--socket", d->sock,
				 "--log", log, "--allow-root" };
	int n = 9;
	for (int i = 0; extra_args && extra_args[i] && n < 36; i++)
		argv[n++] = extra_args[i];
	/* the whole suite under another isolation mechanism: QP_TEST_ISOLATION=landlock */
	const char *iso = getenv("QP_TEST_ISOLATION");
	if (iso && *iso) {
		argv[n++] = "--isolation";
		argv[n++] = iso;
	}
	argv[n] = NULL;

	d->pid = fork();
	ck_assert_int_ge(d->pid, 0);
	if (d->pid == 0)
		daemon_exec(d, prog, argv, false, 0, 0, -1);
	daemon_join_cgroups(NULL);
	if (!file_wait_for(d->log, "serving", 30000)) {
		char *s = file_read(d->log);
		size_t len = strlen(s);
		/* Check drops a message longer than about 4 KB altogether: the end of the log is what tells */
		ck_abort_msg("daemon did not start: %s", s + (len > 3000 ? len - 3000 : 0));
	}
}

void daemon_start(struct daemon *d, const char *config_body, const char *const *extra_args)
{
	daemon_prepare(d, config_body);
	daemon_launch(d, "stderr", extra_args);
}

bool daemon_start_journal(struct daemon *d, const char *config_body, const char *const *extra_args)
{
	daemon_prepare(d, config_body);
	d->collector = journal_collector_start(d->journal, d->log);
	if (d->collector <= 0) {
		rm_rf(d->dir);
		return false;
	}
	daemon_launch(d, "journal", extra_args);
	return true;
}

/* BODY with every @D@ replaced by DIR (write_config does @B@ and @S@) */
static char *with_dir(const char *body, const char *dir)
{
	size_t n = 0;
	for (const char *p = body; (p = strstr(p, "@D@")); p += 3)
		n++;
	char *out = malloc(strlen(body) + n * strlen(dir) + 1), *o = out;
	ck_assert_ptr_nonnull(out);
	for (const char *p = body; *p;) {
		if (!strncmp(p, "@D@", 3)) {
			o = stpcpy(o, dir);
			p += 3;
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	return out;
}

void daemon_start_as(struct daemon *d, const char *config_body, const char *const *extra_args, uid_t uid,
		     gid_t gid)
{
	daemon_start_as_cap(d, config_body, extra_args, uid, gid, -1);
}

void daemon_start_as_cap(struct daemon *d, const char *config_body, const char *const *extra_args, uid_t uid,
			 gid_t gid, int cap)
{
	bool drop = uid != geteuid();
	memset(d, 0, sizeof(*d));
	make_tmpdir(d->dir, sizeof(d->dir));
	snprintf(d->sock, sizeof(d->sock), "%s/qrexec-proxy.sock", d->dir);
	snprintf(d->config, sizeof(d->config), "%s/chains.yaml", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/daemon.log", d->dir);
	snprintf(d->connlog, sizeof(d->connlog), "%s/connector.log", d->dir);
	/* the daemon binds its socket here, so the directory is its user's */
	if (drop)
		ck_assert_msg(chown(d->dir, uid, gid) == 0, "chown %s: %s", d->dir, strerror(errno));
	ck_assert_int_eq(chmod(d->dir, 0755), 0);
	/* the configuration stays the test's: the daemon only reads it */
	char *body = with_dir(config_body, d->dir);
	write_config(d->config, body);
	free(body);
	ck_assert_int_eq(chmod(d->config, 0644), 0);
	/* the stand-in connector runs as the daemon's user and appends to its log */
	int fd = open(d->connlog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_msg(fd >= 0, "unable to create %s: %s", d->connlog, strerror(errno));
	if (drop)
		ck_assert_msg(fchown(fd, uid, gid) == 0, "chown %s: %s", d->connlog, strerror(errno));
	close(fd);

	char prog[512];
	snprintf(prog, sizeof(prog), "%s/qrexec-proxy", builddir());
	const char *argv[40] = { prog, "serve", "--config", d->config, "--socket", d->sock, "--log", "stderr" };
	int n = 8;
	if (uid == 0)
		argv[n++] = "--allow-root";
	bool iso_given = false;
	for (int i = 0; extra_args && extra_args[i] && n < 36; i++) {
		iso_given = iso_given || !strcmp(extra_args[i], "--isolation");
		argv[n++] = extra_args[i];
	}
	/* as daemon_start: the whole suite under another mechanism, unless the test names one */
	const char *iso = getenv("QP_TEST_ISOLATION");
	if (iso && *iso && !iso_given) {
		argv[n++] = "--isolation";
		argv[n++] = iso;
	}
	argv[n] = NULL;

	d->pid = fork();
	ck_assert_int_ge(d->pid, 0);
	if (d->pid == 0)
		daemon_exec(d, prog, argv, drop, uid, gid, cap);
	daemon_join_cgroups(NULL);
	if (!file_wait_for(d->log, "serving", 30000)) {
		char *s = file_read(d->log);
		size_t len = strlen(s);
		/* Check drops a message longer than about 4 KB altogether: the end of the log is what tells */
		ck_abort_msg("daemon did not start: %s", s + (len > 3000 ? len - 3000 : 0));
	}
}

int daemon_stop(struct daemon *d)
{
	int status = -1;
	if (d->pid > 0) {
		kill(d->pid, SIGTERM);
		int64_t end = now_ms() + 60000;
		for (;;) {
			pid_t r = waitpid(d->pid, &status, WNOHANG);
			if (r == d->pid)
				break;
			if (now_ms() > end) {
				kill(d->pid, SIGKILL);
				waitpid(d->pid, &status, 0);
				break;
			}
			poll(NULL, 0, 10);
		}
		d->pid = 0;
	}
	return status;
}

int call_open(const struct daemon *d, const char *descriptor)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_uint_lt(strlen(d->sock), sizeof(sa.sun_path));
	memcpy(sa.sun_path, d->sock, strlen(d->sock) + 1);
	int r;
	int64_t end = now_ms() + wait_ms(0);
	while ((r = connect(fd, (struct sockaddr *)&sa, sizeof(sa))) < 0 && now_ms() < end)
		poll(NULL, 0, 20);
	ck_assert_msg(r == 0, "connect %s: %s", d->sock, strerror(errno));
	if (descriptor) {
		size_t len = strlen(descriptor) + 1;
		ck_assert_int_eq(send(fd, descriptor, len, MSG_NOSIGNAL), (ssize_t)len);
	}
	return fd;
}

int call_vm(const struct daemon *d, const char *chain, const char *target, const char *service)
{
	char desc[1024];
	snprintf(desc, sizeof(desc), "qrexec-proxy+%s+%s+%s source-vm", chain, target, service);
	return call_open(d, desc);
}

uint64_t expected_hash(uint64_t nbytes, uint64_t seed)
{
	static char buf[1 << 16];
	uint64_t h = HASH_INIT;
	while (nbytes) {
		size_t k = nbytes < sizeof(buf) ? (size_t)nbytes : sizeof(buf);
		fill_random(&seed, buf, k);
		h = hash_update(h, buf, k);
		nbytes -= k;
	}
	return h;
}

void call_transfer(int fd, uint64_t nbytes, uint64_t seed, int timeout_ms, struct xfer *x)
{
	memset(x, 0, sizeof(*x));
	x->sent = nbytes;
	x->sent_hash = expected_hash(nbytes, seed);
	x->recv_hash = HASH_INIT;

	pid_t w = fork();
	ck_assert_int_ge(w, 0);
	if (w == 0) {
		static char buf[1 << 16];
		signal(SIGPIPE, SIG_IGN);
		while (nbytes) {
			size_t k = nbytes < sizeof(buf) ? (size_t)nbytes : sizeof(buf);
			fill_random(&seed, buf, k);
			size_t off = 0;
			while (off < k) {
				ssize_t n = send(fd, buf + off, k - off, MSG_NOSIGNAL);
				if (n < 0) {
					if (errno == EINTR)
						continue;
					_exit(1);
				}
				off += (size_t)n;
			}
			nbytes -= k;
		}
		shutdown(fd, SHUT_WR);
		_exit(0);
	}
	int64_t end = now_ms() + wait_ms(timeout_ms);
	static char rbuf[1 << 16];
	for (;;) {
		int64_t left = end - now_ms();
		if (left <= 0) {
			x->timed_out = true;
			break;
		}
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, (int)left);
		if (r <= 0)
			continue;
		ssize_t n = read(fd, rbuf, sizeof(rbuf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		x->recv += (uint64_t)n;
		x->recv_hash = hash_update(x->recv_hash, rbuf, (size_t)n);
	}
	close(fd);
	if (x->timed_out)
		kill(w, SIGKILL);
	waitpid(w, &x->writer_status, 0);
}

static int children(pid_t ppid, pid_t *out, int max, bool spare_too);

int children_of(pid_t ppid, pid_t *out, int max)
{
	return children(ppid, out, max, false);
}

int children_of_any(pid_t ppid, pid_t *out, int max)
{
	return children(ppid, out, max, true);
}

static int children(pid_t ppid, pid_t *out, int max, bool spare_too)
{
	DIR *dir = opendir("/proc");
	struct dirent *e;
	int n = 0;
	if (!dir)
		return 0;
	while ((e = readdir(dir))) {
		char path[300], buf[512];
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		int fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		ssize_t len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		char *rp = strrchr(buf, ')');
		char state;
		int pp;
		if (!rp || sscanf(rp + 2, "%c %d", &state, &pp) != 2)
			continue;
		/* the daemon's spare supervisor (waiting for the next connection) is always there */
		if (pp != ppid || n >= max)
			continue;
		/* the daemon's spare supervisor, waiting for the next connection, is always there */
		const char *comm = strchr(buf, '(');
		if (!spare_too && comm && !strncmp(comm + 1, "qp-spare)", 9))
			continue;
		out[n++] = (pid_t)atoi(e->d_name);
	}
	closedir(dir);
	return n;
}

bool pid_alive(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	ssize_t len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return false;
	buf[len] = '\0';
	char *rp = strrchr(buf, ')');
	/* a zombie has ended; only its parent's wait is missing */
	return rp && rp[2] != 'Z';
}

void daemon_teardown(struct daemon *d)
{
	if (d->pid) {
		int status = daemon_stop(d);
		char *log = file_read(d->log);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			      "daemon ended with status 0x%x; log:\n%s", status, log);
		free(log);
	}
	if (d->collector > 0) {
		kill(d->collector, SIGKILL);
		waitpid(d->collector, NULL, 0);
		d->collector = 0;
	}
	rm_rf(d->dir);
}

/* the daemon's spare supervisor (comm "qp-spare"), or 0 */
pid_t daemon_spare(const struct daemon *dm)
{
	pid_t kids[64];
	int n = children_of_any(dm->pid, kids, 64);
	for (int i = 0; i < n; i++) {
		char path[64], comm[32] = "";
		snprintf(path, sizeof(path), "/proc/%d/comm", (int)kids[i]);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) && !strcmp(comm, "qp-spare\n")) {
			fclose(f);
			return kids[i];
		}
		fclose(f);
	}
	return 0;
}

pid_t daemon_wait_spare(const struct daemon *dm)
{
	pid_t spare = 0;
	for (int64_t end = now_ms() + wait_ms(0); !(spare = daemon_spare(dm)) && now_ms() < end;)
		poll(NULL, 0, 20);
	return spare;
}

char *daemon_status_json(const struct daemon *dm)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s.control", dm->sock) >= sizeof(sa.sun_path))
		return NULL;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || write(fd, "status json\n", 12) != 12) {
		close(fd);
		return NULL;
	}
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (!buf)
			break;
		if (len + 1 >= cap) {
			char *n = realloc(buf, cap *= 2);
			if (!n) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = n;
		}
		ssize_t r = read(fd, buf + len, cap - len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (buf && len == 0) {
		free(buf);
		return NULL;
	}
	if (buf)
		buf[len] = '\0';
	return buf;
}

bool daemon_wait_spare_ahead(const struct daemon *dm, const char *chain)
{
	char want[300];
	if (chain)
		snprintf(want, sizeof(want), "\"ready\":true,\"prepared\":true,\"hint\":\"%s\",\"started_ahead\":\"%s\"}",
			 chain, chain);
	else
		snprintf(want, sizeof(want), "\"started_ahead\":null}");
	for (int64_t end = now_ms() + wait_ms(0); now_ms() < end; poll(NULL, 0, 20)) {
		char *st = daemon_status_json(dm);
		bool ok = st && strstr(st, "\"ready\":true") && strstr(st, want);
		free(st);
		if (ok)
			return true;
	}
	return false;
}

void assert_no_children_of(const struct daemon *d)
{
	pid_t kids[64];
	int n = 0;
	int64_t end = now_ms() + wait_ms(0);
	for (;;) {
		n = children_of(d->pid, kids, 64);
		if (n == 0)
			return;
		if (now_ms() > end)
			break;
		poll(NULL, 0, 20);
	}
	char *log = file_read(d->log);
	size_t len = strlen(log);
	ck_abort_msg("%d supervisors still running; log (end):\n%s", n, log + (len > 3000 ? len - 3000 : 0));
}

void assert_daemon_log(const struct daemon *d, const char *needle)
{
	if (file_wait_for(d->log, needle, 10000))
		return;
	char *log = file_read(d->log);
	size_t len = strlen(log);
	/* Check drops a message longer than about 4 KB altogether: the end of the log is what tells */
	ck_abort_msg("the log does not say \"%s\":\n%s", needle, log + (len > 3000 ? len - 3000 : 0));
}

void assert_refused(int fd)
{
	char buf[64];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ck_assert_int_eq(poll(&p, 1, wait_ms(0)), 1);
	ck_assert_int_eq(read(fd, buf, sizeof(buf)), 0);
	close(fd);
}

void assert_gone(pid_t pid)
{
	ck_assert_msg(wait_gone(pid, 0), "process %d is still alive", (int)pid);
}

/* writes NBYTES deterministic bytes from SEED to FD, in a child; returns its pid */
static pid_t write_child(int fd, uint64_t nbytes, uint64_t seed, const int *close_fds, int nclose)
{
	pid_t w = fork();
	ck_assert_int_ge(w, 0);
	if (w > 0)
		return w;
	static char buf[1 << 16];
	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < nclose; i++)
		close(close_fds[i]);
	while (nbytes) {
		size_t k = nbytes < sizeof(buf) ? (size_t)nbytes : sizeof(buf);
		fill_random(&seed, buf, k);
		for (size_t off = 0; off < k;) {
			ssize_t m = write(fd, buf + off, k - off);
			if (m < 0)
				_exit(1);
			off += (size_t)m;
		}
		nbytes -= k;
	}
	_exit(0);
}

void proxy_run(const char *const *args, const char *const *env, uint64_t nbytes, uint64_t seed,
	       struct proxy_run *r)
{
	int in[2], out[2], err[2];
	char prog[512];
	const char *argv[32];
	int n = 0;

	snprintf(prog, sizeof(prog), "%s/qrexec-proxy", builddir());
	argv[n++] = prog;
	for (int i = 0; args[i]; i++) {
		ck_assert_int_lt(n, 31);
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(err, O_CLOEXEC), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* dup2 clears close-on-exec on 0-2; the originals close at exec */
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0)
			_exit(98);
		for (int i = 0; env && env[i]; i++)
			putenv((char *)env[i]);
		execv(prog, (char *const *)argv);
		_exit(99);
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	const int theirs[] = { out[0], err[0] };
	pid_t w = write_child(in[1], nbytes, seed, theirs, 2);
	close(in[1]);

	memset(r, 0, sizeof(*r));
	r->out_hash = HASH_INIT;
	size_t cap = 1 << 16;
	r->err = malloc(cap);
	ck_assert_ptr_nonnull(r->err);
	struct pollfd p[2] = { { .fd = out[0], .events = POLLIN }, { .fd = err[0], .events = POLLIN } };
	while (p[0].fd >= 0 || p[1].fd >= 0) {
		ck_assert_msg(poll(p, 2, wait_ms(60000)) > 0, "qrexec-proxy %s hangs", args[0]);
		static char buf[1 << 16];
		if (p[0].revents) {
			ssize_t k = read(out[0], buf, sizeof(buf));
			if (k <= 0) {
				close(out[0]);
				p[0].fd = -1;
			} else {
				r->out_len += (uint64_t)k;
				r->out_hash = hash_update(r->out_hash, buf, (size_t)k);
			}
		}
		if (p[1].revents) {
			if (cap - r->err_len < 4096) {
				cap *= 2;
				r->err = realloc(r->err, cap);
				ck_assert_ptr_nonnull(r->err);
			}
			ssize_t k = read(err[0], r->err + r->err_len, cap - 1 - r->err_len);
			if (k <= 0) {
				close(err[0]);
				p[1].fd = -1;
			} else {
				r->err_len += (size_t)k;
			}
		}
	}
	r->err[r->err_len] = '\0';
	ck_assert_int_eq(waitpid(pid, &r->status, 0), pid);
	waitpid(w, NULL, 0);
}

void proxy_run_free(struct proxy_run *r)
{
	free(r->err);
	r->err = NULL;
}

int proxy_run_exit(const struct proxy_run *r)
{
	return WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1;
}

/* all of FD until EOF, NUL-terminated; closes FD */
static char *read_all(int fd)
{
	size_t cap = 65536, len = 0;
	char *out = malloc(cap);
	ck_assert_ptr_nonnull(out);
	for (;;) {
		if (cap - len < 4096) {
			cap *= 2;
			out = realloc(out, cap);
			ck_assert_ptr_nonnull(out);
		}
		ssize_t r = read(fd, out + len, cap - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	out[len] = '\0';
	close(fd);
	return out;
}

char *proxy_capture(const char *const *args, const char *const *env, int *rc, char **err)
{
	char prog[512];
	snprintf(prog, sizeof(prog), "%s/qrexec-proxy", builddir());
	const char *argv[64] = { prog };
	int n = 1;
	for (int i = 0; args[i] && n < 63; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	char errfile[] = "/tmp/qp-capture.XXXXXX";
	int efd = mkstemp(errfile);
	ck_assert_int_ge(efd, 0);
	unlink(errfile);
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(p[1], 1) < 0 || dup2(efd, 2) < 0)
			_exit(98);
		for (int i = 0; env && env[i]; i++)
			putenv((char *)env[i]);
		execv(prog, (char *const *)argv);
		_exit(99);
	}
	close(p[1]);
	char *out = read_all(p[0]);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	*rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	ck_assert_int_eq(lseek(efd, 0, SEEK_SET), 0);
	char *e = read_all(efd);
	if (err)
		*err = e;
	else
		free(e);
	return out;
}

int processes_named(const char *name, pid_t *out, int max)
{
	DIR *dir = opendir("/proc");
	struct dirent *e;
	int n = 0;
	if (!dir)
		return 0;
	while ((e = readdir(dir)) && n < max) {
		char path[300], comm[64] = "";
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		FILE *f = fopen(path, "re");
		if (!f)
			continue;
		bool match = fgets(comm, sizeof(comm), f) && !strncmp(comm, name, strlen(name)) &&
			     comm[strlen(name)] == '\n';
		fclose(f);
		pid_t pid = (pid_t)atoi(e->d_name);
		if (match && pid_alive(pid))
			out[n++] = pid;
	}
	closedir(dir);
	return n;
}
