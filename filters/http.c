/* SPDX-License-Identifier: GPL-2.0-or-later */
/* HTTP/1.x proxy requests and http-allow's rules (http.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "http.h"

static enum http_event bad(struct http_parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static enum http_event bad(struct http_parser *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->errbuf, sizeof(p->errbuf), fmt, ap);
	va_end(ap);
	p->error = p->errbuf;
	p->state = HTTP_S_BAD;
	return HTTP_BAD;
}

void http_init(struct http_parser *p)
{
	memset(p, 0, sizeof(*p));
	p->state = HTTP_S_REQUEST;
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool same_nocase(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++)
		if (lower(a[i]) != lower(b[i]))
			return false;
	return true;
}

/* RFC 9110 tchar */
static bool is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_host_char(char c)
{
	c = lower(c);
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

/*
 * HOST (N bytes) into OUT, normalized: lower case, one trailing dot
 * removed; an IPv6 literal in brackets kept with them. *IP: whether it is
 * an address rather than a name (bracketed, or a last label that starts
 * with a digit: 127.0.0.1, 0x7f.1 and 2130706433 all reach 127.0.0.1).
 */
static const char *normalize_host(const char *host, size_t n, char *out, bool *ip)
{
	if (n == 0)
		return "an empty host";
	if (n > HTTP_HOST_MAX)
		return "a host name over 255 bytes";
	if (host[0] == '[') {
		if (n < 3 || host[n - 1] != ']')
			return "a bad IPv6 literal";
		for (size_t i = 1; i < n - 1; i++) {
			char c = lower(host[i]);
			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == ':' || c == '.'))
				return "a bad IPv6 literal";
		}
		for (size_t i = 0; i < n; i++)
			out[i] = lower(host[i]);
		out[n] = '\0';
		*ip = true;
		return NULL;
	}
	if (host[n - 1] == '.')
		n--;
	if (n == 0 || host[0] == '.')
		return "a bad host name";
	for (size_t i = 0; i < n; i++) {
		if (!is_host_char(host[i]))
			return "a character not allowed in a host name";
		if (host[i] == '.' && i + 1 < n && host[i + 1] == '.')
			return "an empty label in a host name";
		out[i] = lower(host[i]);
	}
	out[n] = '\0';
	const char *last = strrchr(out, '.');
	last = last ? last + 1 : out;
	*ip = *last >= '0' && *last <= '9';
	return NULL;
}

static const char *parse_port(const char *s, size_t n, unsigned *port)
{
	if (n == 0 || n > 5)
		return "a bad port";
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return "a bad port";
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return "a bad port";
	*port = v;
	return NULL;
}

/* host[:port] (N bytes); NEED_PORT: the port must be there */
static const char *parse_authority(const char *a, size_t n, bool need_port, char *host, bool *ip, unsigned *port,
				   bool *has_port)
{
	size_t hlen = n;
	*has_port = false;
	if (memchr(a, '@', n))
		return "user information in the target";
	const char *colon = NULL;
	if (n && a[0] == '[') {
		const char *close = memchr(a, ']', n);
		if (!close)
			return "a bad IPv6 literal";
		hlen = (size_t)(close - a) + 1;
		if (hlen < n) {
			if (a[hlen] != ':')
				return "a bad IPv6 literal";
			colon = a + hlen;
		}
	} else {
		colon = memchr(a, ':', n);
		if (colon)
			hlen = (size_t)(colon - a);
	}
	const char *why = normalize_host(a, hlen, host, ip);
	if (why)
		return why;
	if (colon) {
		*has_port = true;
		return parse_port(colon + 1, n - (size_t)(colon + 1 - a), port);
	}
	if (need_port)
		return "no port";
	return NULL;
}

