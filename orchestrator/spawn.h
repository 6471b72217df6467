/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QP_SPAWN_H
#define QP_SPAWN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/filter.h>

struct spawn_req {
	const char *path;
	char *const *argv;
	char *const *envp;
	int fd[3];                      /* become the child's 0, 1 and 2 (all >= 3 here) */
	const struct sock_fprog *seccomp; /* NULL: no seccomp (the connector) */
	pid_t pgid;                     /* 0: start a new process group */
	uint64_t memory;                /* RLIMIT_DATA and RLIMIT_FSIZE, RLIMIT_AS twice that; 0: as they are */
};

/*
 * Starts a child vfork-style: the parent is suspended only until the exec,
 * nothing is copied. The child joins process group PGID, gets SIGKILL if
 * the supervisor dies, default signal dispositions and an empty mask,
 * no-new-privs, no core dumps, only fds 0-2, then the seccomp program,
 * then execve. Returns the pid, or -1 with errno from whichever step
 * failed in the child (or from vfork).
 */
pid_t spawn_child(const struct spawn_req *r);

/* Describes a wait status: "exited 0", "exited 3", "killed by signal 9 (Killed)" */
const char *spawn_strstatus(int status, char *buf, size_t size);

#endif
