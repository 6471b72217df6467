/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The summary line a hostile caller cannot bend (summary.c), and the
 * connection that ends when its caller goes away: unit tests of the
 * escaping, then end to end through the real daemon and run.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "timeout.h"
#include "summary.h"
#include "testutil.h"

/*
 * Parses a line of key=value pairs as summary_add writes them: bare
 * values up to a space, quoted ones with \" \\ and \xNN. Returns the
 * number of pairs, or -1 if the line does not parse. Fills the value of
 * KEY (unescaped) into VAL when asked.
 */
static int parse_pairs(const char *line, const char *key, char *val, size_t vsize)
{
	int n = 0;
	const char *p = line;
	if (val && vsize)
		val[0] = '\0';
	while (*p) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		const char *eq = strchr(p, '=');
		if (!eq || eq == p)
			return -1;
		for (const char *k = p; k < eq; k++)
			if (*k == ' ' || *k == '"')
				return -1;
		bool want = key && (size_t)(eq - p) == strlen(key) && !strncmp(p, key, strlen(key));
		const char *v = eq + 1;
		static char out[70000];
		size_t o = 0;
		if (*v == '"') {
			v++;
			while (*v && *v != '"') {
				if (*v == '\\' && (v[1] == '"' || v[1] == '\\')) {
					out[o++] = v[1];
					v += 2;
				} else if (*v == '\\' && v[1] == 'x') {
					unsigned c;
					if (sscanf(v + 2, "%2x", &c) != 1)
						return -1;
					out[o++] = (char)c;
					v += 4;
				} else if ((unsigned char)*v < 0x20 || *v == 0x7f) {
					return -1;
				} else {
					out[o++] = *v++;
				}
				if (o >= sizeof(out) - 1)
					return -1;
			}
			if (*v != '"')
				return -1;
			v++;
			if (*v && *v != ' ')
				return -1;
		} else {
			while (*v && *v != ' ') {
				if ((unsigned char)*v < 0x20 || *v == '"' || *v == '\\')
					return -1;
				out[o++] = *v++;
			}
		}
		out[o] = '\0';
		if (want && val && vsize) {
			size_t k = o < vsize - 1 ? o : vsize - 1;
			memcpy(val, out, k);
			val[k] = '\0';
		}
		n++;
		p = v;
	}
	return n;
}

START_TEST(test_escaping_round_trips)
{
	static const char *const values[] = {
		"plain", "with space", "quote\"inside", "back\\slash", "new\nline", "tab\tand\rcr", "a=b",
		"\x01\x7f\xff", "", "endswith\\",
	};
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		char line[512], got[512];
		size_t o = 0;
		kvline_add(line, sizeof(line), &o, "k", values[i], KVLINE_FIELD_MAX);
		kvline_add(line, sizeof(line), &o, "next", "x", KVLINE_FIELD_MAX);
		ck_assert_msg(!strchr(line, '\n'), "a raw newline in %s", line);
		ck_assert_int_eq(parse_pairs(line, "k", got, sizeof(got)), 2);
		ck_assert_str_eq(got, values[i]);
		ck_assert_int_eq(parse_pairs(line, "next", got, sizeof(got)), 2);
		ck_assert_str_eq(got, "x");
	}
}
END_TEST

START_TEST(test_long_values_are_cut_with_a_marker)
{
	char *big = malloc(60001);
	memset(big, 'a', 60000);
	big[60000] = '\0';
	char line[3072], got[3072];
	size_t o = 0;
	kvline_add(line, sizeof(line), &o, "service", big, KVLINE_FIELD_MAX);
	kvline_add(line, sizeof(line), &o, "result", "ok", KVLINE_FIELD_MAX);
	ck_assert_int_eq(parse_pairs(line, "service", got, sizeof(got)), 2);
	ck_assert_uint_eq(strspn(got, "a"), KVLINE_FIELD_MAX);
	ck_assert_str_eq(got + KVLINE_FIELD_MAX, "...[+59744 bytes]");
	ck_assert_int_eq(parse_pairs(line, "result", got, sizeof(got)), 2);
	ck_assert_str_eq(got, "ok");
	/* a pair that does not fit is left out whole, never half-written */
	char small[16];
	o = 0;
	kvline_add(small, sizeof(small), &o, "k", "0123456789abcdef", KVLINE_FIELD_MAX);
	ck_assert_uint_eq(o, 0);
	free(big);
}
END_TEST

