/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Every built-in filter through the proxy: the real `qrexec-proxy serve`
 * on a temporary socket (and `qrexec-proxy run`), real filter processes,
 * the stand-in connector, hashes over every byte in both directions.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "timeout.h"
#include "hash.h"
#include "testutil.h"

/* @T@: the count steps' state directory, made afresh for every test */
static const char config_body[] =
	"connector: [\"@B@/t/fake-connector\", \"{target}\", \"{service}\"]\n"
	"filter_path: [\"@B@/filters\"]\n"
	"chains:\n"
	"  limits:\n"
	"    filters:\n"
	"      - name: byte-limit\n"
	"        args: [\"100000\"]\n"
	"        direction: src2dst\n"
	"      - name: byte-limit\n"
	"        args: [\"65537\"]\n"
	"        direction: dst2src\n"
	"  limit-both:\n"
	"    filters:\n"
	"      - name: byte-limit\n"
	"        args: [\"12345\"]\n"
	"  limit-k:\n"
	"    filters:\n"
	"      - pass\n"
	"      - name: byte-limit\n"
	"        args: [\"3K\"]\n"
	"      - pass\n"
	"  one-way:\n"
	"    filters:\n"
	"      - name: byte-limit\n"
	"        args: [\"0\"]\n"
	"        direction: dst2src\n"
	"  one-way-back:\n"
	"    filters:\n"
	"      - name: byte-limit\n"
	"        args: [\"0\"]\n"
	"        direction: src2dst\n"
	"  timeout1:\n"
	"    filters:\n"
	"      - pass\n"
	"      - name: timeout\n"
	"        args: [\"--seconds\", \"1\"]\n"
	"  idle2:\n"
	"    filters:\n"
	"      - name: timeout\n"
	"        args: [\"--idle\", \"2\"]\n"
	"  count2:\n"
	"    admit:\n"
	"      - name: count\n"
	"        args: [\"--limit\", \"2\", \"--interval\", \"60\", \"--state-dir\", \"@T@\"]\n"
	"    filters: [pass]\n"
	"  count5:\n"
	"    admit:\n"
	"      - name: count\n"
	"        args: [\"--limit\", \"5\", \"--interval\", \"60\", \"--state-dir\", \"@T@\"]\n"
	"    filters: [pass]\n"
	"  count-ps:\n"
	"    admit:\n"
	"      - name: count\n"
	"        args: [\"--limit\", \"1\", \"--interval\", \"60\", \"--per-source\", \"--state-dir\", \"@T@\"]\n"
	"    filters: [pass]\n"
	/* sniff logs every byte: its chains' stderr bounds are raised (bounds.h) */
	"  sniff-text:\n"
	"    filters: [sniff]\n"
	"    log_lines_per_second: 1000000\n"
	"    log_bytes: 1G\n"
	"  sniff-hex:\n"
	"    filters:\n"
	"      - name: sniff\n"
	"        args: [\"--format\", \"hex\"]\n"
	"    log_lines_per_second: 1000000\n"
	"    log_bytes: 1G\n"
	"  streamline:\n"
	"    filters:\n"
	"      - name: streamline\n"
	"        args: [\"--max-read-delay\", \"0.01\", \"--max-write-delay\", \"0.01\", \"--buffer-size\", \"4K\"]\n"
	"  mis-open:\n"
	"    filters:\n"
	"      - pass\n"
	"      - name: \"@B@/t/filter-misbehave\"\n"
	"        args: [open]\n"
	"        direction: src2dst\n"
	"  mis-socket:\n"
	"    filters:\n"
	"      - name: \"@B@/t/filter-misbehave\"\n"
	"        args: [socket]\n"
	"        direction: dst2src\n"
	"  mis-execve:\n"
	"    filters:\n"
	"      - name: \"@B@/t/filter-misbehave\"\n"
	"        args: [execve]\n"
	"  mis-copy:\n"
	"    filters:\n"
	"      - name: \"@B@/t/filter-misbehave\"\n"
	"        args: [copy]\n"
	"  run-chain:\n"
	"    log_lines_per_second: 1000000\n"
	"    log_bytes: 1G\n"
	"    filters:\n"
	"      - sniff\n"
	"      - name: byte-limit\n"
	"        args: [\"1000\"]\n";

static struct daemon d;
static char statedir[256];

