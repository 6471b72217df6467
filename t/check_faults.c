/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fault injection against the real daemon: filters, connectors and callers
 * that crash, hang, exit early, close one end, flood stderr, disconnect,
 * stall or never read; and the daemon itself killed and restarted under
 * socket activation with callers queued in the backlog.
 *
 * Every fault case asserts the same four things:
 *   - the faulty connection ends within a bounded time (the caller sees EOF);
 *   - the daemon's log names the cause;
 *   - no process of the connection survives (its connector's pid, from the
 *     stand-in's own log, is gone; the daemon's children drain to 0);
 *   - a healthy connection, started before the fault and still moving data
 *     while it happens, completes afterwards with every byte intact.
 * The bounds are generous (seconds) and only ever catch a hang: they are
 * not performance thresholds.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "timeout.h"
#include "hash.h"
#include "testutil.h"

static const char config_body[] =
	"connector: [\"@B@/t/fake-connector\", \"{target}\", \"{service}\"]\n"
	"filter_path: [\"@B@/filters\"]\n"
	"chains:\n"
	"  healthy:\n"
	"    filters: [pass, pass]\n"
	"  pass3:\n"
	"    filters: [pass, pass, pass]\n"
	"  crash:\n"
	"    filters:\n"
	"      - pass\n"
	"      - name: \"@B@/t/test-filter\"\n"
	"        args: [crash-after, \"100000\"]\n"
	"        direction: src2dst\n"
	/* the hang is ended by a timeout step on the source's side of it */
	"  hang:\n"
	"    filters:\n"
	"      - name: timeout\n"
	"        args: [--seconds, \"1\"]\n"
	"      - name: \"@B@/t/test-filter\"\n"
	"        args: [hang]\n"
	"        direction: src2dst\n"
	"  exit-fail:\n"
	"    filters:\n"
	"      - pass\n"
	"      - name: \"@B@/t/test-filter\"\n"
	"        args: [exit-after, \"1000\", \"3\"]\n"
	"        direction: src2dst\n"
	"  exit-ok:\n"
	"    filters:\n"
	"      - pass\n"
	"      - name: \"@B@/t/test-filter\"\n"
	"        args: [exit-after, \"1000\", \"0\"]\n"
	"        direction: src2dst\n"
	"      - pass\n"
	"  close-out:\n"
	"    filters:\n"
	"      - pass\n"
	"      - name: \"@B@/t/fault-filter\"\n"
	"        args: [close-out, \"5000\"]\n"
	"        direction: src2dst\n"
	"  close-in:\n"
	"    filters:\n"
	"      - name: \"@B@/t/fault-filter\"\n"
	"        args: [close-in, \"5000\"]\n"
	"        direction: src2dst\n"
	"      - pass\n"
	"  close-in-mid:\n"
	"    filters:\n"
	"      - pass\n"
	"      - name: \"@B@/t/fault-filter\"\n"
	"        args: [close-in, \"5000\"]\n"
	"        direction: src2dst\n"
	"  close-in-fail:\n"
	"    filters:\n"
	"      - name: \"@B@/t/fault-filter\"\n"
	"        args: [close-in-fail, \"5000\"]\n"
	"        direction: src2dst\n"
	"      - pass\n"
	"  fork-child:\n"
	"    filters:\n"
	"      - pass\n"
	"      - name: \"@B@/t/fault-filter\"\n"
	"        args: [fork-child, \"0\"]\n"
	"        direction: src2dst\n"
	"  fork-setsid:\n"
	"    filters:\n"
	"      - pass\n"
	"      - name: \"@B@/t/fault-filter\"\n"
	"        args: [fork-setsid, \"0\"]\n"
	"        direction: src2dst\n"
	"  flood:\n"
	"    filters:\n"
	"      - pass\n"
	"      - name: \"@B@/t/test-filter\"\n"
	"        args: [stderr-flood, \"100000\"]\n"
	"      - pass\n"
	/* the same with its log bound raised past the flood: every line is logged */
	"  flood-all:\n"
	"    log_lines_per_second: 1000000\n"
	"    log_bytes: 1G\n"
	"    filters:\n"
	"      - pass\n"
	"      - name: \"@B@/t/test-filter\"\n"
	"        args: [stderr-flood, \"100000\"]\n"
	"      - pass\n";

