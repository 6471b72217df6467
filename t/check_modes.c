/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qrexec-proxy exec, run and check, driven as a caller would. */
#include <check.h>
#include <errno.h>
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

#include "timeout.h"
#include "hash.h"
#include "testutil.h"

static const char config_body[] =
	"connector: [\"@B@/t/fake-connector\", \"{target}\", \"{service}\"]\n"
	"filter_path: [\"@B@/filters\"]\n"
	"chains:\n"
	"  pass1:\n"
	"    filters: [pass]\n"
	"  pass3:\n"
	"    filters: [pass, pass, pass]\n"
	"  crash:\n"
	"    filters:\n"
	"      - name: \"@B@/t/test-filter\"\n"
	"        args: [crash-after, \"1000\"]\n"
	"  reader-gone:\n"
	"    filters:\n"
	"      - name: \"@B@/t/fault-filter\"\n"
	"        args: [close-in-fail, \"0\"]\n"
	"        direction: dst2src\n"
	"  admit-no:\n"
	"    admit: [/bin/false]\n"
	"    filters: []\n";

static char dir[256], config[300];

static void setup(void)
{
	make_tmpdir(dir, sizeof(dir));
	snprintf(config, sizeof(config), "%s/chains.yaml", dir);
	write_config(config, config_body);
}

static void teardown(void)
{
	rm_rf(dir);
}

START_TEST(test_exec_echo)
{
	struct proxy_run r;
	const char *args[] = { "exec", "--config", config, "--log", "stderr", "pass3+target-vm+test.Echo", NULL };
	const char *env[] = { "QREXEC_REMOTE_DOMAIN=work", NULL };
	proxy_run(args, env, 3 << 20, 11, &r);
	ck_assert_msg(proxy_run_exit(&r) == 0, "status 0x%x: %s", r.status, r.err);
	ck_assert_uint_eq(r.out_len, 3 << 20);
	ck_assert(r.out_hash == expected_hash(3 << 20, 11));
	ck_assert_ptr_nonnull(strstr(r.err, "result=ok"));
	proxy_run_free(&r);
}
END_TEST

START_TEST(test_exec_argument_from_environment)
{
	struct proxy_run r;
	const char *args[] = { "exec", "--config", config, "--log", "stderr", NULL };
	const char *env[] = { "QREXEC_REMOTE_DOMAIN=work", "QREXEC_SERVICE_ARGUMENT=pass1+target-vm+test.Echo",
			      NULL };
	proxy_run(args, env, 1000, 1, &r);
	ck_assert_int_eq(proxy_run_exit(&r), 0);
	ck_assert_uint_eq(r.out_len, 1000);
	proxy_run_free(&r);
}
END_TEST

START_TEST(test_exec_exit_codes)
{
	struct proxy_run r;
	const char *env[] = { "QREXEC_REMOTE_DOMAIN=work", NULL };
	const char *refused[] = { "exec", "--config", config, "--log", "stderr", "pass1+target-vm+test.Refused", NULL };
	proxy_run(refused, env, 0, 1, &r);
	ck_assert_int_eq(proxy_run_exit(&r), 126);
	const char *notfound[] = { "exec", "--config", config, "--log", "stderr", "pass1+target-vm+test.NotFound", NULL };
	proxy_run_free(&r);
	proxy_run(notfound, env, 0, 1, &r);
	ck_assert_int_eq(proxy_run_exit(&r), 127);
	const char *three[] = { "exec", "--config", config, "--log", "stderr", "pass1+target-vm+test.Exit+3", NULL };
	proxy_run_free(&r);
	proxy_run(three, env, 100, 1, &r);
	ck_assert_int_eq(proxy_run_exit(&r), 3);
	const char *admit[] = { "exec", "--config", config, "--log", "stderr", "admit-no+target-vm+test.Echo", NULL };
	proxy_run_free(&r);
	proxy_run(admit, env, 100, 1, &r);
	ck_assert_int_eq(proxy_run_exit(&r), 126);
	const char *crash[] = { "exec", "--config", config, "--log", "stderr", "crash+target-vm+test.Echo", NULL };
	proxy_run_free(&r);
	proxy_run(crash, env, 1 << 20, 1, &r);
	ck_assert_int_eq(proxy_run_exit(&r), 1);
	ck_assert_ptr_nonnull(strstr(r.err, "killed by signal 6"));
	/*
	 * The filter reading the connector goes away first (and fails): the
	 * connector dies of SIGPIPE before the abort ends it, but its death
	 * is the connection's failure, not a code of its own (not 141)
	 */
	const char *gone[] = { "exec", "--config", config, "--log", "stderr", "reader-gone+target-vm+test.Echo", NULL };
	proxy_run_free(&r);
	proxy_run(gone, env, 1 << 20, 1, &r);
	ck_assert_msg(proxy_run_exit(&r) == 1, "exit %d: %s", proxy_run_exit(&r), r.err);
	proxy_run_free(&r);
}
END_TEST