/* the request line (without its CRLF) */
static enum http_event request_line(struct http_parser *p, size_t n)
{
	struct http_request *r = &p->req;
	char *s = p->line;
	if (n == 0)
		return bad(p, "an empty line where a request was due");
	char *sp1 = memchr(s, ' ', n);
	if (!sp1 || sp1 == s)
		return bad(p, "a request line without a method");
	size_t mlen = (size_t)(sp1 - s);
	if (mlen >= sizeof(r->method))
		return bad(p, "a method of %zu bytes", mlen);
	for (size_t i = 0; i < mlen; i++)
		if (!is_tchar((unsigned char)s[i]))
			return bad(p, "a bad method");
	char *target = sp1 + 1;
	char *sp2 = memchr(target, ' ', n - (size_t)(target - s));
	if (!sp2 || sp2 == target)
		return bad(p, "a request line without a target");
	size_t tlen = (size_t)(sp2 - target);
	char *version = sp2 + 1;
	size_t vlen = n - (size_t)(version - s);
	if (!(vlen == 8 && (!memcmp(version, "HTTP/1.1", 8) || !memcmp(version, "HTTP/1.0", 8))))
		return bad(p, "not HTTP/1.0 or HTTP/1.1");
	for (size_t i = 0; i < tlen; i++)
		if ((unsigned char)target[i] <= 0x20 || (unsigned char)target[i] >= 0x7f || target[i] == '#')
			return bad(p, "a character not allowed in the target");
	memcpy(r->method, s, mlen);
	r->method[mlen] = '\0';
	r->connect = !strcmp(r->method, "CONNECT");
	bool has_port;
	const char *why;
	if (r->connect) {
		why = parse_authority(target, tlen, true, r->host, &r->ip_literal, &r->port, &has_port);
		r->path = "";
		r->path_len = 0;
	} else {
		if (tlen < 7 || !same_nocase(target, 7, "http://"))
			return bad(p, "a target that is not http://host/... (absolute form)");
		char *auth = target + 7;
		size_t alen = tlen - 7;
		char *slash = memchr(auth, '/', alen);
		if (memchr(auth, '?', slash ? (size_t)(slash - auth) : alen))
			return bad(p, "a query without a path");
		size_t hostlen = slash ? (size_t)(slash - auth) : alen;
		r->port = 80;
		why = parse_authority(auth, hostlen, false, r->host, &r->ip_literal, &r->port, &has_port);
		r->path = slash ? slash : "/";
		r->path_len = slash ? tlen - 7 - hostlen : 1;
	}
	if (why)
		return bad(p, "%s", why);
	p->requests++;
	p->state = HTTP_S_DECIDE;
	return HTTP_REQUEST;
}

static const char *trim(const char *v, size_t *n)
{
	while (*n && (*v == ' ' || *v == '\t'))
		v++, (*n)--;
	while (*n && (v[*n - 1] == ' ' || v[*n - 1] == '\t'))
		(*n)--;
	return v;
}

