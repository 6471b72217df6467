/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define SD_JOURNAL_SUPPRESS_LOCATION 1
#include <systemd/sd-journal.h>

#include "log.h"
#include "logwire.h"
#include "kvline.h"

static const char *log_prog = "qrexec-proxy";
static enum log_target log_target = LOG_TARGET_STDERR;
/*
 * "<N>" before each line on stderr tells journald (or a reader that
 * parses them) the priority; on a terminal it is noise to a person
 * (run, check): lines there are plain.
 */
static bool log_plain;
static struct log_connection log_conn;
static bool log_have_conn;
/* the listener's relay (logrelay.h): used by the processes it forks, never by itself */
static int log_relay_fd = -1;
static pid_t log_relay_owner;

/* stderr is the journal when systemd says so through JOURNAL_STREAM=dev:ino */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(const char *prog, enum log_target target)
{
	log_prog = prog;
	if (target == LOG_TARGET_AUTO)
		target = stderr_is_journal() ? LOG_TARGET_JOURNAL : LOG_TARGET_STDERR;
	log_target = target;
	log_plain = isatty(STDERR_FILENO) == 1;
}

enum log_target log_current_target(void)
{
	return log_target;
}

int log_parse_target(const char *s, enum log_target *out)
{
	if (!strcmp(s, "auto"))
		*out = LOG_TARGET_AUTO;
	else if (!strcmp(s, "stderr"))
		*out = LOG_TARGET_STDERR;
	else if (!strcmp(s, "journal"))
		*out = LOG_TARGET_JOURNAL;
	else
		return -1;
	return 0;
}

void log_set_connection(const struct log_connection *c)
{
	if (c) {
		log_conn = *c;
		log_have_conn = true;
	} else {
		memset(&log_conn, 0, sizeof(log_conn));
		log_have_conn = false;
	}
}

static const char *orempty(const char *s)
{
	return s ? s : "";
}

/*
 * Hands one message to the listener (logrelay.h). Returns 0 when it was
 * handed over, -1 when it was not (no relay, the listener gone): the
 * caller then writes it itself, so it is written exactly once.
 */
static int relay_send(int fd, int priority, const struct log_connection *conn, const char *msg,
		  const struct log_kv *kv, size_t n)
{
	if (fd < 0 || n > RELAY_MAX_KV)
		return -1;
	char prio[8];
	snprintf(prio, sizeof(prio), "%d", priority);
	struct iovec iov[RELAY_NFIELDS + 3 * RELAY_MAX_KV];
	int k = 0;
	size_t total = 0;
#define PUT(s, len) do { iov[k].iov_base = (void *)(s); iov[k].iov_len = (len); total += (len); k++; } while (0)
#define PUTS(s) PUT(s, strlen(s) + 1)
	const char *f[RELAY_NFIELDS] = {
		[RELAY_PRIORITY] = prio,
		[RELAY_HAS_CONN] = conn ? "1" : "0",
		[RELAY_ID] = orempty(conn ? conn->id : NULL),
		[RELAY_SOURCE] = orempty(conn ? conn->source : NULL),
		[RELAY_TARGET] = orempty(conn ? conn->target : NULL),
		[RELAY_SERVICE] = orempty(conn ? conn->service : NULL),
		[RELAY_CHAIN] = orempty(conn ? conn->chain : NULL),
		[RELAY_MESSAGE] = orempty(msg),
	};
	for (size_t i = 0; i < RELAY_NFIELDS; i++)
		PUTS(f[i]);
	for (size_t i = 0; i < n; i++) {
		PUT(kv[i].key, strlen(kv[i].key));
		PUT("=", 1);
		PUTS(orempty(kv[i].value));
	}
#undef PUTS
#undef PUT
	if (total > RELAY_MAX)
		return -1;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)k };
	/* blocks while the listener's queue is full: it drains it in its poll loop */
	for (;;) {
		ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (w == (ssize_t)total)
			return 0;
		if (w < 0 && errno == EINTR)
			continue;
		return -1;
	}
}

