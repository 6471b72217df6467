/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The qubes.Filecopy stream parser and filecopy-guard's rules (filecopy.h). */
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "filecopy.h"

#include "filecopy-names.h"

static enum fc_event bad(struct fc_parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static enum fc_event bad(struct fc_parser *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->errbuf, sizeof(p->errbuf), fmt, ap);
	va_end(ap);
	p->error = p->errbuf;
	p->state = FC_S_BAD;
	return FC_MALFORMED;
}

void fc_init(struct fc_parser *p)
{
	p->state = FC_S_HEADER;
	p->got = 0;
	p->content_left = 0;
	p->offset = 0;
	p->error = NULL;
	memset(&p->e, 0, sizeof(p->e));
	p->e.name = p->name;
	p->name[0] = '\0';
	p->target[0] = '\0';
}

static uint32_t u32(const uint8_t *b)
{
	uint32_t v;
	memcpy(&v, b, sizeof(v)); /* the sender's byte order, which is ours */
	return v;
}

static uint64_t u64(const uint8_t *b)
{
	uint64_t v;
	memcpy(&v, b, sizeof(v));
	return v;
}

/* takes up to WANT - p->got bytes into DST; true once it has WANT */
static bool gather(struct fc_parser *p, void *dst, size_t want, const uint8_t *buf, size_t len, size_t *used)
{
	size_t n = want - p->got;
	if (n > len - *used)
		n = len - *used;
	memcpy((char *)dst + p->got, buf + *used, n);
	p->got += n;
	*used += n;
	return p->got == want;
}

/* a string of LEN bytes that the receiver cuts at its first NUL: nothing may hide after it */
static bool hides_bytes(const char *s, size_t len)
{
	const char *nul = memchr(s, '\0', len);
	for (const char *q = nul; q && q < s + len; q++)
		if (*q)
			return true;
	return false;
}

static enum fc_event header_done(struct fc_parser *p)
{
	struct fc_entry *e = &p->e;
	e->namelen = u32(p->raw);
	e->mode = u32(p->raw + 4);
	e->filelen = u64(p->raw + 8);
	e->atime = u32(p->raw + 16);
	e->atime_nsec = u32(p->raw + 20);
	e->mtime = u32(p->raw + 24);
	e->mtime_nsec = u32(p->raw + 28);
	e->target = NULL;
	e->target_len = 0;
	p->got = 0;
	if (e->namelen == 0) {
		p->state = FC_S_END;
		return FC_END;
	}
	if (e->namelen > FC_NAME_MAX)
		return bad(p, "a name of %u bytes (the receiver takes at most %u)", e->namelen, FC_NAME_MAX);
	/* the receiver dies on these after it has written the file (errx, no status) */
	if (e->atime_nsec > 999999999 || e->mtime_nsec > 999999999)
		return bad(p, "a time with %u nanoseconds", e->atime_nsec > 999999999 ? e->atime_nsec : e->mtime_nsec);
	switch (e->mode & S_IFMT) {
	case S_IFREG:
		e->type = FC_REGULAR;
		if (e->filelen > FC_FILE_MAX)
			return bad(p, "a file of %llu bytes", (unsigned long long)e->filelen);
		break;
	case S_IFDIR:
		e->type = FC_DIRECTORY;
		/* the receiver reads no content for a directory: bytes sent as one would be read as the next header */
		if (e->filelen != 0)
			return bad(p, "a directory with a length of %llu", (unsigned long long)e->filelen);
		break;
	case S_IFLNK:
		e->type = FC_SYMLINK;
		if (e->filelen > FC_NAME_MAX)
			return bad(p, "a link target of %llu bytes (the receiver takes at most %u)",
				   (unsigned long long)e->filelen, FC_NAME_MAX);
		break;
	default:
		return bad(p, "an entry of mode 0%o, neither file, directory nor link (the receiver refuses it)",
			   (unsigned)e->mode);
	}
	p->state = FC_S_NAME;
	return FC_MORE;
}

