/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What a configuration names, tried as whoever will use it (see reach.h).
 * The sandbox user's view is the kernel's own: where it is not this
 * process's user, a child takes its ids (no supplementary groups, as the
 * sandbox's init) and walks every path with access(2), so modes, ACLs
 * and owners all count as they will for the programs.
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reach.h"

enum need {
	NEED_EXEC,       /* a program to run */
	NEED_WRITE_DIR,  /* a directory to keep files in */
};

enum verdict {
	REACH_OK,
	REACH_NO_PARENT,    /* a directory on the way does not exist (where) */
	REACH_BLOCKED,      /* a directory on the way cannot be searched (where, mode, owner) */
	REACH_MISSING,      /* it does not exist */
	REACH_WRONG_TYPE,   /* not a regular file (a program), not a directory (the state) */
	REACH_DENIED,       /* not executable, not writable (mode, owner) */
};

struct result {
	enum verdict v;
	mode_t mode;
	uid_t owner;
	char where[PATH_MAX];
};

struct item {
	const char *path;
	enum need need;
	bool sandbox;        /* used by the sandbox user (else by this process's) */
	const char *file;    /* where the configuration names it; NULL: not named (a default, the environment) */
	int line, column;
	char what[300];      /* "filter 'pass' of chain 'c'" */
	bool warn_only;
	struct result r;
};