static void setup(void)
{
	make_tmpdir(statedir, sizeof(statedir));
	size_t cap = sizeof(config_body) + 16 * sizeof(statedir), o = 0;
	char *body = malloc(cap);
	ck_assert_ptr_nonnull(body);
	for (const char *p = config_body; *p; p++) {
		if (!strncmp(p, "@T@", 3)) {
			o += (size_t)snprintf(body + o, cap - o, "%s", statedir);
			p += 2;
		} else {
			body[o++] = *p;
		}
	}
	body[o] = '\0';
	/*
	 * The daemon's state directory, as systemd's StateDirectory= would
	 * give it: only there may admission checks write. A daemon run as
	 * root runs its sandboxes as nobody, who must be able to write it.
	 */
	struct passwd *pw = getpwnam("nobody");
	if (geteuid() == 0 && pw)
		ck_assert_int_eq(chown(statedir, pw->pw_uid, pw->pw_gid), 0);
	setenv("STATE_DIRECTORY", statedir, 1);
	daemon_start(&d, body, NULL);
	unsetenv("STATE_DIRECTORY");
	free(body);
}

static void teardown(void)
{
	daemon_teardown(&d);
	rm_rf(statedir);
}

/* the connector's "end PID BYTES HASH" line for what reached the destination */
static void assert_dest_got(uint64_t nbytes, uint64_t hash)
{
	char want[128];
	snprintf(want, sizeof(want), " %" PRIu64 " %016" PRIx64 "\n", nbytes, hash);
	if (!file_wait_for(d.connlog, want, 10000)) {
		int err = access(d.connlog, R_OK) ? errno : 0;
		char *s = file_read(d.connlog), *l = file_read(d.log);
		size_t ll = strlen(l);
		ck_abort_msg("the destination did not get %" PRIu64 " bytes with hash %016" PRIx64
			     "; connector log %s (%s):\n%s\ndaemon log (end):\n%s",
			     nbytes, hash, d.connlog, err ? strerror(err) : "readable", s, l + (ll > 3000 ? ll - 3000 : 0));
	}
}

/* the pid of the connector of the one connection started for SERVICE */
static int connector_pid(const char *service)
{
	char want[256];
	snprintf(want, sizeof(want), "start target-vm %s ", service);
	ck_assert(file_wait_for(d.connlog, want, 10000));
	char *log = file_read(d.connlog);
	char *s = strstr(log, want);
	int pid = 0;
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(sscanf(s + strlen(want), "%d", &pid), 1);
	free(log);
	ck_assert_int_gt(pid, 0);
	return pid;
}

static void echo_through(const char *chain, uint64_t nbytes, uint64_t seed)
{
	struct xfer x;
	int fd = call_vm(&d, chain, "target-vm", "test.Echo");
	call_transfer(fd, nbytes, seed, 120000, &x);
	ck_assert_msg(!x.timed_out, "%s: timed out", chain);
	ck_assert_int_eq(x.writer_status, 0);
	ck_assert_uint_eq(x.recv, nbytes);
	ck_assert_msg(x.recv_hash == x.sent_hash, "%s: bytes differ", chain);
}

/* ---- byte-limit ---- */

START_TEST(test_byte_limit_src2dst)
{
	/* 1 MiB sent: the destination gets the first 100000 bytes, its echo is cut to 65537 */
	struct xfer x;
	int fd = call_vm(&d, "limits", "target-vm", "test.Echo");
	call_transfer(fd, 1 << 20, 21, 60000, &x);
	ck_assert(!x.timed_out);
	ck_assert_int_eq(x.writer_status, 0);
	ck_assert_uint_eq(x.recv, 65537);
	ck_assert(x.recv_hash == expected_hash(65537, 21));
	assert_dest_got(100000, expected_hash(100000, 21));
	assert_daemon_log(&d, "chain=limits result=ok");
	assert_daemon_log(&d, "src2dst=1048576 dst2src=65537");
	assert_daemon_log(&d, "filter byte-limit#1 (src2dst): byte-limit: limit of 100000 bytes reached");
	assert_no_children_of(&d);
}
END_TEST

START_TEST(test_byte_limit_dst2src)
{
	/* the destination speaks first, 1000000 bytes: the caller gets exactly the first 65537 */
	struct xfer x;
	int fd = call_vm(&d, "limits", "target-vm", "test.Generate+1000000");
	call_transfer(fd, 5000, 22, 60000, &x);
	ck_assert(!x.timed_out);
	ck_assert_int_eq(x.writer_status, 0);
	ck_assert_uint_eq(x.recv, 65537);
	ck_assert(x.recv_hash == expected_hash(65537, 42));
	/* under the limit the other way: everything passes */
	assert_dest_got(5000, expected_hash(5000, 22));
	assert_daemon_log(&d, "chain=limits result=ok");
	assert_daemon_log(&d, "src2dst=5000 dst2src=65537");
	assert_no_children_of(&d);
}
END_TEST

