/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * filecopy-guard between a sender and a receiver of the qubes.Filecopy
 * format (t/filecopy-stream, written from the format's facts): real
 * processes on real pipes, the receiver's status going back to the
 * sender as qfile-agent reads it. Every test checks what the receiver
 * created, byte for byte, against the source tree, and the statuses.
 * Malformed streams are fed to the guard directly.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "hash.h"
#include "testutil.h"

static char tmp[256], src[300], dst[300];

static void setup(void)
{
	make_tmpdir(tmp, sizeof(tmp));
	snprintf(src, sizeof(src), "%s/src", tmp);
	snprintf(dst, sizeof(dst), "%s/dst", tmp);
	ck_assert_int_eq(mkdir(src, 0755), 0);
	ck_assert_int_eq(mkdir(dst, 0755), 0);
}

static void teardown(void)
{
	rm_rf(tmp);
}

/* ---- making the source tree ---- */

static void make_file(const char *rel, size_t size, unsigned seed, mode_t mode)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", src, rel);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	uint64_t state = seed + 1;
	static char buf[1 << 16];
	for (size_t left = size; left;) {
		size_t n = left < sizeof(buf) ? left : sizeof(buf);
		fill_random(&state, buf, n);
		ck_assert_int_eq(write(fd, buf, n), (ssize_t)n);
		left -= n;
	}
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

static void make_dir(const char *rel)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", src, rel);
	ck_assert_int_eq(mkdir(path, 0755), 0);
}

static void make_link(const char *rel, const char *target)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", src, rel);
	ck_assert_int_eq(symlink(target, path), 0);
}

/* ---- describing a tree: one line per entry, sorted ---- */

static char *listing;
static size_t listing_len, listing_root;

static int list_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)flag;
	if (ftw->level == 0)
		return 0;
	char line[8192];
	int n;
	if (S_ISREG(st->st_mode)) {
		uint64_t h = HASH_INIT;
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ck_assert_int_ge(fd, 0);
		static char buf[1 << 16];
		ssize_t got;
		while ((got = read(fd, buf, sizeof(buf))) > 0)
			h = hash_update(h, buf, (size_t)got);
		close(fd);
		n = snprintf(line, sizeof(line), "file %s %o %lld %016llx\n", path + listing_root,
			     (unsigned)(st->st_mode & 07777), (long long)st->st_size, (unsigned long long)h);
	} else if (S_ISDIR(st->st_mode)) {
		n = snprintf(line, sizeof(line), "dir %s %o\n", path + listing_root, (unsigned)(st->st_mode & 07777));
	} else {
		char t[4096] = "";
		ssize_t l = readlink(path, t, sizeof(t) - 1);
		t[l > 0 ? l : 0] = '\0';
		n = snprintf(line, sizeof(line), "link %s -> %s\n", path + listing_root, t);
	}
	listing = realloc(listing, listing_len + (size_t)n + 1);
	memcpy(listing + listing_len, line, (size_t)n + 1);
	listing_len += (size_t)n;
	return 0;
}

static int cmp_lines(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* the entries under ROOT named by NAMES (NULL: all), one line each, sorted */
static char *tree(const char *root, const char *const *names)
{
	listing = NULL;
	listing_len = 0;
	listing_root = strlen(root) + 1;
	if (!names) {
		nftw(root, list_one, 16, FTW_PHYS);
	} else {
		for (; *names; names++) {
			char p[4096];
			snprintf(p, sizeof(p), "%s/%s", root, *names);
			struct stat st;
			if (lstat(p, &st) < 0)
				continue;
			/* the entry itself, then below it */
			struct FTW f = { .level = 1 };
			list_one(p, &st, 0, &f);
			if (S_ISDIR(st.st_mode)) {
				size_t keep = listing_root;
				nftw(p, list_one, 16, FTW_PHYS);
				listing_root = keep;
			}
		}
	}
	if (!listing)
		return strdup("");
	/* sort the lines */
	size_t count = 0;
	for (char *s = listing; *s; s++)
		count += *s == '\n';
	char **lines = calloc(count + 1, sizeof(*lines));
	size_t i = 0;
	for (char *s = strtok(listing, "\n"); s; s = strtok(NULL, "\n"))
		lines[i++] = s;
	qsort(lines, i, sizeof(*lines), cmp_lines);
	char *out = calloc(1, listing_len + 2);
	for (size_t k = 0; k < i; k++) {
		strcat(out, lines[k]);
		strcat(out, "\n");
	}
	free(lines);
	free(listing);
	return out;
}

/* ---- running sender, middle and receiver ---- */

struct copy {
	int send_status, middle_status, recv_status;
	char *send_err, *middle_err, *recv_err;
};

static pid_t start(char *const *argv, int in, int out, const char *errfile)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int e = open(errfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		dup2(in, 0);
		dup2(out, 1);
		dup2(e, 2);
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static int await(pid_t pid, int64_t end)
{
	int st;
	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			ck_abort_msg("pid %d still running at the deadline", (int)pid);
		}
		struct timespec ts = { 0, 5 * 1000 * 1000 };
		nanosleep(&ts, NULL); /* polling a child's end: waitpid has no timeout */
	}
	return st;
}