void log_set_relay(int fd)
{
	log_relay_fd = fd;
	log_relay_owner = getpid();
}

static bool log_relayed(void)
{
	return log_relay_fd >= 0 && getpid() != log_relay_owner;
}

static void log_emit_here(int priority, const char *tag, const char *msg)
{
	if (log_target == LOG_TARGET_JOURNAL) {
		int r;
		/* the service's argument is the caller's, up to 65,000 bytes: bounded on every entry */
		char service[KVLINE_FIELD_MAX * 4 + 64];
		if (log_have_conn)
			r = sd_journal_send("MESSAGE=%s%s%s", tag ? tag : "", tag ? ": " : "", msg,
					    "PRIORITY=%d", priority,
					    "SYSLOG_IDENTIFIER=%s", log_prog,
					    "QREXEC_PROXY_CONNECTION=%s", orempty(log_conn.id),
					    "QREXEC_PROXY_SOURCE=%s", orempty(log_conn.source),
					    "QREXEC_PROXY_TARGET=%s", orempty(log_conn.target),
					    "QREXEC_PROXY_SERVICE=%s",
					    kvline_bounded(service, sizeof(service), log_conn.service, KVLINE_FIELD_MAX),
					    "QREXEC_PROXY_CHAIN=%s", orempty(log_conn.chain),
					    NULL);
		else
			r = sd_journal_send("MESSAGE=%s%s%s", tag ? tag : "", tag ? ": " : "", msg,
					    "PRIORITY=%d", priority,
					    "SYSLOG_IDENTIFIER=%s", log_prog, NULL);
		if (r >= 0)
			return;
		/* journal unreachable: fall through to stderr rather than lose it */
	}

	char line[4096], prio[8] = "";
	int n;
	if (!log_plain)
		snprintf(prio, sizeof(prio), "<%d>", priority);
	if (log_have_conn && log_conn.id)
		n = snprintf(line, sizeof(line), "%s%s[%s]: %s%s%s\n", prio, log_prog,
			     log_conn.id, tag ? tag : "", tag ? ": " : "", msg);
	else
		n = snprintf(line, sizeof(line), "%s%s: %s%s%s\n", prio, log_prog,
			     tag ? tag : "", tag ? ": " : "", msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	/* one write per line, so lines of concurrent processes do not mix */
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}

/* a supervisor's own messages go through the listener; its children's lines (TAG) do not */
static void log_emit(int priority, const char *tag, const char *msg)
{
	if (!tag && log_relayed() &&
	    relay_send(log_relay_fd, priority, log_have_conn ? &log_conn : NULL, msg, NULL, 0) == 0)
		return;
	log_emit_here(priority, tag, msg);
}

void log_structured(int priority, const char *msg, const struct log_kv *kv, size_t n)
{
	if (log_relayed() && relay_send(log_relay_fd, priority, log_have_conn ? &log_conn : NULL, msg, kv, n) == 0)
		return;
	if (log_target == LOG_TARGET_JOURNAL) {
		struct iovec iov[32];
		char *text[32];
		size_t k = 0;
		bool ok = n + 3 <= sizeof(iov) / sizeof(iov[0]);
		if (ok && asprintf(&text[k], "MESSAGE=%s", msg) >= 0)
			k++;
		else
			ok = false;
		if (ok && asprintf(&text[k], "PRIORITY=%d", priority) >= 0)
			k++;
		else
			ok = false;
		if (ok && asprintf(&text[k], "SYSLOG_IDENTIFIER=%s", log_prog) >= 0)
			k++;
		else
			ok = false;
		for (size_t i = 0; ok && i < n; i++) {
			if (asprintf(&text[k], "%s=%s", kv[i].key, kv[i].value ? kv[i].value : "") >= 0)
				k++;
			else
				ok = false;
		}
		for (size_t i = 0; i < k; i++)
			iov[i] = (struct iovec){ .iov_base = text[i], .iov_len = strlen(text[i]) };
		int r = ok ? sd_journal_sendv(iov, (int)k) : -1;
		for (size_t i = 0; i < k; i++)
			free(text[i]);
		if (r >= 0)
			return;
	}
	log_emit_here(priority, NULL, msg);
}

static void log_vfatal(int priority, int err, const char *fmt, va_list ap)
{
	char msg[3072];
	int n = snprintf(msg, sizeof(msg), "fatal: ");
	int m = vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	if (m < 0)
		return;
	n += m;
	if (err && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(err));
	log_emit(priority, NULL, msg);
}

static void log_vmsg_plain(int priority, int err, const char *fmt, va_list ap)
{
	char msg[3072];
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	if (err && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(err));
	log_emit(priority, NULL, msg);
}

void log_msg(int priority, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg_plain(priority, 0, fmt, ap);
	va_end(ap);
}

void log_sys(int priority, const char *fmt, ...)
{
	int err = errno;
	va_list ap;
	va_start(ap, fmt);
	log_vmsg_plain(priority, err, fmt, ap);
	va_end(ap);
	errno = err;
}

/*
 * The length of the UTF-8 sequence at P (at most LEFT bytes) that may pass
 * as it is: a well-formed one (no overlong form, no surrogate, at most
 * U+10FFFF) that is not a C1 control (U+0080 to U+009F, which a terminal
 * may act on as it does on ESC). 0: escape the byte at P.
 */
static size_t utf8_printable(const unsigned char *p, size_t left)
{
	size_t n = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : 2;
	if (p[0] < 0xc2 || p[0] > 0xf4 || left < n)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if ((p[0] == 0xc2 && p[1] < 0xa0) || (p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0) ||
	    (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))
		return 0;
	return n;
}

int log_child_line(const char *tag, const char *line, size_t len, int priority)
{
	char msg[2048];
	size_t o = 0;
	const unsigned char *u = (const unsigned char *)line;

	if (priority < 0) {
		priority = LOG_NOTICE;
		if (len >= 3 && line[0] == '<' && line[1] >= '0' && line[1] <= '7' && line[2] == '>') {
			priority = line[1] - '0';
			u += 3;
			len -= 3;
		}
		/* a filter's line is at most an error: never an emergency, alert or critical (broadcast to terminals) */
		if (priority < LOG_ERR)
			priority = LOG_ERR;
	}
	for (size_t i = 0; i < len && o + 9 < sizeof(msg);) {
		unsigned char ch = u[i];
		size_t k;
		/*
		 * Only controls are escaped (C0, DEL, C1 raw or in UTF-8, and
		 * bytes no UTF-8 reader would take): they are what could end a
		 * line early, forge one, or drive a terminal. A backslash passes
		 * as it is, so a filter's own escaping (sniff's) reads the same.
		 */
		if ((ch >= 0x20 && ch < 0x7f) || ch == '\t') {
			msg[o++] = (char)ch;
			i++;
		} else if (ch >= 0x80 && (k = utf8_printable(u + i, len - i)) > 0) {
			for (size_t j = 0; j < k; j++)
				msg[o++] = (char)u[i + j];
			i += k;
		} else {
			o += (size_t)snprintf(msg + o, sizeof(msg) - o, "\\x%02x", ch);
			i++;
		}
	}
	msg[o] = '\0';
	log_emit(priority, tag, msg);
	return priority;
}

_Noreturn void die_x(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vfatal(LOG_ERR, 0, fmt, ap);
	va_end(ap);
	exit(code);
}

_Noreturn void die_sys(int code, const char *fmt, ...)
{
	int err = errno;
	va_list ap;
	va_start(ap, fmt);
	log_vfatal(LOG_ERR, err, fmt, ap);
	va_end(ap);
	exit(code);
}

void log_lines(int priority, char *text)
{
	char *save = NULL;
	for (char *line = text ? strtok_r(text, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save))
		log_msg(priority, "%s", line);
}