START_TEST(test_exec_refusal_has_its_summary)
{
	/* refused before anything ran, as serve's refusals: one summary with the source and the rule */
	struct proxy_run r;
	const char *env[] = { "QREXEC_REMOTE_DOMAIN=work", NULL };
	const char *args[] = { "exec", "--config", config, "--log", "stderr", "nope+target-vm+test.Echo", NULL };
	proxy_run(args, env, 10, 1, &r);
	ck_assert_int_eq(proxy_run_exit(&r), 126);
	ck_assert_msg(strstr(r.err, ": source=work target=target-vm service=test.Echo chain=nope result=refused reason=\"no chain 'nope' in the configuration\" "),
		      "%s", r.err);
	proxy_run_free(&r);
}
END_TEST

START_TEST(test_exec_says_nothing_to_the_caller)
{
	/* default logging: journal only; nothing on stdout/stderr for a refusal */
	struct proxy_run r;
	const char *env[] = { "QREXEC_REMOTE_DOMAIN=work", NULL };
	const char *args[] = { "exec", "--config", config, "no-such-chain+target-vm+test.Echo", NULL };
	proxy_run(args, env, 100, 1, &r);
	ck_assert_int_eq(proxy_run_exit(&r), 126);
	ck_assert_uint_eq(r.out_len, 0);
	ck_assert_str_eq(r.err, "");
	const char *bad[] = { "exec", "--config", config, "pass1+bad/vm+test.Echo", NULL };
	proxy_run_free(&r);
	proxy_run(bad, env, 100, 1, &r);
	ck_assert_int_eq(proxy_run_exit(&r), 126);
	ck_assert_str_eq(r.err, "");
	proxy_run_free(&r);
}
END_TEST

