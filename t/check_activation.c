/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Socket activation as systemd does it (LISTEN_FDS/LISTEN_PID, the socket
 * on fd 3): the daemon killed with connections running and more queued
 * in the backlog, then started again on the same socket: every queued
 * call is served, every byte checked, and the running one finishes too.
 * A configuration that does not load never takes the socket down: the
 * daemon starts anyway, refuses every call and takes the fixed file on
 * reload; 'qrexec-proxy reload' (ExecReload=) tells accepted from
 * rejected; and each connection's summary is written exactly once, by the
 * listener, with the same fields as before.
 */
#include <check.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "timeout.h"
#include "hash.h"
#include "testutil.h"

static const char config_body[] =
	"connector: [\"@B@/t/fake-connector\", \"{target}\", \"{service}\"]\n"
	"filter_path: [\"@B@/filters\"]\n"
	"chains:\n"
	"  pass3: {filters: [pass, pass, pass]}\n";

static pid_t start_activated(int lfd, const char *config, const char *log)
{
	char prog[512];
	snprintf(prog, sizeof(prog), "%s/qrexec-proxy", builddir());
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char buf[32];
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd < 0 || dup2(fd, 2) < 0 || dup2(lfd, 3) < 0)
			_exit(99);
		snprintf(buf, sizeof(buf), "%d", (int)getpid());
		setenv("LISTEN_PID", buf, 1);
		setenv("LISTEN_FDS", "1", 1);
		execl(prog, prog, "serve", "--config", config, "--log", "stderr", "--allow-root", (char *)NULL);
		_exit(98);
	}
	return pid;
}

/* a caller in its own process: sends N bytes, checks the echo; exit status says */
static pid_t caller(const struct daemon *d, uint64_t n, uint64_t seed, const char *service)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct xfer x;
		int fd = call_vm(d, "pass3", "target-vm", service);
		call_transfer(fd, n, seed, 60000, &x);
		_exit(!x.timed_out && x.recv == n && x.recv_hash == x.sent_hash ? 0 : 1);
	}
	return pid;
}

START_TEST(test_killed_and_restarted_with_queued_calls)
{
	struct daemon d;
	memset(&d, 0, sizeof(d));
	make_tmpdir(d.dir, sizeof(d.dir));
	snprintf(d.sock, sizeof(d.sock), "%s/s", d.dir);
	snprintf(d.config, sizeof(d.config), "%s/chains.yaml", d.dir);
	snprintf(d.log, sizeof(d.log), "%s/daemon.log", d.dir);
	snprintf(d.connlog, sizeof(d.connlog), "%s/connector.log", d.dir);
	write_config(d.config, config_body);
	setenv("FAKE_CONNECTOR_LOG", d.connlog, 1);

	/* the socket unit's part: bind and listen, keep the fd across restarts */
	int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	ck_assert_uint_lt(strlen(d.sock), sizeof(sa.sun_path));
	memcpy(sa.sun_path, d.sock, strlen(d.sock) + 1);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(lfd, 64), 0);

	pid_t dpid = start_activated(lfd, d.config, d.log);
	ck_assert(file_wait_for(d.log, "serving", 20000));
	pid_t running = caller(&d, 3 << 20, 1, "test.Sleep+2");
	ck_assert(file_wait_for(d.connlog, "start target-vm test.Sleep+2", 10000));

	/* the listener dies; its running connection is not its to end */
	ck_assert_int_eq(kill(dpid, SIGKILL), 0);
	int st;
	ck_assert_int_eq(waitpid(dpid, &st, 0), dpid);

	/* callers arrive while nobody accepts: they wait in the backlog */
	enum { QUEUED = 6 };
	pid_t q[QUEUED];
	for (int i = 0; i < QUEUED; i++)
		q[i] = caller(&d, (uint64_t)(256 << 10) + (uint64_t)i, 100 + (uint64_t)i, "test.Echo");
	poll(NULL, 0, 300);
	ck_assert_int_eq(file_count(d.connlog, "start target-vm test.Echo"), 0);

	dpid = start_activated(lfd, d.config, d.log);
	for (int i = 0; i < QUEUED; i++) {
		ck_assert_int_eq(waitpid(q[i], &st, 0), q[i]);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "queued call %d failed", i);
	}
	ck_assert_int_eq(waitpid(running, &st, 0), running);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the running call did not finish");
	ck_assert_int_eq(file_count(d.connlog, "start target-vm test.Echo"), QUEUED);

	/* the restarted daemon stops cleanly and leaves systemd's socket alone */
	kill(dpid, SIGTERM);
	ck_assert_int_eq(waitpid(dpid, &st, 0), dpid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ck_assert_int_eq(access(d.sock, F_OK), 0);
	close(lfd);
	rm_rf(d.dir);
}
END_TEST


