/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "config.h"
#include "descriptor.h"

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum descriptor_status descriptor_read(int fd, char *buf, size_t cap, int timeout_ms, size_t *len)
{
	long long deadline = now_ms() + timeout_ms;
	size_t have = 0;

	if (cap < 2)
		return DESC_TOO_LONG;
	for (;;) {
		long long left = deadline - now_ms();
		if (left <= 0)
			return DESC_TIMEOUT;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, (int)left);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return DESC_IO;
		}
		if (r == 0)
			return DESC_TIMEOUT;

		/*
		 * Peek first: the data that follows the NUL must stay in the
		 * socket. What we peek before the NUL is descriptor, so it is
		 * consumed at once; that keeps a caller that sends one byte at
		 * a time from making us re-read a growing prefix.
		 */
		size_t room = cap - 1 - have;
		if (room == 0)
			return DESC_TOO_LONG;
		ssize_t n = recv(fd, buf + have, room, MSG_PEEK | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			return DESC_IO;
		}
		if (n == 0)
			return DESC_EOF;
		char *nul = memchr(buf + have, '\0', (size_t)n);
		size_t take = nul ? (size_t)(nul - (buf + have)) + 1 : (size_t)n;
		ssize_t got = recv(fd, buf + have, take, MSG_DONTWAIT);
		if (got < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			return DESC_IO;
		}
		/* a stream socket has a single reader here, so the peeked bytes are still there */
		if ((size_t)got != take) {
			errno = EIO;
			return DESC_IO;
		}
		have += take;
		if (nul) {
			*len = have - 1;
			return DESC_OK;
		}
	}
}

const char *descriptor_strstatus(enum descriptor_status st)
{
	switch (st) {
	case DESC_OK:
		return "ok";
	case DESC_EOF:
		return "the caller closed the connection before the end of the service descriptor";
	case DESC_TOO_LONG:
		return "the service descriptor is longer than qrexec allows";
	case DESC_TIMEOUT:
		return "the service descriptor did not arrive in time";
	case DESC_IO:
		return "unable to read the service descriptor";
	}
	return "unknown";
}

/* keywords of the dom0 form ("@dispvm" ...) may carry '@' and ':' */
static bool valid_dom0_target(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > NAME_QUBE_MAX + 16)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!name_char(s[i]) && s[i] != '@' && s[i] != ':')
			return false;
	return true;
}

int descriptor_parse(char *desc, size_t len, struct qp_descriptor *d, const char **why)
{
	char *field[5];
	size_t nfield = 0;
	char *p = desc;

	memset(d, 0, sizeof(*d));
	if (len == 0 || strlen(desc) != len) {
		*why = "empty service descriptor";
		return -1;
	}
	field[nfield++] = p;
	for (; *p; p++) {
		if (*p == ' ') {
			if (nfield == 4) {
				*why = "too many fields in the service descriptor";
				return -1;
			}
			*p = '\0';
			field[nfield++] = p + 1;
		}
	}
	if (nfield != 2 && nfield != 4) {
		*why = "the service descriptor has neither the VM nor the dom0 form";
		return -1;
	}

	char *service = field[0];
	char *plus = strchr(service, '+');
	if (!plus) {
		*why = "no argument: call qrexec-proxy+CHAIN+TARGET+SERVICE";
		return -1;
	}
	*plus = '\0';
	if (!*service || plus - service > NAME_SERVICE_MAX) {
		*why = "bad service name";
		return -1;
	}
	for (char *q = service; *q; q++) {
		if (!name_char(*q)) {
			*why = "bad character in the service name";
			return -1;
		}
	}
	d->service_name = service;
	d->argument = plus + 1;
	if (strlen(d->argument) > QP_SERVICE_NAME_MAX) {
		*why = "argument too long";
		return -1;
	}

	if (!name_qube(field[1])) {
		*why = "bad source name";
		return -1;
	}
	d->source = field[1];
	if (nfield == 4) {
		if (strcmp(field[2], "name") && strcmp(field[2], "keyword")) {
			*why = "bad target type in the dom0 service descriptor";
			return -1;
		}
		if (!valid_dom0_target(field[3])) {
			*why = "bad target in the dom0 service descriptor";
			return -1;
		}
		d->target_type = field[2];
		d->self_target = field[3];
	}
	return 0;
}

int argument_parse(char *arg, struct qp_call *c, const char **why)
{
	memset(c, 0, sizeof(*c));

	char *p1 = strchr(arg, '+');
	if (!p1) {
		*why = "the argument must be CHAIN+TARGET+SERVICE";
		return -1;
	}
	*p1 = '\0';
	char *target = p1 + 1;
	char *p2 = strchr(target, '+');
	if (!p2) {
		*why = "the argument must be CHAIN+TARGET+SERVICE";
		return -1;
	}
	*p2 = '\0';
	char *service = p2 + 1;

	if (!name_valid(arg, NAME_SERVICE_MAX)) {
		*why = "bad chain name";
		return -1;
	}
	if (!name_qube(target)) {
		*why = "bad target name";
		return -1;
	}

	/* DSTSERVICE: a name; then optionally '+' and an argument that may hold '+' */
	char *sp = strchr(service, '+');
	size_t namelen = sp ? (size_t)(sp - service) : strlen(service);
	if (namelen == 0 || namelen > NAME_SERVICE_MAX || service[0] == '-' || service[0] == '.') {
		*why = "bad destination service name";
		return -1;
	}
	for (size_t i = 0; i < namelen; i++) {
		if (!name_char(service[i])) {
			*why = "bad character in the destination service name";
			return -1;
		}
	}
	if (sp && !name_argument(sp + 1)) {
		*why = "bad character in the destination service argument";
		return -1;
	}
	c->chain = arg;
	c->target = target;
	c->service = service;
	return 0;
}