START_TEST(test_journal_field_is_the_value)
{
	/* a journal field holds the value as the line shows it, unquoted, control bytes as \xNN, bounded */
	char buf[KVLINE_FIELD_MAX * 4 + 64];
	ck_assert_str_eq(kvline_field(buf, sizeof(buf), "target 'other' is not in chain 'al' targets", KVLINE_FIELD_MAX),
			 "target 'other' is not in chain 'al' targets");
	ck_assert_str_eq(kvline_field(buf, sizeof(buf), "a \"q\" b\\c", KVLINE_FIELD_MAX), "a \"q\" b\\c");
	ck_assert_str_eq(kvline_field(buf, sizeof(buf), "new\nline\x7f", KVLINE_FIELD_MAX), "new\\x0aline\\x7f");
	char *big = malloc(60001);
	memset(big, 'a', 60000);
	big[60000] = '\0';
	kvline_field(buf, sizeof(buf), big, KVLINE_FIELD_MAX);
	ck_assert_uint_eq(strspn(buf, "a"), KVLINE_FIELD_MAX);
	ck_assert_str_eq(buf + KVLINE_FIELD_MAX, "...[+59744 bytes]");
	free(big);
}
END_TEST

/* ---- through the daemon ---- */

static const char config_body[] =
	"connector: [\"@B@/t/fake-connector\", \"{target}\", \"{service}\"]\n"
	"filter_path: [\"@B@/filters\"]\n"
	"chains:\n"
	"  pass3:\n"
	"    filters: [pass, pass, pass]\n"
	"  idle1:\n"
	"    idle_timeout: 1\n"
	"    filters: [pass]\n";

static struct daemon d;

static void setup(void)
{
	daemon_start(&d, config_body, NULL);
}

static void teardown(void)
{
	daemon_teardown(&d);
}

/* the summary line of the connection for SERVICE-prefix NEEDLE, waited for; malloc'ed */
static char *summary_line(const char *needle)
{
	ck_assert_msg(file_wait_for(d.log, needle, 10000), "no summary with %s", needle);
	char *log = file_read(d.log);
	char *p = strstr(log, needle);
	while (p > log && p[-1] != '\n')
		p--;
	char *end = strchr(p, '\n');
	char *line = strndup(p, end ? (size_t)(end - p) : strlen(p));
	free(log);
	return line;
}

START_TEST(test_long_argument_keeps_the_summary_whole)
{
	/* 60,000 bytes of argument, the caller's choice: result, reason and counts stay in the line */
	static char desc[61000];
	int n = snprintf(desc, sizeof(desc), "qrexec-proxy+pass3+target-vm+test.Echo+");
	memset(desc + n, 'A', 60000);
	snprintf(desc + n + 60000, sizeof(desc) - (size_t)n - 60000, " source-vm");
	int fd = call_open(&d, desc);
	struct xfer x;
	call_transfer(fd, 5000, 3, wait_ms(0), &x);
	ck_assert_uint_eq(x.recv, 5000);
	char *line = summary_line("chain=pass3 result=ok");
	const char *body = strstr(line, "connection ");
	ck_assert_ptr_nonnull(body);
	body = strchr(body, ':') + 1;
	char v[1024];
	ck_assert_int_ge(parse_pairs(body, "result", v, sizeof(v)), 9);
	ck_assert_str_eq(v, "ok");
	ck_assert_int_gt(parse_pairs(body, "dst2src", v, sizeof(v)), 0);
	ck_assert_str_eq(v, "5000");
	ck_assert_int_gt(parse_pairs(body, "src2dst", v, sizeof(v)), 0);
	ck_assert_str_eq(v, "5000");
	ck_assert_int_gt(parse_pairs(body, "duration", v, sizeof(v)), 0);
	ck_assert_int_gt(parse_pairs(body, "service", v, sizeof(v)), 0);
	ck_assert_ptr_nonnull(strstr(v, "...[+"));
	ck_assert_uint_lt(strlen(line), 1024);
	free(line);
}
END_TEST

START_TEST(test_caller_gone_after_its_eof)
{
	/*
	 * The caller sends, half-closes, then goes away altogether while
	 * the destination stays silent (300 s): the connection ends once the
	 * destination has had its grace (1 s) to end, as caller-gone, and
	 * takes its processes with it.
	 */
	int fd = call_vm(&d, "pass3", "target-vm", "test.Sleep+300");
	ck_assert_int_eq(send(fd, "some data", 9, MSG_NOSIGNAL), 9);
	ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
	ck_assert(file_wait_for(d.connlog, "start target-vm test.Sleep+300", 10000));
	int64_t t0 = now_ms();
	close(fd);
	char *line = summary_line("service=test.Sleep+300 chain=pass3 result=");
	int64_t took = now_ms() - t0;
	ck_assert_msg(strstr(line, "result=caller-gone"), "%s", line);
	ck_assert_ptr_nonnull(strstr(line, "src2dst=9 "));
	free(line);
	/* after the grace, well inside the 300 s the destination would take */
	ck_assert_int_ge(took, 900);
	ck_assert_int_lt(took, 200000);
	printf("caller gone after its EOF: summary %lld ms after the close\n", (long long)took);
	assert_no_children_of(&d);
}
END_TEST

