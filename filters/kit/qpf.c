/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "qpf.h"

const char *qpf_prog = "filter";

/* the orchestrator splits stderr lines at QPC_LINE_MAX bytes: stay below, newline included */
#define QPF_LINE_MAX (QPC_LINE_MAX - 24)
/* big requests let a splice move a whole pipe's worth per call */
#define QPF_CHUNK (1U << 20)

static char qpf_buf[QPF_CHUNK]; /* bss: costs nothing until the fallback touches it */

_Static_assert(sizeof(QPC_NOTE_NAME) == QPC_NOTE_NAMESZ, "the note's name size");
_Static_assert(sizeof(QPC_NOTE_DESC) - 1 == QPC_NOTE_DESCSZ, "the note's descriptor size");

static int read_exact(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Started ahead (QREXEC_PROXY_PRESTART=1): the environment of the
 * connection comes on fd 2, a socket then: a 32-bit length, then
 * NAME=VALUE strings ended by NULs. Nothing (EOF): no connection came
 * for this process; it ends quietly.
 */
static bool prestarted(void)
{
	const char *p = getenv(QPC_ENV_PRESTART);
	return p && !strcmp(p, "1");
}

/* started ahead, marked QPF_PRESTART_LOCKED, and its environment not read yet */
static bool env_pending;

static void await_environment(void)
{
	uint32_t len;
	if (read_exact(STDERR_FILENO, &len, sizeof(len)) < 0)
		_exit(0);
	if (len > QPC_ENV_HANDOFF_MAX)
		_exit(QPF_EXIT_SYSTEM);
	/* kept for the life of the process: putenv() uses the strings themselves */
	char *env = malloc((size_t)len + 1);
	if (!env || read_exact(STDERR_FILENO, env, len) < 0)
		_exit(QPF_EXIT_SYSTEM);
	env[len] = '\0';
	if (clearenv() != 0)
		_exit(QPF_EXIT_SYSTEM);
	for (char *s = env; s < env + len; s += strlen(s) + 1)
		if (strchr(s, '=') && s[0] != '=' && putenv(s) != 0)
			_exit(QPF_EXIT_SYSTEM);
}

void qpf_wait_environment(void)
{
	if (env_pending) {
		env_pending = false;
		await_environment();
	}
}

void qpf_init(const char *argv0)
{
	/* marked QPF_PRESTART_LOCKED: it waits in qpf_lockdown(), locked down already */
	if (prestarted() && &qpf_prestart_locked && qpf_prestart_locked)
		env_pending = true;
	else if (prestarted())
		await_environment();
	if (argv0 && *argv0) {
		const char *slash = strrchr(argv0, '/');
		qpf_prog = slash && slash[1] ? slash + 1 : argv0;
	}
	int missing = -1;
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		/* open() returns the lowest free fd: this one, since lower ones are open by now */
		if (open("/dev/null", O_RDWR) != fd)
			_exit(QPF_EXIT_SYSTEM);
		if (missing < 0)
			missing = fd;
	}
	if (missing >= 0)
		qpf_die(QPF_EXIT_USAGE, "fd %d is not open: a filter needs stdin, stdout and stderr", missing);
}

void qpf_args_checked(void)
{
	const char *dir = getenv(QPC_ENV_DIRECTION);
	if (dir && !strcmp(dir, QPC_DIR_CHECK))
		_exit(0);
}

int qpf_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
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

/* ---- logging ---- */

static void emit(int priority, const char *kind, int err, const char *fmt, va_list ap)
{
	char msg[QPF_LINE_MAX];
	char line[QPF_LINE_MAX + 8];
	int saved = errno;

	if (priority < 0 || priority > 7)
		priority = LOG_ERR;
	int m = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (m < 0)
		m = 0;
	size_t mlen = (size_t)m < sizeof(msg) ? (size_t)m : sizeof(msg) - 1;
	if (err) {
		int e = snprintf(msg + mlen, sizeof(msg) - mlen, ": %s", strerror(err));
		if (e > 0)
			mlen += (size_t)e < sizeof(msg) - mlen ? (size_t)e : sizeof(msg) - mlen - 1;
	}

	int n = snprintf(line, sizeof(line), "<%d>%s: %s", priority, qpf_prog, kind);
	size_t len = n > 0 && (size_t)n < sizeof(line) ? (size_t)n : 0;
	/* a message quoting data must not break the line or forge another one */
	for (size_t i = 0; i < mlen && len < QPF_LINE_MAX - 5; i++) {
		unsigned char ch = (unsigned char)msg[i];
		if (ch < 0x20 || ch == 0x7f) {
			len += (size_t)snprintf(line + len, 5, "\\x%02x", ch);
		} else {
			line[len++] = (char)ch;
		}
	}
	line[len++] = '\n';
	/* one write per line: lines of concurrent writers never interleave */
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w;
	errno = saved;
}

