/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The warm pipeline: filters started before their connection (see warm.h). */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "warm.h"

/* the most a note section may be read of; ours is 32 bytes */
#define NOTES_MAX (64 * 1024)

/* ---- the note ---- */

static bool has_note(const unsigned char *p, size_t len)
{
	size_t off = 0;
	while (len - off >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr nh;
		memcpy(&nh, p + off, sizeof(nh));
		off += sizeof(nh);
		size_t nsz = ((size_t)nh.n_namesz + 3) & ~(size_t)3, dsz = ((size_t)nh.n_descsz + 3) & ~(size_t)3;
		if (nh.n_namesz > len || nh.n_descsz > len || nsz > len - off || dsz > len - off - nsz)
			return false;
		if (nh.n_type == QPC_NOTE_TYPE && nh.n_namesz == sizeof(QPC_NOTE_NAME) &&
		    !memcmp(p + off, QPC_NOTE_NAME, sizeof(QPC_NOTE_NAME)) &&
		    nh.n_descsz == sizeof(QPC_NOTE_DESC) - 1 &&
		    !memcmp(p + off + nsz, QPC_NOTE_DESC, sizeof(QPC_NOTE_DESC) - 1))
			return true;
		off += nsz + dsz;
	}
	return false;
}

static bool note_at(int fd, uint64_t off, uint64_t size)
{
	if (size == 0 || size > NOTES_MAX)
		return false;
	unsigned char *buf = malloc((size_t)size);
	bool found = buf && pread(fd, buf, (size_t)size, (off_t)off) == (ssize_t)size && has_note(buf, (size_t)size);
	free(buf);
	return found;
}

bool warm_capable(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return false;
	bool found = false;
	Elf64_Ehdr eh;
	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 64)
		goto out;
	/* the loaded segments: what a stripped program still has */
	for (unsigned i = 0; i < eh.e_phnum && !found; i++) {
		Elf64_Phdr ph;
		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (uint64_t)i * sizeof(ph))) != (ssize_t)sizeof(ph))
			break;
		if (ph.p_type == PT_NOTE)
			found = note_at(fd, ph.p_offset, ph.p_filesz);
	}
out:
	close(fd);
	return found;
}

/* ---- starting ahead ---- */

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int warm_prepare(struct warm *w, const struct qp_chain *ch, struct isolate_prepared *prep,
		 const struct isolate_bounds *bounds)
{
	memset(w, 0, sizeof(*w));
	w->sb.pid = -1;
	w->sb.events = -1;
	if (!ch || !ch->nfilters || ch->nfilters > 32 || !prep || prep->ctl < 0)
		return -1;
	for (size_t i = 0; i < ch->nfilters; i++)
		if (!warm_capable(ch->filters[i].path))
			return -1;

	static char *const prestart_env[] = { QPC_ENV_PRESTART "=1", NULL };
	struct isolate_proc ip[QP_MAX_PROCS];
	char **argvs[QP_MAX_PROCS] = { NULL };
	int peer[QP_MAX_PROCS];
	int rc = -1;
	for (size_t i = 0; i < QP_MAX_PROCS; i++)
		peer[i] = -1;
	w->hops = calloc(2 * ch->nfilters + 1, sizeof(*w->hops));
	if (!w->hops)
		goto fail;
	w->nhops = pipeline_hops(ch, w->hops, &w->nup);
	if (w->nhops == 0 || w->nhops > QP_MAX_PROCS)
		goto fail;
	w->pipes = calloc(w->nhops + 2, sizeof(*w->pipes));
	w->pipe_path = calloc(w->nhops + 2, sizeof(*w->pipe_path));
	w->map = calloc(w->nhops, sizeof(*w->map));
	w->env_fd = calloc(w->nhops, sizeof(*w->env_fd));
	if (!w->pipes || !w->pipe_path || !w->map || !w->env_fd)
		goto fail;
	for (size_t i = 0; i < w->nhops; i++)
		w->env_fd[i] = -1;
	if (pipeline_make_pipes(w->pipes, w->nhops + 2, w->pipe_path) < 0)
		goto fail;
	for (size_t h = 0; h < w->nhops + 1; h++) {
		const struct hop *hp = &w->hops[h];
		if (!hp->step)
			continue;
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
			goto fail;
		w->env_fd[w->n] = sv[0];
		peer[w->n] = sv[1];
		if (fd_set_nonblock(sv[0], true) < 0 || !(argvs[w->n] = pipeline_step_argv(hp->step)))
			goto fail;
		ip[w->n] = (struct isolate_proc){ hp->step->path, argvs[w->n], prestart_env,
						  { w->pipes[h][0], w->pipes[h + 1][1], sv[1] } };
		w->map[w->n++] = h;
	}
	if (isolate_run(prep, ip, w->n, bounds, &w->sb) < 0) {
		log_sys(LOG_DEBUG, "unable to start the filters of chain %s ahead", ch->name);
		goto fail;
	}
	w->chain = ch;
	w->pol = prep->pol;
	rc = 0;
fail:
	for (size_t i = 0; i < QP_MAX_PROCS; i++) {
		free(argvs[i]);
		if (peer[i] >= 0)
			close(peer[i]);
	}
	if (rc < 0) {
		/* the prepared sandbox stays usable unless it was handed the request */
		warm_discard(w);
	}
	return rc;
}

