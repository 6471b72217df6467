/* SPDX-License-Identifier: GPL-2.0-or-later */
/* timeout --seconds S [--idle S]: copies, and ends the connection when time is up */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "kit/qpf.h"

/* started ahead of its connection when the proxy can, and locked down before it (qpf.h) */
QPF_PRESTART_LOCKED;

_Noreturn static void usage(void)
{
	fputs("usage: timeout [--seconds S] [--idle S]\n"
	      "Copies stdin to stdout. Exits 1, which ends the whole connection, when\n"
	      "the direction has been open longer than --seconds, or when no byte has\n"
	      "moved for --idle seconds. S is a decimal number of seconds (0.5, 30).\n"
	      "At least one of the two is needed.\n"
	      "  -s, --seconds S  total time allowed\n"
	      "  -i, --idle S     time allowed without any data\n"
	      "  -h, --help       this text\n", stdout);
	exit(0);
}

static int64_t parse_positive(const char *opt, const char *arg)
{
	int64_t ns;
	if (qpf_parse_seconds(arg, &ns) < 0 || ns <= 0)
		qpf_usage("%s: not a positive number of seconds: %s", opt, arg);
	return ns;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "idle", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *seconds_arg = NULL, *idle_arg = NULL;
	int64_t total = 0, idle = 0;
	int ch;

	qpf_init(argv[0]);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":s:i:h", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			seconds_arg = optarg;
			total = parse_positive("--seconds", optarg);
			break;
		case 'i':
			idle_arg = optarg;
			idle = parse_positive("--idle", optarg);
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
	if (!total && !idle)
		qpf_usage("give --seconds, --idle or both");

	qpf_lockdown(NULL);
	/*
	 * The direction opens now: started ahead, the filter may have waited
	 * in qpf_lockdown() far longer than its time for its connection.
	 */
	int64_t start = qpf_now_ns();
	struct qpf_copy c = QPF_COPY_INIT;
	c.deadline = total ? start + total : 0;
	c.idle = idle;
	switch (qpf_copy(0, 1, &c)) {
	case QPF_END_EOF:
	case QPF_END_LIMIT:
		qpf_done();
		/* the next hop sees EOF now, not once this process has been torn down */
		close(1);
		return 0;
	case QPF_END_DEADLINE:
		qpf_log(LOG_WARNING, "open longer than %s s (%llu bytes passed): ending the connection",
			seconds_arg, (unsigned long long)c.copied);
		return 1;
	case QPF_END_IDLE:
		qpf_log(LOG_WARNING, "no data for %s s (%llu bytes passed): ending the connection",
			idle_arg, (unsigned long long)c.copied);
		return 1;
	default:
		qpf_die_sys(QPF_EXIT_SYSTEM, "unable to copy after %llu bytes",
			    (unsigned long long)c.copied);
	}
}