static struct daemon d;

static void setup(void)
{
	static const char *const extra[] = { "--descriptor-timeout", "1", "--grace", "2", NULL };
	daemon_start(&d, config_body, extra);
}

static void teardown(void)
{
	daemon_teardown(&d);
}

/* the pid the stand-in connector recorded for its last call to TARGET, or 0 */
static pid_t connector_pid(const char *target)
{
	char *log = file_read(d.connlog), *p = log, want[128];
	int len = snprintf(want, sizeof(want), "start %s ", target);
	pid_t pid = 0;
	while ((p = strstr(p, want))) {
		const char *sp = strchr(p + len, ' ');
		if (sp)
			pid = (pid_t)atoi(sp + 1);
		p += len;
	}
	free(log);
	return pid;
}

static void assert_connector_gone(const char *target)
{
	pid_t pid = connector_pid(target);
	if (!pid)
		return;
	ck_assert_msg(wait_gone(pid, 0), "connector %d of %s survived", (int)pid, target);
}

/* reads to EOF; fails if EOF does not come within TIMEOUT_MS */
static uint64_t read_to_eof(int fd, int timeout_ms, uint64_t *hash)
{
	static char buf[1 << 16];
	uint64_t got = 0, h = HASH_INIT;
	int64_t end = now_ms() + timeout_ms;
	for (;;) {
		int left = (int)(end - now_ms());
		ck_assert_msg(left > 0, "no EOF within %d ms (%" PRIu64 " bytes read)", timeout_ms, got);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, left) <= 0)
			continue;
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (uint64_t)n;
		h = hash_update(h, buf, (size_t)n);
	}
	if (hash)
		*hash = h;
	return got;
}

/*
 * The healthy neighbour: a process that calls test.Echo through two pass
 * steps, sends half its data, reports "ready" once that half has come back
 * (so the connection is fully up and moving), then waits for "go" before
 * sending the rest. It exits 0 only if every byte came back unchanged.
 */
enum { HEALTHY_HALF = 512 * 1024 };

struct healthy {
	pid_t pid;
	int go;
};

