/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qrexec-proxy policy (orchestrator/policy.c): the dom0 policy written
 * from the example configurations, compared with golden files in
 * t/policy/ (QP_UPDATE_GOLDEN=1 writes them anew, to be read and
 * committed); what each form of sources, targets and services becomes;
 * and the mode itself as an administrator runs it. t/check-policy.py
 * parses the same files with a reader of the policy format.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "timeout.h"
#include "config.h"
#include "policy.h"
#include "testutil.h"

#define DATE ((time_t)1700000000) /* 2023-11-14 22:13:20 UTC, as in the golden files */

static char abs_builddir[PATH_MAX];
static char dir[256];

static void setup(void)
{
	make_tmpdir(dir, sizeof(dir));
}

static void teardown(void)
{
	rm_rf(dir);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(m);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, n, m);
	fclose(f);
	fclose(m);
	return buf;
}

static void spill(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");
	ck_assert_msg(f != NULL, "unable to write %s: %s", path, strerror(errno));
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* every occurrence of FROM in S replaced by TO (a new string) */
static char *replace_all(const char *s, const char *from, const char *to)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(m);
	size_t fl = strlen(from);
	for (const char *p; (p = strstr(s, from)); s = p + fl) {
		fwrite(s, 1, (size_t)(p - s), m);
		fputs(to, m);
	}
	fputs(s, m);
	fclose(m);
	return buf;
}

/* runs runs of spaces together, so that a test can name a rule without its alignment */
static char *squeeze(const char *s)
{
	char *out = malloc(strlen(s) + 1), *o = out;
	ck_assert_ptr_nonnull(out);
	for (; *s; s++)
		if (!(*s == ' ' && o > out && o[-1] == ' '))
			*o++ = *s;
	*o = '\0';
	return out;
}

struct written {
	char *out, *err;
	int rc;
};

static void write_policy(const struct qp_config *cfg, const char *proxy, time_t date, struct written *w)
{
	size_t olen = 0, elen = 0;
	FILE *o = open_memstream(&w->out, &olen), *e = open_memstream(&w->err, &elen);
	ck_assert(o && e);
	struct policy_options po = { .proxy_qube = proxy, .date = date };
	w->rc = policy_write(cfg, &po, o, e);
	fclose(o);
	fclose(e);
}

static void written_free(struct written *w)
{
	free(w->out);
	free(w->err);
}

static struct qp_config *load(const char *path)
{
	char filters[PATH_MAX + 16], *errs = NULL;
	size_t len = 0;
	snprintf(filters, sizeof(filters), "%s/filters", abs_builddir);
	FILE *f = open_memstream(&errs, &len);
	struct qp_config *cfg = config_load(path, filters, f);
	fclose(f);
	ck_assert_msg(cfg != NULL, "%s does not load:\n%s", path, errs);
	free(errs);
	return cfg;
}

/* a configuration written from BODY into the test's directory, loaded */
static struct qp_config *load_text(const char *body)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/chains.yaml", dir);
	spill(path, body);
	return load(path);
}

/* compares TEXT with the golden file NAME (or writes it, with QP_UPDATE_GOLDEN) */
static void golden(const char *name, const char *text)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/t/policy/%s", srcdir(), name);
	const char *update = getenv("QP_UPDATE_GOLDEN");
	if (update && *update && strcmp(update, "0")) {
		spill(path, text);
		return;
	}
	char *want = slurp(path);
	ck_assert_msg(want != NULL, "no golden file %s (QP_UPDATE_GOLDEN=1 writes it)", path);
	if (strcmp(want, text)) {
		char actual[PATH_MAX + 64];
		snprintf(actual, sizeof(actual), "%s/t/%s.actual", abs_builddir, name);
		spill(actual, text);
		ck_abort_msg("%s differs from what is written now (%s): diff -u %s %s; if the change is meant, run the test with QP_UPDATE_GOLDEN=1",
			     path, actual, path, actual);
	}
	free(want);
}

/* The example configurations, with the proxy qube sys-proxy: the golden files. */
static const char *const examples[][2] = {
	{ "conf/chains.yaml", "chains" },
	{ "conf/examples/one-way.yaml", "one-way" },
	{ "conf/examples/custom.yaml", "custom" },
	{ "conf/examples/transparent.yaml", "transparent" },
	{ "conf/examples/filecopy-guard.yaml", "filecopy-guard" },
	{ "conf/examples/updates-proxy.yaml", "updates-proxy" },
	{ "t/policy/allowlists.yaml", "allowlists" },
};

