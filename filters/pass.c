/* SPDX-License-Identifier: GPL-2.0-or-later */
/* pass: copies stdin to stdout unchanged (the zero-cost baseline) */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "qpf.h"

_Noreturn static void usage(void)
{
	fputs("usage: pass\n"
	      "Copies stdin to stdout unchanged, with splice(2) between pipes.\n"
	      "  -h, --help  this text\n", stdout);
	exit(0);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	qpf_init(argv[0]);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == 'h')
			usage();
		qpf_usage("unknown option %s", argv[optind - 1]);
	}
	if (optind < argc)
		qpf_usage("no arguments expected, got %s", argv[optind]);

	qpf_lockdown(NULL);
	struct qpf_copy c = QPF_COPY_INIT;
	if (qpf_copy(0, 1, &c) < 0)
		qpf_die_sys(QPF_EXIT_SYSTEM, "unable to copy after %llu bytes", (unsigned long long)c.copied);
	return 0;
}