START_TEST(test_byte_limit_both_and_suffix)
{
	/* one step in both directions: two processes, each with its own count */
	struct xfer x;
	int fd = call_vm(&d, "limit-both", "target-vm", "test.Generate+200000");
	call_transfer(fd, 300000, 23, 60000, &x);
	ck_assert(!x.timed_out);
	ck_assert_int_eq(x.writer_status, 0);
	ck_assert_uint_eq(x.recv, 12345);
	ck_assert(x.recv_hash == expected_hash(12345, 42));
	assert_dest_got(12345, expected_hash(12345, 23));
	assert_daemon_log(&d, "chain=limit-both result=ok");

	/* between two splicing hops, with a K suffix: 3072 each way */
	fd = call_vm(&d, "limit-k", "target-vm", "test.Upper");
	call_transfer(fd, 100000, 24, 60000, &x);
	ck_assert(!x.timed_out);
	ck_assert_int_eq(x.writer_status, 0);
	ck_assert_uint_eq(x.recv, 3072);
	/* the answer is "dst:" and the first 3068 bytes sent */
	uint64_t h = hash_update(HASH_INIT, "dst:", 4);
	static char buf[3068];
	uint64_t seed = 24;
	fill_random(&seed, buf, sizeof(buf));
	h = hash_update(h, buf, sizeof(buf));
	ck_assert(x.recv_hash == h);
	assert_dest_got(3072, expected_hash(3072, 24));
	assert_daemon_log(&d, "chain=limit-k result=ok");

	/* under the limit: every byte, both ways */
	echo_through("limit-both", 12345, 25);
	echo_through("limit-both", 0, 25);
	assert_no_children_of(&d);
}
END_TEST

START_TEST(test_one_way)
{
	/* byte-limit 0 on dst2src: the data reaches the destination, nothing comes back */
	struct xfer x;
	int fd = call_vm(&d, "one-way", "target-vm", "test.Echo");
	call_transfer(fd, 1 << 20, 31, 60000, &x);
	ck_assert(!x.timed_out);
	ck_assert_int_eq(x.writer_status, 0);
	ck_assert_uint_eq(x.recv, 0);
	assert_dest_got(1 << 20, x.sent_hash);
	assert_daemon_log(&d, "chain=one-way result=ok");
	assert_daemon_log(&d, "src2dst=1048576 dst2src=0");
	assert_no_children_of(&d);
}
END_TEST

START_TEST(test_one_way_back)
{
	/* byte-limit 0 on src2dst: the destination gets nothing, the caller all of its answer */
	struct xfer x;
	int fd = call_vm(&d, "one-way-back", "target-vm", "test.Generate+1048576");
	call_transfer(fd, 1 << 20, 32, 60000, &x);
	ck_assert(!x.timed_out);
	ck_assert_int_eq(x.writer_status, 0);
	ck_assert_uint_eq(x.recv, 1 << 20);
	ck_assert(x.recv_hash == expected_hash(1 << 20, 42));
	assert_dest_got(0, HASH_INIT);
	assert_daemon_log(&d, "chain=one-way-back result=ok");
	assert_daemon_log(&d, "src2dst=1048576 dst2src=1048576");
	assert_no_children_of(&d);
}
END_TEST

/* ---- timeout ---- */

/* reads FD until EOF (at most LIMIT_MS); returns the bytes read, -1 when the time ran out */
static long read_to_eof(int fd, int limit_ms)
{
	int64_t end = now_ms() + limit_ms;
	long got = 0;
	char buf[4096];
	for (;;) {
		int64_t left = end - now_ms();
		if (left <= 0)
			return -1;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return got;
		got += n;
	}
}

