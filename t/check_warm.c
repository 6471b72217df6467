/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The warm pipeline (orchestrator/warm.c), end to end through the real
 * `qrexec-proxy serve`: a spare starts the last chain's kit filters ahead;
 * the call that comes for that chain runs through those very processes,
 * each with its own connection's environment and nothing else; a call
 * for another chain, or one that has to wait for a slot, ends them
 * without their having seen a byte, and runs as it would have. The note
 * that marks a program that can be started ahead is checked on files.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "timeout.h"
#include "testutil.h"
#include "warm.h"

static const char config_body[] =
	"connector: [\"@B@/t/fake-connector\", \"{target}\", \"{service}\"]\n"
	"filter_path: [\"@B@/filters\"]\n"
	"chains:\n"
	"  envy:\n"
	"    filters:\n"
	"      - name: \"@B@/t/env-filter\"\n"
	"      - pass\n"
	"  plain:\n"
	"    filters: [pass]\n";

static struct daemon d;

static void teardown(void)
{
	daemon_teardown(&d);
}

/* waits until exactly N processes are named env-filter; fills PIDS */
static bool wait_env_filters(int n, pid_t *pids)
{
	int64_t end = now_ms() + wait_ms(0);
	for (;;) {
		if (processes_named("env-filter", pids, 16) == n)
			return true;
		if (now_ms() > end)
			return false;
		poll(NULL, 0, 20);
	}
}

/* "hello" there and back through an open call: the pipeline runs */
static void echo_hello(int fd)
{
	char buf[16];
	size_t got = 0;
	ck_assert_int_eq(write(fd, "hello", 5), 5);
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	int64_t end = now_ms() + wait_ms(0);
	while (got < 5 && now_ms() < end) {
		if (poll(&pf, 1, 100) <= 0)
			continue;
		ssize_t r = read(fd, buf + got, sizeof(buf) - got);
		ck_assert_int_gt(r, 0);
		got += (size_t)r;
	}
	ck_assert_uint_eq(got, 5);
	ck_assert(!memcmp(buf, "hello", 5));
}

static void finish(int fd)
{
	char buf[64];
	shutdown(fd, SHUT_WR);
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	int64_t end = now_ms() + wait_ms(0);
	for (;;) {
		ck_assert_msg(now_ms() < end, "no EOF");
		if (poll(&pf, 1, 100) <= 0)
			continue;
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r == 0)
			break;
		ck_assert_int_gt(r, 0);
	}
	close(fd);
}

/*
 * finish, then wait for the summary of SOURCE's call through CHAIN: its
 * filters are reaped by then. (Its EOF alone leaves them exiting, and an
 * env-filter still exiting would be counted with those started ahead.)
 */
static void finish_ended(int fd, const char *source, const char *chain)
{
	char needle[160];
	int before;
	snprintf(needle, sizeof(needle), "source=%s target=target-vm service=test.Echo+%s chain=%s result=", source,
		 source, chain);
	before = file_count(d.log, needle);
	finish(fd);
	ck_assert_msg(file_wait_count(d.log, needle, before + 1, wait_ms(0)) == before + 1, "no summary: %s", needle);
}

/* the connection id of the one summary of SOURCE's call through CHAIN (static) */
static const char *connection_of(const char *source, const char *chain)
{
	static char id[32];
	char want[160];
	snprintf(want, sizeof(want), "source=%s target=target-vm service=test.Echo+%s chain=%s result=ok", source,
		 source, chain);
	assert_daemon_log(&d, want);
	char *log = file_read(d.log);
	char *s = strstr(log, want);
	ck_assert_ptr_nonnull(s);
	/* "connection ID: source=..." */
	char *c = s;
	while (c > log && strncmp(c, "connection ", 11))
		c--;
	ck_assert(sscanf(c, "connection %31[0-9a-f]:", id) == 1);
	free(log);
	return id;
}

/* both directions of env-filter logged exactly the environment of SOURCE's connection */
static void assert_env_of(const char *source)
{
	const char *id = connection_of(source, "envy");
	const char *dirs[] = { "src2dst", "dst2src" };
	for (int i = 0; i < 2; i++) {
		char want[700];
		snprintf(want, sizeof(want),
			 "env QREXEC_REMOTE_DOMAIN=%s QREXEC_PROXY_CHAIN=envy QREXEC_PROXY_TARGET=target-vm QREXEC_PROXY_SERVICE=test.Echo+%s QREXEC_PROXY_CONNECTION=%s QREXEC_PROXY_DIRECTION=%s PATH=/usr/local/bin:/usr/bin:/bin prestart=(unset) count=7",
			 source, source, id, dirs[i]);
		assert_daemon_log(&d, want);
	}
}

/*
 * Waits until the daemon says its spare is ready with CHAIN's filters
 * started ahead (status --json): what the next call of CHAIN finds, on a
 * loaded machine as on an idle one.
 */
