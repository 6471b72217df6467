/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sniff [--format text|hex|base64]: passes data unchanged and logs it.
 *
 * Every log line stands alone and says where its bytes belong:
 *	<6>sniff: DIR source=S target=T chain=C service=V conn=ID offset=O length=L FORMAT=DATA
 * where FORMAT=DATA is text="escaped", hex=6869 or base64=aGk=. Lines stay
 * under the orchestrator's 1024-byte limit; long chunks take several lines.
 * Nothing from the data or the environment reaches the log unescaped, so
 * data can neither end a line nor forge a priority prefix or a header.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kit/qpf.h"

/* started ahead of its connection when the proxy can, and locked down before it (qpf.h) */
QPF_PRESTART_LOCKED;

#define CHUNK 65536
#define LINE_ROOM 960 /* the message part of a line, without "<6>sniff: " */
#define FIELD_MAX 80

enum format { FMT_TEXT, FMT_HEX, FMT_BASE64 };

static enum format format = FMT_TEXT;
static char header[8 * (FIELD_MAX + 16)];
static size_t header_len;

_Noreturn static void usage(void)
{
	fputs("usage: sniff [--format text|hex|base64]\n"
	      "Copies stdin to stdout unchanged and logs every chunk to stderr (the\n"
	      "journal): direction, source, target, chain, service, connection, offset,\n"
	      "length, then the data.\n"
	      "  -f, --format F  text (default): C escapes for anything but printable\n"
	      "                  ASCII, and for \\ \" <; hex; base64\n"
	      "  -h, --help      this text\n", stdout);
	exit(0);
}

/* an environment value for the header: escaped, no spaces, bounded */
static void add_field(const char *key, const char *var)
{
	const char *v = getenv(var);
	char esc[FIELD_MAX + 8];
	size_t o = 0;

	if (!v || !*v)
		v = "-";
	for (const char *p = v; *p && o < FIELD_MAX; p++) {
		if (*p == ' ' || *p == '=') {
			o += (size_t)snprintf(esc + o, sizeof(esc) - o, "\\x%02x", (unsigned char)*p);
		} else {
			size_t before = o;
			char one[8];
			qpf_escape(one, sizeof(one), p, 1);
			size_t n = strlen(one);
			memcpy(esc + o, one, n);
			o = before + n;
		}
	}
	if (*v && o >= FIELD_MAX && strlen(v) > FIELD_MAX / 4) {
		memcpy(esc + o, "...", 3);
		o += 3;
	}
	esc[o] = '\0';
	int n = snprintf(header + header_len, sizeof(header) - header_len, "%s%s%s",
			 key, key[0] ? "=" : "", esc);
	if (n > 0)
		header_len += (size_t)n;
	header[header_len++] = ' ';
	header[header_len] = '\0';
}

static size_t encode_hex(char *dst, size_t room, const unsigned char *p, size_t len, size_t *used)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = room / 2 < len ? room / 2 : len;
	for (size_t i = 0; i < n; i++) {
		dst[2 * i] = hex[p[i] >> 4];
		dst[2 * i + 1] = hex[p[i] & 15];
	}
	*used = n;
	return 2 * n;
}

static size_t encode_base64(char *dst, size_t room, const unsigned char *p, size_t len, size_t *used)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	/* whole groups of 3 per line, so every line decodes on its own */
	size_t n = room / 4 * 3;
	if (n > len)
		n = len;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		dst[o++] = b64[(v >> 18) & 63];
		dst[o++] = b64[(v >> 12) & 63];
		dst[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		dst[o++] = i + 2 < n ? b64[v & 63] : '=';
	}
	*used = n;
	return o;
}

static void log_chunk(const unsigned char *data, size_t len, uint64_t offset)
{
	static const char *const names[] = { "text", "hex", "base64" };
	char enc[LINE_ROOM];

	while (len) {
		/* room left once the header, offset, a 5-digit length and the format name are in */
		size_t fixed = header_len + sizeof("offset=18446744073709551615 length=65536 base64=\"\"");
		size_t room = LINE_ROOM - fixed, used, o;
		switch (format) {
		case FMT_HEX:
			o = encode_hex(enc, room, data, len, &used);
			break;
		case FMT_BASE64:
			o = encode_base64(enc, room, data, len, &used);
			break;
		default:
			enc[0] = '"';
			used = qpf_escape(enc + 1, room - 2, data, len);
			o = 1 + strlen(enc + 1);
			enc[o++] = '"';
			break;
		}
		qpf_log(LOG_INFO, "%soffset=%llu length=%zu %s=%.*s", header,
			(unsigned long long)offset, used, names[format], (int)o, enc);
		data += used;
		len -= used;
		offset += used;
	}
}

static int read_exact(int fd, unsigned char *buf, size_t len)
{
	while (len) {
		ssize_t n = read(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static unsigned char buf[CHUNK];
	int ch;

	qpf_init(argv[0]);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":f:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			if (!strcmp(optarg, "text"))
				format = FMT_TEXT;
			else if (!strcmp(optarg, "hex"))
				format = FMT_HEX;
			else if (!strcmp(optarg, "base64"))
				format = FMT_BASE64;
			else
				qpf_usage("--format: text, hex or base64, not %s", optarg);
			break;
		case 'h':
			usage();
		case ':':
			qpf_usage("%s needs a value", argv[optind - 1]);
		default:
			qpf_usage("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		qpf_usage("no arguments expected, got %s", argv[optind]);

	qpf_lockdown(NULL);
	/* the environment is the connection's only from here on, when started ahead */
	add_field("", "QREXEC_PROXY_DIRECTION");
	add_field("source", "QREXEC_REMOTE_DOMAIN");
	add_field("target", "QREXEC_PROXY_TARGET");
	add_field("chain", "QREXEC_PROXY_CHAIN");
	add_field("service", "QREXEC_PROXY_SERVICE");
	add_field("conn", "QREXEC_PROXY_CONNECTION");

	uint64_t offset = 0;
	bool use_tee = true;
	for (;;) {
		ssize_t n;
		if (use_tee) {
			/* between pipes the data goes on without a copy; we read our own copy after */
			n = tee(0, 1, CHUNK, 0);
			if (n < 0 && errno == EINVAL) {
				use_tee = false;
				continue;
			}
			if (n > 0 && read_exact(0, buf, (size_t)n) < 0)
				qpf_die_sys(QPF_EXIT_SYSTEM, "unable to read");
		} else {
			n = read(0, buf, sizeof(buf));
			if (n > 0 && qpf_write_all(1, buf, (size_t)n) < 0)
				qpf_die_sys(QPF_EXIT_SYSTEM, "unable to write");
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			qpf_die_sys(QPF_EXIT_SYSTEM, "unable to copy");
		}
		if (n == 0)
			break;
		log_chunk(buf, (size_t)n, offset);
		offset += (uint64_t)n;
	}
	qpf_done();
	/* the next hop sees EOF now, not once this process has been torn down */
	close(1);
	qpf_log(LOG_INFO, "%send offset=%llu", header, (unsigned long long)offset);
	return 0;
}
