/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A kit filter that may be started ahead (QPF_PRESTART): it logs the
 * environment it runs with, one line on stderr ("env NAME=VALUE ..."
 * for the contract's variables, "prestart=..." for the variable that
 * must be gone by then, "count=N" for how many variables it has), then
 * copies stdin to stdout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qpf.h"

QPF_PRESTART;

extern char **environ;

int main(int argc, char **argv)
{
	static const char *const names[] = { "QREXEC_REMOTE_DOMAIN", "QREXEC_PROXY_CHAIN", "QREXEC_PROXY_TARGET",
					     "QREXEC_PROXY_SERVICE", "QREXEC_PROXY_CONNECTION",
					     "QREXEC_PROXY_DIRECTION", "PATH", NULL };
	char line[900];
	size_t n = 0;

	qpf_init(argv[0]);
	if (argc != 1)
		qpf_usage("env-filter takes no arguments");
	qpf_args_checked();
	n += (size_t)snprintf(line + n, sizeof(line) - n, "env");
	for (size_t i = 0; names[i] && n < sizeof(line); i++) {
		const char *v = getenv(names[i]);
		n += (size_t)snprintf(line + n, sizeof(line) - n, " %s=%s", names[i], v ? v : "(unset)");
	}
	size_t count = 0;
	for (char **e = environ; e && *e; e++)
		count++;
	const char *pre = getenv("QREXEC_PROXY_PRESTART");
	if (n < sizeof(line))
		snprintf(line + n, sizeof(line) - n, " prestart=%s count=%zu", pre ? pre : "(unset)", count);
	qpf_log(LOG_INFO, "%s", line);
	qpf_lockdown(NULL);
	struct qpf_copy c = QPF_COPY_INIT;
	return qpf_copy(0, 1, &c) < 0 ? 111 : 0;
}
