/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qpf_lockdown() for the built-in filters: the same policy as the kit's
 * (qpf-lockdown.c), but the seccomp program was built with libseccomp at
 * build time (filters/gen-lockdown): at run time a filter only sets
 * no-new-privs and loads it. That spares every filter process compiling
 * the program (and linking libseccomp), which is per-connection cost.
 *
 * Only the lists of filters/lockdown.h have a program: a built-in that
 * asks for another list dies saying so (the tests start every built-in).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lockdown.h"
#include "qpf.h"

/* struct sock_filter and struct sock_fprog of <linux/filter.h> */
struct qpf_bpf_insn {
	uint16_t code;
	uint8_t jt;
	uint8_t jf;
	uint32_t k;
};
struct qpf_bpf_prog {
	unsigned short len;
	const struct qpf_bpf_insn *filter;
};
_Static_assert(sizeof(struct qpf_bpf_insn) == 8, "struct sock_filter is 8 bytes");

#include "lockdown-progs.h"

/* <linux/seccomp.h>, which the libc building the filters may not ship */
#define QPF_SECCOMP_SET_MODE_FILTER 1

struct set {
	const char *const *names;
	const struct qpf_bpf_insn *prog;
	unsigned short len;
};

#define SET(name, ...) \
	{ (const char *const[]){ __VA_ARGS__ }, qpf_prog_##name, \
	  (unsigned short)(sizeof(qpf_prog_##name) / sizeof(qpf_prog_##name[0])) },
static const struct set sets[] = { QPF_LOCKDOWN_SETS(SET) };
#undef SET

static bool same_list(const char *const *names, const char *extra, va_list ap)
{
	size_t i = 0;
	for (const char *name = extra; name; name = va_arg(ap, const char *), i++) {
		if (!names[i] || strcmp(names[i], name) != 0)
			return false;
	}
	return names[i] == NULL;
}

void qpf_lockdown(const char *extra, ...)
{
	/* arguments are parsed by now: a check ends here, before anything is locked or read */
	qpf_args_checked();
	const struct set *set = NULL;
	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]) && !set; i++) {
		va_list ap;
		va_start(ap, extra);
		if (same_list(sets[i].names, extra, ap))
			set = &sets[i];
		va_end(ap);
	}
	if (!set)
		qpf_die(QPF_EXIT_SYSTEM, "unable to lock down: no built-in seccomp program for "
					 "these system calls (list them in filters/lockdown.h)");
	struct qpf_bpf_prog prog = { set->len, set->prog };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		qpf_die_sys(QPF_EXIT_SYSTEM, "unable to lock down: setting no-new-privs");
	if (syscall(SYS_seccomp, QPF_SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		qpf_die_sys(QPF_EXIT_SYSTEM, "unable to lock down: loading the seccomp filter");
	/* started ahead and marked QPF_PRESTART_LOCKED: locked down before its call, which it waits for now */
	qpf_wait_environment();
}