START_TEST(test_exec_argument_is_never_an_option)
{
	/*
	 * qrexec hands the caller's argument over as the last word of the
	 * command line (and in QREXEC_SERVICE_ARGUMENT): "-lstderr" there
	 * must not turn the log towards the caller, nor "--help" print usage.
	 */
	static const char *const hostile[] = { "-lstderr", "--log=stderr", "--help", "--", "-h" };
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		struct proxy_run r;
		char envarg[64];
		snprintf(envarg, sizeof(envarg), "QREXEC_SERVICE_ARGUMENT=%s", hostile[i]);
		const char *env[] = { "QREXEC_REMOTE_DOMAIN=work", envarg, NULL };
		const char *args[] = { "exec", "--config", config, hostile[i], NULL };
		proxy_run(args, env, 100, 1, &r);
		ck_assert_msg(proxy_run_exit(&r) == 126, "%s: status 0x%x", hostile[i], r.status);
		ck_assert_msg(r.err_len == 0, "%s: the caller was told: %s", hostile[i], r.err);
		ck_assert_uint_eq(r.out_len, 0);
		proxy_run_free(&r);
		/* nor without QREXEC_SERVICE_ARGUMENT (real qrexec always sets it): the last word is still the caller's */
		const char *env2[] = { "QREXEC_REMOTE_DOMAIN=work", NULL };
		proxy_run(args, env2, 100, 1, &r);
		ck_assert_msg(proxy_run_exit(&r) == 126, "%s without the variable: status 0x%x", hostile[i], r.status);
		ck_assert_msg(r.err_len == 0, "%s without the variable: the caller was told: %s", hostile[i], r.err);
		ck_assert_uint_eq(r.out_len, 0);
		proxy_run_free(&r);
		/* and with no option of the administrator's before it */
		const char *bare[] = { "exec", hostile[i], NULL };
		proxy_run(bare, env2, 100, 1, &r);
		ck_assert_msg(proxy_run_exit(&r) != 0 && r.err_len == 0, "%s alone: status 0x%x: %s", hostile[i], r.status,
			      r.err);
		ck_assert_uint_eq(r.out_len, 0);
		proxy_run_free(&r);
	}
	/* the administrator's options still count, their values too: the last word is one here */
	struct proxy_run r;
	const char *env[] = { "QREXEC_REMOTE_DOMAIN=work", "QREXEC_SERVICE_ARGUMENT=pass1+target-vm+test.Echo", NULL };
	const char *args[] = { "exec", "--log", "stderr", "--config", config, NULL };
	proxy_run(args, env, 100, 1, &r);
	ck_assert_msg(proxy_run_exit(&r) == 0, "status 0x%x: %s", r.status, r.err);
	ck_assert_ptr_nonnull(strstr(r.err, "result=ok"));
	proxy_run_free(&r);
}
END_TEST

START_TEST(test_check_warns_about_open_chains)
{
	/* a chain without targets or services forwards wherever dom0 lets it: check says so, and still passes */
	char cfg[400];
	snprintf(cfg, sizeof(cfg), "%s/fenced.yaml", dir);
	write_config(cfg, "filter_path: [\"@B@/filters\"]\n"
			  "chains:\n"
			  "  open:\n"
			  "    filters: [pass]\n"
			  "  fenced:\n"
			  "    targets: [vault]\n"
			  "    services: [qubes.Filecopy]\n"
			  "    filters: [pass]\n");
	struct proxy_run r;
	const char *args[] = { "check", "--config", cfg, NULL };
	proxy_run(args, NULL, 0, 0, &r);
	ck_assert_msg(proxy_run_exit(&r) == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.err, ":3:3: warning: chain 'open' has no 'targets'"));
	ck_assert_ptr_nonnull(strstr(r.err, "warning: chain 'open' has no 'services'"));
	ck_assert_ptr_null(strstr(r.err, "chain 'fenced' has no"));
	proxy_run_free(&r);
	/* and a bad entry is an error at its place */
	write_config(cfg, "chains:\n  a:\n    targets: [\"-x\"]\n    filters: []\n");
	proxy_run(args, NULL, 0, 0, &r);
	ck_assert_int_ne(proxy_run_exit(&r), 0);
	ck_assert_msg(strstr(r.err, ":3:15: '-x' in 'targets' of chain 'a' is not a qube name"), "%s", r.err);
	proxy_run_free(&r);
}
END_TEST

