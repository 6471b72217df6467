/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The system calls a filter may make after qpf_lockdown(), in one place
 * for both ways of loading the policy:
 *
 *  - the kit (qpf-lockdown.c, installed for third-party filters) builds
 *    the seccomp program with libseccomp when the filter locks itself down;
 *  - the built-in filters (lockdown-builtin.c) load a program that
 *    filters/gen-lockdown built with libseccomp at build time, from the
 *    same lists, so that a filter's start does not pay for compiling it
 *    (and the built-ins need no libseccomp, nor glibc: see configure).
 *
 * Not installed: a third-party filter names its extras itself.
 */
#ifndef QPF_LOCKDOWN_H
#define QPF_LOCKDOWN_H

/*
 * What moving bytes needs, and malloc; and setpriority, for this process
 * only and only to lower it (qpf_done(); lockdown-build.c adds the rule
 * with its arguments, and no privilege raises a priority here).
 */
#define QPF_LOCKDOWN_BASELINE \
	"read", "write", "readv", "writev", "splice", "tee", \
	"poll", "ppoll", "clock_gettime", "clock_nanosleep", "nanosleep", \
	"brk", "mmap", "munmap", "mremap", "madvise", \
	"close", "fcntl", "getrandom", \
	"exit", "exit_group", "rt_sigreturn", "restart_syscall", "setpriority"

/*
 * The extras of each built-in filter, as it passes them to qpf_lockdown():
 * one precompiled program per list. Every list ends with NULL.
 */
#define QPF_LOCKDOWN_NONE NULL
#define QPF_LOCKDOWN_COUNT "pread64", "pwrite64", "ftruncate", "fstat", "newfstatat", "lseek", NULL

#define QPF_LOCKDOWN_SETS(X) \
	X(none, QPF_LOCKDOWN_NONE) \
	X(count, QPF_LOCKDOWN_COUNT)

#endif