/* the socket unit's part: bind and listen, keep the fd across restarts */
static int activation_socket(struct daemon *d)
{
	memset(d, 0, sizeof(*d));
	make_tmpdir(d->dir, sizeof(d->dir));
	snprintf(d->sock, sizeof(d->sock), "%s/s", d->dir);
	snprintf(d->config, sizeof(d->config), "%s/chains.yaml", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/daemon.log", d->dir);
	snprintf(d->connlog, sizeof(d->connlog), "%s/connector.log", d->dir);
	setenv("FAKE_CONNECTOR_LOG", d->connlog, 1);
	int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	ck_assert_uint_lt(strlen(d->sock), sizeof(sa.sun_path));
	memcpy(sa.sun_path, d->sock, strlen(d->sock) + 1);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(lfd, 64), 0);
	return lfd;
}

static void echo_ok(const struct daemon *d, const char *chain, uint64_t n)
{
	struct xfer x;
	int fd = call_vm(d, chain, "target-vm", "test.Echo");
	call_transfer(fd, n, n, wait_ms(20000), &x);
	ck_assert_msg(!x.timed_out && x.recv == n && x.recv_hash == x.sent_hash, "%s: %llu of %llu bytes", chain,
		      (unsigned long long)x.recv, (unsigned long long)n);
}

/* qrexec-proxy reload --pid PID: its exit code; its stderr in ERR (freed by the caller) */
static int reload(pid_t pid, char **err)
{
	char p[24];
	snprintf(p, sizeof(p), "%d", (int)pid);
	const char *args[] = { "reload", "--pid", p, NULL };
	struct proxy_run r;
	proxy_run(args, NULL, 0, 0, &r);
	int rc = proxy_run_exit(&r);
	*err = strdup(r.err ? r.err : "");
	proxy_run_free(&r);
	return rc;
}

