/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qpf_lockdown() for filters built against the installed kit: the seccomp
 * program is built with libseccomp when the filter locks itself down, from
 * the baseline and whatever system calls the filter names.
 */
#include <errno.h>
#include <stdarg.h>

#include <seccomp.h>

#include "lockdown.h"
#include "qpf.h"

static const char *const baseline[] = { QPF_LOCKDOWN_BASELINE };

static void allow(scmp_filter_ctx ctx, const char *name)
{
	int nr = seccomp_syscall_resolve_name(name);
	if (nr == __NR_SCMP_ERROR)
		qpf_die(QPF_EXIT_SYSTEM, "unable to lock down: unknown system call %s", name);
	if (nr < 0)
		return; /* a pseudo-number: this architecture has no such call */
	int r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	if (r < 0) {
		errno = -r;
		qpf_die_sys(QPF_EXIT_SYSTEM, "unable to lock down: allowing %s", name);
	}
}

void qpf_lockdown(const char *extra, ...)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!ctx)
		qpf_die(QPF_EXIT_SYSTEM, "unable to lock down: seccomp_init failed");
	/*
	 * A binary tree instead of a list: the kernel runs the program for
	 * every system call number when it loads it, so a shorter path is a
	 * faster start as well as cheaper system calls.
	 */
	seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	for (size_t i = 0; i < sizeof(baseline) / sizeof(baseline[0]); i++)
		allow(ctx, baseline[i]);
	va_list ap;
	va_start(ap, extra);
	for (const char *name = extra; name; name = va_arg(ap, const char *))
		allow(ctx, name);
	va_end(ap);
	/* libseccomp sets no-new-privs itself (SCMP_FLTATR_CTL_NNP defaults to on) */
	int r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r < 0) {
		errno = -r;
		qpf_die_sys(QPF_EXIT_SYSTEM, "unable to lock down: loading the seccomp filter");
	}
}
