/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `qrexec-proxy status`: the control socket, the answer and the client (see status.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cgroup.h"
#include "serve.h"
#include "unixsock.h"
#include "log.h"
#include "status.h"
#include "util.h"

const char *status_control_path(const char *path, const char *socket)
{
	static char buf[sizeof(((struct sockaddr_un *)0)->sun_path)];
	if (path)
		return path;
	const char *rt = getenv("RUNTIME_DIRECTORY");
	if (rt && *rt && !strchr(rt, ':')) {
		snprintf(buf, sizeof(buf), "%s/control", rt);
		return buf;
	}
	if (socket) {
		if ((size_t)snprintf(buf, sizeof(buf), "%s.control", socket) < sizeof(buf))
			return buf;
		return NULL;
	}
	return STATUS_DEFAULT_CONTROL;
}

int status_bind(const char *path)
{
	/* 0600 from the start: nobody but root and the daemon's user may ever connect */
	mode_t old = umask(0177);
	int fd = unixsock_bind(path);
	int err = errno;
	umask(old);
	/* unixsock_bind makes it 0660 for the qrexec socket's group; this one is the daemon user's alone */
	if (fd >= 0 && (chmod(path, 0600) < 0 || fd_set_nonblock(fd, true) < 0)) {
		err = errno;
		close(fd);
		fd = -1;
	}
	errno = err;
	return fd;
}

/* JSON string: quotes, backslashes and control bytes escaped; the rest as it is (already escaped for logs) */
static void json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

/* what a name field shows before the supervisor has said it */
static const char *or_dash(const char *s)
{
	return s && *s ? s : "-";
}

/* the spare as JSON: null when there is none */
static void spare_json(FILE *out, const struct spare *s)
{
	if (!s || s->pid <= 0) {
		fputs("null", out);
		return;
	}
	fprintf(out, "{\"pid\":%d,\"ready\":%s,\"prepared\":%s,\"hint\":", (int)s->pid, s->ready ? "true" : "false",
		s->prepared ? "true" : "false");
	if (s->hint[0])
		json_str(out, s->hint);
	else
		fputs("null", out);
	fputs(",\"started_ahead\":", out);
	if (s->warm[0])
		json_str(out, s->warm);
	else
		fputs("null", out);
	fputc('}', out);
}

/* the spare as a line of text */
static void spare_text(FILE *out, const struct spare *s)
{
	if (!s || s->pid <= 0) {
		fputs("spare: none\n", out);
		return;
	}
	fprintf(out, "spare: pid %d, %s", (int)s->pid, !s->ready ? "setting up" : s->prepared ? "ready" : "ready, without a sandbox built ahead");
	if (s->warm[0])
		fprintf(out, ", filters of chain %s started ahead\n", s->warm);
	else
		fprintf(out, ", no filters started ahead%s%s%s\n", s->hint[0] ? " (chain " : "", s->hint, s->hint[0] ? ")" : "");
}

void status_write(FILE *out, const struct limits *L, const struct spare *spare, bool json, int64_t now_ms)
{
	if (json) {
		fprintf(out, "{\"running\":%d,\"queued\":%d,\"connections\":[", L->running, L->queued);
		for (size_t i = 0; i < L->nconns; i++) {
			const struct limits_conn *c = L->conns[i];
			fprintf(out, "%s{\"id\":", i ? "," : "");
			json_str(out, c->id);
			fprintf(out, ",\"pid\":%d,\"state\":", (int)c->pid);
			json_str(out, limits_state_name(c->state));
			fputs(",\"source\":", out);
			json_str(out, c->source);
			fputs(",\"chain\":", out);
			json_str(out, c->chain);
			fputs(",\"target\":", out);
			json_str(out, c->target);
			fputs(",\"service\":", out);
			json_str(out, c->service);
			fprintf(out, ",\"age_ms\":%lld,\"bytes_src2dst\":%llu,\"bytes_dst2src\":%llu",
				(long long)(now_ms - c->accepted_ms), (unsigned long long)c->bytes_src2dst,
				(unsigned long long)c->bytes_dst2src);
			uint64_t mem, tasks;
			if (cgroup_usage(c->pid, &mem, &tasks) == 0)
				fprintf(out, ",\"memory\":%llu,\"tasks\":%llu", (unsigned long long)mem,
					(unsigned long long)tasks);
			if (c->state == LIMITS_QUEUED) {
				fputs(",\"waiting_for\":", out);
				json_str(out, limits_block_name(c->block));
			}
			fputc('}', out);
		}
		fputs("],\"chains\":[", out);
		for (size_t i = 0; i < L->nchains; i++) {
			fprintf(out, "%s{\"name\":", i ? "," : "");
			json_str(out, L->chains[i]->name);
			fprintf(out, ",\"running\":%d,\"queued\":%d}", L->chains[i]->running, L->chains[i]->queued);
		}
		fputs("],\"sources\":[", out);
		for (size_t i = 0; i < L->nsources; i++) {
			fprintf(out, "%s{\"name\":", i ? "," : "");
			json_str(out, L->sources[i]->name);
			fprintf(out, ",\"running\":%d,\"queued\":%d}", L->sources[i]->running, L->sources[i]->queued);
		}
		fputs("],\"spare\":", out);
		spare_json(out, spare);
		fputs("}\n", out);
		return;
	}
	/* a connection's memory and tasks, where it has a cgroup of its own (cgroup.h) */
	bool usage = cgroup_enabled();
	fprintf(out, "%-16s  %-10s  %-9s  %-14s  %-14s  %-20s  %8s  %12s  %12s", "CONNECTION", "STATE", "SOURCE",
		"CHAIN", "TARGET", "SERVICE", "AGE", "SRC2DST", "DST2SRC");
	fprintf(out, usage ? "  %10s  %5s\n" : "\n", "MEMORY", "TASKS");
	for (size_t i = 0; i < L->nconns; i++) {
		const struct limits_conn *c = L->conns[i];
		int64_t age = now_ms - c->accepted_ms;
		char state[32];
		snprintf(state, sizeof(state), "%s", limits_state_name(c->state));
		fprintf(out, "%-16s  %-10s  %-9s  %-14s  %-14s  %-20s  %6lld.%01llds  %12llu  %12llu", c->id, state,
			or_dash(c->source), or_dash(c->chain), or_dash(c->target), or_dash(c->service),
			(long long)(age / 1000), (long long)(age % 1000 / 100), (unsigned long long)c->bytes_src2dst,
			(unsigned long long)c->bytes_dst2src);
		uint64_t mem, tasks;
		if (!usage)
			fputc('\n', out);
		else if (cgroup_usage(c->pid, &mem, &tasks) == 0)
			fprintf(out, "  %8lluKi  %5llu\n", (unsigned long long)(mem >> 10), (unsigned long long)tasks);
		else
			fprintf(out, "  %10s  %5s\n", "-", "-");
	}
	fprintf(out, "\n%-24s  %8s  %8s\n", "CHAIN", "RUNNING", "QUEUED");
	for (size_t i = 0; i < L->nchains; i++)
		fprintf(out, "%-24s  %8d  %8d\n", L->chains[i]->name, L->chains[i]->running, L->chains[i]->queued);
	fprintf(out, "\n%-24s  %8s  %8s\n", "SOURCE", "RUNNING", "QUEUED");
	for (size_t i = 0; i < L->nsources; i++)
		fprintf(out, "%-24s  %8d  %8d\n", L->sources[i]->name, L->sources[i]->running, L->sources[i]->queued);
	fprintf(out, "\n%d running, %d queued, %zu supervisors (limits: %d at once, %d per source)\n", L->running,
		L->queued, L->nconns, L->o.max_connections, L->o.max_per_source);
	spare_text(out, spare);
}

int status_ask(const char *path, bool json)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "qrexec-proxy status: %s: the path is too long for a socket\n", path);
		return 100;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr,
			"qrexec-proxy status: unable to reach the daemon at %s: %s (is it running? only root and its own user may ask; --control PATH names another socket)\n",
			path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 111;
	}
	const char *req = json ? "status json\n" : "status\n";
	/* a daemon that refuses the peer hangs up: an error to report, not SIGPIPE */
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req)) {
		fprintf(stderr, "qrexec-proxy status: unable to ask the daemon at %s: %s\n", path, strerror(errno));
		close(fd);
		return 111;
	}
	char buf[65536];
	ssize_t n;
	size_t total = 0;
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "qrexec-proxy status: unable to read the answer: %s\n", strerror(errno));
			close(fd);
			return 111;
		}
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
			break;
		total += (size_t)n;
	}
	close(fd);
	if (fflush(stdout) == EOF) {
		fprintf(stderr, "qrexec-proxy status: unable to write the answer: %s\n", strerror(errno));
		return 111;
	}
	if (total == 0) {
		fprintf(stderr, "qrexec-proxy status: the daemon at %s gave no answer (see its log)\n", path);
		return 111;
	}
	return 0;
}
