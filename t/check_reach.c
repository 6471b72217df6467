/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Programs and directories their users cannot use (orchestrator/reach.c):
 * check, serve and reload say so at the place in the file, naming the
 * path, the directory in the way, its mode, and what to do; a state
 * directory the admission checks cannot write is said at start and by
 * check; a directory the sandbox cannot reach is never fatal by itself.
 * As root, the sandboxes run as nobody: those cases need root.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static char dir[256], config[300];

static void setup(void)
{
	make_tmpdir(dir, sizeof(dir));
	snprintf(config, sizeof(config), "%s/chains.yaml", dir);
}

static void teardown(void)
{
	rm_rf(dir);
}

/* `qrexec-proxy check` on BODY, with ENV; its exit code, and its stderr in *ERR */
static int check_config(const char *body, const char *const *env, char **err)
{
	write_config(config, body);
	const char *args[] = { "check", "--config", config, NULL };
	int rc;
	free(proxy_capture(args, env, &rc, err));
	return rc;
}

/* a copy of the built pass filter at PATH, mode MODE */
static void copy_filter(const char *path, mode_t mode)
{
	char src[512];
	snprintf(src, sizeof(src), "%s/filters/pass", builddir());
	FILE *in = fopen(src, "rb"), *out = fopen(path, "wb");
	ck_assert(in && out);
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
	fclose(in);
	ck_assert_int_eq(fclose(out), 0);
	ck_assert_int_eq(chmod(path, mode), 0);
}

START_TEST(test_connector_that_does_not_exist)
{
	char *err;
	int rc = check_config("connector: [/nonexistent/qrexec-client-vm, \"{target}\", \"{service}\"]\n"
			      "filter_path: [\"@B@/filters\"]\n"
			      "chains:\n"
			      "  a:\n"
			      "    filters: [pass]\n"
			      "  b:\n"
			      "    connector: [\"@B@/t/no-such-connector\"]\n"
			      "    filters: []\n",
			      NULL, &err);
	ck_assert_msg(rc == 100, "exit %d: %s", rc, err);
	char want[600];
	snprintf(want, sizeof(want), "%s:1:13: the connector '/nonexistent/qrexec-client-vm' does not exist (there is no /nonexistent)\n",
		 config);
	ck_assert_msg(strstr(err, want), "no '%s' in:\n%s", want, err);
	snprintf(want, sizeof(want), "%s:7:17: the connector '%s/t/no-such-connector' of chain 'b' does not exist\n", config,
		 builddir());
	ck_assert_msg(strstr(err, want), "no '%s' in:\n%s", want, err);
	free(err);
	/* the default, not written in the file (no qrexec-client-vm on a build machine): a warning */
	rc = check_config("filter_path: [\"@B@/filters\"]\nchains:\n  a:\n    filters: [pass]\n", NULL, &err);
	ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
	free(err);
}
END_TEST

