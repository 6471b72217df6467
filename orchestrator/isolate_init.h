/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_ISOLATE_INIT_H
#define QP_ISOLATE_INIT_H

/*
 * Between the supervisor's side of a sandbox (isolate.c) and its init
 * (isolate_init.c): what the init is forked with, the request of a
 * prepared sandbox, the Landlock ABI. Nothing else includes this.
 */
#include <stdint.h>
#include <sys/types.h>
#include "isolate.h"

/*
 * The Landlock ABI, from the kernel's (stable) interface: Debian 12's
 * headers stop at ABI 2, and the scoping of signals needs ABI 6.
 */
#define LL_CREATE_RULESET_VERSION (1U << 0)
#define LL_RULE_PATH_BENEATH 1
#define LL_FS_EXECUTE (1ULL << 0)
#define LL_FS_WRITE_FILE (1ULL << 1)
#define LL_FS_READ_FILE (1ULL << 2)
#define LL_FS_READ_DIR (1ULL << 3)
#define LL_FS_ABI1_ALL ((1ULL << 13) - 1)
#define LL_FS_REFER (1ULL << 13)
#define LL_FS_TRUNCATE (1ULL << 14)
#define LL_FS_IOCTL_DEV (1ULL << 15)
#define LL_NET_BIND_TCP (1ULL << 0)
#define LL_NET_CONNECT_TCP (1ULL << 1)
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define LL_SCOPE_SIGNAL (1ULL << 1)
/* the first ABI that scopes signals: without it a filter could signal the daemon */
#define LL_ABI_NEEDED 6

struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

struct ll_path_beneath_attr {
	uint64_t allowed_access;
	int32_t parent_fd;
} __attribute__((packed));

struct init_ctx {
	const struct isolate_policy *pol;
	enum isolate_role role;
	const struct isolate_proc *procs;
	size_t n;
	const char *const *programs; /* every program it may start: their directories stay visible */
	size_t nprograms;
	const struct sock_fprog *seccomp;
	int events;
	int sync;
	int ctl;                     /* prepared: where the programs arrive (isolate_run); else -1 */
	int cgroup_procs;            /* the connection's cgroup to join first; -1: none */
	uint64_t memory;             /* rlimits of the programs (isolate_bounds); 0: none */
	uint32_t tasks;
};

/*
 * A request for a prepared sandbox: a header, the programs' argument and
 * environment counts, then their strings (path, argv, envp of each, every
 * one NUL-terminated); the programs' fds, three each, ride along with the
 * header as SCM_RIGHTS.
 */
struct request_hdr {
	uint32_t n;
	uint32_t len; /* of what follows the header */
	uint64_t memory; /* the rlimits of isolate_bounds: known only with the call's chain */
	uint32_t tasks;
	uint32_t pad;
};
#define REQUEST_MAX (16U << 20)

/* In the forked init: builds the sandbox, starts the programs, reports; never returns. */
_Noreturn void isolate_init_main(const struct init_ctx *x, pid_t parent);

#endif
