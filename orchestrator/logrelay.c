/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One message is one datagram of NUL-terminated strings: the fields of
 * enum relay_field in their order, then KEY=VALUE pairs.
 * A datagram arrives whole or not at all, so messages of concurrent
 * supervisors never mix.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "logrelay.h"

/* the service's argument is the caller's, up to 65,000 bytes; the rest is ours and bounded */
#define RELAY_MAX (128 * 1024)
#define RELAY_MAX_KV 30

/* the strings before the KEY=VALUE pairs, in their order */
enum relay_field {
	RELAY_PRIORITY,
	RELAY_HAS_CONN, /* "1": the connection's fields follow; "0": none */
	RELAY_ID,
	RELAY_SOURCE,
	RELAY_TARGET,
	RELAY_SERVICE,
	RELAY_CHAIN,
	RELAY_MESSAGE,
	RELAY_NFIELDS,
};

int logrelay_open(int fds[2])
{
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, fds) < 0)
		return -1;
	int size = RELAY_MAX * 2;
	/* best effort: a bigger queue lets a burst of endings wait less */
	(void)setsockopt(fds[0], SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	(void)setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	if (shutdown(fds[0], SHUT_WR) < 0 || shutdown(fds[1], SHUT_RD) < 0) {
		int e = errno;
		close(fds[0]);
		close(fds[1]);
		errno = e;
		return -1;
	}
	return 0;
}

static const char *orempty(const char *s)
{
	return s ? s : "";
}

int logrelay_send(int fd, int priority, const struct log_connection *conn, const char *msg,
		  const struct log_kv *kv, size_t n)
{
	if (fd < 0 || n > RELAY_MAX_KV)
		return -1;
	char prio[8];
	snprintf(prio, sizeof(prio), "%d", priority);
	struct iovec iov[RELAY_NFIELDS + 3 * RELAY_MAX_KV];
	int k = 0;
	size_t total = 0;
#define PUT(s, len) do { iov[k].iov_base = (void *)(s); iov[k].iov_len = (len); total += (len); k++; } while (0)
#define PUTS(s) PUT(s, strlen(s) + 1)
	const char *f[RELAY_NFIELDS] = {
		[RELAY_PRIORITY] = prio,
		[RELAY_HAS_CONN] = conn ? "1" : "0",
		[RELAY_ID] = orempty(conn ? conn->id : NULL),
		[RELAY_SOURCE] = orempty(conn ? conn->source : NULL),
		[RELAY_TARGET] = orempty(conn ? conn->target : NULL),
		[RELAY_SERVICE] = orempty(conn ? conn->service : NULL),
		[RELAY_CHAIN] = orempty(conn ? conn->chain : NULL),
		[RELAY_MESSAGE] = orempty(msg),
	};
	for (size_t i = 0; i < RELAY_NFIELDS; i++)
		PUTS(f[i]);
	for (size_t i = 0; i < n; i++) {
		PUT(kv[i].key, strlen(kv[i].key));
		PUT("=", 1);
		PUTS(orempty(kv[i].value));
	}
#undef PUTS
#undef PUT
	if (total > RELAY_MAX)
		return -1;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)k };
	/* blocks while the listener's queue is full: it drains it in its poll loop */
	for (;;) {
		ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (w == (ssize_t)total)
			return 0;
		if (w < 0 && errno == EINTR)
			continue;
		return -1;
	}
}

/* the next NUL-terminated string of [*P, END), or NULL when there is none */
static const char *next_field(char **p, const char *end)
{
	char *s = *p;
	if (s >= end)
		return NULL;
	char *z = memchr(s, '\0', (size_t)(end - s));
	if (!z)
		return NULL;
	*p = z + 1;
	return s;
}

static void relay_one(char *buf, size_t len)
{
	char *p = buf;
	const char *end = buf + len;
	const char *f[RELAY_NFIELDS];
	for (int i = 0; i < RELAY_NFIELDS; i++)
		if (!(f[i] = next_field(&p, end)))
			return; /* not one of ours: a supervisor writes whole messages */
	struct log_kv kv[RELAY_MAX_KV];
	size_t n = 0;
	const char *s;
	while (n < RELAY_MAX_KV && (s = next_field(&p, end))) {
		const char *eq = strchr(s, '=');
		if (!eq)
			return;
		*(char *)eq = '\0';
		kv[n].key = s;
		kv[n].value = eq + 1;
		n++;
	}
	int priority = atoi(f[RELAY_PRIORITY]);
	if (priority < 0 || priority > 7)
		priority = LOG_WARNING;
	struct log_connection lc = { .id = f[RELAY_ID], .source = f[RELAY_SOURCE], .target = f[RELAY_TARGET],
				     .service = f[RELAY_SERVICE], .chain = f[RELAY_CHAIN] };
	log_set_connection(f[RELAY_HAS_CONN][0] == '1' ? &lc : NULL);
	if (n)
		log_structured(priority, f[RELAY_MESSAGE], kv, n);
	else
		log_msg(priority, "%s", f[RELAY_MESSAGE]);
	log_set_connection(NULL);
}

void logrelay_drain(int fd)
{
	static char *buf;
	if (!buf && !(buf = malloc(RELAY_MAX + 1)))
		return; /* tried again at the next message; the socket keeps them meanwhile */
	for (;;) {
		ssize_t r = recv(fd, buf, RELAY_MAX + 1, MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				log_sys(LOG_ERR, "unable to read the supervisors' log messages");
			return;
		}
		if ((size_t)r > RELAY_MAX)
			continue;
		relay_one(buf, (size_t)r);
	}
}