static void stop(pid_t dpid, int lfd, struct daemon *d, bool remove)
{
	int st;
	kill(dpid, SIGTERM);
	ck_assert_int_eq(waitpid(dpid, &st, 0), dpid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ck_assert_int_eq(access(d->sock, F_OK), 0);
	close(lfd);
	if (remove)
		rm_rf(d->dir);
}

START_TEST(test_broken_at_start_then_fixed_by_reload)
{
	struct daemon d;
	int lfd = activation_socket(&d);
	/* line 4, column 26: a filter that does not exist */
	write_config(d.config, "connector: [\"@B@/t/fake-connector\", \"{target}\", \"{service}\"]\n"
			       "filter_path: [\"@B@/filters\"]\n"
			       "chains:\n"
			       "  pass3: {filters: [pass, no-such-filter]}\n");
	pid_t dpid = start_activated(lfd, d.config, d.log);
	ck_assert(file_wait_for(d.log, "refusing every call", wait_ms(20000)));
	char where[400];
	snprintf(where, sizeof(where), "%s:4:", d.config);
	ck_assert_msg(file_count(d.log, where) >= 1, "no %s in %s", where, file_read(d.log));
	ck_assert(file_count(d.log, "no-such-filter") >= 1);
	ck_assert(pid_alive(dpid));

	/* every call refused: EOF for the caller, a line each in the log */
	for (int i = 0; i < 3; i++)
		assert_refused(call_vm(&d, "pass3", "target-vm", "test.Echo"));
	ck_assert_int_eq(file_wait_count(d.log, "result=refused reason=\"the configuration did not load; fix it, then reload\"", 3, wait_ms(5000)), 3);
	ck_assert_int_eq(file_count(d.connlog, "start"), 0);

	/* still broken: the verdict says so, and calls are still refused */
	char *err;
	ck_assert_int_eq(reload(dpid, &err), 100);
	ck_assert_msg(strstr(err, "configuration rejected"), "%s", err);
	free(err);
	ck_assert(file_wait_for(d.log, "still refusing every call", wait_ms(5000)));
	assert_refused(call_vm(&d, "pass3", "target-vm", "test.Echo"));

	/* fixed: taken on reload, without a restart */
	write_config(d.config, config_body);
	ck_assert_int_eq(reload(dpid, &err), 0);
	ck_assert_msg(strstr(err, "configuration reloaded: 1 chains"), "%s", err);
	free(err);
	ck_assert(file_wait_for(d.log, "serving 1 chains and 0 transparent entries from", wait_ms(5000)));
	echo_ok(&d, "pass3", 100000);
	ck_assert_int_eq(file_count(d.connlog, "start target-vm test.Echo"), 1);
	stop(dpid, lfd, &d, true);
}
END_TEST

START_TEST(test_args_rejected_at_start)
{
	struct daemon d;
	int lfd = activation_socket(&d);
	write_config(d.config, "filter_path: [\"@B@/filters\"]\n"
			       "chains: {a: {filters: [{name: timeout, args: [--seconds, soon]}]}}\n");
	pid_t dpid = start_activated(lfd, d.config, d.log);
	ck_assert(file_wait_for(d.log, "refusing every call", wait_ms(20000)));
	char where[400];
	snprintf(where, sizeof(where), "%s:2:46: filter 'timeout' of chain 'a' rejects its arguments", d.config);
	ck_assert_msg(file_count(d.log, where) == 1, "no %s in %s", where, file_read(d.log));
	assert_refused(call_vm(&d, "a", "target-vm", "test.Echo"));
	ck_assert_int_eq(file_wait_count(d.log, "result=refused reason=\"the configuration did not load; fix it, then reload\"", 1, wait_ms(5000)), 1);
	/* SIGHUP alone (kill -HUP) takes the fixed file too */
	write_config(d.config, config_body);
	kill(dpid, SIGHUP);
	ck_assert(file_wait_for(d.log, "configuration reloaded from", wait_ms(10000)));
	echo_ok(&d, "pass3", 1000);
	stop(dpid, lfd, &d, true);
}
END_TEST

START_TEST(test_reload_verdict)
{
	struct daemon d;
	int lfd = activation_socket(&d);
	write_config(d.config, config_body);
	pid_t dpid = start_activated(lfd, d.config, d.log);
	ck_assert(file_wait_for(d.log, "serving 1 chains", wait_ms(20000)));

	/* rejected: exit 100, the previous configuration kept and served */
	write_config(d.config, "chains:\n  broken:\n    filters: [no-such-filter]\n");
	char *err;
	ck_assert_int_eq(reload(dpid, &err), 100);
	ck_assert_msg(strstr(err, "configuration rejected"), "%s", err);
	free(err);
	ck_assert_int_eq(file_count(d.log, "configuration not reloaded: keeping the previous one"), 1);
	echo_ok(&d, "pass3", 5000);
	/* its own arguments rejected: the same */
	write_config(d.config, "filter_path: [\"@B@/filters\"]\n"
			       "chains: {a: {filters: [{name: timeout, args: [--seconds, soon]}]}}\n");
	ck_assert_int_eq(reload(dpid, &err), 100);
	free(err);
	ck_assert_int_eq(file_count(d.log, "configuration not reloaded: keeping the previous one"), 2);

	/* accepted: exit 0 with the number of chains, which the status repeats */
	write_config(d.config, "connector: [\"@B@/t/fake-connector\", \"{target}\", \"{service}\"]\n"
			       "filter_path: [\"@B@/filters\"]\n"
			       "chains:\n"
			       "  pass3: {filters: [pass, pass, pass]}\n"
			       "  one: {filters: [pass]}\n");
	ck_assert_int_eq(reload(dpid, &err), 0);
	ck_assert_msg(strstr(err, "configuration reloaded: 2 chains"), "%s", err);
	free(err);
	ck_assert_int_eq(file_count(d.log, "serving 2 chains and 0 transparent entries from"), 1);
	echo_ok(&d, "one", 5000);

	/* no such process, or one that never answers: no verdict, exit 111 */
	pid_t quiet = fork();
	ck_assert_int_ge(quiet, 0);
	if (quiet == 0) {
		signal(SIGHUP, SIG_IGN);
		pause();
		_exit(0);
	}
	char p[24];
	snprintf(p, sizeof(p), "%d", (int)quiet);
	const char *args[] = { "reload", "--pid", p, "--timeout", "0.3", NULL };
	struct proxy_run r;
	proxy_run(args, NULL, 0, 0, &r);
	ck_assert_int_eq(proxy_run_exit(&r), 111);
	ck_assert_msg(strstr(r.err, "gave no verdict"), "%s", r.err);
	proxy_run_free(&r);
	kill(quiet, SIGKILL);
	waitpid(quiet, NULL, 0);
	stop(dpid, lfd, &d, true);
}
END_TEST

/*
 * Supervisors hand their summary to the listener, which writes it: still
 * exactly one line per connection, with every field, under the
 * connection's id.
 */
START_TEST(test_one_summary_per_connection)
{
	struct daemon d;
	int lfd = activation_socket(&d);
	write_config(d.config, config_body);
	pid_t dpid = start_activated(lfd, d.config, d.log);
	ck_assert(file_wait_for(d.log, "serving", wait_ms(20000)));
	enum { N = 40 };
	pid_t c[N];
	for (int i = 0; i < N; i++)
		c[i] = caller(&d, 1000 + (uint64_t)i, (uint64_t)i, "test.Echo");
	for (int i = 0; i < N; i++) {
		int st;
		ck_assert_int_eq(waitpid(c[i], &st, 0), c[i]);
		ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	ck_assert_int_eq(file_wait_count(d.log, " result=ok ", N, wait_ms(10000)), N);
	stop(dpid, lfd, &d, false);
	/* nothing more after the stop: each once */
	ck_assert_int_eq(file_count(d.log, " result=ok "), N);
	rm_rf(d.dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("activation");
	TCase *tc = tcase_create("activation");
	tcase_set_timeout(tc, test_timeout(180));
	tcase_add_test(tc, test_killed_and_restarted_with_queued_calls);
	tcase_add_test(tc, test_broken_at_start_then_fixed_by_reload);
	tcase_add_test(tc, test_args_rejected_at_start);
	tcase_add_test(tc, test_reload_verdict);
	tcase_add_test(tc, test_one_summary_per_connection);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
