/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `qrexec-proxy end`: the listener's side and the client (see end.h). */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "end.h"
#include "log.h"
#include "names.h"
#include "summary.h"
#include "supervise.h"
#include "util.h"

#define PROG_END "qrexec-proxy end"

/* ---- the listener's side ---- */

bool end_connection(struct limits_conn *c, const char *result, const char *reason)
{
	if (c->state == LIMITS_CLOSING || c->end_result)
		return false;
	c->end_result = result;
	snprintf(c->end_reason, sizeof(c->end_reason), "%s", reason);
	/* the connector, the sandbox and its programs die with it (PR_SET_PDEATHSIG) */
	if (kill(c->pid, SIGKILL) < 0 && errno != ESRCH)
		log_sys(LOG_WARNING, "connection %s: unable to end its supervisor %d", c->id, (int)c->pid);
	return true;
}

void end_book_summary(struct summary *s, const struct limits_conn *c, const char *result, const char *reason)
{
	summary_init(s, c->id);
	s->text[SUMMARY_SOURCE] = c->source[0] ? c->source : NULL;
	s->text[SUMMARY_TARGET] = c->target[0] ? c->target : NULL;
	s->text[SUMMARY_SERVICE] = c->service[0] ? c->service : NULL;
	s->text[SUMMARY_CHAIN] = c->chain[0] ? c->chain : NULL;
	s->text[SUMMARY_RESULT] = result;
	s->text[SUMMARY_REASON] = reason;
	s->num[SUMMARY_DURATION] = (mono_ns() - c->accepted_ns) / 1000;
	s->num[SUMMARY_SRC2DST] = (int64_t)c->bytes_src2dst;
	s->num[SUMMARY_DST2SRC] = (int64_t)c->bytes_dst2src;
}

