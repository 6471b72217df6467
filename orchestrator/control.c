/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The control socket, the listener's side (see control.h). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control.h"
#include "end.h"
#include "log.h"
#include "serve.h"
#include "status.h"
#include "util.h"

void control_open(struct control *ctl, const char *path)
{
	ctl->lfd = -1;
	ctl->path = path;
	for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		ctl->answering[i] = 0;
		ctl->cl[i].fd = -1;
		/* a supervisor forked while a request is read keeps none of them */
		serve_forget_fd(&ctl->cl[i].fd);
	}
	serve_forget_fd(&ctl->lfd);
	if (!path)
		return;
	ctl->lfd = status_bind(path);
	if (ctl->lfd < 0)
		log_sys(LOG_WARNING, "unable to bind the control socket %s: qrexec-proxy status and end will not answer",
			path);
}

static void client_drop(struct control_client *cl)
{
	if (cl->fd >= 0)
		close(cl->fd);
	cl->fd = -1;
	cl->got = 0;
}

void control_close(struct control *ctl)
{
	for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++)
		client_drop(&ctl->cl[i]);
	if (ctl->lfd >= 0) {
		close(ctl->lfd);
		unlink(ctl->path);
	}
	ctl->lfd = -1;
}

size_t control_pollfds(const struct control *ctl, struct pollfd *pf)
{
	size_t n = 0;
	if (ctl->lfd < 0)
		return 0;
	pf[n++] = (struct pollfd){ .fd = ctl->lfd, .events = POLLIN };
	for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++)
		pf[n++] = (struct pollfd){ .fd = ctl->cl[i].fd, .events = POLLIN };
	return n;
}

int control_timeout(const struct control *ctl, int64_t now_ms)
{
	int64_t next = -1;
	for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		if (ctl->cl[i].fd < 0)
			continue;
		int64_t left = ctl->cl[i].deadline_ms - now_ms;
		if (left < 0)
			left = 0;
		if (next < 0 || left < next)
			next = left;
	}
	return (int)next;
}

/* A client: root or the daemon's own user, as the socket's mode already says; a free slot for it. */
static void control_accept(struct control *ctl, int64_t now_ms)
{
	int fd = accept4(ctl->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_sys(LOG_WARNING, "unable to accept a control client");
		return;
	}
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || (cred.uid != 0 && cred.uid != geteuid())) {
		log_msg(LOG_WARNING, "control socket: refused a client (uid %u): only root and the daemon's user may ask",
			(unsigned)cred.uid);
		close(fd);
		return;
	}
	for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		struct control_client *cl = &ctl->cl[i];
		if (cl->fd >= 0)
			continue;
		*cl = (struct control_client){ .fd = fd, .uid = cred.uid, .deadline_ms = now_ms + CONTROL_REQUEST_MS };
		return;
	}
	log_msg(LOG_WARNING, "control socket: %d clients are asking already: one more refused", CONTROL_MAX_CLIENTS);
	close(fd);
}

bool control_answering(const struct control *ctl, pid_t pid)
{
	for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (ctl->answering[i] == pid)
			return true;
	return false;
}

bool control_reaped(struct control *ctl, pid_t pid)
{
	for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (ctl->answering[i] == pid) {
			ctl->answering[i] = 0;
			return true;
		}
	return false;
}

/*
 * Writes TEXT (LEN bytes) to FD from a child, then closes FD here: the
 * listener never waits on a client that does not read. The child gives up
 * the listener's fds; it is known as one (control_answering), so that the
 * listener does not take it for a stray of an ended connection.
 */
static void reply(struct control *ctl, int fd, const char *text, size_t len)
{
	size_t slot = 0;
	while (slot < CONTROL_MAX_CLIENTS && ctl->answering[slot])
		slot++;
	if (slot == CONTROL_MAX_CLIENTS) {
		log_msg(LOG_WARNING, "control socket: %d answers are being written already: one more dropped",
			CONTROL_MAX_CLIENTS);
		close(fd);
		return;
	}
	pid_t pid = fork();
	if (pid < 0)
		log_sys(LOG_WARNING, "unable to answer a control client");
	if (pid != 0) {
		if (pid > 0)
			ctl->answering[slot] = pid;
		close(fd);
		return;
	}
	serve_forget_in_child(false);
	alarm(10);
	signal(SIGPIPE, SIG_IGN);
	if (fd_set_nonblock(fd, false) < 0)
		_exit(111);
	while (len) {
		ssize_t w = write(fd, text, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			_exit(111);
		text += w;
		len -= (size_t)w;
	}
	_exit(0);
}

/* A whole request from CL (its line, without the newline): answered, and CL's slot freed. */
static void dispatch(struct control *ctl, struct control_client *cl, struct limits *book, const struct spare *spare,
		     int64_t now_ms)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	if (!out) {
		log_sys(LOG_WARNING, "unable to answer a control client");
		client_drop(cl);
		return;
	}
	if (!strcmp(cl->req, "status") || !strcmp(cl->req, "status json"))
		status_write(out, book, spare, !strcmp(cl->req, "status json"), now_ms);
	else if (!strncmp(cl->req, "end ", 4))
		end_apply(book, cl->req + 4, cl->uid, out);
	else
		fprintf(out, "error: unknown request\n");
	if (fclose(out) != 0) {
		log_sys(LOG_WARNING, "unable to answer a control client");
		free(text);
		client_drop(cl);
		return;
	}
	/* the slot is free before the fork: the child keeps this fd alone of the clients' */
	int fd = cl->fd;
	cl->fd = -1;
	cl->got = 0;
	reply(ctl, fd, text, len);
	free(text);
}

static void client_read(struct control *ctl, struct control_client *cl, struct limits *book,
			const struct spare *spare, int64_t now_ms)
{
	for (;;) {
		ssize_t r = read(cl->fd, cl->req + cl->got, sizeof(cl->req) - 1 - cl->got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0) {
			client_drop(cl);
			return;
		}
		cl->got += (size_t)r;
		cl->req[cl->got] = '\0';
		char *nl = strchr(cl->req, '\n');
		if (nl) {
			*nl = '\0';
			dispatch(ctl, cl, book, spare, now_ms);
			return;
		}
		if (cl->got == sizeof(cl->req) - 1) {
			log_msg(LOG_WARNING, "control socket: a request longer than %d bytes: dropped", CONTROL_REQUEST_MAX - 1);
			client_drop(cl);
			return;
		}
	}
}

void control_on_poll(struct control *ctl, const struct pollfd *pf, size_t n, struct limits *book,
		     const struct spare *spare, int64_t now_ms)
{
	if (n == 0)
		return;
	for (size_t i = 0; i < CONTROL_MAX_CLIENTS && 1 + i < n; i++) {
		struct control_client *cl = &ctl->cl[i];
		if (cl->fd >= 0 && pf[1 + i].fd == cl->fd && pf[1 + i].revents)
			client_read(ctl, cl, book, spare, now_ms);
		if (cl->fd >= 0 && now_ms >= cl->deadline_ms) {
			log_msg(LOG_WARNING, "control socket: a client sent no whole request within %d ms: dropped",
				CONTROL_REQUEST_MS);
			client_drop(cl);
		}
	}
	if (pf[0].revents & POLLIN)
		control_accept(ctl, now_ms);
}
