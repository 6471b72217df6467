/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The listener's side of the log relay (see logrelay.h; the format is logwire.h's). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "logrelay.h"
#include "logwire.h"
#include "util.h"

int logrelay_open(int fds[2])
{
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, fds) < 0)
		return -1;
	int size = RELAY_MAX * 2;
	/* best effort: a bigger queue lets a burst of endings wait less */
	(void)setsockopt(fds[0], SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	(void)setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	if (shutdown(fds[0], SHUT_WR) < 0 || shutdown(fds[1], SHUT_RD) < 0) {
		close_pair(fds);
		return -1;
	}
	return 0;
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