/* a header or trailer line (without its CRLF) */
static enum http_event header_line(struct http_parser *p, size_t n, bool trailer)
{
	const char *s = p->line;
	if (++p->headers > HTTP_HEADERS_MAX)
		return bad(p, "more than %d header lines", HTTP_HEADERS_MAX);
	if (s[0] == ' ' || s[0] == '\t')
		return bad(p, "a folded header line");
	const char *colon = memchr(s, ':', n);
	if (!colon || colon == s)
		return bad(p, "a header line without a name");
	size_t nlen = (size_t)(colon - s);
	for (size_t i = 0; i < nlen; i++)
		if (!is_tchar((unsigned char)s[i]))
			return bad(p, "a bad header name");
	size_t vlen = n - nlen - 1;
	const char *v = colon + 1;
	for (size_t i = 0; i < vlen; i++) {
		unsigned char c = (unsigned char)v[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return bad(p, "a control character in a header value");
	}
	v = trim(v, &vlen);
	if (trailer)
		return HTTP_HELD; /* after the body: nothing in them changes where the request ends */
	if (same_nocase(s, nlen, "content-length")) {
		uint64_t len = 0;
		if (!vlen || vlen > 18)
			return bad(p, "a bad Content-Length");
		for (size_t i = 0; i < vlen; i++) {
			if (v[i] < '0' || v[i] > '9')
				return bad(p, "a bad Content-Length");
			len = len * 10 + (uint64_t)(v[i] - '0');
		}
		if (p->has_length && len != p->length)
			return bad(p, "Content-Lengths that disagree");
		p->has_length = true;
		p->length = len;
	} else if (same_nocase(s, nlen, "transfer-encoding")) {
		if (p->has_te)
			return bad(p, "two Transfer-Encoding headers");
		if (!same_nocase(v, vlen, "chunked"))
			return bad(p, "a transfer coding other than chunked");
		p->has_te = true;
		p->chunked = true;
	} else if (same_nocase(s, nlen, "host")) {
		char host[HTTP_HOST_MAX + 1];
		bool ip, has_port;
		unsigned port = 0;
		if (p->has_host)
			return bad(p, "two Host headers");
		p->has_host = true;
		const char *why = parse_authority(v, vlen, false, host, &ip, &port, &has_port);
		if (why)
			return bad(p, "Host header: %s", why);
		if (strcmp(host, p->req.host) || (has_port && port != p->req.port))
			return bad(p, "a Host header that names another host than the target");
	}
	return HTTP_HELD;
}

/* the blank line that ends the head */
static enum http_event head_end(struct http_parser *p)
{
	if (p->has_length && p->has_te)
		return bad(p, "both Content-Length and Transfer-Encoding");
	if (p->req.connect) {
		if ((p->has_length && p->length) || p->chunked)
			return bad(p, "a CONNECT with a body");
		p->state = HTTP_S_TUNNEL;
	} else if (p->chunked) {
		p->state = HTTP_S_CHUNK_SIZE;
	} else if (p->has_length && p->length) {
		p->state = HTTP_S_BODY;
	} else {
		p->state = HTTP_S_REQUEST;
	}
	return HTTP_HELD;
}

static enum http_event chunk_size(struct http_parser *p, size_t n)
{
	const char *s = p->line;
	uint64_t v = 0;
	size_t i = 0;
	for (; i < n && i < 17; i++) {
		char c = lower(s[i]);
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else
			break;
		v = v << 4 | d;
	}
	if (i == 0 || i > 15)
		return bad(p, "a bad chunk size");
	if (i < n && s[i] != ';')
		return bad(p, "a bad chunk size");
	for (; i < n; i++)
		if ((unsigned char)s[i] < 0x20 && s[i] != '\t')
			return bad(p, "a control character in a chunk extension");
	if (v == 0) {
		p->headers = 0;
		p->state = HTTP_S_TRAILERS;
	} else {
		p->chunk_left = v;
		p->state = HTTP_S_CHUNK_DATA;
	}
	return HTTP_HELD;
}

/* a complete line (CRLF included: LEN counts it) */
static enum http_event line_done(struct http_parser *p, size_t len)
{
	size_t n = len - 2;
	if (memchr(p->line, '\0', n))
		return bad(p, "a NUL in a line");
	switch (p->state) {
	case HTTP_S_REQUEST:
		return request_line(p, n);
	case HTTP_S_HEADERS:
		return n ? header_line(p, n, false) : head_end(p);
	case HTTP_S_CHUNK_SIZE:
		return chunk_size(p, n);
	case HTTP_S_CHUNK_END:
		if (n)
			return bad(p, "a chunk longer than its size");
		p->state = HTTP_S_CHUNK_SIZE;
		return HTTP_HELD;
	case HTTP_S_TRAILERS:
		if (n)
			return header_line(p, n, true);
		p->state = HTTP_S_REQUEST;
		return HTTP_HELD;
	default:
		return bad(p, "a line in state %d", (int)p->state);
	}
}

enum http_event http_feed(struct http_parser *p, const uint8_t *buf, size_t len, size_t *used)
{
	*used = 0;
	switch (p->state) {
	case HTTP_S_DECIDE:
		return HTTP_REQUEST;
	case HTTP_S_BAD:
		return HTTP_BAD;
	case HTTP_S_TUNNEL:
		*used = len;
		return HTTP_PASS;
	case HTTP_S_BODY:
	case HTTP_S_CHUNK_DATA: {
		uint64_t *left = p->state == HTTP_S_BODY ? &p->length : &p->chunk_left;
		size_t n = len < *left ? len : (size_t)*left;
		*used = n;
		*left -= n;
		if (!*left)
			p->state = p->state == HTTP_S_BODY ? HTTP_S_REQUEST : HTTP_S_CHUNK_END;
		return n ? HTTP_PASS : HTTP_MORE;
	}
	default:
		break;
	}
	/* a line: up to and with its CRLF */
	while (*used < len) {
		char c = (char)buf[(*used)++];
		if (p->line_len && p->line[p->line_len - 1] == '\r' && c != '\n')
			return bad(p, "a CR not followed by LF");
		if (p->line_len == HTTP_LINE_MAX)
			return bad(p, "a line over %d bytes", HTTP_LINE_MAX);
		p->line[p->line_len++] = c;
		if (c == '\n') {
			if (p->line_len < 2 || p->line[p->line_len - 2] != '\r')
				return bad(p, "a line that ends in a bare LF");
			/* held for http_held() until the next line starts */
			p->held_len = p->line_len;
			p->line_len = 0;
			return line_done(p, p->held_len);
		}
	}
	return HTTP_MORE;
}

void http_accept(struct http_parser *p)
{
	if (p->state != HTTP_S_DECIDE)
		return;
	p->state = HTTP_S_HEADERS;
	p->headers = 0;
	p->has_length = p->chunked = p->has_te = p->has_host = false;
	p->length = 0;
}

const char *http_held(const struct http_parser *p, size_t *len)
{
	*len = p->held_len;
	return p->line;
}

bool http_tunnel(const struct http_parser *p)
{
	return p->state == HTTP_S_TUNNEL;
}

uint64_t http_body_left(const struct http_parser *p)
{
	if (p->state == HTTP_S_BODY)
		return p->length;
	if (p->state == HTTP_S_CHUNK_DATA)
		return p->chunk_left;
	return 0;
}

void http_body_moved(struct http_parser *p, uint64_t n)
{
	uint64_t left = http_body_left(p);
	if (!left || n > left)
		return;
	if (p->state == HTTP_S_BODY) {
		p->length -= n;
		if (!p->length)
			p->state = HTTP_S_REQUEST;
	} else {
		p->chunk_left -= n;
		if (!p->chunk_left)
			p->state = HTTP_S_CHUNK_END;
	}
}

const char *http_eof(struct http_parser *p)
{
	if ((p->state == HTTP_S_REQUEST && p->line_len == 0) || p->state == HTTP_S_TUNNEL)
		return NULL;
	if (p->state == HTTP_S_BAD)
		return p->error;
	snprintf(p->errbuf, sizeof(p->errbuf), "the connection ended inside a request");
	p->error = p->errbuf;
	p->state = HTTP_S_BAD;
	return p->error;
}

/* ---- the rules ---- */

const char *http_pattern_check(char *pattern)
{
	char *name = pattern;
	if (!strncmp(pattern, "*.", 2))
		name += 2;
	if (strchr(name, '*'))
		return "a '*' other than a leading \"*.\"";
	char norm[HTTP_HOST_MAX + 1];
	bool ip;
	const char *why = normalize_host(name, strlen(name), norm, &ip);
	if (why)
		return why;
	if (ip && name != pattern)
		return "\"*.\" before an address";
	strcpy(name, norm);
	return NULL;
}

static bool host_matches(const char *pattern, const struct http_request *r)
{
	if (!strncmp(pattern, "*.", 2)) {
		if (r->ip_literal)
			return false;
		size_t plen = strlen(pattern + 1), hlen = strlen(r->host); /* ".suffix" */
		return hlen > plen && !strcmp(r->host + hlen - plen, pattern + 1);
	}
	return !strcmp(pattern, r->host);
}

/* a path that a server could read as another: dot segments, encoded dots, slashes or backslashes */
static bool path_tricky(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\\')
			return true;
		if (p[i] == '%' && i + 2 < n) {
			char a = p[i + 1], b = lower(p[i + 2]);
			if ((a == '2' && (b == 'e' || b == 'f')) || (a == '5' && b == 'c') || (a == '0' && b == '0'))
				return true;
		}
		if (p[i] == '/' && i + 1 < n && p[i + 1] == '.') {
			size_t j = i + 2;
			if (j < n && p[j] == '.')
				j++;
			if (j == n || p[j] == '/' || p[j] == '?')
				return true;
		}
	}
	return false;
}

