/* SPDX-License-Identifier: GPL-2.0-or-later */
/* byte-limit N: passes at most N bytes, then drops the rest */
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
	fputs("usage: byte-limit N\n"
	      "Passes at most N bytes (suffixes K, M, G: powers of 1024) from stdin to\n"
	      "stdout, then closes stdout and reads and drops the rest. N = 0 makes\n"
	      "the direction one-way.\n"
	      "  -h, --help  this text\n", stdout);
	exit(0);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t limit;
	int ch;

	qpf_init(argv[0]);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == 'h')
			usage();
		qpf_usage("unknown option %s", argv[optind - 1]);
	}
	if (argc - optind != 1)
		qpf_usage("expected one argument N, the number of bytes to pass");
	if (qpf_parse_size(argv[optind], &limit) < 0)
		qpf_usage("not a byte count: %s (digits, then K, M or G)", argv[optind]);

	/* dropped data goes to /dev/null by splice, never through our memory */
	int nullfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	qpf_lockdown(NULL);

	struct qpf_copy c = QPF_COPY_INIT;
	c.limit = limit;
	if (limit > 0 && qpf_copy(0, 1, &c) < 0)
		qpf_die_sys(QPF_EXIT_SYSTEM, "unable to copy after %llu bytes", (unsigned long long)c.copied);
	/* the next hop sees EOF now, while we keep the sender from blocking */
	close(1);
	uint64_t dropped = 0;
	if (qpf_discard(0, nullfd, &dropped) < 0)
		qpf_die_sys(QPF_EXIT_SYSTEM, "unable to read");
	qpf_done();
	if (dropped && limit == 0)
		qpf_log(LOG_INFO, "one-way: dropped %llu bytes", (unsigned long long)dropped);
	else if (dropped)
		qpf_log(LOG_NOTICE, "limit of %llu bytes reached, dropped %llu more",
			(unsigned long long)limit, (unsigned long long)dropped);
	return 0;
}