static void assert_spare_ahead(const char *chain)
{
	if (!daemon_wait_spare_ahead(&d, chain)) {
		char *st = daemon_status_json(&d);
		ck_abort_msg("the spare did not report %s's filters started ahead; status: %s", chain, st ? st : "(none)");
	}
}

static int call_from(const char *source, const char *chain)
{
	char desc[256];
	snprintf(desc, sizeof(desc), "qrexec-proxy+%s+target-vm+test.Echo+%s %s", chain, source, source);
	return call_open(&d, desc);
}

/* As root: a filter started ahead has nothing but QREXEC_PROXY_PRESTART=1 until its call comes. */
static void assert_bare_environment(pid_t pid)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && (errno == EACCES || errno == EPERM))
		return; /* not root: not ours to read */
	ck_assert_int_ge(fd, 0);
	ssize_t n = read(fd, buf, sizeof(buf));
	close(fd);
	ck_assert_int_eq(n, (ssize_t)sizeof("QREXEC_PROXY_PRESTART=1"));
	ck_assert(!memcmp(buf, "QREXEC_PROXY_PRESTART=1", sizeof("QREXEC_PROXY_PRESTART=1")));
}

START_TEST(test_warm_runs_the_call)
{
	pid_t ahead[16], now[16];
	daemon_start(&d, config_body, NULL);
	/* the first call is cold; its chain is the one the next spare warms */
	finish_ended(call_from("first-vm", "envy"), "first-vm", "envy");
	assert_env_of("first-vm");
	assert_spare_ahead("envy");
	ck_assert_msg(wait_env_filters(2, ahead), "the spare did not start envy's filters ahead");
	ck_assert(daemon_spare(&d) > 0);
	assert_bare_environment(ahead[0]);
	assert_bare_environment(ahead[1]);

	/* the call runs through those two processes: no other env-filter is started for it */
	int fd = call_from("second-vm", "envy");
	echo_hello(fd);
	ck_assert_int_eq(processes_named("env-filter", now, 16) >= 2, 1);
	int same = 0;
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 2; j++)
			same += now[i] == ahead[j];
	ck_assert_int_eq(same, 2);
	finish(fd);
	assert_env_of("second-vm");
	ck_assert(wait_gone(ahead[0], 0) && wait_gone(ahead[1], 0));
	/* and a third, through the next spare's */
	assert_spare_ahead("envy");
	ck_assert(wait_env_filters(2, ahead));
	finish(call_from("third-vm", "envy"));
	assert_env_of("third-vm");
	ck_assert_int_eq(file_count(d.log, "result=ok"), 3);
}
END_TEST

START_TEST(test_warm_other_chain)
{
	pid_t ahead[16];
	daemon_start(&d, config_body, NULL);
	finish_ended(call_from("first-vm", "envy"), "first-vm", "envy");
	assert_spare_ahead("envy");
	ck_assert(wait_env_filters(2, ahead));
	/* a call for another chain: envy's filters started ahead end, having seen nothing */
	struct xfer x;
	int fd = call_from("other-vm", "plain");
	call_transfer(fd, 100000, 7, wait_ms(0), &x);
	ck_assert(!x.timed_out);
	ck_assert_uint_eq(x.recv, 100000);
	ck_assert(x.recv_hash == x.sent_hash);
	ck_assert(wait_gone(ahead[0], 0) && wait_gone(ahead[1], 0));
	connection_of("other-vm", "plain");
	/*
	 * The spares start plain ahead from now on (one forked before
	 * other-vm's call asked for its slot, which under load may take
	 * longer than SPARE_HINT_WAIT_MS, guesses envy and is replaced once
	 * the daemon is idle): no env-filter any more, and none logged but
	 * the first call's two.
	 */
	assert_spare_ahead("plain");
	ck_assert(wait_env_filters(0, ahead));
	ck_assert_int_eq(file_count(d.log, "env QREXEC_REMOTE_DOMAIN="), 2);
}
END_TEST

START_TEST(test_warm_not_kept_while_queued)
{
	pid_t pids[16], running[16];
	const char *args[] = { "--max-per-source", "1", NULL };
	daemon_start(&d, config_body, args);
	finish_ended(call_from("first-vm", "envy"), "first-vm", "envy");
	assert_spare_ahead("envy");
	ck_assert(wait_env_filters(2, running));
	/* q-vm holds its one slot (through the filters started ahead) */
	int held = call_from("q-vm", "envy");
	echo_hello(held);
	/* the next spare warms envy again, next to the running call */
	assert_spare_ahead("envy");
	ck_assert(wait_env_filters(4, pids));
	pid_t ahead[2];
	int k = 0;
	for (int i = 0; i < 4; i++)
		if (pids[i] != running[0] && pids[i] != running[1] && k < 2)
			ahead[k++] = pids[i];
	ck_assert_int_eq(k, 2);
	/*
	 * q-vm's second call waits for a slot: the filters started for it
	 * end while it waits (the spare after it may start others)
	 */
	int queued = call_from("q-vm", "envy");
	assert_daemon_log(&d, "waits for a slot");
	ck_assert(wait_gone(ahead[0], 0) && wait_gone(ahead[1], 0));
	ck_assert(pid_alive(running[0]) && pid_alive(running[1]));
	/* the slot frees: it runs, with filters started for it then, and its own environment */
	finish(held);
	echo_hello(queued);
	finish(queued);
	ck_assert_int_eq(file_wait_count(d.log, "source=q-vm target=target-vm service=test.Echo+q-vm chain=envy result=ok", 2, wait_ms(0)), 2);
	ck_assert_int_eq(file_count(d.log, "QREXEC_REMOTE_DOMAIN=q-vm"), 4);
}
END_TEST