bool end_summary(const struct limits_conn *c, int status)
{
	/* it ended by itself before the signal came: its own summary is written */
	if (!c->end_result || !WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
		return false;
	struct log_connection lc = { .id = c->id, .source = c->source, .target = c->target, .service = c->service,
				     .chain = c->chain };
	log_set_connection(&lc);
	struct summary s;
	end_book_summary(&s, c, c->end_result, c->end_reason);
	if (c->asked_ms)
		s.num[SUMMARY_QUEUED] = ((c->admitted_ms ? c->admitted_ms : mono_ms()) - c->asked_ms) * 1000;
	summary_log(LOG_WARNING, &s);
	log_set_connection(NULL);
	return true;
}

static const char *or_dash(const char *s)
{
	return s && *s ? s : "-";
}

/* the next word of *P (moved past it), NUL-terminated in BUF; NULL at the end */
static const char *next_word(const char **p, char *buf, size_t size)
{
	const char *s = *p + strspn(*p, " ");
	size_t n = strcspn(s, " ");
	if (n == 0)
		return NULL;
	*p = s + n;
	if (n >= size)
		n = size - 1; /* too long for any name: it matches nothing */
	memcpy(buf, s, n);
	buf[n] = '\0';
	return buf;
}

static bool is_id(const char *s)
{
	if (strlen(s) != 16)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

static int end_one(struct limits_conn *c, const char *reason, FILE *out)
{
	if (!end_connection(c, qp_result_name(QP_ENDED), reason)) {
		fprintf(out, "closing %s\n", c->id);
		return 0;
	}
	fprintf(out, "ended %s %s %s %s %s %s\n", c->id, limits_state_name(c->state), or_dash(c->source),
		or_dash(c->chain), or_dash(c->target), or_dash(c->service));
	return 1;
}

static int end_matching(struct limits *book, const char *args, uid_t uid, FILE *out)
{
	char how[16], name[LIMITS_NAME_MAX], reason[64];
	const char *p = args;
	int ended = 0;
	snprintf(reason, sizeof(reason), "ended by uid %u", (unsigned)uid);
	if (!next_word(&p, how, sizeof(how))) {
		fprintf(out, "error: end what? (id, source or chain)\n");
		return 0;
	}
	if (!strcmp(how, "id")) {
		bool any = false;
		while (next_word(&p, name, sizeof(name))) {
			any = true;
			struct limits_conn *c = NULL;
			for (size_t i = 0; i < book->nconns && is_id(name) && !c; i++)
				if (!strcmp(book->conns[i]->id, name))
					c = book->conns[i];
			if (c)
				ended += end_one(c, reason, out);
			else
				fprintf(out, "unknown %s\n", is_id(name) ? name : "(not an id)");
		}
		if (!any)
			fprintf(out, "error: end id takes connection ids\n");
		return ended;
	}
	bool by_source = !strcmp(how, "source");
	if ((!by_source && strcmp(how, "chain")) || !next_word(&p, name, sizeof(name)) || *(p + strspn(p, " ")) ||
	    !(by_source ? name_qube(name) : name_valid(name, NAME_CHAIN_MAX))) {
		fprintf(out, "error: end takes id ID..., source NAME or chain NAME\n");
		return 0;
	}
	for (size_t i = 0; i < book->nconns; i++) {
		struct limits_conn *c = book->conns[i];
		if (!strcmp(by_source ? c->source : c->chain, name) && c->state != LIMITS_CLOSING)
			ended += end_one(c, reason, out);
	}
	return ended;
}

int end_apply(struct limits *book, const char *args, uid_t uid, FILE *out)
{
	int ended = end_matching(book, args, uid, out);
	fprintf(out, "matched %d\n", ended);
	return ended;
}

/* ---- the client ---- */

int end_ask(const char *path, enum end_by by, char *const *names, size_t n)
{
	static const char *const how[] = { [END_BY_ID] = "id", [END_BY_SOURCE] = "source", [END_BY_CHAIN] = "chain" };
	char req[4096];
	size_t len = (size_t)snprintf(req, sizeof(req), "end %s", how[by]);
	for (size_t i = 0; i < n; i++) {
		bool ok = by == END_BY_ID ? is_id(names[i]) : by == END_BY_SOURCE ? name_qube(names[i])
									   : name_valid(names[i], NAME_CHAIN_MAX);
		if (!ok) {
			fprintf(stderr, PROG_END ": '%s' is not a %s\n", names[i],
				by == END_BY_ID ? "connection id (16 hex digits, as status shows it)"
				: by == END_BY_SOURCE ? "qube name" : "chain name");
			return 100;
		}
		len += (size_t)snprintf(req + len, sizeof(req) - len, " %s", names[i]);
		if (len >= sizeof(req) - 1) {
			fprintf(stderr, PROG_END ": too many ids at once\n");
			return 100;
		}
	}
	req[len++] = '\n';
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, PROG_END ": %s: the path is too long for a socket\n", path);
		return 100;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, PROG_END ": unable to reach the daemon at %s: %s (is it running? only root and its own user may ask; --control PATH names another socket)\n",
			path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 111;
	}
	/* a daemon that refuses the peer hangs up: an error to report, not SIGPIPE */
	if (send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len) {
		fprintf(stderr, PROG_END ": unable to ask the daemon at %s: %s\n", path, strerror(errno));
		close(fd);
		return 111;
	}
	FILE *in = fdopen(fd, "r");
	if (!in) {
		close(fd);
		return 111;
	}
	char line[LIMITS_SERVICE_MAX + 512];
	int ended = 0, lines = 0;
	while (fgets(line, sizeof(line), in)) {
		lines++;
		line[strcspn(line, "\n")] = '\0';
		if (!strncmp(line, "ended ", 6)) {
			ended++;
			printf("%s\n", line);
		} else if (!strncmp(line, "closing ", 8)) {
			fprintf(stderr, PROG_END ": %s is ending already\n", line + 8);
		} else if (!strncmp(line, "unknown ", 8)) {
			fprintf(stderr, PROG_END ": no connection %s\n", line + 8);
		} else if (!strncmp(line, "matched ", 8)) {
			/* the last line: the answer is whole */
		} else {
			fprintf(stderr, PROG_END ": the daemon says: %s\n", line);
		}
	}
	fclose(in);
	if (fflush(stdout) == EOF) {
		fprintf(stderr, PROG_END ": unable to write: %s\n", strerror(errno));
		return 111;
	}
	if (lines == 0) {
		fprintf(stderr, PROG_END ": the daemon at %s gave no answer (see its log)\n", path);
		return 111;
	}
	if (!ended) {
		fprintf(stderr, PROG_END ": nothing matched\n");
		return 1;
	}
	return 0;
}
