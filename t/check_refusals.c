/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Every connection leaves one summary, whatever ends it: each refusal
 * (an unknown chain, the allowlists, an unmatched transparent call, a bad
 * or late descriptor, a refused peer, a queue timeout, an admission
 * refusal, a connector that cannot start) is found by its result and its
 * reason, once as QP_RESULT= and QP_REASON= in the daemon's journal, once
 * as result= and reason= in its --log stderr line.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

/* @X@: a connector that exists at start and is gone by the call (see provoke_connector) */
static const char config_body[] =
	"connector: [\"@B@/t/fake-connector\", \"{target}\", \"{service}\"]\n"
	"filter_path: [\"@B@/filters\"]\n"
	"chains:\n"
	"  pass3:\n"
	"    filters: [pass, pass, pass]\n"
	"  fenced:\n"
	"    sources: [source-vm]\n"
	"    targets: [target-vm]\n"
	"    services: [test.Echo]\n"
	"    filters: [pass]\n"
	"  one:\n"
	"    max_connections: 1\n"
	"    queue_timeout: 0.3\n"
	"    filters: [pass]\n"
	"  admit-no:\n"
	"    admit: [/bin/false]\n"
	"    filters: [pass]\n"
	"  gone:\n"
	"    connector: [\"@X@\", \"{target}\", \"{service}\"]\n"
	"    filters: [pass]\n"
	"transparent:\n"
	"  - service: test.Echo\n"
	"    sources: [work]\n"
	"    target: target-vm\n"
	"    chain: pass3\n";

static struct daemon d;
static char xdir[256], xconn[300];

struct refusal {
	const char *name;
	const char *const *extra;   /* serve's options */
	void (*provoke)(void);
	const char *result;
	const char *reason;         /* the whole reason; ending in '*': its start */
	const char *source;         /* the source the summary names; NULL: "-" */
};

static void call_refused(const char *descriptor)
{
	assert_refused(call_open(&d, descriptor));
}

static void provoke_unknown_chain(void)
{
	call_refused("qrexec-proxy+no-such+target-vm+test.Echo source-vm");
}

static void provoke_source(void)
{
	call_refused("qrexec-proxy+fenced+target-vm+test.Echo intruder-vm");
}

static void provoke_target(void)
{
	call_refused("qrexec-proxy+fenced+other-vm+test.Echo source-vm");
}

static void provoke_service(void)
{
	call_refused("qrexec-proxy+fenced+target-vm+test.Hash source-vm");
}

static void provoke_transparent(void)
{
	call_refused("test.Unknown+ work");
}

static void provoke_bad_descriptor(void)
{
	call_refused("qrexec-proxy+pass3+target-vm+test.Echo");
}

static void provoke_late_descriptor(void)
{
	/* connected, and nothing sent: the descriptor timeout (1 s) ends it */
	assert_refused(call_open(&d, NULL));
}

static void provoke_peer(void)
{
	/* we are root; the daemon takes only uid 4242 */
	assert_refused(call_open(&d, NULL));
}

static void provoke_queue_timeout(void)
{
	/* one holds chain one's only slot; the next waits its 0.3 s and is refused */
	int holder = call_vm(&d, "one", "target-vm", "test.Sleep+300");
	ck_assert(file_wait_for(d.connlog, "start target-vm test.Sleep+300", 10000));
	call_refused("qrexec-proxy+one+target-vm+test.Echo source-vm");
	close(holder);
}

static void provoke_admission(void)
{
	call_refused("qrexec-proxy+admit-no+target-vm+test.Echo source-vm");
}

static void provoke_connector(void)
{
	ck_assert_int_eq(unlink(xconn), 0);
	call_refused("qrexec-proxy+gone+target-vm+test.Echo source-vm");
}

static const char *const no_extra[] = { NULL };
static const char *const desc_timeout[] = { "--descriptor-timeout", "1", NULL };
static const char *const peer_4242[] = { "--allow-peer-uid", "4242", NULL };

static const struct refusal refusals[] = {
	{ "unknown chain", no_extra, provoke_unknown_chain, "refused", "no chain 'no-such' in the configuration",
	  "source-vm" },
	{ "sources", no_extra, provoke_source, "refused", "source 'intruder-vm' is not in chain 'fenced' sources",
	  "intruder-vm" },
	{ "targets", no_extra, provoke_target, "refused", "target 'other-vm' is not in chain 'fenced' targets",
	  "source-vm" },
	{ "services", no_extra, provoke_service, "refused", "service 'test.Hash' is not in chain 'fenced' services",
	  "source-vm" },
	{ "transparent", no_extra, provoke_transparent, "refused",
	  "call for test.Unknown from work: no transparent entry for this service", "work" },
	{ "bad descriptor", no_extra, provoke_bad_descriptor, "refused",
	  "malformed service descriptor: the service descriptor has neither the VM nor the dom0 form", NULL },
	{ "late descriptor", desc_timeout, provoke_late_descriptor, "refused",
	  "descriptor: the service descriptor did not arrive in time", NULL },
	{ "peer", peer_4242, provoke_peer, "refused", "peer uid 0 (gid 0, pid *", NULL },
	{ "queue timeout", no_extra, provoke_queue_timeout, "queue-timeout",
	  "no slot within the queue timeout (0.3*", "source-vm" },
	{ "admission", no_extra, provoke_admission, "refused", "refused by admit /bin/false (exited 1)", "source-vm" },
	{ "connector", no_extra, provoke_connector, "failed", "connector '@X@' could not be started: No such file or directory",
	  "source-vm" },
};
#define NREFUSALS (sizeof(refusals) / sizeof(refusals[0]))

