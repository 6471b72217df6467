/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "timeout.h"
#include "descriptor.h"

static int parse_full(const char *in, struct qp_descriptor *d, struct qp_call *c, const char **why)
{
	static char buf[QP_DESCRIPTOR_MAX + 1];
	size_t len = strlen(in);
	memcpy(buf, in, len + 1);
	if (descriptor_parse(buf, len, d, why) < 0)
		return -1;
	return argument_parse(d->argument, c, why);
}

START_TEST(test_vm_form)
{
	struct qp_descriptor d;
	struct qp_call c;
	const char *why = NULL;
	ck_assert_int_eq(parse_full("qrexec-proxy+one-way+work+qubes.Filecopy work-src", &d, &c, &why), 0);
	ck_assert_str_eq(d.service_name, "qrexec-proxy");
	ck_assert_str_eq(d.source, "work-src");
	ck_assert_ptr_null(d.target_type);
	ck_assert_str_eq(c.chain, "one-way");
	ck_assert_str_eq(c.target, "work");
	ck_assert_str_eq(c.service, "qubes.Filecopy");
}
END_TEST

START_TEST(test_service_argument_kept)
{
	struct qp_descriptor d;
	struct qp_call c;
	const char *why = NULL;
	ck_assert_int_eq(parse_full("my-proxy+pass+vault+qubes.Gpg+key+1 dom0", &d, &c, &why), 0);
	ck_assert_str_eq(d.service_name, "my-proxy");
	ck_assert_str_eq(c.service, "qubes.Gpg+key+1");
	/* an empty argument is what qrexec sends when the caller gave none */
	ck_assert_int_eq(parse_full("qrexec-proxy+pass+vault+qubes.Gpg+ dom0", &d, &c, &why), 0);
	ck_assert_str_eq(c.service, "qubes.Gpg+");
}
END_TEST

START_TEST(test_dom0_form)
{
	struct qp_descriptor d;
	struct qp_call c;
	const char *why = NULL;
	ck_assert_int_eq(parse_full("qrexec-proxy+pass+sys-net+qubes.Echo work name dom0", &d, &c, &why), 0);
	ck_assert_str_eq(d.source, "work");
	ck_assert_str_eq(d.target_type, "name");
	ck_assert_str_eq(d.self_target, "dom0");
	ck_assert_int_eq(parse_full("qrexec-proxy+pass+sys-net+qubes.Echo work keyword @adminvm", &d, &c, &why), 0);
	ck_assert_str_eq(d.self_target, "@adminvm");
}
END_TEST

static const char *const malformed[] = {
	"",                                          /* empty */
	"qrexec-proxy",                              /* no argument, no source */
	"qrexec-proxy work",                         /* no argument */
	"qrexec-proxy+ work",                        /* empty argument */
	"qrexec-proxy+pass work",                    /* no target */
	"qrexec-proxy+pass+vm work",                 /* no service */
	"qrexec-proxy+pass+vm+ work",                /* empty service */
	"qrexec-proxy++vm+svc work",                 /* empty chain */
	"qrexec-proxy+pass++svc work",               /* empty target */
	"qrexec-proxy+pass+vm+svc",                  /* no source */
	"qrexec-proxy+pass+vm+svc ",                 /* empty source */
	"qrexec-proxy+pass+vm+svc  work",            /* double space */
	"qrexec-proxy+pass+vm+svc work name",        /* three fields */
	"qrexec-proxy+pass+vm+svc work name dom0 x", /* five fields */
	"qrexec-proxy+pass+vm+svc work bogus dom0",  /* bad target type */
	"+pass+vm+svc work",                         /* empty service name */
	"qrexec proxy+pass+vm+svc work",             /* space in service */
	"qrexec-proxy+pa$s+vm+svc work",             /* bad char in chain */
	"qrexec-proxy+pass+v/m+svc work",            /* bad char in target */
	"qrexec-proxy+pass+vm+s;vc work",            /* bad char in service */
	"qrexec-proxy+pass+vm+svc+a/b work",         /* bad char in argument */
	"qrexec-proxy+pass+@dispvm+svc work",        /* keyword target */
	"qrexec-proxy+pass+-vm+svc work",            /* option-like target */
	"qrexec-proxy+pass+1vm+svc work",            /* target not starting with a letter */
	"qrexec-proxy+pass+vm+-svc work",            /* option-like service */
	"qrexec-proxy+pass+vm+.svc work",            /* dot service */
	"qrexec-proxy+-pass+vm+svc work",            /* option-like chain */
	"qrexec-proxy+pass+vm+svc -work",            /* bad source */
	"qrexec-proxy+pass+vm+svc wo\tk",            /* control char in source */
	"qrexec-proxy+pass+vm+svc w\xc3\xa9rk",      /* non-ASCII */
	"qrexec-proxy+pass+averyveryveryveryveryverylongvmname+svc work", /* target > 31 */
	"qrexec-proxy+pass+vm+svc averyveryveryveryveryverylongvmname",   /* source > 31 */
	NULL,
};

START_TEST(test_malformed)
{
	struct qp_descriptor d;
	struct qp_call c;
	for (int i = 0; malformed[i]; i++) {
		const char *why = NULL;
		ck_assert_msg(parse_full(malformed[i], &d, &c, &why) < 0, "accepted: '%s'", malformed[i]);
		ck_assert_msg(why && *why, "no reason for '%s'", malformed[i]);
	}
}
END_TEST