const char *http_check(const struct http_rules *rules, const struct http_request *r, char *why, size_t whylen)
{
	if (whylen)
		why[0] = '\0';
	bool port_ok = false;
	for (size_t i = 0; i < rules->n_ports; i++)
		port_ok = port_ok || rules->ports[i] == r->port;
	if (!port_ok) {
		snprintf(why, whylen, "port %u", r->port);
		return "--allow-port";
	}
	bool host_ok = false;
	for (size_t i = 0; i < rules->n_hosts && !host_ok; i++)
		host_ok = host_matches(rules->hosts[i], r);
	if (!host_ok) {
		snprintf(why, whylen, "%s %s", r->ip_literal ? "address" : "host", r->host);
		return "--allow-host";
	}
	if (!r->connect && rules->n_prefixes) {
		bool ok = false;
		for (size_t i = 0; i < rules->n_prefixes && !ok; i++) {
			size_t l = strlen(rules->prefixes[i]);
			ok = r->path_len >= l && !memcmp(r->path, rules->prefixes[i], l);
		}
		if (!ok || path_tricky(r->path, r->path_len)) {
			snprintf(why, whylen, "%s", ok ? "a path with dot segments or encoded separators" : "the path");
			return "--allow-path-prefix";
		}
	}
	return NULL;
}
