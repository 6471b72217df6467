/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qrexec-proxy links: the qrexec service names of the transparent entries,
 * as symbolic links to the proxy's socket in a qrexec service directory.
 *
 * What is ours: a symbolic link whose text is exactly the socket's path.
 * Everything else in the directory (the template's services, a link the
 * administrator pointed elsewhere, a file of the same name) is left as it
 * is and reported. Work is done relative to a descriptor of the directory,
 * so a path component swapped meanwhile cannot redirect it elsewhere.
 */
#include "links.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "descriptor.h"

#define PROG "qrexec-proxy"

/* the distinct service names of the list, in file order; NULL on ENOMEM */
static const char **wanted_names(const struct qp_config *cfg, size_t *n)
{
	const char **v = calloc(cfg->ntransparent + 1, sizeof(*v));
	*n = 0;
	if (!v)
		return NULL;
	for (size_t i = 0; i < cfg->ntransparent; i++) {
		bool seen = false;
		for (size_t k = 0; k < *n && !seen; k++)
			seen = !strcmp(v[k], cfg->transparent[i].service);
		if (!seen)
			v[(*n)++] = cfg->transparent[i].service;
	}
	return v;
}

static bool is_wanted(const char **names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return true;
	return false;
}

/* whether NAME in DFD is a symbolic link whose text is SOCKET */
static bool is_our_link(int dfd, const char *name, const struct stat *st, const char *socket)
{
	char text[PATH_MAX];
	if (!S_ISLNK(st->st_mode))
		return false;
	ssize_t n = readlinkat(dfd, name, text, sizeof(text));
	return n >= 0 && (size_t)n < sizeof(text) && (size_t)n == strlen(socket) && !memcmp(text, socket, (size_t)n);
}

/* what is there instead of our link, for the message */
static const char *describe_file(int dfd, const char *name, const struct stat *st, char *buf, size_t size)
{
	if (S_ISLNK(st->st_mode)) {
		char text[PATH_MAX];
		ssize_t n = readlinkat(dfd, name, text, sizeof(text) - 1);
		if (n < 0)
			return "a symbolic link";
		text[n] = '\0';
		snprintf(buf, size, "a symbolic link to %s", text);
		return buf;
	}
	return S_ISREG(st->st_mode) ? "a file" : S_ISDIR(st->st_mode) ? "a directory" :
	       S_ISSOCK(st->st_mode) ? "a socket" : "a special file";
}

static int worse(int rc, int other)
{
	return rc == 111 || other == 111 ? 111 : rc > other ? rc : other;
}

static int link_one(int dfd, const char *name, const struct links_opts *o, FILE *out, FILE *err)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT) {
			fprintf(err, PROG ": unable to look at %s/%s: %s\n", o->dir, name, strerror(errno));
			return 111;
		}
		if (o->check_only) {
			fprintf(out, "would create %s/%s -> %s\n", o->dir, name, o->socket);
			return 1;
		}
		if (symlinkat(o->socket, dfd, name) == 0) {
			fprintf(out, "created %s/%s -> %s\n", o->dir, name, o->socket);
			return 0;
		}
		if (errno != EEXIST) {
			fprintf(err, PROG ": unable to create %s/%s: %s\n", o->dir, name, strerror(errno));
			return 111;
		}
		/* something came meanwhile: it is not ours, say what it is */
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			fprintf(err, PROG ": unable to look at %s/%s: %s\n", o->dir, name, strerror(errno));
			return 111;
		}
	}
	if (is_our_link(dfd, name, &st, o->socket)) {
		fprintf(out, "%s %s/%s -> %s\n", o->check_only ? "ok" : "kept", o->dir, name, o->socket);
		return 0;
	}
	char what[PATH_MAX + 32];
	fprintf(err, PROG ": %s/%s is %s, not a link to %s: left alone, and qrexec runs it for calls of %s, not the proxy\n",
		o->dir, name, describe_file(dfd, name, &st, what, sizeof(what)), o->socket, name);
	return 1;
}

/* the names in DFD that are links of ours no entry names any more */
static char **stale_links(int dfd, const char **wanted, size_t nwanted, const char *socket, size_t *n, int *rc,
			  const char *dir, FILE *err)
{
	*n = 0;
	int fd = dup(dfd);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		fprintf(err, PROG ": unable to read %s: %s\n", dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		*rc = 111;
		return NULL;
	}
	char **names = NULL;
	size_t cap = 0;
	int fail = 0;
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			fail = errno;
			break;
		}
		const char *name = de->d_name;
		struct stat st;
		/* only names a transparent entry could have had: no SERVICE+ARG file, never the proxy's own */
		if (!name_valid(name, NAME_SERVICE_MAX) || !strcmp(name, QP_PROXY_SERVICE) ||
		    is_wanted(wanted, nwanted, name))
			continue;
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !is_our_link(dfd, name, &st, socket))
			continue;
		if (*n == cap) {
			size_t c = cap ? cap * 2 : 8;
			char **v = realloc(names, c * sizeof(*v));
			if (!v) {
				fail = ENOMEM;
				break;
			}
			names = v;
			cap = c;
		}
		if (!(names[*n] = strdup(name))) {
			fail = ENOMEM;
			break;
		}
		(*n)++;
	}
	if (fail) {
		fprintf(err, PROG ": unable to read %s: %s\n", dir, strerror(fail));
		*rc = 111;
	}
	closedir(d);
	return names;
}