START_TEST(test_check_runs_the_filters_own_checks)
{
	/* a chain that cannot work is caught by check, at the step's args, by the filter itself */
	char cfg[400];
	snprintf(cfg, sizeof(cfg), "%s/args.yaml", dir);
	write_config(cfg, "filter_path: [\"@B@/filters\"]\n"
			  "chains:\n"
			  "  big:\n"
			  "    filters:\n"
			  "      - name: byte-limit\n"
			  "        args: [\"ten megs\"]\n"
			  "  slow:\n"
			  "    filters:\n"
			  "      - timeout\n"
			  "  rate:\n"
			  "    admit:\n"
			  "      - name: count\n"
			  "        args: [--interval, \"60\"]\n"
			  "    filters: []\n"
			  "  unknowing:\n"
			  "    filters: [/bin/cat]\n");
	struct proxy_run r;
	const char *args[] = { "check", "--config", cfg, NULL };
	proxy_run(args, NULL, 0, 0, &r);
	ck_assert_msg(proxy_run_exit(&r) == 100, "exit %d: %s", proxy_run_exit(&r), r.err);
	char want[600];
	snprintf(want, sizeof(want), "%s:6:15: filter 'byte-limit' of chain 'big' rejects its arguments: ", cfg);
	ck_assert_msg(strstr(r.err, want), "no '%s' in: %s", want, r.err);
	snprintf(want, sizeof(want), "%s:9:9: filter 'timeout' of chain 'slow' rejects its arguments: ", cfg);
	ck_assert_msg(strstr(r.err, want), "no '%s' in: %s", want, r.err);
	snprintf(want, sizeof(want), "%s:13:15: admission check 'count' of chain 'rate' rejects its arguments: ", cfg);
	ck_assert_msg(strstr(r.err, want), "no '%s' in: %s", want, r.err);
	/* a filter that knows nothing of check mode reads EOF, exits 0, and is no problem */
	ck_assert_msg(!strstr(r.err, "'unknowing'"), "%s", r.err);
	proxy_run_free(&r);

	/* fixed, the same file passes; a program that fails without knowing check mode is a warning only */
	write_config(cfg, "filter_path: [\"@B@/filters\"]\n"
			  "chains:\n"
			  "  big:\n"
			  "    targets: [vault]\n"
			  "    services: [qubes.Filecopy]\n"
			  "    admit: [/bin/false]\n"
			  "    filters:\n"
			  "      - name: byte-limit\n"
			  "        args: [\"10M\"]\n"
			  "      - name: timeout\n"
			  "        args: [--seconds, \"60\"]\n"
			  "      - /bin/cat\n");
	proxy_run(args, NULL, 0, 0, &r);
	ck_assert_msg(proxy_run_exit(&r) == 0, "exit %d: %s", proxy_run_exit(&r), r.err);
	ck_assert_msg(strstr(r.err, ":6:13: warning: admission check '/bin/false' of chain 'big' exited 1"), "%s",
		      r.err);
	proxy_run_free(&r);
}
END_TEST

START_TEST(test_each_mode_has_its_own_help)
{
	static const char *const modes[][3] = {
		{ "serve", "--allow-peer-uid", "QREXEC_SERVICE_ARGUMENT" },
		{ "exec", "QREXEC_SERVICE_ARGUMENT", "--allow-peer-uid" },
		{ "check", "chains.d", "--grace" },
		{ "run", "COMMAND", "--grace" },
		{ "policy", "--proxy-qube", "--socket" },
		{ "links", "--dir", "--grace" },
		{ "end", "--source", "--grace" },
		{ "status", "--socket", "--grace" },
	};
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct proxy_run r;
		const char *args[] = { modes[i][0], "--help", NULL };
		proxy_run(args, NULL, 0, 0, &r);
		ck_assert_int_eq(proxy_run_exit(&r), 0);
		ck_assert_uint_gt(r.out_len, 0);
		proxy_run_free(&r);
		/* the text itself: on stdout, which proxy_run only hashes; run it again through a pipe */
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "%s/qrexec-proxy %s --help", builddir(), modes[i][0]);
		FILE *p = popen(cmd, "r");
		ck_assert_ptr_nonnull(p);
		static char text[8192];
		size_t n = fread(text, 1, sizeof(text) - 1, p);
		text[n] = '\0';
		ck_assert_int_eq(pclose(p), 0);
		ck_assert_msg(strstr(text, modes[i][1]), "%s --help does not mention %s:\n%s", modes[i][0], modes[i][1], text);
		ck_assert_msg(!strstr(text, modes[i][2]), "%s --help mentions %s:\n%s", modes[i][0], modes[i][2], text);
	}
}
END_TEST

