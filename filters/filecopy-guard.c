/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * filecopy-guard [OPTIONS]: qubes.Filecopy (qvm-copy) under rules on
 * files. Reads the sender's stream (filecopy.h) and passes it on
 * unchanged, entry after entry; at the first entry that breaks a rule it
 * ends the stream before that entry's header, so every file before it
 * arrives whole and nothing of the refused one is written. It never
 * rewrites a byte: the receiver's checksum over the stream still matches
 * the sender's. The receiver, seeing the stream end without its end
 * marker, answers with an error, which the sender reports.
 *
 * Content moves with splice(2) between pipes and never through our
 * memory beyond one buffer; memory is constant whatever the sizes.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "filecopy.h"
#include "kit/qpf.h"

/* started ahead of its connection when the proxy can (qpf.h) */
QPF_PRESTART;

#define MAX_NAME_RULES 64
#define IN_SIZE (64U << 10)
/* below this much content left, reading beats a splice (small files come many to a read) */
#define SPLICE_MIN (64U << 10)
#define SPLICE_CHUNK (1U << 20)

static struct fc_parser parser;
static struct fc_totals totals;
static uint8_t inbuf[IN_SIZE];
static size_t in_off, in_len;
static uint8_t outbuf[2 * IN_SIZE + FC_HEADER_SIZE + 2 * FC_NAME_MAX];
static size_t out_len;
static bool log_files;
static bool no_splice;
static int nullfd = -1;

_Noreturn static void usage(void)
{
	fputs("usage: filecopy-guard [OPTIONS]\n"
	      "Passes a qubes.Filecopy stream (qvm-copy) unchanged, or ends it before the\n"
	      "first entry that breaks a rule: the files before it arrive whole.\n"
	      "  --max-files N          at most N entries (files, links, directories)\n"
	      "  --max-bytes SIZE       at most SIZE bytes of content in all (K, M, G)\n"
	      "  --max-file-size SIZE   no file larger than SIZE\n"
	      "  --no-symlinks          no symbolic links\n"
	      "  --no-directories       no directories, no name with a '/': flat copies only\n"
	      "  --safe-names           names (and link targets) as Qubes' receiver allows\n"
	      "                         them: no control characters, no '.' or '..'\n"
	      "                         components, UTF-8 of a safe set\n"
	      "  --no-executables       no file with an execute bit\n"
	      "  --no-special-modes     no setuid, setgid or sticky bit\n"
	      "  --allow-name GLOB      base names matching GLOB may pass (repeatable)\n"
	      "  --deny-name GLOB       base names matching GLOB are refused (repeatable);\n"
	      "                         the first matching rule wins; with any --allow-name,\n"
	      "                         a name none matches is refused\n"
	      "  --max-depth N          names of at most N components (1: top level only)\n"
	      "  --max-name-length N    names of at most N bytes\n"
	      "  --log-files            one log line per entry\n"
	      "  -h, --help             this text\n", stdout);
	exit(0);
}

static uint64_t parse_count(const char *opt, const char *s)
{
	uint64_t v;
	size_t n = strlen(s);
	if (!n || s[n - 1] < '0' || s[n - 1] > '9' || qpf_parse_size(s, &v) < 0)
		qpf_usage("%s: not a number: %s", opt, s);
	return v;
}

static uint64_t parse_bytes(const char *opt, const char *s)
{
	uint64_t v;
	if (qpf_parse_size(s, &v) < 0)
		qpf_usage("%s: not a size: %s (digits, then K, M or G)", opt, s);
	return v;
}

/* an entry's name (or link target) for a log line: escaped, cut */
static const char *shown(const char *s, size_t len, char *buf, size_t size)
{
	size_t done = qpf_escape(buf, size - 4, s, len);
	if (done < len)
		strcat(buf, "...");
	return buf;
}

static void flush_out(void)
{
	if (out_len && qpf_write_all(1, outbuf, out_len) < 0)
		qpf_die_sys(QPF_EXIT_SYSTEM, "unable to write");
	out_len = 0;
}

static void put(const void *p, size_t n)
{
	if (out_len + n > sizeof(outbuf))
		flush_out();
	memcpy(outbuf + out_len, p, n);
	out_len += n;
}