START_TEST(test_golden_files)
{
	const char *file = examples[_i][0], *name = examples[_i][1];
	struct qp_config *cfg = load(file);
	struct written w;
	write_policy(cfg, "sys-proxy", DATE, &w);
	ck_assert_int_ge(w.rc, 0);
	/* the version is in the header; the golden files do not change with it */
	char *out = replace_all(w.out, "qrexec-proxy " PACKAGE_VERSION, "qrexec-proxy @VERSION@");
	char gname[64];
	snprintf(gname, sizeof(gname), "%s.policy", name);
	golden(gname, out);
	snprintf(gname, sizeof(gname), "%s.warnings", name);
	golden(gname, w.err);
	/* one warning line per warning counted */
	int lines = 0;
	for (const char *p = w.err; *p; p++)
		lines += *p == '\n';
	ck_assert_int_eq(lines, w.rc);
	free(out);
	written_free(&w);
	config_free(cfg);
}
END_TEST

START_TEST(test_deterministic)
{
	struct qp_config *cfg = load("t/policy/allowlists.yaml");
	struct written a, b, c;
	write_policy(cfg, "sys-proxy", DATE, &a);
	write_policy(cfg, "sys-proxy", DATE, &b);
	ck_assert_str_eq(a.out, b.out);
	ck_assert_str_eq(a.err, b.err);
	/* another date changes the date, and nothing else */
	write_policy(cfg, "sys-proxy", DATE + 86400, &c);
	ck_assert_ptr_nonnull(strstr(a.out, "on 2023-11-14 22:13:20 UTC from:"));
	ck_assert_ptr_nonnull(strstr(c.out, "on 2023-11-15 22:13:20 UTC from:"));
	char *c2 = replace_all(c.out, "2023-11-15", "2023-11-14");
	ck_assert_str_eq(a.out, c2);
	free(c2);
	written_free(&a);
	written_free(&b);
	written_free(&c);
	config_free(cfg);
}
END_TEST

START_TEST(test_header_names_every_file)
{
	char d[300], path[340];
	snprintf(d, sizeof(d), "%s/chains.d", dir);
	ck_assert_int_eq(mkdir(d, 0755), 0);
	snprintf(path, sizeof(path), "%s/10-more.yaml", d);
	spill(path, "chains:\n  more:\n    targets: [vault]\n    services: [a.B]\n    filters: []\n");
	struct qp_config *cfg = load_text("chains:\n  main:\n    targets: [vault]\n    services: [a.A]\n    filters: []\n");
	struct written w;
	write_policy(cfg, "sys-proxy", DATE, &w);
	char *s = squeeze(w.out);
	char want[800];
	snprintf(want, sizeof(want), "#     %s/chains.yaml\n#     %s\n#\n", dir, path);
	ck_assert_msg(strstr(w.out, want), "the header does not name both files:\n%s", w.out);
	snprintf(want, sizeof(want), "# chain more (%s:2)\n", path);
	ck_assert_msg(strstr(w.out, want), "the drop-in's chain does not say where it is:\n%s", w.out);
	snprintf(want, sizeof(want), "qrexec-proxy policy --config %s/chains.yaml --proxy-qube sys-proxy\n", dir);
	ck_assert_msg(strstr(w.out, want), "no command to write it again:\n%s", w.out);
	ck_assert_ptr_nonnull(strstr(s, "qrexec-proxy +more+vault+a.B @anyvm sys-proxy allow\n"));
	ck_assert_ptr_nonnull(strstr(s, "a.B + sys-proxy vault allow\n"));
	free(s);
	written_free(&w);
	config_free(cfg);
}
END_TEST

/* the rules of one chain, without alignment */
static char *rules_of(const char *body, const char *proxy, char **err)
{
	struct qp_config *cfg = load_text(body);
	struct written w;
	write_policy(cfg, proxy, DATE, &w);
	ck_assert_int_ge(w.rc, 0);
	char *s = squeeze(w.out);
	*err = w.err;
	free(w.out);
	config_free(cfg);
	return s;
}

