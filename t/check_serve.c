/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qrexec-proxy serve, end to end: the real daemon on a temporary socket,
 * real filters, a stand-in for qrexec-client-vm, hashes over every byte.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "timeout.h"
#include "hash.h"
#include "spare.h"
#include "testutil.h"

static const char config_body[] =
	"connector: [\"@B@/t/fake-connector\", \"{target}\", \"{service}\"]\n"
	"filter_path: [\"@B@/filters\"]\n"
	"chains:\n"
	"  direct:\n"
	"    filters: []\n"
	"  pass1:\n"
	"    filters: [pass]\n"
	"  pass3:\n"
	"    filters: [pass, pass, pass]\n"
	"  answer-prefix:\n"
	"    filters:\n"
	"      - name: \"@B@/t/test-filter\"\n"
	"        args: [prefix, \"d2s:\"]\n"
	"        direction: dst2src\n"
	"  crash:\n"
	"    filters:\n"
	"      - pass\n"
	"      - name: \"@B@/t/test-filter\"\n"
	"        args: [crash-after, \"100000\"]\n"
	"        direction: src2dst\n"
	"  env:\n"
	"    filters:\n"
	"      - name: \"@B@/t/test-filter\"\n"
	"        args: [env]\n"
	"        direction: src2dst\n"
	"  net:\n"
	"    filters:\n"
	"      - name: \"@B@/t/test-filter\"\n"
	"        args: [try-socket]\n"
	"  early-exit:\n"
	"    filters:\n"
	"      - name: \"@B@/t/test-filter\"\n"
	"        args: [exit-after, \"10\", \"0\"]\n"
	"        direction: src2dst\n"
	"  admit-no:\n"
	"    admit: [/bin/false]\n"
	"    filters: [pass]\n"
	"  admit-slow:\n"
	"    admit:\n"
	"      - name: \"@B@/t/test-filter\"\n"
	"        args: [hang]\n"
	"    filters: [pass]\n"
	"  admit-yes:\n"
	"    admit: [/bin/true, /bin/true]\n"
	"    filters: [pass]\n"
	"  fenced:\n"
	"    sources: [source-vm]\n"
	"    targets: [target-vm]\n"
	"    services: [test.Echo+, test.Up*]\n"
	"    admit:\n"
	"      - name: \"@B@/t/test-filter\"\n"
	"        args: [env]\n"
	"    filters: [pass]\n"
	"  setsid:\n"
	"    filters:\n"
	"      - name: \"@B@/t/test-filter\"\n"
	"        args: [setsid-first]\n"
	"      - pass\n"
	"  upper:\n"
	"    filters:\n"
	"      - name: \"@B@/doc/examples/uppercase\"\n"
	"        direction: dst2src\n";

static struct daemon d;

static void setup(void)
{
	static const char *const extra[] = { "--descriptor-timeout", "1", "--admit-timeout", "1", NULL };
	daemon_start(&d, config_body, extra);
}

static void teardown(void)
{
	daemon_teardown(&d);
}

static void echo_through(const char *chain, uint64_t nbytes)
{
	struct xfer x;
	int fd = call_vm(&d, chain, "target-vm", "test.Echo");
	call_transfer(fd, nbytes, 7, 60000, &x);
	ck_assert_msg(!x.timed_out, "%s: timed out", chain);
	ck_assert_int_eq(x.writer_status, 0);
	ck_assert_uint_eq(x.recv, nbytes);
	ck_assert_msg(x.recv_hash == x.sent_hash, "%s: bytes differ", chain);
}

START_TEST(test_echo_0_1_3)
{
	echo_through("direct", 1 << 20);
	echo_through("pass1", 1 << 20);
	echo_through("pass3", 1 << 20);
	echo_through("pass3", 0);
	echo_through("pass1", 1);
	ck_assert(file_wait_for(d.log, "chain=pass3 result=ok", 5000));
	ck_assert_int_eq(file_wait_count(d.log, "result=ok", 5, 5000), 5);
	/* the connector's stderr is logged, never sent to the caller */
	ck_assert(file_wait_for(d.log, "connector: fake-connector: calling test.Echo in target-vm", 5000));
	assert_no_children_of(&d);
}
END_TEST

