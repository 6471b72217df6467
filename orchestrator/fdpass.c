/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Passing fds between the daemon's processes (see fdpass.h). */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdpass.h"

union fdpass_cbuf {
	char buf[CMSG_SPACE(sizeof(int) * FDPASS_MAX_FDS)];
	struct cmsghdr align;
};

int fdpass_send(int sock, const void *hdr, size_t hdrlen, const void *body, size_t bodylen, const int *fds,
		size_t nfds, int flags)
{
	if (nfds > FDPASS_MAX_FDS || hdrlen == 0) {
		errno = E2BIG;
		return -1;
	}
	union fdpass_cbuf cbuf;
	memset(&cbuf, 0, sizeof(cbuf));
	struct iovec iov[2] = { { (void *)hdr, hdrlen }, { (void *)body, bodylen } };
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = bodylen ? 2 : 1 };
	if (nfds > 0) {
		msg.msg_control = cbuf.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	ssize_t w;
	while ((w = sendmsg(sock, &msg, flags | MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	if (w < 0)
		return -1;
	/* the fds went with the first byte; on a stream socket the rest may follow in pieces */
	size_t sent = (size_t)w, total = hdrlen + bodylen;
	while (sent < total) {
		const char *p = sent < hdrlen ? (const char *)hdr + sent : (const char *)body + (sent - hdrlen);
		size_t left = sent < hdrlen ? hdrlen - sent : total - sent;
		w = send(sock, p, left, flags | MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		sent += (size_t)w;
	}
	return 0;
}

int fdpass_read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len) {
		ssize_t r = read(fd, p, len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EPIPE;
			return -1;
		}
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

static void close_all(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
}

int fdpass_recv(int sock, void *hdr, size_t hdrlen, int *fds, size_t maxfds, size_t *nfds)
{
	union fdpass_cbuf cbuf;
	struct iovec iov = { hdr, hdrlen };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf,
			      .msg_controllen = sizeof(cbuf.buf) };
	ssize_t r;
	*nfds = 0;
	while ((r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	if (r <= 0)
		return r == 0 ? 0 : -1;
	bool bad = (msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) != 0;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) {
			bad = true;
			continue;
		}
		size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int got[FDPASS_MAX_FDS];
		if (n > FDPASS_MAX_FDS)
			n = FDPASS_MAX_FDS;
		memcpy(got, CMSG_DATA(cm), n * sizeof(int));
		for (size_t i = 0; i < n; i++) {
			if (*nfds < maxfds)
				fds[(*nfds)++] = got[i];
			else {
				close(got[i]);
				bad = true;
			}
		}
	}
	/* a stream socket may deliver the header in pieces (the fds came with the first); a message is whole */
	if (!bad && (size_t)r < hdrlen) {
		int type = 0;
		socklen_t tl = sizeof(type);
		if (getsockopt(sock, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_STREAM ||
		    fdpass_read_full(sock, (char *)hdr + r, hdrlen - (size_t)r) < 0)
			bad = true;
	}
	if (bad) {
		close_all(fds, *nfds);
		*nfds = 0;
		errno = EPROTO;
		return -1;
	}
	return 1;
}