#define HAS(s, line) ck_assert_msg(strstr(s, "\n" line "\n"), "no line '%s' in:\n%s", line, s)
#define HASNT(s, text) ck_assert_msg(!strstr(s, text), "'%s' should not be in:\n%s", text, s)

START_TEST(test_exact_services)
{
	char *err;
	char *s = rules_of("chains:\n  c:\n    sources: [work, personal]\n    targets: [vault, backup]\n"
			   "    services: [qubes.Filecopy, my.Service+arg1]\n    filters: []\n",
			   "sys-proxy", &err);
	/* every source, target and service: no more */
	HAS(s, "qrexec-proxy +c+vault+qubes.Filecopy work sys-proxy allow");
	HAS(s, "qrexec-proxy +c+vault+qubes.Filecopy personal sys-proxy allow");
	HAS(s, "qrexec-proxy +c+backup+qubes.Filecopy work sys-proxy allow");
	HAS(s, "qrexec-proxy +c+backup+my.Service+arg1 personal sys-proxy allow");
	/* the destination: no argument is the empty one, '+' */
	HAS(s, "qubes.Filecopy + sys-proxy vault allow");
	HAS(s, "qubes.Filecopy + sys-proxy backup allow");
	HAS(s, "my.Service +arg1 sys-proxy vault allow");
	HAS(s, "my.Service +arg1 sys-proxy backup allow");
	HASNT(s, "@anyvm sys-proxy allow");
	HASNT(s, "\n#qrexec-proxy");
	/* and the end: nothing else to the proxy */
	const char *last = "qrexec-proxy * @anyvm sys-proxy deny\n";
	ck_assert_str_eq(s + strlen(s) - strlen(last), last);
	ck_assert_str_eq(err, "");
	free(err);
	free(s);
}
END_TEST

START_TEST(test_any_argument)
{
	char *err;
	char *s = rules_of("chains:\n  c:\n    sources: [work]\n    targets: [vault]\n"
			   "    services: [my.Any+, my.Deep+sub+]\n    filters: []\n",
			   "sys-proxy", &err);
	/* towards the proxy, only the call without an argument can be named */
	HAS(s, "qrexec-proxy +c+vault+my.Any work sys-proxy allow");
	HAS(s, "#qrexec-proxy +c+vault+my.Any+ARGUMENT work sys-proxy allow");
	/* from the proxy, '*' is exactly "any argument or none" */
	HAS(s, "my.Any * sys-proxy vault allow");
	/* SERVICE+ARG+: the argument ARG exactly, the longer ones commented out */
	HAS(s, "qrexec-proxy +c+vault+my.Deep+sub work sys-proxy allow");
	HAS(s, "my.Deep +sub sys-proxy vault allow");
	HAS(s, "#my.Deep +sub+ARGUMENT sys-proxy vault allow");
	HASNT(s, "my.Deep * ");
	ck_assert_ptr_nonnull(strstr(err, "warning: chain 'c': service 'my.Any+' takes any argument"));
	ck_assert_ptr_nonnull(strstr(err, "warning: chain 'c': service 'my.Deep+sub+' takes any argument"));
	free(err);
	free(s);
}
END_TEST

START_TEST(test_prefix)
{
	char *err;
	char *s = rules_of("chains:\n  c:\n    sources: [work]\n    targets: [vault]\n"
			   "    services: [my.pre*, qubes.Filecopy+ab*]\n    filters: []\n",
			   "sys-proxy", &err);
	/* no rule can say a prefix: everything commented out, nothing wider */
	HAS(s, "#qrexec-proxy +c+vault+my.preNAME work sys-proxy allow");
	HAS(s, "#my.preNAME + sys-proxy vault allow");
	HAS(s, "#qrexec-proxy +c+vault+qubes.Filecopy+abARGUMENT work sys-proxy allow");
	HAS(s, "#qubes.Filecopy +abARGUMENT sys-proxy vault allow");
	HASNT(s, "\nqrexec-proxy +c");
	HASNT(s, "\nqubes.Filecopy");
	HASNT(s, "\nmy.pre");
	ck_assert_ptr_nonnull(strstr(err, ":2:3: warning: chain 'c': service 'my.pre*' is a prefix"));
	ck_assert_ptr_nonnull(strstr(err, "warning: chain 'c': service 'qubes.Filecopy+ab*' is a prefix"));
	free(err);
	free(s);
}
END_TEST