static enum fc_event name_done(struct fc_parser *p)
{
	struct fc_entry *e = &p->e;
	p->name[e->namelen] = '\0';
	e->name = p->name;
	e->name_len = strlen(p->name);
	p->got = 0;
	if (e->name_len == 0)
		return bad(p, "an empty name");
	if (hides_bytes(p->name, e->namelen))
		return bad(p, "a name with bytes after its NUL");
	if (e->type == FC_SYMLINK && e->filelen > 0) {
		p->state = FC_S_TARGET;
		return FC_MORE;
	}
	if (e->type == FC_SYMLINK)
		e->target = p->target, p->target[0] = '\0';
	p->state = FC_S_ENTRY;
	return FC_ENTRY;
}

static enum fc_event target_done(struct fc_parser *p)
{
	struct fc_entry *e = &p->e;
	p->target[e->filelen] = '\0';
	e->target = p->target;
	e->target_len = strlen(p->target);
	p->got = 0;
	if (hides_bytes(p->target, (size_t)e->filelen))
		return bad(p, "a link target with bytes after a NUL");
	p->state = FC_S_ENTRY;
	return FC_ENTRY;
}

enum fc_event fc_feed(struct fc_parser *p, const uint8_t *buf, size_t len, size_t *used)
{
	enum fc_event ev = FC_MORE;
	*used = 0;
	while (ev == FC_MORE && *used < len) {
		size_t before = *used;
		switch (p->state) {
		case FC_S_HEADER:
			if (gather(p, p->raw, FC_HEADER_SIZE, buf, len, used))
				ev = header_done(p);
			break;
		case FC_S_NAME:
			if (gather(p, p->name, p->e.namelen, buf, len, used))
				ev = name_done(p);
			break;
		case FC_S_TARGET:
			if (gather(p, p->target, (size_t)p->e.filelen, buf, len, used))
				ev = target_done(p);
			break;
		case FC_S_CONTENT: {
			size_t n = len - *used;
			if (n > p->content_left)
				n = (size_t)p->content_left;
			*used += n;
			p->content_left -= n;
			if (!p->content_left)
				p->state = FC_S_HEADER;
			p->offset += n;
			return FC_CONTENT;
		}
		case FC_S_ENTRY:
			return FC_ENTRY;
		case FC_S_END:
			return bad(p, "%zu bytes after the end marker (and maybe more)", len);
		case FC_S_BAD:
			return FC_MALFORMED;
		}
		p->offset += *used - before;
	}
	return ev;
}

void fc_accept(struct fc_parser *p)
{
	if (p->state != FC_S_ENTRY)
		return;
	if (p->e.type == FC_REGULAR && p->e.filelen > 0) {
		p->content_left = p->e.filelen;
		p->state = FC_S_CONTENT;
	} else {
		p->state = FC_S_HEADER;
	}
}

int fc_held(const struct fc_parser *p, struct iovec iov[3])
{
	int n = 0;
	iov[n].iov_base = (void *)p->raw;
	iov[n++].iov_len = FC_HEADER_SIZE;
	if (p->state == FC_S_END)
		return n;
	iov[n].iov_base = (void *)p->name;
	iov[n++].iov_len = p->e.namelen;
	if (p->e.type == FC_SYMLINK && p->e.filelen > 0) {
		iov[n].iov_base = (void *)p->target;
		iov[n++].iov_len = (size_t)p->e.filelen;
	}
	return n;
}

uint64_t fc_content_left(const struct fc_parser *p)
{
	return p->state == FC_S_CONTENT ? p->content_left : 0;
}

void fc_content_moved(struct fc_parser *p, uint64_t n)
{
	if (p->state != FC_S_CONTENT || n > p->content_left)
		return;
	p->content_left -= n;
	p->offset += n;
	if (!p->content_left)
		p->state = FC_S_HEADER;
}