START_TEST(test_timeout_seconds)
{
	/* the service would answer after 300 s; the chain allows 1 s; the caller keeps its side open */
	int fd = call_vm(&d, "timeout1", "target-vm", "test.Sleep+300");
	int64_t t0 = now_ms();
	ck_assert_int_eq(send(fd, "some data", 9, MSG_NOSIGNAL), 9);
	int cpid = connector_pid("test.Sleep+300");
	long got = read_to_eof(fd, wait_ms(0));
	int64_t took = now_ms() - t0;
	close(fd);
	ck_assert_msg(got == 0, "read %ld bytes, or no EOF within %d ms", got, wait_ms(0));
	ck_assert_int_lt(took, wait_ms(0));
	/* the time allowed is a lower bound too: never before the second is up */
	ck_assert_int_ge(took, 900);
	assert_daemon_log(&d, "chain=timeout1 result=aborted reason=\"filter timeout#2 (");
	assert_daemon_log(&d, ") exited 1");
	assert_daemon_log(&d, "timeout: open longer than 1 s");
	assert_gone(cpid);
	assert_no_children_of(&d);
}
END_TEST

START_TEST(test_timeout_idle)
{
	/* data every 250 ms for 3 s keeps an idle limit of 2 s from firing */
	int fd = call_vm(&d, "idle2", "target-vm", "test.Echo");
	int cpid = connector_pid("test.Echo");
	int64_t t_start = now_ms();
	for (int i = 0; i < 12; i++) {
		char c = (char)('a' + i), r = 0;
		ck_assert_int_eq(send(fd, &c, 1, MSG_NOSIGNAL), 1);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ck_assert_msg(poll(&p, 1, 10000) == 1, "no echo for byte %d", i);
		ck_assert_int_eq(read(fd, &r, 1), 1);
		ck_assert_int_eq(r, c);
		poll(NULL, 0, 250);
	}
	ck_assert_int_ge(now_ms() - t_start, 2500);
	ck_assert(pid_alive(cpid));
	ck_assert_int_eq(file_count(d.log, "no data for"), 0);
	/* then silence: torn down, though the caller never closed */
	int64_t t0 = now_ms();
	long got = read_to_eof(fd, wait_ms(0));
	int64_t took = now_ms() - t0;
	close(fd);
	ck_assert_msg(got == 0, "read %ld bytes, or no EOF within %d ms", got, wait_ms(0));
	ck_assert_int_lt(took, wait_ms(0));
	ck_assert_int_ge(took, 1500);
	assert_daemon_log(&d, "chain=idle2 result=aborted reason=\"filter timeout#1 (");
	assert_daemon_log(&d, "timeout: no data for 2 s");
	assert_gone(cpid);
	assert_no_children_of(&d);
}
END_TEST

/* ---- count ---- */

START_TEST(test_count_limit)
{
	echo_through("count2", 1000, 41);
	echo_through("count2", 1000, 42);
	ck_assert_int_eq(file_wait_count(d.connlog, "start", 2, 5000), 2);
	assert_refused(call_vm(&d, "count2", "target-vm", "test.Echo"));
	assert_daemon_log(&d, "chain=count2 result=refused reason=\"refused by admit count (exited 1)\"");
	/* the destination was never started for the third */
	poll(NULL, 0, 200);
	ck_assert_int_eq(file_count(d.connlog, "start"), 2);
	/* each summary comes once its connection has wholly ended, which under load may be after the third's refusal */
	ck_assert_int_eq(file_wait_count(d.log, "chain=count2 result=ok", 2, 5000), 2);
	/* another chain counts apart */
	echo_through("count5", 1000, 43);
	ck_assert_int_eq(file_wait_count(d.connlog, "start", 3, 5000), 3);
	assert_refused(call_vm(&d, "count2", "target-vm", "test.Echo"));
	ck_assert_int_eq(file_wait_count(d.log, "chain=count2 result=refused", 2, 5000), 2);
	ck_assert_int_eq(file_count(d.connlog, "start"), 3);
	assert_no_children_of(&d);
}
END_TEST

START_TEST(test_count_concurrent)
{
	enum { N = 20 };
	pid_t kids[N];
	for (int i = 0; i < N; i++) {
		kids[i] = fork();
		ck_assert_int_ge(kids[i], 0);
		if (kids[i] == 0) {
			struct xfer x;
			int fd = call_vm(&d, "count5", "target-vm", "test.Echo");
			call_transfer(fd, 10000, (uint64_t)i + 100, 60000, &x);
			if (!x.timed_out && x.recv == x.sent && x.recv_hash == x.sent_hash)
				_exit(0);
			_exit(!x.timed_out && x.recv == 0 ? 1 : 2);
		}
	}
	int ok = 0, refused = 0, other = 0;
	for (int i = 0; i < N; i++) {
		int st;
		ck_assert_int_eq(waitpid(kids[i], &st, 0), kids[i]);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			ok++;
		else if (WIFEXITED(st) && WEXITSTATUS(st) == 1)
			refused++;
		else
			other++;
	}
	ck_assert_int_eq(other, 0);
	ck_assert_int_eq(ok, 5);
	ck_assert_int_eq(refused, 15);
	ck_assert_int_eq(file_wait_count(d.log, "chain=count5 result=", N, 10000), N);
	ck_assert_int_eq(file_count(d.log, "chain=count5 result=ok"), 5);
	ck_assert_int_eq(file_count(d.log, "chain=count5 result=refused"), 15);
	ck_assert_int_eq(file_count(d.connlog, "start"), 5);
	ck_assert_int_eq(file_count(d.connlog, "end"), 5);
	assert_no_children_of(&d);
}
END_TEST

