/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The journal of a daemon under test (testjournal.h): journald's native
 * protocol, read as journald reads it. A datagram is one entry, a run of
 * fields, each "KEY=VALUE\n", or "KEY\n", a little-endian 64-bit length,
 * the value's bytes and "\n" (for values with a newline). An entry too
 * large for a datagram comes as a memfd passed with SCM_RIGHTS.
 */
#include <check.h>
#include <sched.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "testjournal.h"
#include "testutil.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"
#define ENTRY_MAX (1 << 20)

static void put_escaped(FILE *f, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n')
			fputs("\\n", f);
		else
			fputc(p[i], f);
	}
}

/* one entry of N bytes: its fields to JOURNAL, its MESSAGE to LOG */
static void write_entry(const char *buf, size_t n, FILE *journal, FILE *log)
{
	size_t o = 0;
	while (o < n) {
		const char *nl = memchr(buf + o, '\n', n - o);
		if (!nl)
			break;
		size_t linelen = (size_t)(nl - (buf + o));
		const char *eq = memchr(buf + o, '=', linelen);
		const char *key = buf + o, *val;
		size_t keylen, vlen;
		if (eq) {
			keylen = (size_t)(eq - key);
			val = eq + 1;
			vlen = linelen - keylen - 1;
			o += linelen + 1;
		} else {
			/* KEY\n, then the length and the value */
			keylen = linelen;
			o += linelen + 1;
			uint64_t len = 0;
			if (n - o < 8)
				break;
			for (int i = 7; i >= 0; i--)
				len = (len << 8) | (unsigned char)buf[o + (size_t)i];
			o += 8;
			if (len > n - o)
				break;
			val = buf + o;
			vlen = (size_t)len;
			o += vlen + 1;
		}
		fwrite(key, 1, keylen, journal);
		fputc('=', journal);
		put_escaped(journal, val, vlen);
		fputc('\n', journal);
		if (keylen == 7 && !memcmp(key, "MESSAGE", 7)) {
			put_escaped(log, val, vlen);
			fputc('\n', log);
		}
	}
	fputc('\n', journal);
	fflush(journal);
	fflush(log);
}

static _Noreturn void collect(int sock, const char *journal_path, const char *log_path)
{
	FILE *journal = fopen(journal_path, "a");
	FILE *log = fopen(log_path, "a");
	static char buf[ENTRY_MAX];
	if (!journal || !log)
		_exit(1);
	for (;;) {
		union {
			struct cmsghdr h;
			char space[CMSG_SPACE(sizeof(int))];
		} ctl;
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &ctl,
				     .msg_controllen = sizeof(ctl) };
		ssize_t r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			/* a memfd holding the entry */
			int fd;
			memcpy(&fd, CMSG_DATA(c), sizeof(fd));
			r = pread(fd, buf, sizeof(buf), 0);
			close(fd);
			if (r < 0)
				continue;
		}
		write_entry(buf, (size_t)r, journal, log);
	}
}

pid_t journal_collector_start(const char *journal, const char *log)
{
	if (unshare(CLONE_NEWNS) < 0)
		return -1;
	/* our mounts stay ours; then a /run/systemd of our own */
	ck_assert_msg(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0, "mount --make-rprivate /: %s",
		      strerror(errno));
	struct stat st;
	if (stat("/run/systemd", &st) < 0) {
		ck_assert_msg(mount("tmpfs", "/run", "tmpfs", 0, "mode=0755") == 0, "mount /run: %s", strerror(errno));
		ck_assert_int_eq(mkdir("/run/systemd", 0755), 0);
	} else {
		ck_assert_msg(mount("tmpfs", "/run/systemd", "tmpfs", 0, "mode=0755") == 0, "mount /run/systemd: %s",
			      strerror(errno));
	}
	ck_assert_int_eq(mkdir("/run/systemd/journal", 0755), 0);
	int sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(sock, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = JOURNAL_SOCKET };
	ck_assert_msg(bind(sock, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind %s: %s", JOURNAL_SOCKET,
		      strerror(errno));
	/* a daemon that runs as another user writes here too */
	ck_assert_int_eq(chmod(JOURNAL_SOCKET, 0666), 0);
	int big = 8 << 20;
	setsockopt(sock, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	/* the files exist before the daemon starts, so that waits on them never miss */
	int fd = open(journal, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	close(fd);
	pid_t parent = getpid();
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(1);
		collect(sock, journal, log);
	}
	close(sock);
	return pid;
}

/* whether ENTRY (its lines) has every one of FIELDS */
static bool entry_has(const char *entry, size_t len, const char *const *fields)
{
	for (size_t i = 0; fields[i]; i++) {
		size_t flen = strlen(fields[i]);
		bool prefix = flen && fields[i][flen - 1] == '*';
		if (prefix)
			flen--;
		bool found = false;
		for (const char *line = entry; line < entry + len && !found;) {
			const char *nl = memchr(line, '\n', (size_t)(entry + len - line));
			size_t ll = nl ? (size_t)(nl - line) : (size_t)(entry + len - line);
			found = prefix ? ll >= flen && !memcmp(line, fields[i], flen)
				       : ll == flen && !memcmp(line, fields[i], flen);
			line += ll + 1;
		}
		if (!found)
			return false;
	}
	return true;
}

/* the first entry of TEXT with every one of FIELDS (malloc'ed), or NULL; *COUNT: how many have them */
static char *find_entry(const char *text, const char *const *fields, int *count)
{
	char *first = NULL;
	*count = 0;
	for (const char *p = text; *p;) {
		const char *end = strstr(p, "\n\n");
		size_t len = end ? (size_t)(end - p) + 1 : strlen(p);
		if (entry_has(p, len, fields)) {
			if (!first)
				first = strndup(p, len);
			++*count;
		}
		p += end ? len + 1 : len;
	}
	return first;
}

char *journal_wait_entry(const struct daemon *d, const char *const *fields, int timeout_ms)
{
	int64_t end = now_ms() + wait_ms(timeout_ms);
	do {
		char *text = file_read(d->journal);
		int n;
		char *e = find_entry(text, fields, &n);
		free(text);
		if (e)
			return e;
		poll(NULL, 0, 20);
	} while (now_ms() < end);
	return NULL;
}

int journal_count(const struct daemon *d, const char *const *fields)
{
	char *text = file_read(d->journal);
	int n;
	free(find_entry(text, fields, &n));
	free(text);
	return n;
}