START_TEST(test_programs_the_sandbox_user_cannot_run)
{
	if (geteuid() != 0) {
		printf("reach: not root: the sandboxes run as this user, who runs what it can\n");
		return;
	}
	/* a filter in a directory only root may enter (mktemp -d), and one only root may execute */
	char closed[300], inside[400], open_dir[300], privy[400];
	snprintf(closed, sizeof(closed), "%s/closed", dir);
	snprintf(inside, sizeof(inside), "%s/myfilter", closed);
	snprintf(open_dir, sizeof(open_dir), "%s/open", dir);
	snprintf(privy, sizeof(privy), "%s/rootonly", open_dir);
	ck_assert_int_eq(chmod(dir, 0755), 0);
	ck_assert_int_eq(mkdir(closed, 0700), 0);
	ck_assert_int_eq(mkdir(open_dir, 0755), 0);
	copy_filter(inside, 0755);
	copy_filter(privy, 0700);
	char body[2048];
	snprintf(body, sizeof(body),
		 "connector: [\"@B@/t/fake-connector\", \"{target}\", \"{service}\"]\n"
		 "chains:\n"
		 "  a:\n"
		 "    filters: [\"%s\"]\n"
		 "  b:\n"
		 "    admit: [\"%s\"]\n"
		 "    filters: []\n",
		 inside, privy);
	char *err;
	int rc = check_config(body, NULL, &err);
	ck_assert_msg(rc == 100, "exit %d: %s", rc, err);
	char want[4096];
	snprintf(want, sizeof(want),
		 "%s:4:15: filter '%s' of chain 'a' cannot be reached by nobody (uid 65534), the user the sandboxes run as: %s is mode 0700, owner root; move it, or make %s searchable (chmod o+x %s)\n",
		 config, inside, closed, closed, closed);
	ck_assert_msg(strstr(err, want), "no '%s' in:\n%s", want, err);
	snprintf(want, sizeof(want),
		 "%s:6:13: admission check '%s' of chain 'b' is not executable by nobody (uid 65534), the user the sandboxes run as: it is mode 0700, owner root; make it executable for them (chmod o+rx %s), or move it\n",
		 config, privy, privy);
	ck_assert_msg(strstr(err, want), "no '%s' in:\n%s", want, err);
	/* not the sandbox's failure to start: the programs were never run */
	ck_assert_msg(!strstr(err, "unable to isolate") && !strstr(err, "Landlock"), "%s", err);
	free(err);

	/* serve says the same before it binds its socket, and exits 100 */
	char sock[400];
	snprintf(sock, sizeof(sock), "%s/s.sock", dir);
	const char *serve[] = { "serve", "--config", config, "--socket", sock, "--allow-root", "--log", "stderr", NULL };
	free(proxy_capture(serve, NULL, &rc, &err));
	ck_assert_msg(rc == 100, "exit %d: %s", rc, err);
	ck_assert_msg(strstr(err, "cannot be reached by nobody") && strstr(err, "is not executable by nobody"), "%s", err);
	ck_assert_int_eq(access(sock, F_OK), -1);
	free(err);

	/* made reachable, as the message says: good */
	ck_assert_int_eq(chmod(closed, 0711), 0);
	ck_assert_int_eq(chmod(privy, 0755), 0);
	rc = check_config(body, NULL, &err);
	ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
	free(err);
}
END_TEST

START_TEST(test_state_directory)
{
	if (geteuid() != 0) {
		printf("reach: not root: the admission checks run as this user, who owns its state directory\n");
		return;
	}
	static const char counted[] =
		"connector: [\"@B@/t/fake-connector\", \"{target}\", \"{service}\"]\n"
		"filter_path: [\"@B@/filters\"]\n"
		"chains:\n"
		"  counted:\n"
		"    admit:\n"
		"      - name: count\n"
		"        args: [--limit, \"5\", --interval, \"60\"]\n"
		"    filters: [pass]\n";
	/* inside a directory nobody may enter (a mktemp -d, as /root) */
	char state[400], env[500];
	snprintf(state, sizeof(state), "%s/state", dir);
	ck_assert_int_eq(mkdir(state, 0755), 0);
	snprintf(env, sizeof(env), "STATE_DIRECTORY=%s", state);
	const char *envs[] = { env, NULL };
	char *err;
	int rc = check_config(counted, envs, &err);
	ck_assert_msg(rc == 100, "exit %d: %s", rc, err);
	char want[4096];
	snprintf(want, sizeof(want),
		 "the state directory STATE_DIRECTORY=%s cannot be reached by nobody (uid 65534), the user the admission checks run as: %s is mode 0700, owner root; move it, or make %s searchable (chmod o+x %s)\n",
		 state, dir, dir, dir);
	ck_assert_msg(strstr(err, want), "no '%s' in:\n%s", want, err);
	free(err);
	/* reachable, but root's alone (systemd's StateDirectory= of a root unit, mode 0700) */
	ck_assert_int_eq(chmod(dir, 0755), 0);
	ck_assert_int_eq(chmod(state, 0700), 0);
	rc = check_config(counted, envs, &err);
	ck_assert_msg(rc == 100, "exit %d: %s", rc, err);
	snprintf(want, sizeof(want),
		 "the state directory STATE_DIRECTORY=%s is not writable by nobody (uid 65534), the user the admission checks run as: it is mode 0700, owner root; make it theirs (chown nobody %s), or run the daemon as its own user (the unit's User=)\n",
		 state, state);
	ck_assert_msg(strstr(err, want), "no '%s' in:\n%s", want, err);
	free(err);
	/* serve: the same, at start */
	char sock[400];
	snprintf(sock, sizeof(sock), "%s/s.sock", dir);
	const char *serve[] = { "serve", "--config", config, "--socket", sock, "--allow-root", "--log", "stderr", NULL };
	free(proxy_capture(serve, envs, &rc, &err));
	ck_assert_msg(rc == 100 && strstr(err, "is not writable by nobody"), "exit %d: %s", rc, err);
	free(err);
	/* nobody's: good */
	ck_assert_int_eq(chown(state, 65534, 65534), 0);
	rc = check_config(counted, envs, &err);
	ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
	free(err);
}
END_TEST

