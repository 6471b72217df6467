/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qrexec-call SOCKET DESCRIPTOR: what qrexec-agent does for a socket
 * service, for demos and benchmarks without Qubes. Connects to SOCKET,
 * sends DESCRIPTOR and its NUL, then relays stdin to the socket (shutting
 * down the write side at EOF) and the socket to stdout, until both
 * directions are closed. Exit 0, or 111 when a system call failed.
 * (When the service's answer ends first, input is still sent until EOF.)
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static char buf[1 << 16];

	if (argc != 3 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: qrexec-call SOCKET 'SERVICE+ARG SOURCE'\n");
		return 100;
	}
	signal(SIGPIPE, SIG_IGN);
	strcpy(sa.sun_path, argv[1]);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "qrexec-call: unable to connect to %s: %s\n", argv[1], strerror(errno));
		return 111;
	}
	if (write_all(s, argv[2], strlen(argv[2]) + 1) < 0) {
		fprintf(stderr, "qrexec-call: unable to send the descriptor: %s\n", strerror(errno));
		return 111;
	}
	struct pollfd p[2] = { { .fd = 0, .events = POLLIN }, { .fd = s, .events = POLLIN } };
	/* as qrexec-agent: the call ends when both directions are closed */
	while (p[0].fd >= 0 || p[1].fd >= 0) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 111;
		}
		if (p[0].revents) {
			ssize_t n = read(0, buf, sizeof(buf));
			if (n <= 0) {
				shutdown(s, SHUT_WR);
				p[0].fd = -1;
			} else if (write_all(s, buf, (size_t)n) < 0) {
				/* the service stopped reading: keep taking its answer */
				p[0].fd = -1;
			}
		}
		if (p[1].revents) {
			ssize_t n = read(s, buf, sizeof(buf));
			if (n <= 0) {
				p[1].fd = -1;
			} else if (write_all(1, buf, (size_t)n) < 0) {
				return 111;
			}
		}
	}
	return 0;
}