START_TEST(test_example_filter_changes_the_answer)
{
	/* the kit's example filter, one way only: the question reaches the service as it is, the answer in capitals */
	static const char question[] = "Hello, qrexec-proxy 0-9 \xc3\xa9t\xc3\xa9 ~z\n";
	int fd = call_vm(&d, "upper", "target-vm", "test.Echo");
	ck_assert_int_eq(write(fd, question, sizeof(question) - 1), (ssize_t)(sizeof(question) - 1));
	ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
	char got[256];
	size_t have = 0;
	ssize_t n;
	while ((n = read(fd, got + have, sizeof(got) - 1 - have)) > 0)
		have += (size_t)n;
	close(fd);
	got[have] = '\0';
	ck_assert_str_eq(got, "HELLO, QREXEC-PROXY 0-9 \xc3\xa9T\xc3\xa9 ~Z\n");
	char want[128];
	snprintf(want, sizeof(want), " %zu %016" PRIx64, sizeof(question) - 1,
		 hash_update(HASH_INIT, question, sizeof(question) - 1));
	ck_assert(file_wait_for(d.connlog, want, 5000));
	ck_assert(file_wait_for(d.log, "chain=upper result=ok", 5000));
}
END_TEST

START_TEST(test_spare_supervisor)
{
	/* one spare waits, forked ahead; it takes the next call and another takes its place */
	pid_t spare = 0;
	for (int64_t end = now_ms() + wait_ms(0); !(spare = daemon_spare(&d)) && now_ms() < end;)
		poll(NULL, 0, 20);
	ck_assert_int_gt(spare, 0);
	echo_through("pass3", 100000);
	ck_assert(file_wait_for(d.log, "chain=pass3 result=ok", 5000));
	pid_t next = 0;
	for (int64_t end = now_ms() + wait_ms(0); ((next = daemon_spare(&d)) == 0 || next == spare) && now_ms() < end;)
		poll(NULL, 0, 20);
	ck_assert_int_gt(next, 0);
	ck_assert_int_ne(next, spare);
	/* a spare that dies (killed, out of memory) costs nothing: the next call is served all the same */
	ck_assert_int_eq(kill(next, SIGKILL), 0);
	assert_gone(next);
	echo_through("pass1", 100000);
	echo_through("pass3", 100000);
	ck_assert_int_eq(file_wait_count(d.log, "result=ok", 3, 5000), 3);
	ck_assert_int_eq(file_count(d.log, "result=failed"), 0);
	/* and once calls stop, a spare waits again */
	pid_t again = 0;
	for (int64_t end = now_ms() + wait_ms(0); !(again = daemon_spare(&d)) && now_ms() < end;)
		poll(NULL, 0, 20);
	ck_assert_int_gt(again, 0);
	assert_no_children_of(&d);
}
END_TEST

START_TEST(test_spare_takes_its_call_itself)
{
	/*
	 * The spare accepts its connection itself, and one that comes alone
	 * is admitted before it asks: nothing on the call's path waits for
	 * the listener. Stopped, it serves the call all the same.
	 */
	ck_assert_int_gt(daemon_wait_spare(&d), 0);
	ck_assert_int_eq(kill(d.pid, SIGSTOP), 0);
	struct xfer x;
	int fd = call_vm(&d, "pass3", "target-vm", "test.Echo");
	call_transfer(fd, 100000, 5, 60000, &x);
	ck_assert_int_eq(kill(d.pid, SIGCONT), 0);
	ck_assert_msg(!x.timed_out, "the call waited for the listener");
	ck_assert_uint_eq(x.recv, 100000);
	ck_assert_msg(x.recv_hash == x.sent_hash, "bytes differ");
	/* and the book has it all the same: its one summary, and the next spare */
	ck_assert(file_wait_for(d.log, "chain=pass3 result=ok", 5000));
	ck_assert_int_eq(file_count(d.log, "result="), 1);
	ck_assert_int_gt(daemon_wait_spare(&d), 0);
	echo_through("pass1", 1000);
	ck_assert_int_eq(file_wait_count(d.log, "result=ok", 2, 5000), 2);
	assert_no_children_of(&d);
}
END_TEST

START_TEST(test_spare_took_survives_a_reset)
{
	/*
	 * The listener tells the spare the book is empty just as the spare
	 * takes a connection: the spare closes its end with that message
	 * unread, which resets the socket. What it said before, that it took
	 * the connection, must still reach the book (or its call would wait
	 * for a slot forever).
	 */
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	struct spare s = { .pid = 4242, .ctl = sv[0], .chan = -1 };
	struct spare_msg m = { .type = SPARE_TOOK, .alone = 0, .start_ns = 42 };
	snprintf(m.id, sizeof(m.id), "0123456789abcdef");
	ck_assert_int_eq(send(sv[1], &m, sizeof(m), 0), (ssize_t)sizeof(m));
	spare_tell_alone(&s);
	close(sv[1]);
	struct spare_took t;
	ck_assert_int_eq(spare_read(&s, &t), 1);
	ck_assert_str_eq(t.id, "0123456789abcdef");
	ck_assert_int_eq(t.pid, 4242);
	ck_assert_int_eq(t.start_ns, 42);
	ck_assert_int_eq(s.pid, -1);
	ck_assert_int_eq(s.ctl, -1);
}
END_TEST