size_t warm_env_size(char *const *env)
{
	size_t len = 0;
	for (char *const *e = env; *e; e++)
		len += strlen(*e) + 1;
	return len;
}

int warm_send_fd(int fd, char *const *env)
{
	size_t len = warm_env_size(env);
	if (fd < 0 || len > QPC_ENV_HANDOFF_MAX) {
		errno = fd < 0 ? EBADF : E2BIG;
		return -1;
	}
	char *buf = malloc(sizeof(uint32_t) + len);
	if (!buf)
		return -1;
	uint32_t l32 = (uint32_t)len;
	memcpy(buf, &l32, sizeof(l32));
	size_t off = sizeof(l32);
	for (char *const *e = env; *e; e++) {
		size_t l = strlen(*e) + 1;
		memcpy(buf + off, *e, l);
		off += l;
	}
	ssize_t s = send(fd, buf, off, MSG_DONTWAIT | MSG_NOSIGNAL);
	int err = errno;
	free(buf);
	if (s != (ssize_t)off) {
		errno = s < 0 ? err : EAGAIN;
		return -1;
	}
	return 0;
}

bool warm_alive(struct warm *w)
{
	if (!w->chain || w->sb.pid <= 0)
		return false;
	int status;
	pid_t r = waitpid(w->sb.pid, &status, WNOHANG);
	if (r == w->sb.pid) {
		w->sb.pid = -1; /* reaped: nothing left to kill */
		return false;
	}
	struct pollfd pf[QP_MAX_PROCS];
	for (size_t i = 0; i < w->n && i < QP_MAX_PROCS; i++)
		pf[i] = (struct pollfd){ .fd = w->env_fd[i], .events = POLLRDHUP };
	if (poll(pf, (nfds_t)w->n, 0) < 0)
		return false;
	for (size_t i = 0; i < w->n && i < QP_MAX_PROCS; i++)
		if (pf[i].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))
			return false;
	return true;
}

/*
 * Logs what program I of W wrote on stderr before it was discarded:
 * whatever it said (a crash, an attack's report) is not lost with it.
 */
static void log_leftover(const struct warm *w, size_t i)
{
	char buf[4096], line[QPC_LINE_MAX];
	size_t len = 0;
	int prio = -1;
	const struct hop *hp = &w->hops[w->map[i]];
	char tag[160];
	pipeline_hop_tag(tag, sizeof(tag), hp);
	size_t tl = strlen(tag);
	snprintf(tag + tl, sizeof(tag) - tl, ", started ahead and not used");
	for (size_t total = 0; total < (1u << 16);) {
		ssize_t n = recv(w->env_fd[i], buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		total += (size_t)n;
		for (ssize_t k = 0; k < n; k++) {
			if (buf[k] == '\n' || len == sizeof(line)) {
				/* a piece of an overlong line keeps its first piece's priority */
				prio = log_child_line(tag, line, len, prio);
				len = 0;
				if (buf[k] == '\n') {
					prio = -1;
					continue;
				}
			}
			line[len++] = buf[k];
		}
	}
	if (len)
		log_child_line(tag, line, len, prio);
}

void warm_discard(struct warm *w)
{
	if (w->sb.pid > 0) {
		kill(w->sb.pid, SIGKILL);
		while (waitpid(w->sb.pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	w->sb.pid = -1;
	if (w->env_fd && w->map && w->hops)
		for (size_t i = 0; i < w->n; i++)
			if (w->env_fd[i] >= 0)
				log_leftover(w, i);
	close_fd(&w->sb.events);
	if (w->pipes)
		for (size_t i = 0; i < w->nhops + 2; i++) {
			close_fd(&w->pipes[i][0]);
			close_fd(&w->pipes[i][1]);
		}
	if (w->pipe_path)
		for (size_t i = 0; i < w->nhops + 2; i++)
			close_fd(&w->pipe_path[i]);
	if (w->env_fd)
		for (size_t i = 0; i < w->nhops; i++)
			close_fd(&w->env_fd[i]);
	free(w->hops);
	free(w->pipes);
	free(w->pipe_path);
	free(w->map);
	free(w->env_fd);
	memset(w, 0, sizeof(*w));
	w->sb.pid = -1;
	w->sb.events = -1;
}