static void log_entry(const struct fc_entry *e)
{
	char n[400], t[200];
	shown(e->name, e->name_len, n, sizeof(n));
	switch (e->type) {
	case FC_REGULAR:
		qpf_log(LOG_INFO, "file \"%s\" size=%llu mode=0%o", n, (unsigned long long)e->filelen,
			(unsigned)(e->mode & 07777));
		break;
	case FC_DIRECTORY:
		qpf_log(LOG_INFO, "directory \"%s\" mode=0%o", n, (unsigned)(e->mode & 07777));
		break;
	case FC_SYMLINK:
		qpf_log(LOG_INFO, "symlink \"%s\" -> \"%s\"", n, shown(e->target, e->target_len, t, sizeof(t)));
		break;
	}
}

static void totals_text(char *buf, size_t size)
{
	snprintf(buf, size, "files=%llu directories=%llu symlinks=%llu bytes=%llu",
		 (unsigned long long)totals.files, (unsigned long long)totals.directories,
		 (unsigned long long)totals.symlinks, (unsigned long long)totals.bytes);
}

/*
 * The stream ends here: what passed is flushed, the receiver sees end of
 * file (no end marker: it answers with an error the sender reports), and
 * the rest is read and dropped so that the sender is never blocked
 * before it reads that answer. Exit 1: the filter's verdict.
 */
_Noreturn static void end_stream(void)
{
	flush_out();
	close(1);
	if (qpf_discard(0, nullfd, NULL) < 0)
		qpf_die_sys(QPF_EXIT_SYSTEM, "unable to read");
	exit(QPF_EXIT_REFUSED);
}

_Noreturn static void malformed(const char *why)
{
	char tot[160];
	totals_text(tot, sizeof(tot));
	qpf_log(LOG_WARNING, "malformed stream at byte %llu: %s; ended it after %s",
		(unsigned long long)parser.offset, why, tot);
	end_stream();
}

_Noreturn static void refused(const char *rule, const char *why, const struct fc_entry *e)
{
	char tot[160], n[400];
	totals_text(tot, sizeof(tot));
	qpf_log(LOG_WARNING, "refused: ended the stream before \"%s\" (%s: %s); passed before it: %s",
		shown(e->name, e->name_len, n, sizeof(n)), rule, why, tot);
	end_stream();
}

/* waits for input on fd 0 when someone made it non-blocking */
static void wait_input(void)
{
	struct pollfd p = { .fd = 0, .events = POLLIN };
	while (poll(&p, 1, -1) < 0)
		if (errno != EINTR)
			qpf_die_sys(QPF_EXIT_SYSTEM, "unable to poll");
}

/* moves a large part of the current file's content without touching it; false if splice cannot */
static bool splice_content(void)
{
	uint64_t left = fc_content_left(&parser);
	size_t want = left < SPLICE_CHUNK ? (size_t)left : SPLICE_CHUNK;
	for (;;) {
		ssize_t n = splice(0, NULL, 1, NULL, want, SPLICE_F_MOVE);
		if (n > 0) {
			fc_content_moved(&parser, (uint64_t)n);
			return true;
		}
		if (n == 0)
			malformed(fc_eof(&parser));
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			wait_input();
			continue;
		}
		if (errno == EINVAL) {
			/* neither side a pipe: copy instead, for good */
			no_splice = true;
			return false;
		}
		qpf_die_sys(QPF_EXIT_SYSTEM, "unable to copy");
	}
}