START_TEST(test_64mib_each_way)
{
	const uint64_t n = 64ULL << 20;
	struct xfer x;
	int fd = call_vm(&d, "pass3", "target-vm", "test.Echo");
	call_transfer(fd, n, 99, 120000, &x);
	ck_assert(!x.timed_out);
	ck_assert_uint_eq(x.recv, n);
	ck_assert(x.recv_hash == x.sent_hash);
	/* what reached the destination, hashed by the connector itself */
	char want[128];
	snprintf(want, sizeof(want), " %" PRIu64 " %016" PRIx64, n, x.sent_hash);
	ck_assert(file_wait_for(d.connlog, want, 5000));
	ck_assert(file_wait_for(d.log, "src2dst=67108864 dst2src=67108864", 5000));
}
END_TEST

START_TEST(test_half_close)
{
	/* the service answers only after the caller's EOF has reached it */
	const uint64_t n = 5 << 20;
	int fd = call_vm(&d, "pass3", "target-vm", "test.Hash");
	struct xfer x;
	uint64_t h = expected_hash(n, 3);
	char want[64];
	int len = snprintf(want, sizeof(want), "%" PRIu64 " %016" PRIx64 "\n", n, h);
	call_transfer(fd, n, 3, 60000, &x);
	ck_assert(!x.timed_out);
	ck_assert_uint_eq(x.recv, (uint64_t)len);
	ck_assert(x.recv_hash == hash_update(HASH_INIT, want, (size_t)len));
}
END_TEST

START_TEST(test_dst2src_only)
{
	int fd = call_vm(&d, "answer-prefix", "target-vm", "test.Echo");
	ck_assert_int_eq(send(fd, "hello", 5, 0), 5);
	shutdown(fd, SHUT_WR);
	char buf[64];
	size_t got = 0;
	ssize_t n;
	while ((n = read(fd, buf + got, sizeof(buf) - got)) > 0)
		got += (size_t)n;
	close(fd);
	ck_assert_uint_eq(got, 9);
	ck_assert(!memcmp(buf, "d2s:hello", 9));
	/* the request went through untouched */
	char want[64];
	snprintf(want, sizeof(want), " 5 %016" PRIx64, hash_update(HASH_INIT, "hello", 5));
	ck_assert(file_wait_for(d.connlog, want, 5000));
}
END_TEST

START_TEST(test_refusals_keep_daemon)
{
	assert_refused(call_vm(&d, "no-such-chain", "target-vm", "test.Echo"));
	ck_assert(file_wait_for(d.log, "chain=no-such-chain result=refused reason=\"no chain 'no-such-chain' in the configuration\"", 5000));
	assert_refused(call_open(&d, "qrexec-proxy+pass1+bad/target+test.Echo source-vm"));
	assert_refused(call_open(&d, "qrexec-proxy source-vm"));
	assert_refused(call_open(&d, "garbage"));
	ck_assert(file_wait_for(d.log, "result=refused reason=\"malformed argument: bad target name\"", 5000));
	ck_assert(file_wait_for(d.log, "source=- target=- service=- chain=- result=refused reason=\"malformed service descriptor: ", 5000));
	/* never ends: no NUL, connection kept open */
	int fd = call_open(&d, NULL);
	ck_assert_int_eq(send(fd, "qrexec-proxy+pass1", 18, 0), 18);
	assert_refused(fd);
	ck_assert(file_wait_for(d.log, "did not arrive in time", 5000));
	/* closed before the NUL */
	fd = call_open(&d, NULL);
	ck_assert_int_eq(send(fd, "qrexec", 6, 0), 6);
	close(fd);
	ck_assert(file_wait_for(d.log, "closed the connection before the end", 5000));
	/* the connector was never started for any of these */
	ck_assert_int_eq(file_count(d.connlog, "start"), 0);
	echo_through("pass1", 100000);
	assert_no_children_of(&d);
}
END_TEST