START_TEST(test_run_mode)
{
	struct proxy_run r;
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "%s/t/fake-connector", builddir());
	const char *args[] = { "run", "--config", config, "--source", "alice", "pass3", "--", "cat", NULL };
	proxy_run(args, NULL, 2 << 20, 5, &r);
	ck_assert_msg(proxy_run_exit(&r) == 0, "status 0x%x: %s", r.status, r.err);
	ck_assert_uint_eq(r.out_len, 2 << 20);
	ck_assert(r.out_hash == expected_hash(2 << 20, 5));
	ck_assert_ptr_nonnull(strstr(r.err, "source=alice"));
	const char *exit5[] = { "run", "--config", config, "pass1", "--", cmd, "x", "test.Exit+5", NULL };
	proxy_run_free(&r);
	proxy_run(exit5, NULL, 10, 5, &r);
	ck_assert_int_eq(proxy_run_exit(&r), 5);
	const char *nochain[] = { "run", "--config", config, "nope", "--", "cat", NULL };
	proxy_run_free(&r);
	proxy_run(nochain, NULL, 0, 5, &r);
	ck_assert_int_eq(proxy_run_exit(&r), 100);
	ck_assert_ptr_nonnull(strstr(r.err, "no chain 'nope'"));
	proxy_run_free(&r);
}
END_TEST

START_TEST(test_run_plain_on_a_terminal)
{
	/* a person reads run's lines on a terminal: no "<6>" before them; in a pipe (the journal's) they stay */
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	ck_assert_int_ge(m, 0);
	ck_assert_int_eq(grantpt(m), 0);
	ck_assert_int_eq(unlockpt(m), 0);
	char *slave = ptsname(m);
	ck_assert_ptr_nonnull(slave);
	char prog[512];
	snprintf(prog, sizeof(prog), "%s/qrexec-proxy", builddir());
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int t = open(slave, O_RDWR | O_NOCTTY);
		int nul = open("/dev/null", O_RDWR);
		if (t < 0 || nul < 0 || dup2(nul, 0) < 0 || dup2(nul, 1) < 0 || dup2(t, 2) < 0)
			_exit(98);
		execl(prog, prog, "run", "--config", config, "pass1", "--", "/bin/cat", (char *)NULL);
		_exit(99);
	}
	char text[8192];
	size_t len = 0;
	for (;;) {
		struct pollfd p = { .fd = m, .events = POLLIN };
		if (poll(&p, 1, wait_ms(0)) != 1)
			break;
		ssize_t k = read(m, text + len, sizeof(text) - 1 - len);
		if (k <= 0)
			break; /* EIO once the last holder of the terminal is gone */
		len += (size_t)k;
		if (strstr(text, "result="))
			break;
	}
	text[len] = '\0';
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	close(m);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x: %s", st, text);
	ck_assert_msg(strstr(text, "qrexec-proxy[") && strstr(text, "result=ok"), "%s", text);
	ck_assert_msg(!strstr(text, "<6>") && !strstr(text, "<5>") && !strstr(text, "<4>"), "priority prefixes on a terminal:\n%s",
		      text);
	/* and in a pipe, as before */
	struct proxy_run r;
	const char *args[] = { "run", "--config", config, "pass1", "--", "/bin/cat", NULL };
	proxy_run(args, NULL, 10, 1, &r);
	ck_assert_msg(strstr(r.err, "<6>qrexec-proxy["), "%s", r.err);
	proxy_run_free(&r);
}
END_TEST

START_TEST(test_check_mode)
{
	struct proxy_run r;
	const char *ok[] = { "check", "--config", config, NULL };
	proxy_run(ok, NULL, 0, 0, &r);
	ck_assert_int_eq(proxy_run_exit(&r), 0);

	char bad[300];
	snprintf(bad, sizeof(bad), "%s/bad.yaml", dir);
	write_config(bad, "chains:\n  x:\n    filters: [pass]\n    bogus: 1\n");
	const char *args[] = { "check", "--config", bad, NULL };
	proxy_run_free(&r);
	proxy_run(args, NULL, 0, 0, &r);
	ck_assert_int_eq(proxy_run_exit(&r), 100);
	char want[400];
	snprintf(want, sizeof(want), "%s:4:", bad);
	ck_assert_msg(strstr(r.err, want), "no position in: %s", r.err);
	proxy_run_free(&r);
}
END_TEST

