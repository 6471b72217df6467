/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The qubes.Filecopy stream as its receiver (qfile-unpacker) reads it,
 * and the rules of filecopy-guard over it. No I/O here: the program
 * (filecopy-guard.c) moves the bytes, the fuzzer (t/fuzz/fuzz_filecopy.c)
 * feeds the same parser arbitrary streams.
 *
 * The format (qrexec-lib, libqubes-rpc-filecopy.h): for every entry a
 * 32-byte header in the sender's byte order (x86: little-endian)
 *
 *	uint32 namelen, uint32 mode, uint64 filelen,
 *	uint32 atime, uint32 atime_nsec, uint32 mtime, uint32 mtime_nsec
 *
 * then namelen bytes of name (a relative path, NUL-terminated by the
 * sender), then, for a regular file, filelen bytes of content, for a
 * symbolic link filelen bytes of target, for a directory nothing (the
 * receiver reads no content for it; the sender sends each directory
 * twice, before and after what it holds). A header whose namelen is 0
 * ends the stream. The receiver answers once, at the end or at its first
 * error, with a 16-byte result header {uint32 error_code, uint32 pad,
 * uint64 crc32 of all it read} and, from newer receivers, {uint32
 * last_namelen, name}; the sender reads it after every entry (it polls)
 * and gives up at the first error or end of file.
 *
 * Memory is constant: the parser holds one header, one name and one link
 * target (each at most FC_NAME_MAX bytes) and the name of the entry
 * before; content is counted, never held.
 */
#ifndef FILECOPY_H
#define FILECOPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FC_HEADER_SIZE 32
/* the receiver refuses a namelen or a link target over MAX_PATH_LENGTH - 1 */
#define FC_NAME_MAX 16383
/* file sizes are signed in the receiver */
#define FC_FILE_MAX ((uint64_t)INT64_MAX)

enum fc_type { FC_REGULAR, FC_DIRECTORY, FC_SYMLINK };

/* one entry: its header, decoded, and its name (and link target) as sent */
struct fc_entry {
	uint32_t namelen; /* bytes of name sent, its NUL included */
	uint32_t mode;
	uint64_t filelen;
	uint32_t atime, atime_nsec, mtime, mtime_nsec;
	enum fc_type type;
	const char *name;   /* NUL-terminated: the name the receiver uses */
	size_t name_len;    /* strlen(name) */
	const char *target; /* a symbolic link's target, NUL-terminated; else NULL */
	size_t target_len;
};

enum fc_state { FC_S_HEADER, FC_S_NAME, FC_S_TARGET, FC_S_ENTRY, FC_S_CONTENT, FC_S_END, FC_S_BAD };

struct fc_parser {
	enum fc_state state;
	uint8_t raw[FC_HEADER_SIZE]; /* the header as received */
	size_t got;                  /* bytes of the current part received */
	struct fc_entry e;
	char name[FC_NAME_MAX + 1];
	char target[FC_NAME_MAX + 1];
	uint64_t content_left;
	uint64_t offset;             /* bytes of the stream consumed */
	const char *error;           /* FC_MALFORMED: why */
	char errbuf[160];
};

enum fc_event {
	FC_MORE,      /* everything given was consumed; nothing complete */
	FC_ENTRY,     /* an entry is complete (p->e): check it, then fc_accept() and forward fc_held() */
	FC_CONTENT,   /* the bytes consumed are the current file's content: forward them */
	FC_END,       /* the end marker (namelen 0): forward fc_held(); nothing may follow */
	FC_MALFORMED, /* p->error says why; the stream cannot go on */
};

void fc_init(struct fc_parser *p);

/*
 * Consumes from BUF (LEN bytes) up to the next event and says how many
 * bytes it consumed in *used. After FC_ENTRY nothing more is consumed
 * until fc_accept(); after FC_END or FC_MALFORMED, nothing at all.
 */
enum fc_event fc_feed(struct fc_parser *p, const uint8_t *buf, size_t len, size_t *used);

/* The entry just reported (FC_ENTRY) goes on: its content, if any, comes next. */
void fc_accept(struct fc_parser *p);

/*
 * The bytes of the entry (or end marker) just reported, exactly as they
 * came: header, name and link target, for writev(2). Returns the count of
 * iovec parts used (at most 3).
 */
struct iovec;
int fc_held(const struct fc_parser *p, struct iovec iov[3]);

/*
 * The stream ended (EOF) here: NULL when that is its proper end (after the
 * end marker), else why not (a header cut short, content missing...).
 */
const char *fc_eof(struct fc_parser *p);

/* content of the current regular file still to come (0 outside content) */
uint64_t fc_content_left(const struct fc_parser *p);
/* N bytes of content moved without fc_feed (splice): at most fc_content_left() */
void fc_content_moved(struct fc_parser *p, uint64_t n);

/* ---- the rules ---- */

#define FC_NO_LIMIT UINT64_MAX

struct fc_name_rule {
	bool allow;
	const char *glob;
};

struct fc_rules {
	uint64_t max_files;       /* entries, FC_NO_LIMIT: none */
	uint64_t max_bytes;       /* content of all files and link targets */
	uint64_t max_file_size;   /* content of one file */
	uint64_t max_depth;       /* components of a name */
	uint64_t max_name_length; /* bytes of a name */
	bool no_symlinks, no_directories, safe_names, no_executables, no_special_modes;
	const struct fc_name_rule *names; /* --allow-name / --deny-name, in order */
	size_t n_names;
};
#define FC_RULES_INIT { .max_files = FC_NO_LIMIT, .max_bytes = FC_NO_LIMIT, \
	.max_file_size = FC_NO_LIMIT, .max_depth = FC_NO_LIMIT, .max_name_length = FC_NO_LIMIT }

struct fc_totals {
	uint64_t files, directories, symlinks; /* entries let through, a directory once */
	uint64_t bytes;                        /* content let through */
	char prev[FC_NAME_MAX + 1];            /* the name of the entry before */
	size_t prev_len;
};

/*
 * Checks entry E against the rules, with the totals of what went before.
 * Returns NULL and counts E in T when it may pass; otherwise the name of
 * the rule it breaks ("--no-symlinks"...), with details in WHY.
 */
const char *fc_check(const struct fc_rules *r, struct fc_totals *t, const struct fc_entry *e,
		     char *why, size_t whylen);

/*
 * The name checks of Qubes' receiver, restated: a relative path of
 * non-empty components, none "." or "..", no trailing "/", printable
 * ASCII and UTF-8 of the code points in filecopy-names.h only. For a
 * symbolic link the name has at least two components and the target may
 * climb (leading "..") at most to the directory below the top one.
 * Return NULL or why not.
 */
const char *fc_safe_name(const char *name);
const char *fc_safe_symlink(const char *name, const char *target);

/* the number of components of NAME ("a/b/c": 3) */
uint64_t fc_depth(const char *name);

#endif