START_TEST(test_open_chains_are_templates)
{
	char *err;
	char *s = rules_of("chains:\n  open:\n    filters: []\n  half:\n    targets: [vault]\n    filters: []\n"
			   "  other-half:\n    sources: [work]\n    services: [a.B]\n    filters: []\n",
			   "sys-proxy", &err);
	HAS(s, "#qrexec-proxy +open+TARGET+SERVICE @anyvm sys-proxy allow");
	HAS(s, "#SERVICE + sys-proxy TARGET allow");
	HAS(s, "#qrexec-proxy +half+vault+SERVICE @anyvm sys-proxy allow");
	HAS(s, "#SERVICE + sys-proxy vault allow");
	HAS(s, "#qrexec-proxy +other-half+TARGET+a.B work sys-proxy allow");
	HAS(s, "#a.B + sys-proxy TARGET allow");
	/* no wildcard allow, and the only rule left active is the closing deny */
	int active = 0;
	for (const char *p = s; (p = strchr(p, '\n')); p++)
		if (p[1] && p[1] != '#' && p[1] != '\n')
			active++;
	ck_assert_int_eq(active, 1);
	ck_assert_ptr_nonnull(strstr(err, ":2:3: warning: chain 'open': no 'targets'"));
	ck_assert_ptr_nonnull(strstr(err, ":2:3: warning: chain 'open': no 'services'"));
	ck_assert_ptr_nonnull(strstr(err, ":4:3: warning: chain 'half': no 'services'"));
	ck_assert_ptr_nonnull(strstr(err, ":7:3: warning: chain 'other-half': no 'targets'"));
	free(err);
	free(s);
}
END_TEST

START_TEST(test_each_rule_once)
{
	char *err;
	char *s = rules_of("chains:\n  a:\n    targets: [vault]\n    services: [x.Y]\n    filters: []\n"
			   "  b:\n    targets: [vault]\n    services: [x.Y, x.Y]\n    filters: []\n",
			   "proxy2", &err);
	HAS(s, "x.Y + proxy2 vault allow");
	HAS(s, "# (written above: x.Y + proxy2 vault allow)");
	ck_assert_ptr_null(strstr(strstr(s, "\nx.Y + proxy2 vault allow\n") + 1, "\nx.Y + proxy2 vault allow\n"));
	HAS(s, "qrexec-proxy +b+vault+x.Y @anyvm proxy2 allow");
	HAS(s, "# (written above: qrexec-proxy +b+vault+x.Y @anyvm proxy2 allow)");
	free(err);
	free(s);
}
END_TEST

START_TEST(test_valid_proxy_qube)
{
	ck_assert(policy_valid_proxy_qube("sys-proxy"));
	ck_assert(policy_valid_proxy_qube("P1_x.y"));
	ck_assert(policy_valid_proxy_qube("a234567890123456789012345678901"));
	ck_assert(!policy_valid_proxy_qube("a2345678901234567890123456789012"));
	ck_assert(!policy_valid_proxy_qube(""));
	ck_assert(!policy_valid_proxy_qube(NULL));
	ck_assert(!policy_valid_proxy_qube("dom0"));
	ck_assert(!policy_valid_proxy_qube("@anyvm"));
	ck_assert(!policy_valid_proxy_qube("1abc"));
	ck_assert(!policy_valid_proxy_qube("-abc"));
	ck_assert(!policy_valid_proxy_qube("a b"));
	ck_assert(!policy_valid_proxy_qube("a+b"));
}
END_TEST

/* ---- the mode, as an administrator runs it ---- */

struct run {
	int rc;
	char *out, *err;
};