START_TEST(test_usage_errors)
{
	struct proxy_run r;
	const char *a1[] = { "frobnicate", NULL };
	proxy_run(a1, NULL, 0, 0, &r);
	ck_assert_int_eq(proxy_run_exit(&r), 100);
	const char *a2[] = { "serve", "--source", "x", NULL };
	proxy_run_free(&r);
	proxy_run(a2, NULL, 0, 0, &r);
	ck_assert_int_eq(proxy_run_exit(&r), 100);
	const char *a3[] = { "serve", "--config", config, "--log", "stderr", NULL };
	proxy_run_free(&r);
	proxy_run(a3, NULL, 0, 0, &r);
	ck_assert_int_eq(proxy_run_exit(&r), 100);
	/* as root, without --allow-root; or, as a user, without a socket */
	ck_assert(strstr(r.err, "refusing to serve as root") || strstr(r.err, "no socket"));
	proxy_run_free(&r);
}
END_TEST

START_TEST(test_exec_one_socket_both_ways)
{
	/* stdin and stdout are one socket, as qrexec-agent may hand them over */
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(sv[1], 0);
		dup2(sv[1], 1);
		close(sv[0]);
		close(sv[1]);
		setenv("QREXEC_REMOTE_DOMAIN", "work", 1);
		char prog[512];
		snprintf(prog, sizeof(prog), "%s/qrexec-proxy", builddir());
		execl(prog, prog, "exec", "--config", config, "--log", "stderr", "pass3+target-vm+test.Hash",
		      (char *)NULL);
		_exit(99);
	}
	close(sv[1]);
	struct xfer x;
	uint64_t n = 1 << 20, h = expected_hash(n, 4);
	char want[64];
	int len = snprintf(want, sizeof(want), "%llu %016llx\n", (unsigned long long)n, (unsigned long long)h);
	call_transfer(sv[0], n, 4, 30000, &x);
	ck_assert(!x.timed_out);
	ck_assert_uint_eq(x.recv, (uint64_t)len);
	ck_assert(x.recv_hash == hash_update(HASH_INIT, want, (size_t)len));
	int status;
	waitpid(pid, &status, 0);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
END_TEST

