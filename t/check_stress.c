/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Load: many concurrent connections through random chains, every byte
 * checked by hash both ways; then the daemon's fds, children and memory
 * against before. make check runs a short form; make stress the long one
 * (QP_STRESS_CONNECTIONS=200, QP_STRESS_BYTES=4194304).
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "timeout.h"
#include "hash.h"
#include "testutil.h"

static const char config_body[] =
	"connector: [\"@B@/t/fake-connector\", \"{target}\", \"{service}\"]\n"
	"filter_path: [\"@B@/filters\"]\n"
	"chains:\n"
	"  c0: {filters: []}\n"
	"  c1: {filters: [pass]}\n"
	"  c2: {filters: [pass, {name: pass, direction: src2dst}]}\n"
	"  c3: {filters: [pass, pass, pass]}\n"
	"  c4: {filters: [{name: streamline, args: [--max-read-delay, \"0\", --max-write-delay, \"0\"]}, pass]}\n"
	"  c5: {filters: [{name: byte-limit, args: [\"1G\"]}, {name: timeout, args: [--seconds, \"600\"]}]}\n"
	"  c6: {filters: [pass, pass, pass, pass, pass, pass]}\n";

static long env_long(const char *name, long dflt)
{
	const char *v = getenv(name);
	return v && *v ? atol(v) : dflt;
}

static int count_fds(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	int n = 0;
	struct dirent *e;
	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static long rss_kb(pid_t pid)
{
	char path[64], line[256];
	long v = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			v = atol(line + 6);
	fclose(f);
	return v;
}

START_TEST(test_concurrent_random_chains)
{
	struct daemon d;
	/* the data path under load, from one source: no per-source limit in the way (t/check_limits tests those) */
	static const char *const extra[] = { "--max-connections", "512", "--max-per-source", "512",
					     "--max-queued-per-source", "512", NULL };
	int n = (int)env_long("QP_STRESS_CONNECTIONS", 50);
	uint64_t bytes = (uint64_t)env_long("QP_STRESS_BYTES", 1 << 20);

	daemon_start(&d, config_body, extra);
	/* warm up, so lazily allocated daemon state is counted in "before" */
	for (int i = 0; i < 3; i++) {
		struct xfer x;
		call_transfer(call_vm(&d, "c1", "target-vm", "test.Echo"), 1000, 1, 30000, &x);
	}
	/* the warm-up's supervisors gone (the listener keeps a channel to each while it runs) */
	pid_t left0[8];
	for (int64_t end = now_ms() + wait_ms(0); children_of(d.pid, left0, 8) > 0 && now_ms() < end;)
		usleep(20000);
	/* the listener holds one fd for its spare supervisor: count with one there */
	ck_assert_int_gt(daemon_wait_spare(&d), 0);
	int fds_before = count_fds(d.pid);
	long rss_before = rss_kb(d.pid);

	pid_t *kids = calloc((size_t)n, sizeof(pid_t));
	for (int i = 0; i < n; i++) {
		kids[i] = fork();
		ck_assert_int_ge(kids[i], 0);
		if (kids[i] == 0) {
			uint64_t seed = 1000 + (uint64_t)i;
			char chain[8];
			snprintf(chain, sizeof(chain), "c%d", (int)((seed * 2654435761u) % 7));
			uint64_t len = bytes / 2 + (seed * 7919) % (bytes / 2 + 1);
			struct xfer x;
			call_transfer(call_vm(&d, chain, "target-vm", "test.Echo"), len, seed, 240000, &x);
			_exit(!x.timed_out && x.writer_status == 0 && x.recv == len && x.recv_hash == x.sent_hash ? 0 : 1);
		}
	}
	int ok = 0;
	for (int i = 0; i < n; i++) {
		int st;
		waitpid(kids[i], &st, 0);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			ok++;
	}
	free(kids);
	ck_assert_int_eq(ok, n);
	ck_assert_int_eq(file_wait_count(d.log, "result=ok", n + 3, 30000), n + 3);
	ck_assert_int_eq(file_count(d.log, "result=aborted"), 0);

	/* nothing left behind: no supervisor, no extra fd, no growth */
	pid_t left[8];
	int nleft = 0;
	for (int64_t end = now_ms() + wait_ms(0); (nleft = children_of(d.pid, left, 8)) > 0 && now_ms() < end;)
		usleep(20000);
	ck_assert_int_eq(nleft, 0);
	ck_assert_int_gt(daemon_wait_spare(&d), 0);
	ck_assert_int_eq(count_fds(d.pid), fds_before);
	long rss_after = rss_kb(d.pid);
	ck_assert_msg(rss_after <= rss_before + 512, "daemon RSS grew from %ld to %ld KiB", rss_before, rss_after);
	printf("stress: %d connections of up to %llu bytes each way: all bytes checked; daemon fds %d -> %d, RSS %ld -> %ld KiB\n",
	       n, (unsigned long long)bytes, fds_before, count_fds(d.pid), rss_before, rss_after);

	int status = daemon_stop(&d);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	rm_rf(d.dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stress");
	TCase *tc = tcase_create("stress");
	tcase_set_timeout(tc, test_timeout(900));
	tcase_add_test(tc, test_concurrent_random_chains);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
