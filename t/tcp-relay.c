/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tcp-relay: TCP at either end of a chain, for the tests of http-allow.
 *
 *   tcp-relay connect HOST PORT
 *	a connector: connects to HOST:PORT (IPv4) and relays stdin to the
 *	socket and the socket to stdout, each way to its end (half-close),
 *	as qubes.UpdatesProxy's socat does in sys-net;
 *   tcp-relay listen PORTFILE COMMAND [ARG]...
 *	a caller's side: listens on 127.0.0.1 (a port of the kernel's
 *	choice, written to PORTFILE), and runs COMMAND for every connection
 *	with the socket on its stdin and stdout, as the templates' updates
 *	proxy forwarder runs qrexec-client-vm. Runs until killed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int relay(const char *host, const char *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)) };
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
		fprintf(stderr, "tcp-relay: bad address %s\n", host);
		return 100;
	}
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("tcp-relay: connect");
		return 111;
	}
	signal(SIGPIPE, SIG_IGN);
	int in = 0, out_open = 1, sock_in = 1;
	char buf[65536];
	while (in >= 0 || sock_in) {
		struct pollfd p[2] = { { .fd = in, .events = POLLIN }, { .fd = sock_in ? s : -1, .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 111;
		}
		if (p[0].revents) {
			ssize_t n = read(in, buf, sizeof(buf));
			if (n <= 0) {
				shutdown(s, SHUT_WR);
				in = -1;
			} else if (write(s, buf, (size_t)n) != n) {
				return 111;
			}
		}
		if (p[1].revents) {
			ssize_t n = read(s, buf, sizeof(buf));
			if (n <= 0) {
				close(1);
				out_open = 0;
				sock_in = 0;
			} else {
				for (ssize_t off = 0; off < n;) {
					ssize_t w = write(1, buf + off, (size_t)(n - off));
					if (w <= 0)
						return 111;
					off += w;
				}
			}
		}
	}
	(void)out_open;
	return 0;
}

static int listen_and_run(const char *portfile, char **cmd)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 64) < 0 ||
	    getsockname(s, (struct sockaddr *)&a, &len) < 0) {
		perror("tcp-relay: listen");
		return 111;
	}
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", portfile);
	FILE *f = fopen(tmp, "w");
	if (!f || fprintf(f, "%u\n", ntohs(a.sin_port)) < 0 || fclose(f) != 0 || rename(tmp, portfile) < 0) {
		perror(portfile);
		return 111;
	}
	signal(SIGCHLD, SIG_IGN); /* no zombies */
	for (;;) {
		int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("tcp-relay: accept");
			return 111;
		}
		pid_t pid = fork();
		if (pid == 0) {
			signal(SIGCHLD, SIG_DFL);
			dup2(c, 0);
			dup2(c, 1);
			execvp(cmd[0], cmd);
			_exit(127);
		}
		close(c);
	}
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "connect"))
		return relay(argv[2], argv[3]);
	if (argc >= 4 && !strcmp(argv[1], "listen"))
		return listen_and_run(argv[2], argv + 3);
	fprintf(stderr, "usage: tcp-relay connect HOST PORT | listen PORTFILE COMMAND [ARG]...\n");
	return 100;
}
