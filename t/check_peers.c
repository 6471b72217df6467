/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Who may connect, when group qubes changes: a user added to the group
 * is served after a reload (and before one: a peer about to be refused
 * has the group read again), one removed from it is refused after the
 * next reload. The test's process has a mount namespace of its own with
 * its own /etc/passwd and /etc/group, so the machine's are never touched.
 */
#include <check.h>
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define PEER_UID 4321
#define QUBES_GID 4399

static const char config_body[] =
	"connector: [\"@B@/t/fake-connector\", \"{target}\", \"{service}\"]\n"
	"filter_path: [\"@B@/filters\"]\n"
	"chains:\n"
	"  pass1:\n"
	"    filters: [pass]\n";

static struct daemon d;
static char dir[256], group_file[300];

/* a copy of /etc/FILE with LINE added, bound over /etc/FILE (in our namespace only); its path in OUT */
static void bind_copy(const char *file, const char *line, char *out, size_t size)
{
	char etc[64];
	snprintf(etc, sizeof(etc), "/etc/%s", file);
	snprintf(out, size, "%s/%s", dir, file);
	char *text = file_read(etc);
	FILE *f = fopen(out, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "%s%s", text, line);
	ck_assert_int_eq(fclose(f), 0);
	free(text);
	ck_assert_int_eq(chmod(out, 0644), 0);
	ck_assert_msg(mount(out, etc, NULL, MS_BIND, NULL) == 0, "bind %s: %s", etc, strerror(errno));
}

/* group qubes with MEMBER ("" for none), written in place: the bound file is the same inode */
static void set_qubes_members(const char *member)
{
	char *text = file_read("/etc/group");
	char *q = strstr(text, "\nqubes:");
	ck_assert_ptr_nonnull(q);
	*++q = '\0';
	FILE *f = fopen("/etc/group", "r+");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(ftruncate(fileno(f), 0), 0);
	fprintf(f, "%squbes:x:%d:%s\n", text, QUBES_GID, member);
	ck_assert_int_eq(fclose(f), 0);
	free(text);
}

/* whether a call made as PEER_UID (in a child, group PEER_UID alone) is served: its byte comes back */
static bool served(void)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(PEER_UID) < 0 || setuid(PEER_UID) < 0)
			_exit(2);
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		memcpy(sa.sun_path, d.sock, strlen(d.sock) + 1);
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			_exit(3);
		static const char desc[] = "qrexec-proxy+pass1+target-vm+test.Echo source-vm";
		(void)!send(fd, desc, sizeof(desc), MSG_NOSIGNAL);
		(void)!send(fd, "x", 1, MSG_NOSIGNAL);
		shutdown(fd, SHUT_WR);
		char c;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n = poll(&p, 1, wait_ms(0)) == 1 ? read(fd, &c, 1) : -1;
		_exit(n == 1 && c == 'x' ? 0 : 1);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) < 2, "unable to call as uid %d (status 0x%x)", PEER_UID, st);
	return WEXITSTATUS(st) == 0;
}

/* the daemon reloads, and says so */
static void reload(int n)
{
	const char *args[] = { "reload", "--pid", NULL, NULL };
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)d.pid);
	args[2] = pid;
	int rc;
	free(proxy_capture(args, NULL, &rc, NULL));
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(file_wait_count(d.log, "configuration reloaded", n, 10000), n);
}

START_TEST(test_group_qubes_read_again)
{
	if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0) {
		printf("peers: not root: group changes are not checked here\n");
		return;
	}
	ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	make_tmpdir(dir, sizeof(dir));
	ck_assert_int_eq(chmod(dir, 0755), 0);
	char passwd_file[300], line[128];
	snprintf(line, sizeof(line), "qp-peer:x:%d:%d::/:/bin/false\n", PEER_UID, PEER_UID);
	bind_copy("passwd", line, passwd_file, sizeof(passwd_file));
	snprintf(line, sizeof(line), "qubes:x:%d:\n", QUBES_GID);
	bind_copy("group", line, group_file, sizeof(group_file));

	daemon_start(&d, config_body, NULL);
	/* the file system would stop the peer first (0660, a 0700 directory): let it reach the daemon */
	ck_assert_int_eq(chmod(d.dir, 0755), 0);
	ck_assert_int_eq(chmod(d.sock, 0666), 0);
	ck_assert(!served());
	ck_assert(file_wait_for(d.log, "reason=\"peer uid 4321 (gid 4321, pid ", 10000));

	/* added to group qubes, then the reload the administrator runs: served */
	set_qubes_members("qp-peer");
	reload(1);
	ck_assert(served());
	/* removed: refused once the daemon reloads */
	set_qubes_members("");
	reload(2);
	ck_assert(!served());
	/* added again, no reload: a peer about to be refused has the group read again (once a second at most) */
	set_qubes_members("qp-peer");
	bool ok = false;
	for (int64_t end = now_ms() + wait_ms(0); !ok && now_ms() < end; poll(NULL, 0, 200))
		ok = served();
	ck_assert(ok);
	daemon_teardown(&d);
	umount("/etc/group");
	umount("/etc/passwd");
	rm_rf(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("peers");
	TCase *tc = tcase_create("peers");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_group_qubes_read_again);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