int links_sync(const struct qp_config *cfg, const struct links_opts *o, FILE *out, FILE *err)
{
	size_t nwanted;
	const char **wanted = wanted_names(cfg, &nwanted);
	if (!wanted) {
		fprintf(err, PROG ": out of memory\n");
		return 111;
	}
	int rc = 0;
	int dfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 && errno == ENOENT) {
		if (nwanted == 0) {
			fprintf(out, "%s does not exist: no link to make or remove\n", o->dir);
			goto out;
		}
		if (o->check_only) {
			fprintf(out, "would create directory %s\n", o->dir);
			for (size_t i = 0; i < nwanted; i++)
				fprintf(out, "would create %s/%s -> %s\n", o->dir, wanted[i], o->socket);
			rc = 1;
			goto out;
		}
		/* qrexec-agent reads it as root and runs services as the default user */
		if (mkdir(o->dir, 0755) < 0 && errno != EEXIST) {
			fprintf(err, PROG ": unable to create the directory %s: %s\n", o->dir, strerror(errno));
			rc = 111;
			goto out;
		}
		fprintf(out, "created directory %s\n", o->dir);
		dfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (dfd < 0) {
		fprintf(err, PROG ": unable to open the directory %s: %s\n", o->dir, strerror(errno));
		rc = 111;
		goto out;
	}
	for (size_t i = 0; i < nwanted; i++)
		rc = worse(rc, link_one(dfd, wanted[i], o, out, err));

	size_t nstale;
	int rc_read = 0;
	char **stale = stale_links(dfd, wanted, nwanted, o->socket, &nstale, &rc_read, o->dir, err);
	rc = worse(rc, rc_read);
	for (size_t i = 0; i < nstale; i++) {
		if (o->check_only) {
			fprintf(out, "would remove %s/%s (no transparent entry names it)\n", o->dir, stale[i]);
			rc = worse(rc, 1);
		} else if (unlinkat(dfd, stale[i], 0) == 0) {
			fprintf(out, "removed %s/%s (no transparent entry names it)\n", o->dir, stale[i]);
		} else if (errno != ENOENT) {
			fprintf(err, PROG ": unable to remove %s/%s: %s\n", o->dir, stale[i], strerror(errno));
			rc = 111;
		}
		free(stale[i]);
	}
	free(stale);
	if (nwanted == 0 && nstale == 0)
		fprintf(out, "no transparent services in %s: nothing to link\n", cfg->file);
	close(dfd);
out:
	free(wanted);
	return rc;
}

/* whether PATH leads to SOCKET: a link with exactly its text, or anything that resolves to the same file */
static bool leads_to(const char *path, const struct stat *lst, const char *socket)
{
	struct stat a, b;
	if (S_ISLNK(lst->st_mode)) {
		char text[PATH_MAX];
		ssize_t n = readlink(path, text, sizeof(text));
		if (n >= 0 && (size_t)n == strlen(socket) && !memcmp(text, socket, (size_t)n))
			return true;
	}
	return stat(path, &a) == 0 && stat(socket, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

size_t links_warnings(const struct qp_config *cfg, const char *const *dirs, const char *socket, FILE *err)
{
	size_t nwanted, nwarn = 0;
	const char **wanted = wanted_names(cfg, &nwanted);
	if (!wanted)
		return 0;
	for (size_t i = 0; i < nwanted; i++) {
		const struct qp_transparent *e = NULL;
		for (size_t k = 0; k < cfg->ntransparent && !e; k++)
			if (!strcmp(cfg->transparent[k].service, wanted[i]))
				e = &cfg->transparent[k];
		char *found = NULL;
		struct stat st;
		for (size_t d = 0; dirs[d] && !found; d++) {
			if (asprintf(&found, "%s/%s", dirs[d], wanted[i]) < 0) {
				found = NULL;
				break;
			}
			if (lstat(found, &st) < 0) {
				free(found);
				found = NULL;
			}
		}
		if (!found) {
			fprintf(err, "%s:%d:%d: warning: no qrexec service '%s' in ", cfg->file, e->line, e->column, wanted[i]);
			for (size_t d = 0; dirs[d]; d++)
				fprintf(err, "%s%s", d ? ", " : "", dirs[d]);
			fprintf(err, ": calls redirected here for it fail; run '" PROG " links' to link it to %s\n", socket);
			nwarn++;
		} else if (!leads_to(found, &st, socket)) {
			fprintf(err, "%s:%d:%d: warning: %s is not a link to %s: qrexec runs it for calls of '%s', not the proxy\n",
				cfg->file, e->line, e->column, found, socket, wanted[i]);
			nwarn++;
		}
		free(found);
	}
	free(wanted);
	return nwarn;
}
