/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qrexec-proxy end: an administrator ends connections of the running
 * daemon by id, by source or by chain, over the control socket, whatever
 * their state (running, queued, admitting): their processes die, the
 * caller sees the end, each has one summary result=ended, and every
 * other call runs on, byte for byte. And the daemon's own ending of a
 * local peer's connections that send no descriptor (silent peers).
 */
#include <check.h>
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hash.h"
#include "testutil.h"

static const char config_body[] =
	"connector: [\"@B@/t/fake-connector\", \"{target}\", \"{service}\"]\n"
	"filter_path: [\"@B@/filters\"]\n"
	"chains:\n"
	"  pass3:\n"
	"    filters: [pass, pass, pass]\n"
	"  other:\n"
	"    filters: [pass]\n"
	"  admit-slow:\n"
	"    admit:\n"
	"      - name: \"@B@/t/test-filter\"\n"
	"        args: [hang]\n"
	"    filters: [pass]\n";

static struct daemon d;

/* a call from SOURCE through CHAIN for SERVICE, its descriptor sent */
static int call_from(const char *source, const char *chain, const char *service)
{
	char desc[256];
	snprintf(desc, sizeof(desc), "qrexec-proxy+%s+target-vm+%s %s", chain, service, source);
	return call_open(&d, desc);
}

/* the id of the connection whose log lines contain NEEDLE ("qrexec-proxy[ID]: ...NEEDLE") */
static void id_of(const char *needle, char id[17])
{
	ck_assert_msg(file_wait_for(d.log, needle, 10000), "no %s in the log", needle);
	char *log = file_read(d.log);
	char *p = strstr(log, needle);
	while (p > log && p[-1] != '\n')
		p--;
	char *b = strstr(p, "qrexec-proxy[");
	ck_assert_ptr_nonnull(b);
	memcpy(id, b + 13, 16);
	id[16] = '\0';
	free(log);
}

/* the id of the connection in STATE for SERVICE, as status shows it */
static void id_in_state(const char *state, const char *service, char id[17])
{
	const char *args[] = { "status", "--socket", d.sock, NULL };
	for (int64_t end = now_ms() + wait_ms(0); now_ms() < end; poll(NULL, 0, 50)) {
		int rc;
		char *out = proxy_capture(args, NULL, &rc, NULL), *save = NULL;
		for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			char lid[32], lstate[32];
			if (sscanf(line, "%31s %31s", lid, lstate) == 2 && strlen(lid) == 16 && !strcmp(lstate, state) &&
			    strstr(line, service)) {
				memcpy(id, lid, 17);
				free(out);
				return;
			}
		}
		free(out);
	}
	ck_abort_msg("no connection %s for %s", state, service);
}

/* the pid of the stand-in connector that serves SERVICE, once it has started */
static pid_t connector_of(const char *service)
{
	char needle[128];
	snprintf(needle, sizeof(needle), " %s ", service);
	ck_assert(file_wait_for(d.connlog, needle, 10000));
	char *log = file_read(d.connlog);
	char *p = strstr(log, needle);
	pid_t pid = (pid_t)atoi(p + strlen(needle));
	free(log);
	ck_assert_int_gt(pid, 0);
	return pid;
}

/* `qrexec-proxy end ARGS...`: its output, its exit code in *RC, its stderr in *ERR */
static char *end_run(int *rc, char **err, const char *a1, const char *a2, const char *a3)
{
	const char *args[] = { "end", "--socket", d.sock, a1, a2, a3, NULL };
	return proxy_capture(args, NULL, rc, err);
}

/* a caller that sees its connection end: EOF (or a reset) within the deadline */
static void assert_ended_for_caller(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char buf[4096];
	for (;;) {
		ck_assert_int_eq(poll(&p, 1, wait_ms(0)), 1);
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			break;
		ck_assert_int_gt(n, 0);
	}
	close(fd);
}