static void echo_from(const char *source, bool admitted)
{
	char desc[256];
	snprintf(desc, sizeof(desc), "qrexec-proxy+count-ps+target-vm+test.Echo %s", source);
	int fd = call_open(&d, desc);
	if (!admitted) {
		assert_refused(fd);
		return;
	}
	struct xfer x;
	call_transfer(fd, 5000, 51, 60000, &x);
	ck_assert(!x.timed_out);
	ck_assert_uint_eq(x.recv, 5000);
	ck_assert(x.recv_hash == x.sent_hash);
}

START_TEST(test_count_per_source)
{
	echo_from("alice", true);
	echo_from("alice", false);
	echo_from("bob", true);
	echo_from("bob", false);
	echo_from("alice", false);
	echo_from("carol", true);
	ck_assert_int_eq(file_wait_count(d.log, "chain=count-ps result=", 6, 10000), 6);
	ck_assert_int_eq(file_count(d.log, "source=alice target=target-vm service=test.Echo chain=count-ps result=ok"), 1);
	ck_assert_int_eq(file_count(d.log, "source=alice target=target-vm service=test.Echo chain=count-ps result=refused"), 2);
	ck_assert_int_eq(file_count(d.log, "source=bob target=target-vm service=test.Echo chain=count-ps result=refused"), 1);
	ck_assert_int_eq(file_count(d.connlog, "start"), 3);
	assert_no_children_of(&d);
}
END_TEST

/* ---- sniff ---- */

/* the sniff lines of DIR in the daemon's log, in order */
static char **sniff_lines(const char *dir, int *count)
{
	char prefix[128];
	snprintf(prefix, sizeof(prefix), ": filter sniff#1 (%s): sniff: %s source=", dir, dir);
	char *s = file_read(d.log);
	char **lines = NULL;
	int n = 0;
	char *save = NULL;
	for (char *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strstr(line, prefix))
			continue;
		lines = realloc(lines, sizeof(*lines) * (size_t)(n + 1));
		lines[n++] = strdup(line);
	}
	free(s);
	*count = n;
	return lines;
}