/* refills the input buffer; false at end of file */
static bool fill(void)
{
	flush_out(); /* what we hold goes on before we wait for more */
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

static void guard(const struct fc_rules *rules)
{
	fc_init(&parser);
	for (;;) {
		if (in_off == in_len) {
			if (!no_splice && fc_content_left(&parser) >= SPLICE_MIN) {
				flush_out();
				if (splice_content())
					continue;
			}
			if (!fill())
				break;
		}
		size_t used;
		const uint8_t *at = inbuf + in_off;
		enum fc_event ev = fc_feed(&parser, at, in_len - in_off, &used);
		in_off += used;
		switch (ev) {
		case FC_MORE:
			break;
		case FC_CONTENT:
			put(at, used);
			break;
		case FC_ENTRY: {
			char why[160];
			const char *rule = fc_check(rules, &totals, &parser.e, why, sizeof(why));
			if (rule)
				refused(rule, why, &parser.e);
			if (log_files)
				log_entry(&parser.e);
			struct iovec iov[3];
			int n = fc_held(&parser, iov);
			for (int i = 0; i < n; i++)
				put(iov[i].iov_base, iov[i].iov_len);
			fc_accept(&parser);
			break;
		}
		case FC_END: {
			struct iovec iov[3];
			int n = fc_held(&parser, iov);
			for (int i = 0; i < n; i++)
				put(iov[i].iov_base, iov[i].iov_len);
			flush_out();
			/* the receiver reads nothing after the marker: it may have its end of file now */
			close(1);
			/*
			 * Said now, not at our end of file: the sender ends as soon as
			 * it has the receiver's answer, and the connection may end
			 * with it, before that end of file reaches us.
			 */
			char tot[160];
			totals_text(tot, sizeof(tot));
			qpf_log(LOG_INFO, "complete: %s", tot);
			break;
		}
		case FC_MALFORMED:
			malformed(parser.error);
		}
	}
	const char *why = fc_eof(&parser);
	if (why)
		malformed(why);
}

int main(int argc, char **argv)
{
	enum { O_MAX_FILES = 256, O_MAX_BYTES, O_MAX_FILE_SIZE, O_NO_SYMLINKS, O_NO_DIRECTORIES,
	       O_SAFE_NAMES, O_NO_EXECUTABLES, O_NO_SPECIAL_MODES, O_ALLOW_NAME, O_DENY_NAME,
	       O_MAX_DEPTH, O_MAX_NAME_LENGTH, O_LOG_FILES };
	static const struct option opts[] = {
		{ "max-files", required_argument, NULL, O_MAX_FILES },
		{ "max-bytes", required_argument, NULL, O_MAX_BYTES },
		{ "max-file-size", required_argument, NULL, O_MAX_FILE_SIZE },
		{ "no-symlinks", no_argument, NULL, O_NO_SYMLINKS },
		{ "no-directories", no_argument, NULL, O_NO_DIRECTORIES },
		{ "safe-names", no_argument, NULL, O_SAFE_NAMES },
		{ "no-executables", no_argument, NULL, O_NO_EXECUTABLES },
		{ "no-special-modes", no_argument, NULL, O_NO_SPECIAL_MODES },
		{ "allow-name", required_argument, NULL, O_ALLOW_NAME },
		{ "deny-name", required_argument, NULL, O_DENY_NAME },
		{ "max-depth", required_argument, NULL, O_MAX_DEPTH },
		{ "max-name-length", required_argument, NULL, O_MAX_NAME_LENGTH },
		{ "log-files", no_argument, NULL, O_LOG_FILES },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct fc_name_rule names[MAX_NAME_RULES];
	struct fc_rules rules = FC_RULES_INIT;
	int ch;

	qpf_init(argv[0]);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		const char *opt = argv[optind - 1];
		switch (ch) {
		case O_MAX_FILES:
			rules.max_files = parse_count(opt, optarg);
			break;
		case O_MAX_BYTES:
			rules.max_bytes = parse_bytes(opt, optarg);
			break;
		case O_MAX_FILE_SIZE:
			rules.max_file_size = parse_bytes(opt, optarg);
			break;
		case O_NO_SYMLINKS:
			rules.no_symlinks = true;
			break;
		case O_NO_DIRECTORIES:
			rules.no_directories = true;
			break;
		case O_SAFE_NAMES:
			rules.safe_names = true;
			break;
		case O_NO_EXECUTABLES:
			rules.no_executables = true;
			break;
		case O_NO_SPECIAL_MODES:
			rules.no_special_modes = true;
			break;
		case O_ALLOW_NAME:
		case O_DENY_NAME:
			if (!*optarg || strchr(optarg, '/'))
				qpf_usage("%s: a glob for base names, without '/': %s", opt, optarg);
			if (rules.n_names == MAX_NAME_RULES)
				qpf_usage("at most %d --allow-name and --deny-name", MAX_NAME_RULES);
			names[rules.n_names].allow = ch == O_ALLOW_NAME;
			names[rules.n_names++].glob = optarg;
			break;
		case O_MAX_DEPTH:
			rules.max_depth = parse_count(opt, optarg);
			if (!rules.max_depth)
				qpf_usage("--max-depth: at least 1");
			break;
		case O_MAX_NAME_LENGTH:
			rules.max_name_length = parse_count(opt, optarg);
			if (!rules.max_name_length)
				qpf_usage("--max-name-length: at least 1");
			break;
		case O_LOG_FILES:
			log_files = true;
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
	rules.names = names;

	/* what is dropped after a refusal goes to /dev/null by splice, never through our memory */
	nullfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	qpf_lockdown(NULL);
	guard(&rules);
	return 0;
}
