/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t mono_ms(void)
{
	return mono_ns() / 1000000;
}

int fd_set_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -1;
	int nfl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
	if (nfl != fl && fcntl(fd, F_SETFL, nfl) < 0)
		return -1;
	return 0;
}

int fds_ensure_std(void)
{
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		if (errno != EBADF)
			return -1;
		int n = open("/dev/null", O_RDWR);
		if (n < 0)
			return -1;
		if (n != fd) {
			/* lower fds are open, so open() returned the lowest free: fd */
			close(n);
			errno = EBADF;
			return -1;
		}
	}
	return 0;
}

void make_connection_id(char out[17])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[8];
	if (getrandom(b, sizeof(b), GRND_NONBLOCK) != (ssize_t)sizeof(b)) {
		/* no entropy yet at early boot: ids only correlate log lines */
		uint64_t v = (uint64_t)mono_ns() ^ ((uint64_t)getpid() << 32);
		memcpy(b, &v, sizeof(b));
	}
	for (int i = 0; i < 8; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[16] = '\0';
}

const char *argv_string(char *const *argv, char *buf, size_t size)
{
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; argv[i]; i++) {
		int n = snprintf(buf + o, size - o, "%s%s", i ? " " : "", argv[i]);
		if (n < 0 || (size_t)n >= size - o) {
			if (size > 4)
				strcpy(buf + size - 4, "...");
			break;
		}
		o += (size_t)n;
	}
	return buf;
}

int write_text_file(const char *path, const char *text)
{
	return write_text_at(AT_FDCWD, path, text);
}

int write_text_at(int dir, const char *name, const char *text)
{
	int fd = openat(dir, name, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t len = strlen(text);
	ssize_t w = write(fd, text, len);
	int err = errno;
	close(fd);
	if (w != (ssize_t)len) {
		errno = w < 0 ? err : EIO;
		return -1;
	}
	return 0;
}

void close_pair(int fds[2])
{
	int err = errno;
	close(fds[0]);
	close(fds[1]);
	errno = err;
}

pid_t reap_any(int *status)
{
	for (;;) {
		pid_t pid = waitpid(-1, status, WNOHANG);
		if (pid < 0 && errno == EINTR)
			continue;
		return pid > 0 ? pid : 0;
	}
}
