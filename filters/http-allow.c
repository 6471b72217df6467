/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * http-allow --allow-host PATTERN...: qubes.UpdatesProxy (a template's
 * HTTP proxy traffic, towards tinyproxy) limited to the hosts, ports and
 * paths listed. Reads the requests (http.h) and passes them on unchanged;
 * a CONNECT to an allowed host:port turns the rest of the connection into
 * a tunnel, passed on untouched (spliced). A request for anything else,
 * or one that breaks the syntax or the limits, ends the connection before
 * a byte of it has gone on (a request's head goes on only once it is
 * whole and good): what came before it (earlier requests of a pipeline)
 * has, and their answers still come back. Memory is bounded: one head of
 * at most 102 lines of 8 KiB, of which a real one uses a few hundred bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"
#include "kit/qpf.h"

/* started ahead of its connection when the proxy can (qpf.h) */
QPF_PRESTART;

#define MAX_RULES 256
#define MAX_PORTS 64
#define IN_SIZE (64U << 10)
#define SPLICE_MIN (64U << 10)
#define SPLICE_CHUNK (1U << 20)

static struct http_parser parser;
static uint8_t inbuf[IN_SIZE];
static size_t in_off, in_len;
static uint8_t outbuf[IN_SIZE + HTTP_LINE_MAX];
static size_t out_len;
/* the head of the request being read: it goes on whole, once it is whole and good, or not at all */
static char head[HTTP_LINE_MAX * (HTTP_HEADERS_MAX + 2)];
static size_t head_len;
static bool in_head;
static char request_text[600];
static bool no_splice;
static int nullfd = -1;
static uint64_t passed;

_Noreturn static void usage(void)
{
	fputs("usage: http-allow --allow-host PATTERN [--allow-host PATTERN]... [OPTIONS]\n"
	      "Passes HTTP/1.x proxy requests (CONNECT host:port, GET http://host/...) to\n"
	      "the hosts listed, and ends the connection before any other request.\n"
	      "  --allow-host PATTERN      a host name (exact) or *.example.org (its\n"
	      "                            subdomains); an address only as written (repeatable)\n"
	      "  --allow-port N[,N...]     ports allowed (repeatable; default 80,443)\n"
	      "  --allow-path-prefix P     plain-HTTP requests only for paths starting with P\n"
	      "                            (repeatable; CONNECT is not affected)\n"
	      "  -h, --help                this text\n", stdout);
	exit(0);
}

static void flush_out(void)
{
	if (out_len && qpf_write_all(1, outbuf, out_len) < 0)
		qpf_die_sys(QPF_EXIT_SYSTEM, "unable to write");
	passed += out_len;
	out_len = 0;
}

static void put(const void *p, size_t n)
{
	if (out_len + n > sizeof(outbuf))
		flush_out();
	if (n > sizeof(outbuf)) {
		if (qpf_write_all(1, p, n) < 0)
			qpf_die_sys(QPF_EXIT_SYSTEM, "unable to write");
		passed += n;
		return;
	}
	memcpy(outbuf + out_len, p, n);
	out_len += n;
}

/* what went before goes on, the destination sees the end, the rest is dropped; exit 1 */
_Noreturn static void end_connection(void)
{
	flush_out();
	close(1);
	if (qpf_discard(0, nullfd, NULL) < 0)
		qpf_die_sys(QPF_EXIT_SYSTEM, "unable to read");
	exit(QPF_EXIT_REFUSED);
}

static const char *shown(const char *s, size_t len, char *buf, size_t size)
{
	size_t done = qpf_escape(buf, size - 4, s, len);
	if (done < len)
		strcat(buf, "...");
	return buf;
}

static void wait_input(void)
{
	struct pollfd p = { .fd = 0, .events = POLLIN };
	while (poll(&p, 1, -1) < 0)
		if (errno != EINTR)
			qpf_die_sys(QPF_EXIT_SYSTEM, "unable to poll");
}

static bool fill(void)
{
	flush_out();
	for (;;) {
		ssize_t n = read(0, inbuf, sizeof(inbuf));
		if (n > 0) {
			in_off = 0;
			in_len = (size_t)n;
			return true;
		}
		if (n == 0)
			return false;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			wait_input();
			continue;
		}
		qpf_die_sys(QPF_EXIT_SYSTEM, "unable to read");
	}
}

/* a large body moves by splice; false if splice cannot (then it is read) */
static bool splice_body(void)
{
	uint64_t left = http_body_left(&parser);
	size_t want = left < SPLICE_CHUNK ? (size_t)left : SPLICE_CHUNK;
	for (;;) {
		ssize_t n = splice(0, NULL, 1, NULL, want, SPLICE_F_MOVE);
		if (n > 0) {
			http_body_moved(&parser, (uint64_t)n);
			passed += (uint64_t)n;
			return true;
		}
		if (n == 0) {
			qpf_log(LOG_WARNING, "bad request: %s; ended the connection", http_eof(&parser));
			end_connection();
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			wait_input();
			continue;
		}
		if (errno == EINVAL) {
			no_splice = true;
			return false;
		}
		qpf_die_sys(QPF_EXIT_SYSTEM, "unable to copy");
	}
}

static void tunnel(void)
{
	/* what came with the CONNECT (a TLS ClientHello, say) first, then splice to the end */
	put(inbuf + in_off, in_len - in_off);
	in_off = in_len;
	flush_out();
	struct qpf_copy c = QPF_COPY_INIT;
	if (qpf_copy(0, 1, &c) < 0)
		qpf_die_sys(QPF_EXIT_SYSTEM, "unable to copy the tunnel after %llu bytes", (unsigned long long)c.copied);
	passed += c.copied;
}