static void healthy_begin(struct healthy *h)
{
	int ready[2], go[2];
	ck_assert_int_eq(pipe(ready), 0);
	ck_assert_int_eq(pipe(go), 0);
	h->pid = fork();
	ck_assert_int_ge(h->pid, 0);
	if (h->pid == 0) {
		close(ready[0]);
		close(go[1]);
		signal(SIGPIPE, SIG_IGN);
		int fd = call_vm(&d, "healthy", "healthy-vm", "test.Echo");
		pid_t w = fork();
		if (w == 0) {
			static char buf[1 << 16];
			uint64_t seed = 77;
			for (int half = 0; half < 2; half++) {
				for (size_t done = 0; done < HEALTHY_HALF; done += sizeof(buf)) {
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
			if (poll(&p, 1, 120000) <= 0)
				_exit(3);
			ssize_t n = read(fd, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += (uint64_t)n;
			hs = hash_update(hs, buf, (size_t)n);
			if (!told && got >= HEALTHY_HALF) {
				told = true;
				if (write(ready[1], "r", 1) != 1)
					_exit(4);
			}
		}
		int st;
		waitpid(w, &st, 0);
		_exit(got == 2 * HEALTHY_HALF && hs == expected_hash(2 * HEALTHY_HALF, 77) &&
		      WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 2);
	}
	close(ready[1]);
	close(go[0]);
	h->go = go[1];
	struct pollfd p = { .fd = ready[0], .events = POLLIN };
	char c;
	ck_assert_msg(poll(&p, 1, 30000) == 1 && read(ready[0], &c, 1) == 1, "the healthy connection did not start");
	close(ready[0]);
}

static void healthy_end(struct healthy *h)
{
	int st;
	close(h->go);
	ck_assert_int_eq(waitpid(h->pid, &st, 0), h->pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "the healthy connection was disturbed (status 0x%x)", st);
	assert_daemon_log(&d, "chain=healthy result=ok");
}

/* sends N deterministic bytes without ever blocking on a full socket for long */
static void send_some(int fd, uint64_t n, uint64_t seed)
{
	static char buf[1 << 16];
	while (n) {
		size_t k = n < sizeof(buf) ? (size_t)n : sizeof(buf);
		fill_random(&seed, buf, k);
		if (send(fd, buf, k, MSG_NOSIGNAL) != (ssize_t)k)
			return;
		n -= k;
	}
}

/*
 * The common shape: healthy neighbour up, then a caller of CHAIN/SERVICE at
 * "fault-vm" sends NBYTES (from a child, so a pipeline that stops reading
 * cannot block the test) and reads to EOF, which must come within 20 s.
 * Returns the bytes it got back.
 */
static uint64_t fault_call(const char *chain, const char *service, uint64_t nbytes, struct xfer *x)
{
	int fd = call_vm(&d, chain, "fault-vm", service);
	call_transfer(fd, nbytes, 11, 20000, x);
	ck_assert_msg(!x->timed_out, "%s: the connection did not end", chain);
	return x->recv;
}

/*
 * A step that ends its direction early (exit 0, or closing its stdin) in the
 * middle of a chain: its upstream neighbour, still writing, dies of SIGPIPE.
 * That is the end of the direction, not a failure (as in a shell pipeline):
 * the connection ends "ok" and the answer already on its way arrives whole.
 * (Before 05bdc7c the SIGPIPE aborted the connection and raced the answer:
 * 0 or all of it arrived.)
 */
static void assert_early_end(const char *chain, const struct xfer *x, uint64_t answer)
{
	char ok[128];
	snprintf(ok, sizeof(ok), "chain=%s result=ok", chain);
	assert_daemon_log(&d, ok);
	ck_assert_uint_eq(x->recv, answer);
	ck_assert(x->recv_hash == expected_hash(answer, 11));
}

static void fault_done(struct healthy *h)
{
	assert_connector_gone("fault-vm");
	healthy_end(h);
	assert_no_children_of(&d);
}

START_TEST(test_filter_crashes)
{
	struct healthy h;
	struct xfer x;
	healthy_begin(&h);
	ck_assert_uint_lt(fault_call("crash", "test.Echo", 4 << 20, &x), 4 << 20);
	assert_daemon_log(&d, "chain=crash result=aborted");
	assert_daemon_log(&d, "killed by signal 6");
	assert_daemon_log(&d, "crashing on purpose");
	fault_done(&h);
}
END_TEST

START_TEST(test_filter_hangs)
{
	/*
	 * A filter that never reads nor exits. Bounded design: the chain puts a
	 * `timeout --seconds 1` step before it; when time is up the timeout
	 * step exits 1, which aborts the connection and ends the hung process
	 * with the rest of its group.
	 */
	struct healthy h;
	struct xfer x;
	healthy_begin(&h);
	int64_t t0 = now_ms();
	ck_assert_uint_eq(fault_call("hang", "test.Echo", 1 << 20, &x), 0);
	ck_assert_int_ge(now_ms() - t0, 900);
	assert_daemon_log(&d, "chain=hang result=aborted");
	assert_daemon_log(&d, "timeout");
	fault_done(&h);
}
END_TEST

START_TEST(test_filter_exits_nonzero)
{
	struct healthy h;
	struct xfer x;
	healthy_begin(&h);
	ck_assert_uint_le(fault_call("exit-fail", "test.Echo", 4 << 20, &x), 1000);
	assert_daemon_log(&d, "chain=exit-fail result=aborted");
	assert_daemon_log(&d, "exited 3");
	fault_done(&h);
}
END_TEST

START_TEST(test_filter_exits_zero_early)
{
	/* a normal end of its direction while the caller is still sending */
	struct healthy h;
	struct xfer x;
	healthy_begin(&h);
	fault_call("exit-ok", "test.Echo", 8 << 20, &x);
	assert_early_end("exit-ok", &x, 1000);
	fault_done(&h);
}
END_TEST

START_TEST(test_filter_closes_output_only)
{
	/*
	 * It closes stdout after 5000 bytes but goes on reading: the
	 * destination gets EOF and answers, the caller's stream is drained by
	 * the filter, the connection ends normally.
	 */
	struct healthy h;
	struct xfer x;
	healthy_begin(&h);
	ck_assert_uint_eq(fault_call("close-out", "test.Echo", 8 << 20, &x), 5000);
	ck_assert(x.recv_hash == expected_hash(5000, 11));
	ck_assert_int_eq(x.writer_status, 0);
	assert_daemon_log(&d, "chain=close-out result=ok");
	fault_done(&h);
}
END_TEST

START_TEST(test_filter_closes_input_only)
{
	/*
	 * The first step closes stdin after 5000 bytes and keeps stdout open
	 * for a second: the pipe towards it breaks under the supervisor, which
	 * must drop the caller's rest instead of failing or blocking.
	 */
	struct healthy h;
	struct xfer x;
	healthy_begin(&h);
	ck_assert_uint_eq(fault_call("close-in", "test.Echo", 8 << 20, &x), 5000);
	ck_assert(x.recv_hash == expected_hash(5000, 11));
	assert_daemon_log(&d, "chain=close-in result=ok");
	fault_done(&h);
}
END_TEST

START_TEST(test_filter_closes_input_only_mid_chain)
{
	/* the same, second in the chain: now a filter writes into the broken pipe */
	struct healthy h;
	struct xfer x;
	healthy_begin(&h);
	fault_call("close-in-mid", "test.Echo", 8 << 20, &x);
	assert_early_end("close-in-mid", &x, 5000);
	fault_done(&h);
}
END_TEST

START_TEST(test_filter_closes_input_then_fails)
{
	/* the supervisor itself writes into the broken pipe, then the step fails */
	struct healthy h;
	struct xfer x;
	healthy_begin(&h);
	ck_assert_uint_le(fault_call("close-in-fail", "test.Echo", 8 << 20, &x), 5000);
	assert_daemon_log(&d, "chain=close-in-fail result=aborted");
	assert_daemon_log(&d, "exited 4");
	fault_done(&h);
}
END_TEST

/*
 * A child that left the process group with setsid() is not reached by the
 * teardown's killpg, nor by PR_SET_PDEATHSIG (fork clears it); it must end
 * with the connection all the same. fault-filter copies only once its child
 * has logged itself, so the child exists before the connection can end.
 */
static void left_behind(const char *chain)
{
	struct healthy h;
	struct xfer x;
	healthy_begin(&h);
	ck_assert_uint_eq(fault_call(chain, "test.Echo", 1 << 20, &x), 1 << 20);
	ck_assert(x.recv_hash == x.sent_hash);
	assert_daemon_log(&d, "fault-filter: child ");
	/* found by name (fault-filter names it): in a PID namespace, the pid it logs is not its pid here */
	pid_t orphans[16];
	int left = 0;
	for (int64_t end = now_ms() + wait_ms(0); (left = processes_named("fault-orphan", orphans, 16)) && now_ms() < end;)
		poll(NULL, 0, 20);
	for (int i = 0; i < left; i++)
		kill(orphans[i], SIGKILL);
	ck_assert_msg(!left, "%s: the filter's child outlived the connection", chain);
	fault_done(&h);
}

START_TEST(test_filter_leaves_a_child)
{
	/* a filter's own child, holding its stderr, must end with the connection */
	left_behind("fork-child");
}
END_TEST

START_TEST(test_filter_child_leaves_the_group)
{
	/* the same child, after setsid(): a process group kill no longer reaches it */
	left_behind("fork-setsid");
}
END_TEST

START_TEST(test_filter_floods_stderr)
{
	/*
	 * 100,000 lines on stderr: data still goes through, the daemon does
	 * not block; past the connection's log bound the lines are read and
	 * dropped (counted in the summary), with the bound raised every one
	 * is logged.
	 */
	struct healthy h;
	struct xfer x;
	healthy_begin(&h);
	ck_assert_uint_eq(fault_call("flood", "test.Echo", 2 << 20, &x), 2 << 20);
	ck_assert(x.recv_hash == x.sent_hash);
	assert_daemon_log(&d, "chain=flood result=ok");
	assert_daemon_log(&d, " log_dropped=");
	ck_assert_int_eq(file_count(d.log, "flood line 99999 "), 0);
	ck_assert_uint_eq(fault_call("flood-all", "test.Echo", 2 << 20, &x), 2 << 20);
	ck_assert(x.recv_hash == x.sent_hash);
	assert_daemon_log(&d, "chain=flood-all result=ok");
	assert_daemon_log(&d, "flood line 99999 ");
	fault_done(&h);
}
END_TEST

START_TEST(test_connector_refused)
{
	struct healthy h;
	struct xfer x;
	healthy_begin(&h);
	ck_assert_uint_eq(fault_call("pass3", "test.Refused", 100000, &x), 0);
	assert_daemon_log(&d, "service=test.Refused chain=pass3 result=");
	assert_daemon_log(&d, "connector exited 126");
	fault_done(&h);
}
END_TEST

START_TEST(test_connector_not_found)
{
	struct healthy h;
	struct xfer x;
	healthy_begin(&h);
	ck_assert_uint_eq(fault_call("pass3", "test.NotFound", 100000, &x), 0);
	assert_daemon_log(&d, "service=test.NotFound chain=pass3 result=");
	assert_daemon_log(&d, "connector exited 127");
	fault_done(&h);
}
END_TEST

START_TEST(test_connector_dies)
{
	struct healthy h;
	struct xfer x;
	healthy_begin(&h);
	ck_assert_uint_le(fault_call("pass3", "test.Die+300000", 4 << 20, &x), 300000);
	assert_daemon_log(&d, "service=test.Die+300000 chain=pass3 result=aborted");
	assert_daemon_log(&d, "killed by signal 9");
	fault_done(&h);
}
END_TEST

START_TEST(test_caller_disconnects)
{
	/* the caller sends what the socket takes, reads nothing, and closes */
	struct healthy h;
	healthy_begin(&h);
	int fd = call_vm(&d, "pass3", "fault-vm", "test.Sleep+1");
	ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	static char buf[1 << 16];
	memset(buf, 'x', sizeof(buf));
	for (int i = 0; i < 200 && send(fd, buf, sizeof(buf), MSG_NOSIGNAL) > 0; i++)
		;
	ck_assert(file_wait_for(d.connlog, "start fault-vm", 10000));
	close(fd);
	assert_daemon_log(&d, "service=test.Sleep+1 chain=pass3 result=");
	fault_done(&h);
}
END_TEST

START_TEST(test_caller_sends_no_descriptor)
{
	struct healthy h;
	healthy_begin(&h);
	int fd = call_open(&d, NULL);
	int64_t t0 = now_ms();
	ck_assert_uint_eq(read_to_eof(fd, wait_ms(10000), NULL), 0);
	ck_assert_int_ge(now_ms() - t0, 900);
	close(fd);
	assert_daemon_log(&d, "did not arrive in time");
	ck_assert_int_eq(file_count(d.connlog, "start fault-vm"), 0);
	fault_done(&h);
}
END_TEST

START_TEST(test_caller_sends_descriptor_bytewise)
{
	/* one byte per send, 1 ms apart: slow but within --descriptor-timeout 1 */
	struct healthy h;
	healthy_begin(&h);
	static const char desc[] = "qrexec-proxy+pass3+fault-vm+test.Echo source-vm";
	int fd = call_open(&d, NULL);
	for (size_t i = 0; i < sizeof(desc); i++) {
		ck_assert_int_eq(send(fd, desc + i, 1, MSG_NOSIGNAL), 1);
		poll(NULL, 0, 1);
	}
	struct xfer x;
	call_transfer(fd, 1 << 20, 12, 20000, &x);
	ck_assert(!x.timed_out);
	ck_assert_uint_eq(x.recv, 1 << 20);
	ck_assert(x.recv_hash == x.sent_hash);
	assert_daemon_log(&d, "target=fault-vm service=test.Echo chain=pass3 result=ok");
	fault_done(&h);
}
END_TEST

/* utime + stime of PID, in clock ticks */
static long cpu_ticks(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return -1;
	buf[len] = '\0';
	char *p = strrchr(buf, ')');
	unsigned long ut = 0, st = 0;
	/* after the comm: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (long)(ut + st);
}

static pid_t parent_of(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	ssize_t len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return 0;
	buf[len] = '\0';
	char *p = strrchr(buf, ')');
	int pp = 0;
	if (!p || sscanf(p + 2, "%*c %d", &pp) != 1)
		return 0;
	return (pid_t)pp;
}

START_TEST(test_caller_does_not_read)
{
	/*
	 * Back-pressure: the destination writes 64 MiB, the caller reads
	 * nothing for 3 s, then everything. Nothing may be lost, and while
	 * blocked the supervisor must sleep, not spin: its CPU time over the
	 * stall is compared with the stall itself (a busy loop would use all
	 * of it). CPU time, not wall-clock time, so a loaded machine cannot
	 * make this flaky.
	 */
	const uint64_t n = 64ULL << 20;
	struct healthy h;
	healthy_begin(&h);
	int fd = call_vm(&d, "pass3", "fault-vm", "test.Generate+67108864");
	shutdown(fd, SHUT_WR);
	ck_assert(file_wait_for(d.connlog, "start fault-vm", 10000));
	pid_t conn = connector_pid("fault-vm");
	pid_t sup = parent_of(conn);
	ck_assert_int_gt(sup, 1);
	/*
	 * Let the buffers fill: on a loaded machine that can take a while, so
	 * wait until neither the supervisor nor the connector has used any
	 * CPU for half a second (the event), not for a fixed time.
	 */
	for (int64_t end = now_ms() + wait_ms(0); now_ms() < end;) {
		long s0 = cpu_ticks(sup), k0 = cpu_ticks(conn);
		poll(NULL, 0, 500);
		if (cpu_ticks(sup) == s0 && cpu_ticks(conn) == k0)
			break;
	}
	long t0 = cpu_ticks(sup);
	long c0 = cpu_ticks(conn);
	poll(NULL, 0, 3000);
	long t1 = cpu_ticks(sup);
	long c1 = cpu_ticks(conn);
	long hz = sysconf(_SC_CLK_TCK);
	ck_assert_int_ge(t0, 0);
	ck_assert_msg(t1 - t0 <= hz / 10, "the supervisor used %ld ticks of CPU while blocked for 3 s", t1 - t0);
	ck_assert_msg(c1 - c0 <= hz / 10, "the connector used %ld ticks of CPU while blocked for 3 s", c1 - c0);
	uint64_t hs;
	ck_assert_uint_eq(read_to_eof(fd, wait_ms(60000), &hs), n);
	ck_assert(hs == expected_hash(n, 42));
	close(fd);
	assert_daemon_log(&d, "service=test.Generate+67108864 chain=pass3 result=ok");
	assert_daemon_log(&d, "dst2src=67108864");
	fault_done(&h);
}
END_TEST

START_TEST(test_supervisor_killed)
{
	/*
	 * The supervisor of one connection dies (SIGKILL, as a crash would):
	 * its filters and connector die with it (PR_SET_PDEATHSIG), its caller
	 * sees EOF, the listener logs it, and the neighbour goes on.
	 */
	struct healthy h;
	healthy_begin(&h);
	int fd = call_vm(&d, "pass3", "fault-vm", "test.Sleep+300");
	ck_assert_int_eq(send(fd, "some data", 9, MSG_NOSIGNAL), 9);
	ck_assert(file_wait_for(d.connlog, "start fault-vm", 10000));
	pid_t conn = connector_pid("fault-vm");
	pid_t sup = parent_of(conn);
	ck_assert_int_gt(sup, 1);
	ck_assert_int_ne(sup, d.pid);
	ck_assert_int_eq(kill(sup, SIGKILL), 0);
	ck_assert_uint_eq(read_to_eof(fd, wait_ms(10000), NULL), 0);
	close(fd);
	char want[64];
	snprintf(want, sizeof(want), "supervisor %d ", (int)sup);
	assert_daemon_log(&d, want);
	assert_daemon_log(&d, "signal 9");
	/* the supervisor wrote no summary: the listener writes it */
	char summary[128];
	snprintf(summary, sizeof(summary), "result=failed reason=\"the supervisor (pid %d) killed by signal 9",
		 (int)sup);
	assert_daemon_log(&d, summary);
	assert_connector_gone("fault-vm");
	fault_done(&h);
}
END_TEST

START_TEST(test_sigterm_grace_ends_a_hung_connection)
{
	/*
	 * The other bounded end for a connection that never finishes (here
	 * a destination that sleeps 300 s): SIGTERM stops the daemon taking
	 * calls, and once --grace (2 s) is over the running connection is
	 * ended, its processes with it, and the daemon exits 0.
	 */
	int fd = call_vm(&d, "pass3", "fault-vm", "test.Sleep+300");
	ck_assert_int_eq(send(fd, "some data", 9, MSG_NOSIGNAL), 9);
	ck_assert(file_wait_for(d.connlog, "start fault-vm", 10000));
	int64_t t0 = now_ms();
	ck_assert_int_eq(kill(d.pid, SIGTERM), 0);
	ck_assert_uint_eq(read_to_eof(fd, wait_ms(0), NULL), 0);
	close(fd);
	int status = 0;
	pid_t r = 0;
	while ((r = waitpid(d.pid, &status, WNOHANG)) == 0 && now_ms() - t0 < wait_ms(0))
		poll(NULL, 0, 20);
	ck_assert_int_eq(r, d.pid);
	d.pid = 0;
	ck_assert_int_ge(now_ms() - t0, 1900);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "daemon status 0x%x", status);
	assert_daemon_log(&d, "grace period over: ending 1 running connections");
	assert_connector_gone("fault-vm");
}
END_TEST

/* ---- socket activation: the daemon killed and restarted, callers queued ---- */

static pid_t start_activated(int lfd, const char *log)
{
	char prog[512];
	snprintf(prog, sizeof(prog), "%s/qrexec-proxy", builddir());
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd < 0 || dup2(fd, 2) < 0)
			_exit(99);
		int nul = open("/dev/null", O_RDWR);
		dup2(nul, 0);
		dup2(nul, 1);
		/* as systemd: the socket on fd 3, LISTEN_PID naming the exec'd process */
		if (lfd == 3)
			fcntl(3, F_SETFD, 0);
		else if (dup2(lfd, 3) < 0)
			_exit(98);
		char pidbuf[32];
		snprintf(pidbuf, sizeof(pidbuf), "%d", (int)getpid());
		setenv("LISTEN_FDS", "1", 1);
		setenv("LISTEN_PID", pidbuf, 1);
		setenv("FAKE_CONNECTOR_LOG", d.connlog, 1);
		execl(prog, prog, "serve", "--config", d.config, "--log", "stderr", "--allow-root", (char *)NULL);
		_exit(97);
	}
	return pid;
}

