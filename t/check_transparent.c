/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Transparent mode, end to end: descriptors of ordinary services (as the
 * proxy qube's agent hands them over after dom0 redirected a call)
 * through the real `qrexec-proxy serve`, the chains of the entries and
 * the stand-in connector, bytes hashed; `exec` under another service name;
 * `links` in a temporary directory; what `check` says about the list.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "timeout.h"
#include "hash.h"
#include "testutil.h"

/*
 * limited: the destination gets at most 1000 bytes, so the answer of
 * test.Echo is cut to them too. fenced: allowlists that refuse some of the
 * calls its transparent entries would make.
 */
static const char config_body[] =
	"connector: [\"@B@/t/fake-connector\", \"{target}\", \"{service}\"]\n"
	"filter_path: [\"@B@/filters\"]\n"
	"chains:\n"
	"  limited:\n"
	"    filters:\n"
	"      - pass\n"
	"      - name: byte-limit\n"
	"        args: [\"1000\"]\n"
	"        direction: src2dst\n"
	"  fenced:\n"
	"    sources: [work]\n"
	"    targets: [hash-vm]\n"
	"    services: [test.Hash+, test.Upper+]\n"
	"    filters: [pass]\n"
	"transparent:\n"
	"  - service: test.Echo\n"
	"    sources: [work, personal]\n"
	"    target: target-vm\n"
	"    chain: limited\n"
	"  - service: test.Hash\n"
	"    target: hash-vm\n"
	"    chain: fenced\n"
	"  - service: test.Upper\n"
	"    target: target-vm\n"
	"    chain: fenced\n";

static struct daemon d;

static void setup(void)
{
	daemon_start(&d, config_body, NULL);
}

static void teardown(void)
{
	daemon_teardown(&d);
}

/* the connector's "end PID BYTES HASH" line for what reached the destination */
static void assert_dest_got(uint64_t nbytes, uint64_t hash)
{
	char want[128];
	snprintf(want, sizeof(want), " %" PRIu64 " %016" PRIx64 "\n", nbytes, hash);
	if (!file_wait_for(d.connlog, want, 10000)) {
		char *s = file_read(d.connlog), *l = file_read(d.log);
		ck_abort_msg("the destination did not get %" PRIu64 " bytes with hash %016" PRIx64
			     "; connector log:\n%s\ndaemon log:\n%s", nbytes, hash, s, l);
	}
}

START_TEST(test_reaches_the_entry_target)
{
	/*
	 * "test.Echo+x work": the entry sends it to target-vm as test.Echo+x
	 * through chain limited, whose byte-limit cuts the upload after 1000
	 * bytes; the echo brings those back.
	 */
	struct xfer x;
	int fd = call_open(&d, "test.Echo+x work");
	call_transfer(fd, 100000, 31, 60000, &x);
	ck_assert(!x.timed_out);
	ck_assert_int_eq(x.writer_status, 0);
	ck_assert_uint_eq(x.recv, 1000);
	ck_assert(x.recv_hash == expected_hash(1000, 31));
	ck_assert(file_wait_for(d.connlog, "start target-vm test.Echo+x ", wait_ms(0)));
	assert_dest_got(1000, expected_hash(1000, 31));
	assert_daemon_log(&d, "source=work target=target-vm service=test.Echo+x chain=limited result=ok");
	assert_daemon_log(&d, "src2dst=100000 dst2src=1000");

	/* the second source of the entry; an argument with '+' passes unchanged */
	fd = call_open(&d, "test.Echo+a+b.c personal");
	call_transfer(fd, 500, 32, 60000, &x);
	ck_assert_uint_eq(x.recv, 500);
	ck_assert(x.recv_hash == expected_hash(500, 32));
	ck_assert(file_wait_for(d.connlog, "start target-vm test.Echo+a+b.c ", wait_ms(0)));
	assert_daemon_log(&d, "source=personal target=target-vm service=test.Echo+a+b.c chain=limited result=ok");
	assert_no_children_of(&d);
}
END_TEST

START_TEST(test_empty_argument)
{
	/* qrexec's "no argument" (an empty one): SERVICE alone, as qrexec-daemon adds the '+' back */
	struct xfer x;
	int fd = call_open(&d, "test.Echo+ work");
	call_transfer(fd, 10, 33, 60000, &x);
	ck_assert_uint_eq(x.recv, 10);
	ck_assert(file_wait_for(d.connlog, "start target-vm test.Echo ", wait_ms(0)));
	assert_daemon_log(&d, "source=work target=target-vm service=test.Echo chain=limited result=ok");
}
END_TEST

START_TEST(test_refusals)
{
	/* a source the matching entries do not list */
	assert_refused(call_open(&d, "test.Echo+x intruder"));
	assert_daemon_log(&d, "source=intruder target=- service=test.Echo chain=- result=refused reason=\"call for test.Echo from intruder: the transparent entries for this service do not take calls from this source\"");
	/* a service no entry names */
	assert_refused(call_open(&d, "test.Unknown+x work"));
	assert_daemon_log(&d, "source=work target=- service=test.Unknown chain=- result=refused reason=\"call for test.Unknown from work: no transparent entry for this service\"");
	/* an argument qrexec would never have let through */
	assert_refused(call_open(&d, "test.Echo+a/b work"));
	assert_daemon_log(&d, "result=refused reason=\"call for test.Echo from work: bad character in the service argument\"");
	/* a malformed proxy call is still that, not a transparent one */
	assert_refused(call_open(&d, "qrexec-proxy+limited+target-vm work"));
	assert_daemon_log(&d, "result=refused reason=\"malformed argument: ");
	/* the destination was never contacted */
	ck_assert_int_eq(file_count(d.connlog, "start"), 0);
	assert_no_children_of(&d);
}
END_TEST

START_TEST(test_chain_allowlists_apply)
{
	/* test.Hash from work to hash-vm: inside every list of chain fenced */
	struct xfer x;
	const uint64_t n = 70000;
	int fd = call_open(&d, "test.Hash+ work");
	call_transfer(fd, n, 34, 60000, &x);
	char want[64];
	int len = snprintf(want, sizeof(want), "%" PRIu64 " %016" PRIx64 "\n", n, expected_hash(n, 34));
	ck_assert_uint_eq(x.recv, (uint64_t)len);
	ck_assert(x.recv_hash == hash_update(HASH_INIT, want, (size_t)len));
	assert_daemon_log(&d, "source=work target=hash-vm service=test.Hash chain=fenced result=ok");
	/* the entry takes any source, the chain only work */
	assert_refused(call_open(&d, "test.Hash+ personal"));
	assert_daemon_log(&d, "source=personal target=hash-vm service=test.Hash chain=fenced result=refused reason=\"source 'personal' is not in chain 'fenced' sources\"");
	/* the entry sends test.Upper to target-vm, which the chain does not forward to */
	assert_refused(call_open(&d, "test.Upper+ work"));
	assert_daemon_log(&d, "source=work target=target-vm service=test.Upper chain=fenced result=refused reason=\"target 'target-vm' is not in chain 'fenced' targets\"");
	ck_assert_int_eq(file_count(d.connlog, "start"), 1);
	assert_no_children_of(&d);
}
END_TEST

START_TEST(test_proxy_form_beside)
{
	/* qrexec-proxy+CHAIN+TARGET+SERVICE keeps its meaning, to any target the chain allows */
	struct xfer x;
	int fd = call_vm(&d, "limited", "other-vm", "test.Echo+y");
	call_transfer(fd, 3000, 35, 60000, &x);
	ck_assert_uint_eq(x.recv, 1000);
	ck_assert(x.recv_hash == expected_hash(1000, 35));
	ck_assert(file_wait_for(d.connlog, "start other-vm test.Echo+y ", wait_ms(0)));
	assert_daemon_log(&d, "source=source-vm target=other-vm service=test.Echo+y chain=limited result=ok");
	/* and a transparent call right after it, on the same daemon */
	fd = call_open(&d, "test.Echo+z work");
	call_transfer(fd, 20, 36, 60000, &x);
	ck_assert_uint_eq(x.recv, 20);
	ck_assert(x.recv_hash == expected_hash(20, 36));
	assert_daemon_log(&d, "source=work target=target-vm service=test.Echo+z chain=limited result=ok");
	assert_no_children_of(&d);
}
END_TEST

START_TEST(test_reload_changes_the_list)
{
	/* SIGHUP: the new list applies to the next call */
	static const char extra[] = "  - service: test.Generate\n"
				    "    sources: [work]\n"
				    "    target: gen-vm\n"
				    "    chain: limited\n";
	char *body = malloc(sizeof(config_body) + sizeof(extra));
	ck_assert_ptr_nonnull(body);
	strcpy(body, config_body);
	strcat(body, extra);
	write_config(d.config, body);
	free(body);
	assert_daemon_log(&d, "serving 2 chains and 3 transparent entries");
	ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
	assert_daemon_log(&d, "reloaded from");
	assert_daemon_log(&d, ": 2 chains, 4 transparent entries");
	struct xfer x;
	int fd = call_open(&d, "test.Generate+5000 work");
	call_transfer(fd, 0, 37, 60000, &x);
	ck_assert_uint_eq(x.recv, 5000);
	ck_assert(x.recv_hash == expected_hash(5000, 42));
	assert_daemon_log(&d, "source=work target=gen-vm service=test.Generate+5000 chain=limited result=ok");
}
END_TEST

/* ---- exec ---- */

static char dir[256], config[300];

static void exec_setup(void)
{
	make_tmpdir(dir, sizeof(dir));
	snprintf(config, sizeof(config), "%s/chains.yaml", dir);
	write_config(config, config_body);
}

static void exec_teardown(void)
{
	rm_rf(dir);
}

START_TEST(test_exec_full_name)
{
	/* qrexec runs the program as test.Echo: QREXEC_SERVICE_FULL_NAME, the argument as argv[1] */
	struct proxy_run r;
	const char *args[] = { "exec", "--config", config, "--log", "stderr", "x", NULL };
	const char *env[] = { "QREXEC_REMOTE_DOMAIN=work", "QREXEC_SERVICE_FULL_NAME=test.Echo+x",
			      "QREXEC_SERVICE_ARGUMENT=x", NULL };
	proxy_run(args, env, 50000, 38, &r);
	ck_assert_msg(proxy_run_exit(&r) == 0, "status 0x%x: %s", r.status, r.err);
	ck_assert_uint_eq(r.out_len, 1000);
	ck_assert(r.out_hash == expected_hash(1000, 38));
	ck_assert_ptr_nonnull(strstr(r.err, "source=work target=target-vm service=test.Echo+x chain=limited result=ok"));
	proxy_run_free(&r);

	/* the proxy's own name keeps the proxy's form */
	const char *pargs[] = { "exec", "--config", config, "--log", "stderr", "limited+target-vm+test.Echo", NULL };
	const char *penv[] = { "QREXEC_REMOTE_DOMAIN=work", "QREXEC_SERVICE_FULL_NAME=qrexec-proxy+limited+target-vm+test.Echo",
			       "QREXEC_SERVICE_ARGUMENT=limited+target-vm+test.Echo", NULL };
	proxy_run(pargs, penv, 10, 39, &r);
	ck_assert_msg(proxy_run_exit(&r) == 0, "status 0x%x: %s", r.status, r.err);
	ck_assert_uint_eq(r.out_len, 10);
	ck_assert(r.out_hash == expected_hash(10, 39));
	proxy_run_free(&r);
}
END_TEST

START_TEST(test_exec_refusals)
{
	static const char *const cases[][3] = {
		/* full name, source, what the log says */
		{ "QREXEC_SERVICE_FULL_NAME=test.Echo+x", "QREXEC_REMOTE_DOMAIN=intruder",
		  "do not take calls from this source" },
		{ "QREXEC_SERVICE_FULL_NAME=test.Unknown+", "QREXEC_REMOTE_DOMAIN=work",
		  "no transparent entry for this service" },
		{ "QREXEC_SERVICE_FULL_NAME=test.Echo+a/b", "QREXEC_REMOTE_DOMAIN=work",
		  "bad character in the service argument" },
		{ "QREXEC_SERVICE_FULL_NAME=te st+", "QREXEC_REMOTE_DOMAIN=work", "bad character in the service name" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct proxy_run r;
		const char *env[] = { cases[i][1], cases[i][0], NULL };
		/* with the log on stderr, for the reason */
		const char *args[] = { "exec", "--config", config, "--log", "stderr", NULL };
		proxy_run(args, env, 100, 40, &r);
		ck_assert_msg(proxy_run_exit(&r) == 126, "%s: status 0x%x", cases[i][0], r.status);
		ck_assert_msg(strstr(r.err, cases[i][2]), "%s: %s", cases[i][0], r.err);
		ck_assert_uint_eq(r.out_len, 0);
		proxy_run_free(&r);
		/* as qrexec runs it: the caller is told nothing */
		const char *quiet[] = { "exec", "--config", config, NULL };
		proxy_run(quiet, env, 100, 40, &r);
		ck_assert_int_eq(proxy_run_exit(&r), 126);
		ck_assert_msg(r.err_len == 0, "%s: the caller was told: %s", cases[i][0], r.err);
		ck_assert_uint_eq(r.out_len, 0);
		proxy_run_free(&r);
	}
}
END_TEST

/* ---- links and check ---- */

/* qrexec-proxy ARGS with ENV added, its stdout and stderr captured whole; returns its exit code */
static int run_capture(const char *const *args, const char *const *env, char **out, char **err)
{
	char prog[512], of[300], ef[300];
	const char *argv[32];
	int n = 0;
	snprintf(prog, sizeof(prog), "%s/qrexec-proxy", builddir());
	snprintf(of, sizeof(of), "%s/run.out", dir);
	snprintf(ef, sizeof(ef), "%s/run.err", dir);
	argv[n++] = prog;
	for (int i = 0; args[i]; i++) {
		ck_assert_int_lt(n, 31);
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int o = open(of, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		int e = open(ef, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(98);
		for (int i = 0; env && env[i]; i++)
			putenv((char *)env[i]);
		execv(prog, (char *const *)argv);
		_exit(99);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	*out = file_read(of);
	*err = file_read(ef);
	ck_assert_msg(WIFEXITED(status), "qrexec-proxy %s: status 0x%x", args[0], status);
	return WEXITSTATUS(status);
}

/* "NAME -> TARGET" or "NAME: file CONTENT" for every entry of DIR, sorted: its whole state */
static char *dir_state(const char *path)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "%s/state", dir);
	FILE *f = fopen(cmd, "w");
	ck_assert_ptr_nonnull(f);
	char **names = NULL;
	size_t n = 0;
	DIR *dd = opendir(path);
	if (dd) {
		struct dirent *e;
		while ((e = readdir(dd))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			names = realloc(names, (n + 1) * sizeof(*names));
			ck_assert_ptr_nonnull(names);
			names[n++] = strdup(e->d_name);
		}
		closedir(dd);
	} else {
		fprintf(f, "(no directory)\n");
	}
	for (size_t i = 0; i < n; i++)
		for (size_t k = i + 1; k < n; k++)
			if (strcmp(names[k], names[i]) < 0) {
				char *t = names[i];
				names[i] = names[k];
				names[k] = t;
			}
	for (size_t i = 0; i < n; i++) {
		char p[PATH_MAX], text[PATH_MAX];
		struct stat st;
		snprintf(p, sizeof(p), "%s/%s", path, names[i]);
		ck_assert_int_eq(lstat(p, &st), 0);
		if (S_ISLNK(st.st_mode)) {
			ssize_t k = readlink(p, text, sizeof(text) - 1);
			ck_assert_int_ge(k, 0);
			text[k] = '\0';
			fprintf(f, "%s -> %s\n", names[i], text);
		} else {
			char *c = file_read(p);
			fprintf(f, "%s: file %s\n", names[i], c);
			free(c);
		}
		free(names[i]);
	}
	free(names);
	ck_assert_int_eq(fclose(f), 0);
	return file_read(cmd);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_links)
{
	char rpc[400], sock[400], p[600], expect[4096];
	char *out, *err, *before, *after;
	snprintf(rpc, sizeof(rpc), "%s/qubes-rpc", dir);
	snprintf(sock, sizeof(sock), "%s/qrexec-proxy.sock", dir);
	const char *args[] = { "links", "--config", config, "--dir", rpc, "--socket", sock, NULL };
	const char *check[] = { "links", "--config", config, "--dir", rpc, "--socket", sock, "--check", NULL };

	/* --check on a directory that is not there: says what it would do, creates nothing */
	ck_assert_int_eq(run_capture(check, NULL, &out, &err), 1);
	ck_assert_msg(strstr(out, "would create directory"), "%s", out);
	ck_assert_int_eq(access(rpc, F_OK), -1);
	free(out);
	free(err);

	/* creates the directory and one link per service */
	ck_assert_int_eq(run_capture(args, NULL, &out, &err), 0);
	snprintf(expect, sizeof(expect),
		 "created directory %s\ncreated %s/test.Echo -> %s\ncreated %s/test.Hash -> %s\ncreated %s/test.Upper -> %s\n",
		 rpc, rpc, sock, rpc, sock, rpc, sock);
	ck_assert_str_eq(out, expect);
	ck_assert_str_eq(err, "");
	free(out);
	free(err);
	after = dir_state(rpc);
	snprintf(expect, sizeof(expect), "test.Echo -> %s\ntest.Hash -> %s\ntest.Upper -> %s\n", sock, sock, sock);
	ck_assert_str_eq(after, expect);
	free(after);

	/* again: nothing changes */
	before = dir_state(rpc);
	ck_assert_int_eq(run_capture(args, NULL, &out, &err), 0);
	ck_assert_msg(strstr(out, "kept ") && !strstr(out, "created") && !strstr(out, "removed"), "%s", out);
	free(out);
	free(err);
	after = dir_state(rpc);
	ck_assert_str_eq(after, before);
	free(before);
	free(after);

	/* what is not ours, and a link of ours the configuration no longer names */
	snprintf(p, sizeof(p), "%s/foreign.Svc", rpc);
	write_file(p, "mine");
	snprintf(p, sizeof(p), "%s/other.Link", rpc);
	ck_assert_int_eq(symlink("/elsewhere.sock", p), 0);
	snprintf(p, sizeof(p), "%s/qrexec-proxy", rpc);
	ck_assert_int_eq(symlink(sock, p), 0);
	snprintf(p, sizeof(p), "%s/old.Svc+arg", rpc);
	ck_assert_int_eq(symlink(sock, p), 0);
	snprintf(p, sizeof(p), "%s/test.Blocked", rpc);
	write_file(p, "not a link");
	/* test.Upper leaves the configuration, test.Blocked comes, but its name is taken */
	static const char smaller[] =
		"connector: [\"@B@/t/fake-connector\", \"{target}\", \"{service}\"]\n"
		"chains:\n"
		"  plain:\n"
		"    filters: []\n"
		"transparent:\n"
		"  - service: test.Echo\n"
		"    target: target-vm\n"
		"    chain: plain\n"
		"  - service: test.Hash\n"
		"    target: target-vm\n"
		"    chain: plain\n"
		"  - service: test.Blocked\n"
		"    target: target-vm\n"
		"    chain: plain\n";
	write_config(config, smaller);

	/* --check: reports, and the directory stays exactly as it was */
	before = dir_state(rpc);
	ck_assert_int_eq(run_capture(check, NULL, &out, &err), 1);
	snprintf(expect, sizeof(expect), "would remove %s/test.Upper (no transparent entry names it)\n", rpc);
	ck_assert_msg(strstr(out, expect), "%s", out);
	ck_assert_msg(strstr(err, "test.Blocked is a file, not a link to"), "%s", err);
	free(out);
	free(err);
	after = dir_state(rpc);
	ck_assert_str_eq(after, before);
	free(after);

	/* the run: test.Upper goes, everything that is not ours stays */
	ck_assert_int_eq(run_capture(args, NULL, &out, &err), 1);
	snprintf(expect, sizeof(expect),
		 "kept %s/test.Echo -> %s\nkept %s/test.Hash -> %s\nremoved %s/test.Upper (no transparent entry names it)\n",
		 rpc, sock, rpc, sock, rpc);
	ck_assert_str_eq(out, expect);
	ck_assert_msg(strstr(err, "test.Blocked is a file, not a link to") && strstr(err, "left alone"), "%s", err);
	free(out);
	free(err);
	after = dir_state(rpc);
	snprintf(expect, sizeof(expect),
		 "foreign.Svc: file mine\nold.Svc+arg -> %s\nother.Link -> /elsewhere.sock\nqrexec-proxy -> %s\n"
		 "test.Blocked: file not a link\ntest.Echo -> %s\ntest.Hash -> %s\n",
		 sock, sock, sock, sock);
	ck_assert_str_eq(after, expect);
	free(after);
	free(before);

	/* the file out of the way: test.Blocked is linked, and --check is content */
	snprintf(p, sizeof(p), "%s/test.Blocked", rpc);
	ck_assert_int_eq(unlink(p), 0);
	ck_assert_int_eq(run_capture(args, NULL, &out, &err), 0);
	snprintf(expect, sizeof(expect), "created %s/test.Blocked -> %s\n", rpc, sock);
	ck_assert_msg(strstr(out, expect), "%s", out);
	free(out);
	free(err);
	ck_assert_int_eq(run_capture(check, NULL, &out, &err), 0);
	ck_assert_msg(strstr(out, "ok ") && !strstr(out, "would"), "%s", out);
	free(out);
	free(err);

	/* a configuration with errors changes nothing */
	write_config(config, "chains: {a: {filters: []}}\ntransparent: [{service: x.Y, target: t, chain: nope}]\n");
	before = dir_state(rpc);
	ck_assert_int_eq(run_capture(args, NULL, &out, &err), 100);
	ck_assert_msg(strstr(err, "no chain 'nope'"), "%s", err);
	free(out);
	free(err);
	after = dir_state(rpc);
	ck_assert_str_eq(after, before);
	free(before);
	free(after);
}
END_TEST

START_TEST(test_links_help)
{
	char *out, *err;
	const char *args[] = { "links", "--help", NULL };
	ck_assert_int_eq(run_capture(args, NULL, &out, &err), 0);
	ck_assert_msg(strstr(out, "--dir DIR") && strstr(out, "--check"), "%s", out);
	free(out);
	free(err);
	const char *bad[] = { "links", "--grace", "1", NULL };
	ck_assert_int_eq(run_capture(bad, NULL, &out, &err), 100);
	free(out);
	free(err);
}
END_TEST

START_TEST(test_check_warnings)
{
	char d1[400], d2[400], sock[400], env[900], p[600];
	char *out, *err;
	snprintf(d1, sizeof(d1), "%s/local-rpc", dir);
	snprintf(d2, sizeof(d2), "%s/etc-rpc", dir);
	snprintf(sock, sizeof(sock), "%s/qrexec-proxy.sock", dir);
	ck_assert_int_eq(mkdir(d1, 0755), 0);
	ck_assert_int_eq(mkdir(d2, 0755), 0);
	snprintf(env, sizeof(env), "QREXEC_PROXY_RPC_DIRS=%s:%s", d1, d2);
	static const char body[] =
		"connector: [\"@B@/t/fake-connector\", \"{target}\", \"{service}\"]\n"
		"chains:\n"
		"  plain:\n"
		"    targets: [vault]\n"
		"    services: [test.Echo+]\n"
		"    filters: []\n"
		"transparent:\n"
		"  - service: test.Echo\n"   /* line 8 */
		"    sources: [work]\n"
		"    target: vault\n"
		"    chain: plain\n"
		"  - service: test.Echo\n"   /* line 12: any source */
		"    target: vault\n"
		"    chain: plain\n"
		"  - service: test.Echo\n"   /* line 15: never matches */
		"    sources: [personal]\n"
		"    target: vault\n"
		"    chain: plain\n"
		"  - service: test.Hash\n"   /* line 19: the chain refuses all of it */
		"    target: other\n"
		"    chain: plain\n"
		"  - service: test.Upper\n"  /* line 22 */
		"    sources: [work]\n"
		"    target: vault\n"
		"    chain: plain\n"
		"  - service: test.Upper\n"  /* line 26: work is taken, personal is not */
		"    sources: [work, personal]\n"
		"    target: vault\n"
		"    chain: plain\n";
	write_config(config, body);
	/* test.Echo linked in the first directory; test.Hash shadowed by a file there; test.Upper nowhere */
	snprintf(p, sizeof(p), "%s/test.Echo", d1);
	ck_assert_int_eq(symlink(sock, p), 0);
	snprintf(p, sizeof(p), "%s/test.Hash", d1);
	write_file(p, "#!/bin/sh\n");
	snprintf(p, sizeof(p), "%s/test.Hash", d2);
	ck_assert_int_eq(symlink(sock, p), 0);
	const char *args[] = { "check", "--config", config, "--socket", sock, "--isolation", "seccomp-only", NULL };
	const char *envs[] = { env, NULL };
	ck_assert_int_eq(run_capture(args, envs, &out, &err), 0);
	ck_assert_msg(strstr(out, "6 transparent entries"), "%s", out);
	ck_assert_msg(strstr(out, "  transparent test.Echo from work -> vault through plain\n"), "%s", out);
	char want[1200];
	snprintf(want, sizeof(want), "%s:15:5: warning: this transparent entry for 'test.Echo' never matches: the entry at line 12 takes every call for 'test.Echo' first", config);
	ck_assert_msg(strstr(err, want), "%s", err);
	snprintf(want, sizeof(want), "%s:19:5: warning: every call of this transparent entry is refused: its target 'other' is not in the 'targets' of chain 'plain'", config);
	ck_assert_msg(strstr(err, want), "%s", err);
	snprintf(want, sizeof(want), "%s:19:5: warning: every call of this transparent entry is refused: the 'services' of chain 'plain'", config);
	ck_assert_msg(strstr(err, want), "%s", err);
	snprintf(want, sizeof(want), "%s:26:5: warning: source 'work' never reaches this transparent entry for 'test.Upper': the entry at line 22 takes its calls first", config);
	ck_assert_msg(strstr(err, want), "%s", err);
	ck_assert_msg(!strstr(err, "source 'personal' never reaches"), "%s", err);
	/* the links: test.Echo is fine; test.Hash's first file is not the proxy; test.Upper has none */
	ck_assert_msg(!strstr(err, "'test.Echo' in") && !strstr(err, "test.Echo is not a link"), "%s", err);
	snprintf(want, sizeof(want), "%s:19:5: warning: %s/test.Hash is not a link to %s: qrexec runs it for calls of 'test.Hash', not the proxy", config, d1, sock);
	ck_assert_msg(strstr(err, want), "%s", err);
	snprintf(want, sizeof(want), "%s:22:5: warning: no qrexec service 'test.Upper' in %s, %s", config, d1, d2);
	ck_assert_msg(strstr(err, want), "%s", err);
	free(out);
	free(err);
}
END_TEST

/* ---- validation ---- */

static void assert_config_error(const char *body, const char *where_what)
{
	char *out, *err, want[1200];
	write_config(config, body);
	const char *args[] = { "check", "--config", config, NULL };
	ck_assert_int_eq(run_capture(args, NULL, &out, &err), 100);
	snprintf(want, sizeof(want), "%s:%s", config, where_what);
	ck_assert_msg(strstr(err, want), "wanted: %s\ngot: %s", want, err);
	free(out);
	free(err);
}

#define HEAD "chains:\n  c:\n    filters: []\ntransparent:\n"

START_TEST(test_config_errors)
{
	assert_config_error(HEAD "  - {service: test.Echo, target: vault, chain: nope}\n",
			    "5:48: no chain 'nope' for the transparent entry of 'test.Echo'");
	assert_config_error(HEAD "  - {service: test.Echo+arg, target: vault, chain: c}\n",
			    "5:15: 'service' 'test.Echo+arg' has an argument");
	assert_config_error(HEAD "  - {service: qrexec-proxy, target: vault, chain: c}\n",
			    "5:15: 'qrexec-proxy' cannot be transparent");
	assert_config_error(HEAD "  - {service: .hidden, target: vault, chain: c}\n", "5:15: invalid service name '.hidden'");
	assert_config_error(HEAD "  - {service: s, target: '@dispvm', chain: c}\n", "5:26: 'target' '@dispvm' is not a qube name");
	assert_config_error(HEAD "  - {service: s, target: v, chain: c, sources: [work, -x]}\n",
			    "5:55: '-x' in 'sources' of a transparent entry is not a qube name");
	assert_config_error(HEAD "  - {service: s, target: v, chain: c, sources: []}\n", "5:48: 'sources' is empty");
	assert_config_error(HEAD "  - {service: s, chain: c}\n", "5:5: item 1 of 'transparent' has no 'target'");
	assert_config_error(HEAD "  - {service: s, target: v, chain: c}\n  - {target: v, chain: c}\n",
			    "6:5: item 2 of 'transparent' has no 'service'");
	assert_config_error(HEAD "  - {service: s, target: v, chain: c, targets: [v]}\n",
			    "5:39: unknown key 'targets' in item 1 of 'transparent'; allowed keys: service, sources, target, chain");
	assert_config_error(HEAD "  - s\n", "5:5: item 1 of 'transparent' must be a mapping");
	assert_config_error("chains:\n  c:\n    filters: []\ntransparent: {service: s}\n",
			    "4:14: 'transparent' must be a list of entries");
	assert_config_error(HEAD "  - {service: s, target: v, chain: c, sources: work}\n",
			    "5:48: 'sources' of a transparent entry must be a list");

	/* the list belongs to the main file; a chain of a drop-in may be named */
	char dropdir[400], drop[500], *out, *err;
	snprintf(dropdir, sizeof(dropdir), "%s/chains.d", dir);
	ck_assert_int_eq(mkdir(dropdir, 0755), 0);
	snprintf(drop, sizeof(drop), "%s/10-more.yaml", dropdir);
	write_config(drop, "chains:\n  from-drop-in:\n    filters: []\n");
	write_config(config, HEAD "  - {service: s, target: v, chain: from-drop-in}\n");
	const char *args[] = { "check", "--config", config, "--isolation", "seccomp-only", NULL };
	ck_assert_msg(run_capture(args, NULL, &out, &err) == 0, "%s", err);
	free(out);
	free(err);
	write_config(drop, "chains:\n  from-drop-in:\n    filters: []\ntransparent: []\n");
	ck_assert_int_eq(run_capture(args, NULL, &out, &err), 100);
	ck_assert_msg(strstr(err, "10-more.yaml:4:1: 'transparent' may not be given in a drop-in file"), "%s", err);
	free(out);
	free(err);
	ck_assert_int_eq(unlink(drop), 0);
	ck_assert_int_eq(rmdir(dropdir), 0);
}
END_TEST

static Suite *transparent_suite(void)
{
	Suite *s = suite_create("transparent");
	TCase *tc = tcase_create("serve");
	tcase_set_timeout(tc, test_timeout(300));
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_reaches_the_entry_target);
	tcase_add_test(tc, test_empty_argument);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_chain_allowlists_apply);
	tcase_add_test(tc, test_proxy_form_beside);
	tcase_add_test(tc, test_reload_changes_the_list);
	suite_add_tcase(s, tc);

	TCase *te = tcase_create("exec, links, check");
	tcase_set_timeout(te, test_timeout(300));
	tcase_add_checked_fixture(te, exec_setup, exec_teardown);
	tcase_add_test(te, test_exec_full_name);
	tcase_add_test(te, test_exec_refusals);
	tcase_add_test(te, test_links);
	tcase_add_test(te, test_links_help);
	tcase_add_test(te, test_check_warnings);
	tcase_add_test(te, test_config_errors);
	suite_add_tcase(s, te);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(transparent_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