START_TEST(test_filter_crash_tears_down)
{
	struct xfer x;
	int fd = call_vm(&d, "crash", "target-vm", "test.Echo");
	call_transfer(fd, 4 << 20, 5, 30000, &x);
	ck_assert_msg(!x.timed_out, "the connection was not torn down");
	ck_assert_uint_lt(x.recv, 4 << 20);
	ck_assert(file_wait_for(d.log, "result=aborted reason=\"filter ", 5000));
	ck_assert(file_wait_for(d.log, "test-filter#2 (src2dst) killed by signal 6", 5000));
	ck_assert(file_wait_for(d.log, "crashing on purpose", 5000));
	/*
	 * The connector, started and then killed, is gone. It records its
	 * start only once it runs: the crash may have ended the connection
	 * before it got there, and then it never ran at all.
	 */
	char *log = file_read(d.connlog);
	int pid = 0;
	char *s = strstr(log, "start target-vm test.Echo ");
	if (s) {
		sscanf(s, "start target-vm test.Echo %d", &pid);
		ck_assert_int_gt(pid, 0);
		ck_assert_msg(wait_gone(pid, 0), "the connector %d outlived the connection", pid);
	}
	free(log);
	assert_no_children_of(&d);
	echo_through("pass1", 100000);
}
END_TEST

/* the pid of a process named NAME (argv[0]) among the children of PPID */
static pid_t child_named(pid_t ppid, const char *name)
{
	pid_t kids[64];
	int n = children_of(ppid, kids, 64);
	for (int i = 0; i < n; i++) {
		char path[64], argv0[256] = "";
		snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)kids[i]);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		size_t len = fread(argv0, 1, sizeof(argv0) - 1, f);
		fclose(f);
		argv0[len] = '\0';
		if (!strcmp(argv0, name))
			return kids[i];
	}
	return 0;
}

START_TEST(test_filter_killed_mid_stream)
{
	/* the service answers only after 60 s: the pipeline is alive meanwhile */
	int fd = call_vm(&d, "pass3", "target-vm", "test.Sleep+60");
	ck_assert_int_eq(send(fd, "some data", 9, 0), 9);
	ck_assert(file_wait_for(d.connlog, "start target-vm test.Sleep+60", 10000));
	/* the filters run in the connection's sandbox: children of its init, a child of the supervisor */
	pid_t sup = 0, victim = 0;
	for (int64_t end = now_ms() + wait_ms(0); !victim && now_ms() < end;) {
		pid_t kids[4], inits[4];
		if (children_of(d.pid, kids, 4) == 1) {
			sup = kids[0];
			int n = children_of(sup, inits, 4);
			for (int i = 0; i < n && !victim; i++)
				victim = child_named(inits[i], "pass");
		}
		if (!victim)
			poll(NULL, 0, 20);
	}
	ck_assert_int_gt(victim, 0);
	char *log = file_read(d.connlog);
	int cpid = 0;
	sscanf(strstr(log, "start target-vm test.Sleep+60 "), "start target-vm test.Sleep+60 %d", &cpid);
	free(log);
	ck_assert(pid_alive(cpid));
	int64_t t0 = time(NULL);
	ck_assert_int_eq(kill(victim, SIGKILL), 0);
	/* the caller gets EOF at once, long before the service would answer */
	char buf[64];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ck_assert_int_eq(poll(&p, 1, wait_ms(0)), 1);
	ck_assert_int_eq(read(fd, buf, sizeof(buf)), 0);
	close(fd);
	ck_assert_int_lt(time(NULL) - t0, 30);
	ck_assert(file_wait_for(d.log, "killed by signal 9", 5000));
	ck_assert(wait_gone(cpid, 0));
	assert_no_children_of(&d);
}
END_TEST