/* Tries PATH as the calling process's user. */
static void probe(const char *path, enum need need, struct result *r)
{
	struct stat st;
	memset(r, 0, sizeof(*r));
	/* every directory on the way, from the root: the first that cannot be searched blocks */
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	for (char *p = strchr(dir + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		const char *d = dir[0] ? dir : "/";
		if (access(d, X_OK) < 0) {
			snprintf(r->where, sizeof(r->where), "%s", d);
			if (errno == ENOENT || errno == ENOTDIR) {
				r->v = REACH_NO_PARENT;
			} else {
				r->v = REACH_BLOCKED;
				if (stat(d, &st) == 0) {
					r->mode = st.st_mode;
					r->owner = st.st_uid;
				}
			}
			return;
		}
		*p = '/';
	}
	if (stat(path, &st) < 0) {
		r->v = REACH_MISSING;
		return;
	}
	r->mode = st.st_mode;
	r->owner = st.st_uid;
	if (need == NEED_EXEC ? !S_ISREG(st.st_mode) : !S_ISDIR(st.st_mode))
		r->v = REACH_WRONG_TYPE;
	else if (access(path, need == NEED_EXEC ? X_OK : W_OK | X_OK) < 0)
		r->v = REACH_DENIED;
}

/* Tries the sandbox's items as UID:GID from a child, with no supplementary groups; -1 if it could not. */
static int probe_as(struct item *items, size_t n, uid_t uid, gid_t gid)
{
	int p[2];
	if (pipe(p) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
			_exit(111);
		for (size_t i = 0; i < n; i++) {
			struct result r;
			if (items[i].sandbox)
				probe(items[i].path, items[i].need, &r);
			if (items[i].sandbox && write(p[1], &r, sizeof(r)) != (ssize_t)sizeof(r))
				_exit(111);
		}
		_exit(0);
	}
	close(p[1]);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (!items[i].sandbox)
			continue;
		size_t got = 0;
		char *b = (char *)&items[i].r;
		while (got < sizeof(items[i].r)) {
			ssize_t k = read(p[0], b + got, sizeof(items[i].r) - got);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				rc = -1;
				break;
			}
			got += (size_t)k;
		}
	}
	close(p[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		rc = -1;
	return rc;
}

static const char *user_name(uid_t uid, char *buf, size_t size)
{
	struct passwd *pw = getpwuid(uid);
	if (pw)
		snprintf(buf, size, "%s (uid %u)", pw->pw_name, (unsigned)uid);
	else
		snprintf(buf, size, "uid %u", (unsigned)uid);
	return buf;
}

static const char *owner_name(uid_t uid, char *buf, size_t size)
{
	struct passwd *pw = getpwuid(uid);
	if (pw)
		snprintf(buf, size, "%s", pw->pw_name);
	else
		snprintf(buf, size, "%u", (unsigned)uid);
	return buf;
}

/* One problem, at its place, with what to do about it; USER is who uses it (UID). */
static void report(FILE *f, const struct item *it, const char *user, uid_t uid)
{
	const struct result *r = &it->r;
	char owner[64], plain[64];
	bool state = it->need == NEED_WRITE_DIR;
	const char *role = !it->sandbox ? "the daemon's user" : state ? "the user the admission checks run as"
								      : "the user the sandboxes run as";
	owner_name(uid, plain, sizeof(plain));
	owner_name(r->owner, owner, sizeof(owner));
	if (it->file)
		fprintf(f, "%s:%d:%d: %s", it->file, it->line, it->column, it->warn_only ? "warning: " : "");
	else if (it->warn_only)
		fprintf(f, "warning: ");
	switch (r->v) {
	case REACH_OK:
		break;
	case REACH_NO_PARENT:
		fprintf(f, "%s does not exist (there is no %s)", it->what, r->where);
		break;
	case REACH_MISSING:
		fprintf(f, "%s does not exist", it->what);
		break;
	case REACH_WRONG_TYPE:
		fprintf(f, "%s is not a %s", it->what, state ? "directory" : "regular file");
		break;
	case REACH_BLOCKED:
		fprintf(f, "%s cannot be reached by %s, %s: %s is mode %04o, owner %s; move it, or make %s searchable (chmod o+x %s)",
			it->what, user, role, r->where, (unsigned)(r->mode & 07777), owner, r->where, r->where);
		break;
	case REACH_DENIED:
		if (state)
			fprintf(f, "%s is not writable by %s, %s: it is mode %04o, owner %s; make it theirs (chown %s %s), or run the daemon as its own user (the unit's User=)",
				it->what, user, role, (unsigned)(r->mode & 07777), owner, plain, it->path);
		else
			fprintf(f, "%s is not executable by %s, %s: it is mode %04o, owner %s; make it executable for them (chmod o+rx %s), or move it",
				it->what, user, role, (unsigned)(r->mode & 07777), owner, it->path);
		break;
	}
	fputc('\n', f);
}

/* whether the chain runs the top-level connector */
static bool uses_default(const struct qp_config *cfg)
{
	for (size_t c = 0; c < cfg->nchains; c++)
		if (!cfg->chains[c].connector)
			return true;
	return false;
}

/* every program and directory to try, each path once (its first place) */
static size_t collect(const struct qp_config *cfg, struct item *items, size_t max)
{
	size_t n = 0;
#define ADD(p, nd, sb, f, l, col, ...)                                                                   \
	do {                                                                                            \
		bool seen = false;                                                                      \
		for (size_t k = 0; k < n && !seen; k++)                                                 \
			seen = !strcmp(items[k].path, (p)) && items[k].sandbox == (sb);                 \
		if (!seen && n < max) {                                                                 \
			items[n] = (struct item){ .path = (p), .need = (nd), .sandbox = (sb), .file = (f), \
						  .line = (l), .column = (col) };                         \
			snprintf(items[n].what, sizeof(items[n].what), __VA_ARGS__);                    \
			n++;                                                                            \
		}                                                                                       \
	} while (0)
	if (cfg->connector && cfg->connector_line)
		ADD(cfg->connector[0], NEED_EXEC, false, cfg->file, cfg->connector_line, cfg->connector_column,
		    "the connector '%s'", cfg->connector[0]);
	else if (cfg->connector && uses_default(cfg))
		ADD(cfg->connector[0], NEED_EXEC, false, NULL, 0, 0, "the default connector '%s'", cfg->connector[0]);
	for (size_t c = 0; c < cfg->nchains; c++) {
		const struct qp_chain *ch = &cfg->chains[c];
		if (ch->connector)
			ADD(ch->connector[0], NEED_EXEC, false, ch->file, ch->connector_line, ch->connector_column,
			    "the connector '%s' of chain '%s'", ch->connector[0], ch->name);
		for (size_t i = 0; i < ch->nfilters + ch->nadmit; i++) {
			bool filter = i < ch->nfilters;
			const struct qp_step *s = filter ? &ch->filters[i] : &ch->admit[i - ch->nfilters];
			bool named = s->path && strcmp(s->path, s->name) != 0;
			if (s->path)
				ADD(s->path, NEED_EXEC, true, ch->file, s->line, s->column, "%s '%s' of chain '%s'%s%s%s",
				    filter ? "filter" : "admission check", s->name, ch->name, named ? " (" : "",
				    named ? s->path : "", named ? ")" : "");
		}
	}
#undef ADD
	return n;
}

/* the state directory, when systemd named it and some chain keeps state there */
static const char *state_to_check(const struct qp_config *cfg, const struct isolate_policy *pol)
{
	const char *env = getenv("STATE_DIRECTORY");
	if (!env || !*env || !pol->state_dir)
		return NULL;
	for (size_t c = 0; c < cfg->nchains; c++)
		if (cfg->chains[c].nadmit)
			return pol->state_dir;
	return NULL;
}

int reach_config(const struct qp_config *cfg, const struct isolate_policy *pol, FILE *errf, FILE *warnings)
{
	size_t max = 2;
	for (size_t c = 0; c < cfg->nchains; c++)
		max += 1 + cfg->chains[c].nfilters + cfg->chains[c].nadmit;
	struct item *items = calloc(max, sizeof(*items));
	if (!items) {
		fprintf(errf, "unable to check the programs of the configuration: out of memory\n");
		return -1;
	}
	size_t n = collect(cfg, items, max - 1);
	const char *state = state_to_check(cfg, pol);
	if (state) {
		items[n] = (struct item){ .path = state, .need = NEED_WRITE_DIR, .sandbox = true };
		snprintf(items[n].what, sizeof(items[n].what), "the state directory STATE_DIRECTORY=%s", state);
		n++;
	}
	/* the sandboxes run as someone else only when the daemon is root (isolate.h) */
	bool other = pol->uid != geteuid();
	for (size_t i = 0; i < n; i++)
		if (!items[i].sandbox || !other)
			probe(items[i].path, items[i].need, &items[i].r);
	if (other && probe_as(items, n, pol->uid, pol->gid) < 0) {
		fprintf(errf, "unable to try the programs as uid %u, the sandboxes' user: %s\n", (unsigned)pol->uid,
			strerror(errno ? errno : EPERM));
		free(items);
		return -1;
	}
	char self[96], sandbox[96];
	user_name(geteuid(), self, sizeof(self));
	user_name(pol->uid, sandbox, sizeof(sandbox));
	int problems = 0;
	for (size_t i = 0; i < n; i++) {
		struct item *it = &items[i];
		if (it->r.v == REACH_OK)
			continue;
		/*
		 * No qrexec-client-vm on a build machine (not a qube): said, not
		 * held against the file, whether the connector is the default or
		 * written out as the shipped example does.
		 */
		bool qrexec_client = !strcmp(it->path, QP_QREXEC_CLIENT_VM) &&
				     (it->r.v == REACH_MISSING || it->r.v == REACH_NO_PARENT);
		if ((!it->file || qrexec_client) && !it->sandbox) {
			it->warn_only = true;
			if (warnings) {
				report(warnings, it, self, geteuid());
				fprintf(warnings, qrexec_client && it->file
						? "  (qrexec-client-vm is Qubes' own: outside a qube, calls through it fail; 'connector:' names another)\n"
						: "  (calls through chains without a connector of their own will fail; 'connector:' names another)\n");
			}
			continue;
		}
		report(errf, it, it->sandbox ? sandbox : self, it->sandbox ? pol->uid : geteuid());
		problems++;
	}
	free(items);
	return problems;
}