START_TEST(test_caller_killed_mid_upload)
{
	/* a caller killed in the middle of its upload is no "ok", whatever EOF it seemed to send */
	int fd = call_vm(&d, "pass3", "target-vm", "test.Sleep+300");
	static char buf[1 << 16];
	memset(buf, 'u', sizeof(buf));
	ck_assert_int_eq(send(fd, buf, sizeof(buf), MSG_NOSIGNAL), (ssize_t)sizeof(buf));
	ck_assert(file_wait_for(d.connlog, "start target-vm test.Sleep+300", 10000));
	close(fd); /* no shutdown first: the process is gone */
	char *line = summary_line("service=test.Sleep+300 chain=pass3 result=");
	ck_assert_msg(strstr(line, "result=caller-gone"), "%s", line);
	free(line);
	assert_no_children_of(&d);
}
END_TEST

/*
 * The normal end of a file copy (qvm-copy): the receiver writes its last
 * status, the sender reads it and closes at once, and the receiver ends
 * 1 to 50 ms later without writing more. That is ok, not a caller gone.
 */
#define NORMAL_END_RUNS 50

START_TEST(test_normal_end_through_run)
{
	char dir[256], config[300], errlog[300], conn[300];
	make_tmpdir(dir, sizeof(dir));
	snprintf(config, sizeof(config), "%s/chains.yaml", dir);
	snprintf(errlog, sizeof(errlog), "%s/stderr", dir);
	snprintf(conn, sizeof(conn), "%s/t/fake-connector", builddir());
	write_config(config, config_body);
	char prog[512];
	snprintf(prog, sizeof(prog), "%s/qrexec-proxy", builddir());
	static char data[20000];
	memset(data, 'f', sizeof(data));
	for (int i = 0; i < NORMAL_END_RUNS; i++) {
		char service[32];
		snprintf(service, sizeof(service), "test.Status+%d", 1 + i % 50);
		int in[2], out[2];
		ck_assert_int_eq(pipe(in), 0);
		ck_assert_int_eq(pipe(out), 0);
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			int e = open(errlog, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			if (e < 0 || dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(e, 2) < 0)
				_exit(98);
			close(in[1]);
			close(out[0]);
			execl(prog, prog, "run", "--config", config, "pass3", "--", conn, "target-vm", service, (char *)NULL);
			_exit(99);
		}
		close(in[0]);
		close(out[1]);
		signal(SIGPIPE, SIG_IGN);
		ck_assert_int_eq(write(in[1], data, sizeof(data)), (ssize_t)sizeof(data));
		close(in[1]);
		/* the status, then the sender is gone at once */
		char status[64];
		size_t got = 0;
		while (got < sizeof(status) && !memchr(status, '\n', got)) {
			ssize_t k = read(out[0], status + got, sizeof(status) - got);
			ck_assert_int_gt(k, 0);
			got += (size_t)k;
		}
		close(out[0]);
		ck_assert_msg(!strncmp(status, "20000 ", 6), "%.*s", (int)got, status);
		int st;
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		char *err = file_read(errlog);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "run %d (%s): status 0x%x:\n%s", i, service, st, err);
		ck_assert_msg(strstr(err, " result=ok "), "run %d (%s):\n%s", i, service, err);
		free(err);
	}
	rm_rf(dir);
}
END_TEST