START_TEST(test_socket_path)
{
	struct proxy_run r;
	char path[300];
	snprintf(path, sizeof(path), "%s/sock", dir);

	/* a bad configuration is reported before anything is bound: no stale socket */
	char bad[320];
	snprintf(bad, sizeof(bad), "%s/bad.yaml", dir);
	write_config(bad, "chains: {a: {filters: [no-such-filter]}}\n");
	const char *badargs[] = { "serve", "--config", bad, "--socket", path, "--log", "stderr", "--allow-root", NULL };
	proxy_run(badargs, NULL, 0, 0, &r);
	ck_assert_int_eq(proxy_run_exit(&r), 100);
	ck_assert_ptr_nonnull(strstr(r.err, "no-such-filter"));
	ck_assert_int_ne(access(path, F_OK), 0);
	proxy_run_free(&r);
	/* as is one whose filter rejects its own arguments */
	write_config(bad, "filter_path: [\"@B@/filters\"]\n"
			  "chains: {a: {filters: [{name: timeout, args: [--seconds, soon]}]}}\n");
	proxy_run(badargs, NULL, 0, 0, &r);
	ck_assert_int_eq(proxy_run_exit(&r), 100);
	ck_assert_msg(strstr(r.err, "bad.yaml:2:46: filter 'timeout' of chain 'a' rejects its arguments"), "%s", r.err);
	ck_assert_int_ne(access(path, F_OK), 0);
	proxy_run_free(&r);

	/* never replaces something that is not a socket */
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("precious\n", f);
	fclose(f);
	const char *args[] = { "serve", "--config", config, "--socket", path, "--log", "stderr",
			       "--allow-root", NULL };
	proxy_run(args, NULL, 0, 0, &r);
	ck_assert_int_eq(proxy_run_exit(&r), 111);
	ck_assert_ptr_nonnull(strstr(r.err, "exists and is not a socket"));
	char *kept = file_read(path);
	ck_assert_str_eq(kept, "precious\n");
	free(kept);
	unlink(path);

	/* a stale socket (nobody listening) is replaced */
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memcpy(sa.sun_path, path, strlen(path) + 1);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(s);
	struct daemon d;
	memset(&d, 0, sizeof(d));
	snprintf(d.sock, sizeof(d.sock), "%s", path);
	snprintf(d.log, sizeof(d.log), "%s/serve.log", dir);
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(d.log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 2);
		char prog[512];
		snprintf(prog, sizeof(prog), "%s/qrexec-proxy", builddir());
		execl(prog, prog, "serve", "--config", config, "--socket", path, "--log", "stderr",
		      "--allow-root", (char *)NULL);
		_exit(99);
	}
	ck_assert(file_wait_for(d.log, "serving", 10000));
	/* and a second daemon on the same live socket is refused */
	proxy_run_free(&r);
	proxy_run(args, NULL, 0, 0, &r);
	ck_assert_int_eq(proxy_run_exit(&r), 111);
	ck_assert_ptr_nonnull(strstr(r.err, "already listening"));
	kill(pid, SIGTERM);
	int status;
	waitpid(pid, &status, 0);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* its own socket is removed at exit */
	ck_assert_int_ne(access(path, F_OK), 0);
	proxy_run_free(&r);

	/* but not a socket that replaced it meanwhile: that one is not its to remove */
	snprintf(d.log, sizeof(d.log), "%s/serve2.log", dir);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(d.log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 2);
		char prog[512];
		snprintf(prog, sizeof(prog), "%s/qrexec-proxy", builddir());
		execl(prog, prog, "serve", "--config", config, "--socket", path, "--log", "stderr",
		      "--allow-root", (char *)NULL);
		_exit(99);
	}
	ck_assert(file_wait_for(d.log, "serving", 10000));
	char other[320];
	snprintf(other, sizeof(other), "%s.other", path);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	memcpy(sa.sun_path, other, strlen(other) + 1);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(rename(other, path), 0);
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_msg(access(path, F_OK) == 0, "the daemon removed a socket that was not its own");
	ck_assert(file_wait_for(d.log, "no longer the socket this daemon made", 1000));
	close(s);
	unlink(path);
}
END_TEST

static Suite *modes_suite(void)
{
	Suite *s = suite_create("modes");
	TCase *tc = tcase_create("modes");
	tcase_set_timeout(tc, test_timeout(120));
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_exec_echo);
	tcase_add_test(tc, test_exec_argument_from_environment);
	tcase_add_test(tc, test_exec_exit_codes);
	tcase_add_test(tc, test_exec_refusal_has_its_summary);
	tcase_add_test(tc, test_exec_argument_is_never_an_option);
	tcase_add_test(tc, test_exec_says_nothing_to_the_caller);
	tcase_add_test(tc, test_run_mode);
	tcase_add_test(tc, test_check_mode);
	tcase_add_test(tc, test_run_plain_on_a_terminal);
	tcase_add_test(tc, test_each_mode_has_its_own_help);
	tcase_add_test(tc, test_check_warns_about_open_chains);
	tcase_add_test(tc, test_check_runs_the_filters_own_checks);
	tcase_add_test(tc, test_usage_errors);
	tcase_add_test(tc, test_socket_path);
	tcase_add_test(tc, test_exec_one_socket_both_ways);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(modes_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
