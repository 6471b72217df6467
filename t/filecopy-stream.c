/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * filecopy-stream: a sender and a receiver of the qubes.Filecopy format
 * (see filters/filecopy.h), written for the tests from the format's
 * facts, to stand for qfile-agent and qfile-unpacker at both ends of a
 * pipeline:
 *
 *   filecopy-stream send [-C DIR] NAME...   stdout: the stream; stdin: the receiver's status
 *   filecopy-stream receive DIR            stdin: the stream; stdout: the status
 *
 * send walks each NAME (relative to DIR) as qfile-agent does: an entry,
 * then for a directory what it holds and the directory again; after each
 * entry it looks for a status without waiting (an error or end of file
 * there ends it, as in qfile-agent), and at the end it sends the end
 * marker and waits for the status, whose checksum must match its own.
 * It prints "send: ok files=N crc=X" or "send: error CODE last=NAME" on
 * stderr and exits 0, or 1 on an error status, no status or a mismatch.
 *
 * receive creates what the stream holds under DIR (regular files,
 * directories, links; names with ".." or a leading "/" are refused) and
 * answers once, at the end marker or at the first error, with the result
 * header and its extension (the last name), as newer receivers do; an end
 * of file before the marker is EREMOTEIO. It prints "receive: status
 * CODE files=N bytes=M" on stderr and exits 0 on success, 1 otherwise.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HDR 32
#define NAME_MAX_LEN 16383

static uint32_t crc_table[256];
static uint32_t crc;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320U ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

static void crc_add(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint32_t c = crc ^ 0xffffffffU;
	for (size_t i = 0; i < len; i++)
		c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
	crc = c ^ 0xffffffffU;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* 1 all read, 0 end of file first, -1 error */
static int read_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		p += n;
		len -= (size_t)n;
	}
	return 1;
}

static void put32(unsigned char *b, uint32_t v)
{
	memcpy(b, &v, 4);
}

static uint32_t get32(const unsigned char *b)
{
	uint32_t v;
	memcpy(&v, b, 4);
	return v;
}

/* ---- send ---- */

static unsigned long sent_files;

/* the receiver's status, if any: exits on an error or end of file; WAIT blocks for it */
static void check_status(bool wait)
{
	struct pollfd p = { .fd = 0, .events = POLLIN };
	if (!wait && poll(&p, 1, 0) == 0)
		return;
	unsigned char h[16], ext[4];
	char last[NAME_MAX_LEN + 1] = "";
	int r = read_all(0, h, sizeof(h));
	if (r <= 0) {
		fprintf(stderr, "send: no status (end of file)\n");
		exit(1);
	}
	uint32_t code = get32(h);
	uint64_t their_crc;
	memcpy(&their_crc, h + 8, 8);
	if (read_all(0, ext, 4) == 1) {
		uint32_t n = get32(ext);
		if (n > NAME_MAX_LEN)
			n = NAME_MAX_LEN;
		if (read_all(0, last, n) == 1)
			last[n] = '\0';
		else
			last[0] = '\0';
	}
	if (code) {
		fprintf(stderr, "send: error %u last=%s\n", code, last);
		exit(1);
	}
	if (!wait) {
		fprintf(stderr, "send: a status before the end\n");
		exit(1);
	}
	if (their_crc != crc) {
		fprintf(stderr, "send: checksum mismatch: ours %08x, theirs %08llx\n", crc,
			(unsigned long long)their_crc);
		exit(1);
	}
	fprintf(stderr, "send: ok files=%lu crc=%08x\n", sent_files, crc);
}

static void send_or_wait(const void *buf, size_t len)
{
	crc_add(buf, len);
	if (write_all(1, buf, len) < 0) {
		/* the way on is closed: what the receiver says is the answer */
		check_status(true);
		exit(1);
	}
}

static void send_entry(const char *name, const struct stat *st)
{
	unsigned char h[HDR];
	size_t namelen = strlen(name) + 1;
	uint64_t len = 0;
	char target[NAME_MAX_LEN + 1];
	if (S_ISREG(st->st_mode))
		len = (uint64_t)st->st_size;
	if (S_ISLNK(st->st_mode)) {
		ssize_t n = readlink(name, target, sizeof(target) - 1);
		if (n < 0) {
			perror(name);
			exit(1);
		}
		len = (uint64_t)n;
	}
	put32(h, (uint32_t)namelen);
	put32(h + 4, st->st_mode);
	memcpy(h + 8, &len, 8);
	put32(h + 16, (uint32_t)st->st_atim.tv_sec);
	put32(h + 20, (uint32_t)st->st_atim.tv_nsec);
	put32(h + 24, (uint32_t)st->st_mtim.tv_sec);
	put32(h + 28, (uint32_t)st->st_mtim.tv_nsec);
	send_or_wait(h, sizeof(h));
	send_or_wait(name, namelen);
	if (S_ISLNK(st->st_mode))
		send_or_wait(target, (size_t)len);
	if (S_ISREG(st->st_mode)) {
		int fd = open(name, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			perror(name);
			exit(1);
		}
		static char buf[1 << 16];
		for (uint64_t left = len; left;) {
			ssize_t n = read(fd, buf, left < sizeof(buf) ? (size_t)left : sizeof(buf));
			if (n <= 0) {
				fprintf(stderr, "send: %s: short read\n", name);
				exit(1);
			}
			send_or_wait(buf, (size_t)n);
			left -= (uint64_t)n;
		}
		close(fd);
	}
	sent_files++;
	check_status(false);
}

