/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * HTTP/1.x proxy requests as an HTTP proxy (tinyproxy, for
 * qubes.UpdatesProxy) receives them, and http-allow's rules over them.
 * No I/O here: the program (http-allow.c) moves the bytes, the fuzzer
 * (t/fuzz/fuzz_http.c) feeds the same parser arbitrary streams.
 *
 * A connection is a sequence of requests, each a request line, header
 * lines and a body:
 *
 *	CONNECT host:port HTTP/1.1      then the rest of the connection is a
 *	                                tunnel (TLS), passed on untouched;
 *	GET http://host[:port]/path HTTP/1.1   (absolute form), a body of
 *	                                Content-Length bytes or chunked, then
 *	                                the next request (persistent, pipelined).
 *
 * The parser is strict where a lenient one would let two readers disagree
 * about where a request ends (request smuggling): lines end in CRLF, no
 * folded headers, no Content-Length together with Transfer-Encoding, no
 * transfer coding but chunked, Content-Lengths that agree, a Host header
 * (if any) naming the target's host. Memory is constant: one line of at
 * most HTTP_LINE_MAX bytes is held at a time; bodies are counted.
 */
#ifndef HTTP_H
#define HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_LINE_MAX 8192   /* a request line, a header line, a chunk-size line: CRLF included */
#define HTTP_HEADERS_MAX 100 /* header lines of one request (and trailer lines) */
#define HTTP_HOST_MAX 255

enum http_state {
	HTTP_S_REQUEST, HTTP_S_HEADERS, HTTP_S_BODY, HTTP_S_CHUNK_SIZE, HTTP_S_CHUNK_DATA,
	HTTP_S_CHUNK_END, HTTP_S_TRAILERS, HTTP_S_TUNNEL, HTTP_S_DECIDE, HTTP_S_BAD
};

/* the request whose line was just read */
struct http_request {
	bool connect;               /* CONNECT host:port; else absolute-form http:// */
	char method[32];
	char host[HTTP_HOST_MAX + 1]; /* lower case, no trailing dot, [..] kept for IPv6 */
	bool ip_literal;
	unsigned port;
	const char *path;           /* absolute form: path and query ("/" at least); CONNECT: "" */
	size_t path_len;
};

struct http_parser {
	enum http_state state;
	char line[HTTP_LINE_MAX + 1];
	size_t line_len;            /* of the line being read */
	size_t held_len;            /* of the line just completed, CRLF included */
	struct http_request req;
	unsigned headers;           /* header (or trailer) lines so far */
	bool has_length, chunked, has_te, has_host;
	uint64_t length;            /* Content-Length, then body bytes left */
	uint64_t chunk_left;
	uint64_t requests;          /* request lines read */
	const char *error;
	char errbuf[160];
};

enum http_event {
	HTTP_MORE,    /* everything given was consumed; nothing complete */
	HTTP_REQUEST, /* a request line (p->req): check it, then http_accept() and forward http_held() */
	HTTP_HELD,    /* a header, chunk-size or blank line is complete: forward http_held() */
	HTTP_PASS,    /* the bytes consumed are body or tunnel: forward them */
	HTTP_BAD,     /* p->error says why; the connection cannot go on */
};

void http_init(struct http_parser *p);
/*
 * Consumes from BUF up to the next event; *used says how many bytes.
 * After HTTP_REQUEST nothing more is consumed until http_accept().
 */
enum http_event http_feed(struct http_parser *p, const uint8_t *buf, size_t len, size_t *used);
void http_accept(struct http_parser *p);
/* the line just reported, exactly as received (CRLF included) */
const char *http_held(const struct http_parser *p, size_t *len);
/* true once the connection is a tunnel: everything from now on passes */
bool http_tunnel(const struct http_parser *p);
/* body bytes of the current request still to come (Content-Length or a chunk), to splice */
uint64_t http_body_left(const struct http_parser *p);
void http_body_moved(struct http_parser *p, uint64_t n);
/* NULL if the connection may end here (between requests, or in a tunnel), else why not */
const char *http_eof(struct http_parser *p);

/* ---- the rules ---- */

struct http_rules {
	const char *const *hosts;   /* patterns: "name" or "*.suffix", normalized */
	size_t n_hosts;
	const unsigned *ports;
	size_t n_ports;
	const char *const *prefixes; /* for absolute-form requests; none: any path */
	size_t n_prefixes;
};

/*
 * Normalizes a --allow-host pattern in place (lower case, no trailing
 * dot); NULL if good, else why not.
 */
const char *http_pattern_check(char *pattern);
/* the rule request R breaks ("--allow-host"...), with details in WHY, or NULL */
const char *http_check(const struct http_rules *rules, const struct http_request *r, char *why, size_t whylen);

#endif