START_TEST(test_filter_environment)
{
	int fd = call_vm(&d, "env", "target-vm", "test.Echo");
	shutdown(fd, SHUT_WR);
	static char buf[65536];
	size_t got = 0;
	ssize_t n;
	while ((n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	close(fd);
	ck_assert_ptr_nonnull(strstr(buf, "env QREXEC_REMOTE_DOMAIN=source-vm\n"));
	ck_assert_ptr_nonnull(strstr(buf, "env QREXEC_PROXY_CHAIN=env\n"));
	ck_assert_ptr_nonnull(strstr(buf, "env QREXEC_PROXY_TARGET=target-vm\n"));
	ck_assert_ptr_nonnull(strstr(buf, "env QREXEC_PROXY_SERVICE=test.Echo\n"));
	ck_assert_ptr_nonnull(strstr(buf, "env QREXEC_PROXY_DIRECTION=src2dst\n"));
	ck_assert_ptr_nonnull(strstr(buf, "env QREXEC_PROXY_CONNECTION="));
	ck_assert_ptr_null(strstr(buf, "FAKE_CONNECTOR_LOG"));
	ck_assert_ptr_nonnull(strstr(buf, "fd 0\nfd 1\nfd 2\n"));
	ck_assert_ptr_null(strstr(buf, "fd 3\n"));
}
END_TEST

START_TEST(test_baseline_seccomp)
{
	echo_through("net", 10000);
	ck_assert(file_wait_for(d.log, "socket(AF_INET) refused", 5000));
}
END_TEST

START_TEST(test_connector_refused)
{
	assert_refused(call_vm(&d, "pass1", "target-vm", "test.Refused"));
	ck_assert(file_wait_for(d.log, "connector exited 126", 5000));
}
END_TEST

START_TEST(test_admission)
{
	assert_refused(call_vm(&d, "admit-no", "target-vm", "test.Echo"));
	ck_assert(file_wait_for(d.log, "result=refused reason=\"refused by admit /bin/false (exited 1)\"", 5000));
	ck_assert_int_eq(file_count(d.connlog, "start"), 0);
	echo_through("admit-yes", 1000);
	ck_assert_int_eq(file_count(d.connlog, "start"), 1);
	/* no verdict in time is a refusal, and the slow check is ended */
	time_t t0 = time(NULL);
	assert_refused(call_vm(&d, "admit-slow", "target-vm", "test.Echo"));
	ck_assert_int_lt(time(NULL) - t0, 10);
	ck_assert(file_wait_for(d.log, "did not decide within 1000 ms", 5000));
	ck_assert_int_eq(file_count(d.connlog, "start"), 1);
	assert_no_children_of(&d);
}
END_TEST

START_TEST(test_50_at_once)
{
	enum { N = 50 };
	pid_t kids[N];
	for (int i = 0; i < N; i++) {
		kids[i] = fork();
		ck_assert_int_ge(kids[i], 0);
		if (kids[i] == 0) {
			struct xfer x;
			char desc[128];
			/* from ten qubes, five each: within --max-per-source, so none waits for a slot */
			snprintf(desc, sizeof(desc), "qrexec-proxy+%s+target-vm+test.Echo source-%d", i % 2 ? "pass3" : "pass1",
				 i % 10);
			int fd = call_open(&d, desc);
			call_transfer(fd, 256 * 1024 + (uint64_t)i, (uint64_t)i + 1, 60000, &x);
			_exit(!x.timed_out && x.recv == x.sent && x.recv_hash == x.sent_hash ? 0 : 1);
		}
	}
	int ok = 0;
	for (int i = 0; i < N; i++) {
		int st;
		waitpid(kids[i], &st, 0);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			ok++;
	}
	ck_assert_int_eq(ok, N);
	ck_assert_int_eq(file_wait_count(d.log, "result=ok", N, 10000), N);
	assert_no_children_of(&d);
}
END_TEST

START_TEST(test_first_step_stops_reading)
{
	/*
	 * The first step takes 10 bytes and ends normally while the service
	 * is still busy (it answers after 5 s): the rest of what the caller
	 * sends is read and dropped, so the caller is never blocked, and the
	 * answer still arrives whole.
	 */
	struct xfer x;
	int fd = call_vm(&d, "early-exit", "target-vm", "test.Sleep+5");
	call_transfer(fd, 4 << 20, 6, 30000, &x);
	ck_assert(!x.timed_out);
	ck_assert_int_eq(x.writer_status, 0);
	ck_assert_uint_eq(x.recv, 10);
	ck_assert(file_wait_for(d.log, "chain=early-exit result=ok", 5000));
	ck_assert(file_wait_for(d.log, "bytes) was discarded", 5000));
	ck_assert(file_wait_for(d.log, "dst2src=10", 5000));
}
END_TEST

START_TEST(test_reload)
{
	/* a new chain appears on SIGHUP */
	char *body = NULL;
	ck_assert_int_gt(asprintf(&body, "%s  added:\n    filters: [pass, pass]\n", config_body), 0);
	write_config(d.config, body);
	free(body);
	kill(d.pid, SIGHUP);
	ck_assert(file_wait_for(d.log, "configuration reloaded", 10000));
	echo_through("added", 200000);
	/* a drop-in next to it adds a chain on the next reload */
	char dropdir[400], drop[450];
	snprintf(dropdir, sizeof(dropdir), "%s/chains.d", d.dir);
	ck_assert_int_eq(mkdir(dropdir, 0755), 0);
	snprintf(drop, sizeof(drop), "%s/10-dropped.yaml", dropdir);
	write_config(drop, "chains:\n  dropped:\n    filters: [pass]\n");
	kill(d.pid, SIGHUP);
	ck_assert_int_eq(file_wait_count(d.log, "configuration reloaded", 2, 10000), 2);
	echo_through("dropped", 1000);
	echo_through("added", 1000);
	/* a broken file is reported and the running configuration kept */
	write_config(d.config, "chains:\n  broken:\n    filters: [no-such-filter]\n");
	kill(d.pid, SIGHUP);
	ck_assert(file_wait_for(d.log, "configuration not reloaded", 10000));
	ck_assert(file_wait_for(d.log, "no-such-filter", 1000));
	echo_through("added", 1000);
	/* so is a file whose filter rejects its own arguments */
	write_config(d.config, "filter_path: [\"@B@/filters\"]\n"
			       "chains:\n  big:\n    filters:\n      - name: byte-limit\n        args: [\"ten megs\"]\n");
	kill(d.pid, SIGHUP);
	ck_assert_int_eq(file_wait_count(d.log, "configuration not reloaded", 2, 10000), 2);
	ck_assert(file_wait_for(d.log, "chains.yaml:6:15: filter 'byte-limit' of chain 'big' rejects its arguments", 1000));
	echo_through("added", 1000);
	echo_through("pass3", 1000);
}
END_TEST

START_TEST(test_sigterm_lets_connections_finish)
{
	/* the service answers after 1 s; the daemon is told to stop meanwhile */
	int fd = call_vm(&d, "pass1", "target-vm", "test.Sleep+1");
	ck_assert(file_wait_for(d.connlog, "start target-vm test.Sleep+1", 10000));
	kill(d.pid, SIGTERM);
	ck_assert(file_wait_for(d.log, "stopping", 10000));
	struct xfer x;
	call_transfer(fd, 300000, 8, 30000, &x);
	ck_assert(!x.timed_out);
	ck_assert_uint_eq(x.recv, 300000);
	ck_assert(x.recv_hash == x.sent_hash);
	/* no new connection is taken, and the daemon ends by itself */
	int status;
	ck_assert_int_eq(waitpid(d.pid, &status, 0), d.pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	d.pid = 0;
	ck_assert(file_wait_for(d.log, "stopped", 1000));
}
END_TEST

START_TEST(test_filter_setsid_first)
{
	/*
	 * A filter whose first act is setsid(): the supervisor once took the
	 * failed setpgid() that follows for a failure to start, and killed it
	 * after its code had run. Twenty calls give the race its chances.
	 */
	for (int i = 0; i < 20; i++)
		echo_through("setsid", 10000);
	ck_assert_int_eq(file_wait_count(d.log, "chain=setsid result=ok", 20, 10000), 20);
	ck_assert_int_eq(file_count(d.log, "unable to start"), 0);
	assert_no_children_of(&d);
}
END_TEST

/* connects as UID (in a child) and says whether the daemon hung up without a word */
static bool refused_as(uid_t uid)
{
	int ok[2];
	ck_assert_int_eq(pipe(ok), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(ok[0]);
		if (setgid(uid) < 0 || setuid(uid) < 0)
			_exit(2);
		/* by hand: the daemon may hang up before the descriptor is even sent */
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		if (strlen(d.sock) >= sizeof(sa.sun_path))
			_exit(3);
		memcpy(sa.sun_path, d.sock, strlen(d.sock) + 1);
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			_exit(3);
		static const char desc[] = "qrexec-proxy+pass1+target-vm+test.Echo source-vm";
		(void)!send(fd, desc, sizeof(desc), MSG_NOSIGNAL);
		char c;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n = poll(&p, 1, wait_ms(0)) == 1 ? read(fd, &c, 1) : 1;
		_exit(n == 0 || (n < 0 && errno == ECONNRESET) ? 0 : 1);
	}
	close(ok[1]);
	close(ok[0]);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) != 2, "unable to become uid %u", (unsigned)uid);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

START_TEST(test_peer_credentials)
{
	/*
	 * Only qrexec-agent (root) or its fork server (group qubes) may
	 * connect: nobody (the uid this root-run daemon's sandboxes run as)
	 * and any other uid are hung up on before a byte is read.
	 */
	if (geteuid() != 0)
		return; /* needs root to connect as other users */
	/* the file system would stop them first (0660, a 0700 directory): let them reach the daemon */
	ck_assert_int_eq(chmod(d.dir, 0755), 0);
	ck_assert_int_eq(chmod(d.sock, 0666), 0);
	ck_assert(refused_as(65534));
	ck_assert(file_wait_for(d.log, "result=refused reason=\"peer uid 65534 (pid ", 5000));
	ck_assert(file_wait_for(d.log, "is the uid the sandboxes run as: never a caller\"", 5000));
	ck_assert(refused_as(4321));
	ck_assert(file_wait_for(d.log, "result=refused reason=\"peer uid 4321 (gid ", 5000));
	ck_assert_int_eq(file_count(d.connlog, "start"), 0);
	echo_through("pass1", 1000);
}
END_TEST

START_TEST(test_reload_refuses_a_fifo)
{
	/* a FIFO at the configuration path: refused at once, the listener never blocks on it */
	char fifo[400];
	snprintf(fifo, sizeof(fifo), "%s.fifo", d.config);
	ck_assert_int_eq(mkfifo(fifo, 0644), 0);
	ck_assert_int_eq(rename(fifo, d.config), 0);
	kill(d.pid, SIGHUP);
	ck_assert(file_wait_for(d.log, "not a regular file", 10000));
	ck_assert(file_wait_for(d.log, "configuration not reloaded", 10000));
	echo_through("pass3", 100000);
}
END_TEST

/* a call through chain fenced: whether it was served, the descriptor's own way */
static bool fenced_call(const char *target, const char *service, const char *source)
{
	char desc[256];
	snprintf(desc, sizeof(desc), "qrexec-proxy+fenced+%s+%s %s", target, service, source);
	int fd = call_open(&d, desc);
	struct xfer x;
	call_transfer(fd, 1000, 5, wait_ms(0), &x);
	return x.recv > 0;
}

START_TEST(test_chain_allowlists)
{
	/*
	 * A chain's sources, targets and services: a call outside them is
	 * refused before any admission check or filter runs, and the
	 * destination is never started.
	 */
	ck_assert(fenced_call("target-vm", "test.Echo", "source-vm"));
	ck_assert(fenced_call("target-vm", "test.Echo+any-argument", "source-vm"));
	ck_assert(fenced_call("target-vm", "test.Upper", "source-vm"));
	ck_assert_int_eq(file_wait_count(d.log, "chain=fenced result=ok", 3, 10000), 3);
	ck_assert(!fenced_call("other-vm", "test.Echo", "source-vm"));
	ck_assert(file_wait_for(d.log, "result=refused reason=\"target 'other-vm' is not in chain 'fenced' targets\"", 10000));
	ck_assert(!fenced_call("target-vm", "test.Hash", "source-vm"));
	ck_assert(file_wait_for(d.log, "result=refused reason=\"service 'test.Hash' is not in chain 'fenced' services\"", 10000));
	ck_assert(!fenced_call("target-vm", "test.EchoX", "source-vm"));
	ck_assert(!fenced_call("target-vm", "test.Echo", "intruder-vm"));
	ck_assert(file_wait_for(d.log, "source=intruder-vm target=target-vm service=test.Echo chain=fenced result=refused reason=\"source 'intruder-vm' is not in chain 'fenced' sources\"", 10000));
	/* the admission check ran for the three calls let through, and only for them */
	ck_assert_int_eq(file_count(d.log, "QREXEC_PROXY_DIRECTION=admit"), 3);
	ck_assert_int_eq(file_count(d.connlog, "start other-vm"), 0);
	ck_assert_int_eq(file_count(d.connlog, "start"), 3);
	assert_no_children_of(&d);
}
END_TEST

START_TEST(test_caller_eof_before_exits)
{
	/*
	 * The caller has its answer and its EOF as soon as the last byte has
	 * passed: the supervisor shuts the socket down without waiting for
	 * the processes' exits. A filter that closed its output and lingers
	 * keeps the connection (and its summary) going, not the caller.
	 */
	char release[512], body[1024];
	/* beside the filter: its own directory stays visible in the sandbox */
	snprintf(release, sizeof(release), "%s/t/linger-release.%d", builddir(), (int)getpid());
	unlink(release);
	snprintf(body, sizeof(body),
		 "connector: [\"@B@/t/fake-connector\", \"{target}\", \"{service}\"]\n"
		 "filter_path: [\"@B@/filters\"]\n"
		 "chains:\n"
		 "  linger:\n"
		 "    filters:\n"
		 "      - pass\n"
		 "      - name: \"@B@/t/test-filter\"\n"
		 "        args: [linger, \"%s\"]\n"
		 "        direction: dst2src\n",
		 release);
	daemon_teardown(&d);
	daemon_start(&d, body, NULL);
	struct xfer x;
	int fd = call_vm(&d, "linger", "target-vm", "test.Echo");
	call_transfer(fd, 100000, 11, 60000, &x);
	ck_assert_msg(!x.timed_out, "the caller did not get its EOF");
	ck_assert_uint_eq(x.recv, 100000);
	ck_assert_msg(x.recv_hash == x.sent_hash, "bytes differ");
	ck_assert(file_wait_for(d.log, "test-filter: lingering", 5000));
	/* the filter still runs: no summary yet, and the next spare is there meanwhile */
	ck_assert_int_eq(file_count(d.log, "chain=linger result="), 0);
	ck_assert_int_gt(daemon_wait_spare(&d), 0);
	ck_assert_int_eq(file_count(d.log, "chain=linger result="), 0);
	/* once it has gone, the one summary, with everything counted */
	int rf = open(release, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	ck_assert_int_ge(rf, 0);
	close(rf);
	ck_assert(file_wait_for(d.log, "chain=linger result=ok", 5000));
	ck_assert_int_eq(file_count(d.log, "chain=linger result="), 1);
	ck_assert(file_wait_for(d.log, "src2dst=100000 dst2src=100000", 5000));
	unlink(release);
	assert_no_children_of(&d);
}
END_TEST

START_TEST(test_trace_phases)
{
	/* not by default: a call leaves its summary and nothing more */
	echo_through("pass3", 1000);
	ck_assert(file_wait_for(d.log, "chain=pass3 result=ok", 5000));
	ck_assert_int_eq(file_count(d.log, "phases ("), 0);
	daemon_teardown(&d);
	static const char *const extra[] = { "--trace-phases", NULL };
	daemon_start(&d, config_body, extra);
	/* the first call after the start has its spare, or a supervisor forked on accept: both are traced */
	echo_through("pass3", 1000);
	echo_through("pass3", 1000);
	ck_assert_int_eq(file_wait_count(d.log, "phases (ms after the accept at ", 2, 5000), 2);
	char *log = file_read(d.log);
	const char *line = strstr(log, "phases (ms after the accept at ");
	static const char *const want[] = { " handed=", " routed=", " slot=", " pipeline=", " connector=", " up-eof=",
					    " caller-eof=", " exited=", " sandbox-gone=", " summary=",
					    "; connector ended ", "filter pass#3 (dst2src) ended " };
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const char *at = strstr(line, want[i]), *eol = strchr(line, '\n');
		ck_assert_msg(at && (!eol || at < eol), "no %s in the phases: %.*s", want[i],
			      eol ? (int)(eol - line) : 400, line);
	}
	/* the caller had its EOF before the summary was written */
	double eof = atof(strstr(line, " caller-eof=") + 12), summary = atof(strstr(line, " summary=") + 9);
	ck_assert_msg(eof > 0 && eof <= summary, "caller-eof=%f summary=%f", eof, summary);
	free(log);
	assert_no_children_of(&d);
}
END_TEST

static Suite *serve_suite(void)
{
	Suite *s = suite_create("serve");
	TCase *tc = tcase_create("serve");
	tcase_set_timeout(tc, test_timeout(300));
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_echo_0_1_3);
	tcase_add_test(tc, test_64mib_each_way);
	tcase_add_test(tc, test_half_close);
	tcase_add_test(tc, test_dst2src_only);
	tcase_add_test(tc, test_refusals_keep_daemon);
	tcase_add_test(tc, test_filter_crash_tears_down);
	tcase_add_test(tc, test_filter_killed_mid_stream);
	tcase_add_test(tc, test_filter_environment);
	tcase_add_test(tc, test_baseline_seccomp);
	tcase_add_test(tc, test_connector_refused);
	tcase_add_test(tc, test_admission);
	tcase_add_test(tc, test_50_at_once);
	tcase_add_test(tc, test_first_step_stops_reading);
	tcase_add_test(tc, test_reload);
	tcase_add_test(tc, test_spare_supervisor);
	tcase_add_test(tc, test_spare_takes_its_call_itself);
	tcase_add_test(tc, test_spare_took_survives_a_reset);
	tcase_add_test(tc, test_example_filter_changes_the_answer);
	tcase_add_test(tc, test_sigterm_lets_connections_finish);
	tcase_add_test(tc, test_filter_setsid_first);
	tcase_add_test(tc, test_chain_allowlists);
	tcase_add_test(tc, test_peer_credentials);
	tcase_add_test(tc, test_reload_refuses_a_fifo);
	tcase_add_test(tc, test_trace_phases);
	tcase_add_test(tc, test_caller_eof_before_exits);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(serve_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