START_TEST(test_normal_end_through_serve)
{
	static char data[20000];
	memset(data, 'f', sizeof(data));
	/*
	 * Half of them close without a shutdown first: qrexec-agent shuts
	 * the socket down and closes it together when the sender exits
	 * with its output still open, as a file copy's sender does.
	 */
	data[sizeof(data) - 1] = '\n';
	for (int i = 0; i < NORMAL_END_RUNS; i++) {
		char service[32];
		snprintf(service, sizeof(service), "test.%s+%d", i % 2 ? "Ack" : "Status", 1 + i % 50);
		int fd = call_vm(&d, "pass3", "target-vm", service);
		ck_assert_int_eq(send(fd, data, sizeof(data), MSG_NOSIGNAL), (ssize_t)sizeof(data));
		if (i % 2 == 0)
			ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
		char status[64];
		size_t got = 0;
		while (got < sizeof(status) && !memchr(status, '\n', got)) {
			ssize_t k = read(fd, status + got, sizeof(status) - got);
			ck_assert_int_gt(k, 0);
			got += (size_t)k;
		}
		close(fd);
		ck_assert_msg(!strncmp(status, "20000 ", 6), "%.*s", (int)got, status);
	}
	ck_assert_int_eq(file_wait_count(d.log, "chain=pass3 result=", NORMAL_END_RUNS, 10000), NORMAL_END_RUNS);
	int ok = file_count(d.log, "chain=pass3 result=ok ");
	if (ok != NORMAL_END_RUNS) {
		/* the first that is not ok (Check cuts a long message: not the whole log) */
		char *log = file_read(d.log), *save = NULL;
		for (char *line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			if (strstr(line, "chain=pass3 result=") && !strstr(line, "result=ok "))
				ck_abort_msg("%d of %d ok; %s", ok, NORMAL_END_RUNS, line);
		ck_abort_msg("%d of %d ok", ok, NORMAL_END_RUNS);
	}
}
END_TEST

START_TEST(test_run_service_with_a_newline)
{
	/* run takes --service from its command line: a newline there must not split the line */
	char dir[256], config[300];
	make_tmpdir(dir, sizeof(dir));
	snprintf(config, sizeof(config), "%s/chains.yaml", dir);
	write_config(config, config_body);
	struct proxy_run r;
	const char *args[] = { "run", "--config", config, "--service", "evil\nconnection forged: result=ok", "pass3",
			       "--", "/bin/cat", NULL };
	proxy_run(args, NULL, 100, 1, &r);
	ck_assert_int_eq(proxy_run_exit(&r), 0);
	ck_assert_ptr_null(strstr(r.err, "\nconnection forged"));
	ck_assert_ptr_nonnull(strstr(r.err, "service=\"evil\\x0aconnection forged: result=ok\""));
	proxy_run_free(&r);
	rm_rf(dir);
}
END_TEST

START_TEST(test_idle_timeout)
{
	/*
	 * A chain's idle_timeout ends a connection with no byte either way
	 * for that long (here 1 s, the destination silent for 300 s), with no
	 * filter for it; one that keeps moving bytes lives on.
	 */
	int fd = call_vm(&d, "idle1", "target-vm", "test.Echo");
	int64_t t0 = now_ms();
	for (int i = 0; i < 8; i++) {
		char c = (char)('a' + i), r = 0;
		ck_assert_int_eq(send(fd, &c, 1, MSG_NOSIGNAL), 1);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ck_assert_int_eq(poll(&p, 1, wait_ms(0)), 1);
		ck_assert_int_eq(read(fd, &r, 1), 1);
		ck_assert_int_eq(r, c);
		poll(NULL, 0, 250);
	}
	ck_assert_int_ge(now_ms() - t0, 2000);
	ck_assert_int_eq(file_count(d.log, "chain=idle1 result="), 0);
	/* then silence, the caller still there */
	char *line = summary_line("chain=idle1 result=");
	ck_assert_msg(strstr(line, "result=aborted reason=\"no data either way for 1.000 s (idle_timeout)\""), "%s",
		      line);
	free(line);
	char c;
	ck_assert_int_eq(read(fd, &c, 1), 0);
	close(fd);
	assert_no_children_of(&d);
}
END_TEST

static Suite *summary_suite(void)
{
	Suite *s = suite_create("summary");
	TCase *tu = tcase_create("escaping");
	tcase_add_test(tu, test_escaping_round_trips);
	tcase_add_test(tu, test_long_values_are_cut_with_a_marker);
	tcase_add_test(tu, test_journal_field_is_the_value);
	suite_add_tcase(s, tu);
	TCase *tc = tcase_create("daemon");
	tcase_set_timeout(tc, test_timeout(180));
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_long_argument_keeps_the_summary_whole);
	tcase_add_test(tc, test_caller_gone_after_its_eof);
	tcase_add_test(tc, test_caller_killed_mid_upload);
	tcase_add_test(tc, test_normal_end_through_run);
	tcase_add_test(tc, test_normal_end_through_serve);
	tcase_add_test(tc, test_run_service_with_a_newline);
	tcase_add_test(tc, test_idle_timeout);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(summary_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