static void run_policy(const char *const *args, const char *sde, struct run *r)
{
	char prog[PATH_MAX + 16], outp[300], errp[300];
	snprintf(prog, sizeof(prog), "%s/qrexec-proxy", abs_builddir);
	snprintf(outp, sizeof(outp), "%s/out", dir);
	snprintf(errp, sizeof(errp), "%s/err", dir);
	const char *argv[16] = { prog };
	int n = 1;
	for (; args[n - 1]; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	if (sde)
		setenv("SOURCE_DATE_EPOCH", sde, 1);
	else
		unsetenv("SOURCE_DATE_EPOCH");
	/* (not posix_spawn: orchestrator/spawn.h is first on the include path) */
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(98);
		execv(prog, (char *const *)argv);
		_exit(99);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	r->rc = WEXITSTATUS(st);
	r->out = slurp(outp);
	r->err = slurp(errp);
	ck_assert(r->out && r->err);
}

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

static const char small[] = "chains:\n  c:\n    sources: [work]\n    targets: [vault]\n    services: [a.B]\n"
			    "    filters: []\n  open:\n    filters: []\n";

START_TEST(test_mode_writes_the_same)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/chains.yaml", dir);
	spill(path, small);
	struct run r;
	run_policy((const char *const[]){ "policy", "--config", path, "--proxy-qube", "sys-proxy", NULL }, "1700000000",
		   &r);
	ck_assert_msg(r.rc == 0, "exit %d: %s", r.rc, r.err);
	struct qp_config *cfg = load(path);
	struct written w;
	write_policy(cfg, "sys-proxy", DATE, &w);
	ck_assert_str_eq(r.out, w.out);
	/* the warnings, then how many */
	ck_assert_ptr_nonnull(strstr(r.err, w.err));
	ck_assert_ptr_nonnull(strstr(r.err, "qrexec-proxy: 2 warnings: read the rules commented out"));
	written_free(&w);
	config_free(cfg);
	run_free(&r);

	/* -c and -q, and the date of now without SOURCE_DATE_EPOCH */
	run_policy((const char *const[]){ "policy", "-c", path, "-q", "sys-proxy", NULL }, NULL, &r);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_ptr_null(strstr(r.out, "2023-11-14"));
	ck_assert_ptr_nonnull(strstr(r.out, " UTC from:\n"));
	run_free(&r);
}
END_TEST

START_TEST(test_mode_errors)
{
	char path[300], bad[300];
	snprintf(path, sizeof(path), "%s/chains.yaml", dir);
	snprintf(bad, sizeof(bad), "%s/bad.yaml", dir);
	spill(path, small);
	spill(bad, "chains:\n  c:\n    targets: [-x]\n    filters: []\n");
	struct run r;
	run_policy((const char *const[]){ "policy", "--config", path, NULL }, NULL, &r);
	ck_assert_int_eq(r.rc, 100);
	ck_assert_ptr_nonnull(strstr(r.err, "policy needs --proxy-qube NAME"));
	ck_assert_str_eq(r.out, "");
	run_free(&r);
	run_policy((const char *const[]){ "policy", "--config", path, "--proxy-qube", "dom0", NULL }, NULL, &r);
	ck_assert_int_eq(r.rc, 100);
	ck_assert_ptr_nonnull(strstr(r.err, "--proxy-qube 'dom0' is not a qube name"));
	run_free(&r);
	run_policy((const char *const[]){ "policy", "--config", bad, "--proxy-qube", "p", NULL }, NULL, &r);
	ck_assert_int_eq(r.rc, 100);
	ck_assert_ptr_nonnull(strstr(r.err, "3:15: '-x' in 'targets' of chain 'c' is not a qube name"));
	ck_assert_str_eq(r.out, "");
	run_free(&r);
	run_policy((const char *const[]){ "policy", "--config", path, "--proxy-qube", "p", NULL }, "soon", &r);
	ck_assert_int_eq(r.rc, 100);
	ck_assert_ptr_nonnull(strstr(r.err, "SOURCE_DATE_EPOCH must be a number of seconds"));
	run_free(&r);
	run_policy((const char *const[]){ "policy", "--config", path, "--proxy-qube", "p", "--socket", "/x", NULL }, NULL,
		   &r);
	ck_assert_int_eq(r.rc, 100);
	ck_assert_ptr_nonnull(strstr(r.err, "--socket does not apply to 'policy'"));
	run_free(&r);
	run_policy((const char *const[]){ "policy", "--config", path, "--proxy-qube", "p", "extra", NULL }, NULL, &r);
	ck_assert_int_eq(r.rc, 100);
	run_free(&r);
}
END_TEST