/*
 * filecopy-stream send -C src NAMES | MIDDLE | filecopy-stream receive dst,
 * the receiver's stdout back to the sender's stdin. With RECEIVER_INSIDE,
 * MIDDLE runs the receiver itself (qrexec-proxy run ... -- receiver).
 */
static void copy(char *const *middle, const char *const *names, bool receiver_inside, struct copy *c)
{
	char stream_tool[512], e1[400], e2[400], e3[400];
	snprintf(stream_tool, sizeof(stream_tool), "%s/t/filecopy-stream", builddir());
	snprintf(e1, sizeof(e1), "%s/send.err", tmp);
	snprintf(e2, sizeof(e2), "%s/middle.err", tmp);
	snprintf(e3, sizeof(e3), "%s/recv.err", tmp);
	char *sargv[2100] = { stream_tool, "send", "-C", src };
	size_t n = 4;
	for (; *names && n < 2098; names++)
		sargv[n++] = (char *)*names;
	sargv[n] = NULL;
	char *rargv[] = { stream_tool, "receive", dst, NULL };

	int s2m[2], m2r[2], r2s[2];
	ck_assert_int_eq(pipe2(s2m, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(r2s, O_CLOEXEC), 0);
	pid_t ps, pm, pr = 0;
	if (receiver_inside) {
		pm = start(middle, s2m[0], r2s[1], e2);
	} else {
		ck_assert_int_eq(pipe2(m2r, O_CLOEXEC), 0);
		pm = start(middle, s2m[0], m2r[1], e2);
		pr = start(rargv, m2r[0], r2s[1], e3);
		close(m2r[0]);
		close(m2r[1]);
	}
	ps = start(sargv, r2s[0], s2m[1], e1);
	close(s2m[0]);
	close(s2m[1]);
	close(r2s[0]);
	close(r2s[1]);
	int64_t end = now_ms() + wait_ms(120000);
	c->send_status = await(ps, end);
	c->middle_status = await(pm, end);
	c->recv_status = pr ? await(pr, end) : 0;
	c->send_err = file_read(e1);
	c->middle_err = file_read(e2);
	c->recv_err = pr ? file_read(e3) : strdup("");
}

static void copy_free(struct copy *c)
{
	free(c->send_err);
	free(c->middle_err);
	free(c->recv_err);
}

static char guard_path[512];

/* the guard between the two, with ARGS */
static void guarded(const char *const *args, const char *const *names, struct copy *c)
{
	snprintf(guard_path, sizeof(guard_path), "%s/filters/filecopy-guard", builddir());
	char *argv[32] = { guard_path };
	size_t n = 1;
	for (; args && *args && n < 31; args++)
		argv[n++] = (char *)*args;
	argv[n] = NULL;
	copy(argv, names, false, c);
}

static int exit_code(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

#define ASSERT_CONTAINS(hay, needle) \
	ck_assert_msg(strstr((hay), (needle)), "expected \"%s\" in:\n%s", (needle), (hay))

/* everything NAMES holds arrived as it was */
static void assert_arrived(const char *const *names)
{
	char *a = tree(src, names), *b = tree(dst, names);
	ck_assert_msg(*a, "nothing to compare");
	ck_assert_msg(!strcmp(a, b), "sent:\n%s\nreceived:\n%s", a, b);
	free(a);
	free(b);
}

/* exactly NAMES arrived, and nothing else */
static void assert_only(const char *const *names)
{
	assert_arrived(names);
	char *a = tree(dst, NULL), *b = tree(dst, names);
	ck_assert_msg(!strcmp(a, b), "more arrived than expected:\n%s\nexpected:\n%s", a, b);
	free(a);
	free(b);
}

/* the copy ended before the refused entry: the sender was told (EREMOTEIO), the guard said why */
static void assert_refused_copy(struct copy *c, const char *rule, const char *name)
{
	ck_assert_msg(exit_code(c->send_status) == 1, "sender: %d\n%s", exit_code(c->send_status), c->send_err);
	ASSERT_CONTAINS(c->send_err, "send: error 121"); /* EREMOTEIO: the stream ended without its marker */
	ck_assert_msg(exit_code(c->middle_status) == 1, "guard: %d\n%s", exit_code(c->middle_status), c->middle_err);
	char want[512];
	snprintf(want, sizeof(want), "refused: ended the stream before \"%s\" (%s", name, rule);
	ASSERT_CONTAINS(c->middle_err, want);
	ck_assert_int_eq(exit_code(c->recv_status), 1);
}

static void assert_complete_copy(struct copy *c)
{
	ck_assert_msg(exit_code(c->send_status) == 0, "sender: %d\n%s\nguard:\n%s\nreceiver:\n%s",
		      exit_code(c->send_status), c->send_err, c->middle_err, c->recv_err);
	ASSERT_CONTAINS(c->send_err, "send: ok");
	ck_assert_msg(exit_code(c->middle_status) == 0, "guard: %d\n%s", exit_code(c->middle_status), c->middle_err);
	ASSERT_CONTAINS(c->middle_err, "complete: ");
	ck_assert_msg(exit_code(c->recv_status) == 0, "receiver: %s", c->recv_err);
}

/* a tree of files: subdirectories, spaces and UTF-8 in names, a link, an executable, empty ones */
static void make_tree(void)
{
	make_dir("tree");
	make_dir("tree/sub dir");
	make_dir("tree/sub dir/deeper");
	make_dir("tree/empty");
	make_file("tree/a.txt", 1000, 1, 0644);
	make_file("tree/sub dir/naïve café.txt", 70000, 2, 0640);
	make_file("tree/sub dir/deeper/日本語の名前", 123457, 3, 0600);
	make_file("tree/sub dir/run.sh", 300, 4, 0755);
	make_file("tree/empty file", 0, 5, 0644);
	make_link("tree/sub dir/link", "run.sh");
}

START_TEST(tree_passes)
{
	make_tree();
	const char *names[] = { "tree", NULL };
	const char *args[] = { "--safe-names", "--log-files", "--max-files", "10", NULL };
	struct copy c;
	guarded(args, names, &c);
	assert_complete_copy(&c);
	assert_only(names);
	/* one line per entry (a directory once), and the summary */
	ASSERT_CONTAINS(c.middle_err, "file \"tree/sub dir/na\\xc3\\xafve caf\\xc3\\xa9.txt\" size=70000 mode=0640");
	ASSERT_CONTAINS(c.middle_err, "symlink \"tree/sub dir/link\" -> \"run.sh\"");
	ASSERT_CONTAINS(c.middle_err, "complete: files=5 directories=4 symlinks=1 bytes=");
	copy_free(&c);
}
END_TEST

START_TEST(tree_over_max_files)
{
	make_tree();
	make_file("after", 10, 9, 0644);
	const char *names[] = { "tree", "after", NULL };
	const char *args[] = { "--max-files", "10", NULL };
	struct copy c;
	guarded(args, names, &c);
	assert_refused_copy(&c, "--max-files", "after");
	const char *arrived[] = { "tree", NULL };
	assert_only(arrived);
	copy_free(&c);
}
END_TEST

/* one refused entry among others: RULE refuses NAMES[REFUSED], what came before arrives whole */
static void refused_case(const char *const *args, const char *const *names, int refused, const char *rule)
{
	struct copy c;
	guarded(args, names, &c);
	char name[256];
	snprintf(name, sizeof(name), "%s", names[refused]);
	assert_refused_copy(&c, rule, name);
	const char *before[1100];
	int i;
	for (i = 0; i < refused; i++)
		before[i] = names[i];
	before[i] = NULL;
	if (refused)
		assert_only(before);
	else {
		char *got = tree(dst, NULL);
		ck_assert_str_eq(got, "");
		free(got);
	}
	copy_free(&c);
}

START_TEST(symlink_refused)
{
	make_file("a.txt", 5000, 1, 0644);
	make_dir("d");
	make_link("d/link", "../a.txt");
	make_file("z.txt", 10, 2, 0644);
	const char *names[] = { "a.txt", "d", "z.txt", NULL };
	const char *args[] = { "--no-symlinks", NULL };
	struct copy c;
	guarded(args, names, &c);
	assert_refused_copy(&c, "--no-symlinks", "d/link");
	/* a.txt whole, d made (its header came first), no link, no z.txt */
	char *got = tree(dst, NULL);
	char *want_a = tree(src, (const char *const[]){ "a.txt", NULL });
	ck_assert_msg(strstr(got, want_a) && strstr(got, "dir d ") && !strstr(got, "link") && !strstr(got, "z.txt"),
		      "%s", got);
	free(got);
	free(want_a);
	copy_free(&c);
}
END_TEST

START_TEST(symlink_passes)
{
	make_dir("d");
	make_file("d/a.txt", 5000, 1, 0644);
	make_link("d/link", "a.txt");
	const char *names[] = { "d", NULL };
	const char *args[] = { "--safe-names", "--no-executables", NULL };
	struct copy c;
	guarded(args, names, &c);
	assert_complete_copy(&c);
	assert_only(names);
	copy_free(&c);
}
END_TEST

START_TEST(symlink_unsafe_refused)
{
	make_dir("d");
	make_file("d/a.txt", 10, 1, 0644);
	make_link("d/out", "../../etc/passwd");
	const char *names[] = { "d", NULL };
	const char *args[] = { "--safe-names", NULL };
	struct copy c;
	guarded(args, names, &c);
	assert_refused_copy(&c, "--safe-names", "d/out");
	copy_free(&c);
}
END_TEST

START_TEST(directory_refused)
{
	make_file("a.txt", 5000, 1, 0644);
	make_dir("d");
	make_file("d/in.txt", 10, 2, 0644);
	const char *names[] = { "a.txt", "d", NULL };
	const char *args[] = { "--no-directories", NULL };
	refused_case(args, names, 1, "--no-directories");
}
END_TEST

START_TEST(directory_passes)
{
	make_dir("d");
	make_dir("d/e");
	make_file("d/e/in.txt", 10, 2, 0644);
	const char *names[] = { "d", NULL };
	const char *args[] = { "--max-depth", "3", NULL };
	struct copy c;
	guarded(args, names, &c);
	assert_complete_copy(&c);
	assert_only(names);
	copy_free(&c);
}
END_TEST

START_TEST(depth_refused)
{
	make_dir("d");
	make_dir("d/e");
	make_file("d/e/in.txt", 10, 2, 0644);
	const char *names[] = { "d", NULL };
	const char *args[] = { "--max-depth", "2", NULL };
	struct copy c;
	guarded(args, names, &c);
	assert_refused_copy(&c, "--max-depth", "d/e/in.txt");
	copy_free(&c);
}
END_TEST

START_TEST(executable_refused)
{
	make_file("a.txt", 5000, 1, 0644);
	make_file("run.sh", 100, 2, 0750);
	make_file("b.txt", 10, 3, 0644);
	const char *names[] = { "a.txt", "run.sh", "b.txt", NULL };
	const char *args[] = { "--no-executables", NULL };
	refused_case(args, names, 1, "--no-executables");
}
END_TEST

START_TEST(executable_passes)
{
	make_file("run.sh", 100, 2, 0755);
	const char *names[] = { "run.sh", NULL };
	struct copy c;
	guarded(NULL, names, &c);
	assert_complete_copy(&c);
	assert_only(names);
	copy_free(&c);
}
END_TEST

START_TEST(special_mode_refused)
{
	make_file("a.txt", 10, 1, 0644);
	make_file("suid", 100, 2, 04755);
	const char *names[] = { "a.txt", "suid", NULL };
	const char *args[] = { "--no-special-modes", NULL };
	refused_case(args, names, 1, "--no-special-modes");
}
END_TEST

#define BIG (100U << 20)

START_TEST(big_file_passes)
{
	make_file("big.bin", BIG, 7, 0644);
	make_file("after.txt", 100, 8, 0644);
	const char *names[] = { "big.bin", "after.txt", NULL };
	const char *args[] = { "--max-file-size", "100M", "--max-bytes", "101M", NULL };
	struct copy c;
	guarded(args, names, &c);
	assert_complete_copy(&c);
	assert_only(names);
	copy_free(&c);
}
END_TEST

START_TEST(big_file_refused)
{
	make_file("small.txt", 100, 8, 0644);
	make_file("big.bin", BIG, 7, 0644);
	const char *names[] = { "small.txt", "big.bin", NULL };
	const char *args[] = { "--max-file-size", "50M", NULL };
	refused_case(args, names, 1, "--max-file-size");
}
END_TEST

START_TEST(max_bytes_refused)
{
	make_file("one", 6000, 1, 0644);
	make_file("two", 6000, 2, 0644);
	const char *names[] = { "one", "two", NULL };
	const char *args[] = { "--max-bytes", "10K", NULL };
	refused_case(args, names, 1, "--max-bytes");
}
END_TEST

static const char **many_names(int n)
{
	static char store[1100][16];
	static const char *names[1101];
	for (int i = 0; i < n; i++) {
		snprintf(store[i], sizeof(store[i]), "f%04d", i);
		names[i] = store[i];
	}
	names[n] = NULL;
	return names;
}

START_TEST(thousand_files_pass)
{
	const char **names = many_names(1000);
	for (int i = 0; i < 1000; i++)
		make_file(names[i], (size_t)(i * 37 % 5000), (unsigned)i, 0644);
	const char *args[] = { "--max-files", "1000", "--no-directories", "--no-symlinks", "--no-executables", NULL };
	struct copy c;
	guarded(args, names, &c);
	assert_complete_copy(&c);
	assert_only(names);
	ASSERT_CONTAINS(c.middle_err, "complete: files=1000 directories=0 symlinks=0");
	copy_free(&c);
}
END_TEST

START_TEST(thousand_files_refused)
{
	const char **names = many_names(1001);
	for (int i = 0; i < 1001; i++)
		make_file(names[i], (size_t)(i * 37 % 5000), (unsigned)i, 0644);
	const char *args[] = { "--max-files", "1000", NULL };
	refused_case(args, names, 1000, "--max-files");
}
END_TEST

START_TEST(names_refused)
{
	make_file("ok.txt", 10, 1, 0644);
	make_file("bad\x01name", 10, 2, 0644);
	const char *names[] = { "ok.txt", "bad\x01name", NULL };
	const char *args[] = { "--safe-names", NULL };
	struct copy c;
	guarded(args, names, &c);
	assert_refused_copy(&c, "--safe-names", "bad\\x01name");
	assert_only((const char *const[]){ "ok.txt", NULL });
	copy_free(&c);
}
END_TEST

START_TEST(names_rtl_refused)
{
	make_file("ok.txt", 10, 1, 0644);
	make_file("evil\xe2\x80\xaetxt.exe", 10, 2, 0644); /* U+202E RIGHT-TO-LEFT OVERRIDE */
	const char *names[] = { "ok.txt", "evil\xe2\x80\xaetxt.exe", NULL };
	const char *args[] = { "--safe-names", NULL };
	struct copy c;
	guarded(args, names, &c);
	assert_refused_copy(&c, "--safe-names", "evil\\xe2\\x80\\xaetxt.exe");
	copy_free(&c);
}
END_TEST

START_TEST(name_globs)
{
	make_file("a.pdf", 10, 1, 0644);
	make_file("b.PDF", 10, 2, 0644);
	make_file("c.exe", 10, 3, 0644);
	const char *names[] = { "a.pdf", "b.PDF", "c.exe", NULL };
	const char *args[] = { "--deny-name", "*.exe", "--allow-name", "*.pdf", "--allow-name", "*.PDF", NULL };
	refused_case(args, names, 2, "--deny-name");
	rm_rf(dst);
	mkdir(dst, 0755);
	const char *only_pdf[] = { "--allow-name", "*.pdf", NULL };
	refused_case(only_pdf, names, 1, "--allow-name");
}
END_TEST

START_TEST(name_length_refused)
{
	make_file("short", 10, 1, 0644);
	make_file("a-rather-long-name", 10, 2, 0644);
	const char *names[] = { "short", "a-rather-long-name", NULL };
	const char *args[] = { "--max-name-length", "10", NULL };
	refused_case(args, names, 1, "--max-name-length");
}
END_TEST

/*
 * Through qrexec-proxy run, as a chain does it: the guard on src2dst and
 * the receiver's status let back on dst2src (17K), so copies of several
 * files work; with byte-limit 0 back, the sender gives up after its first
 * file, which is why the one-way examples do not pair Filecopy with it.
 */
static void through_run(const char *back, struct copy *c, const char *const *names)
{
	char cfg[400], body[2048], qp[512], tool[512];
	snprintf(cfg, sizeof(cfg), "%s/chains.yaml", tmp);
	snprintf(body, sizeof(body),
		 "filter_path: [\"@B@/filters\"]\n"
		 "chains:\n"
		 "  into-vault:\n"
		 "    filters:\n"
		 "      - name: filecopy-guard\n"
		 "        args: [--no-symlinks, --no-executables, --safe-names, --max-files, \"10\"]\n"
		 "        direction: src2dst\n"
		 "      - name: byte-limit\n"
		 "        args: [\"%s\"]\n"
		 "        direction: dst2src\n", back);
	write_config(cfg, body);
	snprintf(qp, sizeof(qp), "%s/qrexec-proxy", builddir());
	snprintf(tool, sizeof(tool), "%s/t/filecopy-stream", builddir());
	char *argv[] = { qp, "run", "--config", cfg, "into-vault", "--", tool, "receive", dst, NULL };
	copy(argv, names, true, c);
}

START_TEST(chain_lets_the_status_back)
{
	make_file("one", 3000, 1, 0644);
	make_file("two", 3000, 2, 0644);
	make_file("three", 3000, 3, 0644);
	const char *names[] = { "one", "two", "three", NULL };
	struct copy c;
	through_run("17K", &c, names);
	ck_assert_msg(exit_code(c.send_status) == 0, "sender: %s\nrun: %s", c.send_err, c.middle_err);
	ASSERT_CONTAINS(c.send_err, "send: ok files=3");
	/*
	 * Not run's exit status: the sender ends as soon as it has the status,
	 * which may be before run has seen the end of the answer (then it
	 * says result=caller-gone): qfile-agent does the same.
	 */
	ASSERT_CONTAINS(c.middle_err, "filecopy-guard: complete: files=3");
	assert_only(names);
	copy_free(&c);

	/* refused in the chain: the earlier files whole, the sender told */
	rm_rf(dst);
	mkdir(dst, 0755);
	make_file("four.sh", 3000, 4, 0755);
	const char *more[] = { "one", "four.sh", "two", NULL };
	through_run("17K", &c, more);
	ck_assert_int_eq(exit_code(c.send_status), 1);
	/*
	 * The receiver answers EREMOTEIO and exits non-zero (qfile-unpacker
	 * exits with the error's number), which aborts the connection: its
	 * answer reaches the sender only if the proxy moved it first. Either
	 * way the sender fails, and what came before the refused file is whole.
	 */
	ck_assert_msg(strstr(c.send_err, "send: error 121") || strstr(c.send_err, "send: no status"), "%s",
		      c.send_err);
	ASSERT_CONTAINS(c.middle_err, "(--no-executables");
	assert_only((const char *const[]){ "one", NULL });
	copy_free(&c);
}
END_TEST

START_TEST(one_way_breaks_filecopy)
{
	make_file("one", 3000, 1, 0644);
	make_file("two", 3000, 2, 0644);
	const char *names[] = { "one", "two", NULL };
	struct copy c;
	through_run("0", &c, names);
	/* the sender reads the way back after its first file, finds its end, and gives up */
	ck_assert_int_eq(exit_code(c.send_status), 1);
	ASSERT_CONTAINS(c.send_err, "send: no status");
	copy_free(&c);
}
END_TEST

/* ---- malformed streams, fed to the guard directly ---- */

struct fed {
	int status;
	unsigned char *out;
	size_t outlen;
	char *err;
};

/* runs the guard on IN (then EOF), collecting all it writes, within the deadline */
static void feed(const char *const *args, const void *in, size_t inlen, struct fed *f)
{
	char path[512], errfile[400];
	snprintf(path, sizeof(path), "%s/filters/filecopy-guard", builddir());
	snprintf(errfile, sizeof(errfile), "%s/feed.err", tmp);
	char *argv[16] = { path };
	size_t n = 1;
	for (; args && *args && n < 15; args++)
		argv[n++] = (char *)*args;
	argv[n] = NULL;
	int ip[2], op[2];
	ck_assert_int_eq(pipe2(ip, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(op, O_CLOEXEC), 0);
	pid_t pid = start(argv, ip[0], op[1], errfile);
	close(ip[0]);
	close(op[1]);
	signal(SIGPIPE, SIG_IGN);
	fcntl(ip[1], F_SETFL, O_NONBLOCK);
	size_t off = 0;
	int in_fd = ip[1];
	if (!inlen) {
		close(in_fd);
		in_fd = -1;
	}
	f->out = NULL;
	f->outlen = 0;
	int64_t end = now_ms() + wait_ms(0);
	for (int out_fd = op[0]; out_fd >= 0;) {
		struct pollfd p[2] = { { .fd = out_fd, .events = POLLIN }, { .fd = in_fd, .events = POLLOUT } };
		int left = (int)(end - now_ms());
		ck_assert_msg(left > 0 && poll(p, 2, left) > 0, "the guard hangs");
		if (p[1].revents) {
			ssize_t w = write(in_fd, (const char *)in + off, inlen - off);
			if (w > 0)
				off += (size_t)w;
			if (w < 0 && errno != EAGAIN)
				off = inlen;
			if (off == inlen) {
				close(in_fd);
				in_fd = -1;
			}
		}
		if (p[0].revents) {
			char buf[65536];
			ssize_t got = read(out_fd, buf, sizeof(buf));
			if (got <= 0) {
				close(out_fd);
				out_fd = -1;
			} else {
				f->out = realloc(f->out, f->outlen + (size_t)got);
				memcpy(f->out + f->outlen, buf, (size_t)got);
				f->outlen += (size_t)got;
			}
		}
	}
	if (in_fd >= 0)
		close(in_fd);
	f->status = await(pid, end);
	f->err = file_read(errfile);
}

static size_t header(unsigned char *b, uint32_t namelen, uint32_t mode, uint64_t len)
{
	memset(b, 0, 32);
	memcpy(b, &namelen, 4);
	memcpy(b + 4, &mode, 4);
	memcpy(b + 8, &len, 8);
	return 32;
}

/* a good entry "ok" with 5 bytes, then what the test adds */
static size_t good_start(unsigned char *b)
{
	size_t n = header(b, 3, 0100644, 5);
	memcpy(b + n, "ok\0hello", 8);
	return n + 8;
}

static void assert_malformed(const unsigned char *in, size_t len, size_t passed, const char *why)
{
	struct fed f;
	feed(NULL, in, len, &f);
	ck_assert_msg(exit_code(f.status) == 1, "status %d: %s", exit_code(f.status), f.err);
	ASSERT_CONTAINS(f.err, "malformed stream");
	ASSERT_CONTAINS(f.err, why);
	ck_assert_uint_eq(f.outlen, passed);
	ck_assert(passed == 0 || !memcmp(f.out, in, passed));
	free(f.out);
	free(f.err);
}

START_TEST(malformed_streams)
{
	static unsigned char b[40000];
	size_t n;

	/* a name over 16 KiB: ended before its header */
	n = good_start(b);
	n += header(b + n, 20000, 0100644, 1);
	assert_malformed(b, n, 40, "a name of 20000 bytes");

	/* a header cut short */
	n = good_start(b);
	n += header(b + n, 3, 0100644, 1) - 10;
	assert_malformed(b, n, 40, "inside a header (22 of 32 bytes)");

	/* content shorter than filelen: the part that came went on, then the end */
	n = good_start(b);
	n += header(b + n, 3, 0100644, 100);
	memcpy(b + n, "xy\0", 3);
	n += 3;
	memcpy(b + n, "only some", 9);
	n += 9;
	assert_malformed(b, n, n, "inside a file's content (9 of 100 bytes)");

	/* trailing bytes after the end marker: the marker went on, nothing after it */
	n = good_start(b);
	n += header(b + n, 0, 0, 0);
	memcpy(b + n, "junk", 4);
	assert_malformed(b, n + 4, n, "after the end marker");

	/* no end marker */
	n = good_start(b);
	assert_malformed(b, n, n, "without its end marker");

	/* a device, a directory with content, a bad time, a name hiding bytes after its NUL */
	n = good_start(b);
	n += header(b + n, 3, 020644, 0);
	assert_malformed(b, n + 3, 40, "neither file, directory nor link");
	n = good_start(b);
	n += header(b + n, 3, 040755, 7);
	assert_malformed(b, n + 3, 40, "a directory with a length");
	n = good_start(b);
	n += header(b + n, 3, 0100644, 0);
	uint32_t nsec = 1000000000;
	memcpy(b + n - 4, &nsec, 4);
	assert_malformed(b, n + 3, 40, "nanoseconds");
	n = good_start(b);
	n += header(b + n, 4, 0100644, 0);
	memcpy(b + n, "a\0b\0", 4);
	assert_malformed(b, n + 4, 40, "bytes after its NUL");
}
END_TEST

START_TEST(whole_stream_unchanged)
{
	/* a good stream with an end marker: out exactly as in */
	static unsigned char b[200000];
	size_t n = 0;
	uint64_t state = 5;
	for (int i = 0; i < 20; i++) {
		size_t len = (size_t)i * 997;
		n += header(b + n, 6, 0100644, len);
		snprintf((char *)b + n, 6, "f%04d", i);
		n += 6;
		fill_random(&state, b + n, len);
		n += len;
	}
	n += header(b + n, 0, 0, 0);
	struct fed f;
	feed(NULL, b, n, &f);
	ck_assert_msg(exit_code(f.status) == 0, "%s", f.err);
	ck_assert_uint_eq(f.outlen, n);
	ck_assert(!memcmp(f.out, b, n));
	free(f.out);
	free(f.err);
}
END_TEST

START_TEST(check_mode_and_bad_arguments)
{
	static const char *const bad[][4] = {
		{ "--max-files", "many", NULL }, { "--max-bytes", "1X", NULL }, { "--max-depth", "0", NULL },
		{ "--allow-name", "a/b", NULL }, { "--deny-name", "", NULL }, { "--bogus", NULL },
		{ "extra", NULL }, { "--max-file-size", NULL },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fed f;
		feed(bad[i], "0123456789", 10, &f);
		ck_assert_msg(exit_code(f.status) == 100, "%s: %d", bad[i][0], exit_code(f.status));
		ASSERT_CONTAINS(f.err, "usage");
		free(f.out);
		free(f.err);
	}
	/* qrexec-proxy check runs it so: arguments checked, nothing read */
	setenv("QREXEC_PROXY_DIRECTION", "check", 1);
	struct fed f;
	const char *good[] = { "--max-files", "1000", "--deny-name", "*.exe", NULL };
	feed(good, "0123456789", 10, &f);
	ck_assert_msg(exit_code(f.status) == 0, "%s", f.err);
	ck_assert_uint_eq(f.outlen, 0);
	free(f.out);
	free(f.err);
	unsetenv("QREXEC_PROXY_DIRECTION");
}
END_TEST

static Suite *filecopy_suite(void)
{
	Suite *s = suite_create("filecopy-guard");
	TCase *tc = tcase_create("copies");
	tcase_set_timeout(tc, 600);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, tree_passes);
	tcase_add_test(tc, tree_over_max_files);
	tcase_add_test(tc, symlink_refused);
	tcase_add_test(tc, symlink_passes);
	tcase_add_test(tc, symlink_unsafe_refused);
	tcase_add_test(tc, directory_refused);
	tcase_add_test(tc, directory_passes);
	tcase_add_test(tc, depth_refused);
	tcase_add_test(tc, executable_refused);
	tcase_add_test(tc, executable_passes);
	tcase_add_test(tc, special_mode_refused);
	tcase_add_test(tc, big_file_passes);
	tcase_add_test(tc, big_file_refused);
	tcase_add_test(tc, max_bytes_refused);
	tcase_add_test(tc, thousand_files_pass);
	tcase_add_test(tc, thousand_files_refused);
	tcase_add_test(tc, names_refused);
	tcase_add_test(tc, names_rtl_refused);
	tcase_add_test(tc, name_globs);
	tcase_add_test(tc, name_length_refused);
	tcase_add_test(tc, chain_lets_the_status_back);
	tcase_add_test(tc, one_way_breaks_filecopy);
	suite_add_tcase(s, tc);

	tc = tcase_create("streams");
	tcase_set_timeout(tc, 300);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, malformed_streams);
	tcase_add_test(tc, whole_stream_unchanged);
	tcase_add_test(tc, check_mode_and_bad_arguments);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(filecopy_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