void qpf_vlog(int priority, const char *fmt, va_list ap)
{
	emit(priority, "", 0, fmt, ap);
}

void qpf_log(int priority, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit(priority, "", 0, fmt, ap);
	va_end(ap);
}

void qpf_log_sys(int priority, const char *fmt, ...)
{
	int err = errno;
	va_list ap;
	va_start(ap, fmt);
	emit(priority, "", err, fmt, ap);
	va_end(ap);
}

void qpf_die(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit(LOG_ERR, "fatal: ", 0, fmt, ap);
	va_end(ap);
	exit(code);
}

void qpf_die_sys(int code, const char *fmt, ...)
{
	int err = errno;
	va_list ap;
	va_start(ap, fmt);
	emit(LOG_ERR, "fatal: ", err, fmt, ap);
	va_end(ap);
	exit(code);
}

void qpf_refuse(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit(LOG_WARNING, "refused: ", 0, fmt, ap);
	va_end(ap);
	exit(QPF_EXIT_REFUSED);
}

void qpf_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit(LOG_ERR, "usage: ", 0, fmt, ap);
	va_end(ap);
	qpf_log(LOG_ERR, "try '%s --help'", qpf_prog);
	exit(QPF_EXIT_USAGE);
}

/* ---- parsing ---- */

int qpf_parse_size(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;

	if (!s || *p < '0' || *p > '9') {
		errno = EINVAL;
		return -1;
	}
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10) {
			errno = ERANGE;
			return -1;
		}
		v = v * 10 + d;
	}
	unsigned shift = 0;
	switch (*p) {
	case '\0':
		break;
	case 'k': case 'K':
		shift = 10;
		break;
	case 'm': case 'M':
		shift = 20;
		break;
	case 'g': case 'G':
		shift = 30;
		break;
	default:
		errno = EINVAL;
		return -1;
	}
	if (shift && *++p) {
		errno = EINVAL;
		return -1;
	}
	if (shift && v > (UINT64_MAX >> shift)) {
		errno = ERANGE;
		return -1;
	}
	*out = v << shift;
	return 0;
}

int qpf_parse_seconds(const char *s, int64_t *ns_out)
{
	int64_t sec = 0, frac = 0;
	int digits = 0, fdigits = 0;
	const char *p = s;

	if (!s) {
		errno = EINVAL;
		return -1;
	}
	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		sec = sec * 10 + (*p - '0');
		if (sec > 1000000000) {
			errno = ERANGE;
			return -1;
		}
	}
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, fdigits++) {
			if (fdigits == 9) {
				errno = EINVAL;
				return -1;
			}
			frac = frac * 10 + (*p - '0');
		}
	}
	if (*p || digits + fdigits == 0) {
		errno = EINVAL;
		return -1;
	}
	for (int i = fdigits; i < 9; i++)
		frac *= 10;
	*ns_out = sec * 1000000000 + frac;
	return 0;
}

/* ---- time and randomness ---- */

int64_t qpf_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void qpf_sleep_ns(int64_t ns)
{
	if (ns <= 0)
		return;
	int64_t end = qpf_now_ns() + ns;
	struct timespec ts = { .tv_sec = end / 1000000000, .tv_nsec = end % 1000000000 };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

int qpf_random_below(uint64_t max, uint64_t *out)
{
	for (;;) {
		uint64_t r;
		ssize_t n = getrandom(&r, sizeof(r), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(r)) {
			if (n >= 0)
				errno = EIO;
			return -1;
		}
		if (max == UINT64_MAX) {
			*out = r;
			return 0;
		}
		/* reject the top partial range, so every value is equally likely */
		uint64_t span = max + 1;
		if (r >= UINT64_MAX - UINT64_MAX % span)
			continue;
		*out = r % span;
		return 0;
	}
}

/* ---- moving bytes ---- */

/*
 * Waits until FD is ready for EVENTS or the first of deadline / idle end
 * passes. Returns 1 ready, 0 timed out (*why says which), -1 error.
 */
static int wait_ready(int fd, short events, const struct qpf_copy *c, int64_t last_move, int *why)
{
	for (;;) {
		int64_t now = qpf_now_ns();
		int64_t until = INT64_MAX;
		*why = -1;
		if (c->deadline) {
			until = c->deadline;
			*why = QPF_END_DEADLINE;
		}
		if (c->idle && last_move + c->idle < until) {
			until = last_move + c->idle;
			*why = QPF_END_IDLE;
		}
		struct pollfd pfd = { .fd = fd, .events = events };
		struct timespec ts, *tsp = NULL;
		if (until != INT64_MAX) {
			if (until <= now)
				return 0;
			ts.tv_sec = (until - now) / 1000000000;
			ts.tv_nsec = (until - now) % 1000000000;
			tsp = &ts;
		}
		int r = ppoll(&pfd, 1, tsp, NULL);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r > 0)
			return 1; /* also on POLLHUP/POLLERR: the next call reports it */
	}
}