const char *fc_eof(struct fc_parser *p)
{
	switch (p->state) {
	case FC_S_END:
		return NULL;
	case FC_S_HEADER:
		if (p->got == 0)
			snprintf(p->errbuf, sizeof(p->errbuf), "the stream ended without its end marker");
		else
			snprintf(p->errbuf, sizeof(p->errbuf), "the stream ended inside a header (%zu of %d bytes)",
				 p->got, FC_HEADER_SIZE);
		break;
	case FC_S_NAME:
		snprintf(p->errbuf, sizeof(p->errbuf), "the stream ended inside a name (%zu of %u bytes)",
			 p->got, p->e.namelen);
		break;
	case FC_S_TARGET:
		snprintf(p->errbuf, sizeof(p->errbuf), "the stream ended inside a link target (%zu of %llu bytes)",
			 p->got, (unsigned long long)p->e.filelen);
		break;
	case FC_S_CONTENT:
		snprintf(p->errbuf, sizeof(p->errbuf), "the stream ended inside a file's content (%llu of %llu bytes)",
			 (unsigned long long)(p->e.filelen - p->content_left), (unsigned long long)p->e.filelen);
		break;
	case FC_S_ENTRY:
	case FC_S_BAD:
		return p->error ? p->error : "the stream ended";
	}
	p->error = p->errbuf;
	p->state = FC_S_BAD;
	return p->error;
}

/* ---- names ---- */

static bool code_point_allowed(uint32_t c)
{
	size_t lo = 0, hi = sizeof(fc_name_ranges) / sizeof(fc_name_ranges[0]);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c < fc_name_ranges[mid][0])
			hi = mid;
		else if (c > fc_name_ranges[mid][1])
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

