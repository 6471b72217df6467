/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * streamline [--buffer-size N] [--max-read-delay S] [--max-write-delay S]:
 * fills a buffer, waits a random time, writes it all, waits a random time,
 * reads again. The reader downstream can then only slow the writer
 * upstream in whole buffers at random moments, which narrows a
 * back-pressure side channel in a one-way setup.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "kit/qpf.h"

/* started ahead of its connection when the proxy can, and locked down before it (qpf.h) */
QPF_PRESTART_LOCKED;

#define DEFAULT_BUFFER (64 << 10)
#define MAX_BUFFER (256 << 20)
#define DEFAULT_DELAY_NS 100000000 /* 0.1 s */

_Noreturn static void usage(void)
{
	fputs("usage: streamline [--buffer-size N] [--max-read-delay S] [--max-write-delay S]\n"
	      "Copies stdin to stdout in whole buffers: reads until N bytes are in (or\n"
	      "EOF), waits a random time up to the write delay, writes them, waits a\n"
	      "random time up to the read delay, reads again. Bytes are unchanged.\n"
	      "  -b, --buffer-size N      bytes per buffer, K/M/G suffixes (default 64K, at most 256M)\n"
	      "  -r, --max-read-delay S   seconds, decimals allowed (default 0.1)\n"
	      "  -w, --max-write-delay S  seconds, decimals allowed (default 0.1)\n"
	      "  -h, --help               this text\n", stdout);
	exit(0);
}

static int64_t parse_delay(const char *opt, const char *arg)
{
	int64_t ns;
	if (qpf_parse_seconds(arg, &ns) < 0 || ns > 3600LL * 1000000000)
		qpf_usage("%s: not a number of seconds from 0 to 3600: %s", opt, arg);
	return ns;
}

static void random_pause(int64_t max_ns)
{
	uint64_t ns;
	if (max_ns <= 0)
		return;
	if (qpf_random_below((uint64_t)max_ns, &ns) < 0)
		qpf_die_sys(QPF_EXIT_SYSTEM, "unable to get random bytes");
	qpf_sleep_ns((int64_t)ns);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "buffer-size", required_argument, NULL, 'b' },
		{ "max-read-delay", required_argument, NULL, 'r' },
		{ "max-write-delay", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t size = DEFAULT_BUFFER;
	int64_t read_delay = DEFAULT_DELAY_NS, write_delay = DEFAULT_DELAY_NS;
	int ch;

	qpf_init(argv[0]);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":b:r:w:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'b':
			if (qpf_parse_size(optarg, &size) < 0 || size == 0 || size > MAX_BUFFER)
				qpf_usage("--buffer-size: not a size from 1 to 256M: %s", optarg);
			break;
		case 'r':
			read_delay = parse_delay("--max-read-delay", optarg);
			break;
		case 'w':
			write_delay = parse_delay("--max-write-delay", optarg);
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

	char *buf = malloc((size_t)size);
	if (!buf)
		qpf_die_sys(QPF_EXIT_SYSTEM, "unable to allocate %llu bytes", (unsigned long long)size);
	qpf_lockdown(NULL);

	for (bool eof = false; !eof;) {
		size_t fill = 0;
		while (fill < size) {
			ssize_t n = read(0, buf + fill, (size_t)size - fill);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				qpf_die_sys(QPF_EXIT_SYSTEM, "unable to read");
			}
			if (n == 0) {
				eof = true;
				break;
			}
			fill += (size_t)n;
		}
		if (fill) {
			random_pause(write_delay);
			if (qpf_write_all(1, buf, fill) < 0)
				qpf_die_sys(QPF_EXIT_SYSTEM, "unable to write");
		}
		if (!eof)
			random_pause(read_delay);
	}
	qpf_done();
	/* the next hop sees EOF now, not once this process has been torn down */
	close(1);
	return 0;
}