static void serve(const struct http_rules *rules)
{
	http_init(&parser);
	for (;;) {
		if (in_off == in_len) {
			if (!no_splice && http_body_left(&parser) >= SPLICE_MIN) {
				flush_out();
				if (splice_body())
					continue;
			}
			if (!fill())
				break;
		}
		size_t used;
		const uint8_t *at = inbuf + in_off;
		enum http_event ev = http_feed(&parser, at, in_len - in_off, &used);
		in_off += used;
		switch (ev) {
		case HTTP_MORE:
			break;
		case HTTP_PASS:
			put(at, used);
			if (http_tunnel(&parser)) {
				tunnel();
				goto done;
			}
			break;
		case HTTP_REQUEST: {
			const struct http_request *r = &parser.req;
			char why[160], path[300];
			const char *rule = http_check(rules, r, why, sizeof(why));
			shown(r->path, r->path_len, path, sizeof(path));
			if (rule) {
				qpf_log(LOG_WARNING, "refused: %s %s:%u%s (%s: %s); ended the connection after %llu requests",
					r->method, r->host, r->port, path, rule, why,
					(unsigned long long)parser.requests - 1);
				end_connection();
			}
			/* logged once its head has gone on */
			snprintf(request_text, sizeof(request_text), "%s %s:%u%s", r->method, r->host, r->port, path);
			http_accept(&parser);
			size_t n;
			const char *line = http_held(&parser, &n);
			memcpy(head, line, n);
			head_len = n;
			in_head = true;
			break;
		}
		case HTTP_HELD: {
			size_t n;
			const char *line = http_held(&parser, &n);
			if (!in_head) {
				put(line, n); /* chunk sizes and trailers */
				break;
			}
			memcpy(head + head_len, line, n); /* the parser allows no more than head holds */
			head_len += n;
			if (parser.state == HTTP_S_HEADERS)
				break;
			in_head = false;
			put(head, head_len);
			qpf_log(LOG_INFO, "%s", request_text);
			if (http_tunnel(&parser)) {
				tunnel();
				goto done;
			}
			break;
		}
		case HTTP_BAD:
			qpf_log(LOG_WARNING, "bad request: %s; ended the connection after %llu requests",
				parser.error, (unsigned long long)(parser.requests ? parser.requests - 1 : 0));
			end_connection();
		}
	}
	const char *why = http_eof(&parser);
	if (why) {
		qpf_log(LOG_WARNING, "bad request: %s; ended the connection", why);
		end_connection();
	}
done:
	flush_out();
	qpf_log(LOG_INFO, "done: requests=%llu%s bytes=%llu", (unsigned long long)parser.requests,
		http_tunnel(&parser) ? " (the last a tunnel)" : "", (unsigned long long)passed);
}

int main(int argc, char **argv)
{
	enum { O_HOST = 256, O_PORT, O_PREFIX };
	static const struct option opts[] = {
		{ "allow-host", required_argument, NULL, O_HOST },
		{ "allow-port", required_argument, NULL, O_PORT },
		{ "allow-path-prefix", required_argument, NULL, O_PREFIX },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *hosts[MAX_RULES], *prefixes[MAX_RULES];
	static unsigned ports[MAX_PORTS];
	struct http_rules rules = { .hosts = hosts, .ports = ports, .prefixes = prefixes };
	int ch;

	qpf_init(argv[0]);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		const char *opt = argv[optind - 1];
		switch (ch) {
		case O_HOST: {
			const char *why = http_pattern_check(optarg);
			if (why)
				qpf_usage("--allow-host %s: %s", optarg, why);
			if (rules.n_hosts == MAX_RULES)
				qpf_usage("at most %d --allow-host", MAX_RULES);
			hosts[rules.n_hosts++] = optarg;
			break;
		}
		case O_PORT:
			for (char *s = optarg;;) {
				char *end = strchr(s, ',');
				size_t n = end ? (size_t)(end - s) : strlen(s);
				unsigned v = 0;
				if (!n || n > 5)
					qpf_usage("--allow-port: not a port list: %s", optarg);
				for (size_t i = 0; i < n; i++) {
					if (s[i] < '0' || s[i] > '9')
						qpf_usage("--allow-port: not a port list: %s", optarg);
					v = v * 10 + (unsigned)(s[i] - '0');
				}
				if (!v || v > 65535)
					qpf_usage("--allow-port: not a port from 1 to 65535: %.*s", (int)n, s);
				if (rules.n_ports == MAX_PORTS)
					qpf_usage("at most %d ports", MAX_PORTS);
				ports[rules.n_ports++] = v;
				if (!end)
					break;
				s = end + 1;
			}
			break;
		case O_PREFIX:
			if (optarg[0] != '/')
				qpf_usage("--allow-path-prefix: a path, starting with '/': %s", optarg);
			if (rules.n_prefixes == MAX_RULES)
				qpf_usage("at most %d --allow-path-prefix", MAX_RULES);
			prefixes[rules.n_prefixes++] = optarg;
			break;
		case 'h':
			usage();
		case ':':
			qpf_usage("%s needs a value", opt);
		default:
			qpf_usage("unknown option %s", opt);
		}
	}
	if (optind < argc)
		qpf_usage("no arguments expected, got %s", argv[optind]);
	if (!rules.n_hosts)
		qpf_usage("no --allow-host: every request would be refused");
	if (!rules.n_ports) {
		ports[rules.n_ports++] = 80;
		ports[rules.n_ports++] = 443;
	}

	nullfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	qpf_lockdown(NULL);
	serve(&rules);
	return 0;
}