/* length of the UTF-8 sequence at S (RFC 3629, no overlong forms) if its code point is allowed, else 0 */
static size_t allowed_utf8(const unsigned char *s)
{
	uint32_t c;
	size_t n;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		c = s[0] & 0x1f;
		n = 2;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		c = s[0] & 0x0f;
		n = 3;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		c = s[0] & 0x07;
		n = 4;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) /* a NUL ends the string here too */
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	static const uint32_t least[] = { 0, 0, 0x80, 0x800, 0x10000 };
	if (c < least[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return code_point_allowed(c) ? n : 0;
}

/*
 * Walks a path: components not empty, not ".", ".." only among the
 * first DOTDOT ones, characters printable ASCII or allowed UTF-8, no
 * trailing "/" unless TRAILING. Returns the count of other components,
 * or -1 with *why set.
 */
static long walk_path(const char *path, unsigned long dotdot, bool trailing, const char **why)
{
	const unsigned char *s = (const unsigned char *)path;
	long components = 0;
	if (!*s) {
		*why = "an empty path";
		return -1;
	}
	if (*s == '/') {
		*why = "an absolute path";
		return -1;
	}
	size_t i = 0;
	while (s[i]) {
		if (i == 0 || s[i - 1] == '/') {
			if (s[i] == '/') {
				*why = "an empty component (//)";
				return -1;
			}
			if (s[i] == '.' && (!s[i + 1] || s[i + 1] == '/')) {
				*why = "a component \".\"";
				return -1;
			}
			if (s[i] == '.' && s[i + 1] == '.' && (!s[i + 2] || s[i + 2] == '/')) {
				if (!dotdot) {
					*why = "a component \"..\" that climbs out";
					return -1;
				}
				dotdot--;
				i += 2;
				continue;
			}
			dotdot = 0;
			components++;
		}
		if (s[i] >= 0x20 && s[i] <= 0x7e) {
			i++;
			continue;
		}
		size_t n = allowed_utf8(s + i);
		if (!n) {
			*why = s[i] < 0x20 || s[i] == 0x7f ? "a control character"
							   : "a character outside the allowed set, or bad UTF-8";
			return -1;
		}
		i += n;
	}
	if (!trailing && s[i - 1] == '/') {
		*why = "a trailing \"/\"";
		return -1;
	}
	return components;
}

const char *fc_safe_name(const char *name)
{
	const char *why = NULL;
	long n = walk_path(name, 0, false, &why);
	if (n < 0)
		return why;
	return n > 0 ? NULL : "no component";
}

const char *fc_safe_symlink(const char *name, const char *target)
{
	const char *why = NULL;
	long depth = walk_path(name, 0, false, &why);
	if (depth < 0)
		return why;
	/* a top-level entry is never a link, and no link leads out of its top-level directory */
	if (depth < 2)
		return "a link at the top level";
	if (walk_path(target, (unsigned long)(depth - 2), true, &why) < 0)
		return why;
	return NULL;
}

uint64_t fc_depth(const char *name)
{
	uint64_t n = 1;
	for (const char *p = name; *p; p++)
		if (*p == '/' && p[1])
			n++;
	return n;
}

/* ---- the rules ---- */

static const char *refuse(char *why, size_t whylen, const char *rule, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static const char *refuse(char *why, size_t whylen, const char *rule, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (whylen)
		vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return rule;
}

/* a directory sent again after its contents (or right after itself) creates nothing */
static bool directory_again(const struct fc_totals *t, const struct fc_entry *e)
{
	return t->prev_len >= e->name_len && !memcmp(t->prev, e->name, e->name_len) &&
	       (t->prev_len == e->name_len || t->prev[e->name_len] == '/');
}

const char *fc_check(const struct fc_rules *r, struct fc_totals *t, const struct fc_entry *e,
		     char *why, size_t whylen)
{
	const char *s;
	if (whylen)
		why[0] = '\0';
	if (e->type == FC_SYMLINK && r->no_symlinks)
		return refuse(why, whylen, "--no-symlinks", "a symbolic link");
	if (e->type == FC_DIRECTORY && r->no_directories)
		return refuse(why, whylen, "--no-directories", "a directory");
	if (r->no_directories && strchr(e->name, '/'))
		return refuse(why, whylen, "--no-directories", "a name in a directory");
	if (r->safe_names) {
		s = e->type == FC_SYMLINK ? fc_safe_symlink(e->name, e->target) : fc_safe_name(e->name);
		if (s)
			return refuse(why, whylen, "--safe-names", "%s", s);
	}
	if (e->name_len > r->max_name_length)
		return refuse(why, whylen, "--max-name-length", "a name of %zu bytes", e->name_len);
	uint64_t depth = fc_depth(e->name);
	if (depth > r->max_depth)
		return refuse(why, whylen, "--max-depth", "%llu components", (unsigned long long)depth);
	if (e->type != FC_DIRECTORY && r->n_names) {
		const char *base = strrchr(e->name, '/');
		base = base ? base + 1 : e->name;
		/* first match wins; with any --allow-name, what none matches is refused */
		const struct fc_name_rule *hit = NULL;
		bool any_allow = false;
		for (size_t i = 0; i < r->n_names; i++) {
			any_allow = any_allow || r->names[i].allow;
			if (!hit && fnmatch(r->names[i].glob, base, 0) == 0)
				hit = &r->names[i];
		}
		if (hit && !hit->allow)
			return refuse(why, whylen, "--deny-name", "the name matches %s", hit->glob);
		if (!hit && any_allow)
			return refuse(why, whylen, "--allow-name", "no --allow-name matches the name");
	}
	if (r->no_special_modes && (e->mode & 07000))
		return refuse(why, whylen, "--no-special-modes", "mode 0%o", (unsigned)(e->mode & 07777));
	if (r->no_executables && e->type == FC_REGULAR && (e->mode & 0111))
		return refuse(why, whylen, "--no-executables", "mode 0%o", (unsigned)(e->mode & 07777));
	uint64_t size = e->type == FC_DIRECTORY ? 0 : e->filelen;
	if (e->type == FC_REGULAR && size > r->max_file_size)
		return refuse(why, whylen, "--max-file-size", "%llu bytes", (unsigned long long)size);
	if (size > r->max_bytes || t->bytes > r->max_bytes - size)
		return refuse(why, whylen, "--max-bytes", "%llu bytes after %llu",
			      (unsigned long long)size, (unsigned long long)t->bytes);
	bool counts = !(e->type == FC_DIRECTORY && directory_again(t, e));
	uint64_t entries = t->files + t->directories + t->symlinks;
	if (counts && entries >= r->max_files)
		return refuse(why, whylen, "--max-files", "entry %llu", (unsigned long long)entries + 1);

	if (counts) {
		if (e->type == FC_REGULAR)
			t->files++;
		else if (e->type == FC_DIRECTORY)
			t->directories++;
		else
			t->symlinks++;
	}
	t->bytes += size;
	memcpy(t->prev, e->name, e->name_len + 1);
	t->prev_len = e->name_len;
	return NULL;
}