static void assert_ended_summary(const char *id, const char *tail)
{
	char needle[256];
	snprintf(needle, sizeof(needle), "connection %s: %s", id, tail);
	ck_assert_msg(file_wait_for(d.log, needle, 10000), "no summary %s", needle);
	snprintf(needle, sizeof(needle), "connection %s: source=", id);
	ck_assert_int_eq(file_count(d.log, needle), 1);
}

START_TEST(test_end_running_queued_admitting)
{
	static const char *const extra[] = { "--max-per-source", "1", "--admit-timeout", "300", NULL };
	daemon_start(&d, config_body, extra);
	/* running: its connector sleeps; queued: behind it (one per source); admitting: its check hangs */
	int running = call_from("a-vm", "pass3", "test.Sleep+300");
	pid_t conn = connector_of("test.Sleep+300");
	int queued = call_from("a-vm", "pass3", "test.Echo+queued");
	ck_assert(file_wait_for(d.log, "waits for a slot", 10000));
	int admitting = call_from("b-vm", "admit-slow", "test.Echo+admitting");
	char rid[17], qid[17], aid[17];
	id_of("calling test.Sleep+300", rid);
	id_in_state("queued", "test.Echo+queued", qid);
	id_in_state("admitting", "test.Echo+admitting", aid);
	pid_t check[4];
	for (int64_t end = now_ms() + wait_ms(0); processes_named("test-filter", check, 4) < 1 && now_ms() < end;)
		poll(NULL, 0, 20);
	ck_assert_int_eq(processes_named("test-filter", check, 4), 1);

	int rc;
	char *err, *out = end_run(&rc, &err, rid, NULL, NULL);
	ck_assert_msg(rc == 0, "end: %d: %s", rc, err);
	char want[256];
	snprintf(want, sizeof(want), "ended %s running a-vm pass3 target-vm test.Sleep+300\n", rid);
	ck_assert_str_eq(out, want);
	free(out);
	free(err);
	assert_ended_for_caller(running);
	ck_assert(wait_gone(conn, 0));
	assert_ended_summary(rid, "source=a-vm target=target-vm service=test.Sleep+300 chain=pass3 result=ended reason=\"ended by uid 0\"");
	/* the one queued behind it gets its slot: end it by id too */
	out = end_run(&rc, &err, qid, aid, NULL);
	ck_assert_msg(rc == 0, "end: %d: %s", rc, err);
	ck_assert_msg(strstr(out, "ended ") && strstr(out, aid) && strstr(out, " admitting b-vm admit-slow "), "%s", out);
	ck_assert_msg(strstr(out, qid), "%s", out);
	free(out);
	free(err);
	assert_ended_for_caller(queued);
	assert_ended_for_caller(admitting);
	assert_ended_summary(aid, "source=b-vm target=target-vm service=test.Echo+admitting chain=admit-slow result=ended reason=\"ended by uid 0\"");
	assert_ended_summary(qid, "source=a-vm target=target-vm service=test.Echo+queued chain=pass3 result=ended reason=\"ended by uid 0\"");
	/* the hanging admission check died with its connection */
	ck_assert(wait_gone(check[0], 0));
	assert_no_children_of(&d);
	/* and the daemon serves on */
	struct xfer x;
	call_transfer(call_from("a-vm", "pass3", "test.Echo"), 100000, 5, wait_ms(0), &x);
	ck_assert(x.recv == 100000 && x.recv_hash == x.sent_hash);
	daemon_teardown(&d);
}
END_TEST