/* S with every @X@ replaced by the disposable connector's path (static buffer) */
static const char *with_x(const char *s)
{
	static char out[8192];
	char *o = out;
	for (const char *p = s; *p && o < out + sizeof(out) - 400;) {
		if (!strncmp(p, "@X@", 3)) {
			o = stpcpy(o, xconn);
			p += 3;
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	return out;
}

/* a copy of the stand-in connector, in a directory of its own: provoke_connector removes it */
static void make_disposable_connector(void)
{
	make_tmpdir(xdir, sizeof(xdir));
	snprintf(xconn, sizeof(xconn), "%s/connector", xdir);
	char src[512];
	snprintf(src, sizeof(src), "%s/t/fake-connector", builddir());
	FILE *in = fopen(src, "rb");
	ck_assert_ptr_nonnull(in);
	FILE *out = fopen(xconn, "wb");
	ck_assert_ptr_nonnull(out);
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
	fclose(in);
	ck_assert_int_eq(fclose(out), 0);
	ck_assert_int_eq(chmod(xconn, 0755), 0);
	ck_assert_int_eq(chmod(xdir, 0755), 0);
}

/* "KEY=VALUE" (static buffer per slot) */
static const char *field(int slot, const char *key, const char *value)
{
	static char buf[4][600];
	snprintf(buf[slot], sizeof(buf[slot]), "%s=%s", key, value);
	return buf[slot];
}

START_TEST(test_refusal_in_the_journal)
{
	const struct refusal *r = &refusals[_i];
	make_disposable_connector();
	if (!daemon_start_journal(&d, with_x(config_body), r->extra)) {
		printf("%s: no mount namespace here (not root): the journal's side is not checked\n", r->name);
		rm_rf(xdir);
		return;
	}
	r->provoke();
	const char *const fields[] = {
		field(0, "QP_RESULT", r->result),
		field(1, "QP_REASON", with_x(r->reason)),
		field(2, "QP_SOURCE", r->source ? r->source : "-"),
		"QP_CONNECTION=*",
		NULL,
	};
	char *e = journal_wait_entry(&d, fields, 10000);
	if (!e) {
		char *j = file_read(d.journal);
		size_t len = strlen(j);
		ck_abort_msg("%s: no entry with %s and %s in the journal:\n%s", r->name, fields[0], fields[1],
			     j + (len > 3000 ? len - 3000 : 0));
	}
	/* the line is in the entry's MESSAGE too, and once */
	ck_assert_msg(strstr(e, "MESSAGE=connection "), "%s", e);
	free(e);
	poll(NULL, 0, 200);
	ck_assert_int_eq(journal_count(&d, fields), 1);
	daemon_teardown(&d);
	rm_rf(xdir);
}
END_TEST

START_TEST(test_refusal_on_stderr)
{
	const struct refusal *r = &refusals[_i];
	make_disposable_connector();
	daemon_start(&d, with_x(config_body), r->extra);
	r->provoke();
	const char *reason = with_x(r->reason);
	size_t rl = strlen(reason);
	bool prefix = rl && reason[rl - 1] == '*';
	/* what stands between source and result varies: look for both halves */
	char head[100], tail[700];
	snprintf(head, sizeof(head), "source=%s ", r->source ? r->source : "-");
	snprintf(tail, sizeof(tail), " result=%s reason=\"%.*s%s", r->result, (int)(prefix ? rl - 1 : rl), reason,
		 prefix ? "" : "\"");
	ck_assert_msg(file_wait_for(d.log, tail, 10000), "%s: no summary with %s:\n%s", r->name, tail,
		      file_read(d.log));
	char *log = file_read(d.log);
	char *line = strstr(log, tail);
	while (line > log && line[-1] != '\n')
		line--;
	char *end = strchr(line, '\n');
	if (end)
		*end = '\0';
	ck_assert_msg(strstr(line, head) && strstr(line, "connection "), "%s: %s", r->name, line);
	free(log);
	ck_assert_int_eq(file_count(d.log, tail), 1);
	daemon_teardown(&d);
	rm_rf(xdir);
}
END_TEST

static Suite *refusals_suite(void)
{
	Suite *s = suite_create("refusals");
	TCase *tj = tcase_create("journal");
	tcase_set_timeout(tj, 120);
	tcase_add_loop_test(tj, test_refusal_in_the_journal, 0, (int)NREFUSALS);
	suite_add_tcase(s, tj);
	TCase *te = tcase_create("stderr");
	tcase_set_timeout(te, 120);
	tcase_add_loop_test(te, test_refusal_on_stderr, 0, (int)NREFUSALS);
	suite_add_tcase(s, te);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(refusals_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