START_TEST(test_unreachable_state_directory_is_no_reason_to_stop)
{
	/*
	 * Without admission checks the state directory is nobody's concern:
	 * where the sandbox user cannot even reach it, nothing needs hiding
	 * there, and the daemon starts and serves (it once failed to "cover
	 * directories with an empty tmpfs").
	 */
	char base[400], state[500];
	/* not under /tmp, /home or /root, which every sandbox covers whole first */
	snprintf(base, sizeof(base), "%s/t/qp-state.XXXXXX", builddir());
	ck_assert_ptr_nonnull(mkdtemp(base));
	snprintf(state, sizeof(state), "%s/state", base);
	ck_assert_int_eq(mkdir(state, 0700), 0);
	ck_assert_int_eq(setenv("STATE_DIRECTORY", state, 1), 0);
	struct daemon d;
	daemon_start(&d, "connector: [\"@B@/t/fake-connector\", \"{target}\", \"{service}\"]\n"
			 "filter_path: [\"@B@/filters\"]\n"
			 "chains:\n"
			 "  pass3:\n"
			 "    filters: [pass, pass, pass]\n",
		     NULL);
	struct xfer x;
	call_transfer(call_vm(&d, "pass3", "target-vm", "test.Echo"), 100000, 3, wait_ms(0), &x);
	ck_assert(x.recv == 100000 && x.recv_hash == x.sent_hash);
	ck_assert_int_eq(file_count(d.log, "unable to isolate"), 0);
	daemon_teardown(&d);
	unsetenv("STATE_DIRECTORY");
	rm_rf(base);
}
END_TEST

START_TEST(test_reload_refuses_a_missing_connector)
{
	struct daemon d;
	static const char good[] = "connector: [\"@B@/t/fake-connector\", \"{target}\", \"{service}\"]\n"
				   "chains:\n"
				   "  direct:\n"
				   "    filters: []\n";
	daemon_start(&d, good, NULL);
	write_config(d.config, "connector: [/nonexistent/qrexec-client-vm, \"{target}\", \"{service}\"]\n"
			       "chains:\n"
			       "  direct:\n"
			       "    filters: []\n");
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)d.pid);
	const char *args[] = { "reload", "--pid", pid, NULL };
	int rc;
	free(proxy_capture(args, NULL, &rc, NULL));
	ck_assert_int_eq(rc, 100);
	char want[600];
	snprintf(want, sizeof(want), "%s:1:13: the connector '/nonexistent/qrexec-client-vm' does not exist", d.config);
	assert_daemon_log(&d, want);
	assert_daemon_log(&d, "configuration not reloaded: keeping the previous one");
	/* the previous configuration serves on */
	struct xfer x;
	call_transfer(call_vm(&d, "direct", "target-vm", "test.Echo"), 1000, 3, wait_ms(0), &x);
	ck_assert(x.recv == 1000 && x.recv_hash == x.sent_hash);
	daemon_teardown(&d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("reach");
	TCase *tc = tcase_create("reach");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_connector_that_does_not_exist);
	tcase_add_test(tc, test_programs_the_sandbox_user_cannot_run);
	tcase_add_test(tc, test_state_directory);
	tcase_add_test(tc, test_unreachable_state_directory_is_no_reason_to_stop);
	tcase_add_test(tc, test_reload_refuses_a_missing_connector);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