static void walk(const char *name)
{
	struct stat st;
	if (lstat(name, &st) < 0) {
		perror(name);
		exit(1);
	}
	send_entry(name, &st);
	if (!S_ISDIR(st.st_mode))
		return;
	DIR *d = opendir(name);
	if (!d) {
		perror(name);
		exit(1);
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char *sub;
		if (asprintf(&sub, "%s/%s", name, de->d_name) < 0)
			exit(1);
		walk(sub);
		free(sub);
	}
	closedir(d);
	send_entry(name, &st); /* again, as qfile-agent does: times and modes after the contents */
}

static int do_send(int argc, char **argv)
{
	int i = 0;
	if (argc >= 2 && !strcmp(argv[0], "-C")) {
		if (chdir(argv[1]) < 0) {
			perror(argv[1]);
			return 1;
		}
		i = 2;
	}
	/* the status is looked for without waiting between entries, as qfile-agent does */
	fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
	for (; i < argc; i++)
		walk(argv[i]);
	unsigned char end[HDR] = { 0 };
	send_or_wait(end, sizeof(end));
	fcntl(0, F_SETFL, fcntl(0, F_GETFL) & ~O_NONBLOCK);
	check_status(true);
	return 0;
}

/* ---- receive ---- */

static char last_name[NAME_MAX_LEN + 1];
static unsigned long recv_files;
static unsigned long long recv_bytes;

_Noreturn static void answer(uint32_t code)
{
	unsigned char h[16 + 4];
	uint64_t c = crc;
	put32(h, code);
	put32(h + 4, 0);
	memcpy(h + 8, &c, 8);
	put32(h + 16, (uint32_t)strlen(last_name));
	if (write_all(1, h, sizeof(h)) < 0 || write_all(1, last_name, strlen(last_name)) < 0)
		perror("receive: status");
	fprintf(stderr, "receive: status %u files=%lu bytes=%llu\n", code, recv_files, recv_bytes);
	exit(code ? 1 : 0);
}

/* 1 all read (and counted in the checksum), 0 end of file, -1 error */
static int take(void *buf, size_t len)
{
	int r = read_all(0, buf, len);
	if (r == 1)
		crc_add(buf, len);
	return r;
}

static void receive_entry(const unsigned char *h)
{
	uint32_t namelen = get32(h), mode = get32(h + 4);
	uint64_t len;
	memcpy(&len, h + 8, 8);
	if (namelen > NAME_MAX_LEN)
		answer(ENAMETOOLONG);
	char name[NAME_MAX_LEN + 1];
	if (take(name, namelen) != 1)
		answer(EREMOTEIO);
	name[namelen] = '\0';
	memcpy(last_name, name, namelen + 1);
	if (!name[0] || name[0] == '/' || strstr(name, "..") == name || strstr(name, "/../") ||
	    (strlen(name) >= 3 && !strcmp(name + strlen(name) - 3, "/..")))
		answer(EILSEQ);
	recv_files++;
	if (S_ISREG(mode)) {
		int fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			answer((uint32_t)errno);
		static char buf[1 << 16];
		for (uint64_t left = len; left;) {
			size_t n = left < sizeof(buf) ? (size_t)left : sizeof(buf);
			if (take(buf, n) != 1)
				answer(EREMOTEIO);
			if (write_all(fd, buf, n) < 0)
				answer((uint32_t)errno);
			left -= n;
		}
		recv_bytes += len;
		if (fchmod(fd, mode & 07777) < 0)
			answer((uint32_t)errno);
		close(fd);
	} else if (S_ISDIR(mode)) {
		if (mkdir(name, 0700) < 0) {
			if (errno != EEXIST)
				answer((uint32_t)errno);
			recv_files--; /* sent again after its contents */
			if (chmod(name, mode & 07777) < 0)
				answer((uint32_t)errno);
		}
	} else if (S_ISLNK(mode)) {
		char target[NAME_MAX_LEN + 1];
		if (len > NAME_MAX_LEN)
			answer(ENAMETOOLONG);
		if (take(target, (size_t)len) != 1)
			answer(EREMOTEIO);
		target[len] = '\0';
		if (symlink(target, name) < 0)
			answer((uint32_t)errno);
		recv_bytes += len;
	} else {
		answer(EINVAL);
	}
}

static int do_receive(const char *dir)
{
	if (chdir(dir) < 0) {
		perror(dir);
		return 1;
	}
	unsigned char h[HDR];
	for (;;) {
		int r = take(h, sizeof(h));
		if (r != 1)
			answer(EREMOTEIO);
		if (get32(h) == 0)
			answer(0);
		receive_entry(h);
	}
}

int main(int argc, char **argv)
{
	crc_init();
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 3 && !strcmp(argv[1], "send"))
		return do_send(argc - 2, argv + 2);
	if (argc == 3 && !strcmp(argv[1], "receive"))
		return do_receive(argv[2]);
	fprintf(stderr, "usage: filecopy-stream send [-C DIR] NAME... | receive DIR\n");
	return 100;
}
