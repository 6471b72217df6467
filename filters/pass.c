/* SPDX-License-Identifier: GPL-2.0-or-later */
/* pass: copies stdin to stdout unchanged (the zero-cost baseline) */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "kit/qpf.h"

/* started ahead of its connection when the proxy can, and locked down before it (qpf.h) */
QPF_PRESTART_LOCKED;

_Noreturn static void usage(void)
{
	fputs("usage: pass [--pipe-size N]\n"
	      "Copies stdin to stdout unchanged, with splice(2) between pipes.\n"
	      "  -p, --pipe-size N  grow the pipes on stdin and stdout to N bytes (K/M\n"
	      "                     suffixes; best effort, up to /proc/sys/fs/pipe-max-size)\n"
	      "  -h, --help         this text\n", stdout);
	exit(0);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pipe-size", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t pipe_size = 0;
	int ch;

	qpf_init(argv[0]);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":p:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			if (qpf_parse_size(optarg, &pipe_size) < 0 || pipe_size == 0 || pipe_size > (1 << 30))
				qpf_usage("--pipe-size: not a size from 1 to 1G: %s", optarg);
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
	/*
	 * Opt-in only: bigger pipes triple a bulk chain's throughput, but they
	 * are charged to the proxy's user, and past pipe-user-pages-soft the
	 * kernel gives every new pipe of that user two pages only. After the
	 * lock-down (fcntl is allowed): started ahead, the pipes are its
	 * connection's, at their size for it, only from then on.
	 */
	for (int fd = 0; pipe_size && fd <= 1; fd++) {
		if (fcntl(fd, F_SETPIPE_SZ, (int)pipe_size) < 0 && errno != EBADF)
			qpf_log_sys(LOG_DEBUG, "unable to resize the pipe on fd %d", fd);
	}
	struct qpf_copy c = QPF_COPY_INIT;
	if (qpf_copy(0, 1, &c) < 0)
		qpf_die_sys(QPF_EXIT_SYSTEM, "unable to copy after %llu bytes", (unsigned long long)c.copied);
	qpf_done();
	/* the next hop sees EOF now, not once this process has been torn down */
	close(1);
	return 0;
}