int qpf_copy(int in, int out, struct qpf_copy *c)
{
	qpf_wait_environment();
	bool no_splice = false;
	bool timed = c->deadline || c->idle;
	int64_t last_move = timed ? qpf_now_ns() : 0;
	int why;

	for (;;) {
		if (c->copied >= c->limit)
			return QPF_END_LIMIT;
		uint64_t left = c->limit - c->copied;
		size_t want = left < QPF_CHUNK ? (size_t)left : QPF_CHUNK;

		if (timed) {
			int r = wait_ready(in, POLLIN, c, last_move, &why);
			if (r <= 0)
				return r < 0 ? -1 : why;
		}
		if (!no_splice) {
			if (timed) {
				int r = wait_ready(out, POLLOUT, c, last_move, &why);
				if (r <= 0)
					return r < 0 ? -1 : why;
			}
			/*
			 * SPLICE_F_NONBLOCK applies to the pipes only, unlike
			 * O_NONBLOCK, which would change the open file description
			 * the other end shares; with a timeout it keeps a full
			 * output pipe from holding us past our time.
			 */
			ssize_t n = splice(in, NULL, out, NULL, want,
					   SPLICE_F_MOVE | (timed ? SPLICE_F_NONBLOCK : 0));
			if (n > 0) {
				c->copied += (uint64_t)n;
				if (timed)
					last_move = qpf_now_ns();
				continue;
			}
			if (n == 0)
				return QPF_END_EOF;
			if (errno == EINTR || errno == EAGAIN)
				continue;
			if (errno != EINVAL)
				return -1;
			/* neither side a pipe, or a file that cannot splice: copy instead */
			no_splice = true;
			if (timed)
				continue; /* input readiness is checked again below */
		}

		ssize_t n = read(in, qpf_buf, want);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		if (n == 0)
			return QPF_END_EOF;
		if (!timed) {
			if (qpf_write_all(out, qpf_buf, (size_t)n) < 0)
				return -1;
			c->copied += (uint64_t)n;
			continue;
		}
		last_move = qpf_now_ns();
		for (size_t off = 0; off < (size_t)n;) {
			int r = wait_ready(out, POLLOUT, c, last_move, &why);
			if (r <= 0)
				return r < 0 ? -1 : why;
			/* a ready pipe takes PIPE_BUF bytes without blocking */
			size_t part = (size_t)n - off < PIPE_BUF ? (size_t)n - off : PIPE_BUF;
			ssize_t w = write(out, qpf_buf + off, part);
			if (w < 0) {
				if (errno == EINTR || errno == EAGAIN)
					continue;
				return -1;
			}
			off += (size_t)w;
			c->copied += (uint64_t)w;
			last_move = qpf_now_ns();
		}
	}
}

void qpf_done(void)
{
	int saved = errno;
	/* a process may always lower its own priority: nothing to do when it cannot */
	(void)setpriority(PRIO_PROCESS, 0, 19);
	errno = saved;
}

int qpf_discard(int in, int nullfd, uint64_t *discarded)
{
	qpf_wait_environment();
	uint64_t total = 0;
	int rc = 0;

	for (;;) {
		ssize_t n;
		if (nullfd >= 0) {
			n = splice(in, NULL, nullfd, NULL, QPF_CHUNK, SPLICE_F_MOVE);
			if (n < 0 && errno == EINVAL) {
				nullfd = -1;
				continue;
			}
		} else {
			n = read(in, qpf_buf, sizeof(qpf_buf));
		}
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			rc = -1;
			break;
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
	}
	if (discarded)
		*discarded = total;
	return rc;
}

/* ---- escaping ---- */

size_t qpf_escape(char *dst, size_t dstlen, const void *src, size_t srclen)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = src;
	size_t o = 0, i;

	if (!dstlen)
		return 0;
	for (i = 0; i < srclen; i++) {
		char e[4];
		size_t el;
		unsigned char ch = s[i];
		const char *simple = NULL;
		switch (ch) {
		case '\a': simple = "\\a"; break;
		case '\b': simple = "\\b"; break;
		case '\t': simple = "\\t"; break;
		case '\n': simple = "\\n"; break;
		case '\v': simple = "\\v"; break;
		case '\f': simple = "\\f"; break;
		case '\r': simple = "\\r"; break;
		case '\\': simple = "\\\\"; break;
		case '"': simple = "\\\""; break;
		default: break;
		}
		if (simple) {
			memcpy(e, simple, 2);
			el = 2;
		} else if (ch < 0x20 || ch >= 0x7f || ch == '<') {
			e[0] = '\\';
			e[1] = 'x';
			e[2] = hex[ch >> 4];
			e[3] = hex[ch & 15];
			el = 4;
		} else {
			e[0] = (char)ch;
			el = 1;
		}
		if (o + el >= dstlen)
			break;
		memcpy(dst + o, e, el);
		o += el;
	}
	dst[o] = '\0';
	return i;
}