/* one round trip of LEN bytes from SEED on FD (an echo), folded into *HASH */
static void echo_chunk(int fd, size_t len, uint64_t *seed, uint64_t *hash_sent, uint64_t *hash_recv)
{
	static char buf[1 << 16], back[1 << 16];
	fill_random(seed, buf, len);
	*hash_sent = hash_update(*hash_sent, buf, len);
	ck_assert_int_eq(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
	size_t got = 0;
	while (got < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ck_assert_int_eq(poll(&p, 1, wait_ms(0)), 1);
		ssize_t n = read(fd, back + got, len - got);
		ck_assert_int_gt(n, 0);
		got += (size_t)n;
	}
	*hash_recv = hash_update(*hash_recv, back, len);
}

START_TEST(test_end_by_source_and_chain)
{
	daemon_start(&d, config_body, NULL);
	int bad[5];
	for (int i = 0; i < 5; i++) {
		char service[32];
		snprintf(service, sizeof(service), "test.Sleep+30%d", i);
		bad[i] = call_from("bad-vm", i < 3 ? "pass3" : "other", service);
		connector_of(service);
	}
	/* another source's call, mid-way */
	int good = call_from("good-vm", "pass3", "test.Echo+good");
	uint64_t seed = 99, sent = HASH_INIT, recv = HASH_INIT;
	for (int i = 0; i < 8; i++)
		echo_chunk(good, 50000, &seed, &sent, &recv);

	int rc;
	char *err, *out = end_run(&rc, &err, "--source", "bad-vm", NULL);
	ck_assert_msg(rc == 0, "end: %d: %s", rc, err);
	int lines = 0;
	for (char *p = out; (p = strstr(p, "ended ")); p++)
		lines++;
	ck_assert_msg(lines == 5 && !strstr(out, "good-vm"), "%s", out);
	free(out);
	free(err);
	for (int i = 0; i < 5; i++)
		assert_ended_for_caller(bad[i]);
	ck_assert_int_eq(file_wait_count(d.log, "source=bad-vm target=target-vm", 5, 10000), 5);
	ck_assert_int_eq(file_count(d.log, "result=ended reason=\"ended by uid 0\""), 5);
	/* nothing of bad-vm's left to end; good-vm's call runs on, byte for byte */
	out = end_run(&rc, &err, "--source", "bad-vm", NULL);
	ck_assert_int_eq(rc, 1);
	ck_assert_msg(strstr(err, "nothing matched"), "%s", err);
	free(out);
	free(err);
	for (int i = 0; i < 8; i++)
		echo_chunk(good, 50000, &seed, &sent, &recv);
	ck_assert(sent == recv);
	/* by chain: the good call goes too, its summary with the bytes the book has heard of (all, here) */
	const char *status[] = { "status", "--socket", d.sock, "--json", NULL };
	for (int64_t end = now_ms() + wait_ms(0); now_ms() < end; poll(NULL, 0, 100)) {
		out = proxy_capture(status, NULL, &rc, NULL);
		bool told = strstr(out, "\"bytes_src2dst\":800000,\"bytes_dst2src\":800000") != NULL;
		free(out);
		if (told)
			break;
	}
	out = end_run(&rc, &err, "--chain", "pass3", NULL);
	ck_assert_msg(rc == 0 && strstr(out, "good-vm pass3"), "%d %s %s", rc, out, err);
	free(out);
	free(err);
	assert_ended_for_caller(good);
	ck_assert(file_wait_for(d.log, "source=good-vm target=target-vm service=test.Echo+good chain=pass3 result=ended", 10000));
	ck_assert(file_wait_for(d.log, "src2dst=800000 dst2src=800000", 10000));
	assert_no_children_of(&d);
	daemon_teardown(&d);
}
END_TEST

START_TEST(test_end_unknown_and_refused)
{
	daemon_start(&d, config_body, NULL);
	int fd = call_from("a-vm", "pass3", "test.Sleep+300");
	char id[17];
	id_of("calling test.Sleep+300", id);
	int rc;
	char *err, *out = end_run(&rc, &err, "0123456789abcdef", NULL, NULL);
	ck_assert_int_eq(rc, 1);
	ck_assert_str_eq(out, "");
	ck_assert_msg(strstr(err, "no connection 0123456789abcdef") && strstr(err, "nothing matched"), "%s", err);
	free(out);
	free(err);
	/* not an id at all: a usage error, asked of nobody */
	out = end_run(&rc, &err, "not-an-id", NULL, NULL);
	ck_assert_int_eq(rc, 100);
	free(out);
	free(err);
	out = end_run(&rc, &err, "--source", "a-vm", "--chain");
	ck_assert_int_eq(rc, 100);
	free(out);
	free(err);

	/* a peer that may not ask: the socket's mode opened, the daemon's own check refuses it */
	if (geteuid() == 0) {
		char control[400];
		snprintf(control, sizeof(control), "%s.control", d.sock);
		ck_assert_int_eq(chmod(d.dir, 0755), 0);
		ck_assert_int_eq(chmod(control, 0666), 0);
		int p[2];
		ck_assert_int_eq(pipe(p), 0);
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			if (setgroups(0, NULL) < 0 || setgid(4321) < 0 || setuid(4321) < 0)
				_exit(2);
			dup2(p[1], 2);
			char prog[512];
			snprintf(prog, sizeof(prog), "%s/qrexec-proxy", builddir());
			execl(prog, prog, "end", "--control", control, id, (char *)NULL);
			_exit(3);
		}
		close(p[1]);
		char ebuf[1024] = "";
		ssize_t k = read(p[0], ebuf, sizeof(ebuf) - 1);
		ebuf[k > 0 ? k : 0] = '\0';
		close(p[0]);
		int st;
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 111, "status 0x%x: %s", st, ebuf);
		ck_assert(file_wait_for(d.log, "control socket: refused a client (uid 4321)", 10000));
	}
	/* the connection is untouched */
	ck_assert_int_eq(file_count(d.log, "result=ended"), 0);
	ck_assert_int_eq(send(fd, "x", 1, MSG_NOSIGNAL), 1);
	out = end_run(&rc, &err, id, NULL, NULL);
	ck_assert_int_eq(rc, 0);
	free(out);
	free(err);
	assert_ended_for_caller(fd);
	daemon_teardown(&d);
}
END_TEST