static void free_lines(char **lines, int n)
{
	for (int i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1; /* upper case is not what the man page promises */
}

/* unescapes sniff's text="..." (see qrexec-proxy-filter-sniff(1)); returns the byte count or -1 */
static long unescape_text(const char *p, unsigned char *out, size_t room)
{
	size_t o = 0;
	if (*p++ != '"')
		return -1;
	while (*p && *p != '"') {
		unsigned char c = (unsigned char)*p++;
		if (c < 0x20 || c >= 0x7f || c == '<')
			return -1; /* never raw */
		if (c == '\\') {
			char e = *p++;
			switch (e) {
			case '\\': c = '\\'; break;
			case '"': c = '"'; break;
			case 'a': c = '\a'; break;
			case 'b': c = '\b'; break;
			case 't': c = '\t'; break;
			case 'n': c = '\n'; break;
			case 'v': c = '\v'; break;
			case 'f': c = '\f'; break;
			case 'r': c = '\r'; break;
			case 'x': {
				int h = hexval(p[0]), l = h >= 0 ? hexval(p[1]) : -1;
				if (h < 0 || l < 0)
					return -1;
				c = (unsigned char)(h << 4 | l);
				p += 2;
				break;
			}
			default:
				return -1;
			}
		}
		if (o >= room)
			return -1;
		out[o++] = c;
	}
	if (*p != '"' || p[1])
		return -1;
	return (long)o;
}

/*
 * Rebuilds DIR's stream from the sniff lines of the daemon's log: every
 * byte must be covered once, in order, and the last line must say
 * "end offset=LEN". Returns the stream's length.
 */
static size_t sniff_rebuild(const char *dir, const char *format, unsigned char *out, size_t room)
{
	int n;
	char **lines = sniff_lines(dir, &n);
	char fmt_key[32];
	snprintf(fmt_key, sizeof(fmt_key), " %s=", format);
	size_t next = 0;
	bool ended = false;
	ck_assert_int_gt(n, 0);
	for (int i = 0; i < n; i++) {
		char *l = lines[i];
		ck_assert_msg(!ended, "a line after the end: %s", l);
		ck_assert_msg(strstr(l, " target=target-vm chain=") && strstr(l, " conn="), "no header: %s", l);
		char *e = strstr(l, " end offset=");
		if (e) {
			unsigned long long total;
			ck_assert_int_eq(sscanf(e, " end offset=%llu", &total), 1);
			ck_assert_uint_eq(total, next);
			ended = true;
			continue;
		}
		char *o = strstr(l, " offset=");
		ck_assert_ptr_nonnull(o);
		unsigned long long off;
		size_t len;
		ck_assert_msg(sscanf(o, " offset=%llu length=%zu", &off, &len) == 2, "bad line: %s", l);
		ck_assert_msg(off == next, "offset %llu, expected %zu: %s", off, next, l);
		ck_assert_uint_le(off + len, room);
		char *data = strstr(o, fmt_key);
		ck_assert_msg(data, "no %s data: %s", format, l);
		data += strlen(fmt_key);
		if (!strcmp(format, "hex")) {
			ck_assert_uint_eq(strlen(data), 2 * len);
			for (size_t k = 0; k < len; k++) {
				int h = hexval(data[2 * k]), lo = hexval(data[2 * k + 1]);
				ck_assert_msg(h >= 0 && lo >= 0, "bad hex: %s", l);
				out[next + k] = (unsigned char)(h << 4 | lo);
			}
		} else {
			long got = unescape_text(data, out + next, room - next);
			ck_assert_msg(got == (long)len, "bad text (%ld of %zu bytes): %s", got, len, l);
		}
		next += len;
	}
	ck_assert_msg(ended, "no end line for %s", dir);
	free_lines(lines, n);
	return next;
}

static void sniff_256(const char *chain, const char *format)
{
	unsigned char all[256], back[300], seen[300];
	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	int fd = call_vm(&d, chain, "target-vm", "test.Upper");
	ck_assert_int_eq(send(fd, all, sizeof(all), MSG_NOSIGNAL), (ssize_t)sizeof(all));
	shutdown(fd, SHUT_WR);
	size_t got = 0;
	ssize_t n;
	while ((n = read(fd, back + got, sizeof(back) - got)) > 0)
		got += (size_t)n;
	close(fd);
	/* unchanged on the wire */
	ck_assert_uint_eq(got, 4 + 256);
	ck_assert(!memcmp(back, "dst:", 4));
	ck_assert(!memcmp(back + 4, all, 256));
	char done[64];
	snprintf(done, sizeof(done), "chain=%s result=ok", chain);
	assert_daemon_log(&d, done);
	/* and in the log, byte for byte, each direction apart */
	ck_assert_uint_eq(sniff_rebuild("src2dst", format, seen, sizeof(seen)), 256);
	ck_assert(!memcmp(seen, all, 256));
	ck_assert_uint_eq(sniff_rebuild("dst2src", format, seen, sizeof(seen)), 260);
	ck_assert(!memcmp(seen, back, 260));
}

START_TEST(test_sniff_hex)
{
	sniff_256("sniff-hex", "hex");
	assert_daemon_log(&d, "sniff: src2dst source=source-vm target=target-vm chain=sniff-hex service=test.Upper conn=");
	assert_no_children_of(&d);
}
END_TEST

START_TEST(test_sniff_text)
{
	sniff_256("sniff-text", "text");
	assert_no_children_of(&d);
}
END_TEST

START_TEST(test_sniff_bulk)
{
	/* 1 MiB of binary data both ways through the logging filter: not one byte changed */
	struct xfer x;
	int fd = call_vm(&d, "sniff-hex", "target-vm", "test.Echo");
	call_transfer(fd, 1 << 20, 61, 120000, &x);
	ck_assert(!x.timed_out);
	ck_assert_int_eq(x.writer_status, 0);
	ck_assert_uint_eq(x.recv, 1 << 20);
	ck_assert(x.recv_hash == x.sent_hash);
	assert_dest_got(1 << 20, x.sent_hash);
	assert_daemon_log(&d, "chain=sniff-hex result=ok");
	assert_daemon_log(&d, "filter sniff#1 (src2dst): sniff: src2dst source=source-vm");
	assert_daemon_log(&d, "filter sniff#1 (dst2src): sniff: dst2src source=source-vm");
	/* the whole stream, rebuilt from the log, hashes the same */
	unsigned char *seen = malloc((1 << 20) + 1);
	ck_assert_ptr_nonnull(seen);
	ck_assert_uint_eq(sniff_rebuild("src2dst", "hex", seen, (1 << 20) + 1), 1 << 20);
	ck_assert(hash_update(HASH_INIT, seen, 1 << 20) == x.sent_hash);
	ck_assert_uint_eq(sniff_rebuild("dst2src", "hex", seen, (1 << 20) + 1), 1 << 20);
	ck_assert(hash_update(HASH_INIT, seen, 1 << 20) == x.sent_hash);
	free(seen);
	assert_no_children_of(&d);
}
END_TEST

/* ---- streamline ---- */

START_TEST(test_streamline)
{
	struct xfer x;
	int fd = call_vm(&d, "streamline", "target-vm", "test.Echo");
	call_transfer(fd, 1 << 20, 71, 120000, &x);
	ck_assert(!x.timed_out);
	ck_assert_int_eq(x.writer_status, 0);
	ck_assert_uint_eq(x.recv, 1 << 20);
	ck_assert(x.recv_hash == x.sent_hash);
	assert_dest_got(1 << 20, x.sent_hash);
	assert_daemon_log(&d, "chain=streamline result=ok");
	/* a last partial buffer, and nothing at all */
	echo_through("streamline", 4096 * 3 + 1, 72);
	echo_through("streamline", 1, 73);
	echo_through("streamline", 0, 74);
	ck_assert_int_eq(file_wait_count(d.log, "chain=streamline result=ok", 4, 5000), 4);
	assert_no_children_of(&d);
}
END_TEST

/* ---- seccomp kills through the proxy ---- */

/* whether TEXT has a line containing both A and B */
static bool has_line(const char *text, const char *a, const char *b)
{
	for (const char *l = text; l && *l;) {
		const char *end = strchr(l, '\n');
		size_t len = end ? (size_t)(end - l) : strlen(l);
		char *line = strndup(l, len);
		bool found = strstr(line, a) && strstr(line, b);
		free(line);
		if (found)
			return true;
		l = end ? end + 1 : NULL;
	}
	return false;
}


static void misbehave(const char *chain, const char *step)
{
	struct xfer x;
	int fd = call_vm(&d, chain, "target-vm", "test.Echo");
	int64_t t0 = now_ms();
	call_transfer(fd, 4 << 20, 81, 30000, &x);
	ck_assert_msg(!x.timed_out, "%s: the connection was not torn down", chain);
	ck_assert_int_lt(now_ms() - t0, wait_ms(20000));
	ck_assert_uint_lt(x.recv, 4 << 20);
	char want[256];
	/* a filter named by its path is tagged with it */
	snprintf(want, sizeof(want), "chain=%s result=aborted reason=\"filter %s/t/filter-misbehave#%s", chain,
		 builddir(), step);
	assert_daemon_log(&d, want);
	char *dlog = file_read(d.log);
	ck_assert_msg(has_line(dlog, want, ") killed by signal 31"), "not killed by SIGSYS:\n%s", dlog);
	free(dlog);
	/* the connector, if it was started at all, is gone */
	char *log = file_read(d.connlog);
	char *st = strstr(log, "start target-vm test.Echo ");
	int cpid = 0;
	if (st)
		ck_assert_int_eq(sscanf(st, "start target-vm test.Echo %d", &cpid), 1);
	free(log);
	if (cpid)
		assert_gone(cpid);
	assert_no_children_of(&d);
}

START_TEST(test_seccomp_kill)
{
	/* the helper itself passes data when it keeps to what the lock-down allows */
	echo_through("mis-copy", 1 << 20, 80);
	assert_daemon_log(&d, "chain=mis-copy result=ok");
	unlink(d.connlog);
	misbehave("mis-open", "2 (src2dst)");
	unlink(d.connlog);
	misbehave("mis-socket", "1 (dst2src)");
	unlink(d.connlog);
	misbehave("mis-execve", "1 (");
	ck_assert_int_eq(file_count(d.log, "result=aborted"), 3);
	/* and the daemon goes on */
	echo_through("mis-copy", 1000, 82);
}
END_TEST

/* ---- qrexec-proxy run ---- */

START_TEST(test_run_mode)
{
	struct proxy_run r;
	/* 1 MiB in: cat gets 1000 bytes and echoes them, 1000 come out */
	const char *cat[] = { "run", "--config", d.config, "--source", "alice", "run-chain", "--", "cat", NULL };
	proxy_run(cat, NULL, 1 << 20, 91, &r);
	ck_assert_msg(proxy_run_exit(&r) == 0, "status 0x%x: %s", r.status, r.err);
	ck_assert_uint_eq(r.out_len, 1000);
	ck_assert(r.out_hash == expected_hash(1000, 91));
	ck_assert_ptr_nonnull(strstr(r.err, "chain=run-chain result=ok"));
	ck_assert_ptr_nonnull(strstr(r.err, "filter sniff#1 (src2dst): sniff: src2dst source=alice "));
	ck_assert_ptr_nonnull(strstr(r.err, "filter sniff#1 (dst2src): sniff: dst2src source=alice "));
	ck_assert_ptr_nonnull(strstr(r.err, "src2dst=1048576 dst2src=1000"));
	/*
	 * sniff is next to the source: it saw all that was sent (byte-limit
	 * reads and drops what is past its limit) and the 1000 bytes of answer
	 */
	ck_assert(has_line(r.err, "sniff: src2dst source=alice target=local chain=run-chain service=local conn=",
			   " end offset=1048576"));
	ck_assert(has_line(r.err, "sniff: dst2src source=alice target=local chain=run-chain service=local conn=",
			   " end offset=1000"));
	proxy_run_free(&r);

	/* under the limit: all of it */
	proxy_run(cat, NULL, 999, 92, &r);
	ck_assert_int_eq(proxy_run_exit(&r), 0);
	ck_assert_uint_eq(r.out_len, 999);
	ck_assert(r.out_hash == expected_hash(999, 92));
	proxy_run_free(&r);

	/* the command's exit code is passed on */
	const char *seven[] = { "run", "--config", d.config, "run-chain", "--", "sh", "-c", "cat >/dev/null; exit 7", NULL };
	proxy_run(seven, NULL, 1 << 20, 93, &r);
	ck_assert_msg(proxy_run_exit(&r) == 7, "status 0x%x: %s", r.status, r.err);
	ck_assert_uint_eq(r.out_len, 0);
	proxy_run_free(&r);
	char conn[512];
	snprintf(conn, sizeof(conn), "%s/t/fake-connector", builddir());
	const char *five[] = { "run", "--config", d.config, "run-chain", "--", conn, "x", "test.Exit+5", NULL };
	proxy_run(five, NULL, 5000, 94, &r);
	ck_assert_msg(proxy_run_exit(&r) == 5, "status 0x%x: %s", r.status, r.err);
	proxy_run_free(&r);

	/* a filter killed by its lock-down: the run fails, not 0 */
	const char *mis[] = { "run", "--config", d.config, "mis-open", "--", "cat", NULL };
	proxy_run(mis, NULL, 1 << 20, 95, &r);
	ck_assert_msg(proxy_run_exit(&r) != 0, "status 0x%x: %s", r.status, r.err);
	ck_assert_ptr_nonnull(strstr(r.err, "killed by signal 31"));
	ck_assert_ptr_nonnull(strstr(r.err, "result=aborted"));
	proxy_run_free(&r);
}
END_TEST

static Suite *chains_suite(void)
{
	Suite *s = suite_create("chains");
	TCase *tc = tcase_create("chains");
	tcase_set_timeout(tc, test_timeout(300));
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_byte_limit_src2dst);
	tcase_add_test(tc, test_byte_limit_dst2src);
	tcase_add_test(tc, test_byte_limit_both_and_suffix);
	tcase_add_test(tc, test_one_way);
	tcase_add_test(tc, test_one_way_back);
	tcase_add_test(tc, test_timeout_seconds);
	tcase_add_test(tc, test_timeout_idle);
	tcase_add_test(tc, test_count_limit);
	tcase_add_test(tc, test_count_concurrent);
	tcase_add_test(tc, test_count_per_source);
	tcase_add_test(tc, test_sniff_hex);
	tcase_add_test(tc, test_sniff_text);
	tcase_add_test(tc, test_sniff_bulk);
	tcase_add_test(tc, test_streamline);
	tcase_add_test(tc, test_seccomp_kill);
	tcase_add_test(tc, test_run_mode);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(chains_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