START_TEST(test_daemon_killed_and_restarted)
{
	enum { QUEUED = 6, EACH = 64 * 1024 };
	memset(&d, 0, sizeof(d));
	make_tmpdir(d.dir, sizeof(d.dir));
	snprintf(d.sock, sizeof(d.sock), "%s/qrexec-proxy.sock", d.dir);
	snprintf(d.config, sizeof(d.config), "%s/chains.yaml", d.dir);
	snprintf(d.log, sizeof(d.log), "%s/daemon.log", d.dir);
	snprintf(d.connlog, sizeof(d.connlog), "%s/connector.log", d.dir);
	write_config(d.config, config_body);

	/* the test plays systemd: it owns the listening socket across restarts */
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(lfd, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memcpy(sa.sun_path, d.sock, strlen(d.sock) + 1);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(lfd, 64), 0);

	d.pid = start_activated(lfd, d.log);
	ck_assert(file_wait_for(d.log, "serving", 30000));
	struct xfer x;
	call_transfer(call_vm(&d, "pass3", "first-vm", "test.Echo"), 100000, 1, 20000, &x);
	ck_assert(!x.timed_out && x.recv == 100000 && x.recv_hash == x.sent_hash);

	ck_assert_int_eq(kill(d.pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(d.pid, NULL, 0), d.pid);
	d.pid = 0;

	/* no daemon: these wait in the backlog, descriptor and data already sent */
	int fds[QUEUED];
	for (int i = 0; i < QUEUED; i++) {
		fds[i] = call_vm(&d, i % 2 ? "pass3" : "healthy", "queued-vm", "test.Echo");
		send_some(fds[i], EACH, 100 + (uint64_t)i);
		shutdown(fds[i], SHUT_WR);
	}
	ck_assert_int_eq(file_count(d.connlog, "start queued-vm"), 0);

	d.pid = start_activated(lfd, d.log);
	ck_assert(file_wait_count(d.log, "serving", 2, 30000) == 2);
	for (int i = 0; i < QUEUED; i++) {
		uint64_t hs;
		ck_assert_uint_eq(read_to_eof(fds[i], wait_ms(20000), &hs), EACH);
		ck_assert_msg(hs == expected_hash(EACH, 100 + (uint64_t)i), "queued call %d: bytes differ", i);
		close(fds[i]);
	}
	ck_assert_int_eq(file_wait_count(d.log, "target=queued-vm service=test.Echo", QUEUED, 5000), QUEUED);
	assert_no_children_of(&d);
	close(lfd);
}
END_TEST

static Suite *faults_suite(void)
{
	Suite *s = suite_create("faults");
	TCase *tc = tcase_create("faults");
	tcase_set_timeout(tc, test_timeout(120));
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_filter_crashes);
	tcase_add_test(tc, test_filter_hangs);
	tcase_add_test(tc, test_filter_exits_nonzero);
	tcase_add_test(tc, test_filter_exits_zero_early);
	tcase_add_test(tc, test_filter_closes_output_only);
	tcase_add_test(tc, test_filter_closes_input_only);
	tcase_add_test(tc, test_filter_closes_input_only_mid_chain);
	tcase_add_test(tc, test_filter_closes_input_then_fails);
	tcase_add_test(tc, test_filter_leaves_a_child);
	tcase_add_test(tc, test_filter_child_leaves_the_group);
	tcase_add_test(tc, test_filter_floods_stderr);
	tcase_add_test(tc, test_connector_refused);
	tcase_add_test(tc, test_connector_not_found);
	tcase_add_test(tc, test_connector_dies);
	tcase_add_test(tc, test_caller_disconnects);
	tcase_add_test(tc, test_caller_sends_no_descriptor);
	tcase_add_test(tc, test_caller_sends_descriptor_bytewise);
	tcase_add_test(tc, test_caller_does_not_read);
	tcase_add_test(tc, test_supervisor_killed);
	tcase_add_test(tc, test_sigterm_grace_ends_a_hung_connection);
	suite_add_tcase(s, tc);

	TCase *ta = tcase_create("activation");
	tcase_set_timeout(ta, test_timeout(120));
	tcase_add_checked_fixture(ta, NULL, teardown);
	tcase_add_test(ta, test_daemon_killed_and_restarted);
	suite_add_tcase(s, ta);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(faults_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
