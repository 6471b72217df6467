/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Socket activation as systemd does it (LISTEN_FDS/LISTEN_PID, the socket
 * on fd 3): the daemon killed with connections running and more queued
 * in the backlog, then started again on the same socket: every queued
 * call is served, every byte checked, and the running one finishes too.
 */
#include <check.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

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

int main(void)
{
	Suite *s = suite_create("activation");
	TCase *tc = tcase_create("activation");
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_killed_and_restarted_with_queued_calls);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