START_TEST(test_embedded_nul)
{
	char buf[] = "qrexec-proxy+pass+vm+svc\0work";
	struct qp_descriptor d;
	const char *why;
	ck_assert_int_lt(descriptor_parse(buf, sizeof(buf) - 1, &d, &why), 0);
}
END_TEST

START_TEST(test_long_names)
{
	static char buf[QP_DESCRIPTOR_MAX + 100];
	struct qp_descriptor d;
	struct qp_call c;
	const char *why;
	/* a 255-byte destination service name is allowed, 256 is not */
	strcpy(buf, "qrexec-proxy+pass+vm+");
	size_t o = strlen(buf);
	memset(buf + o, 's', 255);
	strcpy(buf + o + 255, " work");
	ck_assert_int_eq(parse_full(buf, &d, &c, &why), 0);
	memset(buf + o, 's', 256);
	strcpy(buf + o + 256, " work");
	ck_assert_int_lt(parse_full(buf, &d, &c, &why), 0);
}
END_TEST

START_TEST(test_vm_names)
{
	ck_assert(name_qube("work"));
	ck_assert(name_qube("a"));
	ck_assert(name_qube("sys-net_2.0"));
	ck_assert(!name_qube(""));
	ck_assert(!name_qube("0day"));
	ck_assert(!name_qube("-x"));
	ck_assert(!name_qube("a b"));
	ck_assert(!name_qube("a+b"));
	ck_assert(name_qube("abcdefghijklmnopqrstuvwxyz01234"));
	ck_assert(!name_qube("abcdefghijklmnopqrstuvwxyz012345"));
}
END_TEST

/* --- reading: exactly up to the NUL --- */

START_TEST(test_read_stops_at_nul)
{
	int sv[2];
	char buf[256];
	size_t len;
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	const char msg[] = "qrexec-proxy+pass+vm+svc work\0DATA-AFTER";
	ck_assert_int_eq(write(sv[1], msg, sizeof(msg) - 1), (ssize_t)sizeof(msg) - 1);
	ck_assert_int_eq(descriptor_read(sv[0], buf, sizeof(buf), 1000, &len), DESC_OK);
	ck_assert_uint_eq(len, strlen("qrexec-proxy+pass+vm+svc work"));
	ck_assert_str_eq(buf, "qrexec-proxy+pass+vm+svc work");
	char rest[64];
	ssize_t n = read(sv[0], rest, sizeof(rest));
	ck_assert_int_eq(n, 10);
	ck_assert(!memcmp(rest, "DATA-AFTER", 10));
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(test_read_byte_at_a_time)
{
	int sv[2];
	char buf[256];
	size_t len;
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	const char msg[] = "qrexec-proxy+pass+vm+svc work\0X";
	pid_t pid = fork();
	if (pid == 0) {
		for (size_t i = 0; i < sizeof(msg) - 1; i++) {
			if (write(sv[1], msg + i, 1) != 1)
				_exit(1);
			usleep(2000);
		}
		_exit(0);
	}
	ck_assert_int_eq(descriptor_read(sv[0], buf, sizeof(buf), 5000, &len), DESC_OK);
	ck_assert_str_eq(buf, "qrexec-proxy+pass+vm+svc work");
	char x;
	ck_assert_int_eq(read(sv[0], &x, 1), 1);
	ck_assert_int_eq(x, 'X');
	waitpid(pid, NULL, 0);
}
END_TEST

START_TEST(test_read_too_long)
{
	int sv[2];
	char buf[64];
	size_t len;
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	char big[200];
	memset(big, 'a', sizeof(big));
	ck_assert_int_eq(write(sv[1], big, sizeof(big)), (ssize_t)sizeof(big));
	ck_assert_int_eq(descriptor_read(sv[0], buf, sizeof(buf), 1000, &len), DESC_TOO_LONG);
}
END_TEST

START_TEST(test_read_timeout_and_eof)
{
	int sv[2];
	char buf[64];
	size_t len;
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(write(sv[1], "abc", 3), 3);
	ck_assert_int_eq(descriptor_read(sv[0], buf, sizeof(buf), 200, &len), DESC_TIMEOUT);
	close(sv[1]);
	ck_assert_int_eq(descriptor_read(sv[0], buf, sizeof(buf), 200, &len), DESC_EOF);
	ck_assert_str_ne(descriptor_strstatus(DESC_EOF), "");
}
END_TEST

static Suite *descriptor_suite(void)
{
	Suite *s = suite_create("descriptor");
	TCase *tc = tcase_create("parse");
	tcase_add_test(tc, test_vm_form);
	tcase_add_test(tc, test_service_argument_kept);
	tcase_add_test(tc, test_dom0_form);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_embedded_nul);
	tcase_add_test(tc, test_long_names);
	tcase_add_test(tc, test_vm_names);
	suite_add_tcase(s, tc);
	tc = tcase_create("read");
	tcase_set_timeout(tc, test_timeout(30));
	tcase_add_test(tc, test_read_stops_at_nul);
	tcase_add_test(tc, test_read_byte_at_a_time);
	tcase_add_test(tc, test_read_too_long);
	tcase_add_test(tc, test_read_timeout_and_eof);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(descriptor_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
