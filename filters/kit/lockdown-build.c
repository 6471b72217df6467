/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one place the lock-down's seccomp program is put together with
 * libseccomp: the kit's qpf_lockdown() loads it at run time, gen-lockdown
 * exports it at build time for the built-in filters.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/resource.h>

#include "lockdown-build.h"
#include "lockdown.h"

static const char *const baseline[] = { QPF_LOCKDOWN_BASELINE };

static int allow(scmp_filter_ctx ctx, const char *name, const char **what)
{
	int nr = seccomp_syscall_resolve_name(name);
	if (nr == __NR_SCMP_ERROR) {
		*what = name;
		errno = ENOENT;
		return -1;
	}
	if (nr < 0)
		return 0; /* a pseudo-number: this architecture has no such call */
	int r;
	if (!strcmp(name, "setpriority"))
		/* its own priority only (qpf_done()): which PRIO_PROCESS, who 0 */
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 2, SCMP_A0(SCMP_CMP_EQ, PRIO_PROCESS),
				     SCMP_A1(SCMP_CMP_EQ, 0));
	else
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	if (r < 0) {
		*what = name;
		errno = -r;
		return -1;
	}
	return 0;
}

scmp_filter_ctx qpf_lockdown_build(const char *const *extra, const char **what)
{
	*what = NULL;
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!ctx) {
		errno = EINVAL;
		return NULL;
	}
	/*
	 * A binary tree instead of a list: the kernel runs the program for
	 * every system call number when it loads it, so a shorter path is a
	 * faster start as well as cheaper system calls.
	 */
	int r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (r < 0) {
		errno = -r;
		goto fail;
	}
	for (size_t i = 0; i < sizeof(baseline) / sizeof(baseline[0]); i++)
		if (allow(ctx, baseline[i], what) < 0)
			goto fail;
	for (size_t i = 0; extra[i]; i++)
		if (allow(ctx, extra[i], what) < 0)
			goto fail;
	return ctx;
fail:;
	int err = errno;
	seccomp_release(ctx);
	errno = err;
	return NULL;
}