START_TEST(test_warm_filter_died)
{
	pid_t ahead[16];
	daemon_start(&d, config_body, NULL);
	finish_ended(call_from("first-vm", "envy"), "first-vm", "envy");
	assert_spare_ahead("envy");
	ck_assert(wait_env_filters(2, ahead));
	/* one of the filters started ahead dies while it waits (the OOM killer, say) */
	ck_assert_int_eq(kill(ahead[0], SIGKILL), 0);
	ck_assert(wait_gone(ahead[0], 0));
	/* the call does not take the broken pipeline: it starts its own, and runs */
	finish(call_from("second-vm", "envy"));
	assert_env_of("second-vm");
	ck_assert(wait_gone(ahead[1], 0));
	ck_assert_int_eq(file_count(d.log, "result=ok"), 2);
	ck_assert_int_eq(file_count(d.log, "result=failed"), 0);
}
END_TEST

/* ---- the note ---- */

static char *built(const char *rel)
{
	static char path[512];
	snprintf(path, sizeof(path), "%s/%s", getenv("QP_BUILDDIR") ? getenv("QP_BUILDDIR") : ".", rel);
	return path;
}

START_TEST(test_note)
{
	ck_assert(warm_capable(built("filters/pass")));
	ck_assert(warm_capable(built("filters/byte-limit")));
	ck_assert(warm_capable(built("t/env-filter")));
	/* a kit filter without QPF_PRESTART, a program of no kit, and what is no program */
	ck_assert(!warm_capable(built("t/filter-misbehave")));
	ck_assert(!warm_capable(built("t/fake-connector")));
	ck_assert(!warm_capable("/bin/sh"));
	ck_assert(!warm_capable("/nonexistent/filter"));
	ck_assert(!warm_capable("/dev/null"));
	ck_assert(!warm_capable("/etc/passwd"));

	/* a copy of pass cut short, and one whose note lies about its sizes */
	char dir[256], cut[300], bent[300];
	make_tmpdir(dir, sizeof(dir));
	snprintf(cut, sizeof(cut), "%s/cut", dir);
	snprintf(bent, sizeof(bent), "%s/bent", dir);
	char *img = NULL;
	size_t len = 0;
	{
		FILE *f = fopen(built("filters/pass"), "rb");
		ck_assert_ptr_nonnull(f);
		img = malloc(1 << 22);
		ck_assert_ptr_nonnull(img);
		len = fread(img, 1, 1 << 22, f);
		fclose(f);
	}
	/* where the note's name is: its header is the 12 bytes before */
	static const unsigned char hdr[] = { 13, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 'q', 'r', 'e', 'x', 'e', 'c', '-',
					     'p', 'r', 'o', 'x', 'y', 0 };
	size_t at = 0;
	for (size_t i = 0; i + sizeof(hdr) <= len && !at; i++)
		if (!memcmp(img + i, hdr, sizeof(hdr)))
			at = i;
	ck_assert_uint_gt(at, 0);
	FILE *f = fopen(cut, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(img, 1, at + 6, f), at + 6);
	fclose(f);
	ck_assert(!warm_capable(cut));
	uint32_t huge = 0xfffffff0u;
	memcpy(img + at, &huge, sizeof(huge));
	f = fopen(bent, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(img, 1, len, f), len);
	fclose(f);
	ck_assert(!warm_capable(bent));
	free(img);
	unlink(cut);
	unlink(bent);
	rmdir(dir);
}
END_TEST

static Suite *warm_suite(void)
{
	Suite *s = suite_create("warm");
	TCase *tc = tcase_create("daemon");
	tcase_set_timeout(tc, test_timeout(240));
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_warm_runs_the_call);
	tcase_add_test(tc, test_warm_other_chain);
	tcase_add_test(tc, test_warm_not_kept_while_queued);
	tcase_add_test(tc, test_warm_filter_died);
	suite_add_tcase(s, tc);
	TCase *tn = tcase_create("note");
	tcase_add_test(tn, test_note);
	suite_add_tcase(s, tn);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(warm_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