/*
 * 40 sockets of one local peer that never send their descriptor, with
 * limits of 8 running and 8 queued: a legitimate call is served at once,
 * not after the descriptor timeout of the silent ones (10 s).
 */
START_TEST(test_silent_peer_costs_others_nothing)
{
	static const char *const extra[] = { "--max-connections", "8", "--max-queued", "8", NULL };
	daemon_start(&d, config_body, extra);
	/* the time of a call with nobody in the way */
	struct xfer x;
	int64_t t0 = now_ms();
	call_transfer(call_from("a-vm", "pass3", "test.Echo"), 1000, 1, wait_ms(0), &x);
	int64_t alone = now_ms() - t0;
	ck_assert(x.recv == 1000 && x.recv_hash == x.sent_hash);
	int silent[40];
	for (int i = 0; i < 40; i++)
		silent[i] = call_open(&d, NULL);
	/* the call comes after them in the socket's backlog */
	t0 = now_ms();
	call_transfer(call_from("a-vm", "pass3", "test.Echo"), 1000, 2, wait_ms(0), &x);
	int64_t took = now_ms() - t0;
	ck_assert(x.recv == 1000 && x.recv_hash == x.sent_hash);
	printf("silent peers: a call alone took %lld ms, after 40 silent sockets %lld ms\n", (long long)alone,
	       (long long)took);
	ck_assert_msg(took < alone + 500, "the call took %lld ms (alone: %lld ms)", (long long)took, (long long)alone);
	/* past twice the limit (16) of one peer's silent connections, the oldest went: 40 - 32, and one for the call */
	ck_assert_int_ge(file_wait_count(d.log, "connections without one", 9, 10000), 9);
	/* every silent one has its summary: dropped, or its descriptor timed out */
	for (int i = 0; i < 40; i++)
		close(silent[i]);
	ck_assert_int_eq(file_wait_count(d.log, "source=- target=- service=- chain=- result=refused reason=", 40, 30000), 40);
	daemon_teardown(&d);
}
END_TEST

static Suite *end_suite(void)
{
	Suite *s = suite_create("end");
	TCase *tc = tcase_create("end");
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_end_running_queued_admitting);
	tcase_add_test(tc, test_end_by_source_and_chain);
	tcase_add_test(tc, test_end_unknown_and_refused);
	tcase_add_test(tc, test_silent_peer_costs_others_nothing);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(end_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
