/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QPF_LOCKDOWN_BUILD_H
#define QPF_LOCKDOWN_BUILD_H

#include <seccomp.h>

/*
 * The lock-down's program: kill on anything but the baseline of
 * lockdown.h and the system calls of EXTRA (NULL-terminated; names this
 * architecture lacks are skipped). Returns a context to load or export and
 * release, or NULL with errno set and *WHAT naming the system call it
 * failed on (errno ENOENT: libseccomp does not know the name), or NULL.
 */
scmp_filter_ctx qpf_lockdown_build(const char *const *extra, const char **what);

#endif
