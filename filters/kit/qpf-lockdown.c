/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qpf_lockdown() for filters built against the installed kit: the seccomp
 * program is built with libseccomp when the filter locks itself down, from
 * the baseline and whatever system calls the filter names.
 */
#include <errno.h>
#include <stdarg.h>

#include "lockdown-build.h"
#include "qpf.h"

#define QPF_EXTRA_MAX 64

void qpf_lockdown(const char *extra, ...)
{
	/* arguments are parsed by now: a check ends here, before anything is locked or read */
	qpf_args_checked();
	const char *names[QPF_EXTRA_MAX + 1];
	size_t n = 0;
	va_list ap;
	va_start(ap, extra);
	for (const char *name = extra; name; name = va_arg(ap, const char *)) {
		if (n == QPF_EXTRA_MAX)
			qpf_die(QPF_EXIT_SYSTEM, "unable to lock down: more than %d system calls named",
				QPF_EXTRA_MAX);
		names[n++] = name;
	}
	va_end(ap);
	names[n] = NULL;

	const char *what;
	scmp_filter_ctx ctx = qpf_lockdown_build(names, &what);
	if (!ctx) {
		if (what && errno == ENOENT)
			qpf_die(QPF_EXIT_SYSTEM, "unable to lock down: unknown system call %s", what);
		if (what)
			qpf_die_sys(QPF_EXIT_SYSTEM, "unable to lock down: allowing %s", what);
		qpf_die_sys(QPF_EXIT_SYSTEM, "unable to lock down: building the seccomp filter");
	}
	/* libseccomp sets no-new-privs itself (SCMP_FLTATR_CTL_NNP defaults to on) */
	int r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r < 0) {
		errno = -r;
		qpf_die_sys(QPF_EXIT_SYSTEM, "unable to lock down: loading the seccomp filter");
	}
	/* started ahead and marked QPF_PRESTART_LOCKED: locked down before its call, which it waits for now */
	qpf_wait_environment();
}