/* the proxy qube cannot be a qube the chains name: its rules would let it call itself through the proxy */
START_TEST(test_mode_proxy_qube_named_by_chains)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/chains.yaml", dir);
	spill(path, "chains:\n  c:\n    sources: [work]\n    targets: [vault]\n    services: [a.B]\n    filters: []\n"
		    "  d:\n    targets: [work]\n    filters: []\n"
		    "transparent:\n  - service: a.B\n    sources: [personal]\n    target: backup\n    chain: c\n");
	struct run r;
	static const struct {
		const char *qube, *place;
	} named[] = {
		{ "work", ":2:3: 'work' is a source of chain 'c'\n" },
		{ "work", ":7:3: 'work' is a target of chain 'd'\n" },
		{ "vault", ":2:3: 'vault' is a target of chain 'c'\n" },
		{ "personal", ":11:5: 'personal' is a source of the transparent entry of 'a.B'\n" },
		{ "backup", ":11:5: 'backup' is the target of the transparent entry of 'a.B'\n" },
	};
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		run_policy((const char *const[]){ "policy", "--config", path, "--proxy-qube", named[i].qube, NULL }, NULL,
			   &r);
		ck_assert_msg(r.rc == 100, "--proxy-qube %s: exit %d", named[i].qube, r.rc);
		ck_assert_str_eq(r.out, "");
		char want[400];
		snprintf(want, sizeof(want), "%s%s", path, named[i].place);
		ck_assert_msg(strstr(r.err, want), "--proxy-qube %s: no '%s' in:\n%s", named[i].qube, want, r.err);
		snprintf(want, sizeof(want), "--proxy-qube '%s' is also a qube the chains name", named[i].qube);
		ck_assert_msg(strstr(r.err, want), "--proxy-qube %s: no '%s' in:\n%s", named[i].qube, want, r.err);
		run_free(&r);
	}
	/* a name no chain uses is the proxy qube */
	run_policy((const char *const[]){ "policy", "--config", path, "--proxy-qube", "sys-proxy", NULL }, NULL, &r);
	ck_assert_msg(r.rc == 0, "exit %d: %s", r.rc, r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "sys-proxy"));
	run_free(&r);
}
END_TEST

START_TEST(test_mode_help)
{
	struct run r;
	run_policy((const char *const[]){ "policy", "--help", NULL }, NULL, &r);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "--proxy-qube NAME"));
	ck_assert_ptr_nonnull(strstr(r.out, "SOURCE_DATE_EPOCH"));
	ck_assert_ptr_nonnull(strstr(r.out, "30-qrexec-proxy.policy"));
	ck_assert_ptr_null(strstr(r.out, "--socket"));
	run_free(&r);
	run_policy((const char *const[]){ "--help", NULL }, NULL, &r);
	ck_assert_ptr_nonnull(strstr(r.out, "policy [--config FILE] --proxy-qube NAME"));
	run_free(&r);
}
END_TEST

static Suite *policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("policy");
	tcase_set_timeout(tc, test_timeout(120));
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_golden_files, 0, (int)(sizeof(examples) / sizeof(examples[0])));
	tcase_add_test(tc, test_deterministic);
	tcase_add_test(tc, test_header_names_every_file);
	tcase_add_test(tc, test_exact_services);
	tcase_add_test(tc, test_any_argument);
	tcase_add_test(tc, test_prefix);
	tcase_add_test(tc, test_open_chains_are_templates);
	tcase_add_test(tc, test_each_rule_once);
	tcase_add_test(tc, test_valid_proxy_qube);
	tcase_add_test(tc, test_mode_writes_the_same);
	tcase_add_test(tc, test_mode_errors);
	tcase_add_test(tc, test_mode_proxy_qube_named_by_chains);
	tcase_add_test(tc, test_mode_help);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	/*
	 * The configurations are named relative to the source tree, as an
	 * administrator would name them, so that the golden files do not
	 * depend on where the tree is.
	 */
	if (!realpath(builddir(), abs_builddir)) {
		perror(builddir());
		return 99;
	}
	if (chdir(srcdir()) < 0) {
		perror(srcdir());
		return 99;
	}
	setenv("QP_SRCDIR", ".", 1);
	SRunner *sr = srunner_create(policy_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
